//! `lookout standalone`: the coordinator, one agent and the notifier in one process, on a
//! SQLite file and the in-process bus. Monitors may be declared in the YAML file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use lookout_bus::InProcBus;
use lookout_proto::Monitor;
use lookout_store::Store;
use serde::Deserialize;
use serde_json::json;
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
    /// The one region of the embedded agent.
    #[serde(default = "default_region")]
    pub region: String,
    /// Project token for `lookout monitors ...`; LOOKOUT_TOKEN overrides it.
    #[serde(default)]
    pub project_token: Option<String>,
    /// Monitors created or updated at start-up, by id (the API's JSON shape).
    #[serde(default)]
    pub monitors: Vec<Monitor>,
    /// Let webhooks reach loopback and private addresses (a receiver on this machine or LAN).
    #[serde(default)]
    pub allow_private_webhooks: bool,
}

fn default_store_url() -> String {
    "sqlite://lookout.db".into()
}
fn default_grpc_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}
fn default_region() -> String {
    "local".into()
}

/// Reads the file, expanding `${VAR}` from the environment (so secrets stay out of the file).
pub fn load(path: &Path) -> Result<StandaloneConfig> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let text = expand_env(&raw).with_context(|| format!("config {}", path.display()))?;
    let mut config: StandaloneConfig = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("config {} is invalid", path.display()))?;
    if let Ok(token) = std::env::var("LOOKOUT_TOKEN") {
        config.project_token = Some(token);
    }
    Ok(config)
}

fn expand_env(raw: &str) -> Result<String> {
    let mut out = String::with_capacity(raw.len());
    for line in raw.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            expand_line(line, &mut out)?;
        }
    }
    Ok(out)
}

fn expand_line(line: &str, out: &mut String) -> Result<()> {
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').context("unterminated ${ in config")?;
        let name = &after[..end];
        let value = std::env::var(name).with_context(|| {
            format!("environment variable {name} (used as ${{{name}}}) is not set")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

pub async fn run(path: &Path) -> Result<()> {
    init_logging();
    let config = load(path)?;
    let token = match &config.project_token {
        Some(t) if !t.is_empty() => t.clone(),
        _ => random_token(),
    };
    let agent_token = random_token();
    let regions = vec![config.region.clone()];

    let store = Store::open(&config.store_url)
        .await
        .with_context(|| format!("cannot open {}", config.store_url))?;
    lookout_coordinator::apply_declared_monitors(&store, &regions, config.monitors.clone())
        .await
        .context("monitors declared in the config")?;

    let bus = InProcBus::new();
    let view_consumer = bus.consumer();
    let notifier_consumer = bus.consumer();
    let (events_tx, events_rx) = tokio::sync::broadcast::channel(256);
    let stop = CancellationToken::new();

    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.grpc_addr))?;
    let addr = listener.local_addr()?;

    let coordinator_config = serde_json::from_value(json!({
        "grpc_addr": addr.to_string(),
        "regions": regions,
        "project_tokens": [token],
        "agent_tokens": { AGENT_ID: { "region": config.region, "token": agent_token } },
        "store_url": config.store_url,
    }))
    .context("coordinator settings")?;
    let agent_config = serde_json::from_value(json!({
        "coordinator_url": format!("http://{addr}"),
        "agent_id": AGENT_ID,
        "region": config.region,
        "token": agent_token,
    }))
    .context("agent settings")?;
    let notifier_config = serde_json::from_value(json!({
        "store_url": config.store_url,
        "delivery": { "allow_private_destinations": config.allow_private_webhooks },
    }))
    .context("notifier settings")?;

    let publisher = Arc::new(bus.publisher());
    let coordinator = tokio::spawn(lookout_coordinator::serve(
        coordinator_config,
        store.clone(),
        publisher,
        listener,
        stop.clone().cancelled_owned(),
    ));
    let notifier = tokio::spawn(lookout_notifier::run(
        notifier_config,
        store.clone(),
        Box::new(notifier_consumer),
        Some(events_tx),
        stop.clone().cancelled_owned(),
    ));
    let agent = tokio::spawn(lookout_agent::run(
        agent_config,
        stop.clone().cancelled_owned(),
    ));

    eprintln!(
        "lookout standalone: admin API on http://{addr}, region {:?}, store {}",
        config.region, config.store_url
    );
    if config.project_token.is_none() {
        eprintln!("lookout standalone: no project_token configured; this run's token: {token}");
    }
    let view = tokio::spawn(view::run(
        store.clone(),
        view_consumer,
        events_rx,
        stop.clone(),
    ));

    tokio::select! {
        _ = shutdown_signal() => eprintln!("lookout standalone: shutting down"),
        r = coordinator => report("coordinator", r)?,
        r = notifier => report("notifier", r)?,
        r = agent => report("agent", r)?,
    }
    stop.cancel();
    let _ = view.await;
    Ok(())
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Logs go to stderr: at `info` when the output is not a terminal, and only warnings and
/// errors under the live table (which redraws stdout every second). RUST_LOG overrides both.
fn init_logging() {
    use std::io::IsTerminal;
    let default = if std::io::stdout().is_terminal() {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
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
    fn unknown_fields_are_refused() {
        let e = serde_yaml_ng::from_str::<StandaloneConfig>("regoin: eu\n")
            .err()
            .expect("refused");
        assert!(e.to_string().contains("regoin"), "{e}");
    }

    #[test]
    fn env_expansion() {
        assert_eq!(
            expand_env("a ${HOME} b").expect("set"),
            format!("a {} b", std::env::var("HOME").expect("HOME"))
        );
        assert!(expand_env("${LOOKOUT_SURELY_UNSET_VAR}").is_err());
        assert!(expand_env("${OPEN").is_err());
        assert_eq!(
            expand_env("# ${LOOKOUT_SURELY_UNSET_VAR}\n").expect("comment"),
            "# ${LOOKOUT_SURELY_UNSET_VAR}\n"
        );
    }
}
