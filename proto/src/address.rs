//! Which IP addresses are on the public internet: the one rule behind the notifier's webhook
//! destinations and the agent's check targets, so a private address refused by one is
//! refused by the other.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not public; `Display` reads "a loopback address".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonPublic {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    /// Carrier-grade NAT, 100.64.0.0/10.
    SharedNat,
    Broadcast,
    Multicast,
    Documentation,
    /// 198.18.0.0/15.
    Benchmarking,
    /// 0.0.0.0/8 and 240.0.0.0/4.
    Reserved,
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NonPublic::Unspecified => "an unspecified address",
            NonPublic::Loopback => "a loopback address",
            NonPublic::Private => "a private address",
            NonPublic::LinkLocal => "a link-local address",
            NonPublic::SharedNat => "a shared (carrier-grade NAT) address",
            NonPublic::Broadcast => "a broadcast address",
            NonPublic::Multicast => "a multicast address",
            NonPublic::Documentation => "a documentation address",
            NonPublic::Benchmarking => "a benchmarking address",
            NonPublic::Reserved => "a reserved address",
        })
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    non_public(ip).is_none()
}

/// Why `ip` is not public, or None when it is. An IPv4-mapped IPv6 address is judged as
/// the IPv4 address it carries, so `::ffff:127.0.0.1` is loopback.
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => non_public_v4(v4),
            None => non_public_v6(v6),
        },
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_unspecified() {
        NonPublic::Unspecified
    } else if ip.is_loopback() {
        NonPublic::Loopback
    } else if ip.is_private() {
        NonPublic::Private
    } else if ip.is_link_local() {
        NonPublic::LinkLocal
    } else if ip.is_broadcast() {
        NonPublic::Broadcast
    } else if ip.is_documentation() {
        NonPublic::Documentation
    } else if ip.is_multicast() {
        NonPublic::Multicast
    } else if a == 100 && (64..128).contains(&b) {
        NonPublic::SharedNat
    } else if a == 198 && (b == 18 || b == 19) {
        NonPublic::Benchmarking
    } else if a == 0 || a >= 240 {
        NonPublic::Reserved
    } else {
        return None;
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    let [first, second, ..] = ip.segments();
    Some(if ip.is_unspecified() {
        NonPublic::Unspecified
    } else if ip.is_loopback() {
        NonPublic::Loopback
    } else if ip.is_multicast() {
        NonPublic::Multicast
    } else if (first & 0xfe00) == 0xfc00 {
        // Unique local fc00::/7, the IPv6 counterpart of the private ranges.
        NonPublic::Private
    } else if (first & 0xffc0) == 0xfe80 {
        NonPublic::LinkLocal
    } else if first == 0x2001 && second == 0x0db8 {
        NonPublic::Documentation
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        use NonPublic::*;
        let cases = [
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("2606:4700:4700::1111", None),
            ("::ffff:8.8.8.8", None),
            ("127.0.0.1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedNat)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("224.0.0.1", Some(Multicast)),
            ("198.18.0.1", Some(Benchmarking)),
            ("192.0.2.1", Some(Documentation)),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fd00::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("2001:db8::1", Some(Documentation)),
        ];
        for (ip, want) in cases {
            let parsed: IpAddr = ip.parse().expect("test address parses");
            assert_eq!(non_public(parsed), want, "{ip}");
            assert_eq!(is_public(parsed), want.is_none(), "{ip}");
        }
        assert_eq!(NonPublic::Loopback.to_string(), "a loopback address");
    }
}
