//! Notification channels: one trait, one implementation per way of sending. A channel
//! renders and signs its own request from the event and the integration's current settings
//! (through `lookout-render`), then sends it and classifies the answer; retries, rate limits,
//! timeouts, payload caps, dead letters and the attempt log live once in `dispatch`, around
//! every channel. Webhooks and the chat and paging presets are sent over HTTP (`http`), email
//! over SMTP (`email`), SSH restarts over SSH (`ssh`), SMS through the deployment's Twilio
//! account (`sms`), the Slack app through Slack's Web API, remembering the messages it updates
//! (`slack_app`).

mod email;
mod http;
mod slack_app;
mod sms;
mod ssh;

pub use email::{EmailChannel, EmailRequest};
pub use http::HttpChannel;
pub use slack_app::{SlackAppChannel, SlackAppMessage};
pub use sms::SmsChannel;
pub use ssh::{SshChannel, SshRequest};

use std::time::Duration;

use futures::future::BoxFuture;
use lookout_proto::v1::{Integration, NotificationEvent};
use lookout_render::Variables;

/// One attempt of one delivery: what the channel renders from.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// Idempotency id: the same on every attempt of one delivery.
    pub id: &'a str,
    pub integration: &'a Integration,
    pub event: &'a NotificationEvent,
    /// The project's variables, for templates.
    pub variables: &'a Variables,
    /// Now, Unix seconds (signature timestamps).
    pub now_unix_secs: i64,
}

/// A rendered request, ready to send.
#[derive(Debug, Clone)]
pub enum Prepared {
    Http(lookout_render::Request),
    /// A Twilio Messages API request.
    Sms(lookout_render::Request),
    SlackApp(Box<SlackAppMessage>),
    Email(EmailRequest),
    Ssh(SshRequest),
}

impl Prepared {
    /// Bytes of what is sent as the payload (the payload cap applies to it).
    pub fn payload_bytes(&self) -> usize {
        match self {
            Prepared::Http(r) | Prepared::Sms(r) => r.body.len(),
            Prepared::SlackApp(m) => m.post.body.len(),
            Prepared::Email(r) => r.content.len(),
            Prepared::Ssh(r) => r.settings.command.len(),
        }
    }
}

/// A successful delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Status code of the receiver's answer, when the channel has one.
    pub status: Option<u16>,
    /// The start of the answer, for the attempt log.
    pub excerpt: String,
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
        status: Option<u16>,
        excerpt: String,
    },
    /// Will fail the same way again (other 4xx, invalid destination or settings).
    #[error("{reason}")]
    Permanent {
        reason: String,
        status: Option<u16>,
        excerpt: String,
    },
}

impl SendError {
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError::Permanent {
            reason: reason.into(),
            status: None,
            excerpt: String::new(),
        }
    }

    pub fn retryable(reason: impl Into<String>) -> SendError {
        SendError::Retryable {
            reason: reason.into(),
            retry_after: None,
            status: None,
            excerpt: String::new(),
        }
    }
}

/// A way of sending.
pub trait Channel: Send + Sync {
    /// Renders and signs the request of one attempt.
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError>;
    /// Sends it.
    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>>;
}

/// Every channel the notifier can deliver through.
pub struct Channels {
    http: HttpChannel,
    sms: Option<SmsChannel>,
    slack_app: Option<SlackAppChannel>,
    email: Option<EmailChannel>,
    ssh: Option<SshChannel>,
}

impl Channels {
    /// `allow_private`: whether destinations may be loopback, private or link-local.
    pub fn new(client: reqwest::Client, allow_private: bool) -> Channels {
        Channels {
            http: HttpChannel::new(client, allow_private),
            sms: None,
            slack_app: None,
            email: None,
            ssh: None,
        }
    }

    /// Adds the channels that call the operator's own services (Twilio, Slack's Web API).
    pub fn with_messaging(mut self, sms: SmsChannel, slack_app: SlackAppChannel) -> Channels {
        self.sms = Some(sms);
        self.slack_app = Some(slack_app);
        self
    }

    /// Adds the email channel (without it, email integrations have no channel).
    pub fn with_email(mut self, email: EmailChannel) -> Channels {
        self.email = Some(email);
        self
    }

    /// Adds the SSH restart channel.
    pub fn with_ssh(mut self, ssh: SshChannel) -> Channels {
        self.ssh = Some(ssh);
        self
    }

    /// The channel of an integration kind (`webhook`, `slack`, ...); the one place that
    /// matches on it.
    pub fn get(&self, kind: &str) -> Option<&dyn Channel> {
        match kind {
            "webhook" | "slack" | "discord" | "telegram" | "mattermost" | "teams" | "pagerduty"
            | "opsgenie" | "pushover" => Some(&self.http),
            "sms" => self.sms.as_ref().map(|c| c as &dyn Channel),
            "slack_app" => self.slack_app.as_ref().map(|c| c as &dyn Channel),
            "email" => self.email.as_ref().map(|c| c as &dyn Channel),
            "ssh_restart" => self.ssh.as_ref().map(|c| c as &dyn Channel),
            _ => None,
        }
    }
}
