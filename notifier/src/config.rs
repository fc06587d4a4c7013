//! Notifier configuration: YAML (read by `lookout-runtime`: bounded, with `${VAR}`
//! expansion) plus `LOOKOUT_*` environment overrides, validated once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lookout_bus::KafkaConfig;
use serde::Deserialize;

pub use crate::mail::{EmailConfig, SmtpConfig, SmtpTlsMode};
pub use crate::retention::RetentionConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    File(#[from] lookout_runtime::ConfigFileError),
    /// The `twilio` account is unusable; the message names the field.
    #[error("{0}")]
    Twilio(String),
    #[error("{field}: {value} is invalid, {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Email(#[from] crate::mail::MailConfigError),
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Where incidents, the outbox and consumed offsets live (`sqlite://lookout.db`).
    #[serde(default = "default_store_url")]
    pub store_url: String,
    /// The result topic and consumer group; offsets are stored under `kafka.group_id`.
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// How long delivered and dead deliveries, resolved incidents and deleted monitors are
    /// kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// On shutdown, how long deliveries in flight may take to finish (1..=300000); those
    /// still running then are sent again, with the same delivery id, after a restart.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
    /// File of the keys secrets are sealed with at rest (the coordinator's keys), one
    /// `id:base64-32-bytes` a line, current first; `LOOKOUT_SECRET_KEY` wins over it.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// The Twilio account SMS integrations send with (the coordinator's `twilio`, usually the
    /// same account). Without it SMS deliveries fail, saying so.
    #[serde(default)]
    pub twilio: Option<lookout_render::sms::TwilioConfig>,
    /// The SMTP server and sender of email integrations and of members' verification codes.
    #[serde(default)]
    pub email: EmailConfig,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            store_url: default_store_url(),
            kafka: KafkaConfig::default(),
            delivery: DeliveryConfig::default(),
            retention: RetentionConfig::default(),
            shutdown_timeout_ms: default_shutdown_timeout_ms(),
            secret_key_file: None,
            twilio: None,
            email: EmailConfig::default(),
        }
    }
}

fn default_shutdown_timeout_ms() -> u64 {
    10_000
}

impl fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierConfig")
            .field("store_url", &redact_password(&self.store_url))
            .field("kafka", &self.kafka)
            .field("delivery", &self.delivery)
            .field("retention", &self.retention)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("secret_key_file", &self.secret_key_file)
            .field("twilio", &self.twilio)
            .field("email", &self.email)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

fn default_store_url() -> String {
    "sqlite://lookout.db".into()
}

/// How notifications are delivered, for every channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Timeout of one attempt (1..=300000).
    pub timeout_ms: u64,
    /// Retries after the first attempt before a delivery is dead (0..=100).
    pub max_retries: u32,
    /// Deliveries per destination URL and minute (1..=100000).
    pub rate_limit_per_minute: u32,
    /// Largest payload sent; bigger ones are dead at once (1..=16 MiB).
    pub max_payload_bytes: usize,
    /// First retry delay ceiling; doubles per attempt, the delay drawn from its upper half
    /// (1..=backoff_max_ms).
    pub backoff_base_ms: u64,
    /// Largest retry delay ceiling (1..=86400000).
    pub backoff_max_ms: u64,
    /// Deliveries in flight at once (1..=1024).
    pub workers: usize,
    /// Whether webhooks may reach loopback, private and link-local addresses. Off by default:
    /// whoever can create a monitor could otherwise make the notifier call internal services.
    pub allow_private_destinations: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout_ms: 30_000,
            // With the base and the cap below: retries after about 2.5-5 s, 5-10 s, ..., then
            // every 2.5-5 min; the last one 17.5-35 min after the first attempt.
            max_retries: 12,
            rate_limit_per_minute: 100,
            max_payload_bytes: 1 << 20,
            backoff_base_ms: 5_000,
            backoff_max_ms: 300_000,
            workers: 64,
            allow_private_destinations: false,
        }
    }
}

impl DeliveryConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl NotifierConfig {
    /// Parses YAML (unknown fields are refused, `${VAR}` expanded) and validates.
    pub fn from_yaml(text: &str) -> Result<NotifierConfig, ConfigError> {
        let c: NotifierConfig = lookout_runtime::parse(text, "text", &|k| std::env::var(k).ok())?;
        c.validate()?;
        Ok(c)
    }

    /// What the binary runs with: the file at `path` (or the defaults), then the `LOOKOUT_*`
    /// environment, validated.
    pub fn load(path: Option<&Path>) -> Result<NotifierConfig, ConfigError> {
        let mut c = match path {
            Some(p) => lookout_runtime::load(p)?,
            None => NotifierConfig::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        Ok(c)
    }

    /// Applies `LOOKOUT_*` overrides read through `lookup`, then validates.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = lookup("LOOKOUT_STORE_URL") {
            self.store_url = v;
        }
        if let Some(v) = lookup("LOOKOUT_KAFKA_BROKERS") {
            self.kafka.brokers = v;
        }
        if let Some(v) = lookup("LOOKOUT_KAFKA_TOPIC") {
            self.kafka.topic = v;
        }
        if let Some(v) = lookup("LOOKOUT_KAFKA_GROUP_ID") {
            self.kafka.group_id = v;
        }
        if let Some(v) = lookup("LOOKOUT_SECRET_KEY_FILE") {
            self.secret_key_file = Some(PathBuf::from(v));
        }
        let d = &mut self.delivery;
        env_num(&lookup, "LOOKOUT_DELIVERY_TIMEOUT_MS", &mut d.timeout_ms)?;
        env_num(&lookup, "LOOKOUT_DELIVERY_MAX_RETRIES", &mut d.max_retries)?;
        env_num(
            &lookup,
            "LOOKOUT_DELIVERY_RATE_LIMIT_PER_MINUTE",
            &mut d.rate_limit_per_minute,
        )?;
        env_num(
            &lookup,
            "LOOKOUT_DELIVERY_MAX_PAYLOAD_BYTES",
            &mut d.max_payload_bytes,
        )?;
        env_num(
            &lookup,
            "LOOKOUT_DELIVERY_BACKOFF_BASE_MS",
            &mut d.backoff_base_ms,
        )?;
        env_num(
            &lookup,
            "LOOKOUT_DELIVERY_BACKOFF_MAX_MS",
            &mut d.backoff_max_ms,
        )?;
        env_num(&lookup, "LOOKOUT_DELIVERY_WORKERS", &mut d.workers)?;
        if let Some(v) = lookup("LOOKOUT_EMAIL_FROM") {
            self.email.from = Some(v);
        }
        if let Some(host) = lookup("LOOKOUT_SMTP_HOST") {
            let s = self.email.smtp.get_or_insert_with(|| SmtpConfig {
                host: String::new(),
                port: None,
                tls: SmtpTlsMode::default(),
                username: None,
                password: None,
                timeout_ms: 15_000,
            });
            s.host = host;
        }
        if let Some(s) = self.email.smtp.as_mut() {
            if let Some(v) = lookup("LOOKOUT_SMTP_PORT") {
                s.port = Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                    field: "LOOKOUT_SMTP_PORT",
                    value: v.clone(),
                    expected: "must be a port, 1..=65535",
                })?);
            }
            if let Some(v) = lookup("LOOKOUT_SMTP_USERNAME") {
                s.username = Some(v);
            }
            if let Some(v) = lookup("LOOKOUT_SMTP_PASSWORD") {
                s.password = Some(lookout_proto::Secret::new(v));
            }
        }
        self.validate()
    }

    /// Checks every field; the error names the field, the value and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.delivery;
        let bad = |field, value: String, expected| {
            Err(ConfigError::Invalid {
                field,
                value,
                expected,
            })
        };
        if self.store_url.trim().is_empty() {
            return bad(
                "store_url",
                "\"\"".into(),
                "must name a database (sqlite://path.db)",
            );
        }
        if self.kafka.topic.trim().is_empty() {
            return bad("kafka.topic", "\"\"".into(), "must not be empty");
        }
        if self.kafka.group_id.trim().is_empty() {
            return bad("kafka.group_id", "\"\"".into(), "must not be empty");
        }
        if !(1..=300_000).contains(&d.timeout_ms) {
            return bad(
                "delivery.timeout_ms",
                d.timeout_ms.to_string(),
                "must be 1..=300000",
            );
        }
        if d.max_retries > 100 {
            return bad(
                "delivery.max_retries",
                d.max_retries.to_string(),
                "must be 0..=100",
            );
        }
        if !(1..=100_000).contains(&d.rate_limit_per_minute) {
            return bad(
                "delivery.rate_limit_per_minute",
                d.rate_limit_per_minute.to_string(),
                "must be 1..=100000",
            );
        }
        if !(1..=16 << 20).contains(&d.max_payload_bytes) {
            return bad(
                "delivery.max_payload_bytes",
                d.max_payload_bytes.to_string(),
                "must be 1..=16777216",
            );
        }
        if !(1..=86_400_000).contains(&d.backoff_max_ms) {
            return bad(
                "delivery.backoff_max_ms",
                d.backoff_max_ms.to_string(),
                "must be 1..=86400000",
            );
        }
        if d.backoff_base_ms == 0 || d.backoff_base_ms > d.backoff_max_ms {
            return bad(
                "delivery.backoff_base_ms",
                d.backoff_base_ms.to_string(),
                "must be 1..=backoff_max_ms",
            );
        }
        if !(1..=1024).contains(&d.workers) {
            return bad(
                "delivery.workers",
                d.workers.to_string(),
                "must be 1..=1024",
            );
        }
        if !(1..=300_000).contains(&self.shutdown_timeout_ms) {
            return bad(
                "shutdown_timeout_ms",
                self.shutdown_timeout_ms.to_string(),
                "must be 1..=300000",
            );
        }
        if let Some(t) = &self.twilio {
            t.validate("twilio")
                .map_err(|e| ConfigError::Twilio(e.to_string()))?;
        }
        self.email.validate()?;
        self.retention.validate()
    }
}

fn env_num<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(v) = lookup(var) {
        *slot = v.trim().parse().map_err(|_| ConfigError::Invalid {
            field: var,
            value: v.clone(),
            expected: "must be a non-negative integer",
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_yaml() {
        let c = NotifierConfig::from_yaml("{}").expect("empty config is valid");
        assert_eq!(c.delivery.timeout_ms, 30_000);
        assert_eq!(c.delivery.max_retries, 12);
        assert_eq!(c.delivery.rate_limit_per_minute, 100);
        assert_eq!(c.shutdown_timeout_ms, 10_000);
        assert_eq!(c.delivery.max_payload_bytes, 1 << 20);
        assert_eq!(c.retention.delivered_secs, 7 * 86_400);
        assert_eq!(c.retention.dead_secs, 30 * 86_400);
        assert_eq!(c.retention.resolved_incidents_secs, 90 * 86_400);
        let c = NotifierConfig::from_yaml(
            "store_url: sqlite://x.db\nkafka:\n  brokers: k:9092\n  group_id: g\ndelivery:\n  max_retries: 2\n",
        )
        .expect("valid");
        assert_eq!(
            (
                c.store_url.as_str(),
                c.kafka.brokers.as_str(),
                c.kafka.group_id.as_str()
            ),
            ("sqlite://x.db", "k:9092", "g")
        );
        assert_eq!(c.delivery.max_retries, 2);
        assert_eq!(c.delivery.backoff_base_ms, 5_000);
    }

    #[test]
    fn example_config_parses_to_the_defaults() {
        let c = NotifierConfig::from_yaml(include_str!("../notifier.example.yaml"))
            .expect("the example config is valid");
        let d = DeliveryConfig::default();
        assert_eq!(c.store_url, default_store_url());
        assert_eq!(c.shutdown_timeout_ms, default_shutdown_timeout_ms());
        assert_eq!(c.retention, RetentionConfig::default());
        assert_eq!(c.kafka.group_id, KafkaConfig::default().group_id);
        assert_eq!(
            (
                c.delivery.timeout_ms,
                c.delivery.max_retries,
                c.delivery.rate_limit_per_minute
            ),
            (d.timeout_ms, d.max_retries, d.rate_limit_per_minute)
        );
        assert_eq!(
            (
                c.delivery.max_payload_bytes,
                c.delivery.backoff_base_ms,
                c.delivery.backoff_max_ms,
                c.delivery.workers
            ),
            (
                d.max_payload_bytes,
                d.backoff_base_ms,
                d.backoff_max_ms,
                d.workers
            )
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            ("bogus: 1", "bogus"),
            ("delivery:\n  timeout_msec: 5", "timeout_msec"),
            (
                "delivery:\n  timeout_ms: 0",
                "delivery.timeout_ms: 0 is invalid",
            ),
            (
                "delivery:\n  rate_limit_per_minute: 0",
                "delivery.rate_limit_per_minute",
            ),
            (
                "delivery:\n  backoff_base_ms: 10\n  backoff_max_ms: 5",
                "delivery.backoff_base_ms: 10",
            ),
            (
                "delivery:\n  max_payload_bytes: 0",
                "delivery.max_payload_bytes",
            ),
            ("delivery:\n  workers: 0", "delivery.workers"),
            (
                "shutdown_timeout_ms: 0",
                "shutdown_timeout_ms: 0 is invalid",
            ),
            ("kafka:\n  group_id: ''", "kafka.group_id"),
            (
                "retention:\n  dead_secs: 0",
                "retention.dead_secs: 0 is invalid",
            ),
            ("retention:\n  interval_secs: 0", "retention.interval_secs"),
            ("retention:\n  keep: 1", "keep"),
            ("store_url: ''", "store_url"),
            (
                "twilio: {account_sid: AC1, auth_token: t, from: '+15005550006'}",
                "twilio.account_sid",
            ),
            ("twilio: {account_sid: AC1}", "auth_token"),
        ];
        for (yaml, want) in cases {
            let e = NotifierConfig::from_yaml(yaml).expect_err(yaml).to_string();
            assert!(e.contains(want), "{yaml:?}: {e}");
        }
    }

    #[test]
    fn debug_hides_the_store_password() {
        let cases = [
            (
                "postgres://lookout:hunter2@db:5432/lookout",
                "postgres://lookout:***@db:5432/lookout",
            ),
            (
                "postgres://lookout@db/lookout",
                "postgres://lookout@db/lookout",
            ),
            ("sqlite://lookout.db", "sqlite://lookout.db"),
            ("sqlite::memory:", "sqlite::memory:"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_password(url), want);
        }
        let c = NotifierConfig {
            store_url: cases[0].0.into(),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn env_overrides() {
        let env = |k: &str| match k {
            "LOOKOUT_STORE_URL" => Some("sqlite://env.db".to_string()),
            "LOOKOUT_KAFKA_BROKERS" => Some("b:1".to_string()),
            "LOOKOUT_DELIVERY_MAX_RETRIES" => Some("9".to_string()),
            _ => None,
        };
        let mut c = NotifierConfig::default();
        c.apply_env(env).expect("valid overrides");
        assert_eq!(
            (
                c.store_url.as_str(),
                c.kafka.brokers.as_str(),
                c.delivery.max_retries
            ),
            ("sqlite://env.db", "b:1", 9)
        );
        let e = c
            .apply_env(|k| (k == "LOOKOUT_DELIVERY_TIMEOUT_MS").then(|| "soon".to_string()))
            .expect_err("not a number");
        assert!(
            e.to_string().contains("LOOKOUT_DELIVERY_TIMEOUT_MS: soon"),
            "{e}"
        );
    }
}
