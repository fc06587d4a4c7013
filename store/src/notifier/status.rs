//! Read-only view of the notifier's per-(monitor, region) state for the admin API: the
//! coordinator reads it to show each region's status and never writes it.

use std::collections::HashMap;

use crate::{Sql, Store, StoreError};

/// Ids per query: well under SQLite's and PostgreSQL's limits on bound parameters, and the
/// size of one `ListMonitors` page, so a page costs one query.
const IDS_PER_QUERY: usize = 500;

/// What the notifier last recorded for one (monitor, region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionStatusRow {
    pub region: String,
    /// Label of the last counted status (`UP`, `DOWN`, `DEGRADED`, `NO_DATA`).
    pub last_status: String,
    pub down: bool,
    pub consecutive_failures: u32,
    /// When the notifier last wrote the row: a change of status or counters.
    pub updated_at_ms: i64,
}

impl Store {
    /// Stored region states of every monitor in `monitor_ids`, by monitor id, each monitor's
    /// regions sorted. A monitor or region the notifier has no row for is absent.
    pub async fn region_statuses(
        &self,
        monitor_ids: &[String],
    ) -> Result<HashMap<String, Vec<RegionStatusRow>>, StoreError> {
        let mut out: HashMap<String, Vec<RegionStatusRow>> = HashMap::new();
        for ids in monitor_ids.chunks(IDS_PER_QUERY) {
            let placeholders = (1..=ids.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT monitor_id, region, last_status, down, consecutive_failures, \
                 updated_at_ms FROM notifier_region_state WHERE monitor_id IN ({placeholders}) \
                 ORDER BY monitor_id, region"
            );
            let q = ids.iter().fold(Sql::new(sql), Sql::bind);
            for r in self.pool().fetch_all(q).await? {
                let row = RegionStatusRow {
                    region: r.get("region")?,
                    last_status: r.get("last_status")?,
                    down: r.get("down")?,
                    consecutive_failures: r.get_u32("consecutive_failures")?,
                    updated_at_ms: r.get("updated_at_ms")?,
                };
                out.entry(r.get("monitor_id")?).or_default().push(row);
            }
        }
        Ok(out)
    }
}
