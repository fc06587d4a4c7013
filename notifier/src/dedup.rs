//! De-duplication and ordering of results per (monitor, region). Results are at least once
//! end to end (a batch resent after a lost acknowledgement reaches the topic twice) and can
//! arrive late (an agent cut off from the coordinator resends its buffer after its monitors
//! moved to another agent). A result scheduled before the newest one applied is stale; one
//! scheduled at the same instant is a duplicate when its id was already applied.
//! Pure: the consumer stores the watermark with the region's counters.

/// Ids remembered per (monitor, region) at the newest scheduled instant. Distinct results
/// share an instant only when several agents ran the same slot; a handful is plenty.
pub const MAX_RECENT_IDS: usize = 16;

/// How far in the future of the notifier's clock a result may claim to be scheduled. An agent
/// whose clock runs ahead would otherwise make every other agent's results of the region look
/// stale until real time caught up; its instants are clamped to this horizon instead.
pub const MAX_CLOCK_SKEW_MS: i64 = 60_000;

/// What the notifier applied last for one (monitor, region).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    /// `scheduled_at_ms` of the newest applied result (0: none yet).
    pub newest_ms: i64,
    /// Ids of the applied results scheduled at `newest_ms`, oldest first, at most
    /// `MAX_RECENT_IDS`.
    pub ids: Vec<String>,
}

/// Whether a result is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Apply,
    /// Scheduled before the newest applied result.
    Stale,
    /// The same result again.
    Duplicate,
}

impl Watermark {
    /// Decides on the result `id` scheduled at `scheduled_at_ms`, seen at `now_ms` on the
    /// notifier's clock, and, when it is applied, records it.
    pub fn admit(&mut self, id: &str, scheduled_at_ms: i64, now_ms: i64) -> Verdict {
        let scheduled_at_ms = scheduled_at_ms.min(now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
        if scheduled_at_ms < self.newest_ms {
            return Verdict::Stale;
        }
        if scheduled_at_ms == self.newest_ms {
            if self.ids.iter().any(|seen| seen == id) {
                return Verdict::Duplicate;
            }
            if self.ids.len() >= MAX_RECENT_IDS {
                self.ids.remove(0);
            }
        } else {
            self.newest_ms = scheduled_at_ms;
            self.ids.clear();
        }
        self.ids.push(id.to_string());
        Verdict::Apply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Apply, Duplicate, Stale};

    const NOW: i64 = 1_000_000;

    fn run(steps: &[(&str, i64)]) -> Vec<Verdict> {
        let mut w = Watermark::default();
        steps.iter().map(|(id, at)| w.admit(id, *at, NOW)).collect()
    }

    /// Name, (result id, scheduled at) in arrival order, the verdict on each.
    type Case = (
        &'static str,
        &'static [(&'static str, i64)],
        &'static [Verdict],
    );

    #[test]
    fn verdicts() {
        let cases: &[Case] = &[
            (
                "in order",
                &[("a", 1), ("b", 2), ("c", 3)],
                &[Apply, Apply, Apply],
            ),
            (
                "a resent batch",
                &[("a", 1), ("b", 2), ("a", 1), ("b", 2), ("c", 3)],
                &[Apply, Apply, Stale, Duplicate, Apply],
            ),
            (
                "an old buffer after a newer agent's results",
                &[("new1", 50), ("new2", 60), ("old1", 10), ("old2", 20)],
                &[Apply, Apply, Stale, Stale],
            ),
            (
                "two results of one slot both count, each once",
                &[("a", 5), ("b", 5), ("a", 5), ("b", 5)],
                &[Apply, Apply, Duplicate, Duplicate],
            ),
            (
                "the first result at zero",
                &[("a", 0), ("a", 0)],
                &[Apply, Duplicate],
            ),
        ];
        for (name, steps, want) in cases {
            assert_eq!(run(steps), *want, "{name}");
        }
    }

    #[test]
    fn the_id_set_is_bounded() {
        let mut w = Watermark::default();
        for i in 0..(MAX_RECENT_IDS + 5) {
            assert_eq!(w.admit(&format!("r{i}"), 7, NOW), Apply);
        }
        assert_eq!(w.ids.len(), MAX_RECENT_IDS);
        assert_eq!(
            w.admit(&format!("r{}", MAX_RECENT_IDS + 4), 7, NOW),
            Duplicate
        );
        assert_eq!(w.admit("later", 8, NOW), Apply);
        assert_eq!(w.ids, vec!["later".to_string()]);
    }
}
