//! Validation of HTTP check specs: URL, method, headers, auth, redirects and assertions.

use super::{FieldError, MAX_ASSERTIONS, compile_regex, err, http_url, tls_options};
use crate::json_path::JsonPath;
use crate::v1::{
    Comparison, HttpCheck, StatusRange, header_assertion, http_assertion::Assertion,
    http_check::Auth,
};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
pub const MAX_HEADERS: usize = 32;
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
pub const MAX_REDIRECTS: u32 = 20;
pub const MAX_CERT_DAYS: u32 = 3650;

pub(super) fn http(h: &mut HttpCheck, timeout_ms: u32) -> Result<(), FieldError> {
    let url = http_url(&h.url).map_err(|reason| err("http.url", reason))?;
    h.method = h.method.trim().to_ascii_uppercase();
    if h.method.is_empty() {
        h.method = "GET".into();
    }
    if !METHODS.contains(&h.method.as_str()) {
        return Err(err(
            "http.method",
            format!("{:?} is not one of {}", h.method, METHODS.join(", ")),
        ));
    }
    if h.headers.len() > MAX_HEADERS {
        return Err(err(
            "http.headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    for (i, hd) in h.headers.iter().enumerate() {
        if header_name_invalid(&hd.name) {
            return Err(err(
                format!("http.headers[{i}].name"),
                format!("{:?} is not a valid header name", hd.name),
            ));
        }
        if has_line_break(&hd.value) {
            return Err(err(
                format!("http.headers[{i}].value"),
                "must not contain CR, LF or NUL",
            ));
        }
    }
    if h.body.len() > MAX_REQUEST_BODY_BYTES {
        return Err(err(
            "http.body",
            format!(
                "is {} bytes, at most {MAX_REQUEST_BODY_BYTES}",
                h.body.len()
            ),
        ));
    }
    match &h.auth {
        Some(Auth::BasicAuth(b)) => {
            if b.username.is_empty() || b.username.contains(':') || has_line_break(&b.username) {
                return Err(err(
                    "http.basic_auth.username",
                    "must be non-empty, without ':' or line breaks",
                ));
            }
            if has_line_break(&b.password) {
                return Err(err(
                    "http.basic_auth.password",
                    "must not contain CR, LF or NUL",
                ));
            }
        }
        Some(Auth::BearerToken(t)) if t.trim().is_empty() || has_line_break(t) => {
            return Err(err(
                "http.bearer_token",
                "must be non-empty, without line breaks",
            ));
        }
        Some(Auth::BearerToken(_)) | None => {}
    }
    if has_line_break(&h.user_agent) {
        return Err(err("http.user_agent", "must not contain CR, LF or NUL"));
    }
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
    if let Some(t) = h.tls.as_mut() {
        tls_options("http.tls", t)?;
    }
    status_ranges(&mut h.expected_status)?;
    if h.assertions.len() > MAX_ASSERTIONS {
        return Err(err(
            "http.assertions",
            format!(
                "{} assertions, at most {MAX_ASSERTIONS}",
                h.assertions.len()
            ),
        ));
    }
    let https = url.scheme() == "https";
    for (i, a) in h.assertions.iter_mut().enumerate() {
        assertion(
            &format!("http.assertions[{i}]"),
            a.assertion.as_mut(),
            timeout_ms,
            https,
        )?;
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
        Some(Assertion::BodyContains(s)) => non_empty(&format!("{field}.body_contains"), s),
        Some(Assertion::BodyNotContains(s)) => non_empty(&format!("{field}.body_not_contains"), s),
        Some(Assertion::BodyRegex(r)) => compile_regex(r)
            .map(drop)
            .map_err(|reason| err(format!("{field}.body_regex"), reason)),
        Some(Assertion::JsonPath(j)) => {
            JsonPath::parse(&j.path)
                .map_err(|e| err(format!("{field}.json_path.path"), e.to_string()))?;
            let value_field = format!("{field}.json_path.value");
            match Comparison::try_from(j.comparison) {
                Ok(Comparison::Unspecified) => j.comparison = Comparison::Equals as i32,
                Ok(Comparison::LessThan | Comparison::GreaterThan) => {
                    if j.value.trim().parse::<f64>().is_err() {
                        return Err(err(value_field, format!("{:?} is not a number", j.value)));
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
            if header_name_invalid(&hd.name) {
                return Err(err(
                    format!("{field}.header.name"),
                    format!("{:?} is not a valid header name", hd.name),
                ));
            }
            match &hd.expect {
                None => Err(err(format!("{field}.header"), "must set equals or regex")),
                Some(header_assertion::Expect::Equals(_)) => Ok(()),
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

fn non_empty(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(err(field, "must not be empty"));
    }
    Ok(())
}

fn has_line_break(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

pub(super) fn header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
