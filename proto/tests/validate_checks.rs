//! Validation of every check spec: defaults filled, and each refusal names the field path.

use lookout_proto::Monitor;
use lookout_proto::v1::{
    BasicAuth, Comparison, DnsCheck, DnsRecordType, GrpcHealthCheck, HeaderAssertion,
    HttpAssertion, HttpCheck, IcmpCheck, JsonPathAssertion, TcpCheck, TcpStep, TlsCheck,
    TlsOptions, ValueMatch, header_assertion, http_assertion::Assertion, http_check::Auth,
    monitor::Check, tcp_step::Step, value_match,
};
use lookout_proto::validate::{FieldError, monitor};

fn with(check: Check) -> Monitor {
    Monitor {
        name: "m".into(),
        regions: vec!["eu".into()],
        interval_secs: 60,
        check: Some(check),
        ..Default::default()
    }
}

fn validate(check: Check) -> Result<Check, FieldError> {
    monitor(with(check), &["eu".to_string()]).map(|m| m.check.expect("check kept"))
}

fn refused_field(check: Check) -> String {
    validate(check).expect_err("must be refused").field
}

fn http(assertions: Vec<Assertion>) -> Check {
    Check::Http(HttpCheck {
        url: "https://example.org/health".into(),
        assertions: assertions
            .into_iter()
            .map(|a| HttpAssertion { assertion: Some(a) })
            .collect(),
        ..Default::default()
    })
}

fn json(path: &str, comparison: Comparison, value: &str) -> Assertion {
    Assertion::JsonPath(JsonPathAssertion {
        path: path.into(),
        comparison: comparison as i32,
        value: value.into(),
    })
}

#[test]
fn http_defaults_and_good_assertions() {
    let Check::Http(h) = validate(Check::Http(HttpCheck {
        url: "https://example.org".into(),
        follow_redirects: true,
        assertions: vec![
            HttpAssertion {
                assertion: Some(json("$.status", Comparison::Unspecified, "UP")),
            },
            HttpAssertion {
                assertion: Some(Assertion::CertExpiresInDays(14)),
            },
            HttpAssertion {
                assertion: Some(Assertion::ResponseTimeMs(500)),
            },
        ],
        ..Default::default()
    }))
    .expect("valid") else {
        panic!("http")
    };
    assert_eq!(h.max_redirects, 10);
    assert_eq!(h.method, "GET");
    let Some(Assertion::JsonPath(j)) = &h.assertions[0].assertion else {
        panic!("json")
    };
    assert_eq!(
        j.comparison,
        Comparison::Equals as i32,
        "unspecified means equals"
    );
}

#[test]
fn http_refusals_name_the_field() {
    let many = (0..17)
        .map(|i| Assertion::BodyContains(format!("x{i}")))
        .collect();
    let cases: Vec<(Check, &str)> = vec![
        (
            http(vec![
                Assertion::BodyContains("ok".into()),
                Assertion::BodyRegex("(".into()),
            ]),
            "http.assertions[1].body_regex",
        ),
        (
            http(vec![json("$..x", Comparison::Equals, "1")]),
            "http.assertions[0].json_path.path",
        ),
        (
            http(vec![json("$.load", Comparison::LessThan, "high")]),
            "http.assertions[0].json_path.value",
        ),
        (
            http(vec![json("$.v", Comparison::Matches, "[")]),
            "http.assertions[0].json_path.value",
        ),
        (
            http(vec![Assertion::Header(HeaderAssertion {
                name: "x y".into(),
                expect: Some(header_assertion::Expect::Equals("1".into())),
            })]),
            "http.assertions[0].header.name",
        ),
        (
            http(vec![Assertion::Header(HeaderAssertion {
                name: "x-y".into(),
                expect: None,
            })]),
            "http.assertions[0].header",
        ),
        (
            http(vec![Assertion::ResponseTimeMs(0)]),
            "http.assertions[0].response_time_ms",
        ),
        (
            http(vec![Assertion::ResponseTimeMs(10_001)]),
            "http.assertions[0].response_time_ms",
        ),
        (
            http(vec![Assertion::CertExpiresInDays(0)]),
            "http.assertions[0].cert_expires_in_days",
        ),
        (
            http(vec![Assertion::BodyContains(String::new())]),
            "http.assertions[0].body_contains",
        ),
        (http(many), "http.assertions"),
        (
            Check::Http(HttpCheck {
                url: "http://example.org".into(),
                assertions: vec![HttpAssertion {
                    assertion: Some(Assertion::CertExpiresInDays(3)),
                }],
                ..Default::default()
            }),
            "http.assertions[0].cert_expires_in_days",
        ),
        (
            Check::Http(HttpCheck {
                url: "http://a.b".into(),
                max_redirects: 21,
                ..Default::default()
            }),
            "http.max_redirects",
        ),
        (
            Check::Http(HttpCheck {
                url: "http://a.b".into(),
                auth: Some(Auth::BasicAuth(BasicAuth {
                    username: "a:b".into(),
                    password: String::new(),
                })),
                ..Default::default()
            }),
            "http.basic_auth.username",
        ),
        (
            Check::Http(HttpCheck {
                url: "http://a.b".into(),
                auth: Some(Auth::BearerToken(" ".into())),
                ..Default::default()
            }),
            "http.bearer_token",
        ),
        (
            Check::Http(HttpCheck {
                url: "http://a.b".into(),
                user_agent: "a\r\nb".into(),
                ..Default::default()
            }),
            "http.user_agent",
        ),
        (
            Check::Http(HttpCheck {
                url: "https://a.b".into(),
                tls: Some(TlsOptions {
                    ca_pem: "not pem".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            "http.tls.ca_pem",
        ),
    ];
    for (check, field) in cases {
        assert_eq!(refused_field(check), field);
    }
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

#[test]
fn tcp_steps_and_addresses() {
    assert!(
        validate(tcp(
            "[::1]:22",
            vec![
                Step::Expect("^SSH-".into()),
                Step::Send("QUIT\\r\\n".into())
            ]
        ))
        .is_ok()
    );
    let cases = [
        (tcp("host", vec![]), "tcp.address"),
        (tcp("a b:80", vec![]), "tcp.address"),
        (tcp("::1:80", vec![]), "tcp.address"),
        (
            tcp("h:80", vec![Step::Send("\\q".into())]),
            "tcp.steps[0].send",
        ),
        (
            tcp("h:80", vec![Step::Send("\\x4".into())]),
            "tcp.steps[0].send",
        ),
        (
            tcp("h:80", vec![Step::Send(String::new())]),
            "tcp.steps[0].send",
        ),
        (
            tcp(
                "h:80",
                vec![Step::Send("a".into()), Step::Expect("(".into())],
            ),
            "tcp.steps[1].expect",
        ),
    ];
    for (check, field) in cases {
        assert_eq!(refused_field(check), field);
    }
    let empty_step = Check::Tcp(TcpCheck {
        address: "h:1".into(),
        steps: vec![TcpStep { step: None }],
        ..Default::default()
    });
    assert_eq!(refused_field(empty_step), "tcp.steps[0]");
}

#[test]
fn dns_defaults_and_refusals() {
    let Check::Dns(d) = validate(Check::Dns(DnsCheck {
        name: "example.org".into(),
        ..Default::default()
    }))
    .expect("valid") else {
        panic!("dns")
    };
    assert_eq!(
        (d.record_type, d.expected_rcode.as_str()),
        (DnsRecordType::A as i32, "NOERROR")
    );
    let base = DnsCheck {
        name: "example.org".into(),
        ..Default::default()
    };
    let regex = |r: &str| ValueMatch {
        kind: Some(value_match::Kind::Regex(r.into())),
    };
    let cases = [
        (
            DnsCheck {
                name: String::new(),
                ..base.clone()
            },
            "dns.name",
        ),
        (
            DnsCheck {
                name: "a..b".into(),
                ..base.clone()
            },
            "dns.name",
        ),
        (
            DnsCheck {
                name: format!("{}.org", "a".repeat(64)),
                ..base.clone()
            },
            "dns.name",
        ),
        (
            DnsCheck {
                record_type: 99,
                ..base.clone()
            },
            "dns.record_type",
        ),
        (
            DnsCheck {
                resolver: "dns.google".into(),
                ..base.clone()
            },
            "dns.resolver",
        ),
        (
            DnsCheck {
                expected_rcode: "MAYBE".into(),
                ..base.clone()
            },
            "dns.expected_rcode",
        ),
        (
            DnsCheck {
                expected_values: vec![regex("ok"), regex("(")],
                ..base.clone()
            },
            "dns.expected_values[1].regex",
        ),
        (
            DnsCheck {
                expected_values: vec![ValueMatch { kind: None }],
                ..base.clone()
            },
            "dns.expected_values[0]",
        ),
    ];
    for (d, field) in cases {
        assert_eq!(refused_field(Check::Dns(d)), field);
    }
    let ok = DnsCheck {
        resolver: "[2001:db8::1]:5353".into(),
        expected_rcode: "nxdomain".into(),
        ..base
    };
    let Check::Dns(d) = validate(Check::Dns(ok)).expect("valid") else {
        panic!("dns")
    };
    assert_eq!(d.expected_rcode, "NXDOMAIN");
}

#[test]
fn icmp_defaults_and_budget() {
    let Check::Icmp(i) = validate(Check::Icmp(IcmpCheck {
        host: "example.org".into(),
        ..Default::default()
    }))
    .expect("valid") else {
        panic!("icmp")
    };
    assert_eq!((i.count, i.interval_ms, i.reply_timeout_ms), (3, 200, 1000));
    let base = IcmpCheck {
        host: "10.0.0.1".into(),
        ..Default::default()
    };
    let cases = [
        (
            IcmpCheck {
                host: "a b".into(),
                ..base.clone()
            },
            "icmp.host",
        ),
        (
            IcmpCheck {
                count: 21,
                ..base.clone()
            },
            "icmp.count",
        ),
        (
            IcmpCheck {
                interval_ms: 5,
                ..base.clone()
            },
            "icmp.interval_ms",
        ),
        (
            IcmpCheck {
                max_loss_percent: 101,
                ..base.clone()
            },
            "icmp.max_loss_percent",
        ),
        // 20 pings 1 s apart need about 20 s, more than the default 10 s timeout.
        (
            IcmpCheck {
                count: 20,
                interval_ms: 1000,
                ..base.clone()
            },
            "icmp.count",
        ),
    ];
    for (i, field) in cases {
        assert_eq!(refused_field(Check::Icmp(i)), field);
    }
}

#[test]
fn tls_and_grpc() {
    assert!(
        validate(Check::Tls(TlsCheck {
            address: "example.org:443".into(),
            min_days_remaining: 14,
            expected_sans: vec!["example.org".into()],
            ..Default::default()
        }))
        .is_ok()
    );
    let cases = [
        (
            Check::Tls(TlsCheck {
                address: "example.org".into(),
                ..Default::default()
            }),
            "tls.address",
        ),
        (
            Check::Tls(TlsCheck {
                address: "a:1".into(),
                min_days_remaining: 5000,
                ..Default::default()
            }),
            "tls.min_days_remaining",
        ),
        (
            Check::Tls(TlsCheck {
                address: "a:1".into(),
                expected_sans: vec![" ".into()],
                ..Default::default()
            }),
            "tls.expected_sans[0]",
        ),
        (
            Check::Tls(TlsCheck {
                address: "a:1".into(),
                tls: Some(TlsOptions {
                    server_name: "a/b".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            "tls.tls.server_name",
        ),
        (
            Check::Grpc(GrpcHealthCheck {
                address: "a:0".into(),
                ..Default::default()
            }),
            "grpc.address",
        ),
        (
            Check::Grpc(GrpcHealthCheck {
                address: "a:1".into(),
                service: "s".repeat(257),
                ..Default::default()
            }),
            "grpc.service",
        ),
    ];
    for (check, field) in cases {
        assert_eq!(refused_field(check), field);
    }
}

#[test]
fn kind_and_target_cover_every_check() {
    let cases = [
        (tcp("h:1", vec![]), "tcp", "tcp://h:1"),
        (
            Check::Dns(DnsCheck {
                name: "a.b".into(),
                resolver: "1.1.1.1".into(),
                ..Default::default()
            }),
            "dns",
            "dns://1.1.1.1/a.b",
        ),
        (
            Check::Icmp(IcmpCheck {
                host: "h".into(),
                ..Default::default()
            }),
            "icmp",
            "icmp://h",
        ),
        (
            Check::Tls(TlsCheck {
                address: "h:443".into(),
                ..Default::default()
            }),
            "tls",
            "tls://h:443",
        ),
        (
            Check::Grpc(GrpcHealthCheck {
                address: "h:50051".into(),
                ..Default::default()
            }),
            "grpc",
            "grpc://h:50051",
        ),
    ];
    for (check, kind, target) in cases {
        let m = with(check);
        assert_eq!((m.kind(), m.target().as_str()), (kind, target));
    }
}
