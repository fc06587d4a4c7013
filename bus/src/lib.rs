//! The result bus between the coordinator (publisher) and the notifier (consumer): Kafka in a
//! cluster, an in-process log in standalone mode. Both keep per-monitor order (key = monitor id)
//! and expose partitions and offsets, so the notifier can store its position with its state.

mod inproc;
mod kafka;

pub use inproc::{InProcBus, InProcConsumer, InProcPublisher};
pub use kafka::{BROKER_ANSWER_TIMEOUT, KafkaConfig, KafkaConsumer, KafkaPublisher, ensure_topic};

use futures::future::BoxFuture;
use lookout_proto::CheckResult;

/// Default topic for check results.
pub const RESULTS_TOPIC: &str = "lookout.results";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Nothing answered at the configured brokers within the bound.
    #[error("no Kafka broker at {brokers} answered within {} s", .waited.as_secs())]
    Unreachable {
        brokers: String,
        waited: std::time::Duration,
    },
    #[error("kafka delivery was cancelled")]
    Cancelled,
    #[error("the bus is closed")]
    Closed,
    /// The bus refused some results for good (too large, invalid): retrying them cannot help.
    /// Every other result of the same `publish` call was accepted.
    #[error("{} result(s) refused for good, first: {}", .0.len(), .0.first().map_or("", |r| r.reason.as_str()))]
    Refused(Vec<Refusal>),
}

/// One result the bus will never accept, by its index in the published slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub index: usize,
    pub reason: String,
}

/// One consumed result with its position in the log.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub result: CheckResult,
}

/// Publishes results; `publish` returns only once every result is durably accepted
/// (Kafka: acknowledged by all in-sync replicas), which is when the agent may be acknowledged.
/// [`BusError::Refused`] lists the results refused for good while all others were accepted;
/// any other error means some results may not have been.
pub trait ResultPublisher: Send + Sync + 'static {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>>;
}

/// Reads results in partition order. Offsets are owned by the caller: it stores the next
/// offset to read together with the effects of the records, skips records below the stored
/// offset, and calls `commit` afterwards so the broker's view of the group follows.
pub trait ResultConsumer: Send + 'static {
    /// Name under which the caller stores offsets for this log.
    fn topic(&self) -> &str;
    /// False when the log does not outlive the process; stored offsets must then be forgotten
    /// at start-up.
    fn durable(&self) -> bool;
    /// Waits for at least one record, then returns up to `max` that are ready.
    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>>;
    /// True once after the set of assigned partitions changed (a rebalance); the caller then
    /// reloads stored offsets and any cached per-key state.
    fn take_assignment_change(&mut self) -> bool;
    /// Reports the next offset to read per partition, after the caller stored it.
    fn commit(&mut self, next_offsets: &[(i32, i64)]) -> Result<(), BusError>;
}

/// Which partition a monitor's results go to, identical for every publisher
/// (murmur2, as Kafka's default partitioner, so other producers agree).
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions.max(1)
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = SEED ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Reference values from Kafka's Utils.murmur2 test vectors.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        for i in 0..1000 {
            let k = format!("mon_{i}");
            let p = partition_for(k.as_bytes(), 12);
            assert!((0..12).contains(&p));
            assert_eq!(p, partition_for(k.as_bytes(), 12));
        }
    }
}
