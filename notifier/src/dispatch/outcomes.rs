//! The outcome writer: one task that records finished attempts (the attempt log row and the
//! delivery's new state) in batches, one transaction for whatever finished meanwhile. With a
//! single SQLite writer, one commit per delivery from every worker at once was what bounded
//! the delivery rate; a delivery task now hands its outcome over and waits for the commit, so
//! an outcome is still stored before the delivery counts as done.

use lookout_store::notifier::{AttemptOutcome, AttemptRow};
use lookout_store::{Store, now_ms};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Most attempts committed in one transaction.
const MAX_BATCH: usize = 512;

struct Finished {
    attempt: AttemptRow,
    outcome: AttemptOutcome,
    stored: oneshot::Sender<()>,
}

/// The delivery tasks' handle on the writer.
pub(crate) struct Outcomes {
    tx: mpsc::Sender<Finished>,
}

/// The writer itself: [`Writer::stop`] stores what was handed over, then ends it.
pub(crate) struct Writer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Starts the writer on `store`.
pub(crate) fn start(store: Store) -> (Outcomes, Writer) {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
    let stop = CancellationToken::new();
    let task = tokio::spawn(write(store, rx, stop.clone()));
    (Outcomes { tx }, Writer { stop, task })
}

impl Outcomes {
    /// Hands one attempt over and returns once it is committed (or could not be: the writer
    /// logs that, and the row is claimed again after its lease).
    pub(crate) async fn record(&self, attempt: AttemptRow, outcome: AttemptOutcome) {
        let (stored, done) = oneshot::channel();
        let finished = Finished {
            attempt,
            outcome,
            stored,
        };
        if let Err(e) = self.tx.send(finished).await {
            warn!(delivery_id = %e.0.attempt.delivery_id, "the outcome writer has stopped; the row is retried after its lease");
            return;
        }
        let _ = done.await;
    }
}

impl Writer {
    /// Stores every outcome handed over so far, then ends the writer.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            warn!(error = %e, "the outcome writer failed");
        }
    }
}

async fn write(store: Store, mut rx: mpsc::Receiver<Finished>, stop: CancellationToken) {
    let mut buf: Vec<Finished> = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut buf, MAX_BATCH) => n,
            () = stop.cancelled() => {
                rx.close();
                rx.recv_many(&mut buf, MAX_BATCH).await
            }
        };
        if n == 0 {
            return;
        }
        let (rows, acks): (Vec<_>, Vec<_>) = buf
            .drain(..)
            .map(|f| ((f.attempt, f.outcome), f.stored))
            .unzip();
        if let Err(e) = store.outbox_attempted_many(&rows, now_ms()).await {
            warn!(count = rows.len(), error = %e, "delivery outcomes not stored; those rows are retried after their lease");
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}
