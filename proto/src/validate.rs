//! Validation of monitors received from any API or config file: every refusal names the
//! field, the value and what was expected, and a valid monitor comes back with defaults filled.

mod http;
mod probes;

pub use http::DEFAULT_MAX_REDIRECTS;
pub use probes::{RCODES, decode_escapes, resolver_addr};

use crate::v1::{Monitor, TlsOptions, monitor::Check};

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
pub const MAX_INTERVAL_SECS: u32 = 86_400;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_WEBHOOKS: usize = 16;
/// Bound on assertions, TCP steps and expected DNS values per monitor.
pub const MAX_ASSERTIONS: usize = 16;
/// Compiled size bound for user regexes, so one monitor cannot take the agent's memory.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;

/// A refused field: `field` is a path such as `http.url` or `webhooks[1].url`.
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

/// Checks `m` against the rules and returns it with defaults filled in.
/// `known_regions` are the regions the coordinator serves.
pub fn monitor(mut m: Monitor, known_regions: &[String]) -> Result<Monitor, FieldError> {
    m.name = m.name.trim().to_string();
    if m.name.is_empty() {
        return Err(err("name", "must not be empty"));
    }
    if m.name.chars().count() > MAX_NAME_LEN {
        return Err(err(
            "name",
            format!("is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if m.regions.is_empty() {
        return Err(err("regions", "must name at least one region"));
    }
    for (i, r) in m.regions.iter().enumerate() {
        if !known_regions.iter().any(|k| k == r) {
            return Err(err(
                format!("regions[{i}]"),
                format!(
                    "unknown region {r:?}, known regions: {}",
                    known_regions.join(", ")
                ),
            ));
        }
    }
    m.regions.sort();
    m.regions.dedup();
    m.cron = m.cron.trim().to_string();
    if !m.cron.is_empty() {
        if m.interval_secs != 0 {
            return Err(err("cron", "set either cron or interval_secs, not both"));
        }
        cron_expression(&m.cron).map_err(|reason| err("cron", reason))?;
    } else if m.interval_secs == 0 {
        // An empty (or blank) cron is no schedule: say what is missing, not that 0 is bad.
        return Err(err(
            "interval_secs",
            format!("one of interval_secs (1..={MAX_INTERVAL_SECS}) or cron is required"),
        ));
    } else if m.interval_secs > MAX_INTERVAL_SECS {
        return Err(err(
            "interval_secs",
            format!(
                "{} is invalid, must be 1..={MAX_INTERVAL_SECS}",
                m.interval_secs
            ),
        ));
    }
    if m.timeout_ms == 0 {
        m.timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if m.timeout_ms > MAX_TIMEOUT_MS {
        return Err(err(
            "timeout_ms",
            format!("{} is invalid, must be 1..={MAX_TIMEOUT_MS}", m.timeout_ms),
        ));
    }
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
    if m.webhooks.len() > MAX_WEBHOOKS {
        return Err(err(
            "webhooks",
            format!("at most {MAX_WEBHOOKS} webhooks per monitor"),
        ));
    }
    for (i, w) in m.webhooks.iter().enumerate() {
        http_url(&w.url).map_err(|reason| err(format!("webhooks[{i}].url"), reason))?;
    }
    let timeout_ms = m.timeout_ms;
    match m.check.as_mut() {
        None => {
            return Err(err(
                "check",
                "must be one of: http, tcp, dns, icmp, tls, grpc",
            ));
        }
        Some(Check::Http(h)) => http::http(h, timeout_ms)?,
        Some(Check::Tcp(t)) => probes::tcp(t)?,
        Some(Check::Dns(d)) => probes::dns(d)?,
        Some(Check::Icmp(i)) => probes::icmp(i, timeout_ms)?,
        Some(Check::Tls(t)) => probes::tls(t)?,
        Some(Check::Grpc(g)) => probes::grpc(g)?,
    }
    Ok(m)
}

/// Compiles a user-supplied regular expression with the size bound every component uses, so
/// a pattern the API accepts is one the agent can compile.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| format!("{pattern:?} is not a valid regular expression: {e}"))
}

/// Checks `host:port` (IPv6 hosts in brackets) and trims it in place.
fn host_port(field: &str, address: &mut String) -> Result<(), FieldError> {
    *address = address.trim().to_string();
    let bad = || {
        err(
            field,
            format!("{address:?} is invalid, must be host:port ([ipv6]:port for IPv6)"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host = bracketed.unwrap_or(host);
    if host.is_empty()
        || host.contains(char::is_whitespace)
        || (host.contains(':')
            && (bracketed.is_none() || host.parse::<std::net::Ipv6Addr>().is_err()))
        || port.parse::<u16>().ok().filter(|p| *p != 0).is_none()
    {
        return Err(bad());
    }
    Ok(())
}

fn tls_options(field: &str, t: &mut TlsOptions) -> Result<(), FieldError> {
    t.server_name = t.server_name.trim().to_string();
    if t.server_name
        .contains(|c: char| c.is_whitespace() || c == '/' || c == ':')
        && t.server_name.parse::<std::net::IpAddr>().is_err()
    {
        return Err(err(
            format!("{field}.server_name"),
            format!("{:?} is not a host name", t.server_name),
        ));
    }
    if !t.ca_pem.trim().is_empty() && !t.ca_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(err(
            format!("{field}.ca_pem"),
            "must hold PEM certificates (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(())
}

/// A 5-field cron expression (minute hour day-of-month month day-of-week, UTC) that matches
/// at least once: one that never fires would silently never check.
fn cron_expression(pattern: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("{pattern:?} is not a valid 5-field cron expression: {e}"))?;
    let reference = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    cron.find_next_occurrence(&reference, false)
        .map(|_| ())
        .map_err(|_| format!("{pattern:?} never matches a date"))
}

pub(crate) fn http_url(raw: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a valid URL: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "{raw:?} must use http or https, not {}",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
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
                "webhooks[0].url",
            ),
        ];
        for (m, field) in cases {
            let e = monitor(m, &regions()).expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }

    #[test]
    fn redaction_hides_secrets() {
        let mut m = http_monitor("http://a.b");
        m.webhooks.push(crate::v1::Webhook {
            url: "http://h".into(),
            secret: "s3cret".into(),
            secret_set: false,
        });
        let r = m.redacted();
        assert!(r.webhooks[0].secret.is_empty());
        assert!(r.webhooks[0].secret_set);
    }
}
