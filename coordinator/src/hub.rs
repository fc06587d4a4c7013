//! The live assignment: which connected agent runs which (monitor, region). Kept in memory,
//! recomputed when agents join or leave and when a monitor changes, and handed to each
//! agent's session as coalesced deltas through its [`Outbox`]. A monitor change is read from
//! the store outside the assignment lock and retried until it is applied.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lookout_proto::v1::{Assignment, RunNow};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::{Store, StoreError};
use tokio::sync::{Mutex, Notify};

use crate::assign::Rendezvous;

/// First and longest pause between attempts to read a changed monitor that failed to load.
const REFRESH_RETRY_FIRST: Duration = Duration::from_millis(200);
const REFRESH_RETRY_MAX: Duration = Duration::from_secs(30);

/// Shared assignment state of the coordinator.
pub struct Hub {
    store: Store,
    state: Mutex<HubState>,
    /// Monitors whose change could not be read yet; each has one retrying task.
    retrying: std::sync::Mutex<HashSet<String>>,
}

#[derive(Default)]
struct HubState {
    /// Every monitor as agents see it (integrations stripped), by id.
    monitors: HashMap<String, Arc<Monitor>>,
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
    session: u64,
    capacity: u32,
    assigned: HashMap<String, Arc<Monitor>>,
    outbox: Arc<Outbox>,
}

/// What a session must send next: assignment changes or the end of the session.
#[derive(Default)]
struct Pending {
    upserts: HashMap<String, Arc<Monitor>>,
    removals: HashSet<String>,
    /// One-shot checks to send, oldest first (at most [`MAX_QUEUED_RUN_NOW`]).
    run_now: VecDeque<RunNow>,
    closed: Option<String>,
}

/// One-shot checks waiting for one agent session at most; more are refused.
pub const MAX_QUEUED_RUN_NOW: usize = 256;

/// Changes waiting for one agent session; several changes made before the session sends
/// them are coalesced into one delta.
pub struct Outbox {
    pending: Mutex<Pending>,
    notify: Notify,
    version: Arc<AtomicU64>,
}

/// What an agent session takes from its outbox.
#[derive(Debug)]
pub enum OutboxItem {
    Delta(Assignment),
    /// A check to run once, now (see [`crate::run_now`]).
    RunNow(Box<RunNow>),
    /// The session must end (a newer session of the same agent replaced it).
    Closed(String),
}

impl Outbox {
    fn new(version: Arc<AtomicU64>) -> Outbox {
        Outbox {
            pending: Mutex::new(Pending::default()),
            notify: Notify::new(),
            version,
        }
    }

    /// Waits until something is pending, then takes all of it.
    pub async fn next(&self) -> OutboxItem {
        loop {
            {
                let mut p = self.pending.lock().await;
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
                    let mut removals: Vec<String> = p.removals.drain().collect();
                    removals.sort();
                    let version = self.next_version();
                    return OutboxItem::Delta(Assignment {
                        version,
                        snapshot: false,
                        upserts,
                        removals,
                    });
                }
            }
            self.notify.notified().await;
        }
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

    async fn upsert(&self, m: Arc<Monitor>) {
        let mut p = self.pending.lock().await;
        p.removals.remove(&m.id);
        p.upserts.insert(m.id.clone(), m);
        self.notify.notify_one();
    }

    async fn remove(&self, id: &str) {
        let mut p = self.pending.lock().await;
        p.upserts.remove(id);
        p.removals.insert(id.to_string());
        self.notify.notify_one();
    }

    /// Queues a one-shot check; false when the session is closed or its queue is full.
    pub async fn run_now(&self, r: RunNow) -> bool {
        let mut p = self.pending.lock().await;
        if p.closed.is_some() || p.run_now.len() >= MAX_QUEUED_RUN_NOW {
            return false;
        }
        p.run_now.push_back(r);
        self.notify.notify_one();
        true
    }

    async fn close(&self, reason: &str) {
        self.pending.lock().await.closed = Some(reason.to_string());
        self.notify.notify_one();
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
    pub outbox: Arc<Outbox>,
    pub snapshot: Assignment,
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

impl Hub {
    /// Loads every monitor from the store.
    pub async fn load(store: Store) -> Result<Hub, StoreError> {
        let monitors = store
            .list_monitors()
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), for_agent(m)))
            .collect();
        Ok(Hub {
            store,
            state: Mutex::new(HubState {
                monitors,
                ..HubState::default()
            }),
            retrying: std::sync::Mutex::new(HashSet::new()),
        })
    }

    /// Admits a session of `agent_id` in `region`, replacing an older session of the same
    /// agent, and returns its snapshot. Other agents of the region get their deltas.
    pub async fn join(
        &self,
        agent_id: &str,
        region: &str,
        capacity: u32,
        last_version: u64,
    ) -> Joined {
        let mut st = self.state.lock().await;
        st.next_session += 1;
        let session = st.next_session;
        let counter = st.versions.entry(agent_id.to_string()).or_default().clone();
        let version = counter
            .load(Ordering::SeqCst)
            .max(last_version)
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
            if let Some(old) = st.regions.get_mut(&r).and_then(|a| a.remove(agent_id)) {
                old.outbox
                    .close("replaced by a newer session of the same agent")
                    .await;
            }
            st.rebalance(&r, None).await;
        }
        let agents = st.regions.entry(region.to_string()).or_default();
        if let Some(old) = agents.remove(agent_id) {
            old.outbox
                .close("replaced by a newer session of the same agent")
                .await;
        }
        let slot = AgentSlot {
            session,
            capacity,
            assigned: HashMap::new(),
            outbox: outbox.clone(),
        };
        agents.insert(agent_id.to_string(), slot);
        st.rebalance(region, Some(agent_id)).await;
        let mut upserts: Vec<Monitor> = st.regions[region][agent_id]
            .assigned
            .values()
            .map(|m| (**m).clone())
            .collect();
        upserts.sort_by(|a, b| a.id.cmp(&b.id));
        let snapshot = Assignment {
            version,
            snapshot: true,
            upserts,
            removals: Vec::new(),
        };
        Joined {
            session,
            outbox,
            snapshot,
        }
    }

    /// Removes `session` of `agent_id` (if it is still the current one) and moves its monitors.
    pub async fn leave(&self, agent_id: &str, region: &str, session: u64) {
        let mut st = self.state.lock().await;
        let Some(agents) = st.regions.get_mut(region) else {
            return;
        };
        if agents.get(agent_id).is_none_or(|s| s.session != session) {
            return;
        }
        if let Some(old) = agents.remove(agent_id) {
            old.outbox.close("session ended").await;
        }
        st.rebalance(region, None).await;
    }

    /// Keeps only the results for monitors assigned to `session` of `agent_id` right now (a
    /// result for another agent's monitor, a deleted one or another region's is forged or
    /// stale); returns how many it dropped.
    pub async fn retain_assigned(
        &self,
        agent_id: &str,
        region: &str,
        session: u64,
        results: &mut Vec<CheckResult>,
    ) -> usize {
        let before = results.len();
        let st = self.state.lock().await;
        let slot = st
            .regions
            .get(region)
            .and_then(|agents| agents.get(agent_id))
            .filter(|slot| slot.session == session);
        match slot {
            Some(slot) => results.retain(|r| slot.assigned.contains_key(&r.monitor_id)),
            None => results.clear(),
        }
        before - results.len()
    }

    /// Re-reads monitor `id` from the store and pushes the change to the agents concerned.
    /// A failed read is retried in the background, with backoff, until the change is applied.
    pub async fn refresh_monitor(self: &Arc<Self>, id: &str) {
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
            Ok(new) => {
                if st
                    .applied_read
                    .get(id)
                    .is_none_or(|&newest| newest < read_no)
                {
                    st.applied_read.insert(id.to_string(), read_no);
                    st.apply_monitor(id, new).await;
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
        let rv = Rendezvous::new(agents.iter().map(|(a, s)| (a.as_str(), s.capacity)));
        let (agent_id, slot) = agents.get_key_value(rv.pick(request_id)?)?;
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
    /// Replaces (or, with `None`, removes) monitor `id` and pushes the change to the agents
    /// of every region it ran or runs in.
    async fn apply_monitor(&mut self, id: &str, new: Option<Arc<Monitor>>) {
        let old = match &new {
            Some(m) => self.monitors.insert(id.to_string(), m.clone()),
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
                Some(m) if runs_in(m, &region) => {
                    Rendezvous::new(agents.iter().map(|(a, s)| (a.as_str(), s.capacity)))
                        .pick(id)
                        .map(str::to_string)
                }
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
                            slot.assigned.insert(id.to_string(), m.clone());
                            slot.outbox.upsert(m.clone()).await;
                        }
                    }
                    _ => {
                        if slot.assigned.remove(id).is_some() {
                            slot.outbox.remove(id).await;
                        }
                    }
                }
            }
        }
    }

    /// Recomputes the whole assignment of `region` and pushes the differences to every agent
    /// except `fresh`, whose new assignment goes out as its snapshot.
    async fn rebalance(&mut self, region: &str, fresh: Option<&str>) {
        let Some(agents) = self.regions.get_mut(region) else {
            return;
        };
        let rv = Rendezvous::new(agents.iter().map(|(a, s)| (a.as_str(), s.capacity)));
        let mut desired: HashMap<&str, HashMap<String, Arc<Monitor>>> = HashMap::new();
        for m in self.monitors.values().filter(|m| runs_in(m, region)) {
            if let Some(owner) = rv.pick(&m.id) {
                desired
                    .entry(owner)
                    .or_default()
                    .insert(m.id.clone(), m.clone());
            }
        }
        for (agent_id, slot) in agents.iter_mut() {
            let want = desired.remove(agent_id.as_str()).unwrap_or_default();
            if fresh != Some(agent_id.as_str()) {
                for id in slot.assigned.keys().filter(|id| !want.contains_key(*id)) {
                    slot.outbox.remove(id).await;
                }
                for (id, m) in &want {
                    if slot
                        .assigned
                        .get(id)
                        .is_none_or(|cur| cur.version != m.version)
                    {
                        slot.outbox.upsert(m.clone()).await;
                    }
                }
            }
            slot.assigned = want;
        }
        if agents.is_empty() {
            self.regions.remove(region);
        }
    }
}
