//! The HTTP channel: renders the integration's request for the event (`lookout-render`: body,
//! template, signature) and sends it. 2xx is delivered; 408, 429 and 5xx are retryable
//! (honouring `Retry-After`), anything else is permanent. The start of every answer is kept
//! for the attempt log.

use std::net::IpAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::{Channel, Delivered, Delivery, Prepared, SendError};
use crate::dispatch::destination::{PrivateDestination, is_public};

/// Longest `Retry-After` honoured; a receiver cannot park a delivery for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Bytes of an answer kept for the attempt log.
pub const EXCERPT_BYTES: usize = 1024;

pub struct HttpChannel {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpChannel {
    /// `client` is shared by every delivery (connection pools per destination). Without
    /// `allow_private`, IP-literal URLs are checked here; names are checked by the client's
    /// resolver (`PublicOnlyResolver`).
    pub fn new(client: reqwest::Client, allow_private: bool) -> HttpChannel {
        HttpChannel {
            client,
            allow_private,
        }
    }
}

impl Channel for HttpChannel {
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError> {
        let ctx = lookout_render::Context {
            event: d.event,
            delivery_id: d.id,
            now_unix_secs: d.now_unix_secs,
            variables: d.variables,
        };
        lookout_render::render(d.integration, &ctx)
            .map(Prepared::Http)
            .map_err(|e| SendError::permanent(format!("rendering the request: {e}")))
    }

    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Prepared::Http(r) = p else {
                return Err(SendError::permanent("not an HTTP request"));
            };
            let url = reqwest::Url::parse(&r.url)
                .map_err(|e| SendError::permanent(format!("invalid url: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SendError::permanent("the url is not http or https"));
            }
            if !self.allow_private {
                refuse_private_literal(&url)?;
            }
            let (status, retry_after, excerpt) = perform(&self.client, r, EXCERPT_BYTES).await?;
            classify(status, retry_after.as_deref(), excerpt)
        })
    }
}

/// Sends `r` with `client`: the answer's status, its `Retry-After` and the first `max_bytes`
/// of its body. A request that cannot be sent is permanent, one that got no answer retryable.
pub(super) async fn perform(
    client: &reqwest::Client,
    r: &lookout_render::Request,
    max_bytes: usize,
) -> Result<(StatusCode, Option<String>, String), SendError> {
    let url = reqwest::Url::parse(&r.url)
        .map_err(|e| SendError::permanent(format!("invalid url: {e}")))?;
    let method = reqwest::Method::from_bytes(r.method.as_bytes())
        .map_err(|_| SendError::permanent("invalid method"))?;
    let mut req = client.request(method, url).body(r.body.clone());
    for (name, value) in &r.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    // The URL may carry a token: keep it out of every error message.
    let resp = req.send().await.map_err(|e| {
        let e = e.without_url();
        if e.is_builder() {
            SendError::permanent(format!("invalid request: {e}"))
        } else if let Some(refused) = find_source::<PrivateDestination>(&e) {
            SendError::permanent(refused.to_string())
        } else {
            SendError::retryable(format!("request failed: {}", error_chain(&e)))
        }
    })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, retry_after, excerpt(resp, max_bytes).await))
}

/// The first `max` bytes of the answer's body (lossy UTF-8), reading no more.
async fn excerpt(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The outcome of an HTTP answer.
pub(super) fn classify(
    status: StatusCode,
    retry_after: Option<&str>,
    excerpt: String,
) -> Result<Delivered, SendError> {
    let code = Some(status.as_u16());
    if status.is_success() {
        return Ok(Delivered {
            status: code,
            excerpt,
        });
    }
    let reason = format!("receiver answered {status}");
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Err(SendError::Retryable {
            reason,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc())),
            status: code,
            excerpt,
        });
    }
    Err(SendError::Permanent {
        reason,
        status: code,
        excerpt,
    })
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110), capped; `None` when unreadable,
/// so normal backoff applies.
pub(super) fn parse_retry_after(v: &str, now: OffsetDateTime) -> Option<Duration> {
    let v = v.trim();
    let delay = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = OffsetDateTime::parse(v, &Rfc2822).ok()?;
            Duration::try_from(at - now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Refuses URLs whose host is a non-public IP literal (names are checked when resolved).
fn refuse_private_literal(url: &reqwest::Url) -> Result<(), SendError> {
    let host = url.host_str().unwrap_or("");
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => Err(SendError::permanent(
            PrivateDestination(literal.to_string()).to_string(),
        )),
        _ => Ok(()),
    }
}

/// The first error of type `T` in `e`'s source chain.
fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = err.source();
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = OffsetDateTime::parse("Sun, 06 Nov 1994 08:49:37 GMT", &Rfc2822)
            .expect("IMF-fixdate parses");
        let cases: &[(&str, Option<Duration>)] = &[
            ("120", Some(Duration::from_secs(120))),
            ("0", Some(Duration::ZERO)),
            (
                "Sun, 06 Nov 1994 08:50:07 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("Sun, 06 Nov 1994 08:00:00 GMT", Some(Duration::ZERO)),
            ("Fri, 01 Jan 2100 00:00:00 GMT", Some(MAX_RETRY_AFTER)),
            ("-5", None),
            ("soon", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_retry_after(v, now), *want, "{v:?}");
        }
    }

    #[test]
    fn classifies_answers() {
        let retryable = |r: Result<Delivered, SendError>| match r {
            Err(SendError::Retryable { retry_after, .. }) => Some(retry_after),
            _ => None,
        };
        let classify = |s, r| classify(s, r, String::new());
        assert_eq!(
            classify(StatusCode::OK, None),
            Ok(Delivered {
                status: Some(200),
                excerpt: String::new()
            })
        );
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None).map(|d| d.status),
            Ok(Some(204))
        );
        assert_eq!(
            retryable(classify(StatusCode::INTERNAL_SERVER_ERROR, None)),
            Some(None)
        );
        assert_eq!(
            retryable(classify(StatusCode::BAD_GATEWAY, Some("x"))),
            Some(None)
        );
        assert_eq!(
            retryable(classify(StatusCode::REQUEST_TIMEOUT, None)),
            Some(None)
        );
        assert_eq!(
            retryable(classify(StatusCode::TOO_MANY_REQUESTS, Some(" 7 "))),
            Some(Some(Duration::from_secs(7)))
        );
        assert_eq!(
            retryable(classify(StatusCode::SERVICE_UNAVAILABLE, Some("999999"))),
            Some(Some(MAX_RETRY_AFTER))
        );
        for s in [
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED,
            StatusCode::MOVED_PERMANENTLY,
        ] {
            assert!(
                matches!(classify(s, None), Err(SendError::Permanent { .. })),
                "{s}"
            );
        }
    }
}
