//! A short-lived cache of monitor definitions (thresholds, regions, webhooks), so a burst of
//! results costs one store read per monitor and configuration changes apply within the TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_proto::Monitor;
use lookout_store::{Store, StoreError};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(5);
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

    /// The active monitor `id`, or `None` when its results are to be skipped.
    pub(crate) async fn get(&mut self, id: &str) -> Result<Option<Arc<Monitor>>, StoreError> {
        let now = Instant::now();
        if let Some((at, m)) = self.entries.get(id)
            && now.duration_since(*at) < TTL
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
                .retain(|_, (at, _)| now.duration_since(*at) < TTL);
        }
        self.entries.insert(id.to_string(), (now, m.clone()));
        Ok(m)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
