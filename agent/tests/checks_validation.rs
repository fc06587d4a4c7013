//! The agent builds exactly the specs the coordinator accepts: a table of specs, each built
//! by `checks::build` iff `validate::monitor` (the admin API's rule) accepts it, including
//! the values that used to pass validation and then never run.

mod checks_support;

use checks_support::TestCa;
use lookout_agent::checks;
use lookout_proto::Monitor;
use lookout_proto::v1::{
    BasicAuth, DnsCheck, DnsRecordType, GrpcHealthCheck, Header, HttpCheck, IcmpCheck, TcpCheck,
    TcpStep, TlsCheck, TlsOptions, http_check::Auth, monitor::Check, tcp_step::Step,
};
use lookout_proto::validate;

fn monitor(check: Check) -> Monitor {
    Monitor {
        id: "mon_table".into(),
        name: "table".into(),
        regions: vec!["local".into()],
        interval_secs: 60,
        check: Some(check),
        ..Default::default()
    }
}

fn http(edit: impl FnOnce(&mut HttpCheck)) -> Check {
    let mut h = HttpCheck {
        url: "http://127.0.0.1:9/health".into(),
        ..Default::default()
    };
    edit(&mut h);
    Check::Http(h)
}

fn header(value: &str) -> Check {
    let value = value.to_string();
    http(move |h| {
        h.headers.push(Header {
            name: "x-a".into(),
            value,
        })
    })
}

fn ca(pem: &str) -> Option<TlsOptions> {
    Some(TlsOptions {
        ca_pem: pem.into(),
        ..Default::default()
    })
}

fn tcp(address: &str, steps: Vec<Step>) -> Check {
    Check::Tcp(TcpCheck {
        address: address.into(),
        steps: steps
            .into_iter()
            .map(|s| TcpStep { step: Some(s) })
            .collect(),
        ..Default::default()
    })
}

fn dns(name: &str, resolver: &str) -> Check {
    Check::Dns(DnsCheck {
        name: name.into(),
        record_type: DnsRecordType::Txt as i32,
        resolver: resolver.into(),
        ..Default::default()
    })
}

fn tls(address: &str, tls: Option<TlsOptions>) -> Check {
    Check::Tls(TlsCheck {
        address: address.into(),
        tls,
        ..Default::default()
    })
}

#[test]
fn the_agent_builds_exactly_what_validation_accepts() {
    let good_ca = TestCa::new().pem();
    let bad_ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let cases: Vec<(&str, Check, bool)> = vec![
        ("plain http", http(|_| {}), true),
        (
            "idn host",
            http(|h| h.url = "http://münchen.de/".into()),
            true,
        ),
        (
            "braces in the query",
            http(|h| h.url = "http://127.0.0.1:9/x?q={a}|b".into()),
            true,
        ),
        ("lowercase method", http(|h| h.method = "post".into()), true),
        (
            "unknown method",
            http(|h| h.method = "CONNECT".into()),
            false,
        ),
        ("visible header", header("text/html; q=0.9"), true),
        ("non-ascii header", header("café"), true),
        ("control character", header("a\u{1}b"), false),
        ("line break", header("a\r\nx-b: 1"), false),
        (
            "bad header name",
            http(|h| {
                h.headers.push(Header {
                    name: "a b".into(),
                    value: "v".into(),
                })
            }),
            false,
        ),
        (
            "user agent escape",
            http(|h| h.user_agent = "ua\u{1b}".into()),
            false,
        ),
        (
            "basic auth",
            http(|h| {
                h.auth = Some(Auth::BasicAuth(BasicAuth {
                    username: "u".into(),
                    password: "p w".into(),
                }))
            }),
            true,
        ),
        (
            "bearer with a control character",
            http(|h| h.auth = Some(Auth::BearerToken("t\u{7f}".into()))),
            false,
        ),
        ("usable ca", http(|h| h.tls = ca(&good_ca)), true),
        ("unparsable ca", http(|h| h.tls = ca(bad_ca)), false),
        ("not pem", http(|h| h.tls = ca("hello")), false),
        ("ip preference 99", http(|h| h.ip_preference = 99), false),
        ("tcp ipv6", tcp("[::1]:80", vec![]), true),
        ("tcp space in host", tcp("a b:80", vec![]), false),
        (
            "tcp bad escape",
            tcp("a:80", vec![Step::Send("\\xZZ".into())]),
            false,
        ),
        (
            "tcp bad regex",
            tcp("a:80", vec![Step::Expect("(".into())]),
            false,
        ),
        (
            "tcp steps",
            tcp(
                "a:80",
                vec![
                    Step::Send("PING\\r\\n".into()),
                    Step::Expect("^\\+PONG".into()),
                ],
            ),
            true,
        ),
        (
            "tcp tls with a bad ca",
            Check::Tcp(TcpCheck {
                address: "a:443".into(),
                use_tls: true,
                tls: ca(bad_ca),
                ..Default::default()
            }),
            false,
        ),
        (
            "dns underscore",
            dns("_dmarc.example.org", "127.0.0.1:53"),
            true,
        ),
        ("dns idn", dns("münchen.de", "127.0.0.1"), true),
        ("dns empty label", dns("a..b", "127.0.0.1"), false),
        ("dns wildcard", dns("*.example.org", "127.0.0.1"), true),
        ("dns idn symbol", dns("☃.net", "127.0.0.1"), true),
        (
            "dns zero-width space",
            dns("a\u{200b}b.org", "127.0.0.1"),
            true,
        ),
        ("dns bad punycode", dns("xn--zz.org", "127.0.0.1"), false),
        ("dns quote in a label", dns("a\"b.org", "127.0.0.1"), false),
        ("dns leading hyphen", dns("-a.org", "127.0.0.1"), false),
        ("dns trailing hyphen", dns("a-.org", "127.0.0.1"), true),
        ("dns punycode", dns("xn--n3h.net", "127.0.0.1"), true),
        ("dns upper case", dns("EXAMPLE.org", "127.0.0.1"), true),
        (
            "dns star inside a label",
            dns("a*b.org", "127.0.0.1"),
            false,
        ),
        ("dns idn wildcard", dns("*.☃.net", "127.0.0.1"), true),
        ("dns slash", dns("a/b.org", "127.0.0.1"), false),
        (
            "dns fullwidth letter",
            dns("ex\u{ff21}mple.org", "127.0.0.1"),
            true,
        ),
        ("dns root", dns(".", "127.0.0.1"), true),
        ("dns trailing dot", dns("a.b.", "127.0.0.1"), true),
        (
            "tls idn host without server name",
            tls("☃.net:443", None),
            false,
        ),
        ("tls leading hyphen", tls("-a.org:443", None), false),
        (
            "http idn symbol",
            http(|h| h.url = "http://☃.net/".into()),
            true,
        ),
        ("tcp idn host", tcp("☃.net:80", vec![]), true),
        ("dns bad resolver", dns("example.org", "resolver"), false),
        (
            "icmp",
            Check::Icmp(IcmpCheck {
                host: "127.0.0.1".into(),
                ..Default::default()
            }),
            true,
        ),
        ("icmp no host", Check::Icmp(IcmpCheck::default()), false),
        ("tls", tls("example.org:443", None), true),
        ("tls ipv6", tls("[::1]:443", None), true),
        (
            "tls underscore host",
            tls("a_b.example.org:443", None),
            true,
        ),
        ("tls bad host", tls("a%b:443", None), false),
        ("tls bad ca", tls("example.org:443", ca(bad_ca)), false),
        (
            "grpc",
            Check::Grpc(GrpcHealthCheck {
                address: "127.0.0.1:50051".into(),
                ..Default::default()
            }),
            true,
        ),
        (
            "grpc tls with a bad ca",
            Check::Grpc(GrpcHealthCheck {
                address: "127.0.0.1:50051".into(),
                use_tls: true,
                tls: ca(bad_ca),
                ..Default::default()
            }),
            false,
        ),
    ];
    for (what, check, accepted) in cases {
        let m = monitor(check);
        let valid = validate::monitor(m.clone(), &["local".to_string()]);
        let built = checks::build(&m, checks::Targets::AnyAddress);
        assert_eq!(valid.is_ok(), accepted, "{what}: validation said {valid:?}");
        assert_eq!(
            built.is_ok(),
            accepted,
            "{what}: the agent's build said {:?}",
            built.err()
        );
        if let Ok(spec) = valid {
            checks::build(&spec, checks::Targets::AnyAddress)
                .unwrap_or_else(|e| panic!("{what}: validated spec: {e}"));
        }
    }
}
