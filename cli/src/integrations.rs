//! `lookout integrations ...`: a project's notification destinations over gRPC (create from
//! flags for a webhook or from a file for any kind, list, get, update keeping the stored
//! secrets, delete), `attach` and `detach` to and from a monitor, and `test`, which sends a
//! test event and prints its first attempt.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lookout_proto::v1::delivery_service_client::DeliveryServiceClient;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{
    AttachIntegrationRequest, BasicAuth, BodyFormat, CreateIntegrationRequest,
    DeleteIntegrationRequest, Delivery, DetachIntegrationRequest, EventFilter, GetDeliveryRequest,
    GetIntegrationRequest, Header, Integration, ListIntegrationsRequest,
    ListMonitorIntegrationsRequest, SignatureMode, TemplateSyntax, TestIntegrationRequest,
    UpdateIntegrationRequest, WebhookIntegration,
};

use crate::monitors::{ClientArgs, ListArgs, Output, connect, status};

mod show;

use show::{print_attempt, print_many, print_one};

#[derive(Subcommand)]
pub enum IntegrationsCmd {
    /// Create a webhook integration from flags, or any kind from a JSON/YAML file with --file.
    Create(SettingsArgs),
    /// List every integration of the token's project, fetching page after page (or only
    /// those a monitor attaches, with --monitor).
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Only the integrations this monitor attaches, in its order.
        #[arg(long)]
        monitor: Option<String>,
    },
    /// Show one integration (secrets read "***").
    Get { id: String },
    /// Change an integration: only the flags given change; secrets not given anew are kept.
    Update {
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete an integration no monitor attaches (not one declared in a config file).
    Delete { id: String },
    /// Attach an integration to a monitor, which then notifies it; prints the monitor's
    /// integrations.
    Attach {
        id: String,
        #[arg(long)]
        monitor: String,
    },
    /// Detach an integration from a monitor; prints the monitor's integrations.
    Detach {
        id: String,
        #[arg(long)]
        monitor: String,
    },
    /// Send a test event and print its first attempt; fails when the attempt failed.
    Test {
        id: String,
        /// Seconds to wait for the first attempt.
        #[arg(long, default_value_t = 35, value_parser = clap::value_parser!(u64).range(1..=600))]
        wait: u64,
    },
}

/// The settings of `create` and `update`: webhook flags, or a whole integration from a file.
#[derive(Args)]
pub struct SettingsArgs {
    /// An integration in the API's JSON shape (YAML accepted), of any kind; the webhook flags
    /// are refused with it.
    #[arg(long, conflicts_with_all = [
        "url", "method", "headers", "basic_auth", "secret", "signature", "body",
        "template_file", "syntax", "json",
    ])]
    file: Option<PathBuf>,
    /// Defaults to the kind ("webhook").
    #[arg(long)]
    name: Option<String>,
    /// Webhook URL (http or https; may use `{{VARIABLE}}`).
    #[arg(long)]
    url: Option<String>,
    /// POST (default), PUT, PATCH or GET.
    #[arg(long)]
    method: Option<String>,
    /// Extra header `NAME=VALUE` (repeat for several; replaces the stored headers).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// HTTP basic auth `USER:PASSWORD`; "" removes it. Prefer the environment variable
    /// LOOKOUT_WEBHOOK_BASIC_AUTH (flags show up in `ps`), which --file ignores.
    #[arg(long)]
    basic_auth: Option<String>,
    /// HMAC-SHA256 signing secret; "" removes it. Prefer the environment variable
    /// LOOKOUT_WEBHOOK_SECRET (flags show up in `ps`), which --file ignores.
    #[arg(long)]
    secret: Option<String>,
    /// How requests are signed.
    #[arg(long, value_enum)]
    signature: Option<SignatureArg>,
    /// What the body is (`template` with --template-file).
    #[arg(long, value_enum)]
    body: Option<BodyArg>,
    /// Body template; implies --body template.
    #[arg(long)]
    template_file: Option<PathBuf>,
    /// Template language of the URL, headers and body.
    #[arg(long, value_enum)]
    syntax: Option<SyntaxArg>,
    /// The template renders JSON (checked when saved, sent as application/json).
    #[arg(long)]
    json: bool,
    /// Events it receives, comma-separated; the ones not named are off.
    #[arg(long, value_enum, value_delimiter = ',')]
    events: Option<Vec<EventArg>>,
    /// Deliveries per minute at most (1..=60000; default 100).
    #[arg(long)]
    rate_limit: Option<u32>,
}

/// Where `create` and `update` read a webhook's secrets when the flags are not given.
const SECRET_ENV: &str = "LOOKOUT_WEBHOOK_SECRET";
const BASIC_AUTH_ENV: &str = "LOOKOUT_WEBHOOK_BASIC_AUTH";

#[derive(Clone, Copy, ValueEnum)]
pub enum SignatureArg {
    Lookout,
    Checkly,
    Statuspageone,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BodyArg {
    Native,
    Uptinio,
    Template,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SyntaxArg {
    Handlebars,
    Go,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventArg {
    Failures,
    Recoveries,
    Degraded,
    Reminders,
    #[value(alias = "certificate_expiry")]
    CertificateExpiry,
    #[value(alias = "no_data")]
    NoData,
    Flapping,
}

type Api = IntegrationServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        crate::monitors::Bearer,
    >,
>;

pub async fn run(client: ClientArgs, cmd: IntegrationsCmd) -> Result<()> {
    // Flags and files are checked before anything is sent.
    let new = match &cmd {
        IntegrationsCmd::Create(s) => Some(s.to_new()?),
        _ => None,
    };
    let (channel, bearer) = connect(&client).await?;
    let mut api: Api = IntegrationServiceClient::with_interceptor(channel.clone(), bearer.clone())
        .max_decoding_message_size(lookout_proto::validate::MAX_ADMIN_MESSAGE_BYTES);
    let out = client.output;
    match cmd {
        IntegrationsCmd::Create(_) => {
            let i = api
                .create_integration(CreateIntegrationRequest { integration: new })
                .await
                .map_err(status)?;
            print_one(out, &i.into_inner())
        }
        IntegrationsCmd::List {
            monitor: Some(monitor),
            ..
        } => print_many(
            out,
            &attached(&mut monitors(&channel, &bearer), monitor).await?,
        ),
        IntegrationsCmd::List { list: args, .. } => {
            let all = args
                .collect(|page_size, page_token| {
                    let mut api = api.clone();
                    async move {
                        let req = ListIntegrationsRequest {
                            page_size,
                            page_token,
                        };
                        let page = api
                            .list_integrations(req)
                            .await
                            .map_err(status)?
                            .into_inner();
                        Ok((page.integrations, page.next_page_token))
                    }
                })
                .await?;
            print_many(out, &all)
        }
        IntegrationsCmd::Get { id } => {
            let i = api
                .get_integration(GetIntegrationRequest { id })
                .await
                .map_err(status)?;
            print_one(out, &i.into_inner())
        }
        IntegrationsCmd::Update { id, settings } => {
            let current = api
                .get_integration(GetIntegrationRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            let next = settings.to_update(current)?;
            let i = api
                .update_integration(UpdateIntegrationRequest {
                    integration: Some(next),
                })
                .await
                .map_err(status)?;
            print_one(out, &i.into_inner())
        }
        IntegrationsCmd::Delete { id } => {
            api.delete_integration(DeleteIntegrationRequest { id: id.clone() })
                .await
                .map_err(status)?;
            match out {
                Output::Json => println!("{}", serde_json::json!({ "deleted": id })),
                Output::Table => println!("deleted {id}"),
            }
            Ok(())
        }
        IntegrationsCmd::Attach { id, monitor } => {
            let mut m = monitors(&channel, &bearer);
            m.attach_integration(AttachIntegrationRequest {
                monitor_id: monitor.clone(),
                integration_id: id,
            })
            .await
            .map_err(status)?;
            print_many(out, &attached(&mut m, monitor).await?)
        }
        IntegrationsCmd::Detach { id, monitor } => {
            let mut m = monitors(&channel, &bearer);
            m.detach_integration(DetachIntegrationRequest {
                monitor_id: monitor.clone(),
                integration_id: id,
            })
            .await
            .map_err(status)?;
            print_many(out, &attached(&mut m, monitor).await?)
        }
        IntegrationsCmd::Test { id, wait } => {
            let queued = api
                .test_integration(TestIntegrationRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            let mut deliveries = DeliveryServiceClient::with_interceptor(channel, bearer);
            let d = first_attempt(&mut deliveries, &queued.id, Duration::from_secs(wait)).await?;
            print_test(out, &d)
        }
    }
}

type Monitors = MonitorServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        crate::monitors::Bearer,
    >,
>;

fn monitors(channel: &tonic::transport::Channel, bearer: &crate::monitors::Bearer) -> Monitors {
    MonitorServiceClient::with_interceptor(channel.clone(), bearer.clone())
}

/// The integrations monitor `id` attaches.
async fn attached(api: &mut Monitors, id: String) -> Result<Vec<Integration>> {
    Ok(api
        .list_monitor_integrations(ListMonitorIntegrationsRequest { monitor_id: id })
        .await
        .map_err(status)?
        .into_inner()
        .integrations)
}

/// Polls the delivery log until delivery `id` has an attempt, or fails after `wait`.
async fn first_attempt(
    api: &mut DeliveryServiceClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            crate::monitors::Bearer,
        >,
    >,
    id: &str,
    wait: Duration,
) -> Result<Delivery> {
    let deadline = Instant::now() + wait;
    loop {
        let d = api
            .get_delivery(GetDeliveryRequest { id: id.to_string() })
            .await
            .map_err(status)?
            .into_inner();
        if !d.attempt_log.is_empty() {
            return Ok(d);
        }
        if Instant::now() >= deadline {
            bail!(
                "test delivery {id} was queued but not attempted within {} s (is the notifier \
                 running?); see `lookout deliveries get {id}`",
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints the first attempt of a test delivery; an error when it failed.
fn print_test(out: Output, d: &Delivery) -> Result<()> {
    let Some(a) = d.attempt_log.first() else {
        bail!("delivery {} has no attempt", d.id);
    };
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(d)?),
        Output::Table => print_attempt(d, a),
    }
    let error = if a.error.is_empty() {
        "no error given"
    } else {
        &a.error
    };
    match a.outcome.as_str() {
        "delivered" => Ok(()),
        "retry" => bail!(
            "the test delivery failed: {error}; the notifier retries it (`lookout deliveries \
             get {}`)",
            d.id
        ),
        _ => bail!("the test delivery {} failed for good: {error}", d.id),
    }
}

impl SettingsArgs {
    /// The integration `create` sends.
    fn to_new(&self) -> Result<Integration> {
        if let Some(path) = &self.file {
            let mut i = read_file(path)?;
            self.apply_common(&mut i);
            return Ok(i);
        }
        if self.url.is_none() {
            bail!("give --url for a webhook, or --file for an integration of any kind");
        }
        let mut w = WebhookIntegration::default();
        self.apply_webhook(&mut w)?;
        let mut i = Integration {
            kind: Some(Kind::Webhook(w)),
            ..Default::default()
        };
        self.apply_common(&mut i);
        Ok(i)
    }

    /// The integration `update` sends: `current` (as read, secrets "***") with the flags
    /// applied, or the file with "***" for every secret it leaves empty that is set now.
    fn to_update(&self, current: Integration) -> Result<Integration> {
        let mut next = match &self.file {
            Some(path) => keep_unset_secrets(read_file(path)?, &current)?,
            None => {
                let mut next = current.clone();
                match &mut next.kind {
                    // The secrets in the environment count as given anew.
                    Some(Kind::Webhook(w)) => self.apply_webhook(w)?,
                    _ if self.webhook_flags_given() => bail!(
                        "integration {} is a {} integration: the webhook flags do not apply, \
                         change it with --file",
                        current.id,
                        lookout_render::kind_name(&current)
                    ),
                    _ => {}
                }
                next
            }
        };
        self.apply_common(&mut next);
        next.id = current.id;
        // The stored version: a concurrent change in between is refused, not overwritten.
        next.version = current.version;
        Ok(next)
    }

    fn webhook_flags_given(&self) -> bool {
        self.url.is_some()
            || self.method.is_some()
            || !self.headers.is_empty()
            || self.basic_auth.is_some()
            || self.secret.is_some()
            || self.signature.is_some()
            || self.body.is_some()
            || self.template_file.is_some()
            || self.syntax.is_some()
            || self.json
    }

    /// Name, events and rate limit, for any kind.
    fn apply_common(&self, i: &mut Integration) {
        if let Some(name) = &self.name {
            i.name = name.clone();
        }
        if let Some(events) = &self.events {
            i.events = Some(event_filter(events));
        }
        if let Some(n) = self.rate_limit {
            i.rate_limit_per_minute = n;
        }
    }

    fn apply_webhook(&self, w: &mut WebhookIntegration) -> Result<()> {
        if let Some(url) = &self.url {
            w.url = url.clone();
        }
        if let Some(method) = &self.method {
            w.method = method.clone();
        }
        if !self.headers.is_empty() {
            w.headers = self
                .headers
                .iter()
                .map(|h| parse_header(h))
                .collect::<Result<_>>()?;
        }
        // Read here rather than by clap: a variable set in the environment must not count as
        // a flag given with --file.
        let from_env = |name: &str| std::env::var(name).ok();
        let basic_auth = (self.basic_auth.clone()).or_else(|| from_env(BASIC_AUTH_ENV));
        if let Some(auth) = &basic_auth {
            w.basic_auth = if auth.is_empty() {
                None
            } else {
                let (username, password) = auth.split_once(':').with_context(
                    || "--basic-auth (or LOOKOUT_WEBHOOK_BASIC_AUTH): expected USER:PASSWORD",
                )?;
                Some(BasicAuth {
                    username: username.to_string(),
                    password: password.to_string(),
                })
            };
        }
        if let Some(secret) = self.secret.clone().or_else(|| from_env(SECRET_ENV)) {
            w.secret = secret;
        }
        if let Some(s) = self.signature {
            w.signature = match s {
                SignatureArg::Lookout => SignatureMode::Lookout,
                SignatureArg::Checkly => SignatureMode::Checkly,
                SignatureArg::Statuspageone => SignatureMode::Statuspageone,
            } as i32;
        }
        if let Some(path) = &self.template_file {
            w.template = std::fs::read_to_string(path)
                .with_context(|| format!("--template-file: cannot read {}", path.display()))?;
            if self.body.is_none() {
                w.body = BodyFormat::Template as i32;
            }
        }
        if let Some(b) = self.body {
            w.body = match b {
                BodyArg::Native => BodyFormat::Native,
                BodyArg::Uptinio => BodyFormat::Uptinio,
                BodyArg::Template => BodyFormat::Template,
            } as i32;
        }
        if let Some(s) = self.syntax {
            w.syntax = match s {
                SyntaxArg::Handlebars => TemplateSyntax::Handlebars,
                SyntaxArg::Go => TemplateSyntax::Go,
            } as i32;
        }
        if self.json {
            w.template_is_json = true;
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<Integration> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a valid integration", path.display()))
}

/// `file` with "***" in every secret setting it leaves empty that `current` (as read) has set,
/// so the server keeps those; fields are matched by their path in the API's JSON shape.
fn keep_unset_secrets(file: Integration, current: &Integration) -> Result<Integration> {
    fn walk(next: &mut serde_json::Value, now: &serde_json::Value) {
        match (next, now) {
            (serde_json::Value::Object(n), serde_json::Value::Object(c)) => {
                for (k, cv) in c {
                    if cv.as_str() == Some(lookout_proto::REDACTED) {
                        let nv = n.entry(k.clone()).or_insert(serde_json::Value::Null);
                        if nv.is_null() || nv.as_str() == Some("") {
                            *nv = cv.clone();
                        }
                    } else if let Some(nv) = n.get_mut(k) {
                        walk(nv, cv);
                    }
                }
            }
            (serde_json::Value::Array(n), serde_json::Value::Array(c)) => {
                for (nv, cv) in n.iter_mut().zip(c) {
                    walk(nv, cv);
                }
            }
            _ => {}
        }
    }
    let mut next = serde_json::to_value(&file)?;
    walk(&mut next, &serde_json::to_value(current)?);
    Ok(serde_json::from_value(next)?)
}

fn parse_header(raw: &str) -> Result<Header> {
    let (name, value) = raw
        .split_once('=')
        .with_context(|| format!("--header {raw:?}: expected NAME=VALUE"))?;
    Ok(Header {
        name: name.trim().to_string(),
        value: value.to_string(),
    })
}

/// The named events on, every other one off.
fn event_filter(events: &[EventArg]) -> EventFilter {
    let on = |e: EventArg| Some(events.contains(&e));
    EventFilter {
        failures: on(EventArg::Failures),
        recoveries: on(EventArg::Recoveries),
        degraded: on(EventArg::Degraded),
        reminders: on(EventArg::Reminders),
        certificate_expiry: on(EventArg::CertificateExpiry),
        no_data: on(EventArg::NoData),
        flapping: on(EventArg::Flapping),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_secrets_keeps_the_stored_ones() {
        let current = Integration {
            id: "int_1".into(),
            kind: Some(Kind::Webhook(WebhookIntegration {
                url: "https://example.org/hook".into(),
                secret: "***".into(),
                basic_auth: Some(BasicAuth {
                    username: "u".into(),
                    password: "***".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let file = Integration {
            kind: Some(Kind::Webhook(WebhookIntegration {
                url: "https://example.org/other".into(),
                basic_auth: Some(BasicAuth {
                    username: "u".into(),
                    password: "new".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let next = keep_unset_secrets(file, &current).expect("merge");
        let Some(Kind::Webhook(w)) = next.kind else {
            panic!("a webhook");
        };
        assert_eq!(w.url, "https://example.org/other");
        assert_eq!(w.secret, "***", "left out: kept");
        assert_eq!(
            w.basic_auth.map(|a| a.password).as_deref(),
            Some("new"),
            "given anew: sent"
        );
    }

    #[test]
    fn named_events_are_on_and_the_others_off() {
        let f = event_filter(&[EventArg::Failures, EventArg::Recoveries]);
        assert_eq!(f.failures, Some(true));
        assert_eq!(f.recoveries, Some(true));
        assert_eq!(f.degraded, Some(false));
        assert_eq!(f.no_data, Some(false));
        let i = Integration {
            events: Some(f),
            ..Default::default()
        };
        assert_eq!(show::events(&i), "failures,recoveries");
    }
}
