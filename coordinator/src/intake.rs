//! What the gateway takes from an agent: a Hello's capacity within bounds, result batches
//! within their count, and only results that are well formed, carry an agent's status and
//! name a monitor assigned to that agent. Everything else is dropped, counted and logged at
//! most every ten seconds per session; nothing an agent sends is trusted beyond its token.

use std::time::Duration;

use lookout_proto::bounds::{MAX_BATCH_RESULTS, excerpt};
use lookout_proto::validate::FieldError;
use lookout_proto::{CheckResult, CheckStatus, FailureClass};
use tokio::time::Instant;

use crate::error::field_error;

/// Largest assignment weight an agent may claim; 0 means the default, 1.
pub const MAX_CAPACITY: u32 = 1000;
/// Bytes of a result id (a UUIDv7 is 36).
pub const MAX_RESULT_ID_BYTES: usize = 64;
/// Bytes of a result's `check_kind` (`http`, `tcp`, ...).
pub const MAX_CHECK_KIND_BYTES: usize = 16;
/// How often one session logs the results it dropped.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// The assignment weight of a Hello: 0 is the default 1, above [`MAX_CAPACITY`] is refused.
pub fn capacity(requested: u32) -> Result<u32, FieldError> {
    match requested {
        0 => Ok(1),
        c if c <= MAX_CAPACITY => Ok(c),
        c => Err(field_error(
            "hello.capacity",
            format!("{c} is too large, must be 1..={MAX_CAPACITY} (0 means 1)"),
        )),
    }
}

/// Refuses a batch holding more results than any agent sends at once. (Its size in bytes is
/// bounded by the gateway's message limit before it is even decoded.)
pub fn check_batch(results: usize) -> Result<(), FieldError> {
    if results > MAX_BATCH_RESULTS {
        return Err(field_error(
            "results.results",
            format!("{results} results in one batch, at most {MAX_BATCH_RESULTS}"),
        ));
    }
    Ok(())
}

/// Results one session dropped, by reason, since they were last logged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// For a monitor that is not assigned to this agent (another agent's, deleted, or
    /// another region's).
    pub not_assigned: u64,
    /// With a status or event only the coordinator publishes (NO_DATA, lifecycle events).
    pub coordinator_status: u64,
    /// With a status or failure class out of range, or an id or check kind too long.
    pub malformed: u64,
}

impl Dropped {
    fn total(&self) -> u64 {
        self.not_assigned + self.coordinator_status + self.malformed
    }
}

/// Per-session intake: stamps, bounds and filters results, and counts what it drops.
#[derive(Debug)]
pub struct Intake {
    agent_id: String,
    region: String,
    pending: Dropped,
    last_log: Option<Instant>,
}

impl Intake {
    pub fn new(agent_id: &str, region: &str) -> Intake {
        Intake {
            agent_id: agent_id.to_string(),
            region: region.to_string(),
            pending: Dropped::default(),
            last_log: None,
        }
    }

    /// Keeps the well-formed results an agent may send, stamped with the session's agent and
    /// region (the session, not the payload, says who produced a result) and with their text
    /// cut to its bounds. Whether each monitor is the agent's is checked afterwards, by the hub.
    pub fn admit(&mut self, results: &mut Vec<CheckResult>) {
        results.retain_mut(|r| {
            let status = CheckStatus::try_from(r.status);
            let class_ok = FailureClass::try_from(r.failure_class).is_ok();
            if r.lifecycle != 0 {
                self.pending.coordinator_status += 1;
                return false;
            }
            match status {
                Ok(CheckStatus::NoData) => {
                    self.pending.coordinator_status += 1;
                    return false;
                }
                Ok(CheckStatus::Unspecified) | Err(_) => {
                    self.pending.malformed += 1;
                    return false;
                }
                Ok(_) if !class_ok => {
                    self.pending.malformed += 1;
                    return false;
                }
                Ok(_) => {}
            }
            if r.id.len() > MAX_RESULT_ID_BYTES || r.check_kind.len() > MAX_CHECK_KIND_BYTES {
                self.pending.malformed += 1;
                return false;
            }
            if r.id.is_empty() {
                r.id = uuid::Uuid::now_v7().to_string();
            }
            r.agent_id.clone_from(&self.agent_id);
            r.region.clone_from(&self.region);
            r.bound_text();
            true
        });
    }

    /// Counts results the hub dropped as not assigned to this agent.
    pub fn not_assigned(&mut self, n: usize) {
        self.pending.not_assigned += n as u64;
    }

    /// Logs the drops counted since the last line, at most every ten seconds (or now, with
    /// `force`, when the session ends). Returns what it logged.
    pub fn log_drops(&mut self, now: Instant, force: bool) -> Option<Dropped> {
        if self.pending.total() == 0 {
            return None;
        }
        let due = force
            || self
                .last_log
                .is_none_or(|t| now.duration_since(t) >= DROP_LOG_EVERY);
        if !due {
            return None;
        }
        self.last_log = Some(now);
        let d = std::mem::take(&mut self.pending);
        tracing::warn!(
            agent_id = %self.agent_id,
            region = %self.region,
            not_assigned = d.not_assigned,
            coordinator_status = d.coordinator_status,
            malformed = d.malformed,
            "dropped results from agent: not published"
        );
        Some(d)
    }
}

/// The result published in place of one the bus refused for good (too large, invalid): same
/// id, monitor, region and times, a gap (MISSED, INTERNAL) and the reason, so the monitor's
/// history shows what happened instead of the coordinator retrying forever.
pub fn replacement(refused: &CheckResult, reason: &str) -> CheckResult {
    let mut r = CheckResult {
        id: refused.id.clone(),
        monitor_id: refused.monitor_id.clone(),
        monitor_version: refused.monitor_version,
        region: refused.region.clone(),
        agent_id: refused.agent_id.clone(),
        status: CheckStatus::Missed as i32,
        scheduled_at_ms: refused.scheduled_at_ms,
        started_at_ms: refused.started_at_ms,
        failure_class: FailureClass::Internal as i32,
        error_message: format!(
            "the result bus refused this result for good ({}); it was a {} result",
            excerpt(reason),
            refused.status().label()
        ),
        check_kind: refused.check_kind.clone(),
        ..Default::default()
    };
    r.bound_text();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: i32) -> CheckResult {
        CheckResult {
            id: "r1".into(),
            monitor_id: "m1".into(),
            status,
            check_kind: "http".into(),
            ..Default::default()
        }
    }

    #[test]
    fn capacity_bounds() {
        assert_eq!(capacity(0).expect("default"), 1);
        assert_eq!(capacity(1000).expect("max"), 1000);
        let e = capacity(u32::MAX).expect_err("too large");
        assert_eq!(e.field, "hello.capacity");
        assert!(e.reason.contains("1..=1000"), "{e}");
    }

    #[test]
    fn batch_count_bound() {
        assert!(check_batch(MAX_BATCH_RESULTS).is_ok());
        let e = check_batch(100_000).expect_err("too many");
        assert_eq!(e.field, "results.results");
        assert!(e.reason.starts_with("100000 results"), "{e}");
    }

    #[test]
    fn admit_stamps_bounds_and_drops() {
        let mut intake = Intake::new("a1", "eu");
        let mut long_id = result(CheckStatus::Up as i32);
        long_id.id = "x".repeat(65);
        let mut bad_class = result(CheckStatus::Down as i32);
        bad_class.failure_class = 99;
        let mut chatty = result(CheckStatus::Down as i32);
        chatty.error_message = "e".repeat(1 << 20);
        chatty.agent_id = "someone-else".into();
        chatty.region = "us".into();
        let mut anonymous = result(CheckStatus::Up as i32);
        anonymous.id.clear();
        let mut forged_delete = result(CheckStatus::Up as i32);
        forged_delete.lifecycle = lookout_proto::v1::MonitorLifecycle::Deleted as i32;
        let mut results = vec![
            result(CheckStatus::NoData as i32),
            forged_delete,
            result(0),
            result(42),
            long_id,
            bad_class,
            chatty,
            anonymous,
        ];
        intake.admit(&mut results);
        assert_eq!(results.len(), 2);
        assert!(
            results
                .iter()
                .all(|r| r.agent_id == "a1" && r.region == "eu")
        );
        assert!(results[0].error_message.len() <= 1024);
        assert!(!results[1].id.is_empty(), "an id is given where missing");
        intake.not_assigned(3);
        let t0 = Instant::now();
        let logged = intake.log_drops(t0, false).expect("first drops are logged");
        assert_eq!(
            logged,
            Dropped {
                not_assigned: 3,
                coordinator_status: 2,
                malformed: 4,
            }
        );
        intake.not_assigned(1);
        assert_eq!(intake.log_drops(t0 + Duration::from_secs(1), false), None);
        assert_eq!(
            intake
                .log_drops(t0 + Duration::from_secs(10), false)
                .map(|d| d.not_assigned),
            Some(1)
        );
    }

    #[test]
    fn replacement_keeps_identity_and_says_why() {
        let mut r = result(CheckStatus::Down as i32);
        r.region = "eu".into();
        r.scheduled_at_ms = 5;
        let x = replacement(&r, &"Broker: Message size too large".repeat(100));
        assert_eq!(
            (x.id.as_str(), x.monitor_id.as_str(), x.region.as_str()),
            ("r1", "m1", "eu")
        );
        assert_eq!(x.scheduled_at_ms, 5);
        assert_eq!(x.status(), CheckStatus::Missed);
        assert_eq!(x.failure_class(), FailureClass::Internal);
        assert!(x.error_message.contains("refused this result for good"));
        assert!(x.error_message.contains("DOWN"));
        assert!(x.error_message.len() <= 1024);
    }
}
