//! A cache of monitor definitions (thresholds, regions, webhooks). Every result names the
//! monitor version it ran with, so a newer version refreshes the entry at once; the TTL only
//! bounds how long a deletion, a pause or a change that reached no agent goes unnoticed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_proto::Monitor;
use lookout_store::{Store, StoreError};
use tokio::time::Instant;

/// How long a known monitor is trusted without a newer version showing up.
const TTL: Duration = Duration::from_secs(30);
/// How long an id that is unknown, deleted or paused stays skipped before it is read again.
const MISSING_TTL: Duration = Duration::from_secs(5);
/// Entries kept before expired ones are dropped (results for unknown ids are cached too).
const PRUNE_ABOVE: usize = 50_000;

pub(crate) struct MonitorCache {
    store: Store,
    /// `None`: unknown, deleted or paused; its results are skipped.
    entries: HashMap<String, (Instant, Option<Arc<Monitor>>)>,
}

impl MonitorCache {
    pub(crate) fn new(store: Store) -> MonitorCache {
        MonitorCache {
            store,
            entries: HashMap::new(),
        }
    }

    /// The active monitor `id` for a result produced with `version`, or `None` when its
    /// results are to be skipped.
    pub(crate) async fn get(
        &mut self,
        id: &str,
        version: u64,
    ) -> Result<Option<Arc<Monitor>>, StoreError> {
        let now = Instant::now();
        if let Some((at, m)) = self.entries.get(id)
            && fresh(*at, m.as_deref(), version, now)
        {
            return Ok(m.clone());
        }
        let m = match self.store.get_monitor(id).await {
            Ok(m) if !m.paused => Some(Arc::new(m)),
            Ok(_) | Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if self.entries.len() >= PRUNE_ABOVE {
            self.entries
                .retain(|_, (at, m)| now.duration_since(*at) < ttl(m.as_deref()));
        }
        self.entries.insert(id.to_string(), (now, m.clone()));
        Ok(m)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

fn ttl(m: Option<&Monitor>) -> Duration {
    if m.is_some() { TTL } else { MISSING_TTL }
}

/// Whether a cached entry still answers for a result of `version`.
fn fresh(at: Instant, m: Option<&Monitor>, version: u64, now: Instant) -> bool {
    now.duration_since(at) < ttl(m) && m.is_none_or(|m| m.version >= version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn freshness() {
        let at = Instant::now();
        let v3 = Monitor {
            version: 3,
            ..Default::default()
        };
        let later = |secs| at + Duration::from_secs(secs);
        let cases = [
            ("same version", Some(&v3), 3, 0, true),
            ("older result", Some(&v3), 2, 0, true),
            ("result without a version", Some(&v3), 0, 29, true),
            ("newer version", Some(&v3), 4, 0, false),
            ("ttl passed", Some(&v3), 3, 30, false),
            ("missing, recently", None, 7, 4, true),
            ("missing, ttl passed", None, 7, 5, false),
        ];
        for (name, m, version, after, want) in cases {
            assert_eq!(fresh(at, m, version, later(after)), want, "{name}");
        }
    }
}
