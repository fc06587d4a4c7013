//! The incident state machine: per-region consecutive failures and successes, region down/up
//! thresholds, and the region quorum that opens and resolves a monitor's single incident.
//! Pure: no I/O, no clock, so every rule is covered by table-driven tests.

use std::collections::BTreeMap;

use lookout_proto::{CheckStatus, Monitor};

/// How many results flip a region and how many down regions make an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: u32,
    pub success: u32,
    pub quorum: u32,
}

impl Thresholds {
    /// The monitor's thresholds, with the documented defaults for unset (zero) fields and a
    /// quorum no larger than the number of regions, so an incident can always open.
    pub fn of(m: &Monitor) -> Thresholds {
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        let regions = u32::try_from(m.regions.len()).unwrap_or(u32::MAX).max(1);
        Thresholds {
            failure: or(m.failure_threshold, 3),
            success: or(m.success_threshold, 1),
            quorum: or(m.region_quorum, 1).min(regions),
        }
    }
}

/// Counters of one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionCounters {
    pub down: bool,
    pub failures: u32,
    pub successes: u32,
    pub last_status: CheckStatus,
}

impl Default for RegionCounters {
    fn default() -> Self {
        RegionCounters {
            down: false,
            failures: 0,
            successes: 0,
            last_status: CheckStatus::Up,
        }
    }
}

/// What one result did to the monitor's incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Resolved,
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
    pub transition: Option<Transition>,
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
    pub incident_open: bool,
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
                c.failures = 0;
                if c.down {
                    c.successes = c.successes.saturating_add(1);
                    if c.successes >= t.success {
                        c.down = false;
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
        let down = self.down_regions(monitor_regions).len();
        let transition = if !self.incident_open && down >= t.quorum as usize {
            self.incident_open = true;
            Some(Transition::Opened)
        } else if self.incident_open && down < t.quorum as usize {
            self.incident_open = false;
            Some(Transition::Resolved)
        } else {
            None
        };
        Step {
            region_changed,
            transition,
            data: (before.last_status == CheckStatus::NoData).then_some(DataChange::Resumed),
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

    /// Consecutive failures of one region.
    pub fn failures(&self, region: &str) -> u32 {
        self.regions.get(region).map_or(0, |c| c.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::{Degraded, Down, Missed, Up};
    use Transition::{Opened, Resolved};

    fn regions(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Runs `steps` (region, status) and returns the transition of each step.
    fn run(
        t: Thresholds,
        monitor_regions: &[&str],
        steps: &[(&str, CheckStatus)],
    ) -> Vec<Option<Transition>> {
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
    };

    /// Name, thresholds, monitor regions, results, expected transition per result.
    type Case = (
        &'static str,
        Thresholds,
        &'static [&'static str],
        Vec<(&'static str, CheckStatus)>,
        Vec<Option<Transition>>,
    );

    #[test]
    fn transitions() {
        let cases: Vec<Case> = vec![
            (
                "three failures open",
                T3_1_1,
                &["eu"],
                vec![("eu", Down), ("eu", Down), ("eu", Down)],
                vec![None, None, Some(Opened)],
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
                vec![None, None, Some(Opened), None, Some(Resolved)],
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
                vec![None, None, None, None, Some(Opened)],
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
                vec![None, None, Some(Opened), Some(Resolved)],
            ),
            (
                "success threshold needs consecutive successes",
                Thresholds {
                    failure: 1,
                    success: 2,
                    quorum: 1,
                },
                &["eu"],
                vec![
                    ("eu", Down),
                    ("eu", Up),
                    ("eu", Down),
                    ("eu", Up),
                    ("eu", Up),
                ],
                vec![Some(Opened), None, None, None, Some(Resolved)],
            ),
            (
                "quorum of two needs both regions",
                Thresholds {
                    failure: 2,
                    success: 1,
                    quorum: 2,
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
                vec![None, None, None, None, Some(Opened), Some(Resolved), None],
            ),
            (
                "quorum of one: second region keeps it open",
                Thresholds {
                    failure: 1,
                    success: 1,
                    quorum: 1,
                },
                &["eu", "us"],
                vec![("eu", Down), ("us", Down), ("eu", Up), ("us", Up)],
                vec![Some(Opened), None, None, Some(Resolved)],
            ),
            (
                "unknown region ignored",
                Thresholds {
                    failure: 1,
                    success: 1,
                    quorum: 1,
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
                },
                &["eu"],
                vec![("eu", Down), ("eu", Up), ("eu", Down)],
                vec![Some(Opened), Some(Resolved), Some(Opened)],
            ),
        ];
        for (name, t, mr, steps, want) in cases {
            assert_eq!(run(t, mr, &steps), want, "{name}");
        }
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
        };
        let mut s = MonitorState::default();
        let steps = [
            (NoData, None, Some(Lost)),
            (NoData, None, None),
            (Missed, None, None),
            (Down, None, Some(Resumed)),
            (NoData, None, Some(Lost)),
            // The failure before the gap still counts: no data neither adds nor resets.
            (Down, Some(Opened), Some(Resumed)),
            (NoData, None, Some(Lost)),
            (Up, Some(Resolved), Some(Resumed)),
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
                quorum: 1
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
                quorum: 2
            }
        );
    }
}
