//! ICMP echo check: `count` pings `interval_ms` apart over an unprivileged datagram ICMP
//! socket (a raw socket when the kernel refuses that and the agent has CAP_NET_RAW), with
//! packet loss and round-trip min/avg/max.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use lookout_proto::FailureClass;
use lookout_proto::v1::{self, IpPreference, Timings};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::net::{self, Endpoint, Targets};
use super::{Check, Failure, Outcome, PingStats, micros_since, timeout_failure};

const PAYLOAD: &[u8; 8] = b"lookout!";

/// Echo identifiers for raw sockets, where the kernel does not assign one per socket.
static NEXT_ID: AtomicU16 = AtomicU16::new(0x4c6f);

/// A configured ping check.
pub struct IcmpCheck {
    ep: Endpoint,
    pref: IpPreference,
    count: u16,
    interval: Duration,
    reply_timeout: Duration,
    max_loss_percent: u32,
    /// Which addresses it may connect to.
    targets: Targets,
}

impl IcmpCheck {
    /// Builds the check; defaults match the validation (3 pings, 200 ms apart, 1 s timeout).
    pub fn new(spec: &v1::IcmpCheck) -> Result<IcmpCheck, String> {
        let host = spec.host.trim();
        if host.is_empty() {
            return Err("icmp.host: must not be empty".into());
        }
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        Ok(IcmpCheck {
            targets: Targets::default(),
            ep: Endpoint::new(host, 0),
            pref: IpPreference::try_from(spec.ip_preference).unwrap_or_default(),
            count: u16::try_from(or(spec.count, 3))
                .map_err(|_| format!("icmp.count: {} is too many", spec.count))?,
            interval: Duration::from_millis(u64::from(or(spec.interval_ms, 200))),
            reply_timeout: Duration::from_millis(u64::from(or(spec.reply_timeout_ms, 1000))),
            max_loss_percent: spec.max_loss_percent,
        })
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> IcmpCheck {
        self.targets = targets;
        self
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        let mut timings = Timings::default();
        let mut stats = PingStats::default();
        let result = tokio::time::timeout_at(deadline, self.probe(&mut timings, &mut stats)).await;
        timings.total_us = micros_since(started);
        let outcome = match result {
            Ok(Ok(())) => self.judge(&stats, timings),
            Ok(Err(f)) => Outcome::from_failure(f, timings),
            Err(_) => Outcome::from_failure(
                timeout_failure(started, &format!("pinging {}", self.ep.host)),
                timings,
            ),
        };
        Outcome {
            ping: (stats.sent > 0).then_some(stats),
            certificate: None,
            ..outcome
        }
    }

    fn judge(&self, s: &PingStats, timings: Timings) -> Outcome {
        let host = &self.ep.host;
        if s.received == 0 {
            let msg = format!(
                "no reply from {host} to {} pings ({} ms reply timeout)",
                s.sent,
                self.reply_timeout.as_millis()
            );
            return Outcome::down(FailureClass::Timeout, msg, timings);
        }
        let lost = s.sent - s.received.min(s.sent);
        let loss = s.loss_percent();
        if self.max_loss_percent > 0 && loss > self.max_loss_percent {
            let msg = format!(
                "lost {lost} of {} pings to {host} ({loss}%), more than the allowed {}%",
                s.sent, self.max_loss_percent
            );
            return Outcome::down(FailureClass::Assertion, msg, timings);
        }
        Outcome::up(timings)
    }

    async fn probe(&self, t: &mut Timings, stats: &mut PingStats) -> Result<(), Failure> {
        let addrs = net::resolve(&self.ep, self.pref, self.targets, &mut t.dns_us).await?;
        let ip = addrs
            .first()
            .map(SocketAddr::ip)
            .ok_or_else(|| Failure::new(FailureClass::Dns, "no address"))?;
        let pinger = Pinger::open(ip)?;
        let target = SocketAddr::new(ip, 0);
        let count = usize::from(self.count);
        let mut sent_at: Vec<Option<Instant>> = vec![None; count];
        let mut rtts: Vec<Option<Duration>> = vec![None; count];
        let mut next = 0usize;
        let mut next_send = Instant::now();
        let mut buf = [0u8; 1500];
        loop {
            let all_sent = next == count;
            if all_sent && rtts.iter().all(Option::is_some) {
                break;
            }
            let wake = if all_sent {
                next_send - self.interval + self.reply_timeout
            } else {
                next_send
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {
                    if all_sent {
                        break;
                    }
                    let seq = u16::try_from(next).unwrap_or(u16::MAX);
                    pinger.send(target, seq).await.map_err(|e| {
                        Failure::new(FailureClass::Connect, format!("cannot ping {ip}: {e}"))
                    })?;
                    sent_at[next] = Some(Instant::now());
                    stats.sent += 1;
                    next += 1;
                    next_send += self.interval;
                }
                got = pinger.socket.recv_from(&mut buf) => {
                    // Errors (an ICMP error queued on the socket) count as a lost reply.
                    let Ok((n, from)) = got else { continue };
                    let Some(seq) = pinger.parse_reply(&buf[..n], from.ip(), ip) else { continue };
                    let i = usize::from(seq);
                    if let (Some(Some(at)), Some(slot)) = (sent_at.get(i), rtts.get_mut(i)) {
                        let rtt = at.elapsed();
                        if slot.is_none() && rtt <= self.reply_timeout {
                            *slot = Some(rtt);
                        }
                    }
                }
            }
        }
        let got: Vec<u64> = rtts
            .iter()
            .flatten()
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect();
        stats.received = u32::try_from(got.len()).unwrap_or(u32::MAX);
        if !got.is_empty() {
            stats.rtt_min_us = got.iter().copied().min().unwrap_or(0);
            stats.rtt_max_us = got.iter().copied().max().unwrap_or(0);
            stats.rtt_avg_us = got.iter().sum::<u64>() / got.len() as u64;
            t.first_byte_us = stats.rtt_avg_us;
        }
        Ok(())
    }
}

impl Check for IcmpCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}

/// An open ICMP socket: datagram (kernel assigns and filters the identifier) or raw.
struct Pinger {
    socket: UdpSocket,
    raw: bool,
    v6: bool,
    id: u16,
}

impl Pinger {
    fn open(ip: IpAddr) -> Result<Pinger, Failure> {
        let (domain, proto) = if ip.is_ipv4() {
            (Domain::IPV4, Protocol::ICMPV4)
        } else {
            (Domain::IPV6, Protocol::ICMPV6)
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
            Ok(s) => (s, false),
            Err(dgram) if refused(&dgram) => match Socket::new(domain, Type::RAW, Some(proto)) {
                Ok(s) => (s, true),
                Err(_) => {
                    return Err(Failure::new(
                        FailureClass::Internal,
                        refusal_message(&dgram),
                    ));
                }
            },
            Err(e) => {
                return Err(Failure::new(
                    FailureClass::Internal,
                    format!("cannot open an ICMP socket: {e}"),
                ));
            }
        };
        let open = |e: io::Error| {
            Failure::new(
                FailureClass::Internal,
                format!("cannot open an ICMP socket: {e}"),
            )
        };
        socket.set_nonblocking(true).map_err(open)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket)).map_err(open)?;
        Ok(Pinger {
            socket,
            raw,
            v6: ip.is_ipv6(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    async fn send(&self, to: SocketAddr, seq: u16) -> io::Result<()> {
        let mut packet = [0u8; 8 + PAYLOAD.len()];
        packet[0] = if self.v6 { 128 } else { 8 };
        packet[4..6].copy_from_slice(&self.id.to_be_bytes());
        packet[6..8].copy_from_slice(&seq.to_be_bytes());
        packet[8..].copy_from_slice(PAYLOAD);
        if !self.v6 {
            // ICMPv6 checksums cover a pseudo-header; the kernel fills them in.
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        self.socket.send_to(&packet, to).await.map(drop)
    }

    /// The sequence number of an echo reply from `want` to us, or None for anything else.
    fn parse_reply(&self, data: &[u8], from: IpAddr, want: IpAddr) -> Option<u16> {
        if from != want {
            return None;
        }
        // Raw IPv4 sockets deliver the IP header too.
        let icmp = if self.raw && !self.v6 {
            data.get(usize::from(data.first()? & 0x0f) * 4..)?
        } else {
            data
        };
        let reply_type = if self.v6 { 129 } else { 0 };
        if icmp.len() < 8 || icmp[0] != reply_type || icmp[1] != 0 {
            return None;
        }
        // Datagram sockets rewrite the identifier and filter replies themselves.
        if self.raw && u16::from_be_bytes([icmp[4], icmp[5]]) != self.id {
            return None;
        }
        Some(u16::from_be_bytes([icmp[6], icmp[7]]))
    }
}

fn refused(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied) || e.raw_os_error() == Some(1)
}

/// Says what to change when the kernel refuses unprivileged ICMP sockets.
fn refusal_message(e: &io::Error) -> String {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "the kernel refused an unprivileged ICMP socket ({e}): the agent's group is outside \
         net.ipv4.ping_group_range (now \"{range}\"); allow it with \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` or give the agent CAP_NET_RAW"
    )
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // Echo request, id 1, seq 1, no payload: 0x0800 + 0x0001 + 0x0001 = 0x0802 → !0x0802.
        assert_eq!(checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
        let mut p = [8u8, 0, 0, 0, 0x12, 0x34, 0, 7, b'a', b'b', b'c'];
        let s = checksum(&p);
        p[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
    }

    #[test]
    fn refusal_names_the_sysctl() {
        let m = refusal_message(&io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(m.contains("net.ipv4.ping_group_range"), "{m}");
    }

    #[test]
    fn loss_judgement() {
        let c = IcmpCheck::new(&v1::IcmpCheck {
            host: "192.0.2.1".into(),
            max_loss_percent: 20,
            ..Default::default()
        })
        .expect("valid");
        let stats = |sent, received| PingStats {
            sent,
            received,
            ..Default::default()
        };
        assert_eq!(
            c.judge(&stats(5, 5), Timings::default()).status,
            lookout_proto::CheckStatus::Up
        );
        let o = c.judge(&stats(5, 3), Timings::default());
        assert_eq!(
            o.message,
            "lost 2 of 5 pings to 192.0.2.1 (40%), more than the allowed 20%"
        );
        let o = c.judge(&stats(3, 0), Timings::default());
        assert_eq!(
            (o.failure, o.message.as_str()),
            (
                FailureClass::Timeout,
                "no reply from 192.0.2.1 to 3 pings (1000 ms reply timeout)"
            )
        );
    }
}
