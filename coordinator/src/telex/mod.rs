//! Lookout as a Telex interval integration (docs/telex.md), as Telex's "Interval Custom
//! Integration - Uptime Monitor" document describes one: `GET /integration.json` is the
//! integration's spec (its `tick_url` built from `telex.public_url`), and `POST /tick`
//! answers 202 at once, then has a live agent run each `site-N` setting's URL now
//! ([`crate::run_now`]) and posts one message saying which sites are up and which are down to
//! the tick's `return_url`. The REST handlers are in `rest/telex.rs`; this is what they call.

mod report;
mod tick;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lookout_proto::bounds::excerpt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::{ConfigError, TelexConfig};
use crate::destinations::DestinationRules;
use crate::run_now::RunNowBroker;

pub use tick::{MAX_SETTINGS, MAX_TICK_BODY_BYTES};

/// The integration's name, in its spec and as the `username` of its messages.
pub const APP_NAME: &str = "Lookout Uptime Monitor";
/// The `event_name` of every message.
pub const EVENT_NAME: &str = "Uptime Check";
/// Ticks being worked on at once; more are refused with 503 until one finishes.
pub const MAX_TICKS_IN_FLIGHT: usize = 16;
/// How long resolving a `return_url`'s host may take while the tick waits for its answer.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a tick was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// A field is refused; `field` names it as the tick names it (`settings[1].default`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{MAX_TICKS_IN_FLIGHT} ticks are being worked on already; try again shortly")]
    Busy,
}

impl TickError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> TickError {
        TickError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The integration: its settings, the agents that run its checks and the rules its
/// `return_url`s are held to.
pub struct Telex {
    /// `telex.public_url`, without a trailing `/`.
    base: Url,
    /// SHA-256 of `telex.tick_key`: compared in constant time, whatever its length.
    key_digest: Option<[u8; 32]>,
    tick_url: String,
    sites: u32,
    /// Where checks run, in order of preference, and how "no agent" names them.
    regions: Vec<String>,
    regions_named: String,
    /// Every region of the deployment: what a tick's `regions` setting may name.
    known: Vec<String>,
    /// The `regions` setting's default in the spec: `telex.region`, or empty (the first
    /// region with an agent).
    default_regions: String,
    run_now: Arc<RunNowBroker>,
    destinations: DestinationRules,
    in_flight: Arc<Semaphore>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl Telex {
    /// The integration of `config` (validated), running checks in `config.region` or the
    /// first of `regions` with an agent.
    pub fn new(
        config: &TelexConfig,
        regions: &[String],
        run_now: Arc<RunNowBroker>,
        destinations: DestinationRules,
    ) -> Result<Telex, ConfigError> {
        let base = config.base_url()?;
        let mut tick = base.clone();
        tick.set_path(&format!("{}/tick", base.path().trim_end_matches('/')));
        if let Some(key) = &config.tick_key {
            tick.query_pairs_mut().append_pair("key", key.expose());
        }
        if regions.is_empty() {
            return Err(ConfigError::Invalid {
                field: "regions".into(),
                reason: "must name at least one region".into(),
            });
        }
        let known = regions.to_vec();
        let default_regions = config.region.clone().unwrap_or_default();
        let (regions, regions_named) = match &config.region {
            Some(r) => (vec![r.clone()], format!("region {r}")),
            None => (
                regions.to_vec(),
                match regions {
                    [one] => format!("region {one}"),
                    all => format!("any region ({})", all.join(", ")),
                },
            ),
        };
        Ok(Telex {
            base,
            key_digest: config.tick_key.as_ref().map(|k| digest(k.expose())),
            tick_url: tick.to_string(),
            sites: config.sites,
            regions,
            regions_named,
            known,
            default_regions,
            run_now,
            destinations,
            in_flight: Arc::new(Semaphore::new(MAX_TICKS_IN_FLIGHT)),
        })
    }

    /// Whether `given` (the request's key, if any) opens the endpoints: always without a
    /// `tick_key`; with one, only the same key (compared in constant time).
    pub fn authorized(&self, given: Option<&str>) -> bool {
        match (&self.key_digest, given) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(given)) => bool::from(digest(given).ct_eq(want)),
        }
    }

    /// The integration's spec, as `GET /integration.json` serves it. With a `tick_key`, the
    /// `tick_url` carries it (Telex sends no header of the integration's choosing), which is
    /// why this document needs the key too.
    pub fn spec(&self) -> Value {
        let mut settings: Vec<Value> = (1..=self.sites)
            .map(|n| {
                json!({
                    "label": format!("site-{n}"),
                    "type": "text",
                    "required": n == 1,
                    "default": "",
                })
            })
            .collect();
        settings.push(json!({
            "label": "regions",
            "type": "text",
            "required": false,
            "default": self.default_regions,
        }));
        settings.push(json!({
            "label": "interval",
            "type": "text",
            "required": true,
            "default": "* * * * *",
        }));
        json!({
            "data": {
                "descriptions": {
                    "app_name": APP_NAME,
                    "app_description": "Checks your websites from Lookout's agents at every \
                        interval and posts which are up and which are down.",
                    "app_url": self.base.as_str().trim_end_matches('/'),
                    "app_logo": "",
                    "background_color": "#fff",
                },
                "integration_category": "Monitoring & Logging",
                "integration_type": "interval",
                "key_features": [
                    "Checks each site-N URL from a Lookout agent when Telex ticks.",
                    "Says which sites are up (status below 400) and which are down, and why.",
                ],
                "settings": settings,
                "tick_url": self.tick_url,
            }
        })
    }

    /// Validates a tick's body and its `return_url`'s destination, then works on it in the
    /// background: the caller answers 202 as soon as this returns `Ok`.
    pub async fn accept(&self, body: Map<String, Value>) -> Result<(), TickError> {
        let region = self.regions.first().map_or("", String::as_str);
        let tick = tick::parse(body, region, &self.known)?;
        let pinned = self.destination(&tick.return_url).await?;
        let permit = Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| TickError::Busy)?;
        tracing::info!(
            channel_id = %excerpt(&tick.channel_id),
            sites = tick.sites.len(),
            "telex tick accepted"
        );
        let run_now = Arc::clone(&self.run_now);
        // The regions the tick chose, each on its own; or the default preference list, one
        // check per site from the first region with an agent.
        let asked: Vec<(Vec<String>, String)> = if tick.regions.is_empty() {
            vec![(self.regions.clone(), self.regions_named.clone())]
        } else {
            tick.regions
                .iter()
                .map(|r| (vec![r.clone()], format!("region {r}")))
                .collect()
        };
        tokio::spawn(async move {
            // Every region at once, the message in the order the tick named them.
            let parts = futures::future::join_all(asked.iter().map(|(regions, named)| {
                let (run_now, sites) = (&run_now, &tick.sites);
                async move {
                    report::message(&report::check(run_now, regions, named, sites).await, named)
                }
            }))
            .await;
            let message = report::combine(parts);
            report::deliver(&tick, pinned, &message).await;
            drop(permit);
        });
        Ok(())
    }

    /// The address `return_url` is posted to, resolved once now (and pinned for the
    /// delivery, so the name cannot point elsewhere later): a public one unless private
    /// destinations are allowed.
    async fn destination(&self, url: &Url) -> Result<SocketAddr, TickError> {
        let field = "return_url";
        let host = url
            .host_str()
            .ok_or_else(|| TickError::invalid(field, "has no host"))?;
        // An IPv6 literal is bracketed in the URL, bare for parsing.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(443);
        let resolved = tokio::time::timeout(
            RESOLVE_TIMEOUT,
            crate::destinations::resolve(field, host, port, self.destinations.allow_private),
        )
        .await
        .map_err(|_| {
            TickError::invalid(
                field,
                format!(
                    "{} did not resolve within {} s",
                    excerpt(host),
                    RESOLVE_TIMEOUT.as_secs()
                ),
            )
        })?;
        resolved.map_err(|e| TickError::invalid(e.field, e.reason))
    }
}
