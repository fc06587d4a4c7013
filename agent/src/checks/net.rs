//! Name resolution and timed TCP connects shared by the probers: IPv4/IPv6 preference with
//! fallback to the other family, the agent's rule on private targets, and connect errors
//! turned into failures a person can act on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lookout_proto::FailureClass;
use lookout_proto::address::non_public;
use lookout_proto::v1::IpPreference;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Failure, micros_since};

/// Which addresses checks may connect to. A cluster agent checks the internet on behalf of
/// whoever can create monitors, so by default it refuses loopback, private and link-local
/// addresses (its own host, its cluster's services, cloud metadata endpoints); standalone,
/// where a laptop watches its own services, allows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Targets {
    #[default]
    PublicOnly,
    AnyAddress,
}

impl Targets {
    /// The policy of an agent's `allow_private_targets` setting.
    pub fn allowing_private(allow: bool) -> Targets {
        if allow {
            Targets::AnyAddress
        } else {
            Targets::PublicOnly
        }
    }

    fn allows(self, ip: IpAddr) -> bool {
        self == Targets::AnyAddress || non_public(ip).is_none()
    }

    /// Refuses `ip` unless it is public or private targets are allowed; `shown` says how the
    /// address was reached ("127.0.0.1 is", "localhost resolves to 127.0.0.1,").
    pub(crate) fn permit(self, ip: IpAddr, shown: impl FnOnce() -> String) -> Result<(), Failure> {
        match (self, non_public(ip)) {
            (Targets::PublicOnly, Some(why)) => Err(Failure::new(
                FailureClass::Connect,
                format!(
                    "{} {why}; set allow_private_targets on the agent to check it",
                    shown()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// How a check's connection ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Close {
    /// FIN: an orderly close; the agent's side then stays in TIME_WAIT for 60 s.
    #[default]
    Orderly,
    /// A reset (`SO_LINGER` 0): nothing stays behind (the agent's `close_with_reset`).
    Reset,
}

impl Close {
    /// The close of an agent's `close_with_reset` setting.
    pub fn resetting(reset: bool) -> Close {
        if reset { Close::Reset } else { Close::Orderly }
    }

    /// Arms `stream` to close this way when it is dropped.
    pub(crate) fn arm(self, stream: &TcpStream) {
        if self == Close::Reset {
            // Failing leaves the orderly close, which is still a close.
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        }
    }
}

/// A host and port as configured, with the address pre-parsed when the host is a literal IP
/// (no resolution then, and no DNS time).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    ip: Option<IpAddr>,
}

impl Endpoint {
    pub(crate) fn new(host: &str, port: u16) -> Endpoint {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Endpoint {
            host: host.to_string(),
            port,
            ip: host.parse().ok(),
        }
    }

    /// Parses `host:port` (IPv6 hosts in brackets).
    pub(crate) fn parse(address: &str) -> Result<Endpoint, String> {
        let bad = || format!("{address:?} is invalid, must be host:port");
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Endpoint::new(host, port))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Resolves `ep`, keeps the addresses `targets` permits and orders them by `pref`; `dns_us`
/// gets the resolution time (zero for an IP literal). The rule applies to the resolved
/// addresses, the ones connected to, so a name cannot pass it and then point elsewhere.
pub(crate) async fn resolve(
    ep: &Endpoint,
    pref: IpPreference,
    targets: Targets,
    dns_us: &mut u64,
) -> Result<Vec<SocketAddr>, Failure> {
    if let Some(ip) = ep.ip {
        if !family_allowed(ip, pref) {
            return Err(Failure::new(
                FailureClass::Dns,
                format!("{ip} is not an {} address", only_family(pref)),
            ));
        }
        targets.permit(ip, || format!("{ip} is"))?;
        return Ok(vec![SocketAddr::new(ip, ep.port)]);
    }
    let started = Instant::now();
    let found = tokio::net::lookup_host((ep.host.as_str(), ep.port)).await;
    *dns_us = micros_since(started);
    let mut addrs: Vec<SocketAddr> = found
        .map_err(|e| {
            Failure::new(
                FailureClass::Dns,
                format!("could not resolve {}: {e}", ep.host),
            )
        })?
        .filter(|a| family_allowed(a.ip(), pref))
        .collect();
    if addrs.is_empty() {
        let which = match pref {
            IpPreference::Ipv4Only | IpPreference::Ipv6Only => format!("{} ", only_family(pref)),
            _ => String::new(),
        };
        return Err(Failure::new(
            FailureClass::Dns,
            format!("{} has no {which}address", ep.host),
        ));
    }
    if let Some(first) = addrs.first().map(SocketAddr::ip) {
        let permitted: Vec<SocketAddr> = addrs
            .iter()
            .copied()
            .filter(|a| targets.allows(a.ip()))
            .collect();
        if permitted.is_empty() {
            targets.permit(first, || format!("{} resolves to {first},", ep.host))?;
        }
        addrs = permitted;
    }
    let v6_first = pref == IpPreference::Ipv6;
    addrs.sort_by_key(|a| a.is_ipv6() != v6_first);
    Ok(addrs)
}

fn family_allowed(ip: IpAddr, pref: IpPreference) -> bool {
    match pref {
        IpPreference::Ipv4Only => ip.is_ipv4(),
        IpPreference::Ipv6Only => ip.is_ipv6(),
        _ => true,
    }
}

fn only_family(pref: IpPreference) -> &'static str {
    if pref == IpPreference::Ipv6Only {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// How long one address may stay silent before the next one is tried.
const FALLBACK_AFTER: Duration = Duration::from_millis(1500);

/// Whether a probe writes on the connection: Nagle's algorithm only delays small writes, so
/// a connect-only probe skips the `TCP_NODELAY` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writes {
    Yes,
    No,
}

/// Connects to the first address that accepts, trying the others in order; `connect_us` gets
/// the time spent connecting. The error names the last address tried.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    writes: Writes,
    connect_us: &mut u64,
) -> Result<TcpStream, Failure> {
    let started = Instant::now();
    let mut last = Failure::new(FailureClass::Connect, "no address to connect to");
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = TcpStream::connect(addr);
        // A silent address (a black-holed IPv6 route) must not use up the whole check when
        // another address may answer; the last one gets whatever time is left.
        let result = if i + 1 < addrs.len() {
            match tokio::time::timeout(FALLBACK_AFTER, attempt).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
            }
        } else {
            attempt.await
        };
        match result {
            Ok(stream) => {
                *connect_us = micros_since(started);
                // Probes write small requests once; waiting for more data only adds latency.
                if writes == Writes::Yes {
                    let _ = stream.set_nodelay(true);
                }
                return Ok(stream);
            }
            Err(e) => last = connect_failure(*addr, &e),
        }
    }
    *connect_us = micros_since(started);
    Err(last)
}

pub(crate) fn connect_failure(addr: SocketAddr, e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::new(
            FailureClass::ConnectRefused,
            format!("connection refused by {addr}"),
        ),
        io::ErrorKind::TimedOut => Failure::new(
            FailureClass::Timeout,
            format!("connecting to {addr} timed out"),
        ),
        _ => Failure::new(
            FailureClass::Connect,
            format!("could not connect to {addr}: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let ep = Endpoint::parse("[::1]:443").expect("valid");
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.ip.is_some()),
            ("::1", 443, true)
        );
        assert_eq!(ep.to_string(), "[::1]:443");
        let ep = Endpoint::parse("example.org:80").expect("valid");
        assert!(ep.ip.is_none());
        for bad in ["nohost", ":80", "a:0", "a:x"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn literal_ips_skip_dns_and_respect_family() {
        let mut dns = 0;
        let ep = Endpoint::new("127.0.0.1", 80);
        assert_eq!(
            resolve(
                &ep,
                IpPreference::Unspecified,
                Targets::AnyAddress,
                &mut dns
            )
            .await
            .expect("ip")
            .len(),
            1
        );
        assert_eq!(dns, 0);
        let e = resolve(&ep, IpPreference::Ipv6Only, Targets::AnyAddress, &mut dns)
            .await
            .expect_err("v4 literal");
        assert_eq!(e.class, FailureClass::Dns);
    }

    #[tokio::test]
    async fn localhost_orders_by_preference() {
        let mut dns = 0;
        let ep = Endpoint::new("localhost", 80);
        let v4 = resolve(&ep, IpPreference::Ipv4Only, Targets::AnyAddress, &mut dns)
            .await
            .expect("localhost has IPv4");
        assert!(v4.iter().all(SocketAddr::is_ipv4));
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let mut dns = 0;
        let e = resolve(
            &Endpoint::new("127.0.0.1", 80),
            IpPreference::Unspecified,
            Targets::PublicOnly,
            &mut dns,
        )
        .await
        .expect_err("loopback is refused");
        assert_eq!(e.class, FailureClass::Connect);
        assert_eq!(
            e.message,
            "127.0.0.1 is a loopback address; set allow_private_targets on the agent to check it"
        );
        let e = resolve(
            &Endpoint::new("localhost", 80),
            IpPreference::Ipv4Only,
            Targets::PublicOnly,
            &mut dns,
        )
        .await
        .expect_err("a name of a loopback address is refused");
        assert_eq!(
            e.message,
            "localhost resolves to 127.0.0.1, a loopback address; set allow_private_targets on \
             the agent to check it"
        );
        let e = resolve(
            &Endpoint::new("[fe80::1]", 80),
            IpPreference::Unspecified,
            Targets::PublicOnly,
            &mut dns,
        )
        .await
        .expect_err("link-local is refused");
        assert!(
            e.message.starts_with("fe80::1 is a link-local address;"),
            "{}",
            e.message
        );
        let public = resolve(
            &Endpoint::new("8.8.8.8", 53),
            IpPreference::Unspecified,
            Targets::PublicOnly,
            &mut dns,
        )
        .await
        .expect("a public literal needs no lookup");
        assert_eq!(public.len(), 1);
    }

    #[tokio::test]
    async fn falls_back_to_the_next_address() {
        let open = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let closed_addr = closed.local_addr().expect("addr");
        drop(closed);
        let addrs = [closed_addr, open.local_addr().expect("addr")];
        let mut us = 0;
        let s = connect(&addrs, Writes::Yes, &mut us)
            .await
            .expect("second address accepts");
        assert_eq!(s.peer_addr().expect("peer"), addrs[1]);
        let e = connect(&addrs[..1], Writes::No, &mut us)
            .await
            .expect_err("refused");
        assert_eq!(e.message, format!("connection refused by {closed_addr}"));
    }
}
