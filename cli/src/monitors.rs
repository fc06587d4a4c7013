//! `lookout monitors ...`: the admin client over gRPC, with tables for people and
//! `--output json` for scripts.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{
    CreateMonitorRequest, DeleteMonitorRequest, GetMonitorRequest, HttpCheck, ListMonitorsRequest,
    Monitor, PauseMonitorRequest, StatusRange, TcpCheck,
};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

#[derive(Args)]
pub struct ClientArgs {
    /// Coordinator gRPC address (`https://` for a coordinator serving TLS).
    #[arg(
        long,
        env = "LOOKOUT_ADDR",
        default_value = "http://127.0.0.1:7400",
        global = true
    )]
    pub addr: String,
    /// Project API token (prefer the environment variable: flags show up in `ps`).
    #[arg(long, env = "LOOKOUT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    #[command(flatten)]
    pub tls: crate::connect::TlsArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum MonitorsCmd {
    /// Create a monitor from flags, or from a JSON/YAML file with --file.
    Create(CreateArgs),
    /// List every monitor of the token's project, fetching page after page.
    List(ListArgs),
    /// Show one monitor.
    Get { id: String },
    /// Delete a monitor.
    Delete { id: String },
    /// Stop checking a monitor (state is kept).
    Pause { id: String },
    /// Resume a paused monitor.
    Resume { id: String },
}

/// How a list command pages through the API.
#[derive(Args, Clone, Copy)]
pub struct ListArgs {
    /// Items fetched per request (1..=500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub page_size: u32,
    /// Stop after this many items (default: all).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

impl ListArgs {
    /// Every item of a paged list call, or the first `limit`: `fetch(page_size, page_token)`
    /// asks for one page and returns its items and its `next_page_token`.
    pub async fn collect<T, F, Fut>(&self, mut fetch: F) -> Result<Vec<T>>
    where
        F: FnMut(u32, String) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, String)>>,
    {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let (items, next) = fetch(self.next_size(all.len()), page_token).await?;
            all.extend(items);
            if self.done(all.len(), &next) {
                return Ok(all);
            }
            page_token = next;
        }
    }

    /// The page size to ask for when `have` items are already listed.
    fn next_size(&self, have: usize) -> u32 {
        let have = u32::try_from(have).unwrap_or(u32::MAX);
        self.limit.map_or(self.page_size, |l| {
            l.saturating_sub(have).clamp(1, self.page_size)
        })
    }

    /// Whether to stop after `have` items and a page that ended with `next_token`.
    fn done(&self, have: usize, next_token: &str) -> bool {
        next_token.is_empty() || self.limit.is_some_and(|l| have >= l as usize)
    }
}

#[derive(Args)]
pub struct CreateArgs {
    /// A monitor in the API's JSON shape (YAML accepted); other flags are ignored.
    #[arg(long, conflicts_with_all = ["name", "url", "tcp"])]
    file: Option<std::path::PathBuf>,
    #[arg(long, required_unless_present = "file")]
    name: Option<String>,
    /// HTTP(S) URL to check.
    #[arg(long, conflicts_with = "tcp", required_unless_present_any = ["file", "tcp"])]
    url: Option<String>,
    /// host:port to connect to.
    #[arg(long)]
    tcp: Option<String>,
    /// Seconds between checks.
    #[arg(long, default_value_t = 60)]
    interval: u32,
    /// Region to check from (repeat for several).
    #[arg(long = "region", required_unless_present = "file")]
    regions: Vec<String>,
    #[arg(long)]
    timeout_ms: Option<u32>,
    #[arg(long)]
    failure_threshold: Option<u32>,
    #[arg(long)]
    success_threshold: Option<u32>,
    /// Accepted status codes, e.g. 200-299 or 301 (repeat for several).
    #[arg(long = "expect-status")]
    expect_status: Vec<String>,
    /// Integration to notify, by id (repeat for several; `lookout integrations list`).
    #[arg(long = "integration")]
    integrations: Vec<String>,
}

pub async fn run(client: ClientArgs, cmd: MonitorsCmd) -> Result<()> {
    // Flags are checked before anything is sent.
    let new_monitor = match &cmd {
        MonitorsCmd::Create(args) => Some(args.to_monitor()?),
        _ => None,
    };
    let (channel, bearer) = connect(&client).await?;
    let mut api: Api = MonitorServiceClient::with_interceptor(channel, bearer)
        .max_decoding_message_size(lookout_proto::validate::MAX_ADMIN_MESSAGE_BYTES);
    let out = client.output;
    match cmd {
        MonitorsCmd::Create(_) => {
            let m = api
                .create_monitor(CreateMonitorRequest {
                    monitor: new_monitor,
                })
                .await
                .map_err(status)?;
            print_one(out, &m.into_inner())
        }
        MonitorsCmd::List(args) => {
            let all = args
                .collect(|page_size, page_token| {
                    let mut api = api.clone();
                    async move {
                        let req = ListMonitorsRequest {
                            page_size,
                            page_token,
                        };
                        let page = api.list_monitors(req).await.map_err(status)?.into_inner();
                        Ok((page.monitors, page.next_page_token))
                    }
                })
                .await?;
            print_many(out, &all)
        }
        MonitorsCmd::Get { id } => {
            let m = api
                .get_monitor(GetMonitorRequest { id })
                .await
                .map_err(status)?;
            print_one(out, &m.into_inner())
        }
        MonitorsCmd::Delete { id } => {
            api.delete_monitor(DeleteMonitorRequest { id: id.clone() })
                .await
                .map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "deleted": id })),
                Output::Table => println!("deleted {id}"),
            }
            Ok(())
        }
        MonitorsCmd::Pause { id } => pause(&mut api, out, id, true).await,
        MonitorsCmd::Resume { id } => pause(&mut api, out, id, false).await,
    }
}

/// Connects to the coordinator named by `client`, with its project token for every call.
pub async fn connect(client: &ClientArgs) -> Result<(Channel, Bearer)> {
    let token = client
        .token
        .clone()
        .context("no project token: set LOOKOUT_TOKEN or pass --token")?;
    connect_with(client, &token).await
}

/// Connects to the coordinator named by `client`, with `token` for every call.
pub async fn connect_with(client: &ClientArgs, token: &str) -> Result<(Channel, Bearer)> {
    let bearer: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token contains characters not allowed in a header")?;
    let channel = crate::connect::channel(&client.addr, &client.tls).await?;
    Ok((channel, Bearer(bearer)))
}

type Api = MonitorServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

/// Adds the project token to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

async fn pause(api: &mut Api, out: Output, id: String, paused: bool) -> Result<()> {
    let m = api
        .pause_monitor(PauseMonitorRequest { id, paused })
        .await
        .map_err(status)?;
    print_one(out, &m.into_inner())
}

/// Turns a gRPC status into an error a person can read ("invalid argument: http.url: ...").
pub fn status(s: tonic::Status) -> anyhow::Error {
    let code = match s.code() {
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::Unauthenticated => "unauthenticated (check LOOKOUT_TOKEN)",
        tonic::Code::NotFound => "not found",
        tonic::Code::FailedPrecondition => "refused",
        tonic::Code::ResourceExhausted => "quota exceeded",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::Unavailable => "coordinator unavailable",
        _ => "request failed",
    };
    anyhow::anyhow!("{code}: {}", s.message())
}

impl CreateArgs {
    fn to_monitor(&self) -> Result<Monitor> {
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a valid monitor", path.display()));
        }
        let check = match (self.url.clone(), self.tcp.clone()) {
            (Some(url), None) => {
                let expected_status = self
                    .expect_status
                    .iter()
                    .map(|s| parse_status(s))
                    .collect::<Result<Vec<_>>>()?;
                Check::Http(HttpCheck {
                    url,
                    expected_status,
                    ..Default::default()
                })
            }
            (None, Some(address)) => Check::Tcp(TcpCheck {
                address,
                ..Default::default()
            }),
            _ => bail!("give exactly one of --url and --tcp"),
        };
        Ok(Monitor {
            name: self.name.clone().unwrap_or_default(),
            regions: self.regions.clone(),
            interval_secs: self.interval,
            timeout_ms: self.timeout_ms.unwrap_or(0),
            failure_threshold: self.failure_threshold.unwrap_or(0),
            success_threshold: self.success_threshold.unwrap_or(0),
            integration_ids: self.integrations.clone(),
            check: Some(check),
            ..Default::default()
        })
    }
}

fn parse_status(s: &str) -> Result<StatusRange> {
    let bad =
        || anyhow::anyhow!("--expect-status {s:?}: expected a code (200) or a range (200-299)");
    let (min, max) = match s.split_once('-') {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let c = s.trim().parse().map_err(|_| bad())?;
            (c, c)
        }
    };
    Ok(StatusRange { min, max })
}

fn print_one(out: Output, m: &Monitor) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(m)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            let rows = [
                ("id", m.id.clone()),
                ("name", m.name.clone()),
                ("kind", m.kind().to_string()),
                ("target", m.target()),
                ("regions", m.regions.join(", ")),
                ("schedule", schedule(m)),
                ("timeout", format!("{} ms", m.timeout_ms)),
                (
                    "thresholds",
                    format!(
                        "down after {}, up after {}",
                        m.failure_threshold, m.success_threshold
                    ),
                ),
                ("paused", m.paused.to_string()),
                ("status", region_status_lines(m)),
                ("integrations", m.integration_ids.join(", ")),
                ("version", m.version.to_string()),
            ];
            for (k, v) in rows {
                t.add_row(vec![k.to_string(), v]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn print_many(out: Output, ms: &[Monitor]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(ms)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "ID", "NAME", "KIND", "TARGET", "REGIONS", "SCHEDULE", "STATE", "STATUS",
            ]);
            for m in ms {
                t.add_row(vec![
                    m.id.clone(),
                    m.name.clone(),
                    m.kind().to_string(),
                    m.target(),
                    m.regions.join(","),
                    schedule(m),
                    if m.paused {
                        "paused".into()
                    } else {
                        "active".into()
                    },
                    region_status_summary(m),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn schedule(m: &Monitor) -> String {
    if m.cron.is_empty() {
        format!("every {}s", m.interval_secs)
    } else {
        format!("cron {}", m.cron)
    }
}

/// Each region's status on one line: `eu:UP us:NO_DATA`.
fn region_status_summary(m: &Monitor) -> String {
    m.region_status
        .iter()
        .map(|s| format!("{}:{}", s.region, s.status))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each region's status on its own line, with its failures in a row when there are any.
fn region_status_lines(m: &Monitor) -> String {
    m.region_status
        .iter()
        .map(|s| {
            let mut line = format!("{}: {}", s.region, s.status);
            if s.consecutive_failures > 0 {
                line.push_str(&format!(", {} failures in a row", s.consecutive_failures));
            }
            if s.down {
                line.push_str(", counted down");
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}
