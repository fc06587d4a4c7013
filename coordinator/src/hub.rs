//! The live assignment: which connected agent runs which (monitor, region). Kept in memory,
//! recomputed when agents join, drain or leave and when a monitor changes, and handed to each
//! agent's session as coalesced deltas through its [`Outbox`]. A monitor change is read from
//! the store outside the assignment lock and retried until it is applied.
//!
//! Moves between live agents are make-before-break: an agent keeps running a monitor that
//! moved away (and its results for it are taken) until the new owner reported applying the
//! assignment that carries it, so a join or a drain misses no check window.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use lookout_proto::v1::{Agent, Assignment, Drained, Heartbeat, RunNow, RunningMonitor};
use lookout_proto::{CheckResult, Monitor, chunk};
use lookout_store::{Store, StoreError};
use tokio::sync::{Mutex, Notify, oneshot, watch};

use crate::assign::{self, Rendezvous};

/// A monitor or agent id, shared by every map that holds it.
type Id = Arc<str>;

/// The maps and sets keyed by [`Id`]: a million monitors in three regions make several
/// million entries, so a fast hash matters (seeded per process, like the default one).
type IdMap<V> = HashMap<Id, V, foldhash::fast::RandomState>;
type IdSet = HashSet<Id, foldhash::fast::RandomState>;

/// First and longest pause between attempts to read a changed monitor that failed to load.
const REFRESH_RETRY_FIRST: Duration = Duration::from_millis(200);
const REFRESH_RETRY_MAX: Duration = Duration::from_secs(30);

/// How long the first agent of a region without agents waits before it is admitted, so that
/// agents arriving together (a coordinator started or a new leader elected) are assigned
/// together: otherwise the first takes every monitor of the region, and most of them move
/// on at once, each a hand-over. Like Kafka's `group.initial.rebalance.delay.ms`, shorter.
pub const FIRST_JOIN_WINDOW: Duration = Duration::from_millis(100);

/// How long an agent keeps a monitor that moved away when the new owner does not report it
/// applied (an agent too old to report it, or stuck): then the move completes anyway.
pub const MAX_HANDOVER: Duration = Duration::from_secs(30);

/// How long results of a monitor an agent handed over are still taken from it (scheduled
/// before the hand-over): longer than any batch waits in an agent connected throughout.
const RELEASED_KEEP_MS: i64 = 120_000;

/// Shared assignment state of the coordinator.
pub struct Hub {
    /// For the tasks that complete moves.
    me: Weak<Hub>,
    store: Store,
    state: Mutex<HubState>,
    /// Monitors whose change could not be read yet; each has one retrying task.
    retrying: std::sync::Mutex<HashSet<String>>,
    /// Sessions waiting to join, admitted together by the next holder of `state`.
    joining: std::sync::Mutex<Vec<JoinRequest>>,
}

#[derive(Default)]
struct HubState {
    /// The leadership term this hub assigns in; `None` on a replica that does not lead,
    /// which admits no agent (and holds no monitors).
    epoch: Option<u64>,
    /// Every monitor as agents see it (integrations stripped).
    monitors: Catalog,
    /// Connected agents by region, then by agent id.
    regions: HashMap<String, BTreeMap<String, AgentSlot>>,
    /// Last assignment version sent to each agent id, kept across its sessions.
    versions: HashMap<String, Arc<AtomicU64>>,
    next_session: u64,
    /// Store reads of changed monitors are numbered before they start; the result of an
    /// older read never replaces that of a newer one (reads run outside the lock, so they
    /// may finish out of order).
    next_read: u64,
    reads_in_flight: usize,
    /// Number of the newest read applied per monitor, while any read is in flight.
    applied_read: HashMap<String, u64>,
}

struct AgentSlot {
    id: Id,
    session: u64,
    capacity: u32,
    assigned: IdMap<Arc<Monitor>>,
    outbox: Arc<Outbox>,
    /// Monitors in `assigned` that moved to another agent, with that agent's id and session:
    /// kept until it reported them applied (see [`Release`]).
    leaving: IdMap<(Id, u64)>,
    /// Monitors it handed over, with when (epoch ms): its results for checks scheduled in the
    /// [`RELEASED_KEEP_MS`] before then may still be on their way (buffered, in flight) and
    /// are taken for that long (pruned when more are added).
    released: IdMap<i64>,
    /// Stopping: no longer a candidate for any monitor; answered with Drained once nothing
    /// is left to hand over (see [`Hub::drain`]).
    drain: Option<DrainState>,
    status: AgentStatus,
}

struct DrainState {
    /// Monitors that found a new owner.
    moved: usize,
    /// Some move did not complete by the new owner's report (timed out or no owner).
    incomplete: bool,
    answered: bool,
}

impl AgentSlot {
    fn draining(&self) -> bool {
        self.drain.is_some()
    }

    /// The monitors it owns: those assigned and not on their way to another agent.
    fn owned(&self) -> Vec<Id> {
        self.assigned
            .keys()
            .filter(|id| !self.leaving.contains_key(*id))
            .cloned()
            .collect()
    }

    /// Sends Drained once a draining agent has nothing left to hand over.
    fn answer_drain(&mut self) {
        let Some(d) = self.drain.as_mut().filter(|d| !d.answered) else {
            return;
        };
        if !self.leaving.is_empty() {
            return;
        }
        d.answered = true;
        let drained = Drained {
            moved: u32::try_from(d.moved).unwrap_or(u32::MAX),
            handed_over: !d.incomplete,
        };
        self.outbox.drained(drained);
    }
}

/// Monitors that moved from one live agent to another: once `to` reported applying the
/// assignment carrying them (or after [`MAX_HANDOVER`]), `from` is told to remove them.
struct Release {
    region: String,
    from: Id,
    from_session: u64,
    to: (Id, u64),
    ids: Vec<Id>,
    handover: Handover,
}

/// A monitor whose owner in a region changes, found by a rebalance; the monitor as the
/// catalog holds it.
struct Change<'a> {
    id: &'a Id,
    monitor: &'a Arc<Monitor>,
    /// Its owner so far, unless that session ended.
    from: Option<Id>,
}

/// What the registry shows of a session besides its assignment.
struct AgentStatus {
    version: String,
    connected_since_ms: i64,
    last_heartbeat_ms: i64,
    active_monitors: u32,
    buffered_results: u32,
    dropped_results: u64,
    /// Results accepted from the session so far.
    results: u64,
    /// `(when, results)` at each heartbeat of the last [`RATE_WINDOW`], oldest first.
    samples: VecDeque<(Instant, u64)>,
}

/// The span `results_per_sec` is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(60);

impl AgentStatus {
    fn new(version: &str) -> AgentStatus {
        AgentStatus {
            version: version.to_string(),
            connected_since_ms: lookout_store::now_ms(),
            last_heartbeat_ms: 0,
            active_monitors: 0,
            buffered_results: 0,
            dropped_results: 0,
            results: 0,
            samples: VecDeque::from([(Instant::now(), 0)]),
        }
    }

    fn heartbeat(&mut self, beat: &Heartbeat, now: Instant) {
        self.last_heartbeat_ms = lookout_store::now_ms();
        self.active_monitors = beat.active_monitors;
        self.buffered_results = beat.buffered_results;
        self.dropped_results = beat.dropped_results;
        self.samples.push_back((now, self.results));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Results per second from the oldest sample kept to now.
    fn rate(&self, now: Instant) -> f64 {
        let Some(&(since, at)) = self.samples.front() else {
            return 0.0;
        };
        let secs = now.duration_since(since).as_secs_f64();
        if secs < 1.0 {
            return 0.0;
        }
        (self.results - at) as f64 / secs
    }
}

/// What a session must send next: assignment changes or the end of the session.
#[derive(Default)]
struct Pending {
    upserts: IdMap<Arc<Monitor>>,
    removals: IdSet,
    /// One-shot checks to send, oldest first (at most [`MAX_QUEUED_RUN_NOW`]).
    run_now: VecDeque<RunNow>,
    /// The answer to a drain, sent after every pending delta.
    drained: Option<Drained>,
    closed: Option<String>,
}

/// One-shot checks waiting for one agent session at most; more are refused.
pub const MAX_QUEUED_RUN_NOW: usize = 256;

/// Changes waiting for one agent session; several changes made before the session sends
/// them are coalesced into one delta.
pub struct Outbox {
    /// Held only for short, synchronous updates (never across an await), so a rebalance can
    /// queue deltas from any thread.
    pending: std::sync::Mutex<Pending>,
    notify: Notify,
    version: Arc<AtomicU64>,
    progress: watch::Sender<Progress>,
}

/// How far the agent of a session is: assignment versions sent to it and applied by it.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// The version of the last assignment part written to the stream.
    sent: u64,
    /// The last version the agent reported applied (its heartbeat).
    applied: u64,
    closed: bool,
}

/// A hand-over to wait for: monitors queued on `outbox` while its version counter stood at
/// `after` travel in a message numbered above it.
struct Handover {
    outbox: Arc<Outbox>,
    after: u64,
}

impl Handover {
    /// Waits until the agent reported applying the monitors handed over; false when its
    /// session ended first.
    async fn applied(&self) -> bool {
        let mut progress = self.outbox.progress.subscribe();
        let target = match progress.wait_for(|p| p.closed || p.sent > self.after).await {
            Ok(p) if !p.closed => p.sent,
            _ => return false,
        };
        matches!(progress.wait_for(|p| p.closed || p.applied >= target).await, Ok(p) if !p.closed)
    }
}

/// What an agent session takes from its outbox.
#[derive(Debug)]
pub enum OutboxItem {
    Delta(Assignment),
    /// A check to run once, now (see [`crate::run_now`]).
    RunNow(Box<RunNow>),
    /// The agent's drain is over: its monitors run elsewhere.
    Drained(Drained),
    /// The session must end (a newer session of the same agent replaced it).
    Closed(String),
}

impl Outbox {
    fn new(version: Arc<AtomicU64>) -> Outbox {
        Outbox {
            pending: std::sync::Mutex::new(Pending::default()),
            notify: Notify::new(),
            version,
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// The session wrote assignment parts up to `version` to the stream.
    pub fn sent(&self, version: u64) {
        self.progress.send_modify(|p| p.sent = p.sent.max(version));
    }

    /// The agent reported applying assignments up to `version`.
    pub fn applied(&self, version: u64) {
        self.progress
            .send_modify(|p| p.applied = p.applied.max(version));
    }

    /// Waits until something is pending, then takes all of it.
    pub async fn next(&self) -> OutboxItem {
        loop {
            // Registered before looking, so a change queued meanwhile wakes it.
            let notified = self.notify.notified();
            {
                let mut p = self.pending();
                if let Some(reason) = &p.closed {
                    return OutboxItem::Closed(reason.clone());
                }
                if let Some(r) = p.run_now.pop_front() {
                    return OutboxItem::RunNow(Box::new(r));
                }
                if !p.upserts.is_empty() || !p.removals.is_empty() {
                    let mut upserts: Vec<Monitor> =
                        p.upserts.drain().map(|(_, m)| (*m).clone()).collect();
                    upserts.sort_by(|a, b| a.id.cmp(&b.id));
                    let mut removals: Vec<String> =
                        p.removals.drain().map(|id| id.to_string()).collect();
                    removals.sort();
                    let version = self.next_version();
                    return OutboxItem::Delta(Assignment {
                        version,
                        snapshot: false,
                        upserts,
                        removals,
                        // Set by the session, which knows its term.
                        leader_epoch: 0,
                    });
                }
                if let Some(d) = p.drained.take() {
                    return OutboxItem::Drained(d);
                }
            }
            notified.await;
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().expect("outbox lock poisoned")
    }

    /// Numbers one more assignment message of this agent (see [`lookout_proto::chunk`]).
    pub fn next_version(&self) -> u64 {
        // Saturates: an agent may claim any last version in its Hello.
        let previous = self
            .version
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_add(1))
            })
            .unwrap_or_else(|v| v);
        previous.saturating_add(1)
    }

    /// Queues monitors to add or replace on the agent.
    fn upsert(&self, monitors: Vec<(Id, Arc<Monitor>)>) {
        if monitors.is_empty() {
            return;
        }
        let mut p = self.pending();
        for (id, m) in monitors {
            p.removals.remove(&id);
            p.upserts.insert(id, m);
        }
        self.notify.notify_one();
    }

    /// Queues monitors to remove from the agent.
    fn remove(&self, ids: Vec<Id>) {
        if ids.is_empty() {
            return;
        }
        let mut p = self.pending();
        for id in ids {
            p.upserts.remove(&id);
            p.removals.insert(id);
        }
        self.notify.notify_one();
    }

    /// Queues a one-shot check; false when the session is closed or its queue is full.
    pub fn run_now(&self, r: RunNow) -> bool {
        let mut p = self.pending();
        if p.closed.is_some() || p.run_now.len() >= MAX_QUEUED_RUN_NOW {
            return false;
        }
        p.run_now.push_back(r);
        self.notify.notify_one();
        true
    }

    fn drained(&self, d: Drained) {
        self.pending().drained = Some(d);
        self.notify.notify_one();
    }

    fn close(&self, reason: &str) {
        self.pending().closed = Some(reason.to_string());
        self.notify.notify_one();
        self.progress.send_modify(|p| p.closed = true);
    }
}

/// Where a one-shot check was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNowTarget {
    pub region: String,
    pub agent_id: String,
    pub session: u64,
}

/// A session admitted into the assignment.
pub struct Joined {
    pub session: u64,
    /// The leadership term it was admitted in; every assignment it is sent carries it.
    pub epoch: u64,
    pub outbox: Arc<Outbox>,
    /// The version of its snapshot.
    pub version: u64,
    /// What the snapshot holds, shared with the assignment.
    monitors: Vec<Arc<Monitor>>,
}

impl Joined {
    /// The snapshot to send, in parts of at most `max_bytes` (see
    /// [`chunk::Parts`]). Each monitor is copied out of the shared ones when its part is
    /// built, by the session and not under the assignment's lock; the whole snapshot is
    /// never copied at once.
    pub fn snapshot_parts(&self, max_bytes: usize) -> impl Iterator<Item = Assignment> + '_ {
        let head = Assignment {
            version: self.version,
            snapshot: true,
            leader_epoch: self.epoch,
            ..Default::default()
        };
        chunk::Parts::new(
            head,
            self.monitors.iter().map(|m| (**m).clone()),
            std::iter::empty(),
            max_bytes,
            || self.outbox.next_version(),
        )
    }

    /// The whole snapshot in one message.
    pub fn snapshot(&self) -> Assignment {
        self.snapshot_parts(usize::MAX).next().unwrap_or_default()
    }

    /// What the agent must change to hold exactly the snapshot, given what it runs: a delta
    /// with the monitors it lacks or runs in another version, and removals of those it runs
    /// and is not assigned. Monitors it runs unchanged keep their schedule.
    pub fn reconcile(&self, running: &[RunningMonitor]) -> Assignment {
        let have: HashMap<&str, u64> = running.iter().map(|r| (r.id.as_str(), r.version)).collect();
        let mut upserts: Vec<Monitor> = self
            .monitors
            .iter()
            .filter(|m| have.get(m.id.as_str()) != Some(&m.version))
            .map(|m| (**m).clone())
            .collect();
        upserts.sort_by(|a, b| a.id.cmp(&b.id));
        let assigned: HashSet<&str> = self.monitors.iter().map(|m| m.id.as_str()).collect();
        let mut removals: Vec<String> = have
            .keys()
            .filter(|id| !assigned.contains(*id))
            .map(|id| id.to_string())
            .collect();
        removals.sort();
        Assignment {
            version: self.version,
            snapshot: false,
            upserts,
            removals,
            leader_epoch: self.epoch,
        }
    }

    /// Monitors in the snapshot.
    pub fn snapshot_len(&self) -> usize {
        self.monitors.len()
    }
}

/// Every monitor as agents see it, by id and by the regions it runs in.
#[derive(Default)]
struct Catalog {
    by_id: IdMap<Arc<Monitor>>,
    /// The monitors that run in each region (those not paused), with their rendezvous keys:
    /// what a rebalance walks without touching each monitor.
    by_region: HashMap<String, IdMap<(Arc<Monitor>, u64)>>,
}

impl Catalog {
    /// Over `monitors` as the store holds them.
    fn new(monitors: Vec<Monitor>) -> Catalog {
        let mut catalog = Catalog::default();
        for m in monitors {
            catalog.insert(Id::from(m.id.as_str()), for_agent(m));
        }
        catalog
    }

    /// Adds or replaces monitor `id`; returns the one replaced.
    fn insert(&mut self, id: Id, m: Arc<Monitor>) -> Option<Arc<Monitor>> {
        let old = self.remove(&id);
        if !m.paused {
            let key = assign::key(&id);
            for region in &m.regions {
                self.by_region
                    .entry(region.clone())
                    .or_default()
                    .insert(id.clone(), (m.clone(), key));
            }
        }
        self.by_id.insert(id, m);
        old
    }

    /// Removes monitor `id`; returns it.
    fn remove(&mut self, id: &str) -> Option<Arc<Monitor>> {
        let old = self.by_id.remove(id)?;
        for region in &old.regions {
            if let Some(members) = self.by_region.get_mut(region) {
                members.remove(id);
                if members.is_empty() {
                    self.by_region.remove(region);
                }
            }
        }
        Some(old)
    }

    /// Monitor `id`, with the id as the catalog shares it.
    fn get(&self, id: &str) -> Option<(&Id, &Arc<Monitor>)> {
        self.by_id.get_key_value(id)
    }

    /// The monitors that run in `region`, with their rendezvous keys.
    fn in_region(&self, region: &str) -> impl Iterator<Item = (&Id, &(Arc<Monitor>, u64))> {
        self.by_region.get(region).into_iter().flatten()
    }
}

/// A session waiting to be admitted (see [`Hub::join`]).
struct JoinRequest {
    agent_id: String,
    region: String,
    agent_version: String,
    capacity: u32,
    last_version: u64,
    /// `None`: this replica does not lead.
    admitted: oneshot::Sender<Option<Joined>>,
}

/// The copy of a monitor an agent receives: who is notified (integrations, and webhooks left
/// in an old row) is the notifier's business and never leaves the coordinator towards agents.
fn for_agent(m: Monitor) -> Arc<Monitor> {
    Arc::new(Monitor {
        webhooks: Vec::new(),
        integration_ids: Vec::new(),
        ..m
    })
}

fn runs_in(m: &Monitor, region: &str) -> bool {
    !m.paused && m.regions.iter().any(|r| r == region)
}

/// The agents of a region that may take monitors: every one but those draining.
fn candidates(agents: &BTreeMap<String, AgentSlot>) -> Rendezvous {
    Rendezvous::new(
        agents
            .iter()
            .filter(|(_, s)| !s.draining())
            .map(|(a, s)| (a.as_str(), s.capacity)),
    )
}

impl Hub {
    /// Loads every monitor from the store, leading (term 0: a coordinator without replicas).
    pub async fn load(store: Store) -> Result<Arc<Hub>, StoreError> {
        let monitors = store.list_monitors().await?;
        Ok(Hub::new(store, monitors))
    }

    /// A hub over `monitors` (as the store holds them), leading in term 0; changes are read
    /// from `store`.
    pub fn new(store: Store, monitors: Vec<Monitor>) -> Arc<Hub> {
        Hub::with_state(store, Some(0), monitors)
    }

    /// A hub that does not lead yet: it admits no agent until [`Hub::promote`].
    pub fn follower(store: Store) -> Arc<Hub> {
        Hub::with_state(store, None, Vec::new())
    }

    fn with_state(store: Store, epoch: Option<u64>, monitors: Vec<Monitor>) -> Arc<Hub> {
        let monitors = Catalog::new(monitors);
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            store,
            state: Mutex::new(HubState {
                epoch,
                monitors,
                ..HubState::default()
            }),
            retrying: std::sync::Mutex::new(HashSet::new()),
            joining: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Starts leading in term `epoch` over `monitors` (every stored one, read after the
    /// term began; changes committed meanwhile come again through the change feed), and
    /// admits agents.
    pub async fn promote(&self, epoch: u64, monitors: Vec<Monitor>) {
        let monitors = Catalog::new(monitors);
        let mut st = self.state.lock().await;
        st.close_all("this coordinator replica began a new term");
        st.monitors = monitors;
        st.epoch = Some(epoch);
    }

    /// Stops leading: every agent session ends with `reason` (its agent reconnects, to the
    /// new leader) and the monitors are dropped.
    pub async fn demote(&self, reason: &str) {
        let mut st = self.state.lock().await;
        st.epoch = None;
        st.close_all(reason);
        st.monitors = Catalog::default();
    }

    /// The term this hub leads in, if it leads.
    pub async fn epoch(&self) -> Option<u64> {
        self.state.lock().await.epoch
    }

    /// Admits a session of `agent_id` in `region`, replacing an older session of the same
    /// agent, and returns its snapshot. Other agents of the region get their deltas. Joins
    /// that arrive while the assignment is busy are admitted together, with one rebalance per
    /// region (agents reconnecting to a restarted coordinator arrive at once); the first agent
    /// of a region without agents waits [`FIRST_JOIN_WINDOW`] for the others to arrive.
    pub async fn join(
        &self,
        agent_id: &str,
        region: &str,
        agent_version: &str,
        capacity: u32,
        last_version: u64,
    ) -> Option<Joined> {
        let mut first = true;
        loop {
            let (admitted, joined) = oneshot::channel();
            self.joining
                .lock()
                .expect("join queue lock poisoned")
                .push(JoinRequest {
                    agent_id: agent_id.to_string(),
                    region: region.to_string(),
                    agent_version: agent_version.to_string(),
                    capacity,
                    last_version,
                    admitted,
                });
            if std::mem::take(&mut first) {
                let empty = {
                    let st = self.state.lock().await;
                    st.epoch.is_some() && !st.regions.contains_key(region)
                };
                if empty {
                    // Queued meanwhile: whoever admits next takes this request too.
                    tokio::time::sleep(FIRST_JOIN_WINDOW).await;
                }
            }
            {
                let mut st = self.state.lock().await;
                let batch =
                    std::mem::take(&mut *self.joining.lock().expect("join queue lock poisoned"));
                if !batch.is_empty() {
                    self.admit(&mut st, batch);
                }
            }
            // Whoever took this request from the queue answered it before letting the lock go,
            // unless its own call was dropped midway (its session went away): then again.
            if let Ok(joined) = joined.await {
                return joined;
            }
        }
    }

    /// Admits every session of `batch`, then rebalances each region they joined once.
    fn admit(&self, st: &mut HubState, batch: Vec<JoinRequest>) {
        let Some(epoch) = st.epoch else {
            for req in batch {
                let _ = req.admitted.send(None);
            }
            return;
        };
        // Per region: the agents admitted, and the monitors of the sessions they replaced.
        let mut fresh: BTreeMap<String, RegionWork> = BTreeMap::new();
        let mut admitted = Vec::with_capacity(batch.len());
        for req in batch {
            let (agent_id, region) = (req.agent_id.as_str(), req.region.as_str());
            st.next_session += 1;
            let session = st.next_session;
            let counter = st.versions.entry(agent_id.to_string()).or_default().clone();
            let version = counter
                .load(Ordering::SeqCst)
                .max(req.last_version)
                .saturating_add(1);
            counter.store(version, Ordering::SeqCst);
            let outbox = Arc::new(Outbox::new(counter));
            // The agent may come back in another region (reconfigured): its old place goes too.
            let elsewhere: Vec<String> = st
                .regions
                .iter()
                .filter(|(r, agents)| r.as_str() != region && agents.contains_key(agent_id))
                .map(|(r, _)| r.clone())
                .collect();
            for r in elsewhere {
                let mut orphans = Vec::new();
                if let Some(old) = st.regions.get_mut(&r).and_then(|a| a.remove(agent_id)) {
                    orphans = old.owned();
                    old.outbox
                        .close("replaced by a newer session of the same agent");
                }
                if let Some((ids, _)) = fresh.get_mut(&r) {
                    ids.retain(|id| id != agent_id);
                }
                let releases = st.rebalance(&r, &[], orphans);
                self.start(releases);
            }
            let (ids, orphans) = fresh.entry(region.to_string()).or_default();
            let agents = st.regions.entry(region.to_string()).or_default();
            if let Some(old) = agents.remove(agent_id) {
                orphans.extend(old.owned());
                old.outbox
                    .close("replaced by a newer session of the same agent");
            }
            let slot = AgentSlot {
                id: Id::from(agent_id),
                session,
                capacity: req.capacity,
                assigned: IdMap::default(),
                outbox: outbox.clone(),
                leaving: IdMap::default(),
                released: IdMap::default(),
                drain: None,
                status: AgentStatus::new(&req.agent_version),
            };
            agents.insert(agent_id.to_string(), slot);
            ids.push(agent_id.to_string());
            admitted.push((req, session, outbox, version));
        }
        let releases = st.rebalance_regions(fresh);
        self.start(releases);
        for (req, session, outbox, version) in admitted {
            let monitors = st
                .regions
                .get(&req.region)
                .and_then(|agents| agents.get(&req.agent_id))
                .filter(|slot| slot.session == session)
                .map(|slot| slot.assigned.values().cloned().collect())
                .unwrap_or_default();
            let answer = req.admitted.send(Some(Joined {
                session,
                epoch,
                outbox,
                version,
                monitors,
            }));
            if answer.is_err() {
                // That join's call was dropped: its session is over before it began.
                self.remove(st, &req.agent_id, &req.region, session, "session ended");
            }
        }
    }

    /// Removes `session` of `agent_id` (if it is still the current one), ends it with
    /// `reason` and moves its monitors.
    fn remove(&self, st: &mut HubState, agent_id: &str, region: &str, session: u64, reason: &str) {
        let Some(agents) = st.regions.get_mut(region) else {
            return;
        };
        if agents.get(agent_id).is_none_or(|s| s.session != session) {
            return;
        }
        let mut orphans = Vec::new();
        if let Some(old) = agents.remove(agent_id) {
            orphans = old.owned();
            old.outbox.close(reason);
        }
        let releases = st.rebalance(region, &[], orphans);
        self.start(releases);
    }

    /// Removes `session` of `agent_id` (if it is still the current one) and moves its monitors.
    pub async fn leave(&self, agent_id: &str, region: &str, session: u64) {
        let mut st = self.state.lock().await;
        self.remove(&mut st, agent_id, region, session, "session ended");
    }

    /// `session` of `agent_id` is stopping: its monitors move to the region's other agents
    /// while it keeps running them, each until its new owner reported it applied; then the
    /// session's outbox yields [`OutboxItem::Drained`]. False when the session is not the
    /// current one or already drains.
    pub async fn drain(&self, agent_id: &str, region: &str, session: u64) -> bool {
        let mut st = self.state.lock().await;
        let Some(slot) = st
            .regions
            .get_mut(region)
            .and_then(|agents| agents.get_mut(agent_id))
            .filter(|s| s.session == session && !s.draining())
        else {
            return false;
        };
        slot.drain = Some(DrainState {
            // Already on their way elsewhere; the rebalance counts the rest.
            moved: slot.leaving.len(),
            incomplete: false,
            answered: false,
        });
        let releases = st.rebalance(region, &[], Vec::new());
        self.start(releases);
        true
    }

    /// Waits, for each move, until its new owner has it, then completes it.
    fn start(&self, releases: Vec<Release>) {
        for r in releases {
            let hub = self.me.clone();
            tokio::spawn(async move {
                let applied = tokio::time::timeout(MAX_HANDOVER, r.handover.applied())
                    .await
                    .unwrap_or(false);
                if let Some(hub) = hub.upgrade() {
                    hub.release(r, applied).await;
                }
            });
        }
    }

    /// Completes a move: `from` removes the monitors still leaving towards `to`.
    async fn release(&self, r: Release, applied: bool) {
        let mut st = self.state.lock().await;
        let Some(slot) = st
            .regions
            .get_mut(&r.region)
            .and_then(|agents| agents.get_mut(&*r.from))
            .filter(|s| s.session == r.from_session)
        else {
            return;
        };
        let mut released = 0;
        let now_ms = lookout_store::now_ms();
        // Pruned here, where entries are added, rather than on every heartbeat.
        slot.released
            .retain(|_, at| now_ms.saturating_sub(*at) < RELEASED_KEEP_MS);
        let mut removed = Vec::new();
        for id in r.ids {
            if slot.leaving.get(&id) == Some(&r.to) {
                slot.leaving.remove(&id);
                slot.assigned.remove(&id);
                slot.released.insert(id.clone(), now_ms);
                removed.push(id);
                released += 1;
            }
        }
        slot.outbox.remove(removed);
        if released > 0 && !applied {
            tracing::warn!(from = %r.from, to = %r.to.0, monitors = released, "the new owner did not report the moved monitors applied in time; moved them anyway");
            if let Some(d) = slot.drain.as_mut() {
                d.incomplete = true;
            }
        }
        slot.answer_drain();
    }

    /// Records a heartbeat of `session` of `agent_id` for the registry.
    pub async fn heartbeat(&self, agent_id: &str, region: &str, session: u64, beat: &Heartbeat) {
        let mut st = self.state.lock().await;
        if let Some(slot) = st
            .regions
            .get_mut(region)
            .and_then(|agents| agents.get_mut(agent_id))
            .filter(|s| s.session == session)
        {
            slot.status.heartbeat(beat, Instant::now());
            slot.outbox.applied(beat.applied_assignment_version);
        }
    }

    /// The connected agents (of `region` only, unless empty), by region then id.
    pub async fn agents(&self, region: &str) -> Vec<Agent> {
        let st = self.state.lock().await;
        let now = Instant::now();
        let mut regions: Vec<(&String, &BTreeMap<String, AgentSlot>)> = st
            .regions
            .iter()
            .filter(|(r, _)| region.is_empty() || r.as_str() == region)
            .collect();
        regions.sort_by_key(|(r, _)| *r);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        regions
            .into_iter()
            .flat_map(|(region, agents)| {
                agents.iter().map(move |(id, slot)| Agent {
                    agent_id: id.clone(),
                    region: region.clone(),
                    version: slot.status.version.clone(),
                    capacity: slot.capacity,
                    connected_since_ms: slot.status.connected_since_ms,
                    last_heartbeat_ms: slot.status.last_heartbeat_ms,
                    assigned_monitors: count(slot.assigned.len()),
                    active_monitors: slot.status.active_monitors,
                    results_per_sec: slot.status.rate(now),
                    buffered_results: slot.status.buffered_results,
                    draining: slot.draining(),
                    dropped_results: slot.status.dropped_results,
                })
            })
            .collect()
    }

    /// Keeps only the results for monitors assigned to `session` of `agent_id` right now, or
    /// handed over by it after the check was scheduled (a result for another agent's monitor,
    /// a deleted one or another region's is forged or stale); returns how many it dropped.
    pub async fn retain_assigned(
        &self,
        agent_id: &str,
        region: &str,
        session: u64,
        results: &mut Vec<CheckResult>,
    ) -> usize {
        let before = results.len();
        let mut st = self.state.lock().await;
        let slot = st
            .regions
            .get_mut(region)
            .and_then(|agents| agents.get_mut(agent_id))
            .filter(|slot| slot.session == session);
        match slot {
            Some(slot) => {
                let now_ms = lookout_store::now_ms();
                results.retain(|r| {
                    slot.assigned.contains_key(r.monitor_id.as_str())
                        || slot.released.get(r.monitor_id.as_str()).is_some_and(|&at| {
                            now_ms - at < RELEASED_KEEP_MS
                                && (at - RELEASED_KEEP_MS..at).contains(&r.scheduled_at_ms)
                        })
                });
                slot.status.results += results.len() as u64;
            }
            None => results.clear(),
        }
        before - results.len()
    }

    /// Re-reads monitor `id` from the store and pushes the change to the agents concerned.
    /// A failed read is retried in the background, with backoff, until the change is applied.
    pub async fn refresh_monitor(self: &Arc<Self>, id: &str) {
        if self.epoch().await.is_none() {
            // The leader reads the change from the store's change feed.
            return;
        }
        if let Err(e) = self.try_refresh(id).await {
            tracing::warn!(monitor_id = %id, error = %e, "could not read a changed monitor; retrying until agents have it");
            self.retry_refresh(id.to_string());
        }
    }

    /// One attempt: the store is read without the lock, then the change is applied under it
    /// unless a newer read of the same monitor was applied meanwhile.
    async fn try_refresh(&self, id: &str) -> Result<(), StoreError> {
        let read_no = {
            let mut st = self.state.lock().await;
            st.next_read += 1;
            st.reads_in_flight += 1;
            st.next_read
        };
        let read = match self.store.get_monitor(id).await {
            Ok(m) => Ok(Some(for_agent(m))),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        };
        let mut st = self.state.lock().await;
        st.reads_in_flight -= 1;
        let outcome = match read {
            // Stopped leading meanwhile: the next leader loads the monitor itself.
            Ok(_) if st.epoch.is_none() => Ok(()),
            Ok(new) => {
                if st
                    .applied_read
                    .get(id)
                    .is_none_or(|&newest| newest < read_no)
                {
                    st.applied_read.insert(id.to_string(), read_no);
                    st.apply_monitor(id, new);
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        if st.reads_in_flight == 0 {
            // No read can finish out of order any more.
            st.applied_read.clear();
        }
        outcome
    }

    /// Starts the one retrying task of monitor `id` unless it already runs.
    fn retry_refresh(self: &Arc<Self>, id: String) {
        let fresh = self
            .retrying
            .lock()
            .expect("retry set lock poisoned")
            .insert(id.clone());
        if !fresh {
            return;
        }
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = REFRESH_RETRY_FIRST;
            let mut attempts = 1u32;
            loop {
                tokio::time::sleep(delay).await;
                attempts = attempts.saturating_add(1);
                match hub.try_refresh(&id).await {
                    Ok(()) => {
                        tracing::info!(monitor_id = %id, attempts, "changed monitor read; agents have it now");
                        hub.retrying
                            .lock()
                            .expect("retry set lock poisoned")
                            .remove(&id);
                        return;
                    }
                    Err(e) => {
                        delay = (delay * 2).min(REFRESH_RETRY_MAX);
                        tracing::warn!(monitor_id = %id, attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "still cannot read a changed monitor");
                    }
                }
            }
        });
    }

    /// The agent a one-shot check goes to: one connected agent of the first of `regions`
    /// that has one, picked by rendezvous on `request_id` weighted by capacity, with its
    /// session's outbox ([`Outbox::run_now`] queues the check).
    pub async fn pick_run_now(
        &self,
        regions: &[String],
        request_id: &str,
    ) -> Option<(RunNowTarget, Arc<Outbox>)> {
        let st = self.state.lock().await;
        let (region, agents) = regions.iter().find_map(|region| {
            let agents = st.regions.get(region).filter(|a| !a.is_empty())?;
            Some((region, agents))
        })?;
        let (agent_id, slot) = agents.get_key_value(candidates(agents).pick(request_id)?)?;
        let target = RunNowTarget {
            region: region.clone(),
            agent_id: agent_id.clone(),
            session: slot.session,
        };
        Some((target, slot.outbox.clone()))
    }

    /// Regions with at least one connected agent (the no-data watch names the others).
    pub async fn regions_with_agents(&self) -> HashSet<String> {
        self.state.lock().await.regions.keys().cloned().collect()
    }
}

impl HubState {
    /// Ends every session with `reason`.
    fn close_all(&mut self, reason: &str) {
        for (_, agents) in self.regions.drain() {
            for (_, slot) in agents {
                slot.outbox.close(reason);
            }
        }
    }

    /// Replaces (or, with `None`, removes) monitor `id` and pushes the change to the agents
    /// of every region it ran or runs in.
    fn apply_monitor(&mut self, id: &str, new: Option<Arc<Monitor>>) {
        let key = Id::from(id);
        let old = match &new {
            Some(m) => self.monitors.insert(key.clone(), m.clone()),
            None => self.monitors.remove(id),
        };
        let mut regions: Vec<String> = Vec::new();
        for m in old.iter().chain(new.iter()) {
            regions.extend(m.regions.iter().cloned());
        }
        regions.sort();
        regions.dedup();
        for region in regions {
            let Some(agents) = self.regions.get_mut(&region) else {
                continue;
            };
            let owner = match &new {
                Some(m) if runs_in(m, &region) => candidates(agents).pick(id).map(str::to_string),
                _ => None,
            };
            for (agent_id, slot) in agents.iter_mut() {
                match (&new, owner.as_deref() == Some(agent_id.as_str())) {
                    (Some(m), true) => {
                        let changed = slot
                            .assigned
                            .get(id)
                            .is_none_or(|cur| cur.version != m.version);
                        if changed {
                            slot.assigned.insert(key.clone(), m.clone());
                            slot.outbox.upsert(vec![(key.clone(), m.clone())]);
                        }
                    }
                    (Some(m), false)
                        if slot.leaving.contains_key(id)
                            && slot
                                .assigned
                                .get(id)
                                .is_some_and(|cur| cur.version == m.version) =>
                    {
                        // Unchanged and on its way to its owner: kept until the owner has it.
                    }
                    _ => {
                        if slot.assigned.remove(id).is_some() {
                            slot.leaving.remove(id);
                            slot.outbox.remove(vec![key.clone()]);
                            slot.answer_drain();
                        }
                    }
                }
            }
        }
    }

    /// Reassigns the monitors of `region` whose owner may have changed and pushes the
    /// differences to every agent except the `fresh` ones (just admitted), whose assignments go
    /// out as their snapshots. Only what can move is looked at: the monitors the fresh agents
    /// may win from their owners, `orphans` (owned by sessions that ended) and those owned by
    /// draining agents; with no owner left to challenge, every monitor of the region. A monitor
    /// that moves from one live agent to another stays with the first (leaving) until the moves
    /// returned complete; one with no other owner is removed at once.
    fn rebalance(&mut self, region: &str, fresh: &[String], orphans: Vec<Id>) -> Vec<Release> {
        let Some(agents) = self.regions.get_mut(region) else {
            return Vec::new();
        };
        let releases = rebalance(&self.monitors, region, agents, fresh, orphans);
        if agents.is_empty() {
            self.regions.remove(region);
        }
        releases
    }

    /// [`HubState::rebalance`] of several regions at once (agents joining together), on as
    /// many threads as there are cores: regions share nothing but the monitors.
    fn rebalance_regions(&mut self, work: BTreeMap<String, RegionWork>) -> Vec<Release> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if work.len() < 2 || threads < 2 {
            return work
                .into_iter()
                .flat_map(|(region, (fresh, orphans))| self.rebalance(&region, &fresh, orphans))
                .collect();
        }
        let HubState {
            monitors, regions, ..
        } = self;
        let mut work = work;
        let mut lanes: Vec<Vec<RegionJob<'_>>> =
            (0..threads.min(work.len())).map(|_| Vec::new()).collect();
        let jobs = regions
            .iter_mut()
            .filter_map(|(region, agents)| {
                let (fresh, orphans) = work.remove(region)?;
                Some((region.as_str(), agents, fresh, orphans))
            })
            .enumerate();
        let lane_count = lanes.len();
        for (i, job) in jobs {
            lanes[i % lane_count].push(job);
        }
        let monitors = &*monitors;
        let releases: Vec<Release> = std::thread::scope(|scope| {
            let running: Vec<_> = lanes
                .into_iter()
                .map(|lane| {
                    scope.spawn(move || {
                        lane.into_iter()
                            .flat_map(|(region, agents, fresh, orphans)| {
                                rebalance(monitors, region, agents, &fresh, orphans)
                            })
                            .collect::<Vec<Release>>()
                    })
                })
                .collect();
            running
                .into_iter()
                .flat_map(|lane| lane.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        regions.retain(|_, agents| !agents.is_empty());
        releases
    }
}

/// What a region's rebalance is given: the agents just admitted, and the monitors of the
/// sessions they replaced.
type RegionWork = (Vec<String>, Vec<Id>);

/// One region's rebalance as a thread of [`HubState::rebalance_regions`] runs it.
type RegionJob<'a> = (
    &'a str,
    &'a mut BTreeMap<String, AgentSlot>,
    Vec<String>,
    Vec<Id>,
);

/// See [`HubState::rebalance`]: the agents of `region` given `monitors`.
fn rebalance(
    monitors: &Catalog,
    region: &str,
    agents: &mut BTreeMap<String, AgentSlot>,
    fresh: &[String],
    orphans: Vec<Id>,
) -> Vec<Release> {
    let rv = candidates(agents);
    let is_fresh = |agent_id: &str| fresh.iter().any(|f| f == agent_id);
    // Agents that may hold a monitor besides its owner: those handing some over.
    let handing: Vec<String> = agents
        .iter()
        .filter(|(_, slot)| !slot.leaving.is_empty())
        .map(|(a, _)| a.clone())
        .collect();
    let owners_left = agents
        .iter()
        .any(|(a, slot)| !slot.draining() && !is_fresh(a));
    // By candidate position: the monitors it gains.
    let mut gains: Vec<Vec<Change>> = (0..rv.len()).map(|_| Vec::new()).collect();
    if rv.is_empty() {
        // Nobody may own anything: the agents left (all draining) drop what they hold.
        for slot in agents.values_mut() {
            if slot.assigned.is_empty() {
                continue;
            }
            if let Some(d) = slot.drain.as_mut() {
                // No other agent to go to: removed, not handed over.
                d.incomplete = true;
            }
            slot.leaving.clear();
            let ids: Vec<Id> = slot.assigned.drain().map(|(id, _)| id).collect();
            slot.outbox.remove(ids);
        }
    } else if !owners_left {
        // No owner to challenge: every monitor of the region finds its owner.
        for (id, (monitor, key)) in monitors.in_region(region) {
            if let Some(to) = rv.pick_key(*key) {
                gains[to].push(Change {
                    id,
                    monitor,
                    from: None,
                });
            }
        }
    } else {
        let newcomers: Vec<usize> = fresh.iter().filter_map(|a| rv.position(a)).collect();
        for id in &orphans {
            let Some((id, monitor)) = monitors.get(id) else {
                continue;
            };
            if let Some(to) = rv.pick_key(assign::key(id)) {
                gains[to].push(Change {
                    id,
                    monitor,
                    from: None,
                });
            }
        }
        for (agent_id, slot) in agents.iter().filter(|(a, _)| !is_fresh(a)) {
            // `None`: draining, so everything it owns goes.
            let own = rv.position(agent_id);
            if own.is_some() && newcomers.is_empty() {
                continue;
            }
            let owned = slot
                .assigned
                .keys()
                .filter(|id| !slot.leaving.contains_key(*id));
            for (id, monitor) in owned.filter_map(|id| monitors.get(id)) {
                let key = assign::key(id);
                let to = match own {
                    Some(own) => rv.challenge(key, own, &newcomers),
                    None => match rv.pick_key(key) {
                        Some(to) => to,
                        None => continue,
                    },
                };
                if own != Some(to) {
                    gains[to].push(Change {
                        id,
                        monitor,
                        from: Some(slot.id.clone()),
                    });
                }
            }
        }
    }

    // (from, to) -> monitors newly leaving `from` for `to`.
    let mut moves: HashMap<(Id, (Id, u64)), Vec<Id>, foldhash::fast::RandomState> =
        HashMap::default();
    for (t, gained) in gains.into_iter().enumerate() {
        let Some(slot) = agents.get_mut(rv.id(t)).filter(|_| !gained.is_empty()) else {
            continue;
        };
        slot.assigned.reserve(gained.len());
        // An agent just admitted gets its share in its snapshot; the others, in a delta.
        let admitted = is_fresh(rv.id(t));
        let mut upserts = Vec::new();
        for c in &gained {
            if !slot.leaving.is_empty() {
                // Back with this agent before its move away completed.
                slot.leaving.remove(c.id);
            }
            let before = slot.assigned.insert(c.id.clone(), c.monitor.clone());
            if !admitted && before.is_none_or(|b| b.version != c.monitor.version) {
                upserts.push((c.id.clone(), c.monitor.clone()));
            }
        }
        slot.outbox.upsert(upserts);
        if handing.is_empty() && gained.iter().all(|c| c.from.is_none()) {
            // Nobody else holds any of them.
            continue;
        }
        let to = (slot.id.clone(), slot.session);
        for c in &gained {
            // Everyone else holding it keeps running it until the new owner has it.
            let others = handing
                .iter()
                .map(String::as_str)
                .filter(|a| c.from.as_deref() != Some(*a));
            for holder in c.from.as_deref().into_iter().chain(others) {
                let Some(slot) = agents
                    .get_mut(holder)
                    .filter(|s| s.id != to.0 && s.assigned.contains_key(c.id))
                else {
                    continue;
                };
                match slot.leaving.entry(c.id.clone()) {
                    Entry::Occupied(e) if *e.get() == to => continue,
                    Entry::Occupied(mut e) => {
                        e.insert(to.clone());
                    }
                    Entry::Vacant(e) => {
                        e.insert(to.clone());
                        if let Some(d) = slot.drain.as_mut() {
                            d.moved += 1;
                        }
                    }
                }
                moves
                    .entry((slot.id.clone(), to.clone()))
                    .or_default()
                    .push(c.id.clone());
            }
        }
    }
    for slot in agents.values_mut() {
        slot.answer_drain();
    }
    // Read after every upsert above was queued: a message numbered higher carries them.
    let mut moves: Vec<_> = moves.into_iter().collect();
    // In a stable order, so the same changes are handed over alike every time.
    moves.sort_by(|a, b| a.0.cmp(&b.0));
    moves
        .into_iter()
        .filter_map(|((from, to), ids)| {
            let from_session = agents.get(&*from)?.session;
            let outbox = agents.get(&*to.0)?.outbox.clone();
            let counter = outbox.version.load(Ordering::SeqCst);
            // A fresh agent's snapshot carries the counter's own value.
            let after = match is_fresh(&to.0) {
                true => counter.saturating_sub(1),
                false => counter,
            };
            Some(Release {
                region: region.to_string(),
                from,
                from_session,
                to,
                ids,
                handover: Handover { outbox, after },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::TcpCheck;
    use lookout_proto::v1::monitor::Check;

    fn monitor(i: usize) -> Monitor {
        // Every monitor runs in eu; every other one in us too; every tenth is paused.
        let mut regions = vec!["eu".to_string()];
        if i.is_multiple_of(2) {
            regions.push("us".to_string());
        }
        Monitor {
            id: format!("mon_{i:05}"),
            regions,
            paused: i % 10 == 9,
            interval_secs: 60,
            timeout_ms: 1000,
            version: 1,
            check: Some(Check::Tcp(TcpCheck {
                address: "127.0.0.1:9".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    async fn hub(monitors: usize) -> Arc<Hub> {
        let keyring = lookout_store::Keyring::generate("test").expect("keyring");
        let store = Store::open("sqlite::memory:", keyring)
            .await
            .expect("store");
        Hub::new(store, (0..monitors).map(monitor).collect())
    }

    /// Every monitor that runs in a region has exactly one owner there, the agent a full
    /// rendezvous pick among the region's candidates names; any other agent holding it is
    /// handing it over to that owner; nobody holds a monitor that does not run there.
    async fn assert_as_a_full_pick(hub: &Hub, step: &str) -> usize {
        let st = hub.state.lock().await;
        let mut owned = 0;
        for (region, agents) in &st.regions {
            let rv = candidates(agents);
            for (id, (_, key)) in st.monitors.in_region(region) {
                let want = rv.pick_key(*key).map(|i| rv.id(i));
                let owners: Vec<&str> = agents
                    .iter()
                    .filter(|(_, s)| s.assigned.contains_key(id) && !s.leaving.contains_key(id))
                    .map(|(a, _)| a.as_str())
                    .collect();
                assert_eq!(
                    owners,
                    want.into_iter().collect::<Vec<_>>(),
                    "{step}: {region}/{id}"
                );
                owned += owners.len();
                for (a, s) in agents {
                    if let Some((to, _)) = s.leaving.get(id) {
                        assert_eq!(Some(&**to), want, "{step}: {a} hands {id} to its owner");
                    }
                }
            }
            for (a, s) in agents {
                for id in s.assigned.keys() {
                    let runs = st.monitors.in_region(region).any(|(m, _)| m == id);
                    assert!(
                        runs,
                        "{step}: {a} holds {id}, which does not run in {region}"
                    );
                }
            }
        }
        owned
    }

    async fn join(hub: &Hub, agent: &str, region: &str, capacity: u32) -> Joined {
        hub.join(agent, region, "test", capacity, 0)
            .await
            .expect("the hub leads")
    }

    #[tokio::test]
    async fn incremental_rebalances_agree_with_a_full_pick() {
        let hub = hub(3_000).await;
        // eu: 2,700 monitors not paused; us: 1,500 (the paused ones are odd).
        let (a, b) = tokio::join!(join(&hub, "a", "eu", 1), join(&hub, "b", "eu", 2));
        assert_eq!(assert_as_a_full_pick(&hub, "two join").await, 2_700);
        let (_c, _d) = tokio::join!(join(&hub, "c", "eu", 1), join(&hub, "d", "us", 1));
        assert_eq!(
            assert_as_a_full_pick(&hub, "a newcomer in each region").await,
            4_200
        );
        assert!(hub.drain("b", "eu", b.session).await);
        assert_as_a_full_pick(&hub, "b drains").await;
        hub.leave("a", "eu", a.session).await;
        assert_as_a_full_pick(&hub, "a leaves while b drains").await;
        let _a = join(&hub, "a", "eu", 3).await;
        assert_as_a_full_pick(&hub, "a comes back, bigger").await;
        // A new session of c replaces the old one: its monitors are orphaned and re-picked.
        let c = join(&hub, "c", "eu", 1).await;
        assert_as_a_full_pick(&hub, "c reconnects").await;
        let e = join(&hub, "e", "us", 1).await;
        hub.leave("e", "us", e.session).await;
        hub.leave("c", "eu", c.session).await;
        assert_eq!(assert_as_a_full_pick(&hub, "c and e gone").await, 4_200);
    }

    #[tokio::test]
    async fn agents_arriving_together_are_assigned_together() {
        let hub = hub(1_000).await;
        let (_a, _b, _c) = tokio::join!(
            join(&hub, "a", "eu", 1),
            join(&hub, "b", "eu", 1),
            join(&hub, "c", "eu", 1)
        );
        let st = hub.state.lock().await;
        let agents = &st.regions["eu"];
        let held: usize = agents.values().map(|s| s.assigned.len()).sum();
        assert_eq!(held, 900, "each monitor on one agent, none handed over");
        assert!(
            agents
                .values()
                .all(|s| s.leaving.is_empty() && s.assigned.len() > 200)
        );
    }

    #[tokio::test]
    async fn a_join_given_up_while_waiting_leaves_no_agent_behind() {
        let hub = hub(100).await;
        let gone = {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move { join(&hub, "gone", "eu", 1).await })
        };
        // Within the first agent's wait: its request is queued, not admitted.
        tokio::time::sleep(FIRST_JOIN_WINDOW / 4).await;
        gone.abort();
        let b = join(&hub, "b", "eu", 1).await;
        let listed = hub.agents("eu").await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(
            (listed[0].agent_id.as_str(), listed[0].assigned_monitors),
            ("b", 90)
        );
        // What b runs: its snapshot and what reached its outbox after it.
        let mut runs: HashSet<String> = b.snapshot().upserts.into_iter().map(|m| m.id).collect();
        runs.extend(b.outbox.pending().upserts.keys().map(|id| id.to_string()));
        assert_eq!(runs.len(), 90);
    }
}
