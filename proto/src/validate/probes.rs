//! Validation of the non-HTTP check specs: TCP, DNS, ICMP, TLS certificate and gRPC health.

use super::text::{bounded, bounded_list, host_chars};
use super::{
    FieldError, MAX_ADDRESS_BYTES, MAX_ASSERTIONS, MAX_HOST_BYTES, MAX_PATTERN_BYTES,
    MAX_SEND_BYTES, MAX_SHORT_TEXT_BYTES, compile_bytes_regex, compile_regex, err, host_port,
    ip_preference, tls_options,
};
use crate::bounds::quote;
use crate::v1::{
    DnsCheck, DnsRecordType, GrpcHealthCheck, IcmpCheck, TcpCheck, TlsCheck, tcp_step::Step,
    value_match,
};

/// Response codes a DNS check may expect, by their RFC names.
pub const RCODES: [&str; 11] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];
pub const MAX_PINGS: u32 = 20;

/// Checks a check's optional TLS options.
fn tls_opt(field: &str, t: Option<&mut crate::v1::TlsOptions>) -> Result<(), FieldError> {
    t.map_or(Ok(()), |o| tls_options(field, o))
}

pub(super) fn tcp(t: &mut TcpCheck) -> Result<(), FieldError> {
    host_port("tcp.address", &mut t.address)?;
    ip_preference("tcp.ip_preference", t.ip_preference)?;
    tls_opt("tcp.tls", t.tls.as_mut())?;
    bounded_list("tcp.steps", t.steps.len(), MAX_ASSERTIONS)?;
    for (i, s) in t.steps.iter().enumerate() {
        match &s.step {
            None => return Err(err(format!("tcp.steps[{i}]"), "must set send or expect")),
            Some(Step::Send(data)) => {
                let field = format!("tcp.steps[{i}].send");
                bounded(&field, data, MAX_SEND_BYTES)?;
                let bytes = decode_escapes(data).map_err(|reason| err(&field, reason))?;
                if bytes.is_empty() {
                    return Err(err(field, "must not be empty"));
                }
            }
            Some(Step::Expect(re)) => {
                compile_bytes_regex(re)
                    .map_err(|reason| err(format!("tcp.steps[{i}].expect"), reason))?;
            }
        }
    }
    Ok(())
}

/// Decodes the escapes a TCP send step may hold: `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN`.
pub fn decode_escapes(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes().enumerate();
    while let Some((i, b)) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next().map(|(_, c)| c) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).map(|(_, c)| c).collect();
                let v = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.len() == 2);
                out.push(v.ok_or_else(|| {
                    format!("bad \\x escape at byte {i}, expected two hex digits")
                })?);
            }
            _ => {
                return Err(format!(
                    "unknown escape at byte {i}; use \\r, \\n, \\t, \\0, \\\\ or \\xNN"
                ));
            }
        }
    }
    Ok(out)
}

pub(super) fn dns(d: &mut DnsCheck) -> Result<(), FieldError> {
    bounded("dns.name", &d.name, MAX_HOST_BYTES + 1)?;
    d.name = d.name.trim().to_string();
    if d.name.is_empty()
        || d.name.len() > 253
        || d.name.split('.').any(|l| l.len() > 63)
        || !host_chars(&d.name)
    {
        return Err(err(
            "dns.name",
            format!("{} is not a valid domain name", quote(&d.name)),
        ));
    }
    if d.name != "." && d.name.trim_end_matches('.').split('.').any(str::is_empty) {
        return Err(err(
            "dns.name",
            format!("{} has an empty label", quote(&d.name)),
        ));
    }
    if d.name != "." {
        dns_labels(&d.name).map_err(|reason| err("dns.name", reason))?;
    }
    match DnsRecordType::try_from(d.record_type) {
        Ok(DnsRecordType::Unspecified) => d.record_type = DnsRecordType::A as i32,
        Ok(_) => {}
        Err(_) => {
            return Err(err(
                "dns.record_type",
                format!("{} is not a known record type", d.record_type),
            ));
        }
    }
    bounded("dns.resolver", &d.resolver, MAX_ADDRESS_BYTES)?;
    d.resolver = d.resolver.trim().to_string();
    if !d.resolver.is_empty() && resolver_addr(&d.resolver).is_none() {
        return Err(err(
            "dns.resolver",
            format!("{} is invalid, must be ip or ip:port", quote(&d.resolver)),
        ));
    }
    bounded(
        "dns.expected_rcode",
        &d.expected_rcode,
        MAX_SHORT_TEXT_BYTES,
    )?;
    d.expected_rcode = d.expected_rcode.trim().to_ascii_uppercase();
    if d.expected_rcode.is_empty() {
        d.expected_rcode = "NOERROR".into();
    }
    if !RCODES.contains(&d.expected_rcode.as_str()) {
        return Err(err(
            "dns.expected_rcode",
            format!(
                "{} is not one of {}",
                quote(&d.expected_rcode),
                RCODES.join(", ")
            ),
        ));
    }
    bounded_list(
        "dns.expected_values",
        d.expected_values.len(),
        MAX_ASSERTIONS,
    )?;
    for (i, v) in d.expected_values.iter().enumerate() {
        match &v.kind {
            None => {
                return Err(err(
                    format!("dns.expected_values[{i}]"),
                    "must set exact or regex",
                ));
            }
            Some(value_match::Kind::Exact(v)) => {
                bounded(
                    format!("dns.expected_values[{i}].exact"),
                    v,
                    MAX_PATTERN_BYTES,
                )?;
            }
            Some(value_match::Kind::Regex(r)) => {
                compile_regex(r)
                    .map_err(|reason| err(format!("dns.expected_values[{i}].regex"), reason))?;
            }
        }
    }
    Ok(())
}

/// The labels of a query name as a resolver sends them: international names in their IDNA
/// (punycode) form, each label `*` or letters, digits, `_` and `-`, not starting with `-`.
fn dns_labels(name: &str) -> Result<(), String> {
    let needs_idna = !name.is_ascii() || name.to_ascii_lowercase().contains("xn--");
    let ascii = if needs_idna {
        match url::Host::parse(name.trim_end_matches('.')) {
            Ok(url::Host::Domain(a)) => a,
            _ => {
                return Err(format!(
                    "{} is not a valid international domain name",
                    quote(name)
                ));
            }
        }
    } else {
        name.trim_end_matches('.').to_string()
    };
    for label in ascii.split('.') {
        let chars_ok = label == "*"
            || label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !chars_ok || label.starts_with('-') || label.len() > 63 {
            return Err(format!(
                "{} has an invalid label {}: use letters, digits, '_' and '-' (not first), at most 63",
                quote(name),
                quote(label)
            ));
        }
    }
    Ok(())
}

/// Parses a resolver given as `ip`, `ip:port` or `[ipv6]:port` (port 53 by default).
pub fn resolver_addr(raw: &str) -> Option<std::net::SocketAddr> {
    if let Ok(ip) = raw.parse::<std::net::IpAddr>() {
        return Some(std::net::SocketAddr::new(ip, 53));
    }
    raw.parse::<std::net::SocketAddr>()
        .ok()
        .filter(|a| a.port() != 0)
}

pub(super) fn icmp(p: &mut IcmpCheck, timeout_ms: u32) -> Result<(), FieldError> {
    bounded("icmp.host", &p.host, MAX_HOST_BYTES + 2)?;
    ip_preference("icmp.ip_preference", p.ip_preference)?;
    p.host = p.host.trim().to_string();
    let host = p
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&p.host);
    if host.is_empty()
        || !host_chars(host)
        || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err())
    {
        return Err(err(
            "icmp.host",
            format!("{} is not a host name or IP address", quote(&p.host)),
        ));
    }
    if p.count == 0 {
        p.count = 3;
    }
    if p.interval_ms == 0 {
        p.interval_ms = 200;
    }
    if p.reply_timeout_ms == 0 {
        p.reply_timeout_ms = 1000.min(timeout_ms);
    }
    if p.count > MAX_PINGS {
        return Err(err(
            "icmp.count",
            format!("{} is invalid, must be 1..={MAX_PINGS}", p.count),
        ));
    }
    if !(10..=10_000).contains(&p.interval_ms) {
        return Err(err(
            "icmp.interval_ms",
            format!("{} is invalid, must be 10..=10000", p.interval_ms),
        ));
    }
    if p.max_loss_percent > 100 {
        return Err(err(
            "icmp.max_loss_percent",
            format!("{} is invalid, must be 0..=100", p.max_loss_percent),
        ));
    }
    let needed = u64::from(p.count - 1) * u64::from(p.interval_ms) + u64::from(p.reply_timeout_ms);
    if needed > u64::from(timeout_ms) {
        return Err(err(
            "icmp.count",
            format!(
                "{} pings {} ms apart with a {} ms reply timeout need {needed} ms, more than the monitor's {timeout_ms} ms timeout",
                p.count, p.interval_ms, p.reply_timeout_ms
            ),
        ));
    }
    Ok(())
}

pub(super) fn tls(t: &mut TlsCheck) -> Result<(), FieldError> {
    host_port("tls.address", &mut t.address)?;
    ip_preference("tls.ip_preference", t.ip_preference)?;
    tls_opt("tls.tls", t.tls.as_mut())?;
    if t.tls.as_ref().is_none_or(|o| o.server_name.is_empty()) {
        // The certificate is verified against the address's host: it must be a TLS name.
        let host = t.address.rsplit_once(':').map_or("", |(h, _)| h);
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if rustls_pki_types::ServerName::try_from(host).is_err() {
            return Err(err(
                "tls.address",
                format!(
                    "{} is not a host name or IP address; set tls.server_name",
                    quote(host)
                ),
            ));
        }
    }
    bounded(
        "tls.expected_subject",
        &t.expected_subject,
        MAX_PATTERN_BYTES,
    )?;
    if t.min_days_remaining > super::http::MAX_CERT_DAYS {
        return Err(err(
            "tls.min_days_remaining",
            format!("{} is invalid, must be 0..=3650", t.min_days_remaining),
        ));
    }
    bounded_list("tls.expected_sans", t.expected_sans.len(), MAX_ASSERTIONS)?;
    for (i, s) in t.expected_sans.iter().enumerate() {
        bounded(format!("tls.expected_sans[{i}]"), s, MAX_HOST_BYTES)?;
        if s.trim().is_empty() {
            return Err(err(format!("tls.expected_sans[{i}]"), "must not be empty"));
        }
    }
    Ok(())
}

pub(super) fn grpc(g: &mut GrpcHealthCheck) -> Result<(), FieldError> {
    host_port("grpc.address", &mut g.address)?;
    tls_opt("grpc.tls", g.tls.as_mut())?;
    if format!("http://{}", g.address)
        .parse::<http::Uri>()
        .is_err()
    {
        return Err(err(
            "grpc.address",
            format!("{} is not a valid gRPC authority", quote(&g.address)),
        ));
    }
    bounded("grpc.service", &g.service, MAX_SHORT_TEXT_BYTES)?;
    Ok(())
}
