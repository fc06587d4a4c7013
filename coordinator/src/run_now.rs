//! One-shot checks run by a live agent now, outside any schedule (Telex's `/tick`): the
//! request goes to one agent's session as `CoordinatorMessage.run_now`, and the caller waits
//! for that agent's `AgentMessage.run_now_result` with the same request id. An answer from
//! another agent or session, or for an id nobody waits for, is dropped; a session that ends
//! fails its waiters at once; an agent that never answers (one that predates the message
//! ignores it) is given up on after the check's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_proto::v1::{RunNow, RunNowResult};
use lookout_proto::{CheckResult, Monitor};
use tokio::sync::oneshot;

use crate::hub::{Hub, RunNowTarget};

/// Waiting past the check's own timeout: the agent may wait up to that long for a free
/// check slot, then run the check for as long, and the answer has to travel.
const ANSWER_SLACK: Duration = Duration::from_secs(5);
/// One-shot checks waiting for an answer, across every caller; more are refused.
pub const MAX_PENDING: usize = 1024;

/// Why a one-shot check has no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunNowError {
    #[error("no agent is connected in {0}")]
    NoAgent(String),
    /// Agents connect to the leader only.
    #[error(
        "this coordinator replica does not lead and has no agents; send one-shot checks to the leader"
    )]
    NotLeading,
    #[error("agent {0} has too many checks queued; try again later")]
    Busy(String),
    #[error("agent {agent_id} left before answering")]
    Left { agent_id: String },
    #[error("agent {agent_id} did not answer within {secs} s")]
    NoAnswer { agent_id: String, secs: u64 },
}

/// What a caller learns: the result, where it ran.
#[derive(Debug, Clone)]
pub struct Answer {
    pub target: RunNowTarget,
    pub result: CheckResult,
}

struct Waiter {
    target: RunNowTarget,
    tx: oneshot::Sender<Result<CheckResult, RunNowError>>,
}

/// Routes one-shot checks to agents and their answers back to the callers.
pub struct RunNowBroker {
    hub: Arc<Hub>,
    pending: Mutex<HashMap<String, Waiter>>,
}

/// Removes a request's waiter however its caller stops waiting (answered, timed out, or the
/// caller's future dropped).
struct Registered<'a> {
    broker: &'a RunNowBroker,
    request_id: String,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.broker.lock().remove(&self.request_id);
    }
}

impl RunNowBroker {
    pub fn new(hub: Arc<Hub>) -> RunNowBroker {
        RunNowBroker {
            hub,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        // A panic while holding the map leaves it consistent (single inserts and removals).
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `monitor` (validated, with its timeout set) once on an agent of the first of
    /// `regions` with one connected; `where_` names those regions in the "no agent" error.
    /// The monitor's id becomes the request id.
    pub async fn run(
        &self,
        regions: &[String],
        where_: &str,
        mut monitor: Monitor,
    ) -> Result<Answer, RunNowError> {
        if self.hub.epoch().await.is_none() {
            return Err(RunNowError::NotLeading);
        }
        let request_id = format!("run_{}", uuid::Uuid::now_v7());
        let Some((target, outbox)) = self.hub.pick_run_now(regions, &request_id).await else {
            return Err(RunNowError::NoAgent(where_.to_string()));
        };
        monitor.id = request_id.clone();
        monitor.regions = vec![target.region.clone()];
        let wait = Duration::from_millis(u64::from(monitor.timeout_ms)) * 2 + ANSWER_SLACK;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.lock();
            if pending.len() >= MAX_PENDING {
                return Err(RunNowError::Busy(target.agent_id));
            }
            let waiter = Waiter {
                target: target.clone(),
                tx,
            };
            pending.insert(request_id.clone(), waiter);
        }
        let _registered = Registered {
            broker: self,
            request_id: request_id.clone(),
        };
        let request = RunNow {
            request_id,
            monitor: Some(monitor),
        };
        // Registered first: the answer may come back before this call returns.
        if !outbox.run_now(request) {
            return Err(RunNowError::Busy(target.agent_id));
        }
        let no_answer = || RunNowError::NoAnswer {
            agent_id: target.agent_id.clone(),
            secs: wait.as_secs(),
        };
        let result = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(answered)) => answered?,
            Ok(Err(_)) | Err(_) => return Err(no_answer()),
        };
        Ok(Answer { target, result })
    }

    /// Hands an agent's answer to its caller; false (dropped) unless `agent_id`'s `session`
    /// is where that request went. The result is stamped with the session's agent and
    /// region and bounded.
    pub fn answer(&self, agent_id: &str, session: u64, answer: RunNowResult) -> bool {
        let waiter = {
            let mut pending = self.lock();
            let ours = pending
                .get(&answer.request_id)
                .is_some_and(|w| w.target.agent_id == agent_id && w.target.session == session);
            if !ours {
                return false;
            }
            pending.remove(&answer.request_id)
        };
        let Some(waiter) = waiter else {
            return false;
        };
        let mut result = answer.result.unwrap_or_default();
        result.monitor_id = answer.request_id;
        result.agent_id = waiter.target.agent_id.clone();
        result.region = waiter.target.region.clone();
        result.bound_text();
        // The caller may have stopped waiting meanwhile.
        let _ = waiter.tx.send(Ok(result));
        true
    }

    /// Fails every request sent to `session` of `agent_id`, which ended.
    pub fn session_ended(&self, agent_id: &str, session: u64) {
        let mut pending = self.lock();
        let gone: Vec<String> = pending
            .iter()
            .filter(|(_, w)| w.target.agent_id == agent_id && w.target.session == session)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(w) = pending.remove(&id) {
                let _ = w.tx.send(Err(RunNowError::Left {
                    agent_id: agent_id.to_string(),
                }));
            }
        }
    }
}
