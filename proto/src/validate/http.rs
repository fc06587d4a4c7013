//! Validation of HTTP check specs: URL, method, headers, auth, redirects and assertions.

use url::Url;

use super::text::{bounded, bounded_list, header_value};
use super::{
    FieldError, MAX_ASSERTIONS, MAX_HEADER_NAME_BYTES, MAX_HEADER_VALUE_BYTES, MAX_HEADERS,
    MAX_PATTERN_BYTES, MAX_REQUEST_BODY_BYTES, MAX_SECRET_BYTES, MAX_SHORT_TEXT_BYTES,
    compile_regex, err, http_url, ip_preference, tls_options,
};
use crate::bounds::quote;
use crate::json_path::JsonPath;
use crate::v1::{
    Comparison, HttpCheck, StatusRange, header_assertion, http_assertion::Assertion,
    http_check::Auth,
};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
pub const MAX_REDIRECTS: u32 = 20;
pub const MAX_CERT_DAYS: u32 = 3650;

/// Checks `h` and fills its defaults.
/// Validates an http check; returns its parsed URL.
pub(super) fn http(h: &mut HttpCheck, timeout_ms: u32) -> Result<Url, FieldError> {
    let url = http_url("http.url", &h.url)?;
    request_target(&url)?;
    bounded("http.method", &h.method, MAX_SHORT_TEXT_BYTES)?;
    h.method = h.method.trim().to_ascii_uppercase();
    if h.method.is_empty() {
        h.method = "GET".into();
    }
    if !METHODS.contains(&h.method.as_str()) {
        return Err(err(
            "http.method",
            format!("{} is not one of {}", quote(&h.method), METHODS.join(", ")),
        ));
    }
    bounded_list("http.headers", h.headers.len(), MAX_HEADERS)?;
    for (i, hd) in h.headers.iter().enumerate() {
        header_name(&format!("http.headers[{i}].name"), &hd.name)?;
        let value_field = format!("http.headers[{i}].value");
        bounded(&value_field, &hd.value, MAX_HEADER_VALUE_BYTES)?;
        header_value(&hd.value).map_err(|reason| err(value_field, reason))?;
    }
    bounded("http.body", &h.body, MAX_REQUEST_BODY_BYTES)?;
    auth(h.auth.as_ref())?;
    bounded("http.user_agent", &h.user_agent, MAX_SHORT_TEXT_BYTES)?;
    header_value(&h.user_agent).map_err(|reason| err("http.user_agent", reason))?;
    if h.follow_redirects && h.max_redirects == 0 {
        h.max_redirects = DEFAULT_MAX_REDIRECTS;
    }
    if h.max_redirects > MAX_REDIRECTS {
        return Err(err(
            "http.max_redirects",
            format!(
                "{} is invalid, must be 0..={MAX_REDIRECTS}",
                h.max_redirects
            ),
        ));
    }
    ip_preference("http.ip_preference", h.ip_preference)?;
    if let Some(t) = h.tls.as_mut() {
        tls_options("http.tls", t)?;
    }
    status_ranges(&mut h.expected_status)?;
    bounded_list("http.assertions", h.assertions.len(), MAX_ASSERTIONS)?;
    let https = url.scheme() == "https";
    for (i, a) in h.assertions.iter_mut().enumerate() {
        assertion(
            &format!("http.assertions[{i}]"),
            a.assertion.as_mut(),
            timeout_ms,
            https,
        )?;
    }
    Ok(url)
}

/// What the agent derives from the URL for each request (the `host` header and the request
/// target) must be valid HTTP, or the check could never run.
fn request_target(url: &Url) -> Result<(), FieldError> {
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    if http::HeaderValue::from_str(&authority).is_err() || target.parse::<http::Uri>().is_err() {
        return Err(err(
            "http.url",
            format!("{} cannot be sent as an HTTP request", quote(url.as_str())),
        ));
    }
    Ok(())
}

fn auth(a: Option<&Auth>) -> Result<(), FieldError> {
    match a {
        Some(Auth::BasicAuth(b)) => {
            let user = "http.basic_auth.username";
            bounded(user, &b.username, MAX_SHORT_TEXT_BYTES)?;
            if b.username.is_empty() || b.username.contains(':') || has_line_break(&b.username) {
                return Err(err(user, "must be non-empty, without ':' or line breaks"));
            }
            bounded("http.basic_auth.password", &b.password, MAX_SECRET_BYTES)?;
            if has_line_break(&b.password) {
                return Err(err(
                    "http.basic_auth.password",
                    "must not contain CR, LF or NUL",
                ));
            }
        }
        Some(Auth::BearerToken(t)) => {
            bounded("http.bearer_token", t, MAX_SECRET_BYTES)?;
            if t.trim().is_empty() || header_value(&format!("Bearer {t}")).is_err() {
                return Err(err(
                    "http.bearer_token",
                    "must be non-empty visible ASCII, without line breaks",
                ));
            }
        }
        None => {}
    }
    Ok(())
}

fn status_ranges(ranges: &mut Vec<StatusRange>) -> Result<(), FieldError> {
    if ranges.is_empty() {
        ranges.push(StatusRange { min: 200, max: 299 });
    }
    if ranges.len() > MAX_ASSERTIONS {
        return Err(err(
            "http.expected_status",
            format!("at most {MAX_ASSERTIONS} ranges"),
        ));
    }
    for (i, r) in ranges.iter_mut().enumerate() {
        if r.max == 0 {
            r.max = r.min;
        }
        if !(100..=599).contains(&r.min) || !(100..=599).contains(&r.max) || r.min > r.max {
            return Err(err(
                format!("http.expected_status[{i}]"),
                format!(
                    "{}-{} is invalid, must be a range within 100-599",
                    r.min, r.max
                ),
            ));
        }
    }
    Ok(())
}

fn assertion(
    field: &str,
    a: Option<&mut Assertion>,
    timeout_ms: u32,
    https: bool,
) -> Result<(), FieldError> {
    match a {
        None => Err(err(field, "must set one assertion kind")),
        Some(Assertion::BodyContains(s)) => pattern(&format!("{field}.body_contains"), s),
        Some(Assertion::BodyNotContains(s)) => pattern(&format!("{field}.body_not_contains"), s),
        Some(Assertion::BodyRegex(r)) => compile_regex(r)
            .map(drop)
            .map_err(|reason| err(format!("{field}.body_regex"), reason)),
        Some(Assertion::JsonPath(j)) => {
            let path_field = format!("{field}.json_path.path");
            bounded(&path_field, &j.path, MAX_PATTERN_BYTES)?;
            JsonPath::parse(&j.path).map_err(|e| err(path_field, e.to_string()))?;
            let value_field = format!("{field}.json_path.value");
            bounded(&value_field, &j.value, MAX_PATTERN_BYTES)?;
            match Comparison::try_from(j.comparison) {
                Ok(Comparison::Unspecified) => j.comparison = Comparison::Equals as i32,
                Ok(Comparison::LessThan | Comparison::GreaterThan) => {
                    if j.value.trim().parse::<f64>().is_err() {
                        return Err(err(
                            value_field,
                            format!("{} is not a number", quote(&j.value)),
                        ));
                    }
                }
                Ok(Comparison::Matches) => {
                    compile_regex(&j.value).map_err(|reason| err(value_field, reason))?;
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(err(
                        format!("{field}.json_path.comparison"),
                        "unknown comparison",
                    ));
                }
            }
            Ok(())
        }
        Some(Assertion::Header(hd)) => {
            header_name(&format!("{field}.header.name"), &hd.name)?;
            match &hd.expect {
                None => Err(err(format!("{field}.header"), "must set equals or regex")),
                Some(header_assertion::Expect::Equals(v)) => {
                    bounded(format!("{field}.header.equals"), v, MAX_PATTERN_BYTES)
                }
                Some(header_assertion::Expect::Regex(r)) => compile_regex(r)
                    .map(drop)
                    .map_err(|reason| err(format!("{field}.header.regex"), reason)),
            }
        }
        Some(Assertion::ResponseTimeMs(ms)) => {
            if *ms == 0 || *ms > timeout_ms {
                return Err(err(
                    format!("{field}.response_time_ms"),
                    format!("{ms} is invalid, must be 1..={timeout_ms} (the monitor's timeout)"),
                ));
            }
            Ok(())
        }
        Some(Assertion::CertExpiresInDays(d)) => {
            if !https {
                return Err(err(
                    format!("{field}.cert_expires_in_days"),
                    "needs an https URL",
                ));
            }
            if *d == 0 || *d > MAX_CERT_DAYS {
                return Err(err(
                    format!("{field}.cert_expires_in_days"),
                    format!("{d} is invalid, must be 1..={MAX_CERT_DAYS}"),
                ));
            }
            Ok(())
        }
    }
}

fn pattern(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(err(field, "must not be empty"));
    }
    bounded(field, s, MAX_PATTERN_BYTES)
}

fn has_line_break(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// A header name as HTTP allows it (a token), at most [`MAX_HEADER_NAME_BYTES`].
fn header_name(field: &str, name: &str) -> Result<(), FieldError> {
    bounded(field, name, MAX_HEADER_NAME_BYTES)?;
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(err(
            field,
            format!("{} is not a valid header name", quote(name)),
        ));
    }
    Ok(())
}

/// One header as HTTP allows it: a token name and a value without line breaks, each within
/// its bound. `field` names the header (`webhook.headers[0]`).
pub fn header(field: &str, h: &crate::v1::Header) -> Result<(), FieldError> {
    header_name(&format!("{field}.name"), &h.name)?;
    header_value(&h.value).map_err(|reason| err(format!("{field}.value"), reason))?;
    Ok(())
}
