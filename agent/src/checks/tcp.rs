//! TCP check: connect (optionally TLS), then run send and expect steps in order; an expect
//! step reads until its regex matches the data received so far, or the deadline passes.

use futures::future::BoxFuture;
use lookout_proto::FailureClass;
use lookout_proto::bounds::{MAX_EXCERPT_CHARS, excerpt, quote};
use lookout_proto::v1::{self, IpPreference, Timings, tcp_step::Step as SpecStep};
use lookout_proto::validate::{MAX_ASSERTIONS, compile_bytes_regex, decode_escapes};
use regex::bytes::Regex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::net::{self, Close, Endpoint, Targets};
use super::tls_client::{Alpn, TlsClient};
use super::{Check, Failure, Outcome, micros_since, timeout_failure};

/// Expect steps look at most at this much received data.
pub const MAX_RECEIVE_BYTES: usize = 64 * 1024;

enum Step {
    Send(Vec<u8>),
    Expect(Regex),
}

/// A configured TCP check.
pub struct TcpCheck {
    ep: Endpoint,
    pref: IpPreference,
    tls: Option<TlsClient>,
    steps: Vec<Step>,
    /// Which addresses it may connect to.
    targets: Targets,
    close: Close,
}

impl TcpCheck {
    /// Builds the check: address parsed, payloads decoded and regexes compiled once.
    pub fn new(spec: &v1::TcpCheck) -> Result<TcpCheck, String> {
        let ep = Endpoint::parse(spec.address.trim()).map_err(|e| format!("tcp.address: {e}"))?;
        let tls = if spec.use_tls {
            Some(TlsClient::new(spec.tls.as_ref(), Alpn::None).map_err(|e| format!("tcp.{e}"))?)
        } else {
            None
        };
        if spec.steps.len() > MAX_ASSERTIONS {
            return Err(format!("tcp.steps: at most {MAX_ASSERTIONS} steps"));
        }
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (i, s) in spec.steps.iter().enumerate() {
            steps.push(match &s.step {
                None => return Err(format!("tcp.steps[{i}]: must set send or expect")),
                Some(SpecStep::Send(data)) => Step::Send(
                    decode_escapes(data).map_err(|e| format!("tcp.steps[{i}].send: {e}"))?,
                ),
                Some(SpecStep::Expect(re)) => Step::Expect(
                    compile_bytes_regex(re).map_err(|e| format!("tcp.steps[{i}].expect: {e}"))?,
                ),
            });
        }
        Ok(TcpCheck {
            targets: Targets::default(),
            close: Close::default(),
            ep,
            pref: IpPreference::try_from(spec.ip_preference).unwrap_or_default(),
            tls,
            steps,
        })
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> TcpCheck {
        self.targets = targets;
        self
    }

    /// Sets how the connection ends (orderly unless changed).
    pub fn with_close(mut self, close: Close) -> TcpCheck {
        self.close = close;
        self
    }

    /// A TLS handshake or a send step writes; a bare connect check does not.
    fn writes(&self) -> net::Writes {
        if self.tls.is_some() || self.steps.iter().any(|s| matches!(s, Step::Send(_))) {
            net::Writes::Yes
        } else {
            net::Writes::No
        }
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        let mut p = Progress::default();
        let result = tokio::time::timeout_at(deadline, self.probe(&mut p)).await;
        p.timings.total_us = micros_since(started);
        match result {
            Ok(Ok(())) => Outcome::up(p.timings),
            Ok(Err(f)) => Outcome::from_failure(f, p.timings),
            Err(_) => {
                let ep = &self.ep;
                let doing = match p.phase {
                    Phase::Dns => format!("resolving {}", ep.host),
                    Phase::Connect => format!("connecting to {ep}"),
                    Phase::Tls => format!("in the TLS handshake with {ep}"),
                    Phase::Send => format!("sending to {ep}"),
                    Phase::Expect(i) => {
                        let re = match &self.steps[i] {
                            Step::Expect(re) => re.as_str(),
                            Step::Send(_) => "",
                        };
                        format!(
                            "waiting for /{}/ from {ep}; received {}",
                            excerpt(re),
                            shown(&p.received)
                        )
                    }
                };
                Outcome::from_failure(timeout_failure(started, &doing), p.timings)
            }
        }
    }

    async fn probe(&self, p: &mut Progress) -> Result<(), Failure> {
        let mut dns_us = 0;
        let addrs = net::resolve(&self.ep, self.pref, self.targets, &mut dns_us).await;
        p.timings.dns_us = dns_us;
        p.phase = Phase::Connect;
        let mut stream = net::connect(&addrs?, self.writes(), &mut p.timings.connect_us).await?;
        self.close.arm(&stream);
        let Some(tls) = &self.tls else {
            self.converse(&mut stream, p).await?;
            // Dropping the socket closes it (a FIN, or the reset armed above).
            return Ok(());
        };
        p.phase = Phase::Tls;
        let name = tls.name_for(&self.ep.host)?;
        let mut stream = tls.handshake(stream, name, &mut p.timings.tls_us).await?;
        self.converse(&mut stream, p).await?;
        // TLS says goodbye first (close_notify), so servers do not log a truncated session.
        let _ = stream.shutdown().await;
        Ok(())
    }

    async fn converse<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut IO,
        p: &mut Progress,
    ) -> Result<(), Failure> {
        let ep = &self.ep;
        let since_connect = Instant::now();
        let mut chunk = [0u8; 4096];
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Send(data) => {
                    p.phase = Phase::Send;
                    io.write_all(data)
                        .await
                        .map_err(|e| io_failure(ep, "sending to", &e))?;
                    io.flush()
                        .await
                        .map_err(|e| io_failure(ep, "sending to", &e))?;
                }
                Step::Expect(re) => {
                    p.phase = Phase::Expect(i);
                    while !re.is_match(&p.received) {
                        if p.received.len() >= MAX_RECEIVE_BYTES {
                            return Err(Failure::new(
                                FailureClass::Assertion,
                                format!(
                                    "expected /{}/ from {ep} within {MAX_RECEIVE_BYTES} bytes, got {}",
                                    excerpt(re.as_str()),
                                    shown(&p.received)
                                ),
                            ));
                        }
                        let n = io
                            .read(&mut chunk)
                            .await
                            .map_err(|e| io_failure(ep, "reading from", &e))?;
                        if n == 0 {
                            return Err(Failure::new(
                                FailureClass::Assertion,
                                format!(
                                    "{ep} closed the connection before sending /{}/; received {}",
                                    excerpt(re.as_str()),
                                    shown(&p.received)
                                ),
                            ));
                        }
                        if p.timings.first_byte_us == 0 {
                            p.timings.first_byte_us = micros_since(since_connect);
                        }
                        let room = MAX_RECEIVE_BYTES - p.received.len();
                        p.received.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Check for TcpCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}

#[derive(Debug, Default, Clone, Copy)]
enum Phase {
    #[default]
    Dns,
    Connect,
    Tls,
    Send,
    Expect(usize),
}

#[derive(Default)]
struct Progress {
    phase: Phase,
    timings: Timings,
    received: Vec<u8>,
}

fn io_failure(ep: &Endpoint, doing: &str, e: &std::io::Error) -> Failure {
    let class = match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
            FailureClass::Connect
        }
        _ => FailureClass::Protocol,
    };
    Failure::new(class, format!("error {doing} {ep}: {e}"))
}

/// Received bytes for a message: quoted and escaped, at most an excerpt long, with the
/// count when cut.
fn shown(data: &[u8]) -> String {
    if data.is_empty() {
        return "nothing".into();
    }
    // Enough bytes for a full excerpt of 4-byte characters and one more, so a cut is marked.
    let cut = &data[..data.len().min(4 * MAX_EXCERPT_CHARS + 4)];
    let mut s = quote(&String::from_utf8_lossy(cut));
    if data.len() > cut.len() {
        s.push_str(&format!(" ({} bytes)", data.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_specs_naming_the_field() {
        let bad = |steps: Vec<v1::TcpStep>| {
            TcpCheck::new(&v1::TcpCheck {
                address: "127.0.0.1:1".into(),
                steps,
                ..Default::default()
            })
            .err()
        };
        let e = bad(vec![v1::TcpStep {
            step: Some(SpecStep::Expect("(".into())),
        }])
        .expect("bad regex");
        assert!(e.starts_with("tcp.steps[0].expect"), "{e}");
        let e = bad(vec![v1::TcpStep::default()]).expect("empty step");
        assert!(e.starts_with("tcp.steps[0]"), "{e}");
        assert!(
            TcpCheck::new(&v1::TcpCheck {
                address: "nope".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn shows_received_bytes_briefly() {
        assert_eq!(shown(b""), "nothing");
        assert_eq!(shown(b"SSH-2.0\r\n"), "\"SSH-2.0\\r\\n\"");
        let long = shown(&[b'a'; 100_000]);
        assert!(long.ends_with("…\" (100000 bytes)"), "{long}");
        assert!(long.chars().count() < MAX_EXCERPT_CHARS + 20, "{long}");
    }
}
