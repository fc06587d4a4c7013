//! Publishing one session's accepted batches: in order, in bounded chunks (so a large batch
//! never becomes one huge produce that holds up other agents' results), with results the bus
//! refuses for good replaced by an INTERNAL result, and each batch acknowledged only after all
//! of it was published. Nothing is published again once acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_bus::{BusError, ResultPublisher};
use lookout_proto::CheckResult;
use lookout_proto::v1::{CoordinatorMessage, ResultAck, ResultBatch, coordinator_message::Msg};
use tokio::sync::mpsc;

use crate::intake;
use crate::session::OutSender;

/// Results handed to the bus in one `publish` call, at most.
pub const PUBLISH_CHUNK: usize = 500;

/// First and longest pause between two attempts to publish a chunk the bus did not take.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Failed attempts are logged at most this often per session.
const RETRY_LOG_EVERY: Duration = Duration::from_secs(10);

/// Publishes batches one after the other and acknowledges each once the bus accepted all of
/// its results. A chunk the bus does not take (it is down, say) is tried again, with backoff,
/// until it goes through: later batches wait behind it (the session refuses more once the
/// queue is full), so every monitor's results stay in order. Returns once `batches` is closed
/// and drained (the session ended or the coordinator stops), or the agent went away.
pub async fn in_order(
    publisher: Arc<dyn ResultPublisher>,
    mut batches: mpsc::Receiver<ResultBatch>,
    out: OutSender,
) -> Option<String> {
    while let Some(batch) = batches.recv().await {
        for chunk in batch.results.chunks(PUBLISH_CHUNK) {
            let mut delay = RETRY_FIRST;
            let mut attempts = 0u32;
            let mut logged: Option<Instant> = None;
            while let Err(e) = publish_chunk(publisher.as_ref(), chunk).await {
                attempts += 1;
                if logged.is_none_or(|t| t.elapsed() >= RETRY_LOG_EVERY) {
                    logged = Some(Instant::now());
                    tracing::warn!(seq = batch.seq, results = batch.results.len(), attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "the result bus does not take results; retrying, not acknowledged");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            if attempts > 0 {
                tracing::info!(
                    seq = batch.seq,
                    attempts,
                    "the result bus took the results again"
                );
            }
        }
        tracing::debug!(
            seq = batch.seq,
            results = batch.results.len(),
            "results published"
        );
        let ack = CoordinatorMessage {
            msg: Some(Msg::Ack(ResultAck { seq: batch.seq })),
        };
        if out.send(Ok(ack)).await.is_err() {
            return None;
        }
    }
    None
}

/// Publishes `chunk`; results refused for good are replaced once, and a replacement refused
/// again is dropped with an error line rather than retried forever.
async fn publish_chunk(
    publisher: &dyn ResultPublisher,
    chunk: &[CheckResult],
) -> Result<(), BusError> {
    let refusals = match publisher.publish(chunk).await {
        Ok(()) => return Ok(()),
        Err(BusError::Refused(refusals)) => refusals,
        Err(e) => return Err(e),
    };
    let replacements: Vec<CheckResult> = refusals
        .iter()
        .filter_map(|r| {
            let refused = chunk.get(r.index)?;
            tracing::warn!(result_id = %refused.id, monitor_id = %refused.monitor_id, reason = %r.reason, "the bus refused a result for good; publishing an INTERNAL result in its place");
            Some(intake::replacement(refused, &r.reason))
        })
        .collect();
    match publisher.publish(&replacements).await {
        Ok(()) => Ok(()),
        Err(BusError::Refused(again)) => {
            for r in again {
                let id = replacements.get(r.index).map_or("", |x| x.id.as_str());
                tracing::error!(result_id = %id, reason = %r.reason, "the bus refused the replacement too; the result is lost");
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}
