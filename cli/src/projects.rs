//! `lookout projects ...` (operator token: create, list, set quotas and plan, delete projects) and
//! `lookout tokens ...` (a project's API tokens: create, list, revoke), with tables for people
//! and `--output json` for scripts.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::project_service_client::ProjectServiceClient;
use lookout_proto::v1::token_service_client::TokenServiceClient;
use lookout_proto::v1::{
    CreateProjectRequest, CreateTokenRequest, DeleteProjectRequest, ListProjectsRequest,
    ListTokensRequest, Project, ProjectToken, Quotas, RevokeTokenRequest, UpdateProjectPlanRequest,
    UpdateProjectQuotasRequest,
};
use lookout_render::native::rfc3339_seconds;

use crate::monitors::{ClientArgs, ListArgs, Output, connect, connect_with, status};

#[derive(Args)]
pub struct OperatorArgs {
    /// Operator token (`operator_tokens` in the coordinator's config; prefer the environment
    /// variable: flags show up in `ps`).
    #[arg(
        long,
        env = "LOOKOUT_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub operator_token: Option<String>,
}

/// Quotas on the command line; an unset one is sent as 0 (the default on create, unchanged on
/// set-quotas).
#[derive(Args)]
pub struct QuotaArgs {
    /// Monitors the project may hold (default 1000).
    #[arg(long)]
    max_monitors: Option<u32>,
    /// Shortest check interval in seconds (default 30; cron counts as 60).
    #[arg(long)]
    min_interval_secs: Option<u32>,
    /// Regions one monitor may run in (default 5).
    #[arg(long)]
    max_regions_per_monitor: Option<u32>,
}

impl QuotaArgs {
    fn quotas(&self) -> Quotas {
        Quotas {
            max_monitors: self.max_monitors.unwrap_or(0),
            min_interval_secs: self.min_interval_secs.unwrap_or(0),
            max_regions_per_monitor: self.max_regions_per_monitor.unwrap_or(0),
        }
    }
}

#[derive(Subcommand)]
pub enum ProjectsCmd {
    /// Create a project; unset quotas take the coordinator's defaults.
    Create {
        /// 1-64 characters of [a-z0-9_-].
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// List every project.
    List(ListArgs),
    /// Change a project's quotas; unset ones keep their value.
    SetQuotas {
        id: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Put a project on a paid plan (`--paid`: SMS integrations need one) or take it off
    /// (`--free`; its SMS integrations stay, new ones are refused).
    SetPlan {
        id: String,
        #[arg(long, conflicts_with = "free", required_unless_present = "free")]
        paid: bool,
        #[arg(long)]
        free: bool,
    },
    /// Delete a project without monitors, and its tokens.
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum TokensCmd {
    /// Create a token; it is printed once and cannot be shown again.
    Create {
        /// A label to recognise the token by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (id, prefix, label, creation time; never the token).
    List,
    /// Revoke a token; its next request is refused.
    Revoke { id: String },
}

/// Which project `lookout tokens` acts on, and with which token.
#[derive(Args)]
pub struct TokenTarget {
    /// Another project, by id: needs the operator token. Without it, the project of
    /// LOOKOUT_TOKEN.
    #[arg(long, global = true)]
    pub project: Option<String>,
}

pub fn operator_token(op: &OperatorArgs) -> Result<&str> {
    op.operator_token
        .as_deref()
        .context("no operator token: set LOOKOUT_OPERATOR_TOKEN or pass --operator-token")
}

pub async fn run_projects(client: ClientArgs, op: OperatorArgs, cmd: ProjectsCmd) -> Result<()> {
    let (channel, bearer) = connect_with(&client, operator_token(&op)?).await?;
    let mut api = ProjectServiceClient::with_interceptor(channel, bearer);
    let out = client.output;
    match cmd {
        ProjectsCmd::Create { name, quotas } => {
            let req = CreateProjectRequest {
                name,
                quotas: Some(quotas.quotas()),
            };
            let p = api.create_project(req).await.map_err(status)?.into_inner();
            print_projects(out, &[p])
        }
        ProjectsCmd::List(args) => {
            let all = args
                .collect(|page_size, page_token| {
                    let mut api = api.clone();
                    async move {
                        let req = ListProjectsRequest {
                            page_size,
                            page_token,
                        };
                        let page = api.list_projects(req).await.map_err(status)?.into_inner();
                        Ok((page.projects, page.next_page_token))
                    }
                })
                .await?;
            print_projects(out, &all)
        }
        ProjectsCmd::SetQuotas { id, quotas } => {
            let req = UpdateProjectQuotasRequest {
                id,
                quotas: Some(quotas.quotas()),
            };
            let p = api
                .update_project_quotas(req)
                .await
                .map_err(status)?
                .into_inner();
            print_projects(out, &[p])
        }
        ProjectsCmd::SetPlan { id, paid, .. } => {
            let req = UpdateProjectPlanRequest {
                id,
                paid_plan: paid,
            };
            let p = api
                .update_project_plan(req)
                .await
                .map_err(status)?
                .into_inner();
            print_projects(out, &[p])
        }
        ProjectsCmd::Delete { id } => {
            api.delete_project(DeleteProjectRequest { id: id.clone() })
                .await
                .map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "deleted": id })),
                Output::Table => println!("deleted project {id}"),
            }
            Ok(())
        }
    }
}

pub async fn run_tokens(
    client: ClientArgs,
    op: OperatorArgs,
    target: TokenTarget,
    cmd: TokensCmd,
) -> Result<()> {
    // Naming a project takes the operator token when one is set; a project token may name
    // its own project.
    let (channel, bearer) = match (&target.project, &op.operator_token) {
        (Some(_), Some(token)) => connect_with(&client, token).await?,
        _ => connect(&client).await?,
    };
    let mut api = TokenServiceClient::with_interceptor(channel, bearer);
    let project_id = target.project.unwrap_or_default();
    let out = client.output;
    match cmd {
        TokensCmd::Create { name } => {
            let req = CreateTokenRequest { project_id, name };
            let created = api.create_token(req).await.map_err(status)?.into_inner();
            match out {
                Output::Json => println!("{}", serde_json::to_string_pretty(&created)?),
                Output::Table => {
                    let t = created.token.unwrap_or_default();
                    println!("{}", created.secret);
                    eprintln!(
                        "token {} of project {}: store it now, it is not shown again",
                        t.id, t.project_id
                    );
                }
            }
            Ok(())
        }
        TokensCmd::List => {
            let req = ListTokensRequest { project_id };
            let list = api.list_tokens(req).await.map_err(status)?.into_inner();
            print_tokens(out, &list.tokens)
        }
        TokensCmd::Revoke { id } => {
            let req = RevokeTokenRequest {
                project_id,
                id: id.clone(),
            };
            api.revoke_token(req).await.map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "revoked": id })),
                Output::Table => println!("revoked token {id}"),
            }
            Ok(())
        }
    }
}

fn print_projects(out: Output, ps: &[Project]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(ps)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "ID",
                "NAME",
                "MONITORS",
                "MAX MONITORS",
                "MIN INTERVAL",
                "MAX REGIONS",
                "PLAN",
                "CREATED",
            ]);
            for p in ps {
                let q = p.quotas.unwrap_or_default();
                t.add_row(vec![
                    p.id.clone(),
                    p.name.clone(),
                    p.monitor_count.to_string(),
                    q.max_monitors.to_string(),
                    format!("{}s", q.min_interval_secs),
                    q.max_regions_per_monitor.to_string(),
                    if p.paid_plan { "paid" } else { "free" }.to_string(),
                    rfc3339_seconds(p.created_at_ms),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn print_tokens(out: Output, ts: &[ProjectToken]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(ts)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec!["ID", "PREFIX", "NAME", "PROJECT", "CREATED"]);
            for tok in ts {
                t.add_row(vec![
                    tok.id.clone(),
                    format!("{}…", tok.prefix),
                    tok.name.clone(),
                    tok.project_id.clone(),
                    rfc3339_seconds(tok.created_at_ms),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
