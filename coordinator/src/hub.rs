//! The live assignment: which connected agent runs which (monitor, region). Kept in memory,
//! recomputed when agents join or leave and when a monitor changes, and handed to each
//! agent's session as coalesced deltas through its [`Outbox`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lookout_proto::Monitor;
use lookout_proto::v1::Assignment;
use lookout_store::{Store, StoreError};
use tokio::sync::{Mutex, Notify};

use crate::assign::Rendezvous;

/// Shared assignment state of the coordinator.
pub struct Hub {
    store: Store,
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    /// Every monitor as agents see it (webhooks stripped), by id.
    monitors: HashMap<String, Arc<Monitor>>,
    /// Connected agents by region, then by agent id.
    regions: HashMap<String, BTreeMap<String, AgentSlot>>,
    /// Last assignment version sent to each agent id, kept across its sessions.
    versions: HashMap<String, Arc<AtomicU64>>,
    next_session: u64,
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
    closed: Option<String>,
}

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

    /// Numbers one more assignment message of this agent (see [`crate::chunk`]).
    pub fn next_version(&self) -> u64 {
        self.version.fetch_add(1, Ordering::SeqCst) + 1
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

    async fn close(&self, reason: &str) {
        self.pending.lock().await.closed = Some(reason.to_string());
        self.notify.notify_one();
    }
}

/// A session admitted into the assignment.
pub struct Joined {
    pub session: u64,
    pub outbox: Arc<Outbox>,
    pub snapshot: Assignment,
}

/// The copy of a monitor an agent receives: webhooks (URLs and secrets) are the notifier's
/// business and never leave the coordinator towards agents.
fn for_agent(m: Monitor) -> Arc<Monitor> {
    Arc::new(Monitor {
        webhooks: Vec::new(),
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
        let version = counter.load(Ordering::SeqCst).max(last_version) + 1;
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

    /// Re-reads monitor `id` from the store and pushes the change to the agents concerned.
    /// Reading under the lock makes the last refresh win with the last committed state.
    pub async fn refresh_monitor(&self, id: &str) -> Result<(), StoreError> {
        let mut st = self.state.lock().await;
        let new = match self.store.get_monitor(id).await {
            Ok(m) => Some(for_agent(m)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let old = match &new {
            Some(m) => st.monitors.insert(id.to_string(), m.clone()),
            None => st.monitors.remove(id),
        };
        let mut regions: Vec<String> = Vec::new();
        for m in old.iter().chain(new.iter()) {
            regions.extend(m.regions.iter().cloned());
        }
        regions.sort();
        regions.dedup();
        for region in regions {
            let Some(agents) = st.regions.get_mut(&region) else {
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
        Ok(())
    }

    /// Regions with at least one connected agent (the no-data watch names the others).
    pub async fn regions_with_agents(&self) -> HashSet<String> {
        self.state.lock().await.regions.keys().cloned().collect()
    }
}

impl HubState {
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
