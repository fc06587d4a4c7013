//! The `lookout` command: `standalone` (everything in one process), the cluster components,
//! and the admin client.

mod agents;
mod connect;
mod deliveries;
mod incidents;
mod integrations;
mod monitors;
mod projects;
mod secret_key;
mod secrets;
mod standalone;
mod users;
mod variables;
mod view;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Distributed uptime and synthetic monitoring"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Coordinator, one agent and the notifier in one process, on SQLite and an in-process bus.
    Standalone {
        #[arg(long, short, env = "LOOKOUT_CONFIG", default_value = "lookout.yaml")]
        config: PathBuf,
    },
    /// Manage monitors through the coordinator's admin API.
    Monitors {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: Box<monitors::MonitorsCmd>,
    },
    /// Read the delivery log and send dead-lettered deliveries again.
    Deliveries {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: deliveries::DeliveriesCmd,
    },
    /// Manage notification destinations (webhooks, Slack, PagerDuty, ...) and test them.
    Integrations {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: Box<integrations::IntegrationsCmd>,
    },
    /// Set, list and delete the project's template variables and secrets.
    Variables {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: variables::VariablesCmd,
    },
    /// Add, verify, list and remove the project's members (the people email integrations
    /// send to; mail to an address is refused until it is verified).
    Users {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: users::UsersCmd,
    },
    /// List, acknowledge and resolve incidents.
    Incidents {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(subcommand)]
        cmd: incidents::IncidentsCmd,
    },
    /// Secrets at rest: re-seal stored secrets under the current key.
    Secrets {
        #[command(subcommand)]
        cmd: secrets::SecretsCmd,
    },
    /// Create, list and delete projects (operator token).
    Projects {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(flatten)]
        operator: projects::OperatorArgs,
        #[command(subcommand)]
        cmd: projects::ProjectsCmd,
    },
    /// List the agents connected to the coordinator (operator token).
    Agents {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(flatten)]
        operator: projects::OperatorArgs,
        #[command(subcommand)]
        cmd: agents::AgentsCmd,
    },
    /// Create, list and revoke a project's API tokens.
    Tokens {
        #[command(flatten)]
        client: monitors::ClientArgs,
        #[command(flatten)]
        operator: projects::OperatorArgs,
        #[command(flatten)]
        target: projects::TokenTarget,
        #[command(subcommand)]
        cmd: projects::TokensCmd,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.cmd {
            Cmd::Standalone { config } => standalone::run(&config).await,
            Cmd::Monitors { client, cmd } => monitors::run(client, *cmd).await,
            Cmd::Deliveries { client, cmd } => deliveries::run(client, cmd).await,
            Cmd::Integrations { client, cmd } => integrations::run(client, *cmd).await,
            Cmd::Variables { client, cmd } => variables::run(client, cmd).await,
            Cmd::Users { client, cmd } => users::run(client, cmd).await,
            Cmd::Incidents { client, cmd } => incidents::run(client, cmd).await,
            Cmd::Secrets { cmd } => secrets::run(cmd).await,
            Cmd::Projects {
                client,
                operator,
                cmd,
            } => projects::run_projects(client, operator, cmd).await,
            Cmd::Agents {
                client,
                operator,
                cmd,
            } => agents::run(client, operator, cmd).await,
            Cmd::Tokens {
                client,
                operator,
                target,
                cmd,
            } => projects::run_tokens(client, operator, target, cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // As a JSON log event when `lookout standalone` logs JSON, else `lookout: ...`.
            lookout_runtime::logging::fatal("lookout", &format!("{e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
