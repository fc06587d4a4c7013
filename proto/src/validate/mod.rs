//! Validation of monitors received from any API, config file or assignment: one constructor,
//! `TryFrom<Monitor> for ValidMonitor`, applies every rule and default, so a spec the
//! coordinator accepts is exactly one the agent builds. Every refusal names the field and quotes
//! at most an excerpt of the bad value.

pub mod email;
mod http;
pub mod limits;
pub mod notify;
mod probes;
mod schedule;
pub use schedule::cron_expression;
pub mod ssh;
mod text;

pub use http::{DEFAULT_MAX_REDIRECTS, header};
pub use limits::*;
pub use probes::{RCODES, decode_escapes, resolver_addr};

use rustls_pki_types::CertificateDer;
use url::Url;

use crate::bounds::quote;
use crate::v1::{IpPreference, Monitor, TlsOptions, monitor::Check};
use text::{bounded, bounded_list};

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
pub const MAX_INTERVAL_SECS: u32 = 86_400;
pub const MAX_TIMEOUT_MS: u32 = 60_000;

/// A refused field: `field` is a path such as `http.url` or `integration_ids[1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A monitor that passed every rule, with its defaults filled in. Only [`TryFrom`] makes one,
/// so holding one proves the spec is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMonitor {
    spec: Monitor,
    /// The URL of an http check, as validation parsed it.
    http_url: Option<Url>,
}

impl ValidMonitor {
    /// The validated spec, defaults filled in.
    pub fn spec(&self) -> &Monitor {
        &self.spec
    }

    /// The parsed URL of an http check, so that a prober need not parse it again.
    pub fn http_url(&self) -> Option<&Url> {
        self.http_url.as_ref()
    }

    pub fn into_spec(self) -> Monitor {
        self.spec
    }
}

impl TryFrom<Monitor> for ValidMonitor {
    type Error = FieldError;

    /// Applies every rule that depends on the monitor alone; [`monitor`] adds the check of
    /// its regions against the coordinator's.
    fn try_from(mut m: Monitor) -> Result<ValidMonitor, FieldError> {
        bounded("id", &m.id, MAX_ID_BYTES)?;
        // Output only: a monitor read back (`get -o json`) and sent again is not refused, and
        // nothing a client claims about a region's status is ever stored.
        m.region_status.clear();
        m.name = m.name.trim().to_string();
        if m.name.is_empty() {
            return Err(err("name", "must not be empty"));
        }
        if m.name.chars().count() > MAX_NAME_CHARS {
            return Err(err(
                "name",
                format!("is longer than {MAX_NAME_CHARS} characters"),
            ));
        }
        if m.regions.is_empty() {
            return Err(err("regions", "must name at least one region"));
        }
        bounded_list("regions", m.regions.len(), MAX_REGIONS)?;
        for (i, r) in m.regions.iter().enumerate() {
            bounded(format!("regions[{i}]"), r, MAX_REGION_BYTES)?;
        }
        m.regions.sort();
        m.regions.dedup();
        schedule::schedule(&mut m)?;
        if m.failure_threshold == 0 {
            m.failure_threshold = DEFAULT_FAILURE_THRESHOLD;
        }
        if m.success_threshold == 0 {
            m.success_threshold = DEFAULT_SUCCESS_THRESHOLD;
        }
        if m.failure_threshold > 100 {
            return Err(err(
                "failure_threshold",
                format!("{} is invalid, must be 1..=100", m.failure_threshold),
            ));
        }
        if m.success_threshold > 100 {
            return Err(err(
                "success_threshold",
                format!("{} is invalid, must be 1..=100", m.success_threshold),
            ));
        }
        notify::engine(&mut m)?;
        if m.region_quorum == 0 {
            m.region_quorum = 1;
        }
        if m.region_quorum as usize > m.regions.len() {
            return Err(err(
                "region_quorum",
                format!(
                    "{} is more than the {} regions the monitor runs in",
                    m.region_quorum,
                    m.regions.len()
                ),
            ));
        }
        if !m.webhooks.is_empty() {
            return Err(err(
                "webhooks",
                "moved to integrations: create a webhook integration and list its id in integration_ids",
            ));
        }
        bounded_list("integration_ids", m.integration_ids.len(), MAX_INTEGRATIONS)?;
        for (i, id) in m.integration_ids.iter().enumerate() {
            let field = format!("integration_ids[{i}]");
            if id.is_empty() {
                return Err(err(field, "must not be empty"));
            }
            bounded(field.clone(), id, MAX_ID_BYTES)?;
            if m.integration_ids[..i].contains(id) {
                return Err(err(field, format!("{} is listed twice", quote(id))));
            }
        }
        let timeout_ms = m.timeout_ms;
        let mut http_url = None;
        match m.check.as_mut() {
            None => {
                return Err(err(
                    "check",
                    "must be one of: http, tcp, dns, icmp, tls, grpc",
                ));
            }
            Some(Check::Http(h)) => http_url = Some(http::http(h, timeout_ms)?),
            Some(Check::Tcp(t)) => probes::tcp(t)?,
            Some(Check::Dns(d)) => probes::dns(d)?,
            Some(Check::Icmp(i)) => probes::icmp(i, timeout_ms)?,
            Some(Check::Tls(t)) => probes::tls(t)?,
            Some(Check::Grpc(g)) => probes::grpc(g)?,
        }
        // The bound `ListMonitors` is sized by; the field bounds above allow more in sum.
        let size = prost::Message::encoded_len(&m);
        if size > MAX_MONITOR_BYTES {
            return Err(err(
                "monitor",
                format!("is {size} bytes encoded, at most {MAX_MONITOR_BYTES}"),
            ));
        }
        Ok(ValidMonitor { spec: m, http_url })
    }
}

/// Checks `m` against the rules and the coordinator's `known_regions`, and returns it with
/// defaults filled in.
pub fn valid_monitor(m: Monitor, known_regions: &[String]) -> Result<ValidMonitor, FieldError> {
    let valid = ValidMonitor::try_from(m)?;
    for (i, r) in valid.spec.regions.iter().enumerate() {
        if !known_regions.iter().any(|k| k == r) {
            return Err(err(
                format!("regions[{i}]"),
                format!(
                    "unknown region {}, known regions: {}",
                    quote(r),
                    known_regions.join(", ")
                ),
            ));
        }
    }
    Ok(valid)
}

/// [`valid_monitor`], keeping only the spec.
pub fn monitor(m: Monitor, known_regions: &[String]) -> Result<Monitor, FieldError> {
    valid_monitor(m, known_regions).map(ValidMonitor::into_spec)
}

/// Refuses an `IpPreference` outside the enum.
fn ip_preference(field: &str, value: i32) -> Result<(), FieldError> {
    IpPreference::try_from(value).map(drop).map_err(|_| {
        err(
            field,
            format!("{value} is not a known IP preference (0..=4)"),
        )
    })
}

/// Compiles a user-supplied regular expression with the bounds every component uses, so a
/// pattern the API accepts is one the agent can compile.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "is {} bytes, at most {MAX_PATTERN_BYTES}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| {
            format!(
                "{} is not a valid regular expression: {}",
                quote(pattern),
                crate::bounds::excerpt(&e.to_string())
            )
        })
}

/// [`compile_regex`] for patterns matched against raw bytes (TCP `expect` steps).
pub fn compile_bytes_regex(pattern: &str) -> Result<regex::bytes::Regex, String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "is {} bytes, at most {MAX_PATTERN_BYTES}",
            pattern.len()
        ));
    }
    regex::bytes::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| {
            format!(
                "{} is not a valid regular expression: {}",
                quote(pattern),
                crate::bounds::excerpt(&e.to_string())
            )
        })
}

/// Checks `host:port` (IPv6 hosts in brackets) and trims it in place.
fn host_port(field: &str, address: &mut String) -> Result<(), FieldError> {
    bounded(field, address, MAX_ADDRESS_BYTES)?;
    *address = address.trim().to_string();
    let bad = || {
        err(
            field,
            format!(
                "{} is invalid, must be host:port ([ipv6]:port for IPv6)",
                quote(address)
            ),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host = bracketed.unwrap_or(host);
    if host.is_empty()
        || !text::host_chars(host)
        || (host.contains(':')
            && (bracketed.is_none() || host.parse::<std::net::Ipv6Addr>().is_err()))
        || port.parse::<u16>().ok().filter(|p| *p != 0).is_none()
    {
        return Err(bad());
    }
    Ok(())
}

/// Checks the TLS options of the check at `field` (`http.tls`, `tcp.tls`, ...).
fn tls_options(field: &str, t: &mut TlsOptions) -> Result<(), FieldError> {
    let name_field = format!("{field}.server_name");
    bounded(&name_field, &t.server_name, MAX_HOST_BYTES)?;
    t.server_name = t.server_name.trim().to_string();
    if !t.server_name.is_empty()
        && rustls_pki_types::ServerName::try_from(t.server_name.as_str()).is_err()
    {
        return Err(err(
            name_field,
            format!("{} is not a host name or IP address", quote(&t.server_name)),
        ));
    }
    let pem_field = format!("{field}.ca_pem");
    bounded(&pem_field, &t.ca_pem, MAX_PEM_BYTES)?;
    if !t.ca_pem.trim().is_empty() {
        text::ca_certs(&t.ca_pem).map_err(|reason| err(pem_field, reason))?;
    }
    Ok(())
}

/// The extra CA certificates of `tls` (none when `ca_pem` is empty), parsed by the rule
/// validation applies, so the agent trusts exactly what the API accepted.
pub fn ca_certs(tls: Option<&TlsOptions>) -> Result<Vec<CertificateDer<'static>>, FieldError> {
    match tls.map(|t| t.ca_pem.trim()).filter(|p| !p.is_empty()) {
        None => Ok(Vec::new()),
        Some(pem) => text::ca_certs(pem).map_err(|reason| err("tls.ca_pem", reason)),
    }
}

/// An absolute http(s) URL with a host, at most [`MAX_URL_BYTES`].
pub fn http_url(field: &str, raw: &str) -> Result<Url, FieldError> {
    bounded(field, raw, MAX_URL_BYTES)?;
    let u = Url::parse(raw)
        .map_err(|e| err(field, format!("{} is not a valid URL: {e}", quote(raw))))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(err(
            field,
            format!("{} must use http or https, not {}", quote(raw), u.scheme()),
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(err(field, format!("{} has no host", quote(raw))));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{HttpCheck, StatusRange, TcpCheck};

    fn http_monitor(url: &str) -> Monitor {
        Monitor {
            name: "api".into(),
            regions: vec!["eu".into()],
            interval_secs: 30,
            check: Some(Check::Http(HttpCheck {
                url: url.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn regions() -> Vec<String> {
        vec!["eu".into(), "us".into()]
    }

    #[test]
    fn accepts_a_cron_schedule() {
        let m = Monitor {
            cron: " * * * * * ".into(),
            interval_secs: 0,
            ..http_monitor("http://a.b")
        };
        let m = monitor(m, &regions()).expect("valid cron monitor");
        assert_eq!((m.cron.as_str(), m.interval_secs), ("* * * * *", 0));
        let weekdays = Monitor {
            cron: "*/15 9-17 * * MON-FRI".into(),
            interval_secs: 0,
            ..http_monitor("http://a.b")
        };
        monitor(weekdays, &regions()).expect("valid cron monitor");
    }

    #[test]
    fn fills_defaults() {
        let m = monitor(http_monitor("https://example.org/health"), &regions()).expect("valid");
        assert_eq!(m.failure_threshold, 3);
        assert_eq!(m.success_threshold, 1);
        assert_eq!(m.timeout_ms, 10_000);
        let Some(Check::Http(h)) = m.check else {
            panic!("http")
        };
        assert_eq!(h.method, "GET");
        assert_eq!(h.expected_status, vec![StatusRange { min: 200, max: 299 }]);
    }

    #[test]
    fn refusals_name_the_field() {
        let cron = |c: &str, interval_secs| Monitor {
            cron: c.into(),
            interval_secs,
            ..http_monitor("http://a.b")
        };
        let cases: Vec<(Monitor, &str)> = vec![
            (cron("*/5 * * * *", 30), "cron"),
            (cron("61 * * * *", 0), "cron"),
            (cron("0 * * * * *", 0), "cron"),
            (cron("0 0 31 2 *", 0), "cron"),
            (http_monitor("not a url"), "http.url"),
            (http_monitor("ftp://example.org"), "http.url"),
            (
                Monitor {
                    interval_secs: 0,
                    ..http_monitor("http://a.b")
                },
                "interval_secs",
            ),
            (
                Monitor {
                    interval_secs: 86_401,
                    ..http_monitor("http://a.b")
                },
                "interval_secs",
            ),
            (
                Monitor {
                    regions: vec!["mars".into()],
                    ..http_monitor("http://a.b")
                },
                "regions[0]",
            ),
            (
                Monitor {
                    regions: vec![],
                    ..http_monitor("http://a.b")
                },
                "regions",
            ),
            (
                Monitor {
                    name: " ".into(),
                    ..http_monitor("http://a.b")
                },
                "name",
            ),
            (
                Monitor {
                    timeout_ms: 60_001,
                    ..http_monitor("http://a.b")
                },
                "timeout_ms",
            ),
            (
                Monitor {
                    region_quorum: 2,
                    ..http_monitor("http://a.b")
                },
                "region_quorum",
            ),
            (
                Monitor {
                    check: None,
                    ..http_monitor("http://a.b")
                },
                "check",
            ),
            (
                Monitor {
                    check: Some(Check::Tcp(TcpCheck {
                        address: "nohost".into(),
                        ..Default::default()
                    })),
                    ..http_monitor("http://a.b")
                },
                "tcp.address",
            ),
            (
                Monitor {
                    webhooks: vec![crate::v1::Webhook {
                        url: "x".into(),
                        ..Default::default()
                    }],
                    ..http_monitor("http://a.b")
                },
                "webhooks",
            ),
            (
                Monitor {
                    integration_ids: vec!["int_a".into(), "int_a".into()],
                    ..http_monitor("http://a.b")
                },
                "integration_ids[1]",
            ),
        ];
        for (m, field) in cases {
            let e = monitor(m, &regions()).expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }

    #[test]
    fn integration_redaction_hides_and_keeps_secrets() {
        use crate::v1::integration::Kind;
        use crate::v1::{BasicAuth, Integration, WebhookIntegration};
        let stored = Integration {
            kind: Some(Kind::Webhook(WebhookIntegration {
                url: "https://u:pw@h.example/x?token=t0k".into(),
                secret: "s3cret".into(),
                basic_auth: Some(BasicAuth {
                    username: "bob".into(),
                    password: "hunter22".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let shown = stored.redacted();
        let text = format!("{shown:?}");
        for s in ["s3cret", "hunter22", "t0k", ":pw@"] {
            assert!(!text.contains(s), "{s} leaked: {text}");
        }
        let mut back = shown.clone();
        back.keep_secrets_from(&stored);
        assert_eq!(back, stored);
        let mut changed = shown;
        if let Some(Kind::Webhook(w)) = &mut changed.kind {
            w.secret = "new".into();
        }
        changed.keep_secrets_from(&stored);
        let Some(Kind::Webhook(w)) = &changed.kind else {
            unreachable!()
        };
        assert_eq!(w.secret, "new");
        assert_eq!(
            w.basic_auth.as_ref().map(|b| b.password.as_str()),
            Some("hunter22")
        );
    }
}
