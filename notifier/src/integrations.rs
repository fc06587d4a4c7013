//! A short-lived cache of integrations and project variables, read from the store: the
//! consumer reads an integration's event filter when it enqueues, the dispatcher its
//! settings (and the project's variables) at every attempt. Entries live `ttl`, so a changed
//! template or a rotated secret applies within it, to retries too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_proto::v1::Integration;
use lookout_render::Variables;
use lookout_store::{Store, StoreError};
use tokio::time::Instant;

/// Entries kept before expired ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

type Entries<T> = HashMap<String, (Instant, T)>;

pub(crate) struct Destinations {
    store: Store,
    ttl: Duration,
    integrations: Mutex<Entries<Option<Arc<Integration>>>>,
    variables: Mutex<Entries<Arc<Variables>>>,
}

impl Destinations {
    pub(crate) fn new(store: Store, ttl: Duration) -> Destinations {
        Destinations {
            store,
            ttl,
            integrations: Mutex::default(),
            variables: Mutex::default(),
        }
    }

    /// Integration `id` as stored at most `ttl` ago, `None` when there is none.
    pub(crate) async fn integration(
        &self,
        id: &str,
    ) -> Result<Option<Arc<Integration>>, StoreError> {
        if let Some(hit) = cached(&self.integrations, id, self.ttl) {
            return Ok(hit);
        }
        let found = match self.store.get_integration(id).await {
            Ok(i) => Some(Arc::new(i)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        remember(&self.integrations, id, found.clone(), self.ttl);
        Ok(found)
    }

    /// The variables of `project_id` as stored at most `ttl` ago.
    pub(crate) async fn variables(&self, project_id: &str) -> Result<Arc<Variables>, StoreError> {
        if let Some(hit) = cached(&self.variables, project_id, self.ttl) {
            return Ok(hit);
        }
        let mut vars = Variables::new();
        for v in self.store.list_variables(project_id).await? {
            vars.insert(v.name, v.value, v.secret);
        }
        let vars = Arc::new(vars);
        remember(&self.variables, project_id, vars.clone(), self.ttl);
        Ok(vars)
    }

    /// Forgets everything (after a rebalance, the cache may be another notifier's past).
    pub(crate) fn clear(&self) {
        lock(&self.integrations).clear();
        lock(&self.variables).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds valid entries.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn cached<T: Clone>(m: &Mutex<Entries<T>>, key: &str, ttl: Duration) -> Option<T> {
    let map = lock(m);
    map.get(key)
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, v)| v.clone())
}

fn remember<T>(m: &Mutex<Entries<T>>, key: &str, value: T, ttl: Duration) {
    let mut map = lock(m);
    if map.len() >= PRUNE_ABOVE {
        map.retain(|_, (at, _)| at.elapsed() < ttl);
    }
    map.insert(key.to_string(), (Instant::now(), value));
}
