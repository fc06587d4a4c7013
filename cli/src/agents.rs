//! `lookout agents list` (operator token): the agents connected to the coordinator, with what
//! each runs and how it is doing, as a table or `--output json`.

use anyhow::Result;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::agent_service_client::AgentServiceClient;
use lookout_proto::v1::{Agent, ListAgentsRequest};
use lookout_render::native::rfc3339_seconds;

use crate::monitors::{ClientArgs, Output, connect_with, status};
use crate::projects::{OperatorArgs, operator_token};

#[derive(Subcommand)]
pub enum AgentsCmd {
    /// List the connected agents, by region then id.
    List {
        /// Only the agents of this region.
        #[arg(long, default_value = "")]
        region: String,
    },
}

pub async fn run(client: ClientArgs, op: OperatorArgs, cmd: AgentsCmd) -> Result<()> {
    let (channel, bearer) = connect_with(&client, operator_token(&op)?).await?;
    let mut api = AgentServiceClient::with_interceptor(channel, bearer);
    match cmd {
        AgentsCmd::List { region } => {
            let agents = api
                .list_agents(ListAgentsRequest { region })
                .await
                .map_err(status)?
                .into_inner()
                .agents;
            print_agents(client.output, &agents)
        }
    }
}

fn print_agents(out: Output, agents: &[Agent]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(agents)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "AGENT",
                "REGION",
                "STATE",
                "VERSION",
                "CAPACITY",
                "ASSIGNED",
                "ACTIVE",
                "RESULTS/S",
                "BUFFERED",
                "DROPPED",
                "CONNECTED SINCE",
                "LAST HEARTBEAT",
            ]);
            for a in agents {
                let heartbeat = match a.last_heartbeat_ms {
                    0 => "-".to_string(),
                    ms => rfc3339_seconds(ms),
                };
                t.add_row(vec![
                    a.agent_id.clone(),
                    a.region.clone(),
                    if a.draining { "draining" } else { "running" }.to_string(),
                    a.version.clone(),
                    a.capacity.to_string(),
                    a.assigned_monitors.to_string(),
                    a.active_monitors.to_string(),
                    format!("{:.1}", a.results_per_sec),
                    a.buffered_results.to_string(),
                    a.dropped_results.to_string(),
                    rfc3339_seconds(a.connected_since_ms),
                    heartbeat,
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
