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
