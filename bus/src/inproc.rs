//! The in-process result log used by `lookout standalone`: one partition, one cursor per
//! consumer, entries dropped once every consumer has read them. It does not outlive the process.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;
use lookout_proto::CheckResult;
use tokio::sync::Notify;

use crate::{BusError, Record, ResultConsumer, ResultPublisher};

/// Entries kept while no consumer is attached, so a consumer that starts a moment after the
/// publisher still sees the first results.
const UNCONSUMED_CAP: usize = 100_000;

#[derive(Clone, Default)]
pub struct InProcBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    log: Mutex<Log>,
    appended: Notify,
}

#[derive(Default)]
struct Log {
    /// Offset of `entries[0]`.
    base: i64,
    entries: VecDeque<CheckResult>,
    cursors: Vec<Weak<AtomicI64>>,
}

impl Log {
    fn end(&self) -> i64 {
        self.base + self.entries.len() as i64
    }

    fn trim(&mut self) {
        self.cursors.retain(|c| c.strong_count() > 0);
        let keep_from = self
            .cursors
            .iter()
            .filter_map(Weak::upgrade)
            .map(|c| c.load(Ordering::Acquire))
            .min()
            .unwrap_or_else(|| self.end() - UNCONSUMED_CAP as i64);
        while self.base < keep_from && !self.entries.is_empty() {
            self.entries.pop_front();
            self.base += 1;
        }
    }
}

impl InProcBus {
    pub fn new() -> InProcBus {
        InProcBus::default()
    }

    pub fn publisher(&self) -> InProcPublisher {
        InProcPublisher {
            inner: self.inner.clone(),
        }
    }

    /// A consumer that reads every entry still held, from the oldest.
    pub fn consumer(&self) -> InProcConsumer {
        let mut log = self.inner.log.lock().expect("bus lock poisoned");
        let cursor = Arc::new(AtomicI64::new(log.base));
        log.cursors.push(Arc::downgrade(&cursor));
        InProcConsumer {
            inner: self.inner.clone(),
            cursor,
            announced: false,
        }
    }
}

#[derive(Clone)]
pub struct InProcPublisher {
    inner: Arc<Inner>,
}

impl ResultPublisher for InProcPublisher {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            {
                let mut log = self.inner.log.lock().expect("bus lock poisoned");
                log.entries.extend(results.iter().cloned());
                log.trim();
            }
            self.inner.appended.notify_waiters();
            Ok(())
        })
    }
}

pub struct InProcConsumer {
    inner: Arc<Inner>,
    cursor: Arc<AtomicI64>,
    announced: bool,
}

impl InProcConsumer {
    fn take(&self, max: usize) -> Vec<Record> {
        let log = self.inner.log.lock().expect("bus lock poisoned");
        let from = self.cursor.load(Ordering::Acquire).max(log.base);
        let start = (from - log.base) as usize;
        let out: Vec<Record> = log
            .entries
            .iter()
            .skip(start)
            .take(max.max(1))
            .enumerate()
            .map(|(i, r)| Record {
                partition: 0,
                offset: from + i as i64,
                result: r.clone(),
            })
            .collect();
        self.cursor
            .store(from + out.len() as i64, Ordering::Release);
        out
    }
}

impl ResultConsumer for InProcConsumer {
    fn topic(&self) -> &str {
        "inproc"
    }

    fn durable(&self) -> bool {
        false
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>> {
        Box::pin(async move {
            loop {
                let appended = self.inner.appended.notified();
                tokio::pin!(appended);
                appended.as_mut().enable();
                let batch = self.take(max);
                if !batch.is_empty() {
                    return Ok(batch);
                }
                appended.await;
            }
        })
    }

    fn take_assignment_change(&mut self) -> bool {
        !std::mem::replace(&mut self.announced, true)
    }

    fn commit(&mut self, _next_offsets: &[(i32, i64)]) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(n: u32) -> CheckResult {
        CheckResult {
            monitor_id: format!("m{n}"),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn consumers_read_in_order_independently() {
        let bus = InProcBus::new();
        let mut a = bus.consumer();
        let mut b = bus.consumer();
        bus.publisher()
            .publish(&[result(0), result(1), result(2)])
            .await
            .expect("publish");
        let got = a.poll(2).await.expect("poll");
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(a.poll(10).await.expect("poll")[0].result.monitor_id, "m2");
        assert_eq!(b.poll(10).await.expect("poll").len(), 3);
        assert!(a.take_assignment_change());
        assert!(!a.take_assignment_change());
    }

    #[tokio::test]
    async fn poll_waits_for_a_publish() {
        let bus = InProcBus::new();
        let mut c = bus.consumer();
        let p = bus.publisher();
        let waiter = tokio::spawn(async move { c.poll(10).await.expect("poll").len() });
        tokio::task::yield_now().await;
        p.publish(&[result(7)]).await.expect("publish");
        assert_eq!(
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woke")
                .expect("join"),
            1
        );
    }

    #[tokio::test]
    async fn read_entries_are_dropped() {
        let bus = InProcBus::new();
        let mut c = bus.consumer();
        let p = bus.publisher();
        p.publish(&[result(0), result(1)]).await.expect("publish");
        c.poll(10).await.expect("poll");
        p.publish(&[result(2)]).await.expect("publish");
        let log = bus.inner.log.lock().expect("lock");
        assert_eq!((log.base, log.entries.len()), (2, 1));
    }
}
