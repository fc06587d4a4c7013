//! Flapping: a monitor whose health changes more than `changes` times within `window_secs`
//! is flapping. The episode is announced once (FLAPPING), its changes are held (`gate.rs`),
//! and it ends (FLAPPING_ENDED) after a whole window without a change.

use std::collections::VecDeque;

use lookout_proto::v1::FlappingPolicy;
use lookout_proto::validate::notify::{DEFAULT_FLAP_WINDOW_SECS, MAX_FLAP_CHANGES};

/// What the notifier keeps per monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlapState {
    /// Times (Unix ms) of the recent health changes, oldest first, at most
    /// `MAX_FLAP_CHANGES + 1`.
    pub changes: VecDeque<i64>,
    pub flapping: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapEvent {
    Started,
    Ended,
}

/// `(changes, window_ms)` of an enabled policy.
fn limits(policy: Option<&FlappingPolicy>) -> Option<(usize, i64)> {
    let p = policy.filter(|p| p.changes != 0)?;
    let window = if p.window_secs == 0 {
        DEFAULT_FLAP_WINDOW_SECS
    } else {
        p.window_secs
    };
    let changes = usize::try_from(p.changes.min(MAX_FLAP_CHANGES)).unwrap_or(usize::MAX);
    Some((changes, i64::from(window) * 1000))
}

impl FlapState {
    /// The monitor's health changed at `at_ms`: `Started` when that makes more than
    /// `changes` changes within the window.
    pub fn changed(&mut self, policy: Option<&FlappingPolicy>, at_ms: i64) -> Option<FlapEvent> {
        let (changes, window) = limits(policy)?;
        self.changes.push_back(at_ms);
        while self
            .changes
            .front()
            .is_some_and(|t| *t <= at_ms.saturating_sub(window))
            || self.changes.len() > changes + 1
        {
            self.changes.pop_front();
        }
        if !self.flapping && self.changes.len() > changes {
            self.flapping = true;
            return Some(FlapEvent::Started);
        }
        None
    }

    /// Time passed to `now_ms` (a result arrived or the timer ran): `Ended` once a whole
    /// window went by without a change.
    pub fn settle(&mut self, policy: Option<&FlappingPolicy>, now_ms: i64) -> Option<FlapEvent> {
        if !self.flapping {
            return None;
        }
        // A policy turned off ends the episode too.
        let window = limits(policy).map_or(0, |(_, w)| w);
        let last = self.changes.back().copied().unwrap_or(i64::MIN);
        if now_ms.saturating_sub(last) >= window {
            self.flapping = false;
            self.changes.clear();
            return Some(FlapEvent::Ended);
        }
        None
    }

    /// When the episode ends if nothing changes, for the timer.
    pub fn settles_at(&self, policy: Option<&FlappingPolicy>) -> Option<i64> {
        let (_, window) = limits(policy)?;
        self.flapping
            .then(|| self.changes.back().map(|t| t.saturating_add(window)))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn more_than_n_changes_in_the_window_start_one_episode() {
        let p = FlappingPolicy {
            changes: 3,
            window_secs: 600,
        };
        // (minute of a change or a settle check, is it a change, expected event)
        let steps = [
            (0, true, None),
            (1, true, None),
            (2, true, None),
            (3, true, Some(FlapEvent::Started)),
            (4, true, None),
            (5, true, None),
            (14, false, None),
            (15, false, Some(FlapEvent::Ended)),
            (16, false, None),
            // Changes spread wider than the window never flap.
            (20, true, None),
            (30, true, None),
            (40, true, None),
            (50, true, None),
            (60, true, None),
        ];
        let mut s = FlapState::default();
        for (minute, change, want) in steps {
            let at = minute * MIN;
            let got = if change {
                s.changed(Some(&p), at)
            } else {
                s.settle(Some(&p), at)
            };
            assert_eq!(got, want, "minute {minute}");
        }
        assert!(s.changes.len() <= 4, "bounded by changes + 1");
    }

    #[test]
    fn settles_a_window_after_the_last_change() {
        let p = FlappingPolicy {
            changes: 2,
            window_secs: 60,
        };
        let mut s = FlapState::default();
        for t in [0, 10_000, 20_000] {
            s.changed(Some(&p), t);
        }
        assert!(s.flapping);
        assert_eq!(s.settles_at(Some(&p)), Some(80_000));
        assert_eq!(s.settle(Some(&p), 79_999), None);
        assert_eq!(s.settle(Some(&p), 80_000), Some(FlapEvent::Ended));
        assert_eq!(s.settles_at(Some(&p)), None);
    }

    #[test]
    fn off_never_flaps_and_ends_an_episode() {
        let mut s = FlapState::default();
        for t in 0..50 {
            assert_eq!(s.changed(None, t), None);
        }
        assert!(s.changes.is_empty(), "nothing kept when off");
        let p = FlappingPolicy {
            changes: 2,
            window_secs: 60,
        };
        for t in 0..3 {
            s.changed(Some(&p), t);
        }
        assert!(s.flapping);
        assert_eq!(s.settle(None, 3), Some(FlapEvent::Ended));
    }
}
