//! Notification channels: one trait, one file per destination kind. A channel builds one
//! request, sends it and classifies the answer; retries, rate limits, timeouts, payload caps
//! and signing live once in `dispatch`, around every channel.

mod webhook;

pub use webhook::WebhookChannel;

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use lookout_store::notifier::OutboxEvent;

/// One delivery attempt, fully prepared by the dispatcher.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Idempotency id: the same on every attempt of one delivery.
    pub id: String,
    pub event: OutboxEvent,
    pub url: String,
    pub body: Bytes,
    /// Headers added by the dispatcher (signature, timestamp, delivery id).
    pub headers: Vec<(&'static str, String)>,
}

/// A successful delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Status code of the receiver's answer, when the channel has one.
    pub status: Option<u16>,
}

/// Why a delivery failed, classified by what the dispatcher does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt (network error, timeout, 408, 429, 5xx). `retry_after` is the
    /// receiver's own wish (`Retry-After`), honoured as a minimum delay.
    #[error("{reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will fail the same way again (other 4xx, invalid destination).
    #[error("{reason}")]
    Permanent { reason: String },
}

/// A destination kind.
pub trait Channel: Send + Sync {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivered, SendError>>;
}

/// Every channel the notifier can deliver through.
pub struct Channels {
    webhook: WebhookChannel,
}

impl Channels {
    /// `allow_private`: whether destinations may be loopback, private or link-local.
    pub fn new(client: reqwest::Client, allow_private: bool) -> Channels {
        Channels {
            webhook: WebhookChannel::new(client, allow_private),
        }
    }

    /// The channel for an outbox row's `channel` kind; the one place that matches on it.
    pub fn get(&self, kind: &str) -> Option<&dyn Channel> {
        match kind {
            "webhook" => Some(&self.webhook),
            _ => None,
        }
    }
}
