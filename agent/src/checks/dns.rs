//! DNS check: one query to a chosen resolver over UDP (TCP when the answer is truncated),
//! judged by response code and by expected answer values, exact or regex.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lookout_proto::FailureClass;
use lookout_proto::bounds::excerpt;
use lookout_proto::v1::{self, DnsRecordType, Timings, value_match};
use lookout_proto::validate::{MAX_ASSERTIONS, RCODES, compile_regex, resolver_addr};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::net::{self, Targets};
use super::{Check, Failure, Outcome, micros_since, timeout_failure};

/// A lost UDP query is sent again after this long, until the deadline.
const RETRANSMIT: Duration = Duration::from_millis(1000);

enum Expect {
    Exact(String),
    Regex(Regex),
}

impl Expect {
    fn matches(&self, value: &str) -> bool {
        match self {
            Expect::Exact(e) => e.eq_ignore_ascii_case(value),
            Expect::Regex(r) => r.is_match(value),
        }
    }

    fn shown(&self) -> String {
        match self {
            Expect::Exact(e) => format!("{e:?}"),
            Expect::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

/// A configured DNS check.
pub struct DnsCheck {
    name: Name,
    rtype: RecordType,
    resolver: SocketAddr,
    rcode: ResponseCode,
    expected: Vec<Expect>,
    /// The resolver came from the monitor, not from the agent's /etc/resolv.conf: only then
    /// is it subject to the private-target rule (a cluster's own resolver is private).
    resolver_from_spec: bool,
    /// Which addresses it may connect to.
    targets: Targets,
}

impl DnsCheck {
    /// Builds the check: name, record type, resolver and regexes parsed once.
    pub fn new(spec: &v1::DnsCheck) -> Result<DnsCheck, String> {
        let mut name = Name::from_utf8(spec.name.trim())
            .map_err(|e| format!("dns.name: {:?} is invalid: {e}", spec.name))?;
        name.set_fqdn(true);
        let rtype = match DnsRecordType::try_from(spec.record_type) {
            Ok(DnsRecordType::A | DnsRecordType::Unspecified) => RecordType::A,
            Ok(DnsRecordType::Aaaa) => RecordType::AAAA,
            Ok(DnsRecordType::Cname) => RecordType::CNAME,
            Ok(DnsRecordType::Mx) => RecordType::MX,
            Ok(DnsRecordType::Txt) => RecordType::TXT,
            Ok(DnsRecordType::Ns) => RecordType::NS,
            Ok(DnsRecordType::Soa) => RecordType::SOA,
            Err(_) => {
                return Err(format!(
                    "dns.record_type: {} is not a known record type",
                    spec.record_type
                ));
            }
        };
        let resolver = match spec.resolver.trim() {
            "" => system_resolver()?,
            r => resolver_addr(r)
                .ok_or_else(|| format!("dns.resolver: {r:?} is invalid, must be ip or ip:port"))?,
        };
        let rcode = match spec.expected_rcode.trim().to_ascii_uppercase().as_str() {
            "" => ResponseCode::NoError,
            code => rcode_by_name(code).ok_or_else(|| {
                format!("dns.expected_rcode: {code:?} is not a known response code")
            })?,
        };
        if spec.expected_values.len() > MAX_ASSERTIONS {
            return Err(format!(
                "dns.expected_values: at most {MAX_ASSERTIONS} values"
            ));
        }
        let mut expected = Vec::with_capacity(spec.expected_values.len());
        for (i, v) in spec.expected_values.iter().enumerate() {
            expected.push(match &v.kind {
                None => return Err(format!("dns.expected_values[{i}]: must set exact or regex")),
                Some(value_match::Kind::Exact(e)) => Expect::Exact(e.trim().to_string()),
                Some(value_match::Kind::Regex(r)) => Expect::Regex(
                    compile_regex(r).map_err(|e| format!("dns.expected_values[{i}].regex: {e}"))?,
                ),
            });
        }
        Ok(DnsCheck {
            targets: Targets::default(),
            resolver_from_spec: !spec.resolver.trim().is_empty(),
            name,
            rtype,
            resolver,
            rcode,
            expected,
        })
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> DnsCheck {
        self.targets = targets;
        self
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        let mut timings = Timings::default();
        let result = tokio::time::timeout_at(deadline, self.probe(&mut timings)).await;
        timings.total_us = micros_since(started);
        match result {
            Ok(Ok(())) => Outcome::up(timings),
            Ok(Err(f)) => Outcome::from_failure(f, timings),
            Err(_) => {
                let doing = format!(
                    "waiting for {} to answer {} {}",
                    self.resolver, self.rtype, self.name
                );
                Outcome::from_failure(timeout_failure(started, &doing), timings)
            }
        }
    }

    async fn probe(&self, t: &mut Timings) -> Result<(), Failure> {
        if self.resolver_from_spec {
            let ip = self.resolver.ip();
            self.targets.permit(ip, || format!("resolver {ip} is"))?;
        }
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(self.name.clone(), self.rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        query.set_edns(edns);
        let bytes = query.to_vec().map_err(|e| {
            Failure::new(
                FailureClass::Internal,
                format!("cannot encode query for {}: {e}", self.name),
            )
        })?;
        let sent = Instant::now();
        let mut answer = self.over_udp(&bytes, query.metadata.id).await?;
        if answer.metadata.truncation {
            answer = self.over_tcp(&bytes, query.metadata.id).await?;
        }
        t.dns_us = micros_since(sent);
        t.first_byte_us = t.dns_us;
        self.judge(&answer)
    }

    async fn over_udp(&self, query: &[u8], id: u16) -> Result<Message, Failure> {
        let io = |e: std::io::Error| {
            Failure::new(
                FailureClass::Connect,
                format!("cannot query {}: {e}", self.resolver),
            )
        };
        let local: SocketAddr = if self.resolver.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        socket.connect(self.resolver).await.map_err(io)?;
        let mut buf = vec![0u8; 4096];
        loop {
            socket.send(query).await.map_err(io)?;
            let resend_at = Instant::now() + RETRANSMIT;
            loop {
                let n = match tokio::time::timeout_at(resend_at, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(Failure::new(
                            FailureClass::ConnectRefused,
                            format!(
                                "{} refused the query (no DNS server on that port)",
                                self.resolver
                            ),
                        ));
                    }
                    Ok(r) => r.map_err(io)?,
                };
                // Answers with another id are strays or spoofs; keep waiting for ours.
                if let Ok(m) = Message::from_vec(&buf[..n])
                    && m.metadata.id == id
                {
                    return Ok(m);
                }
            }
        }
    }

    async fn over_tcp(&self, query: &[u8], id: u16) -> Result<Message, Failure> {
        let io = |e: std::io::Error| {
            Failure::new(
                FailureClass::Connect,
                format!("DNS over TCP to {}: {e}", self.resolver),
            )
        };
        // The answer was truncated over UDP; the same resolver must also answer over TCP.
        let mut s = TcpStream::connect(self.resolver)
            .await
            .map_err(|e| net::connect_failure(self.resolver, &e))?;
        let len = u16::try_from(query.len())
            .map_err(|_| Failure::new(FailureClass::Internal, "query too large"))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        s.write_all(&framed).await.map_err(io)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.map_err(io)?;
        Message::from_vec(&buf)
            .ok()
            .filter(|m| m.metadata.id == id)
            .ok_or_else(|| {
                Failure::new(
                    FailureClass::Protocol,
                    format!("{} sent an invalid DNS answer over TCP", self.resolver),
                )
            })
    }

    fn judge(&self, answer: &Message) -> Result<(), Failure> {
        let got = answer.metadata.response_code;
        if got != self.rcode {
            return Err(Failure::new(
                FailureClass::Dns,
                format!(
                    "expected {} for {} {}, got {} from {}",
                    rcode_name(self.rcode),
                    self.rtype,
                    self.name,
                    rcode_name(got),
                    self.resolver
                ),
            ));
        }
        if self.rcode != ResponseCode::NoError {
            return Ok(());
        }
        let values: Vec<String> = answer
            .answers
            .iter()
            .filter(|r| r.record_type() == self.rtype)
            .map(render)
            .collect();
        if values.is_empty() {
            return Err(Failure::new(
                FailureClass::Dns,
                format!(
                    "{} has no {} records (asked {})",
                    self.name, self.rtype, self.resolver
                ),
            ));
        }
        for e in &self.expected {
            if !values.iter().any(|v| e.matches(v)) {
                return Err(Failure::new(
                    FailureClass::Assertion,
                    format!(
                        "no {} record of {} matches {}; got {}",
                        self.rtype,
                        self.name,
                        excerpt(&e.shown()),
                        excerpt(&values.join(", "))
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Check for DnsCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}

/// An answer value as users write it: `1.2.3.4`, `10 mail.example.org.`, TXT strings joined.
fn render(r: &Record) -> String {
    match &r.data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect(),
        other => other.to_string(),
    }
}

/// `RCODES` is ordered by code value (RFC 1035 and 2136: NOERROR is 0, NOTZONE is 10).
fn rcode_by_name(name: &str) -> Option<ResponseCode> {
    let low = RCODES.iter().position(|c| c.eq_ignore_ascii_case(name))?;
    Some(ResponseCode::from(0, u8::try_from(low).ok()?))
}

/// The RFC name of a response code (`NXDOMAIN`), or its number.
fn rcode_name(code: ResponseCode) -> String {
    let value = u16::from(code);
    RCODES
        .get(usize::from(value))
        .map_or_else(|| format!("RCODE {value}"), |n| (*n).to_string())
}

/// The first nameserver in /etc/resolv.conf, read once: it is the same for every monitor.
fn system_resolver() -> Result<SocketAddr, String> {
    static RESOLVER: OnceLock<Result<SocketAddr, String>> = OnceLock::new();
    RESOLVER
        .get_or_init(|| {
            let conf = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| {
                format!("dns.resolver: empty and /etc/resolv.conf is unreadable: {e}")
            })?;
            conf.lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .find_map(|a| resolver_addr(a.trim()))
                .ok_or_else(|| {
                    "dns.resolver: empty and /etc/resolv.conf names no nameserver".to_string()
                })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcodes_by_name() {
        assert_eq!(rcode_by_name("NXDOMAIN"), Some(ResponseCode::NXDomain));
        assert_eq!(rcode_by_name("noerror"), Some(ResponseCode::NoError));
        assert_eq!(rcode_by_name("BOGUS"), None);
        assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_name(ResponseCode::from(0, 5)), "REFUSED");
        for name in lookout_proto::validate::RCODES {
            assert!(
                rcode_by_name(name).is_some(),
                "{name} must be known to the agent"
            );
        }
    }

    #[test]
    fn refuses_bad_specs() {
        let bad = |s: v1::DnsCheck| DnsCheck::new(&s).err().unwrap_or_default();
        let base = v1::DnsCheck {
            name: "example.org".into(),
            resolver: "127.0.0.1".into(),
            ..Default::default()
        };
        assert!(
            bad(v1::DnsCheck {
                resolver: "nope".into(),
                ..base.clone()
            })
            .starts_with("dns.resolver")
        );
        assert!(
            bad(v1::DnsCheck {
                expected_rcode: "WHAT".into(),
                ..base.clone()
            })
            .starts_with("dns.expected_rcode")
        );
        let re = v1::ValueMatch {
            kind: Some(value_match::Kind::Regex("(".into())),
        };
        assert!(
            bad(v1::DnsCheck {
                expected_values: vec![re],
                ..base
            })
            .starts_with("dns.expected_values[0].regex")
        );
    }
}
