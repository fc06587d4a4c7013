//! Consumers the benchmarks hand to the notifier: one replaying encoded `CheckResult` bytes
//! (decoded at each poll, as the Kafka consumer does), and a wrapper counting what another
//! consumer returned. Both note when the notifier asks for more after the last expected
//! record, which is when it has stored every batch before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use lookout_bus::{BusError, Record, ResultConsumer};
use lookout_proto::CheckResult;
use prost::Message as _;
use tokio::sync::Notify;

/// Progress shared with the benchmark.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Records expected in all.
    expected: u64,
    /// Records after which the measurement starts (warm-up: first sight of every monitor).
    warmup: u64,
    /// Records handed to the notifier so far.
    handed: AtomicU64,
    /// When the notifier had handled `warmup` records: the time, the process's CPU seconds
    /// and the records handled by then.
    pub warm: OnceLock<(Instant, f64, u64)>,
    done: Notify,
    drained: AtomicBool,
}

impl Progress {
    pub fn new(expected: u64, warmup: u64) -> Progress {
        Progress {
            expected,
            warmup,
            ..Default::default()
        }
    }

    /// Waits until the notifier handled every expected record; returns when and the CPU
    /// seconds of the process then.
    pub async fn wait_drained(&self) -> (Instant, f64) {
        loop {
            let notified = self.done.notified();
            if self.drained.load(Ordering::Acquire) {
                return (Instant::now(), super::process_cpu_secs());
            }
            notified.await;
        }
    }

    /// Called at each poll: the notifier has stored everything it was handed before.
    fn polled(&self) {
        let handed = self.handed.load(Ordering::Acquire);
        if handed >= self.warmup && self.warm.get().is_none() {
            let _ = self
                .warm
                .set((Instant::now(), super::process_cpu_secs(), handed));
        }
        if handed >= self.expected {
            self.drained.store(true, Ordering::Release);
            self.done.notify_waiters();
        }
    }
}

/// A durable single-partition log of encoded results, decoded as they are polled.
pub(super) struct EncodedLog {
    payloads: Vec<Bytes>,
    pos: usize,
    announced: bool,
    pub progress: Arc<Progress>,
}

impl EncodedLog {
    pub fn new(results: &[CheckResult], warmup: u64) -> EncodedLog {
        EncodedLog {
            payloads: results
                .iter()
                .map(|r| Bytes::from(r.encode_to_vec()))
                .collect(),
            pos: 0,
            announced: false,
            progress: Arc::new(Progress::new(results.len() as u64, warmup)),
        }
    }
}

impl ResultConsumer for EncodedLog {
    fn topic(&self) -> &str {
        "bench.results"
    }

    fn durable(&self) -> bool {
        true
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>> {
        Box::pin(async move {
            self.progress.polled();
            if self.pos >= self.payloads.len() {
                return futures::future::pending().await;
            }
            let end = (self.pos + max.max(1)).min(self.payloads.len());
            let mut out = Vec::with_capacity(end - self.pos);
            for (i, p) in self.payloads[self.pos..end].iter().enumerate() {
                // Decoded here, per poll, as `KafkaConsumer` decodes each message.
                if let Ok(result) = CheckResult::decode(p.clone()) {
                    out.push(Record {
                        partition: 0,
                        offset: (self.pos + i) as i64,
                        result,
                    });
                }
            }
            self.progress
                .handed
                .fetch_add((end - self.pos) as u64, Ordering::AcqRel);
            self.pos = end;
            Ok(out)
        })
    }

    fn take_assignment_change(&mut self) -> bool {
        !std::mem::replace(&mut self.announced, true)
    }

    fn commit(&mut self, _next_offsets: &[(i32, i64)]) -> Result<(), BusError> {
        Ok(())
    }
}

/// Counts the records another consumer returns.
pub(super) struct Counted<C> {
    inner: C,
    pub progress: Arc<Progress>,
}

impl<C: ResultConsumer> Counted<C> {
    pub fn new(inner: C, expected: u64, warmup: u64) -> Counted<C> {
        Counted {
            inner,
            progress: Arc::new(Progress::new(expected, warmup)),
        }
    }
}

impl<C: ResultConsumer> ResultConsumer for Counted<C> {
    fn topic(&self) -> &str {
        self.inner.topic()
    }

    fn durable(&self) -> bool {
        self.inner.durable()
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>> {
        Box::pin(async move {
            self.progress.polled();
            let out = self.inner.poll(max).await?;
            self.progress
                .handed
                .fetch_add(out.len() as u64, Ordering::AcqRel);
            Ok(out)
        })
    }

    fn take_assignment_change(&mut self) -> bool {
        self.inner.take_assignment_change()
    }

    fn commit(&mut self, next_offsets: &[(i32, i64)]) -> Result<(), BusError> {
        self.inner.commit(next_offsets)
    }
}
