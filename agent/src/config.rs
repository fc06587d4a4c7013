//! Agent configuration: YAML file (read by `lookout-runtime`: bounded, with `${VAR}`
//! expansion) and/or `LOOKOUT_*` environment, validated once at start.

use std::path::{Path, PathBuf};

use lookout_proto::bounds::MAX_GATEWAY_MESSAGE_BYTES;
use serde::Deserialize;

/// Errors found while loading or validating the agent configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    File(#[from] lookout_runtime::ConfigFileError),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

pub use lookout_proto::Secret;

/// Everything the agent needs to run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Coordinator agent-gateway address (`http://host:port`, or `https://` for TLS).
    #[serde(default = "default_coordinator_url")]
    pub coordinator_url: String,
    /// Further coordinator replicas (same scheme as `coordinator_url`): the agent tries the
    /// addresses in turn, and goes straight to the one a replica that does not lead names as
    /// the leader. Not needed behind one Service address that routes to the leader.
    #[serde(default)]
    pub coordinator_urls: Vec<String>,
    /// Unique name of this agent.
    pub agent_id: String,
    /// Region the agent checks from.
    pub region: String,
    /// Agent token, sent as `authorization: Bearer <token>`.
    pub token: Secret,
    /// Relative assignment weight.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// Checks running at the same time, at most.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Unacknowledged results kept for resending; the oldest are dropped beyond this.
    #[serde(default = "default_buffer_max_results")]
    pub buffer_max_results: usize,
    /// Unacknowledged results scheduled longer ago than this are dropped (counted, logged):
    /// past it they only tell history, and a long outage must not fill the buffer with it.
    #[serde(default = "default_buffer_max_age_secs")]
    pub buffer_max_age_secs: u64,
    /// Results per batch, at most.
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    /// How long a result may wait for more to fill its batch.
    #[serde(default = "default_batch_linger_ms")]
    pub batch_linger_ms: u64,
    /// Encoded bytes per batch, at most (a single larger result travels alone); well under
    /// the gateway's 4 MiB message limit.
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// On shutdown, how long to keep sending buffered results and waiting for their
    /// acknowledgements before exiting.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
    /// On shutdown while connected, how long to keep checking while the coordinator hands
    /// this agent's monitors to the region's other agents (a drain), before stopping the
    /// checks; 0 stops them at once. The coordinator usually answers within a heartbeat.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// After the coordinator refused this agent (UNAUTHENTICATED, PERMISSION_DENIED: a wrong,
    /// rotated or revoked token), how long to wait before trying again (jittered: half to all
    /// of it). The agent keeps checking and buffering meanwhile.
    #[serde(default = "default_refused_retry_secs")]
    pub refused_retry_secs: u64,
    /// PEM file with extra root certificates trusted for an `https://` coordinator (a private
    /// CA); the system roots stay trusted.
    #[serde(default)]
    pub coordinator_ca_file: Option<PathBuf>,
    /// Lets checks connect to loopback, private and link-local addresses (off: a cluster agent
    /// checks the internet for whoever can create monitors, and must not probe its own
    /// network or a cloud metadata endpoint for them). Standalone turns it on.
    #[serde(default)]
    pub allow_private_targets: bool,
    /// Closes the connections of TCP and HTTP checks with a reset instead of a FIN, so no
    /// TIME_WAIT socket stays behind for 60 s per check. For agents that check one host and
    /// port many times a second (many monitors behind one load balancer): TIME_WAIT holds the
    /// local ports to one destination, and connects then slow down or fail. Servers see a
    /// reset instead of an orderly close, which some log. Off by default.
    #[serde(default)]
    pub close_with_reset: bool,
    /// PEM certificate this agent presents to a coordinator that requires client
    /// certificates (mTLS); set together with `coordinator_client_key_file`.
    #[serde(default)]
    pub coordinator_client_cert_file: Option<PathBuf>,
    /// PEM private key of `coordinator_client_cert_file`.
    #[serde(default)]
    pub coordinator_client_key_file: Option<PathBuf>,
}

pub const DEFAULT_COORDINATOR_URL: &str = "http://127.0.0.1:7400";

fn default_coordinator_url() -> String {
    DEFAULT_COORDINATOR_URL.to_string()
}
fn default_capacity() -> u32 {
    1
}
fn default_max_concurrency() -> usize {
    1000
}
fn default_buffer_max_results() -> usize {
    100_000
}
fn default_batch_max() -> usize {
    500
}
fn default_batch_linger_ms() -> u64 {
    200
}
fn default_batch_max_bytes() -> usize {
    1024 * 1024
}
fn default_shutdown_timeout_ms() -> u64 {
    10_000
}
fn default_refused_retry_secs() -> u64 {
    60
}
fn default_buffer_max_age_secs() -> u64 {
    6 * 3600
}
fn default_drain_timeout_ms() -> u64 {
    10_000
}

/// Most entries of `coordinator_urls`.
const MAX_COORDINATOR_URLS: usize = 16;

/// Smallest `batch_max_bytes`: room for one bounded result.
const MIN_BATCH_BYTES: usize = 4 * 1024;
/// Largest `batch_max_bytes`: half the gateway limit, leaving room for a single large result.
const MAX_BATCH_BYTES: usize = MAX_GATEWAY_MESSAGE_BYTES / 2;

impl AgentConfig {
    /// A configuration with every tunable at its default.
    pub fn new(
        agent_id: impl Into<String>,
        region: impl Into<String>,
        token: Secret,
    ) -> AgentConfig {
        AgentConfig {
            coordinator_url: default_coordinator_url(),
            coordinator_urls: Vec::new(),
            agent_id: agent_id.into(),
            region: region.into(),
            token,
            capacity: default_capacity(),
            max_concurrency: default_max_concurrency(),
            buffer_max_results: default_buffer_max_results(),
            buffer_max_age_secs: default_buffer_max_age_secs(),
            batch_max: default_batch_max(),
            batch_linger_ms: default_batch_linger_ms(),
            batch_max_bytes: default_batch_max_bytes(),
            shutdown_timeout_ms: default_shutdown_timeout_ms(),
            drain_timeout_ms: default_drain_timeout_ms(),
            refused_retry_secs: default_refused_retry_secs(),
            coordinator_ca_file: None,
            allow_private_targets: false,
            close_with_reset: false,
            coordinator_client_cert_file: None,
            coordinator_client_key_file: None,
        }
    }

    /// Reads and validates a YAML file.
    pub fn from_yaml_file(path: &Path) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = lookout_runtime::load(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Every coordinator address, `coordinator_url` first, each once, without a trailing `/`.
    pub fn coordinator_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for url in std::iter::once(&self.coordinator_url).chain(&self.coordinator_urls) {
            let url = url.trim().trim_end_matches('/').to_string();
            if !out.contains(&url) {
                out.push(url);
            }
        }
        out
    }

    /// Checks every field once; `run` calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
        let https = self.coordinator_url.starts_with("https://");
        if !https && !self.coordinator_url.starts_with("http://") {
            return invalid(
                "coordinator_url",
                format!(
                    "{:?} is invalid, must start with http:// or https://",
                    self.coordinator_url
                ),
            );
        }
        if self.coordinator_urls.len() > MAX_COORDINATOR_URLS {
            return invalid(
                "coordinator_urls",
                format!(
                    "holds {} addresses, at most {MAX_COORDINATOR_URLS}",
                    self.coordinator_urls.len()
                ),
            );
        }
        for (i, url) in self.coordinator_urls.iter().enumerate() {
            let scheme = if https { "https://" } else { "http://" };
            if !url.starts_with(scheme) {
                return invalid(
                    "coordinator_urls",
                    format!(
                        "[{i}] {url:?} is invalid, must start with {scheme} like coordinator_url (one TLS setting serves them all)"
                    ),
                );
            }
        }
        if !https && self.coordinator_ca_file.is_some() {
            return invalid(
                "coordinator_ca_file",
                "is only used with an https:// coordinator_url".into(),
            );
        }
        match (
            &self.coordinator_client_cert_file,
            &self.coordinator_client_key_file,
        ) {
            (None, None) => {}
            (Some(_), None) => {
                return invalid(
                    "coordinator_client_key_file",
                    "must be set with coordinator_client_cert_file".into(),
                );
            }
            (None, Some(_)) => {
                return invalid(
                    "coordinator_client_cert_file",
                    "must be set with coordinator_client_key_file".into(),
                );
            }
            (Some(_), Some(_)) if !https => {
                return invalid(
                    "coordinator_client_cert_file",
                    "is only used with an https:// coordinator_url".into(),
                );
            }
            (Some(_), Some(_)) => {}
        }
        if self.agent_id.trim().is_empty() {
            return invalid("agent_id", "must not be empty".into());
        }
        if self.region.trim().is_empty() {
            return invalid("region", "must not be empty".into());
        }
        if self.token.expose().is_empty() {
            return invalid("token", "must not be empty".into());
        }
        // The coordinator refuses a Hello above 1000; say so before connecting.
        if !(1..=1_000).contains(&self.capacity) {
            return invalid(
                "capacity",
                format!("{} is invalid, must be 1..=1000", self.capacity),
            );
        }
        if !(1..=100_000).contains(&self.max_concurrency) {
            return invalid(
                "max_concurrency",
                format!("{} is invalid, must be 1..=100000", self.max_concurrency),
            );
        }
        if !(1..=10_000).contains(&self.batch_max) {
            return invalid(
                "batch_max",
                format!("{} is invalid, must be 1..=10000", self.batch_max),
            );
        }
        if self.buffer_max_results < self.batch_max {
            return invalid(
                "buffer_max_results",
                format!(
                    "{} is invalid, must be at least batch_max ({})",
                    self.buffer_max_results, self.batch_max
                ),
            );
        }
        if self.batch_linger_ms > 60_000 {
            return invalid(
                "batch_linger_ms",
                format!("{} is invalid, must be 0..=60000", self.batch_linger_ms),
            );
        }
        if !(MIN_BATCH_BYTES..=MAX_BATCH_BYTES).contains(&self.batch_max_bytes) {
            return invalid(
                "batch_max_bytes",
                format!(
                    "{} is invalid, must be {MIN_BATCH_BYTES}..={MAX_BATCH_BYTES}",
                    self.batch_max_bytes
                ),
            );
        }
        if !(1..=600_000).contains(&self.shutdown_timeout_ms) {
            return invalid(
                "shutdown_timeout_ms",
                format!(
                    "{} is invalid, must be 1..=600000",
                    self.shutdown_timeout_ms
                ),
            );
        }
        if !(60..=7 * 24 * 3600).contains(&self.buffer_max_age_secs) {
            return invalid(
                "buffer_max_age_secs",
                format!(
                    "{} is invalid, must be 60..=604800",
                    self.buffer_max_age_secs
                ),
            );
        }
        if self.drain_timeout_ms > 600_000 {
            return invalid(
                "drain_timeout_ms",
                format!("{} is invalid, must be 0..=600000", self.drain_timeout_ms),
            );
        }
        if !(1..=3_600).contains(&self.refused_retry_secs) {
            return invalid(
                "refused_retry_secs",
                format!("{} is invalid, must be 1..=3600", self.refused_retry_secs),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_with_defaults() {
        let c: AgentConfig = serde_yaml_ng::from_str("agent_id: a1\nregion: eu\ntoken: s3cret\n")
            .expect("valid yaml");
        assert_eq!(c.coordinator_url, DEFAULT_COORDINATOR_URL);
        assert_eq!(
            (c.capacity, c.max_concurrency, c.buffer_max_results),
            (1, 1000, 100_000)
        );
        assert_eq!((c.batch_max, c.batch_linger_ms), (500, 200));
        assert_eq!(
            (
                c.batch_max_bytes,
                c.shutdown_timeout_ms,
                c.refused_retry_secs
            ),
            (1024 * 1024, 10_000, 60)
        );
        c.validate().expect("valid config");
    }

    #[test]
    fn the_example_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agent.yaml");
        let c = AgentConfig::from_yaml_file(Path::new(path)).expect("example config is valid");
        assert_eq!(
            (c.agent_id.as_str(), c.region.as_str()),
            ("agent-eu-1", "eu")
        );
        assert_eq!(
            c,
            AgentConfig {
                token: Secret::new("change-me"),
                ..AgentConfig::new("agent-eu-1", "eu", Secret::default())
            }
        );
    }

    #[test]
    fn refuses_unknown_fields() {
        let r: Result<AgentConfig, _> =
            serde_yaml_ng::from_str("agent_id: a\nregion: eu\ntoken: t\nconcurrency: 3\n");
        assert!(r.is_err());
    }

    #[test]
    fn token_is_never_shown() {
        let c = AgentConfig::new("a", "eu", Secret::new("s3cret"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn refusals_name_the_field() {
        let base = AgentConfig::new("a", "eu", Secret::new("t"));
        let cases = [
            (
                AgentConfig {
                    coordinator_url: "127.0.0.1:7400".into(),
                    ..base.clone()
                },
                "coordinator_url",
            ),
            (
                AgentConfig {
                    coordinator_ca_file: Some("/etc/ca.pem".into()),
                    ..base.clone()
                },
                "coordinator_ca_file",
            ),
            (
                AgentConfig {
                    coordinator_url: "https://c:7400".into(),
                    coordinator_client_cert_file: Some("/etc/agent.pem".into()),
                    ..base.clone()
                },
                "coordinator_client_key_file",
            ),
            (
                AgentConfig {
                    coordinator_client_cert_file: Some("/etc/agent.pem".into()),
                    coordinator_client_key_file: Some("/etc/agent.key".into()),
                    ..base.clone()
                },
                "coordinator_client_cert_file",
            ),
            (
                AgentConfig {
                    agent_id: " ".into(),
                    ..base.clone()
                },
                "agent_id",
            ),
            (
                AgentConfig {
                    region: String::new(),
                    ..base.clone()
                },
                "region",
            ),
            (
                AgentConfig {
                    token: Secret::default(),
                    ..base.clone()
                },
                "token",
            ),
            (
                AgentConfig {
                    capacity: 0,
                    ..base.clone()
                },
                "capacity",
            ),
            (
                AgentConfig {
                    capacity: 1_001,
                    ..base.clone()
                },
                "capacity",
            ),
            (
                AgentConfig {
                    max_concurrency: 0,
                    ..base.clone()
                },
                "max_concurrency",
            ),
            (
                AgentConfig {
                    batch_max: 0,
                    ..base.clone()
                },
                "batch_max",
            ),
            (
                AgentConfig {
                    buffer_max_results: 10,
                    ..base.clone()
                },
                "buffer_max_results",
            ),
            (
                AgentConfig {
                    batch_linger_ms: 60_001,
                    ..base.clone()
                },
                "batch_linger_ms",
            ),
            (
                AgentConfig {
                    batch_max_bytes: 4 * 1024 * 1024,
                    ..base.clone()
                },
                "batch_max_bytes",
            ),
            (
                AgentConfig {
                    shutdown_timeout_ms: 0,
                    ..base.clone()
                },
                "shutdown_timeout_ms",
            ),
            (
                AgentConfig {
                    drain_timeout_ms: 600_001,
                    ..base.clone()
                },
                "drain_timeout_ms",
            ),
            (
                AgentConfig {
                    refused_retry_secs: 0,
                    ..base.clone()
                },
                "refused_retry_secs",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a refusal, got {other:?}"),
            }
        }
    }
}
