//! HTTP(S) check: one request per run over a fresh connection made by our own connector, so
//! DNS, connect, TLS handshake, first byte and total are timed; redirects, auth and assertions.

mod redirect;
mod request;

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, HOST, HeaderMap, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use lookout_proto::bounds::excerpt;
use lookout_proto::v1::{self, IpPreference, Timings, http_check::Auth};
use lookout_proto::validate::DEFAULT_MAX_REDIRECTS;
use lookout_proto::{CheckStatus, FailureClass, is_secret_header};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use url::Url;

use redirect::Carry;
use request::{Hop, base64};

use super::assertions::Assertions;
use super::net::{self, Close, Endpoint, Targets};
use super::tls_client::{Alpn, CertFacts, TlsClient, server_name, unix_now};
use super::{Check, Failure, Outcome, micros_since, timeout_failure};

/// Bodies are read up to this size; assertions see the first MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A configured HTTP(S) check, kept compact (an agent may hold a million): a plain GET is the
/// URL and a few numbers; headers, credentials, a body, assertions and TLS options live in
/// `extra`, allocated only when the spec has them.
pub struct HttpCheck {
    /// The configured URL; each run makes its request target (`Hop`) from it.
    url: Url,
    method: Method,
    /// Acceptable status ranges; empty for the default, 200-299.
    expected: Box<[(u16, u16)]>,
    max_redirects: u32,
    pref: IpPreference,
    keep_body: bool,
    /// Which addresses it may connect to.
    targets: Targets,
    close: Close,
    extra: Option<Box<Extra>>,
}

/// What a plain GET does not have.
#[derive(Default)]
struct Extra {
    /// Secret ones (`is_secret_header`) go only to the configured origin, like `auth`.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// None: `lookout/<version>`.
    user_agent: Option<HeaderValue>,
    /// Sent only to the configured origin, never after a redirect to another one.
    auth: Option<HeaderValue>,
    body: Bytes,
    assertions: Assertions,
    /// None: the shared client that verifies with the system roots.
    tls: Option<TlsClient>,
}

/// Status ranges when the spec names none.
const DEFAULT_EXPECTED: &[(u16, u16)] = &[(200, 299)];
const DEFAULT_USER_AGENT: &str = concat!("lookout/", env!("CARGO_PKG_VERSION"));

impl HttpCheck {
    /// Builds the check; every fallible step (URL, headers, regexes, TLS config) happens here.
    pub fn new(spec: &v1::HttpCheck) -> Result<HttpCheck, String> {
        let url = Url::parse(&spec.url)
            .map_err(|e| format!("http.url: {:?} is not a valid URL: {e}", spec.url))?;
        HttpCheck::parsed(spec, url)
    }

    /// Builds the check from its spec and the URL already parsed from `spec.url` (validation
    /// parses it; a million monitors should not parse it twice).
    pub fn parsed(spec: &v1::HttpCheck, url: Url) -> Result<HttpCheck, String> {
        // Checked once here; each run makes the same hop again from the URL.
        Hop::new(url.clone()).map_err(|e| format!("http.url: {e}"))?;
        let method = match spec.method.trim() {
            "" => Method::GET,
            m => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("http.method: {m:?} is invalid"))?,
        };
        let mut extra = Extra::default();
        for (i, h) in spec.headers.iter().enumerate() {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                format!(
                    "http.headers[{i}].name: {:?} is not a valid header name",
                    h.name
                )
            })?;
            let value = HeaderValue::from_str(&h.value)
                .map_err(|_| format!("http.headers[{i}].value: invalid header value"))?;
            extra.headers.push((name, value));
        }
        if !spec.user_agent.is_empty() {
            extra.user_agent = Some(
                HeaderValue::from_str(&spec.user_agent)
                    .map_err(|_| "http.user_agent: invalid header value".to_string())?,
            );
        }
        extra.auth = match &spec.auth {
            None => None,
            Some(Auth::BasicAuth(b)) => {
                let token = base64(format!("{}:{}", b.username, b.password).as_bytes());
                Some(
                    HeaderValue::from_str(&format!("Basic {token}"))
                        .map_err(|_| "http.basic_auth: invalid characters".to_string())?,
                )
            }
            Some(Auth::BearerToken(t)) => Some(
                HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| "http.bearer_token: invalid characters".to_string())?,
            ),
        };
        // Kept out of Debug output and HTTP/2 header compression tables.
        if let Some(a) = extra.auth.as_mut() {
            a.set_sensitive(true);
        }
        let expected: Vec<(u16, u16)> = spec
            .expected_status
            .iter()
            .map(|r| {
                let max = if r.max == 0 { r.min } else { r.max };
                (
                    u16::try_from(r.min).unwrap_or(u16::MAX),
                    u16::try_from(max).unwrap_or(u16::MAX),
                )
            })
            .collect();
        // Validation fills in the default; kept without an allocation.
        let expected = if expected.is_empty() || expected == DEFAULT_EXPECTED {
            Box::default()
        } else {
            expected.into_boxed_slice()
        };
        extra.assertions = Assertions::compile(&spec.assertions)?;
        extra.body = Bytes::from(spec.body.clone().into_bytes());
        if spec
            .tls
            .as_ref()
            .is_some_and(|t| *t != v1::TlsOptions::default())
        {
            extra.tls = Some(
                TlsClient::new(spec.tls.as_ref(), Alpn::Http1).map_err(|e| format!("http.{e}"))?,
            );
        }
        let keep_body = extra.assertions.needs_body();
        let plain = extra.headers.is_empty()
            && extra.user_agent.is_none()
            && extra.auth.is_none()
            && extra.body.is_empty()
            && extra.assertions.is_empty()
            && extra.tls.is_none();
        Ok(HttpCheck {
            targets: Targets::default(),
            close: Close::default(),
            url,
            method,
            expected,
            max_redirects: match (spec.follow_redirects, spec.max_redirects) {
                (false, _) => 0,
                (true, 0) => DEFAULT_MAX_REDIRECTS,
                (true, n) => n,
            },
            pref: IpPreference::try_from(spec.ip_preference).unwrap_or_default(),
            keep_body,
            extra: (!plain).then(|| Box::new(extra)),
        })
    }

    fn expected(&self) -> &[(u16, u16)] {
        if self.expected.is_empty() {
            DEFAULT_EXPECTED
        } else {
            &self.expected
        }
    }

    fn extra(&self) -> &Extra {
        static PLAIN: std::sync::OnceLock<Extra> = std::sync::OnceLock::new();
        self.extra
            .as_deref()
            .unwrap_or_else(|| PLAIN.get_or_init(Extra::default))
    }

    /// The TLS client of a run: the configured one, or the shared default.
    fn tls(&self) -> Result<TlsClient, Failure> {
        match &self.extra().tls {
            Some(tls) => Ok(tls.clone()),
            None => {
                TlsClient::new(None, Alpn::Http1).map_err(|e| Failure::new(FailureClass::Tls, e))
            }
        }
    }

    fn expected_label(&self) -> String {
        let parts: Vec<String> = self
            .expected()
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        parts.join(", ")
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> HttpCheck {
        self.targets = targets;
        self
    }

    /// Sets how each connection ends (orderly unless changed).
    pub fn with_close(mut self, close: Close) -> HttpCheck {
        self.close = close;
        self
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        // The URL made this hop when the check was built, so it makes it again now.
        let first = match Hop::new(self.url.clone()) {
            Ok(hop) => hop,
            Err(e) => return Outcome::down(FailureClass::Internal, e, Timings::default()),
        };
        let mut p = Progress::default();
        let result = tokio::time::timeout_at(deadline, self.probe(&first, &mut p)).await;
        p.timings.total_us = micros_since(started);
        let Ok(result) = result else {
            let ep = p.redirected.as_ref().unwrap_or(&first.ep);
            let doing = match p.phase {
                Phase::Dns => format!("resolving {}", ep.host),
                Phase::Connect => format!("connecting to {ep}"),
                Phase::Tls => format!("in the TLS handshake with {ep}"),
                Phase::FirstByte => format!("waiting for the response from {ep}"),
                Phase::Body => format!("reading the response body from {ep}"),
            };
            return Outcome::from_failure(timeout_failure(started, &doing), p.timings)
                .with_status_code(p.status_code);
        };
        let elapsed = started.elapsed();
        match result {
            Err(f) => Outcome::from_failure(f, p.timings).with_status_code(p.status_code),
            Ok(resp) => {
                let host = p.redirected.as_ref().map_or(&first.ep.host, |ep| &ep.host);
                self.judge(resp, host, elapsed, p.timings)
            }
        }
    }

    fn judge(&self, resp: Response, host: &str, elapsed: Duration, timings: Timings) -> Outcome {
        let cert = match &resp.cert {
            Some(Ok(c)) => Some(c.to_wire()),
            _ => None,
        };
        self.verdict(resp, host, elapsed, timings)
            .with_certificate(cert)
    }

    fn verdict(&self, resp: Response, host: &str, elapsed: Duration, timings: Timings) -> Outcome {
        let code = resp.status.as_u16();
        let status_code = Some(u32::from(code));
        if !self
            .expected()
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&code))
        {
            let msg = format!("expected status {}, got {code}", self.expected_label());
            return Outcome::down(FailureClass::HttpStatus, msg, timings)
                .with_status_code(status_code);
        }
        let assertions = &self.extra().assertions;
        if let Err(f) = assertions.check(&resp.headers, &resp.body, resp.truncated) {
            return Outcome::from_failure(f, timings).with_status_code(status_code);
        }
        if let Some(days) = assertions.cert_days {
            let checked = match &resp.cert {
                Some(Ok(c)) => c.check_expiry(host, days, unix_now()),
                Some(Err(e)) => Err(Failure::new(
                    FailureClass::Tls,
                    format!("certificate of {}: {e}", host),
                )),
                None => Err(Failure::new(
                    FailureClass::Tls,
                    format!("{} did not answer over TLS", host),
                )),
            };
            if let Err(f) = checked {
                return Outcome::from_failure(f, timings).with_status_code(status_code);
            }
        }
        if let Some(limit) = assertions.response_time.filter(|l| elapsed > *l) {
            let msg = format!(
                "response took {} ms, over the {} ms limit",
                elapsed.as_millis(),
                limit.as_millis()
            );
            let down = Outcome::down(FailureClass::Assertion, msg, timings);
            return Outcome {
                status: CheckStatus::Degraded,
                ..down
            }
            .with_status_code(status_code);
        }
        Outcome::up(timings).with_status_code(status_code)
    }

    /// Runs the request and follows redirects (`redirect::follow` says what each hop may
    /// carry); returns the final response.
    async fn probe(&self, first: &Hop, p: &mut Progress) -> Result<Response, Failure> {
        let mut redirected: Option<Hop> = None;
        let mut method = self.method.clone();
        let mut send = Carry::ALL;
        for hop_index in 0..=self.max_redirects {
            let hop = redirected.as_ref().unwrap_or(first);
            let resp = self.request(hop, first, &method, send, p).await?;
            let location = resp
                .headers
                .get(LOCATION)
                .filter(|_| resp.status.is_redirection() && self.max_redirects > 0);
            let Some(location) = location else {
                return Ok(resp);
            };
            if hop_index == self.max_redirects {
                break;
            }
            let next = location
                .to_str()
                .ok()
                .and_then(|l| hop.url.join(l).ok())
                .ok_or_else(|| {
                    Failure::new(
                        FailureClass::Protocol,
                        format!(
                            "{} redirected to an invalid location",
                            excerpt(hop.url.as_str())
                        ),
                    )
                })?;
            let next = Hop::new(next).map_err(|e| {
                Failure::new(FailureClass::Protocol, format!("redirect: {}", excerpt(&e)))
            })?;
            (method, send) = redirect::follow(
                resp.status,
                &method,
                send,
                !self.extra().body.is_empty(),
                &first.url,
                &hop.url,
                &next.url,
            )?;
            p.redirected = Some(next.ep.clone());
            redirected = Some(next);
        }
        Err(Failure::new(
            FailureClass::Protocol,
            format!("more than {} redirects", self.max_redirects),
        ))
    }

    async fn request(
        &self,
        hop: &Hop,
        first: &Hop,
        method: &Method,
        send: Carry,
        p: &mut Progress,
    ) -> Result<Response, Failure> {
        p.phase = Phase::Dns;
        let mut dns_us = 0;
        let addrs = net::resolve(&hop.ep, self.pref, self.targets, &mut dns_us).await;
        p.timings.dns_us += dns_us;
        p.phase = Phase::Connect;
        let mut connect_us = 0;
        let stream = net::connect(&addrs?, net::Writes::Yes, &mut connect_us).await;
        p.timings.connect_us += connect_us;
        let stream = stream?;
        self.close.arm(&stream);
        let extra = self.extra();
        let mut req = Request::new(Full::new(if send.body {
            extra.body.clone()
        } else {
            Bytes::new()
        }));
        *req.method_mut() = method.clone();
        *req.uri_mut() = hop.path.clone();
        let headers = req.headers_mut();
        headers.reserve(extra.headers.len() + 3);
        for (name, value) in &extra.headers {
            if send.credentials || !is_secret_header(name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        // The user_agent field wins over a User-Agent header.
        let user_agent = match &extra.user_agent {
            Some(ua) => ua.clone(),
            None => HeaderValue::from_static(DEFAULT_USER_AGENT),
        };
        headers.insert(USER_AGENT, user_agent);
        headers.insert(HOST, hop.authority.clone());
        if let Some(auth) = extra.auth.as_ref().filter(|_| send.credentials) {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        let same_origin = hop.url.origin() == first.url.origin();
        if !hop.https {
            return self.exchange(stream, req, hop, None, p).await;
        }
        p.phase = Phase::Tls;
        // A server name override belongs to the configured origin, not to redirect targets.
        let client = self.tls()?;
        let name = if same_origin {
            client.name_for(&hop.ep.host)?
        } else {
            server_name(&hop.ep.host).map_err(|m| Failure::new(FailureClass::Tls, m))?
        };
        let mut tls_us = 0;
        let tls = client.handshake(stream, name, &mut tls_us).await;
        p.timings.tls_us += tls_us;
        let tls = tls?;
        // Read for every https request: results carry the certificate to the notifier.
        let cert = Some(CertFacts::of_session(&tls));
        self.exchange(tls, req, hop, cert, p).await
    }

    async fn exchange<IO>(
        &self,
        io: IO,
        req: Request<Full<Bytes>>,
        hop: &Hop,
        cert: Option<Result<CertFacts, String>>,
        p: &mut Progress,
    ) -> Result<Response, Failure>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let ep = &hop.ep;
        let bad = |e: hyper::Error| {
            Failure::new(
                FailureClass::Protocol,
                format!("HTTP exchange with {ep} failed: {}", hyper_message(&e)),
            )
        };
        p.phase = Phase::FirstByte;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(bad)?;
        let sent = Instant::now();
        let keep = self.keep_body;
        let work = async {
            let resp = sender.send_request(req).await.map_err(bad)?;
            p.timings.first_byte_us += micros_since(sent);
            p.status_code = Some(u32::from(resp.status().as_u16()));
            p.phase = Phase::Body;
            let (parts, mut body) = resp.into_parts();
            let mut kept = Vec::new();
            let mut seen = 0usize;
            while seen < MAX_BODY_BYTES {
                let Some(frame) = body.frame().await else {
                    break;
                };
                if let Ok(data) = frame.map_err(bad)?.into_data() {
                    let take = data.len().min(MAX_BODY_BYTES - seen);
                    seen += data.len();
                    if keep {
                        kept.extend_from_slice(&data[..take]);
                    }
                }
            }
            // At exactly the limit only the framing can tell whether more was coming.
            let truncated =
                seen > MAX_BODY_BYTES || (seen == MAX_BODY_BYTES && !body.is_end_stream());
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body: kept,
                truncated,
                cert,
            })
        };
        let mut work = std::pin::pin!(work);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            r = &mut work => r,
            // The connection ends first only on close or error; the exchange then finishes
            // with what was received or with the error.
            _ = &mut conn => work.await,
        }
    }
}

impl Check for HttpCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}

struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The response's body was longer than what was read (`MAX_BODY_BYTES`).
    truncated: bool,
    cert: Option<Result<CertFacts, String>>,
}

#[derive(Debug, Default, Clone, Copy)]
enum Phase {
    #[default]
    Dns,
    Connect,
    Tls,
    FirstByte,
    Body,
}

/// What a run got to, readable after the deadline cut it off.
#[derive(Default)]
struct Progress {
    phase: Phase,
    timings: Timings,
    status_code: Option<u32>,
    redirected: Option<Endpoint>,
}

fn hyper_message(e: &hyper::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_hops_and_labels() {
        let spec = v1::HttpCheck {
            url: "http://[::1]:8080/a?b=1".into(),
            expected_status: vec![
                v1::StatusRange { min: 200, max: 204 },
                v1::StatusRange { min: 301, max: 0 },
            ],
            ..Default::default()
        };
        let c = HttpCheck::new(&spec).expect("valid");
        let first = Hop::new(c.url.clone()).expect("the URL makes a hop");
        assert_eq!(first.authority, "[::1]:8080");
        assert_eq!(first.path, "/a?b=1");
        assert_eq!(c.expected_label(), "200-204, 301");
        assert!(c.extra.is_none(), "a plain GET keeps nothing extra");
        let default = HttpCheck::new(&v1::HttpCheck {
            url: "http://a.test/".into(),
            expected_status: vec![v1::StatusRange { min: 200, max: 299 }],
            ..Default::default()
        })
        .expect("valid");
        assert!(default.expected.is_empty());
        assert_eq!(default.expected_label(), "200-299");
        assert!(
            HttpCheck::new(&v1::HttpCheck {
                url: "ftp://x".into(),
                ..Default::default()
            })
            .is_err()
        );
    }
}
