//! The incident state machine: per-region consecutive failures, successes and degraded
//! results, region down/degraded thresholds, and the region quorum that moves a monitor
//! between UP, DEGRADED and DOWN (its single incident opens on leaving UP and resolves on
//! coming back). Pure: no I/O, no clock, so every rule is covered by table-driven tests.

use std::collections::BTreeMap;

use lookout_proto::v1::QuorumMode;
use lookout_proto::validate::notify::quorum_count;
use lookout_proto::{CheckStatus, Monitor};

/// How many results flip a region and how many down regions make an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: u32,
    pub success: u32,
    pub quorum: u32,
    /// DEGRADED results make a region degraded (`notify_degraded`, default on); when off they
    /// count as successes only.
    pub degraded: bool,
}

impl Thresholds {
    /// The monitor's thresholds, with the documented defaults for unset (zero) fields and a
    /// quorum (a count, a majority or all of its regions) no larger than the number of
    /// regions, so an incident can always open.
    pub fn of(m: &Monitor) -> Thresholds {
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        let mode = QuorumMode::try_from(m.quorum_mode).unwrap_or_default();
        Thresholds {
            failure: or(m.failure_threshold, 3),
            success: or(m.success_threshold, 1),
            quorum: quorum_count(mode, or(m.region_quorum, 1), m.regions.len()),
            degraded: m.notify_degraded != Some(false),
        }
    }
}

/// How a monitor (or one region) is doing, worst last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    #[default]
    Up,
    Degraded,
    Down,
}

impl Health {
    /// `UP`, `DEGRADED`, `DOWN`: the labels of `NotificationEvent.status`.
    pub fn label(self) -> &'static str {
        match self {
            Health::Up => "UP",
            Health::Degraded => "DEGRADED",
            Health::Down => "DOWN",
        }
    }

    /// `critical` while down, `warning` while degraded (`EventIncident.severity`).
    pub fn severity(self) -> &'static str {
        match self {
            Health::Down => "critical",
            _ => "warning",
        }
    }
}

/// Counters of one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionCounters {
    pub down: bool,
    pub failures: u32,
    /// Results in a row that count toward leaving the region's worst state: UP or DEGRADED
    /// while down, UP while degraded.
    pub successes: u32,
    /// `failure_threshold` DEGRADED results in a row (DOWN neither adds nor resets, UP
    /// resets), not yet `success_threshold` UP results since.
    pub degraded: bool,
    pub degraded_streak: u32,
    pub last_status: CheckStatus,
}

impl Default for RegionCounters {
    fn default() -> Self {
        RegionCounters {
            down: false,
            failures: 0,
            successes: 0,
            degraded: false,
            degraded_streak: 0,
            last_status: CheckStatus::Up,
        }
    }
}

/// The monitor's health moved: its incident opens (`from` UP), changes severity, or
/// resolves (`to` UP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: Health,
    pub to: Health,
}

impl Change {
    pub fn opens(self) -> bool {
        self.from == Health::Up
    }

    pub fn resolves(self) -> bool {
        self.to == Health::Up
    }
}

/// What one result did to a region's flow of data (see `CHECK_STATUS_NO_DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChange {
    /// The region has no data now; it had before.
    Lost,
    /// The first usable result after no data.
    Resumed,
}

/// The outcome of applying one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The region's counters changed and must be stored.
    pub region_changed: bool,
    pub transition: Option<Change>,
    pub data: Option<DataChange>,
}

const NOTHING: Step = Step {
    region_changed: false,
    transition: None,
    data: None,
};

/// Everything the machine knows about one monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorState {
    pub regions: BTreeMap<String, RegionCounters>,
    /// UP exactly when no incident is open.
    pub health: Health,
}

impl MonitorState {
    /// Applies one result from `region`. `monitor_regions` are the regions the monitor runs
    /// in now: results from other regions (in flight across a config change) are ignored and
    /// regions no longer listed never count toward the quorum.
    pub fn apply(
        &mut self,
        t: &Thresholds,
        monitor_regions: &[String],
        region: &str,
        status: CheckStatus,
    ) -> Step {
        if !monitor_regions.iter().any(|r| r == region) {
            return NOTHING;
        }
        let known = self.regions.contains_key(region);
        let before = self.regions.get(region).copied().unwrap_or_default();
        let mut c = before;
        match status {
            // A gap is neither a failure nor a success.
            CheckStatus::Missed | CheckStatus::Unspecified => return NOTHING,
            // No data is a gap too, but it is kept as the region's status, once per transition.
            CheckStatus::NoData if before.last_status == CheckStatus::NoData => return NOTHING,
            CheckStatus::NoData => {
                c.last_status = status;
                self.regions.insert(region.to_string(), c);
                return Step {
                    region_changed: true,
                    transition: None,
                    data: Some(DataChange::Lost),
                };
            }
            CheckStatus::Down => {
                c.failures = c.failures.saturating_add(1);
                c.successes = 0;
                if c.failures >= t.failure {
                    c.down = true;
                }
            }
            CheckStatus::Up | CheckStatus::Degraded => {
                let degraded = status == CheckStatus::Degraded && t.degraded;
                c.failures = 0;
                c.degraded_streak = if degraded {
                    c.degraded_streak.saturating_add(1)
                } else {
                    0
                };
                if c.down {
                    c.successes = c.successes.saturating_add(1);
                    if c.successes >= t.success {
                        c.down = false;
                        c.successes = 0;
                        // Back from down into whatever the recent results say.
                        c.degraded = c.degraded_streak >= t.failure;
                    }
                } else if degraded {
                    c.successes = 0;
                    if c.degraded_streak >= t.failure {
                        c.degraded = true;
                    }
                } else if c.degraded {
                    c.successes = c.successes.saturating_add(1);
                    if c.successes >= t.success {
                        c.degraded = false;
                        c.successes = 0;
                    }
                } else {
                    c.successes = 0;
                }
            }
        }
        c.last_status = status;
        // The first counted result is stored even when healthy, so the admin API can tell
        // a region that reports (UP) from one not heard from yet (PENDING).
        let region_changed = c != before || !known;
        if region_changed {
            self.regions.insert(region.to_string(), c);
        }
        let now = self.judge(t, monitor_regions);
        let transition = (now != self.health).then_some(Change {
            from: self.health,
            to: now,
        });
        self.health = now;
        Step {
            region_changed,
            transition,
            data: (before.last_status == CheckStatus::NoData).then_some(DataChange::Resumed),
        }
    }

    /// The monitor's health by its regions: DOWN when `quorum` regions are down, DEGRADED
    /// when `quorum` regions are down or degraded.
    fn judge(&self, t: &Thresholds, monitor_regions: &[String]) -> Health {
        let quorum = t.quorum as usize;
        let mut down = 0;
        let mut bad = 0;
        for (_, c) in self
            .regions
            .iter()
            .filter(|(r, _)| monitor_regions.contains(r))
        {
            down += usize::from(c.down);
            bad += usize::from(c.down || c.degraded);
        }
        if down >= quorum {
            Health::Down
        } else if bad >= quorum {
            Health::Degraded
        } else {
            Health::Up
        }
    }

    /// Regions of `monitor_regions` that are down now, sorted.
    pub fn down_regions(&self, monitor_regions: &[String]) -> Vec<String> {
        self.regions
            .iter()
            .filter(|(r, c)| c.down && monitor_regions.contains(r))
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Regions of `monitor_regions` that are down or degraded now, sorted.
    pub fn unhealthy_regions(&self, monitor_regions: &[String]) -> Vec<String> {
        self.regions
            .iter()
            .filter(|(r, c)| (c.down || c.degraded) && monitor_regions.contains(r))
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Consecutive failures of one region.
    pub fn failures(&self, region: &str) -> u32 {
        self.regions.get(region).map_or(0, |c| c.failures)
    }

    /// The most consecutive failures of any of `monitor_regions` (escalation counts these).
    pub fn worst_failures(&self, monitor_regions: &[String]) -> u32 {
        self.regions
            .iter()
            .filter(|(r, _)| monitor_regions.contains(r))
            .map(|(_, c)| c.failures)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::{Degraded, Down, Missed, Up};

    const OPENED: Change = Change {
        from: Health::Up,
        to: Health::Down,
    };
    const RESOLVED: Change = Change {
        from: Health::Down,
        to: Health::Up,
    };

    fn regions(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Runs `steps` (region, status) and returns the transition of each step.
    fn run(
        t: Thresholds,
        monitor_regions: &[&str],
        steps: &[(&str, CheckStatus)],
    ) -> Vec<Option<Change>> {
        let mr = regions(monitor_regions);
        let mut s = MonitorState::default();
        steps
            .iter()
            .map(|(r, st)| s.apply(&t, &mr, r, *st).transition)
            .collect()
    }

    const T3_1_1: Thresholds = Thresholds {
        failure: 3,
        success: 1,
        quorum: 1,
        degraded: true,
    };

    /// Name, thresholds, monitor regions, results, expected transition per result.
    type Case = (
        &'static str,
        Thresholds,
        &'static [&'static str],
        Vec<(&'static str, CheckStatus)>,
        Vec<Option<Change>>,
    );

    #[test]
    fn transitions() {
        let cases: Vec<Case> = vec![
            (
                "three failures open",
                T3_1_1,
                &["eu"],
                vec![("eu", Down), ("eu", Down), ("eu", Down)],
                vec![None, None, Some(OPENED)],
            ),
            (
                "one up resolves",
                T3_1_1,
                &["eu"],
                vec![
                    ("eu", Down),
                    ("eu", Down),
                    ("eu", Down),
                    ("eu", Down),
                    ("eu", Up),
                ],
                vec![None, None, Some(OPENED), None, Some(RESOLVED)],
            ),
            (
                "an up resets the count",
                T3_1_1,
                &["eu"],
                vec![
                    ("eu", Down),
                    ("eu", Down),
                    ("eu", Up),
                    ("eu", Down),
                    ("eu", Down),
                ],
                vec![None; 5],
            ),
            (
                "missed neither counts nor resets",
                T3_1_1,
                &["eu"],
                vec![
                    ("eu", Down),
                    ("eu", Missed),
                    ("eu", Down),
                    ("eu", Missed),
                    ("eu", Down),
                ],
                vec![None, None, None, None, Some(OPENED)],
            ),
            (
                "degraded is up",
                T3_1_1,
                &["eu"],
                vec![("eu", Down), ("eu", Down), ("eu", Degraded), ("eu", Down)],
                vec![None; 4],
            ),
            (
                "degraded recovers",
                T3_1_1,
                &["eu"],
                vec![("eu", Down), ("eu", Down), ("eu", Down), ("eu", Degraded)],
                vec![None, None, Some(OPENED), Some(RESOLVED)],
            ),
            (
                "success threshold needs consecutive successes",
                Thresholds {
                    failure: 1,
                    success: 2,
                    quorum: 1,
                    degraded: true,
                },
                &["eu"],
                vec![
                    ("eu", Down),
                    ("eu", Up),
                    ("eu", Down),
                    ("eu", Up),
                    ("eu", Up),
                ],
                vec![Some(OPENED), None, None, None, Some(RESOLVED)],
            ),
            (
                "quorum of two needs both regions",
                Thresholds {
                    failure: 2,
                    success: 1,
                    quorum: 2,
                    degraded: true,
                },
                &["eu", "us"],
                vec![
                    ("eu", Down),
                    ("eu", Down),
                    ("eu", Down),
                    ("us", Down),
                    ("us", Down),
                    ("eu", Up),
                    ("eu", Down),
                ],
                vec![None, None, None, None, Some(OPENED), Some(RESOLVED), None],
            ),
            (
                "quorum of one: second region keeps it open",
                Thresholds {
                    failure: 1,
                    success: 1,
                    quorum: 1,
                    degraded: true,
                },
                &["eu", "us"],
                vec![("eu", Down), ("us", Down), ("eu", Up), ("us", Up)],
                vec![Some(OPENED), None, None, Some(RESOLVED)],
            ),
            (
                "unknown region ignored",
                Thresholds {
                    failure: 1,
                    success: 1,
                    quorum: 1,
                    degraded: true,
                },
                &["eu"],
                vec![("mars", Down), ("mars", Down)],
                vec![None, None],
            ),
            (
                "reopens after resolving",
                Thresholds {
                    failure: 1,
                    success: 1,
                    quorum: 1,
                    degraded: true,
                },
                &["eu"],
                vec![("eu", Down), ("eu", Up), ("eu", Down)],
                vec![Some(OPENED), Some(RESOLVED), Some(OPENED)],
            ),
        ];
        for (name, t, mr, steps, want) in cases {
            assert_eq!(run(t, mr, &steps), want, "{name}");
        }
    }

    /// The monitor's health after each result of one region ("eu"), thresholds 2/2/1.
    #[test]
    fn degraded_is_its_own_state_between_up_and_down() {
        use Health::{Degraded as Dg, Down as Dn, Up as U};
        let t = Thresholds {
            failure: 2,
            success: 2,
            quorum: 1,
            degraded: true,
        };
        let cases: Vec<(&str, Vec<CheckStatus>, Vec<Health>)> = vec![
            (
                "two degraded in a row degrade, two ups recover",
                vec![Degraded, Degraded, Up, Up],
                vec![U, Dg, Dg, U],
            ),
            (
                "an up between degraded results resets the streak",
                vec![Degraded, Up, Degraded, Up],
                vec![U, U, U, U],
            ),
            (
                "degraded then down: down wins, back to degraded by degraded results",
                vec![Degraded, Degraded, Down, Down, Degraded, Degraded],
                vec![U, Dg, Dg, Dn, Dn, Dg],
            ),
            (
                "down recovers by ups straight to up",
                vec![Down, Down, Up, Up],
                vec![U, Dn, Dn, U],
            ),
            (
                "a down while degraded restarts the ups needed",
                vec![Degraded, Degraded, Up, Down, Up, Up],
                vec![U, Dg, Dg, Dg, Dg, U],
            ),
        ];
        let mr = regions(&["eu"]);
        for (name, statuses, want) in cases {
            let mut s = MonitorState::default();
            let got: Vec<Health> = statuses
                .iter()
                .map(|st| {
                    let before = s.health;
                    let step = s.apply(&t, &mr, "eu", *st);
                    let change = step.transition.map(|c| (c.from, c.to));
                    assert_eq!(
                        change.is_some(),
                        before != s.health,
                        "{name}: a change is reported exactly when health moves"
                    );
                    s.health
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
        // With degraded events off, DEGRADED results are successes.
        let off = Thresholds {
            degraded: false,
            ..t
        };
        let mut s = MonitorState::default();
        for _ in 0..5 {
            assert_eq!(s.apply(&off, &mr, "eu", Degraded).transition, None);
        }
        assert_eq!(s.health, Health::Up);
    }

    #[test]
    fn degraded_quorum_counts_down_and_degraded_regions() {
        let t = Thresholds {
            failure: 1,
            success: 1,
            quorum: 2,
            degraded: true,
        };
        let mr = regions(&["eu", "us", "ap"]);
        let mut s = MonitorState::default();
        s.apply(&t, &mr, "eu", Down);
        assert_eq!(s.health, Health::Up, "one region is not the quorum");
        let step = s.apply(&t, &mr, "us", Degraded);
        assert_eq!(
            step.transition,
            Some(Change {
                from: Health::Up,
                to: Health::Degraded
            })
        );
        let step = s.apply(&t, &mr, "us", Down);
        assert_eq!(
            step.transition,
            Some(Change {
                from: Health::Degraded,
                to: Health::Down
            })
        );
        assert_eq!(s.unhealthy_regions(&mr), regions(&["eu", "us"]));
        assert_eq!(s.worst_failures(&mr), 1);
    }

    #[test]
    fn quorum_modes() {
        let m = |mode: QuorumMode, n: usize| Monitor {
            regions: (0..n).map(|i| format!("r{i}")).collect(),
            quorum_mode: mode as i32,
            ..Default::default()
        };
        assert_eq!(Thresholds::of(&m(QuorumMode::Majority, 3)).quorum, 2);
        assert_eq!(Thresholds::of(&m(QuorumMode::Majority, 4)).quorum, 3);
        assert_eq!(Thresholds::of(&m(QuorumMode::All, 4)).quorum, 4);
        assert_eq!(Thresholds::of(&m(QuorumMode::Count, 4)).quorum, 1);
        let t = Thresholds::of(&m(QuorumMode::All, 2));
        let mr = regions(&["r0", "r1"]);
        let mut s = MonitorState::default();
        for _ in 0..3 {
            assert_eq!(s.apply(&t, &mr, "r0", Down).transition, None);
        }
        let opened: Vec<_> = (0..3)
            .map(|_| s.apply(&t, &mr, "r1", Down).transition)
            .collect();
        assert_eq!(opened, vec![None, None, Some(OPENED)], "all: both regions");
    }

    #[test]
    fn healthy_results_change_nothing_after_the_first() {
        let mr = regions(&["eu"]);
        let mut s = MonitorState::default();
        assert_eq!(s.apply(&T3_1_1, &mr, "eu", Missed), NOTHING);
        assert!(s.regions.is_empty(), "a gap is not a status");
        assert!(
            s.apply(&T3_1_1, &mr, "eu", Up).region_changed,
            "the first result is stored: the region reports"
        );
        for st in [Up, Missed, Up] {
            assert_eq!(s.apply(&T3_1_1, &mr, "eu", st), NOTHING);
        }
        assert!(s.apply(&T3_1_1, &mr, "eu", Down).region_changed);
        assert!(s.apply(&T3_1_1, &mr, "eu", Up).region_changed);
        assert!(!s.apply(&T3_1_1, &mr, "eu", Up).region_changed);
    }

    #[test]
    fn no_data_is_a_status_once_per_transition_and_never_a_failure() {
        use CheckStatus::NoData;
        use DataChange::{Lost, Resumed};
        let mr = regions(&["eu"]);
        let t = Thresholds {
            failure: 2,
            success: 1,
            quorum: 1,
            degraded: true,
        };
        let mut s = MonitorState::default();
        let steps = [
            (NoData, None, Some(Lost)),
            (NoData, None, None),
            (Missed, None, None),
            (Down, None, Some(Resumed)),
            (NoData, None, Some(Lost)),
            // The failure before the gap still counts: no data neither adds nor resets.
            (Down, Some(OPENED), Some(Resumed)),
            (NoData, None, Some(Lost)),
            (Up, Some(RESOLVED), Some(Resumed)),
            (Up, None, None),
        ];
        for (i, (status, transition, data)) in steps.into_iter().enumerate() {
            let step = s.apply(&t, &mr, "eu", status);
            assert_eq!((step.transition, step.data), (transition, data), "step {i}");
        }
        let eu = s.regions["eu"];
        assert_eq!((eu.last_status, eu.failures, eu.down), (Up, 0, false));
        let mut s = MonitorState::default();
        assert!(
            s.apply(&t, &mr, "eu", NoData).region_changed,
            "kept where the status is kept"
        );
        assert_eq!(s.regions["eu"].last_status, NoData);
        assert!(!s.apply(&t, &mr, "eu", NoData).region_changed);
        assert_eq!(s.apply(&t, &mr, "mars", NoData), NOTHING);
    }

    #[test]
    fn counters_and_down_regions() {
        let mr = regions(&["eu", "us"]);
        let mut s = MonitorState::default();
        for _ in 0..4 {
            s.apply(&T3_1_1, &mr, "us", Down);
        }
        assert_eq!(s.failures("us"), 4);
        assert_eq!(s.failures("eu"), 0);
        assert_eq!(s.down_regions(&mr), vec!["us".to_string()]);
        // A region dropped from the monitor no longer counts.
        assert!(s.down_regions(&regions(&["eu"])).is_empty());
    }

    #[test]
    fn thresholds_default_and_clamp() {
        let m = Monitor {
            regions: regions(&["eu"]),
            region_quorum: 5,
            ..Default::default()
        };
        assert_eq!(
            Thresholds::of(&m),
            Thresholds {
                failure: 3,
                success: 1,
                quorum: 1,
                degraded: true,
            }
        );
        let m = Monitor {
            regions: regions(&["eu", "us"]),
            failure_threshold: 2,
            success_threshold: 4,
            region_quorum: 2,
            ..Default::default()
        };
        assert_eq!(
            Thresholds::of(&m),
            Thresholds {
                failure: 2,
                success: 4,
                quorum: 2,
                degraded: true,
            }
        );
    }
}
