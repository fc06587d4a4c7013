//! Sending mail over SMTP (lettre on tokio with rustls): the deployment's server from the
//! `email` config (its sender, TLS mode, AUTH, an extra CA file), and the servers email
//! integrations name themselves, which must be public addresses unless private destinations
//! are allowed (checked on the address connected to, so a name cannot resolve to a checked
//! address and then to another). Used by the email channel and by the mailing of members'
//! verification codes.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lookout_proto::Secret;
use lookout_proto::v1::{SmtpServer, SmtpTls};
use lookout_proto::validate::email::{default_smtp_port, mailbox, smtp_server};
use lookout_render::email::EmailContent;
use serde::Deserialize;

use crate::channels::{Delivered, SendError};
use crate::dispatch::destination::PrivateDestination;

/// The deployment's mail settings (`email:` in the notifier's config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Sender of every mail whose integration names none, `Lookout <lookout@example.com>`.
    #[serde(default)]
    pub from: Option<String>,
    /// The SMTP server mail goes through unless an integration names its own.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// PEM CA certificates trusted besides the system's, for every SMTP server (a relay
    /// with a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `email.smtp`: the deployment's own relay. Unlike an integration's server it may be a
/// private or loopback address (the operator chose it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 587 for `starttls`, 465 for `tls`, 25 for `none` when unset.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, SMTPS) or `none` (plain text).
    #[serde(default)]
    pub tls: SmtpTlsMode,
    /// AUTH when set (needs TLS).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Connect and command timeout (1..=120000; default 15000).
    #[serde(default = "default_smtp_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_smtp_timeout_ms() -> u64 {
    15_000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    #[default]
    Starttls,
    Tls,
    None,
}

impl From<SmtpTlsMode> for SmtpTls {
    fn from(m: SmtpTlsMode) -> SmtpTls {
        match m {
            SmtpTlsMode::Starttls => SmtpTls::Starttls,
            SmtpTlsMode::Tls => SmtpTls::Implicit,
            SmtpTlsMode::None => SmtpTls::None,
        }
    }
}

/// A refused `email` setting: the field path and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MailConfigError {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> MailConfigError {
    MailConfigError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl EmailConfig {
    /// Checks every field (the sender's form, the server's host and port, AUTH only with
    /// TLS, a readable CA file) without changing the config.
    pub fn validate(&self) -> Result<(), MailConfigError> {
        if let Some(from) = &self.from {
            let mut f = from.clone();
            mailbox("email.from", &mut f).map_err(|e| bad(&e.field, e.reason))?;
        }
        if let Some(path) = &self.ca_file {
            read_ca_file(path)?;
        }
        let Some(s) = &self.smtp else { return Ok(()) };
        smtp_server(
            "email.smtp",
            &mut SmtpServer {
                host: s.host.clone(),
                port: u32::from(s.port.unwrap_or(0)),
                tls: if s.tls == SmtpTlsMode::None {
                    // The deployment's relay may be plain text on any host it chose; only
                    // AUTH without TLS is refused, below.
                    SmtpTls::Starttls as i32
                } else {
                    SmtpTls::from(s.tls) as i32
                },
                ..Default::default()
            },
        )
        .map_err(|e| bad(&e.field, e.reason))?;
        if s.port == Some(0) {
            return Err(bad("email.smtp.port", "0 is invalid, must be 1..=65535"));
        }
        if s.username.is_some() != s.password.is_some() {
            return Err(bad(
                "email.smtp.password",
                "username and password go together: give both or neither",
            ));
        }
        if s.tls == SmtpTlsMode::None && s.username.is_some() {
            return Err(bad(
                "email.smtp.username",
                "AUTH needs TLS: a password is never sent in plain text (tls: starttls or tls)",
            ));
        }
        if !(1..=120_000).contains(&s.timeout_ms) {
            return Err(bad(
                "email.smtp.timeout_ms",
                format!("{} is invalid, must be 1..=120000", s.timeout_ms),
            ));
        }
        Ok(())
    }
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate>, MailConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| bad("email.ca_file", format!("{}: {e}", path.display())))?;
    let cert = Certificate::from_pem(&pem).map_err(|e| {
        bad(
            "email.ca_file",
            format!("{} holds no usable PEM certificate: {e}", path.display()),
        )
    })?;
    Ok(vec![cert])
}

/// Where one mail goes through.
#[derive(Clone)]
struct Server {
    /// The name certificates are checked against.
    host: String,
    port: u16,
    tls: SmtpTls,
    login: Option<(String, String)>,
    /// Whether the host must be a public address.
    public_only: bool,
}

/// Sends mails; cheap to share.
pub struct Mailer {
    from: Option<Mailbox>,
    default_server: Option<Server>,
    roots: Vec<Certificate>,
    timeout: Duration,
    allow_private: bool,
}

/// One mail to send.
pub struct Mail<'a> {
    pub to: &'a str,
    /// The integration's sender, or empty for the deployment's.
    pub from: &'a str,
    /// The integration's own server, or `None` for the deployment's.
    pub server: Option<&'a SmtpServer>,
    pub content: &'a EmailContent,
    /// `Message-ID` local part: the same on every attempt of one delivery.
    pub message_id: &'a str,
}

impl Mailer {
    /// From a validated config; the system's CA certificates and `ca_file` are read once,
    /// here. `allow_private`: whether integrations' own servers may be private addresses.
    pub fn new(config: &EmailConfig, allow_private: bool) -> Result<Mailer, MailConfigError> {
        config.validate()?;
        let from = config
            .from
            .as_deref()
            .map(|f| {
                let mut f = f.to_string();
                mailbox("email.from", &mut f).map_err(|e| bad(&e.field, e.reason))?;
                f.parse::<Mailbox>()
                    .map_err(|e| bad("email.from", e.to_string()))
            })
            .transpose()?;
        let mut roots: Vec<Certificate> = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .filter_map(|c| Certificate::from_der(c.to_vec()).ok())
            .collect();
        if let Some(path) = &config.ca_file {
            roots.extend(read_ca_file(path)?);
        }
        let mut timeout = Duration::from_millis(default_smtp_timeout_ms());
        let default_server = match &config.smtp {
            None => None,
            Some(s) => {
                timeout = Duration::from_millis(s.timeout_ms);
                let tls = SmtpTls::from(s.tls);
                Some(Server {
                    host: s.host.trim().to_string(),
                    port: s.port.unwrap_or_else(|| default_smtp_port(tls)),
                    tls,
                    login: s
                        .username
                        .clone()
                        .zip(s.password.as_ref().map(|p| p.expose().to_string())),
                    public_only: false,
                })
            }
        };
        Ok(Mailer {
            from,
            default_server,
            roots,
            timeout,
            allow_private,
        })
    }

    /// Whether the deployment has a server of its own (`email.smtp`).
    pub fn has_server(&self) -> bool {
        self.default_server.is_some()
    }

    /// Sends `mail`; the answer's code and text are the excerpt. 5xx answers are permanent,
    /// 4xx and network failures retryable.
    pub async fn send(&self, mail: &Mail<'_>) -> Result<Delivered, SendError> {
        let server = match mail.server {
            Some(s) => {
                let mut s = s.clone();
                smtp_server("email.smtp", &mut s)
                    .map_err(|e| SendError::permanent(e.to_string()))?;
                let tls = SmtpTls::try_from(s.tls).unwrap_or(SmtpTls::Starttls);
                Server {
                    host: s.host,
                    port: u16::try_from(s.port).unwrap_or(default_smtp_port(tls)),
                    tls,
                    login: (!s.username.is_empty()).then_some((s.username, s.password)),
                    public_only: !self.allow_private,
                }
            }
            None => self.default_server.clone().ok_or_else(|| {
                SendError::permanent(
                    "no SMTP server: the integration names none and the notifier has no \
                     email.smtp",
                )
            })?,
        };
        let from = if mail.from.is_empty() {
            self.from.clone().ok_or_else(|| {
                SendError::permanent(
                    "no sender: the integration has no from and the notifier no email.from",
                )
            })?
        } else {
            mail.from
                .parse::<Mailbox>()
                .map_err(|e| SendError::permanent(format!("from: {e}")))?
        };
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError::permanent(format!("to: {e}")))?;
        let domain = from.email.domain().to_string();
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.content.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", mail.message_id)))
            .user_agent(crate::USER_AGENT.to_string())
            .multipart(MultiPart::alternative_plain_html(
                mail.content.text.clone(),
                mail.content.html.clone(),
            ))
            .map_err(|e| SendError::permanent(format!("building the mail: {e}")))?;
        let transport = self.transport(&server).await?;
        match transport.send(message).await {
            Ok(r) => Ok(Delivered {
                status: Some(u16::from(r.code())),
                excerpt: format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" ")),
            }),
            Err(e) => Err(classify(&server, &e)),
        }
    }

    /// A transport to `server`, connecting to an address checked against the destination
    /// rule when it must be public.
    async fn transport(
        &self,
        server: &Server,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let connect_to = if server.public_only {
            public_addr(&server.host, server.port)
                .await?
                .ip()
                .to_string()
        } else {
            server.host.clone()
        };
        let tls = match server.tls {
            SmtpTls::None => Tls::None,
            mode => {
                let params = self
                    .roots
                    .iter()
                    .fold(
                        TlsParameters::builder(server.host.clone())
                            .certificate_store(CertificateStore::None),
                        |b, c| b.add_root_certificate(c.clone()),
                    )
                    .build_rustls()
                    .map_err(|e| SendError::permanent(format!("TLS settings: {e}")))?;
                if mode == SmtpTls::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(connect_to)
            .port(server.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some((user, password)) = &server.login {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(b.build())
    }
}

/// The first address of `host` (a name or an IP literal), refused unless it is public.
pub(crate) async fn public_addr(host: &str, port: u16) -> Result<SocketAddr, SendError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| SendError::retryable(format!("resolving {bare}: {e}")))?
            .collect(),
    };
    if let Some(a) = addrs
        .iter()
        .find(|a| lookout_proto::address::is_public(a.ip()))
    {
        return Ok(*a);
    }
    match addrs.first() {
        None => Err(SendError::retryable(format!("{bare} has no address"))),
        Some(a) => Err(SendError::permanent(
            PrivateDestination(format!("{bare} ({})", a.ip())).to_string(),
        )),
    }
}

/// What a failed send means for the next attempt.
fn classify(server: &Server, e: &lettre::transport::smtp::Error) -> SendError {
    let at = format!("{}:{}", server.host, server.port);
    let status = e.status().map(u16::from);
    if e.is_permanent() {
        return SendError::Permanent {
            reason: format!("SMTP server {at} refused the mail: {e}"),
            status,
            excerpt: String::new(),
        };
    }
    SendError::Retryable {
        reason: format!("SMTP server {at}: {}", error_chain(e)),
        retry_after: None,
        status,
        excerpt: String::new(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
