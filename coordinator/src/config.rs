//! The coordinator's configuration: YAML file (read by `lookout-runtime`: bounded, with
//! `${VAR}` expansion), then `LOOKOUT_*` environment overrides, then validation with errors
//! that name the offending field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lookout_bus::KafkaConfig;
use serde::Deserialize;

pub use lookout_proto::Secret;

/// Coordinator settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// Address of the gRPC server (admin API, agent gateway, health).
    #[serde(default = "default_grpc_addr")]
    pub grpc_addr: SocketAddr,
    /// Address of the REST API (`/api/v1`); no REST API when unset.
    #[serde(default)]
    pub rest_addr: Option<SocketAddr>,
    /// Regions agents may connect from and monitors may run in.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Bearer tokens of the `default` project (tokens of other projects are created through
    /// the API and kept hashed in the store).
    #[serde(default)]
    pub project_tokens: Vec<Secret>,
    /// Bearer tokens that create, list and delete projects and manage any project's tokens.
    #[serde(default)]
    pub operator_tokens: Vec<Secret>,
    /// Bearer token of each agent and the one region it may connect from, by agent id.
    #[serde(default)]
    pub agent_tokens: BTreeMap<String, AgentToken>,
    /// How often agents send heartbeats; an agent silent for three intervals is dropped.
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u32,
    /// `sqlite://path.db` (created when missing) or `sqlite::memory:`.
    #[serde(default = "default_store_url")]
    pub store_url: String,
    /// Kafka brokers and the results topic.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// On shutdown, how long agent sessions may take to publish and acknowledge the result
    /// batches already accepted before they are closed.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u32,
    /// Serve the gRPC port over TLS (admin API and agent gateway alike).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// File of the keys secrets are sealed with at rest, `id:base64-32-bytes` a line, the
    /// current key first; `LOOKOUT_SECRET_KEY` (same entries, comma-separated) wins over it.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// A production deployment (the default): creating an SMS integration needs the code
    /// sent to its number. `false` (development, tests) skips that check, as Uptinio's
    /// document describes for non-production environments.
    #[serde(default = "default_production")]
    pub production: bool,
    /// The Twilio account verification codes are sent with (the notifier sends alerts with
    /// its own `twilio`, usually the same). No SMS verification without it.
    #[serde(default)]
    pub twilio: Option<lookout_render::sms::TwilioConfig>,
    /// The Slack app: its OAuth client, signing secret and public URL. No Slack app
    /// integrations without it.
    #[serde(default)]
    pub slack_app: Option<crate::slack_app::SlackAppConfig>,
    /// Whether integrations may name servers at loopback, private and link-local addresses
    /// (SSH restart servers, email integrations' own SMTP servers). Off: whoever can create
    /// an integration could otherwise make Lookout connect to internal services.
    #[serde(default)]
    pub allow_private_destinations: bool,
    /// Lookout as a Telex interval integration (`GET /integration.json`, `POST /tick` on the
    /// REST port); off by default.
    #[serde(default)]
    pub telex: TelexConfig,
    /// The URL agents reach this replica's gRPC port at (`http://10.0.3.7:7400`): written to
    /// the store while it leads, and sent by the other replicas to agents that connect to
    /// them. Default: `http://` (or `https://` with `tls`) and `grpc_addr`.
    #[serde(default)]
    pub advertise_url: Option<String>,
    /// This replica's name in the leader record and the logs (a pod name); default:
    /// `advertise_url`.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Leadership among replicas on PostgreSQL: the leader checks its lock every third of
    /// this and stops leading when no check succeeded for this long; a replica that takes
    /// the lock waits this long before it leads, so the two never act at once.
    #[serde(default = "default_leader_lease_ms")]
    pub leader_lease_ms: u32,
}

fn default_leader_lease_ms() -> u32 {
    3_000
}

/// Bounds of `leader_lease_ms`.
const LEADER_LEASE_MS: std::ops::RangeInclusive<u32> = 300..=60_000;

/// Most `site-N` settings the Telex integration declares, and so sites one tick checks.
pub const MAX_TELEX_SITES: u32 = 20;
/// Bytes of `telex.tick_key` at most.
const MAX_TICK_KEY_BYTES: usize = 256;

/// The Telex interval integration (docs/telex.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelexConfig {
    /// Serve `/integration.json` and `/tick`; both answer 404 while off.
    #[serde(default)]
    pub enabled: bool,
    /// The deployment's public base URL as Telex reaches the REST port
    /// (`https://lookout.example.org`); `app_url` and `tick_url` are built from it. Required
    /// when enabled.
    #[serde(default)]
    pub public_url: String,
    /// A shared secret: when set, `/tick` and `/integration.json` need it (`?key=`, which the
    /// advertised `tick_url` carries, or `Authorization: Bearer`).
    #[serde(default)]
    pub tick_key: Option<Secret>,
    /// The region whose agents run the checks; none: the first of `regions` with an agent
    /// connected.
    #[serde(default)]
    pub region: Option<String>,
    /// How many `site-N` settings `/integration.json` declares (`site-1` required, the others
    /// optional), 1..=20.
    #[serde(default = "default_telex_sites")]
    pub sites: u32,
}

fn default_telex_sites() -> u32 {
    2
}

impl Default for TelexConfig {
    fn default() -> TelexConfig {
        TelexConfig {
            enabled: false,
            public_url: String::new(),
            tick_key: None,
            region: None,
            sites: default_telex_sites(),
        }
    }
}

impl TelexConfig {
    /// Refuses settings the integration cannot run with; `regions` are the coordinator's.
    pub fn validate(&self, regions: &[String]) -> Result<(), ConfigError> {
        if let Some(key) = &self.tick_key {
            let k = key.expose();
            if k.is_empty() || k.len() > MAX_TICK_KEY_BYTES {
                return Err(invalid(
                    "telex.tick_key",
                    format!("must be 1..={MAX_TICK_KEY_BYTES} bytes"),
                ));
            }
            if k.bytes().any(|b| !b.is_ascii_graphic()) {
                return Err(invalid(
                    "telex.tick_key",
                    "must be printable ASCII without spaces",
                ));
            }
        }
        if let Some(r) = &self.region
            && !regions.contains(r)
        {
            return Err(invalid(
                "telex.region",
                format!("{r:?} is not one of regions ({})", regions.join(", ")),
            ));
        }
        if !(1..=MAX_TELEX_SITES).contains(&self.sites) {
            return Err(invalid(
                "telex.sites",
                format!("{} is invalid, must be 1..={MAX_TELEX_SITES}", self.sites),
            ));
        }
        if self.enabled || !self.public_url.is_empty() {
            self.base_url()?;
        }
        Ok(())
    }

    /// `public_url` without a trailing `/`: an absolute http(s) URL without query or fragment.
    pub fn base_url(&self) -> Result<url::Url, ConfigError> {
        let field = "telex.public_url";
        if self.public_url.trim().is_empty() {
            return Err(invalid(
                field,
                "is required with telex.enabled: the base URL Telex reaches this REST port at",
            ));
        }
        let url = lookout_proto::validate::http_url(field, self.public_url.trim())
            .map_err(|e| invalid(e.field, e.reason))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(field, "must have no query or fragment"));
        }
        let mut url = url;
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        Ok(url)
    }
}

fn default_production() -> bool {
    true
}

/// Certificate files for the gRPC port; read at start-up.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate.
    pub key_file: PathBuf,
    /// PEM CA certificates; when set, every client (agents and the CLI) must present a
    /// certificate signed by one of them (mTLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// One agent's credentials: its token is accepted only from `region`, so a leaked token of one
/// region cannot report results for another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentToken {
    pub region: String,
    pub token: Secret,
}

fn default_shutdown_timeout_ms() -> u32 {
    10_000
}

/// Upper bound of `shutdown_timeout_ms`.
const MAX_SHUTDOWN_TIMEOUT_MS: u32 = 600_000;

fn default_grpc_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}

fn default_heartbeat_interval_ms() -> u32 {
    5_000
}

fn default_store_url() -> String {
    "sqlite://lookout.db".into()
}

/// A configuration that cannot be used; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    File(#[from] lookout_runtime::ConfigFileError),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

/// A `true`/`false` (or `1`/`0`) environment value.
fn env_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(name, format!("{v:?} must be true or false"))),
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

const MIN_HEARTBEAT_MS: u32 = 50;

impl CoordinatorConfig {
    /// Parses YAML text (unknown keys are refused, `${VAR}` expanded); call
    /// [`apply_env`](Self::apply_env) and [`validate`](Self::validate) afterwards.
    pub fn from_yaml(text: &str) -> Result<CoordinatorConfig, ConfigError> {
        Ok(lookout_runtime::parse(text, "text", &|k| {
            std::env::var(k).ok()
        })?)
    }

    /// What the binary runs with: the file at `path` (or the defaults), then the `LOOKOUT_*`
    /// environment, validated.
    pub fn load(path: Option<&Path>) -> Result<CoordinatorConfig, ConfigError> {
        let mut config = match path {
            Some(p) => lookout_runtime::load(p)?,
            None => CoordinatorConfig::from_yaml("{}")?,
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `LOOKOUT_*` overrides read through `var` (`std::env::var` in main):
    /// `LOOKOUT_GRPC_ADDR`, `LOOKOUT_REST_ADDR` (empty: no REST API), `LOOKOUT_REGIONS`
    /// (comma-separated), `LOOKOUT_PROJECT_TOKENS`
    /// (comma-separated), `LOOKOUT_AGENT_TOKENS` (`id@region=token,...`),
    /// `LOOKOUT_HEARTBEAT_INTERVAL_MS`, `LOOKOUT_SHUTDOWN_TIMEOUT_MS`, `LOOKOUT_STORE_URL`,
    /// `LOOKOUT_KAFKA_BROKERS`, `LOOKOUT_KAFKA_TOPIC`, `LOOKOUT_KAFKA_PARTITIONS`,
    /// `LOOKOUT_TLS_CERT_FILE`, `LOOKOUT_TLS_KEY_FILE`, `LOOKOUT_TLS_CLIENT_CA_FILE`,
    /// `LOOKOUT_SECRET_KEY_FILE`, `LOOKOUT_PRODUCTION` and
    /// `LOOKOUT_ALLOW_PRIVATE_DESTINATIONS` (`true`/`false`). (`LOOKOUT_SECRET_KEY` itself is
    /// read when the store opens.)
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("LOOKOUT_GRPC_ADDR") {
            self.grpc_addr = v.parse().map_err(|e| {
                invalid("LOOKOUT_GRPC_ADDR", format!("{v:?} is not host:port: {e}"))
            })?;
        }
        if let Some(v) = var("LOOKOUT_REST_ADDR") {
            self.rest_addr = match v.trim() {
                "" => None,
                addr => Some(addr.parse().map_err(|e| {
                    invalid("LOOKOUT_REST_ADDR", format!("{v:?} is not host:port: {e}"))
                })?),
            };
        }
        if let Some(v) = var("LOOKOUT_REGIONS") {
            self.regions = list(&v).map(str::to_string).collect();
        }
        if let Some(v) = var("LOOKOUT_PROJECT_TOKENS") {
            self.project_tokens = list(&v).map(Secret::new).collect();
        }
        if let Some(v) = var("LOOKOUT_OPERATOR_TOKENS") {
            self.operator_tokens = list(&v).map(Secret::new).collect();
        }
        if let Some(v) = var("LOOKOUT_AGENT_TOKENS") {
            let mut tokens = BTreeMap::new();
            for pair in list(&v) {
                // Agent ids and regions are slugs, so neither holds `@` or `=`; the token may.
                let parsed = pair.split_once('=').and_then(|(who, token)| {
                    let (id, region) = who.split_once('@')?;
                    Some((id.trim(), region.trim(), token.trim()))
                });
                let (id, region, token) = parsed.ok_or_else(|| {
                    invalid(
                        "LOOKOUT_AGENT_TOKENS",
                        "must be a comma-separated list of agent_id@region=token",
                    )
                })?;
                let entry = AgentToken {
                    region: region.to_string(),
                    token: Secret::new(token),
                };
                tokens.insert(id.to_string(), entry);
            }
            self.agent_tokens = tokens;
        }
        if let Some(v) = var("LOOKOUT_HEARTBEAT_INTERVAL_MS") {
            self.heartbeat_interval_ms = v.parse().map_err(|_| {
                invalid(
                    "LOOKOUT_HEARTBEAT_INTERVAL_MS",
                    format!("{v:?} is not a number"),
                )
            })?;
        }
        if let Some(v) = var("LOOKOUT_SHUTDOWN_TIMEOUT_MS") {
            self.shutdown_timeout_ms = v.parse().map_err(|_| {
                invalid(
                    "LOOKOUT_SHUTDOWN_TIMEOUT_MS",
                    format!("{v:?} is not a number"),
                )
            })?;
        }
        if let Some(v) = var("LOOKOUT_STORE_URL") {
            self.store_url = v;
        }
        if let Some(v) = var("LOOKOUT_KAFKA_BROKERS") {
            self.kafka.brokers = v;
        }
        if let Some(v) = var("LOOKOUT_KAFKA_TOPIC") {
            self.kafka.topic = v;
        }
        if let Some(v) = var("LOOKOUT_KAFKA_PARTITIONS") {
            self.kafka.partitions = v.parse().map_err(|_| {
                invalid("LOOKOUT_KAFKA_PARTITIONS", format!("{v:?} is not a number"))
            })?;
        }
        let cert = var("LOOKOUT_TLS_CERT_FILE").map(PathBuf::from);
        let key = var("LOOKOUT_TLS_KEY_FILE").map(PathBuf::from);
        if cert.is_some() || key.is_some() {
            let current = self.tls.take();
            let cert_file = cert.or_else(|| current.as_ref().map(|t| t.cert_file.clone()));
            let key_file = key.or_else(|| current.as_ref().map(|t| t.key_file.clone()));
            let (cert_file, key_file) = match (cert_file, key_file) {
                (Some(c), Some(k)) => (c, k),
                (None, _) => return Err(invalid("LOOKOUT_TLS_CERT_FILE", "must be set too")),
                (_, None) => return Err(invalid("LOOKOUT_TLS_KEY_FILE", "must be set too")),
            };
            self.tls = Some(TlsConfig {
                cert_file,
                key_file,
                client_ca_file: current.and_then(|t| t.client_ca_file),
            });
        }
        if let Some(v) = var("LOOKOUT_SECRET_KEY_FILE") {
            self.secret_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LOOKOUT_PRODUCTION") {
            self.production = env_bool("LOOKOUT_PRODUCTION", &v)?;
        }
        if let Some(v) = var("LOOKOUT_ALLOW_PRIVATE_DESTINATIONS") {
            self.allow_private_destinations = env_bool("LOOKOUT_ALLOW_PRIVATE_DESTINATIONS", &v)?;
        }
        if let Some(v) = var("LOOKOUT_ADVERTISE_URL") {
            self.advertise_url = Some(v.trim().to_string()).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("LOOKOUT_INSTANCE_ID") {
            self.instance_id = Some(v.trim().to_string()).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("LOOKOUT_LEADER_LEASE_MS") {
            self.leader_lease_ms = v.parse().map_err(|_| {
                invalid("LOOKOUT_LEADER_LEASE_MS", format!("{v:?} is not a number"))
            })?;
        }
        if let Some(v) = var("LOOKOUT_TLS_CLIENT_CA_FILE") {
            let tls = self.tls.as_mut().ok_or_else(|| {
                invalid(
                    "LOOKOUT_TLS_CLIENT_CA_FILE",
                    "needs tls.cert_file and tls.key_file",
                )
            })?;
            tls.client_ca_file = Some(PathBuf::from(v));
        }
        Ok(())
    }

    /// Refuses settings the coordinator cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.regions.is_empty() {
            return Err(invalid("regions", "must name at least one region"));
        }
        for (i, r) in self.regions.iter().enumerate() {
            if !is_slug(r, 64) {
                return Err(invalid(
                    format!("regions[{i}]"),
                    format!("{r:?} must be 1-64 of [a-z0-9_-]"),
                ));
            }
        }
        if self.project_tokens.is_empty() && self.operator_tokens.is_empty() {
            return Err(invalid(
                "project_tokens",
                "must hold at least one token for the admin API (or set operator_tokens)",
            ));
        }
        for (field, tokens) in [
            ("project_tokens", &self.project_tokens),
            ("operator_tokens", &self.operator_tokens),
        ] {
            if let Some(i) = tokens.iter().position(|t| t.expose().is_empty()) {
                return Err(invalid(format!("{field}[{i}]"), "must not be empty"));
            }
        }
        if let Some(i) = self
            .operator_tokens
            .iter()
            .position(|o| self.project_tokens.iter().any(|p| p.expose() == o.expose()))
        {
            return Err(invalid(
                format!("operator_tokens[{i}]"),
                "is also a project token; use different tokens",
            ));
        }
        for (id, entry) in &self.agent_tokens {
            if !is_slug(id, 64) {
                return Err(invalid(
                    format!("agent_tokens.{id}"),
                    "agent id must be 1-64 of [a-z0-9_-]",
                ));
            }
            if entry.token.expose().is_empty() {
                return Err(invalid(
                    format!("agent_tokens.{id}.token"),
                    "must not be empty",
                ));
            }
            if !self.regions.contains(&entry.region) {
                return Err(invalid(
                    format!("agent_tokens.{id}.region"),
                    format!(
                        "{:?} is not one of regions ({})",
                        entry.region,
                        self.regions.join(", ")
                    ),
                ));
            }
        }
        if !(1..=MAX_SHUTDOWN_TIMEOUT_MS).contains(&self.shutdown_timeout_ms) {
            return Err(invalid(
                "shutdown_timeout_ms",
                format!(
                    "{} is invalid, must be 1..={MAX_SHUTDOWN_TIMEOUT_MS}",
                    self.shutdown_timeout_ms
                ),
            ));
        }
        if self.heartbeat_interval_ms < MIN_HEARTBEAT_MS {
            return Err(invalid(
                "heartbeat_interval_ms",
                format!(
                    "{} is too small, must be at least {MIN_HEARTBEAT_MS}",
                    self.heartbeat_interval_ms
                ),
            ));
        }
        if self.store_url.is_empty() {
            return Err(invalid("store_url", "must not be empty"));
        }
        if self.rest_addr == Some(self.grpc_addr) && self.grpc_addr.port() != 0 {
            return Err(invalid(
                "rest_addr",
                format!(
                    "{} is grpc_addr too; give the REST API its own port",
                    self.grpc_addr
                ),
            ));
        }
        if let Some(tls) = &self.tls {
            let files = [
                ("tls.cert_file", Some(&tls.cert_file)),
                ("tls.key_file", Some(&tls.key_file)),
                ("tls.client_ca_file", tls.client_ca_file.as_ref()),
            ];
            for (field, path) in files {
                if path.is_some_and(|p| p.as_os_str().is_empty()) {
                    return Err(invalid(field, "must name a PEM file"));
                }
            }
        }
        if let Some(t) = &self.twilio {
            t.validate("twilio")
                .map_err(|e| invalid(e.field, e.reason))?;
        }
        if let Some(s) = &self.slack_app {
            s.validate()?;
        }
        self.telex.validate(&self.regions)?;
        if let Some(url) = &self.advertise_url {
            let parsed = lookout_proto::validate::http_url("advertise_url", url)
                .map_err(|e| invalid(e.field, e.reason))?;
            if parsed.path() != "/" || parsed.query().is_some() {
                return Err(invalid(
                    "advertise_url",
                    "must be a scheme, host and port only (http://10.0.3.7:7400)",
                ));
            }
        }
        if let Some(id) = &self.instance_id
            && (id.is_empty() || id.len() > 253 || id.chars().any(char::is_control))
        {
            return Err(invalid(
                "instance_id",
                "must be 1-253 characters without control characters",
            ));
        }
        if !LEADER_LEASE_MS.contains(&self.leader_lease_ms) {
            return Err(invalid(
                "leader_lease_ms",
                format!(
                    "{} is invalid, must be {}..={}",
                    self.leader_lease_ms,
                    LEADER_LEASE_MS.start(),
                    LEADER_LEASE_MS.end()
                ),
            ));
        }
        Ok(())
    }

    /// [`advertise_url`](Self::advertise_url), or the URL of `grpc_addr`.
    pub fn advertised(&self) -> String {
        match &self.advertise_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.grpc_addr)
            }
        }
    }

    /// [`instance_id`](Self::instance_id), or the advertised URL.
    pub fn instance(&self) -> String {
        self.instance_id
            .clone()
            .unwrap_or_else(|| self.advertised())
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// True for 1..=`max` characters of `[a-z0-9_-]`: the shape of ids, regions and agent ids.
pub fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "
regions: [eu, us]
project_tokens: [p1]
agent_tokens: {agent-eu: {region: eu, token: a1}}
kafka: {brokers: '127.0.0.1:9092'}
";

    #[test]
    fn parses_with_defaults() {
        let c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.grpc_addr.to_string(), "127.0.0.1:7400");
        assert_eq!(c.heartbeat_interval_ms, 5000);
        assert_eq!(c.store_url, "sqlite://lookout.db");
        assert_eq!(c.agent_tokens["agent-eu"].token.expose(), "a1");
        assert_eq!(c.agent_tokens["agent-eu"].region, "eu");
        assert_eq!(c.shutdown_timeout_ms, 10_000);
        assert_eq!(c.rest_addr, None, "no REST API unless asked for");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("p1") && !printed.contains("a1"),
            "{printed}"
        );
        assert!(printed.contains("***"));
    }

    #[test]
    fn operator_tokens_alone_are_enough() {
        let c =
            CoordinatorConfig::from_yaml("regions: [eu]\noperator_tokens: [op]").expect("parse");
        c.validate()
            .expect("an operator token alone is a valid admin setup");
    }

    #[test]
    fn refuses_unknown_fields() {
        let e = CoordinatorConfig::from_yaml("regionz: [eu]").expect_err("unknown field");
        assert!(e.to_string().contains("regionz"), "{e}");
    }

    #[test]
    fn env_overrides() {
        let mut c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        let env = |k: &str| match k {
            "LOOKOUT_GRPC_ADDR" => Some("0.0.0.0:9000".to_string()),
            "LOOKOUT_REGIONS" => Some("ap, sa".to_string()),
            "LOOKOUT_AGENT_TOKENS" => Some("x@ap=1,y@sa=2=3".to_string()),
            "LOOKOUT_KAFKA_TOPIC" => Some("t".to_string()),
            "LOOKOUT_SECRET_KEY_FILE" => Some("/run/keys/lookout".to_string()),
            "LOOKOUT_OPERATOR_TOKENS" => Some("op1, op2".to_string()),
            "LOOKOUT_REST_ADDR" => Some("127.0.0.1:7401".to_string()),
            _ => None,
        };
        c.apply_env(env).expect("env");
        let operators: Vec<&str> = c.operator_tokens.iter().map(Secret::expose).collect();
        assert_eq!(operators, ["op1", "op2"]);
        assert_eq!(c.grpc_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(
            c.rest_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:7401")
        );
        let off = |k: &str| (k == "LOOKOUT_REST_ADDR").then(String::new);
        let mut without = c.clone();
        without.apply_env(off).expect("empty turns it off");
        assert_eq!(without.rest_addr, None);
        assert_eq!(c.regions, ["ap", "sa"]);
        assert_eq!(c.agent_tokens.len(), 2);
        assert_eq!(c.agent_tokens["x"].region, "ap");
        assert_eq!(c.agent_tokens["y"].token.expose(), "2=3");
        assert_eq!(
            c.secret_key_file.as_deref(),
            Some(Path::new("/run/keys/lookout"))
        );
        c.validate().expect("env config is valid");
        let no_region = |k: &str| (k == "LOOKOUT_AGENT_TOKENS").then(|| "x=1".to_string());
        let e = c.apply_env(no_region).expect_err("token without a region");
        assert!(e.to_string().contains("agent_id@region=token"), "{e}");
        assert_eq!(c.kafka.topic, "t");
        let bad = |k: &str| (k == "LOOKOUT_HEARTBEAT_INTERVAL_MS").then(|| "soon".to_string());
        let e = c.apply_env(bad).expect_err("bad number");
        assert!(
            e.to_string().starts_with("LOOKOUT_HEARTBEAT_INTERVAL_MS"),
            "{e}"
        );
    }

    #[test]
    fn tls_from_the_file_or_the_environment() {
        let c = CoordinatorConfig::from_yaml(
            "regions: [eu]\nproject_tokens: [p]\ntls: {cert_file: c.pem, key_file: k.pem}",
        )
        .expect("parse");
        c.validate().expect("valid");
        let tls = c.tls.as_ref().expect("tls set");
        assert_eq!(
            (tls.cert_file.to_str(), tls.key_file.to_str()),
            (Some("c.pem"), Some("k.pem"))
        );
        assert!(tls.client_ca_file.is_none());

        let mut c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        let env = |k: &str| match k {
            "LOOKOUT_TLS_CERT_FILE" => Some("/tls/c.pem".to_string()),
            "LOOKOUT_TLS_KEY_FILE" => Some("/tls/k.pem".to_string()),
            "LOOKOUT_TLS_CLIENT_CA_FILE" => Some("/tls/ca.pem".to_string()),
            _ => None,
        };
        c.apply_env(env).expect("env");
        let tls = c.tls.expect("tls from env");
        assert_eq!(
            tls.client_ca_file.as_deref(),
            Some(Path::new("/tls/ca.pem"))
        );

        let mut c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        let half = |k: &str| (k == "LOOKOUT_TLS_CERT_FILE").then(|| "c.pem".to_string());
        let e = c.apply_env(half).expect_err("a key is needed too");
        assert!(e.to_string().starts_with("LOOKOUT_TLS_KEY_FILE"), "{e}");
        let e = CoordinatorConfig::from_yaml("tls: {cert_file: c.pem}").expect_err("key missing");
        assert!(e.to_string().contains("key_file"), "{e}");
    }

    #[test]
    fn twilio_and_slack_settings() {
        let yaml = format!(
            "{YAML}production: false\ntwilio: {{account_sid: AC{}, auth_token: t, from: '+15005550006'}}\n\
             slack_app: {{client_id: '1.2', client_secret: c, signing_secret: s, \
             public_url: 'https://lookout.example.com'}}\n",
            "0".repeat(32)
        );
        let c = CoordinatorConfig::from_yaml(&yaml).expect("parse");
        c.validate().expect("valid");
        assert!(!c.production);
        let printed = format!("{c:?}");
        assert!(printed.contains("auth_token: ***"), "{printed}");
        let slack = c.slack_app.expect("slack_app");
        assert_eq!(slack.api_url, "https://slack.com/api");
        assert!(
            CoordinatorConfig::from_yaml(YAML)
                .expect("parse")
                .production
        );
        let bad = format!("{YAML}twilio: {{account_sid: AC1, auth_token: t, from: x}}\n");
        let e = CoordinatorConfig::from_yaml(&bad)
            .expect("parse")
            .validate()
            .expect_err("bad sid");
        assert!(e.to_string().starts_with("twilio.account_sid"), "{e}");
    }

    #[test]
    fn telex_settings() {
        let c = CoordinatorConfig::from_yaml(YAML).expect("parse");
        assert!(!c.telex.enabled, "off unless asked for");
        assert_eq!(c.telex.sites, 2);
        let on = format!(
            "{YAML}telex: {{enabled: true, public_url: 'https://lookout.example.org/base/', \
             tick_key: s3cret, region: us, sites: 5}}\n"
        );
        let c = CoordinatorConfig::from_yaml(&on).expect("parse");
        c.validate().expect("valid");
        assert_eq!(
            c.telex.base_url().expect("url").as_str(),
            "https://lookout.example.org/base"
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        for (telex, field) in [
            ("{enabled: true}", "telex.public_url"),
            ("{enabled: true, public_url: 'ftp://x'}", "telex.public_url"),
            (
                "{enabled: true, public_url: 'https://x/?a=b'}",
                "telex.public_url",
            ),
            ("{tick_key: ''}", "telex.tick_key"),
            ("{tick_key: 'a b'}", "telex.tick_key"),
            ("{region: mars}", "telex.region"),
            ("{sites: 0}", "telex.sites"),
            ("{sites: 21}", "telex.sites"),
        ] {
            let e = CoordinatorConfig::from_yaml(&format!("{YAML}telex: {telex}\n"))
                .expect("parse")
                .validate()
                .expect_err(field);
            assert!(e.to_string().starts_with(field), "{field}: {e}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            ("regions: []\nproject_tokens: [p]", "regions"),
            ("regions: [EU]\nproject_tokens: [p]", "regions[0]"),
            ("regions: [eu]", "project_tokens"),
            (
                "regions: [eu]\nproject_tokens: [p]\nheartbeat_interval_ms: 0",
                "heartbeat_interval_ms",
            ),
            (
                "regions: [eu]\nproject_tokens: [p]\nagent_tokens: {a: {region: eu, token: ''}}",
                "agent_tokens.a.token",
            ),
            (
                "regions: [eu]\nproject_tokens: [p]\nagent_tokens: {a: {region: us, token: t}}",
                "agent_tokens.a.region",
            ),
            (
                "regions: [eu]\nproject_tokens: [p]\nshutdown_timeout_ms: 0",
                "shutdown_timeout_ms",
            ),
            (
                "regions: [eu]\noperator_tokens: [o, '']",
                "operator_tokens[1]",
            ),
            (
                "regions: [eu]\nproject_tokens: [p, o]\noperator_tokens: [o]",
                "operator_tokens[0]",
            ),
            (
                "regions: [eu]\nproject_tokens: [p]\ngrpc_addr: 127.0.0.1:7400\nrest_addr: 127.0.0.1:7400",
                "rest_addr",
            ),
        ];
        for (yaml, field) in cases {
            let e = CoordinatorConfig::from_yaml(yaml)
                .expect("parse")
                .validate()
                .expect_err(field);
            assert!(e.to_string().starts_with(field), "{field}: {e}");
        }
    }
}
