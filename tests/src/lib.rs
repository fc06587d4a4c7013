//! Harness for the end-to-end tests: builds and starts the real binaries, runs scripted HTTP
//! targets and webhook receivers on 127.0.0.1, and polls with deadlines instead of sleeping.

pub mod broker;
pub mod cluster;
pub mod procs;
pub mod proxy;
pub mod servers;
pub mod standalone;

use std::future::Future;
use std::time::{Duration, Instant};

/// The Kafka-protocol broker the tests use (`.ci/run` starts tansu and sets it).
pub fn kafka_brokers() -> String {
    std::env::var("LOOKOUT_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("LOOKOUT_TEST_KAFKA is not set: these tests need a Kafka-protocol broker; run `bash .ci/run`, which starts one")
    })
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Verifies an `x-lookout-signature: sha256=<hex>` header over `"{timestamp}.{body}"`, with
/// the `x-lookout-timestamp` value as sent and the exact body bytes.
pub fn signature_valid(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    use hmac::Mac;
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The distinct scheduled times among `scheduled` that fall in `range`, in order: the check
/// windows one monitor's results cover.
pub fn windows(
    scheduled: impl IntoIterator<Item = i64>,
    range: impl std::ops::RangeBounds<i64>,
) -> Vec<i64> {
    let mut w: Vec<i64> = scheduled
        .into_iter()
        .filter(|t| range.contains(t))
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// Panics, naming `what`, where two consecutive `windows` lie more than `max_gap_ms` apart:
/// a check window between them has no result.
pub fn assert_no_gap(what: &str, windows: &[i64], max_gap_ms: i64) {
    for pair in windows.windows(2) {
        assert!(
            pair[1] - pair[0] <= max_gap_ms,
            "{what}: no result for the windows between {} and {}: {windows:?}",
            pair[0],
            pair[1]
        );
    }
}
