//! The bounded buffer of results the coordinator has not acknowledged yet: results waiting
//! to be sent, and batches sent but not acknowledged. Beyond its bound the oldest results
//! are dropped and counted; after a reconnect every unacknowledged result is sent again.

use std::collections::VecDeque;
use std::time::Duration;

use lookout_proto::CheckResult;
use prost::Message;
use tokio::time::Instant;

/// Encoding overhead of one result inside a `ResultBatch` (field tag and length prefix).
const PER_RESULT_OVERHEAD: usize = 6;

/// A batch taken for sending: its sequence number and results.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub seq: u64,
    pub results: Vec<CheckResult>,
}

#[derive(Debug)]
pub struct ResultBuffer {
    max: usize,
    unsent: VecDeque<CheckResult>,
    /// When the oldest unsent result arrived (or was put back after a reconnect).
    unsent_since: Option<Instant>,
    inflight: VecDeque<Batch>,
    inflight_len: usize,
    next_seq: u64,
    dropped: u64,
}

impl ResultBuffer {
    pub fn new(max: usize) -> ResultBuffer {
        ResultBuffer {
            max: max.max(1),
            unsent: VecDeque::new(),
            unsent_since: None,
            inflight: VecDeque::new(),
            inflight_len: 0,
            next_seq: 1,
            dropped: 0,
        }
    }

    /// Adds results; returns how many of the oldest were dropped to stay within the bound.
    pub fn extend(
        &mut self,
        results: impl IntoIterator<Item = CheckResult>,
        now: Instant,
    ) -> usize {
        if self.unsent.is_empty() {
            self.unsent_since = Some(now);
        }
        self.unsent.extend(results);
        let mut dropped = 0;
        while self.len() > self.max {
            if let Some(batch) = self.inflight.front_mut() {
                batch.results.remove(0);
                self.inflight_len -= 1;
                if batch.results.is_empty() {
                    self.inflight.pop_front();
                }
            } else {
                self.unsent.pop_front();
            }
            dropped += 1;
        }
        self.dropped += dropped as u64;
        if self.unsent.is_empty() {
            self.unsent_since = None;
        }
        dropped
    }

    /// Results held: unsent plus sent and unacknowledged.
    pub fn len(&self) -> usize {
        self.unsent.len() + self.inflight_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn unsent_len(&self) -> usize {
        self.unsent.len()
    }

    /// Results dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether a batch should go out now: a full one is waiting, or the oldest unsent
    /// result has lingered long enough.
    pub fn ready(&self, now: Instant, batch_max: usize, linger: Duration) -> bool {
        self.unsent.len() >= batch_max || self.flush_at(linger).is_some_and(|at| at <= now)
    }

    /// When the unsent results are due to go out even if no batch is full.
    pub fn flush_at(&self, linger: Duration) -> Option<Instant> {
        self.unsent_since.map(|since| since + linger)
    }

    /// Takes up to `batch_max` unsent results, and at most `max_bytes` of them encoded (one
    /// larger result still goes, alone), as the next batch; they stay in the buffer until
    /// acknowledged.
    pub fn take_batch(
        &mut self,
        batch_max: usize,
        max_bytes: usize,
        now: Instant,
    ) -> Option<Batch> {
        if self.unsent.is_empty() {
            return None;
        }
        let mut n = 0;
        let mut bytes = 0;
        for r in self.unsent.iter().take(batch_max) {
            let len = r.encoded_len() + PER_RESULT_OVERHEAD;
            if n > 0 && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            n += 1;
        }
        let results: Vec<CheckResult> = self.unsent.drain(..n).collect();
        let batch = Batch {
            seq: self.next_seq,
            results,
        };
        self.next_seq += 1;
        self.inflight_len += batch.results.len();
        self.inflight.push_back(batch.clone());
        self.unsent_since = if self.unsent.is_empty() {
            None
        } else {
            Some(now)
        };
        Some(batch)
    }

    /// Forgets the batch `seq`; returns how many results it still held.
    pub fn ack(&mut self, seq: u64) -> usize {
        match self.inflight.iter().position(|b| b.seq == seq) {
            Some(i) => {
                let n = self.inflight.remove(i).map_or(0, |b| b.results.len());
                self.inflight_len -= n;
                n
            }
            None => 0,
        }
    }

    /// The coordinator refused batch `seq` (its result bus is unavailable): that batch and
    /// every one sent after it go back in front of the unsent results, in order, to be sent
    /// again under new numbers. Returns how many results went back (0 when `seq` was already
    /// put back by an earlier refusal).
    pub fn refused(&mut self, seq: u64, now: Instant) -> usize {
        let Some(from) = self.inflight.iter().position(|b| b.seq == seq) else {
            return 0;
        };
        let mut back = 0;
        for batch in self.inflight.drain(from..).rev() {
            back += batch.results.len();
            for r in batch.results.into_iter().rev() {
                self.unsent.push_front(r);
            }
        }
        self.inflight_len -= back;
        self.unsent_since = Some(now);
        back
    }

    /// Drops results scheduled before `cutoff_ms` (epoch ms), oldest first, as long as the
    /// oldest held is that old; they count as dropped. Returns how many.
    pub fn expire(&mut self, cutoff_ms: i64) -> usize {
        let mut dropped = 0;
        loop {
            if let Some(batch) = self.inflight.front_mut() {
                if batch
                    .results
                    .first()
                    .is_none_or(|r| r.scheduled_at_ms >= cutoff_ms)
                {
                    break;
                }
                batch.results.remove(0);
                self.inflight_len -= 1;
                if batch.results.is_empty() {
                    self.inflight.pop_front();
                }
            } else if self
                .unsent
                .front()
                .is_some_and(|r| r.scheduled_at_ms < cutoff_ms)
            {
                self.unsent.pop_front();
            } else {
                break;
            }
            dropped += 1;
        }
        self.dropped += dropped as u64;
        if self.unsent.is_empty() {
            self.unsent_since = None;
        }
        dropped
    }

    /// After a lost connection: every sent, unacknowledged result goes back in front of the
    /// unsent ones, oldest first, to be sent again under new sequence numbers.
    pub fn requeue(&mut self, now: Instant) {
        for batch in self.inflight.drain(..).rev() {
            for r in batch.results.into_iter().rev() {
                self.unsent.push_front(r);
            }
        }
        self.inflight_len = 0;
        if !self.unsent.is_empty() {
            self.unsent_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(ids: std::ops::Range<u32>) -> Vec<CheckResult> {
        ids.map(|i| CheckResult {
            id: i.to_string(),
            ..Default::default()
        })
        .collect()
    }

    fn ids(batch: &Batch) -> Vec<String> {
        batch.results.iter().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn a_refused_batch_and_those_after_it_go_back_in_order() {
        let now = Instant::now();
        let mut b = ResultBuffer::new(100);
        b.extend(results(0..8), now);
        let first = b.take_batch(2, usize::MAX, now).expect("batch");
        let second = b.take_batch(2, usize::MAX, now).expect("batch");
        let third = b.take_batch(2, usize::MAX, now).expect("batch");
        assert_eq!(
            b.refused(second.seq, now),
            4,
            "the second and third go back"
        );
        assert_eq!(b.refused(third.seq, now), 0, "already back");
        assert_eq!((b.len(), b.unsent_len()), (8, 6));
        assert_eq!(b.ack(first.seq), 2);
        let again = b.take_batch(10, usize::MAX, now).expect("batch");
        assert_eq!(ids(&again), ["2", "3", "4", "5", "6", "7"]);
        assert!(again.seq > third.seq, "under a new number");
    }

    #[test]
    fn results_older_than_the_cutoff_are_dropped_and_counted() {
        let now = Instant::now();
        let mut b = ResultBuffer::new(100);
        let at = |i: u32| CheckResult {
            id: i.to_string(),
            scheduled_at_ms: i64::from(i) * 1000,
            ..Default::default()
        };
        b.extend((0..6).map(at), now);
        let sent = b.take_batch(2, usize::MAX, now).expect("batch");
        assert_eq!(ids(&sent), ["0", "1"]);
        assert_eq!(b.expire(3000), 3, "0 and 1 in flight, 2 unsent");
        assert_eq!((b.len(), b.dropped()), (3, 3));
        assert_eq!(b.expire(3000), 0);
        assert_eq!(b.ack(sent.seq), 0, "the expired batch is gone");
        assert_eq!(
            ids(&b.take_batch(10, usize::MAX, now).expect("batch")),
            ["3", "4", "5"]
        );
    }

    #[test]
    fn batches_ack_and_resend_in_order() {
        let now = Instant::now();
        let mut b = ResultBuffer::new(100);
        b.extend(results(0..7), now);
        let first = b.take_batch(3, usize::MAX, now).expect("batch");
        let second = b.take_batch(3, usize::MAX, now).expect("batch");
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(ids(&first), ["0", "1", "2"]);
        assert_eq!((b.len(), b.unsent_len()), (7, 1));
        assert_eq!(b.ack(2), 3);
        assert_eq!(b.ack(2), 0, "a repeated ack is harmless");
        assert_eq!(b.ack(99), 0, "an unknown ack is harmless");
        b.requeue(now);
        let resent = b.take_batch(10, usize::MAX, now).expect("batch");
        assert_eq!(resent.seq, 3, "resent under a new sequence number");
        assert_eq!(ids(&resent), ["0", "1", "2", "6"]);
        assert_eq!(b.ack(1), 0, "the old sequence number is gone");
        assert_eq!(b.ack(3), 4);
        assert!(b.is_empty());
    }

    #[test]
    fn drops_the_oldest_beyond_the_bound() {
        let now = Instant::now();
        let mut b = ResultBuffer::new(5);
        b.extend(results(0..3), now);
        b.take_batch(2, usize::MAX, now).expect("batch");
        assert_eq!(b.extend(results(3..7), now), 2);
        assert_eq!((b.len(), b.dropped()), (5, 2));
        b.requeue(now);
        let all = b.take_batch(10, usize::MAX, now).expect("batch");
        assert_eq!(ids(&all), ["2", "3", "4", "5", "6"]);
        assert_eq!(b.extend(results(7..20), now), 13);
        assert_eq!(b.dropped(), 15);
    }

    #[test]
    fn batches_are_cut_by_encoded_size() {
        let now = Instant::now();
        let mut b = ResultBuffer::new(100);
        let sized = |id: &str, message_bytes: usize| CheckResult {
            id: id.into(),
            error_message: "e".repeat(message_bytes),
            ..Default::default()
        };
        b.extend(
            [
                sized("a", 400),
                sized("b", 400),
                sized("c", 400),
                sized("huge", 5_000),
                sized("d", 10),
            ],
            now,
        );
        let max = 1_000;
        let first = b.take_batch(10, max, now).expect("batch");
        assert_eq!(ids(&first), ["a", "b"]);
        let size: usize = first.results.iter().map(|r| r.encoded_len() + 6).sum();
        assert!(size <= max, "{size}");
        assert_eq!(ids(&b.take_batch(10, max, now).expect("batch")), ["c"]);
        assert_eq!(
            ids(&b.take_batch(10, max, now).expect("batch")),
            ["huge"],
            "a result over the bound travels alone"
        );
        assert_eq!(ids(&b.take_batch(10, max, now).expect("batch")), ["d"]);
        assert!(b.take_batch(10, max, now).is_none());
    }

    #[test]
    fn lingers_until_full_or_late() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(200);
        let mut b = ResultBuffer::new(100);
        assert!(!b.ready(t0, 3, linger));
        assert_eq!(b.flush_at(linger), None);
        b.extend(results(0..2), t0);
        assert!(!b.ready(t0 + Duration::from_millis(199), 3, linger));
        assert!(b.ready(t0 + linger, 3, linger));
        b.extend(results(2..3), t0 + Duration::from_millis(10));
        assert!(
            b.ready(t0 + Duration::from_millis(10), 3, linger),
            "a full batch goes at once"
        );
    }
}
