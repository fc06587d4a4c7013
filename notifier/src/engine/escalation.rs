//! Escalation: an open, unacknowledged incident climbs to level 2, 3, ... when a level's
//! condition holds (failed results after the opening one, or time since it opened), and each
//! level adds its own integrations to the monitor's.

use lookout_proto::v1::EscalationLevel;

/// What the incident looks like to the escalation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// The level reached so far, 1 at opening.
    pub level: u32,
    pub opened_at_ms: i64,
    pub acknowledged: bool,
    /// Failed results after the one that opened it (the worst region's).
    pub extra_failures: u32,
}

/// The highest level whose condition holds at `now_ms`, if above the current one: the level
/// to escalate to (levels in between are skipped, one event says where it is now). Nothing
/// for an acknowledged incident.
pub fn reached(levels: &[EscalationLevel], inc: &Open, now_ms: i64) -> Option<u32> {
    if inc.acknowledged {
        return None;
    }
    let open_ms = now_ms.saturating_sub(inc.opened_at_ms);
    let holds = |l: &EscalationLevel| {
        (l.after_failures != 0 && inc.extra_failures >= l.after_failures)
            || (l.after_secs != 0 && open_ms >= i64::from(l.after_secs) * 1000)
    };
    let best = levels
        .iter()
        .enumerate()
        .filter(|(_, l)| holds(l))
        .map(|(i, _)| level_number(i))
        .max()?;
    (best > inc.level).then_some(best)
}

/// When the next level is reached by time alone, for the timer; `None` when no higher level
/// has a duration or the incident is acknowledged.
pub fn next_due_ms(levels: &[EscalationLevel], inc: &Open) -> Option<i64> {
    if inc.acknowledged {
        return None;
    }
    levels
        .iter()
        .enumerate()
        .filter(|(i, l)| level_number(*i) > inc.level && l.after_secs != 0)
        .map(|(_, l)| {
            inc.opened_at_ms
                .saturating_add(i64::from(l.after_secs) * 1000)
        })
        .min()
}

/// The integrations told about an incident at `level`: the monitor's, then those of every
/// level reached, each once, in that order.
pub fn integrations(monitor_ids: &[String], levels: &[EscalationLevel], level: u32) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let reached = levels
        .iter()
        .enumerate()
        .filter(|(i, _)| level_number(*i) <= level)
        .flat_map(|(_, l)| l.integration_ids.iter());
    for id in monitor_ids.iter().chain(reached) {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// The integrations a level adds, not told before it (its ESCALATION event goes to all of
/// `integrations`, these are the ones hearing of the incident for the first time).
pub fn added_at(monitor_ids: &[String], levels: &[EscalationLevel], level: u32) -> Vec<String> {
    let before = integrations(monitor_ids, levels, level.saturating_sub(1));
    integrations(monitor_ids, levels, level)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect()
}

/// Entry `i` of `Monitor.escalation` is level `i + 2` (level 1 is the opening).
fn level_number(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(after_failures: u32, after_secs: u32, ids: &[&str]) -> EscalationLevel {
        EscalationLevel {
            after_failures,
            after_secs,
            integration_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn open(level: u32, extra_failures: u32) -> Open {
        Open {
            level,
            opened_at_ms: 1_000_000,
            acknowledged: false,
            extra_failures,
        }
    }

    #[test]
    fn levels_are_reached_by_failures_or_time() {
        let levels = vec![level(3, 600, &["int_b"]), level(10, 1800, &["int_c"])];
        let t0 = 1_000_000;
        // (incident, now, expected level to escalate to)
        let cases = [
            ("nothing yet", open(1, 2), t0 + 599_999, None),
            ("three more failures", open(1, 3), t0, Some(2)),
            ("ten minutes", open(1, 0), t0 + 600_000, Some(2)),
            ("already there", open(2, 5), t0 + 600_000, None),
            ("skips to the highest", open(1, 10), t0, Some(3)),
            ("by time to the top", open(2, 0), t0 + 1_800_000, Some(3)),
            ("no level above the top", open(3, 100), t0 + 9_000_000, None),
            (
                "acknowledged stops it",
                Open {
                    acknowledged: true,
                    ..open(1, 100)
                },
                t0 + 9_000_000,
                None,
            ),
        ];
        for (name, inc, now, want) in cases {
            assert_eq!(reached(&levels, &inc, now), want, "{name}");
        }
        assert_eq!(reached(&[], &open(1, 100), t0 + 9_000_000), None);
    }

    #[test]
    fn next_due_is_the_nearest_higher_timed_level() {
        let levels = vec![
            level(3, 0, &["int_b"]),
            level(0, 600, &["int_c"]),
            level(0, 1200, &["int_d"]),
        ];
        let t0 = 1_000_000;
        assert_eq!(next_due_ms(&levels, &open(1, 0)), Some(t0 + 600_000));
        assert_eq!(next_due_ms(&levels, &open(3, 0)), Some(t0 + 1_200_000));
        assert_eq!(next_due_ms(&levels, &open(4, 0)), None);
        let acked = Open {
            acknowledged: true,
            ..open(1, 0)
        };
        assert_eq!(next_due_ms(&levels, &acked), None);
    }

    #[test]
    fn each_level_adds_its_integrations() {
        let monitor = vec!["int_a".to_string()];
        let levels = vec![level(3, 0, &["int_b", "int_a"]), level(6, 0, &["int_c"])];
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(integrations(&monitor, &levels, 1), ids(&["int_a"]));
        assert_eq!(integrations(&monitor, &levels, 2), ids(&["int_a", "int_b"]));
        assert_eq!(
            integrations(&monitor, &levels, 3),
            ids(&["int_a", "int_b", "int_c"])
        );
        assert_eq!(added_at(&monitor, &levels, 2), ids(&["int_b"]));
        assert_eq!(added_at(&monitor, &levels, 3), ids(&["int_c"]));
        assert_eq!(added_at(&monitor, &levels, 1), Vec::<String>::new());
    }
}
