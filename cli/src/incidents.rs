//! `lookout incidents ...`: a project's incidents over gRPC (list, get) and acknowledging or
//! resolving one (ack, resolve), with tables for people and `--output json` for scripts.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::incident_service_client::IncidentServiceClient;
use lookout_proto::v1::{
    AcknowledgeIncidentRequest, GetIncidentRequest, Incident, IncidentState, ListIncidentsRequest,
    ResolveIncidentRequest,
};
use lookout_render::native::rfc3339_seconds;

use crate::monitors::{ClientArgs, ListArgs, Output, connect, status};

#[derive(Subcommand)]
pub enum IncidentsCmd {
    /// List incidents of the token's project, newest first, fetching page after page.
    List {
        /// Only incidents in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only this monitor's incidents.
        #[arg(long)]
        monitor: Option<String>,
        #[command(flatten)]
        paging: ListArgs,
    },
    /// Show one incident.
    Get { id: String },
    /// Acknowledge an open incident: its reminders and escalation stop.
    Ack {
        id: String,
        /// Why, or what is being done (at most 1024 bytes).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Resolve an open incident by hand: its integrations receive a recovery ("manual").
    Resolve {
        id: String,
        /// Why (at most 1024 bytes).
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StateArg {
    Open,
    Resolved,
}

impl From<StateArg> for IncidentState {
    fn from(s: StateArg) -> IncidentState {
        match s {
            StateArg::Open => IncidentState::Open,
            StateArg::Resolved => IncidentState::Resolved,
        }
    }
}

pub async fn run(client: ClientArgs, cmd: IncidentsCmd) -> Result<()> {
    let (channel, bearer) = connect(&client).await?;
    let mut api = IncidentServiceClient::with_interceptor(channel, bearer);
    let out = client.output;
    match cmd {
        IncidentsCmd::List {
            state,
            monitor,
            paging,
        } => {
            let state = state.map_or(IncidentState::Unspecified, IncidentState::from) as i32;
            let monitor_id = monitor.unwrap_or_default();
            let all = paging
                .collect(|page_size, page_token| {
                    let mut api = api.clone();
                    let monitor_id = monitor_id.clone();
                    async move {
                        let req = ListIncidentsRequest {
                            state,
                            monitor_id,
                            page_size,
                            page_token,
                        };
                        let page = api.list_incidents(req).await.map_err(status)?.into_inner();
                        Ok((page.incidents, page.next_page_token))
                    }
                })
                .await?;
            print_many(out, &all)
        }
        IncidentsCmd::Get { id } => {
            let i = api
                .get_incident(GetIncidentRequest { id })
                .await
                .map_err(status)?;
            print_one(out, &i.into_inner())
        }
        IncidentsCmd::Ack { id, note } => {
            let i = api
                .acknowledge_incident(AcknowledgeIncidentRequest { id, note })
                .await
                .map_err(status)?
                .into_inner();
            print_one(out, &i)?;
            warn_if_pending(&i);
            Ok(())
        }
        IncidentsCmd::Resolve { id, note } => {
            let i = api
                .resolve_incident(ResolveIncidentRequest { id, note })
                .await
                .map_err(status)?
                .into_inner();
            print_one(out, &i)?;
            warn_if_pending(&i);
            Ok(())
        }
    }
}

/// The action is recorded but no notifier applied it within the coordinator's wait: say so
/// on stderr (stdout keeps the incident, for scripts).
fn warn_if_pending(i: &Incident) {
    if !i.pending_action.is_empty() {
        eprintln!(
            "lookout: the {} is recorded but no notifier has applied it yet; it takes effect \
             when a notifier runs (pending_action: {})",
            match i.pending_action.as_str() {
                "ack" => "acknowledgement",
                _ => "resolution",
            },
            i.pending_action
        );
    }
}

fn state(i: &Incident) -> &'static str {
    match IncidentState::try_from(i.state) {
        Ok(IncidentState::Open) if i.acknowledged_at_ms > 0 => "acknowledged",
        Ok(IncidentState::Open) => "open",
        Ok(IncidentState::Resolved) => "resolved",
        _ => "unknown",
    }
}

/// `1h 2m 3s`, `4m 0s`, `12s`.
fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn time(ms: i64) -> String {
    if ms > 0 {
        rfc3339_seconds(ms)
    } else {
        String::new()
    }
}

fn print_one(out: Output, i: &Incident) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(i)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            let rows = [
                ("id", i.id.clone()),
                ("state", state(i).to_string()),
                ("severity", i.severity.clone()),
                ("monitor", format!("{} ({})", i.monitor_name, i.monitor_id)),
                ("opened", time(i.opened_at_ms)),
                ("duration", duration(i.duration_ms)),
                ("regions", i.regions.join(", ")),
                ("first error", i.first_error.clone()),
                ("level", i.level.to_string()),
                ("escalated", time(i.escalated_at_ms)),
                ("reminders sent", i.reminders_sent.to_string()),
                ("acknowledged", time(i.acknowledged_at_ms)),
                ("acknowledged by", i.acknowledged_by.clone()),
                ("note", i.acknowledged_note.clone()),
                ("resolved", time(i.resolved_at_ms)),
                ("resolved reason", i.resolved_reason.clone()),
                ("caused by", i.caused_by_incident_id.clone()),
                ("silenced", i.silenced.to_string()),
                ("pending action", i.pending_action.clone()),
            ];
            for (k, v) in rows {
                t.add_row(vec![k.to_string(), v]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn print_many(out: Output, is: &[Incident]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(is)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "ID",
                "STATE",
                "SEVERITY",
                "MONITOR",
                "OPENED",
                "DURATION",
                "LEVEL",
                "FIRST ERROR",
            ]);
            for i in is {
                t.add_row(vec![
                    i.id.clone(),
                    state(i).to_string(),
                    i.severity.clone(),
                    i.monitor_name.clone(),
                    time(i.opened_at_ms),
                    duration(i.duration_ms),
                    i.level.to_string(),
                    i.first_error.chars().take(60).collect(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        let cases = [
            (0, "0s"),
            (12_999, "12s"),
            (240_000, "4m 0s"),
            (3_723_000, "1h 2m 3s"),
            (-5, "0s"),
        ];
        for (ms, want) in cases {
            assert_eq!(duration(ms), want, "{ms}");
        }
    }
}
