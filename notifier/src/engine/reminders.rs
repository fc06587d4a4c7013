//! Reminders: every `every_minutes` while an incident stays open and unacknowledged, at most
//! `max` of them.

use lookout_proto::v1::ReminderPolicy;
use lookout_proto::validate::notify::DEFAULT_MAX_REMINDERS;

/// When the first reminder of an incident opened at `opened_at_ms` is due; `None` when the
/// monitor has no reminders.
pub fn first_at(policy: Option<&ReminderPolicy>, opened_at_ms: i64) -> Option<i64> {
    let every = every_ms(policy?)?;
    Some(opened_at_ms.saturating_add(every))
}

/// A reminder to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Reminders sent before this one (`NotificationEvent.reminder`).
    pub sent_before: u32,
    /// When the next one is due; `None` once this one reaches the cap.
    pub next_at_ms: Option<i64>,
}

/// Whether a reminder is due at `now_ms` for an incident that sent `sent` so far and has the
/// next one scheduled at `next_at_ms`. An acknowledged incident, or one at the cap, gets none.
/// After a pause (the notifier was down) one reminder is sent, not the missed ones, and the
/// next is a whole period from now.
pub fn due(
    policy: Option<&ReminderPolicy>,
    acknowledged: bool,
    sent: u32,
    next_at_ms: Option<i64>,
    now_ms: i64,
) -> Option<Due> {
    let policy = policy?;
    let every = every_ms(policy)?;
    let next = next_at_ms?;
    if acknowledged || now_ms < next || sent >= max(policy) {
        return None;
    }
    let after = sent.saturating_add(1);
    let next_at_ms = (after < max(policy)).then(|| next.saturating_add(every).max(now_ms + every));
    Some(Due {
        sent_before: sent,
        next_at_ms,
    })
}

fn every_ms(p: &ReminderPolicy) -> Option<i64> {
    (p.every_minutes != 0).then(|| i64::from(p.every_minutes) * 60_000)
}

fn max(p: &ReminderPolicy) -> u32 {
    if p.max == 0 {
        DEFAULT_MAX_REMINDERS
    } else {
        p.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy(every_minutes: u32, max: u32) -> ReminderPolicy {
        ReminderPolicy { every_minutes, max }
    }

    #[test]
    fn first_reminder_one_period_after_opening() {
        assert_eq!(first_at(Some(&policy(15, 3)), 0), Some(15 * MIN));
        assert_eq!(first_at(Some(&policy(0, 3)), 0), None);
        assert_eq!(first_at(None, 0), None);
    }

    #[test]
    fn reminders_run_to_the_cap_unless_acknowledged() {
        let p = policy(10, 3);
        // (acknowledged, sent, next, now, expected)
        let cases = [
            ("not yet", false, 0, Some(10 * MIN), 10 * MIN - 1, None),
            (
                "first",
                false,
                0,
                Some(10 * MIN),
                10 * MIN,
                Some(Due {
                    sent_before: 0,
                    next_at_ms: Some(20 * MIN),
                }),
            ),
            (
                "last one before the cap schedules nothing",
                false,
                2,
                Some(30 * MIN),
                30 * MIN,
                Some(Due {
                    sent_before: 2,
                    next_at_ms: None,
                }),
            ),
            ("at the cap", false, 3, Some(40 * MIN), 40 * MIN, None),
            ("acknowledged", true, 0, Some(10 * MIN), 10 * MIN, None),
            ("none scheduled", false, 1, None, 99 * MIN, None),
            (
                "late: one now, the next a period later",
                false,
                0,
                Some(10 * MIN),
                55 * MIN,
                Some(Due {
                    sent_before: 0,
                    next_at_ms: Some(65 * MIN),
                }),
            ),
        ];
        for (name, ack, sent, next, now, want) in cases {
            assert_eq!(due(Some(&p), ack, sent, next, now), want, "{name}");
        }
        assert_eq!(due(Some(&policy(0, 3)), false, 0, Some(0), MIN), None);
        assert_eq!(due(None, false, 0, Some(0), MIN), None);
    }
}
