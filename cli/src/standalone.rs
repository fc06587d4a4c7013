//! `lookout standalone`: the coordinator, one agent and the notifier in one process, on a
//! SQLite file and the in-process bus. Monitors may be declared in the YAML file. SIGTERM or
//! Ctrl-C stops the parts in the order results flow, each finishing its in-flight work.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use lookout_bus::InProcBus;
use lookout_proto::Monitor;
use lookout_proto::v1::{Integration, Variable};
use lookout_runtime::shutdown;
use lookout_store::Store;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::view;

const AGENT_ID: &str = "standalone";

/// The standalone configuration file. Every field is optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandaloneConfig {
    /// SQLite database (created when missing).
    #[serde(default = "default_store_url")]
    pub store_url: String,
    /// Where the admin gRPC API (and the agent gateway) listen.
    #[serde(default = "default_grpc_addr")]
    pub grpc_addr: SocketAddr,
    /// Where the REST API (`/api/v1`) listens; `null` turns it off.
    #[serde(default = "default_rest_addr")]
    pub rest_addr: Option<SocketAddr>,
    /// The one region of the embedded agent.
    #[serde(default = "default_region")]
    pub region: String,
    /// Token of the `default` project for `lookout monitors ...`; LOOKOUT_TOKEN overrides it.
    #[serde(default)]
    pub project_token: Option<String>,
    /// Operator token for `lookout projects ...` (none: projects cannot be managed);
    /// LOOKOUT_OPERATOR_TOKEN overrides it.
    #[serde(default)]
    pub operator_token: Option<String>,
    /// Project variables for templates, set at start-up (`{name, value, secret}`).
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// Integrations created or updated at start-up, by id (the API's JSON shape).
    #[serde(default)]
    pub integrations: Vec<Integration>,
    /// Monitors created or updated at start-up, by id (the API's JSON shape); they attach
    /// integrations by id.
    #[serde(default)]
    pub monitors: Vec<Monitor>,
    /// Let webhooks, SSH restart servers and email integrations' own SMTP servers be loopback
    /// and private addresses (a receiver on this machine or LAN).
    #[serde(default)]
    pub allow_private_webhooks: bool,
    /// The SMTP server and sender of email integrations and verification mails (the
    /// notifier's `email`).
    #[serde(default)]
    pub email: lookout_notifier::EmailConfig,
    /// Let checks reach loopback and private addresses: on, because a laptop running
    /// standalone usually watches its own services.
    #[serde(default = "default_allow_private_targets")]
    pub allow_private_targets: bool,
    /// Keys sealing secrets at rest, `id:base64-32-bytes` a line (current first);
    /// `LOOKOUT_SECRET_KEY` wins over it. Neither set: `<database>.key` beside the database,
    /// created on the first start.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// How long finished deliveries, resolved incidents and deleted monitors are kept (the
    /// notifier's `retention`).
    #[serde(default)]
    pub retention: lookout_notifier::RetentionConfig,
    /// Off: creating an SMS integration needs no verification code (the coordinator's
    /// `production`).
    #[serde(default = "default_production")]
    pub production: bool,
    /// The Twilio account SMS goes out with: verification codes and alerts.
    #[serde(default)]
    pub twilio: Option<lookout_render::sms::TwilioConfig>,
    /// The Slack app (the coordinator's `slack_app`).
    #[serde(default)]
    pub slack_app: Option<lookout_coordinator::slack_app::SlackAppConfig>,
    /// Lookout as a Telex interval integration on the REST port, checked by the embedded
    /// agent (the coordinator's `telex`; `public_url` defaults to `http://<rest_addr>`).
    #[serde(default)]
    pub telex: lookout_coordinator::config::TelexConfig,
}

fn default_production() -> bool {
    true
}

fn default_store_url() -> String {
    "sqlite://lookout.db".into()
}
fn default_grpc_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}
fn default_rest_addr() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 7401)))
}
fn default_region() -> String {
    "local".into()
}
fn default_allow_private_targets() -> bool {
    true
}

/// Reads the file (bounded, `${VAR}` expanded inside values, so secrets stay out of it);
/// LOOKOUT_TOKEN overrides `project_token`, LOOKOUT_OPERATOR_TOKEN `operator_token`.
pub fn load(path: &Path) -> Result<StandaloneConfig> {
    let mut config: StandaloneConfig = lookout_runtime::load(path)?;
    if let Ok(token) = std::env::var("LOOKOUT_TOKEN") {
        config.project_token = Some(token);
    }
    if let Ok(token) = std::env::var("LOOKOUT_OPERATOR_TOKEN") {
        config.operator_token = Some(token);
    }
    Ok(config)
}

pub async fn run(path: &Path) -> Result<()> {
    init_logging()?;
    let signal = shutdown::on_signal();
    let config = load(path)?;
    let token = match &config.project_token {
        Some(t) if !t.is_empty() => t.clone(),
        _ => random_token(),
    };
    let agent_token = random_token();
    let regions = vec![config.region.clone()];

    let (keyring, created) =
        crate::secret_key::standalone_keyring(&config.store_url, config.secret_key_file.as_deref())
            .context("secret key")?;
    if let Some(path) = created {
        lookout_runtime::logging::notice(
            "lookout standalone",
            &format!(
                "created the secret key {} (mode 0600) for this database: back it up, the stored secrets do not open without it",
                path.display()
            ),
        );
    }
    let store = Store::open(&config.store_url, keyring)
        .await
        .context("opening the store (store_url)")?;
    lookout_coordinator::apply_declared_integrations(
        &store,
        lookout_coordinator::DestinationRules {
            allow_private: config.allow_private_webhooks,
        },
        config.variables.clone(),
        config.integrations.clone(),
    )
    .await
    .context("integrations declared in the config")?;
    lookout_coordinator::apply_declared_monitors(&store, &regions, config.monitors.clone())
        .await
        .context("monitors declared in the config")?;

    let bus = InProcBus::new();
    let view_consumer = bus.consumer();
    let notifier_consumer = bus.consumer();
    let (events_tx, events_rx) = tokio::sync::broadcast::channel(256);
    let stops = Stops::default();

    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.grpc_addr))?;
    let addr = listener.local_addr()?;
    let rest = match config.rest_addr {
        Some(rest_addr) => Some(
            tokio::net::TcpListener::bind(rest_addr)
                .await
                .with_context(|| format!("cannot listen on {rest_addr} (rest_addr)"))?,
        ),
        None => None,
    };
    let rest_at = match &rest {
        Some(l) => format!("REST API on http://{}", l.local_addr()?),
        None => "no REST API".to_string(),
    };

    let mut coordinator_config: lookout_coordinator::CoordinatorConfig = serde_json::from_value(json!({
        "grpc_addr": addr.to_string(),
        "regions": regions,
        "project_tokens": [token],
        "operator_tokens": config.operator_token.iter().filter(|t| !t.is_empty()).collect::<Vec<_>>(),
        "agent_tokens": { AGENT_ID: { "region": config.region, "token": agent_token } },
        "store_url": config.store_url,
        "allow_private_destinations": config.allow_private_webhooks,
    }))
    .context("coordinator settings")?;
    coordinator_config.production = config.production;
    coordinator_config.twilio = config.twilio.clone();
    coordinator_config.slack_app = config.slack_app.clone();
    coordinator_config.telex = config.telex.clone();
    if let Some(l) = &rest
        && coordinator_config.telex.public_url.is_empty()
    {
        coordinator_config.telex.public_url = format!("http://{}", l.local_addr()?);
    }
    coordinator_config.validate()?;
    let agent_config = serde_json::from_value(json!({
        "coordinator_url": format!("http://{addr}"),
        "agent_id": AGENT_ID,
        "region": config.region,
        "token": agent_token,
        "allow_private_targets": config.allow_private_targets,
        // The only agent: there is no other to hand its monitors to.
        "drain_timeout_ms": 0,
    }))
    .context("agent settings")?;
    let mut notifier_config: lookout_notifier::NotifierConfig = serde_json::from_value(json!({
        "store_url": config.store_url,
        "delivery": { "allow_private_destinations": config.allow_private_webhooks },
    }))
    .context("notifier settings")?;
    notifier_config.retention = config.retention.clone();
    notifier_config.twilio = config.twilio.clone();
    notifier_config.email = config.email.clone();

    let publisher = Arc::new(bus.publisher());
    let coordinator = tokio::spawn(lookout_coordinator::serve_with_rest(
        coordinator_config,
        store.clone(),
        publisher,
        listener,
        rest.map(lookout_coordinator::RestServer::new),
        stops.coordinator.clone().cancelled_owned(),
    ));
    let notifier = tokio::spawn(lookout_notifier::run(
        notifier_config,
        store.clone(),
        Box::new(notifier_consumer),
        Some(events_tx),
        stops.notifier.clone().cancelled_owned(),
    ));
    let agent = tokio::spawn(lookout_agent::run(
        agent_config,
        stops.agent.clone().cancelled_owned(),
    ));

    let notice = |message: String| lookout_runtime::logging::notice("lookout standalone", &message);
    notice(format!(
        "admin API on http://{addr}, {rest_at}, region {:?}, store {}",
        config.region, config.store_url
    ));
    if config.project_token.is_none() {
        if lookout_runtime::logging::is_json() {
            // Shipped logs are no place for a credential.
            notice(
                "no project_token configured; set one (or LOOKOUT_TOKEN) to use the admin API"
                    .into(),
            );
        } else {
            notice(format!(
                "no project_token configured; this run's token: {token}"
            ));
        }
    }
    let view = tokio::spawn(view::run(
        store.clone(),
        view_consumer,
        events_rx,
        stops.view.clone(),
    ));

    let mut parts = Parts {
        agent,
        coordinator,
        notifier,
    };
    tokio::select! {
        () = signal.cancelled() => {}
        r = &mut parts.coordinator => report("coordinator", r)?,
        r = &mut parts.notifier => report("notifier", r)?,
        r = &mut parts.agent => report("agent", r)?,
    }
    let stopped = parts
        .stop(&stops, Instant::now() + shutdown::DRAIN_BOUND)
        .await;
    stops.view.cancel();
    let _ = view.await;
    stopped?;
    notice("stopped".into());
    Ok(())
}

/// One token per part, so shutdown can go in the order results flow.
#[derive(Default)]
struct Stops {
    agent: CancellationToken,
    coordinator: CancellationToken,
    notifier: CancellationToken,
    view: CancellationToken,
}

struct Parts<E1, E2, E3> {
    agent: JoinHandle<Result<(), E1>>,
    coordinator: JoinHandle<Result<(), E2>>,
    notifier: JoinHandle<Result<(), E3>>,
}

impl<E1, E2, E3> Parts<E1, E2, E3>
where
    E1: std::fmt::Display,
    E2: std::fmt::Display,
    E3: std::fmt::Display,
{
    /// The agent sends its last results while the coordinator still listens; the
    /// coordinator publishes what it accepted while the notifier still consumes; the
    /// notifier finishes its deliveries. All of it by `deadline`.
    async fn stop(self, stops: &Stops, deadline: Instant) -> Result<()> {
        stops.agent.cancel();
        finish("agent", self.agent, deadline).await?;
        stops.coordinator.cancel();
        finish("coordinator", self.coordinator, deadline).await?;
        stops.notifier.cancel();
        finish("notifier", self.notifier, deadline).await
    }
}

async fn finish<E: std::fmt::Display>(
    part: &str,
    handle: JoinHandle<Result<(), E>>,
    deadline: Instant,
) -> Result<()> {
    match tokio::time::timeout_at(deadline, handle).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => anyhow::bail!("the {part} failed while stopping: {e}"),
        Ok(Err(e)) => anyhow::bail!("the {part} crashed while stopping: {e}"),
        Err(_) => anyhow::bail!(
            "the {part} did not stop within {} s of the shutdown signal",
            shutdown::DRAIN_BOUND.as_secs()
        ),
    }
}

fn report<E: std::fmt::Display>(
    part: &str,
    r: Result<Result<(), E>, tokio::task::JoinError>,
) -> Result<()> {
    match r {
        Ok(Ok(())) => anyhow::bail!("the {part} stopped unexpectedly"),
        Ok(Err(e)) => anyhow::bail!("the {part} failed: {e}"),
        Err(e) => anyhow::bail!("the {part} crashed: {e}"),
    }
}

/// Logs go to stderr: at `info` when the output is not a terminal, and only warnings and
/// errors under the live table (which redraws stdout every second). RUST_LOG overrides both.
fn init_logging() -> Result<()> {
    use std::io::IsTerminal;
    let default = if std::io::stdout().is_terminal() {
        "warn"
    } else {
        "info"
    };
    Ok(lookout_runtime::logging::init(default)?)
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lookout.yaml");
        let config = load(&path).expect("examples/lookout.yaml parses");
        assert!(!config.monitors.is_empty());
        let regions = vec![config.region.clone()];
        for m in config.monitors {
            lookout_proto::validate::monitor(m, &regions).expect("example monitors are valid");
        }
    }

    #[test]
    fn retention_is_the_notifiers_with_its_defaults() {
        let parse = |yaml: &str| {
            lookout_runtime::parse::<StandaloneConfig>(yaml, "test", &|_| None).map(|c| c.retention)
        };
        let defaults = parse("{}").expect("no retention");
        assert_eq!(defaults, lookout_notifier::RetentionConfig::default());
        let set = parse("retention:\n  delivered_secs: 60\n").expect("valid");
        assert_eq!(set.delivered_secs, 60);
        assert_eq!(set.dead_secs, defaults.dead_secs);
        let e = parse("retention:\n  delivered: 60\n").expect_err("unknown retention field");
        assert!(e.to_string().contains("delivered"), "{e}");
    }

    #[test]
    fn the_rest_api_is_on_by_default_and_can_be_turned_off() {
        let parse = |yaml: &str| {
            lookout_runtime::parse::<StandaloneConfig>(yaml, "test", &|_| None).map(|c| c.rest_addr)
        };
        let on = parse("{}").expect("defaults");
        assert_eq!(on.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:7401"));
        assert_eq!(parse("rest_addr: null\n").expect("off"), None);
        let moved = parse("rest_addr: 0.0.0.0:9090\n").expect("moved");
        assert_eq!(moved.map(|a| a.port()), Some(9090));
        assert!(parse("rest_addr: somewhere\n").is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = lookout_runtime::parse::<StandaloneConfig>("regoin: eu\n", "test", &|_| None)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("regoin"), "{e}");
    }
}
