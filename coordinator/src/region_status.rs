//! Each region's status in admin responses, read from the notifier's state in the store (the
//! coordinator only reads it): one query per page of monitors.

use std::collections::HashMap;

use lookout_proto::Monitor;
use lookout_proto::v1::RegionStatus;
use lookout_store::notifier::RegionStatusRow;
use lookout_store::{Store, StoreError};

/// The status of a region the notifier has applied no result for yet.
pub const PENDING: &str = "PENDING";

/// Fills `region_status` of every monitor in `monitors`, one entry per configured region in
/// the order of `regions`. Rows of regions a monitor no longer runs in are left out.
pub async fn fill(store: &Store, monitors: &mut [Monitor]) -> Result<(), StoreError> {
    let ids: Vec<String> = monitors.iter().map(|m| m.id.clone()).collect();
    let mut rows = store.region_statuses(&ids).await?;
    for m in monitors {
        let stored = rows.remove(&m.id).unwrap_or_default();
        m.region_status = statuses(&m.regions, &stored);
    }
    Ok(())
}

fn statuses(regions: &[String], stored: &[RegionStatusRow]) -> Vec<RegionStatus> {
    let by_region: HashMap<&str, &RegionStatusRow> =
        stored.iter().map(|r| (r.region.as_str(), r)).collect();
    regions
        .iter()
        .map(|region| match by_region.get(region.as_str()) {
            Some(r) => RegionStatus {
                region: region.clone(),
                status: r.last_status.clone(),
                consecutive_failures: r.consecutive_failures,
                down: r.down,
                changed_at_ms: r.updated_at_ms,
            },
            None => RegionStatus {
                region: region.clone(),
                status: PENDING.to_string(),
                ..Default::default()
            },
        })
        .collect()
}
