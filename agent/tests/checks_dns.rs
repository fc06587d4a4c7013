//! DnsCheck against an in-process hickory DNS server on UDP 127.0.0.1:0.

mod checks_support;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use checks_support::soon;
use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use lookout_agent::checks::dns::DnsCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1::{self, DnsRecordType, ValueMatch, value_match::Kind};
use lookout_proto::{CheckStatus, FailureClass};
use tokio::net::UdpSocket;
use tokio::time::Instant;

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// Serves zone `example.test.` and returns its address; the server lives as long as the test.
async fn dns_server() -> (SocketAddr, Server<Catalog>) {
    let origin = name("example.test.");
    let mut zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let records = [
        Record::from_rdata(
            origin.clone(),
            300,
            RData::SOA(SOA::new(
                name("ns1.example.test."),
                name("admin.example.test."),
                7,
                3600,
                600,
                86400,
                60,
            )),
        ),
        Record::from_rdata(
            origin.clone(),
            300,
            RData::NS(NS(name("ns1.example.test."))),
        ),
        Record::from_rdata(
            name("www.example.test."),
            300,
            RData::A(A([192, 0, 2, 10].into())),
        ),
        Record::from_rdata(
            name("www.example.test."),
            300,
            RData::A(A([192, 0, 2, 11].into())),
        ),
        Record::from_rdata(
            name("www.example.test."),
            300,
            RData::AAAA(AAAA("2001:db8::10".parse().expect("v6"))),
        ),
        Record::from_rdata(
            name("alias.example.test."),
            300,
            RData::CNAME(CNAME(name("www.example.test."))),
        ),
        Record::from_rdata(
            origin.clone(),
            300,
            RData::MX(MX::new(10, name("mail.example.test."))),
        ),
        Record::from_rdata(
            origin.clone(),
            300,
            RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
        ),
        // 8 x 200 bytes: more than the 1232-byte UDP payload the check advertises.
        Record::from_rdata(
            name("big.example.test."),
            300,
            RData::TXT(TXT::new(vec!["a".repeat(200); 8])),
        ),
    ];
    for r in records {
        zone.upsert_mut(r, 7);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let (socket, tcp) = udp_and_tcp_on_one_port().await;
    let addr = socket.local_addr().expect("addr");
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    server.register_listener(tcp, Duration::from_secs(5), 65_535);
    (addr, server)
}

/// A UDP socket and a TCP listener on the same free port (TCP serves truncated answers);
/// a port whose TCP side is taken is skipped.
async fn udp_and_tcp_on_one_port() -> (UdpSocket, tokio::net::TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().expect("addr")).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP after 50 tries");
}

fn spec(resolver: SocketAddr, qname: &str, rtype: DnsRecordType) -> v1::DnsCheck {
    v1::DnsCheck {
        name: qname.into(),
        record_type: rtype as i32,
        resolver: resolver.to_string(),
        ..Default::default()
    }
}

fn exact(v: &str) -> ValueMatch {
    ValueMatch {
        kind: Some(Kind::Exact(v.into())),
    }
}

fn regex(v: &str) -> ValueMatch {
    ValueMatch {
        kind: Some(Kind::Regex(v.into())),
    }
}

async fn run(s: &v1::DnsCheck) -> Outcome {
    DnsCheck::new(s)
        .expect("valid spec")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await
}

#[tokio::test]
async fn every_record_type_with_expected_values() {
    let (addr, _server) = dns_server().await;
    let cases = [
        (
            "www.example.test",
            DnsRecordType::A,
            vec![exact("192.0.2.11"), regex(r"^192\.0\.2\.1\d$")],
        ),
        (
            "www.example.test",
            DnsRecordType::Aaaa,
            vec![exact("2001:db8::10")],
        ),
        (
            "alias.example.test",
            DnsRecordType::Cname,
            vec![exact("www.example.test.")],
        ),
        (
            "example.test",
            DnsRecordType::Mx,
            vec![exact("10 mail.example.test.")],
        ),
        (
            "example.test",
            DnsRecordType::Txt,
            vec![exact("v=spf1 -all")],
        ),
        (
            "example.test",
            DnsRecordType::Ns,
            vec![exact("ns1.example.test.")],
        ),
        (
            "example.test",
            DnsRecordType::Soa,
            vec![regex(r"^ns1\.example\.test\. admin\.example\.test\. 7 ")],
        ),
    ];
    for (qname, rtype, expected) in cases {
        let mut s = spec(addr, qname, rtype);
        s.expected_values = expected;
        let o = run(&s).await;
        assert_eq!(o.status, CheckStatus::Up, "{rtype:?} {qname}: {o:?}");
        assert!(o.timings.dns_us > 0);
    }
}

#[tokio::test]
async fn mismatched_value_lists_what_came_back() {
    let (addr, _server) = dns_server().await;
    let mut s = spec(addr, "www.example.test", DnsRecordType::A);
    s.expected_values = vec![exact("192.0.2.99")];
    let o = run(&s).await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::Assertion)
    );
    assert_eq!(
        o.message,
        "no A record of www.example.test. matches \"192.0.2.99\"; got 192.0.2.10, 192.0.2.11"
    );
}

#[tokio::test]
async fn response_codes() {
    let (addr, _server) = dns_server().await;
    let o = run(&spec(addr, "nope.example.test", DnsRecordType::A)).await;
    assert_eq!(o.failure, FailureClass::Dns);
    assert_eq!(
        o.message,
        format!("expected NOERROR for A nope.example.test., got NXDOMAIN from {addr}")
    );

    let mut s = spec(addr, "nope.example.test", DnsRecordType::A);
    s.expected_rcode = "NXDOMAIN".into();
    assert_eq!(run(&s).await.status, CheckStatus::Up);

    let o = run(&spec(addr, "www.example.test", DnsRecordType::Mx)).await;
    assert_eq!(
        o.message,
        format!("www.example.test. has no MX records (asked {addr})")
    );
}

#[tokio::test]
async fn silent_resolver_times_out() {
    let quiet = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = quiet.local_addr().expect("addr");
    let started = Instant::now();
    let o = DnsCheck::new(&spec(addr, "www.example.test", DnsRecordType::A))
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(Instant::now() + Duration::from_millis(300))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(o.failure, FailureClass::Timeout, "{o:?}");
    assert!(
        o.message
            .contains(&format!("waiting for {addr} to answer A www.example.test.")),
        "{}",
        o.message
    );
    drop(quiet);
}

#[tokio::test]
async fn truncated_answers_are_fetched_over_tcp() {
    let (addr, _server) = dns_server().await;
    let mut s = spec(addr, "big.example.test", DnsRecordType::Txt);
    s.expected_values = vec![regex("^a{1600}$")];
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
}
