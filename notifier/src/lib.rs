//! The Lookout notifier: consumes check results from the bus, keeps per-region incident state,
//! and delivers incident, recovery and no-data notifications through a durable outbox. State
//! changes, outbox rows and consumed offsets are stored in one transaction, so a restart
//! neither repeats nor loses a notification.
//!
//! - `consume`: the consumer loop; records below the stored offset are skipped, and offsets
//!   advance compare-and-set, which fences a consumer that lost its partition in a rebalance.
//! - `dedup`: per (monitor, region), a result older than the newest applied one, or the same
//!   result again, is ignored (results are at least once and can arrive late).
//! - `incidents`: the pure state machine (thresholds per region, region quorum, degraded).
//! - `engine`: the pure rules around it (escalation, reminders, maintenance, parents,
//!   certificate expiry, flapping).
//! - `events`: the `NotificationEvent` stored with each delivery (what happened).
//! - `dispatch`: the outbox worker around every `channels::Channel` (payload cap,
//!   per-integration rate limit and in-flight share, timeout, retries with jittered backoff,
//!   dead letters, the attempt log), apart from consumption so a failing receiver never stalls
//!   it. Each channel renders and signs its own request at send time (`lookout-render`).
//! - `bench`: the benchmarks of `lookout-notifier bench`.
//! - `retention`: prunes finished deliveries, resolved incidents and deleted monitors after
//!   their configured periods.
//! - `mail`: SMTP sending for the email channel and for `verification`, which mails the
//!   verification codes of new project members.

mod actions;
pub mod bench;
pub mod channels;
pub mod config;
mod consume;
pub mod dedup;
pub mod dispatch;
pub mod engine;
mod events;
pub mod incidents;
mod integrations;
pub mod mail;
mod monitors;
pub mod retention;
mod verification;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use lookout_bus::{BusError, ResultConsumer};
use lookout_store::{Store, StoreError};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub use config::{
    ConfigError, DeliveryConfig, EmailConfig, NotifierConfig, RetentionConfig, SmtpConfig,
    SmtpTlsMode,
};

/// `user-agent` of every outgoing request.
pub const USER_AGENT: &str = concat!("lookout/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("http client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("{0}")]
    Mail(#[from] mail::MailConfigError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentEventKind {
    Opened,
    Resolved,
}

/// An incident opened or resolved, published after it was stored (for `lookout standalone`'s
/// terminal output). Carries no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEvent {
    pub kind: IncidentEventKind,
    pub incident_id: String,
    pub monitor_id: String,
    pub monitor_name: String,
    /// Regions that were down when the incident opened.
    pub regions: Vec<String>,
    /// The failure that opened it, or what the recovering result said.
    pub message: String,
    /// When it happened (the triggering result's time), Unix epoch milliseconds.
    pub at_ms: i64,
}

impl fmt::Display for IncidentEvent {
    /// One line for people: `2024-01-15T10:30:15Z INCIDENT API (mon_1) down in eu: timeout`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = lookout_render::native::rfc3339_seconds(self.at_ms);
        match self.kind {
            IncidentEventKind::Opened => write!(
                f,
                "{at} INCIDENT {} ({}) down in {}: {}",
                self.monitor_name,
                self.monitor_id,
                self.regions.join(", "),
                self.message
            ),
            IncidentEventKind::Resolved => write!(
                f,
                "{at} RESOLVED {} ({}): {}",
                self.monitor_name, self.monitor_id, self.message
            ),
        }
    }
}

/// Runs the notifier until `shutdown` completes: the consumer loop on `consumer` and the
/// outbox dispatcher, both on `store`. On shutdown it stops consuming, stores and commits the
/// offsets it handled, and waits up to `config.shutdown_timeout_ms` for deliveries in flight
/// to finish and be recorded. Offsets are stored under `config.kafka.group_id` and
/// the consumer's topic. Incident events go to `events` when given.
pub async fn run(
    config: NotifierConfig,
    store: Store,
    consumer: Box<dyn ResultConsumer>,
    events: Option<broadcast::Sender<IncidentEvent>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NotifierError> {
    config.validate()?;
    let mut client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(config.delivery.timeout())
        .redirect(reqwest::redirect::Policy::none());
    let allow_private = config.delivery.allow_private_destinations;
    if !allow_private {
        client = client.dns_resolver(Arc::new(dispatch::destination::PublicOnlyResolver));
    }
    let client = client.build().map_err(NotifierError::HttpClient)?;
    // Twilio and the Slack Web API are the operator's own destinations (configured, never a
    // user's), so the destination rules do not apply to them.
    let operator_client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(config.delivery.timeout())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(NotifierError::HttpClient)?;
    let stop = CancellationToken::new();
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => stop.cancel(),
                () = stop.cancelled() => {}
            }
        })
    };
    let ready = Arc::new(Notify::new());
    let mailer = Arc::new(mail::Mailer::new(&config.email, allow_private)?);
    let channels = channels::Channels::new(client, allow_private)
        .with_email(channels::EmailChannel::new(mailer.clone(), store.clone()))
        .with_ssh(channels::SshChannel::new(
            store.clone(),
            allow_private,
            config.delivery.timeout(),
        ))
        .with_messaging(
            channels::SmsChannel::new(operator_client.clone(), config.twilio.clone()),
            channels::SlackAppChannel::new(operator_client, store.clone()),
        );
    let dispatcher = dispatch::Dispatcher::new(
        &config.delivery,
        store.clone(),
        channels,
        ready.clone(),
        std::time::Duration::from_millis(config.shutdown_timeout_ms),
    );
    let dispatching = tokio::spawn(dispatcher.run(stop.clone()));
    let verifying = tokio::spawn(verification::run(store.clone(), mailer, stop.clone()));
    let acting = tokio::spawn(actions::run(store.clone(), ready.clone(), stop.clone()));
    let pruning = tokio::spawn(retention::run(
        store.clone(),
        config.retention.clone(),
        stop.clone(),
    ));
    let consumed =
        consume::ConsumeLoop::new(store, consumer, &config.kafka.group_id, events, ready)
            .run(stop.clone())
            .await;
    stop.cancel();
    if let Err(e) = dispatching.await {
        warn!(error = %e, "dispatcher task ended abnormally");
    }
    if let Err(e) = acting.await {
        warn!(error = %e, "incident action task ended abnormally");
    }
    if let Err(e) = verifying.await {
        warn!(error = %e, "verification mail task ended abnormally");
    }
    if let Err(e) = pruning.await {
        warn!(error = %e, "retention task ended abnormally");
    }
    if let Err(e) = watcher.await {
        warn!(error = %e, "shutdown watcher ended abnormally");
    }
    consumed
}
