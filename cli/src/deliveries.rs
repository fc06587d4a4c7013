//! `lookout deliveries ...`: the delivery log over gRPC (list, get with every attempt) and
//! re-driving a dead-lettered delivery (retry), with tables for people and `--output json`
//! for scripts.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::delivery_service_client::DeliveryServiceClient;
use lookout_proto::v1::{
    Delivery, DeliveryState, GetDeliveryRequest, ListDeliveriesRequest, RetryDeliveryRequest,
};

use crate::monitors::{ClientArgs, ListArgs, Output, connect, status};

#[derive(Subcommand)]
pub enum DeliveriesCmd {
    /// List deliveries of the token's project, newest first, fetching page after page.
    List {
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only deliveries to this integration.
        #[arg(long)]
        integration: Option<String>,
        #[command(flatten)]
        paging: ListArgs,
    },
    /// Show one delivery and every attempt of it.
    Get { id: String },
    /// Send a dead-lettered delivery again (same delivery id, fresh retry budget).
    Retry { id: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StateArg {
    Pending,
    Delivered,
    Dead,
}

impl From<StateArg> for DeliveryState {
    fn from(s: StateArg) -> DeliveryState {
        match s {
            StateArg::Pending => DeliveryState::Pending,
            StateArg::Delivered => DeliveryState::Delivered,
            StateArg::Dead => DeliveryState::Dead,
        }
    }
}

pub async fn run(client: ClientArgs, cmd: DeliveriesCmd) -> Result<()> {
    let (channel, bearer) = connect(&client).await?;
    let mut api = DeliveryServiceClient::with_interceptor(channel, bearer);
    let out = client.output;
    match cmd {
        DeliveriesCmd::List {
            state,
            integration,
            paging,
        } => {
            let state = state.map_or(DeliveryState::Unspecified, DeliveryState::from) as i32;
            let integration_id = integration.unwrap_or_default();
            let all = paging
                .collect(|page_size, page_token| {
                    let mut api = api.clone();
                    let integration_id = integration_id.clone();
                    async move {
                        let req = ListDeliveriesRequest {
                            state,
                            page_size,
                            page_token,
                            integration_id,
                        };
                        let page = api.list_deliveries(req).await.map_err(status)?.into_inner();
                        Ok((page.deliveries, page.next_page_token))
                    }
                })
                .await?;
            print_many(out, &all)
        }
        DeliveriesCmd::Get { id } => {
            let d = api
                .get_delivery(GetDeliveryRequest { id })
                .await
                .map_err(status)?;
            print_one(out, &d.into_inner())
        }
        DeliveriesCmd::Retry { id } => {
            let d = api
                .retry_delivery(RetryDeliveryRequest { id })
                .await
                .map_err(status)?;
            print_one(out, &d.into_inner())
        }
    }
}

fn state(d: &Delivery) -> &'static str {
    match DeliveryState::try_from(d.state) {
        Ok(DeliveryState::Pending) => "pending",
        Ok(DeliveryState::Delivered) => "delivered",
        Ok(DeliveryState::Dead) => "dead",
        _ => "unknown",
    }
}

pub(crate) fn print_one(out: Output, d: &Delivery) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(d)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            let rows = [
                ("id", d.id.clone()),
                ("state", state(d).to_string()),
                ("event", d.event.clone()),
                ("integration", d.integration_id.clone()),
                ("channel", d.channel.clone()),
                ("monitor", d.monitor_id.clone()),
                ("incident", d.incident_id.clone()),
                ("attempts", d.attempts.to_string()),
                ("last error", d.last_error.clone()),
                (
                    "created",
                    lookout_render::native::rfc3339_seconds(d.created_at_ms),
                ),
            ];
            for (k, v) in rows {
                t.add_row(vec![k.to_string(), v]);
            }
            println!("{t}");
            if !d.attempt_log.is_empty() {
                print_attempts(d);
            }
        }
    }
    Ok(())
}

/// The attempt log of `d`, one row per attempt.
fn print_attempts(d: &Delivery) {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(vec![
        "ATTEMPT", "AT", "STATUS", "LATENCY", "OUTCOME", "ERROR", "RESPONSE",
    ]);
    for a in &d.attempt_log {
        t.add_row(vec![
            a.attempt.to_string(),
            lookout_render::native::rfc3339_seconds(a.at_ms),
            if a.status_code == 0 {
                "-".to_string()
            } else {
                a.status_code.to_string()
            },
            format!("{:.1} ms", a.latency_us as f64 / 1000.0),
            a.outcome.clone(),
            a.error.clone(),
            a.response_excerpt.chars().take(80).collect(),
        ]);
    }
    println!("{t}");
}

fn print_many(out: Output, ds: &[Delivery]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(ds)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "ID",
                "STATE",
                "EVENT",
                "MONITOR",
                "INTEGRATION",
                "ATTEMPTS",
                "LAST ERROR",
            ]);
            for d in ds {
                t.add_row(vec![
                    d.id.clone(),
                    state(d).to_string(),
                    d.event.clone(),
                    d.monitor_id.clone(),
                    d.integration_id.clone(),
                    d.attempts.to_string(),
                    d.last_error.clone(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
