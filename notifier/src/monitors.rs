//! A cache of monitor definitions (thresholds, regions, webhooks). Every result names the
//! monitor version it ran with, so a newer version refreshes the entry at once; the TTL only
//! bounds how long a change that reached no agent goes unnoticed. Deletions and pauses also
//! arrive as lifecycle events, which reread the entry at once. Deleted and paused monitors are
//! kept too (their webhooks receive the notification that resolves their incident), and their
//! results are skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_store::monitors::MonitorRecord;

/// A monitor as the consumer works with it: its definition and its project.
pub(crate) type Current = MonitorRecord;
use lookout_store::{Store, StoreError};
use tokio::time::Instant;

/// How long a known monitor is trusted without a newer version showing up.
const TTL: Duration = Duration::from_secs(30);
/// How long an id that is unknown, deleted or paused is trusted before it is read again.
const MISSING_TTL: Duration = Duration::from_secs(5);
/// Entries kept before expired ones are dropped (results for unknown ids are cached too).
const PRUNE_ABOVE: usize = 50_000;

pub(crate) struct MonitorCache {
    store: Store,
    /// `None`: unknown; its results are skipped.
    entries: HashMap<String, (Instant, Option<Arc<MonitorRecord>>)>,
}

impl MonitorCache {
    pub(crate) fn new(store: Store) -> MonitorCache {
        MonitorCache {
            store,
            entries: HashMap::new(),
        }
    }

    /// The active monitor `id` for a result produced with `version`, or `None` when its
    /// results are to be skipped: unknown, deleted, paused, or a result from before its last
    /// pause.
    pub(crate) async fn get(
        &mut self,
        id: &str,
        version: u64,
    ) -> Result<Option<Arc<MonitorRecord>>, StoreError> {
        let now = Instant::now();
        let record = match self.entries.get(id) {
            Some((at, r)) if fresh(*at, r.as_deref(), version, now) => r.clone(),
            _ => self.reread(id).await?,
        };
        Ok(record.filter(|r| r.counts(version)))
    }

    /// Monitor `id` as stored now, deleted or not (for a lifecycle event), or `None` when
    /// there is no such row.
    pub(crate) async fn reread(
        &mut self,
        id: &str,
    ) -> Result<Option<Arc<MonitorRecord>>, StoreError> {
        let now = Instant::now();
        let r = match self.store.monitor_record(id).await {
            Ok(r) => Some(Arc::new(r)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if self.entries.len() >= PRUNE_ABOVE {
            self.entries
                .retain(|_, (at, r)| now.duration_since(*at) < ttl(r.as_deref()));
        }
        self.entries.insert(id.to_string(), (now, r.clone()));
        Ok(r)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

fn ttl(r: Option<&MonitorRecord>) -> Duration {
    match r {
        Some(r) if r.counts(0) => TTL,
        _ => MISSING_TTL,
    }
}

/// Whether a cached entry still answers for a result of `version`.
fn fresh(at: Instant, r: Option<&MonitorRecord>, version: u64, now: Instant) -> bool {
    now.duration_since(at) < ttl(r) && r.is_none_or(|r| r.monitor.version >= version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::Monitor;

    #[tokio::test(start_paused = true)]
    async fn freshness() {
        let at = Instant::now();
        let v3 = MonitorRecord {
            monitor: Monitor {
                version: 3,
                ..Default::default()
            },
            project_id: String::new(),
            deleted_at_ms: None,
            active_since_version: 1,
        };
        let paused = MonitorRecord {
            monitor: Monitor {
                paused: true,
                ..v3.monitor.clone()
            },
            ..v3.clone()
        };
        let later = |secs| at + Duration::from_secs(secs);
        let cases = [
            ("same version", Some(&v3), 3, 0, true),
            ("older result", Some(&v3), 2, 0, true),
            ("result without a version", Some(&v3), 0, 29, true),
            ("newer version", Some(&v3), 4, 0, false),
            ("ttl passed", Some(&v3), 3, 30, false),
            ("paused, recently", Some(&paused), 3, 4, true),
            ("paused, ttl passed", Some(&paused), 3, 5, false),
            ("missing, recently", None, 7, 4, true),
            ("missing, ttl passed", None, 7, 5, false),
        ];
        for (name, m, version, after, want) in cases {
            assert_eq!(fresh(at, m, version, later(after)), want, "{name}");
        }
    }
}
