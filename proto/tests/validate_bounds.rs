//! Every string and list of a monitor has a bound; a refusal names the field and stays short
//! however large the bad value; enums outside their range and values the agent could not send
//! are refused.

use lookout_proto::Monitor;
use lookout_proto::v1::{
    BasicAuth, Header, HttpAssertion, HttpCheck, IcmpCheck, TcpCheck, TcpStep, TlsCheck,
    TlsOptions, http_assertion::Assertion, http_check::Auth, monitor::Check, tcp_step::Step,
};
use lookout_proto::validate::{FieldError, MAX_MONITOR_BYTES, ValidMonitor, monitor};

const MB: usize = 1024 * 1024;

fn http_monitor(edit: impl FnOnce(&mut HttpCheck)) -> Monitor {
    let mut h = HttpCheck {
        url: "https://example.org/health".into(),
        ..Default::default()
    };
    edit(&mut h);
    Monitor {
        name: "m".into(),
        regions: vec!["eu".into()],
        interval_secs: 60,
        check: Some(Check::Http(h)),
        ..Default::default()
    }
}

fn refused(m: Monitor) -> FieldError {
    monitor(m, &["eu".to_string()]).expect_err("must be refused")
}

#[test]
fn huge_values_are_refused_with_a_short_message_naming_the_field() {
    let huge = "a".repeat(MB);
    let cases: Vec<(Monitor, &str)> = vec![
        (
            http_monitor(|h| h.url = format!("https://example.org/{huge}")),
            "http.url",
        ),
        (
            http_monitor(|h| {
                h.headers.push(Header {
                    name: "x-big".into(),
                    value: huge.clone(),
                })
            }),
            "http.headers[0].value",
        ),
        (
            http_monitor(|h| {
                h.headers.push(Header {
                    name: huge.clone(),
                    value: "v".into(),
                })
            }),
            "http.headers[0].name",
        ),
        (http_monitor(|h| h.body = huge.clone()), "http.body"),
        (http_monitor(|h| h.method = huge.clone()), "http.method"),
        (
            http_monitor(|h| h.user_agent = huge.clone()),
            "http.user_agent",
        ),
        (
            http_monitor(|h| h.auth = Some(Auth::BearerToken(huge.clone()))),
            "http.bearer_token",
        ),
        (
            http_monitor(|h| {
                h.auth = Some(Auth::BasicAuth(BasicAuth {
                    username: "u".into(),
                    password: huge.clone(),
                }))
            }),
            "http.basic_auth.password",
        ),
        (
            http_monitor(|h| {
                h.tls = Some(TlsOptions {
                    ca_pem: huge.clone(),
                    ..Default::default()
                })
            }),
            "http.tls.ca_pem",
        ),
        (
            http_monitor(|h| {
                h.assertions.push(HttpAssertion {
                    assertion: Some(Assertion::BodyRegex(huge.clone())),
                })
            }),
            "http.assertions[0].body_regex",
        ),
        (
            http_monitor(|h| {
                h.assertions.push(HttpAssertion {
                    assertion: Some(Assertion::BodyContains(huge.clone())),
                })
            }),
            "http.assertions[0].body_contains",
        ),
        (
            Monitor {
                id: huge.clone(),
                ..http_monitor(|_| {})
            },
            "id",
        ),
        (
            Monitor {
                cron: huge.clone(),
                interval_secs: 0,
                ..http_monitor(|_| {})
            },
            "cron",
        ),
        (
            Monitor {
                regions: vec![huge.clone()],
                ..http_monitor(|_| {})
            },
            "regions[0]",
        ),
        (
            Monitor {
                regions: (0..17).map(|i| format!("r{i}")).collect(),
                ..http_monitor(|_| {})
            },
            "regions",
        ),
        (
            Monitor {
                integration_ids: vec![huge.clone()],
                ..http_monitor(|_| {})
            },
            "integration_ids[0]",
        ),
        (
            Monitor {
                check: Some(Check::Tcp(TcpCheck {
                    address: format!("{huge}:80"),
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "tcp.address",
        ),
        (
            Monitor {
                check: Some(Check::Tcp(TcpCheck {
                    address: "a:80".into(),
                    steps: vec![TcpStep {
                        step: Some(Step::Send(huge.clone())),
                    }],
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "tcp.steps[0].send",
        ),
        (
            Monitor {
                check: Some(Check::Tls(TlsCheck {
                    address: "a:443".into(),
                    expected_subject: huge.clone(),
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "tls.expected_subject",
        ),
    ];
    for (m, field) in cases {
        let e = refused(m);
        assert_eq!(
            e.field,
            field,
            "{}",
            lookout_proto::bounds::excerpt(&e.to_string())
        );
        assert!(
            e.to_string().len() < 400,
            "{field}: {} bytes",
            e.to_string().len()
        );
    }
}

#[test]
fn a_refusal_quotes_at_most_an_excerpt() {
    // Under its byte bound, but not a URL: the message quotes a prefix, marked as cut.
    let e = refused(http_monitor(|h| h.url = "x".repeat(2000)));
    assert_eq!(e.field, "http.url");
    assert!(e.reason.contains('…') && e.reason.len() < 400, "{e}");
}

#[test]
fn enum_values_outside_their_range_are_refused() {
    let cases: Vec<(Monitor, &str)> = vec![
        (http_monitor(|h| h.ip_preference = 99), "http.ip_preference"),
        (
            Monitor {
                check: Some(Check::Tcp(TcpCheck {
                    address: "a:80".into(),
                    ip_preference: 5,
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "tcp.ip_preference",
        ),
        (
            Monitor {
                check: Some(Check::Icmp(IcmpCheck {
                    host: "a".into(),
                    ip_preference: -1,
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "icmp.ip_preference",
        ),
        (
            Monitor {
                check: Some(Check::Tls(TlsCheck {
                    address: "a:443".into(),
                    ip_preference: 99,
                    ..Default::default()
                })),
                ..http_monitor(|_| {})
            },
            "tls.ip_preference",
        ),
    ];
    for (m, field) in cases {
        assert_eq!(refused(m).field, field);
    }
}

#[test]
fn values_the_agent_could_not_send_are_refused() {
    let header = |value: &str| {
        let value = value.to_string();
        http_monitor(move |h| {
            h.headers.push(Header {
                name: "x-a".into(),
                value,
            })
        })
    };
    for bad in ["a\u{1}b", "del\u{7f}", "line\r\nx-injected: 1"] {
        assert_eq!(
            refused(header(bad)).field,
            "http.headers[0].value",
            "{bad:?}"
        );
    }
    assert_eq!(
        refused(http_monitor(|h| h.user_agent = "ua\u{1b}[31m".into())).field,
        "http.user_agent"
    );
    let ca = |pem: &str| {
        let pem = pem.to_string();
        http_monitor(move |h| {
            h.tls = Some(TlsOptions {
                ca_pem: pem,
                ..Default::default()
            })
        })
    };
    for pem in [
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "no pem at all",
    ] {
        assert_eq!(refused(ca(pem)).field, "http.tls.ca_pem", "{pem:?}");
    }
}

#[test]
fn timeout_must_fit_the_interval() {
    let e = refused(Monitor {
        interval_secs: 5,
        timeout_ms: 6000,
        ..http_monitor(|_| {})
    });
    assert_eq!(e.field, "timeout_ms");
    assert!(e.reason.contains("interval_secs: 5"), "{e}");
    // The default timeout is cut to a short interval, which is what validation reports back.
    let m = monitor(
        Monitor {
            interval_secs: 2,
            ..http_monitor(|_| {})
        },
        &["eu".to_string()],
    )
    .expect("valid");
    assert_eq!(m.timeout_ms, 2000);
    // Cron monitors have no fixed interval to compare with.
    monitor(
        Monitor {
            interval_secs: 0,
            cron: "* * * * *".into(),
            timeout_ms: 60_000,
            ..http_monitor(|_| {})
        },
        &["eu".to_string()],
    )
    .expect("valid cron monitor");
}

#[test]
fn one_monitor_has_a_size_bound() {
    let m = http_monitor(|h| {
        h.body = "b".repeat(60 * 1024);
        for i in 0..32 {
            h.headers.push(Header {
                name: format!("x-h{i}"),
                value: "v".repeat(4000),
            });
        }
    });
    let e = refused(m);
    assert_eq!(e.field, "monitor");
    assert!(e.reason.contains(&MAX_MONITOR_BYTES.to_string()), "{e}");
}

#[test]
fn the_validated_type_is_the_only_constructor() {
    let raw = http_monitor(|h| h.method = " get ".into());
    let valid = ValidMonitor::try_from(raw.clone()).expect("valid");
    let Some(Check::Http(h)) = &valid.spec().check else {
        panic!("http")
    };
    assert_eq!(h.method, "GET");
    assert_eq!(
        monitor(raw, &["eu".to_string()]).expect("valid"),
        valid.into_spec()
    );
}

#[test]
fn output_only_region_status_is_never_taken_as_input() {
    let mut sent = http_monitor(|_| {});
    sent.region_status = vec![lookout_proto::v1::RegionStatus {
        region: "x".repeat(1024 * 1024),
        status: "UP".into(),
        ..Default::default()
    }];
    let valid = ValidMonitor::try_from(sent).expect("a status sent back is ignored, not refused");
    assert!(valid.spec().region_status.is_empty());
}

#[test]
fn the_largest_list_response_fits_the_admin_message_limit() {
    use lookout_proto::v1::ListMonitorsResponse;
    use lookout_proto::v1::RegionStatus;
    use lookout_proto::validate::{
        MAX_ADMIN_MESSAGE_BYTES, MAX_LIST_MONITORS, MAX_PAGE_TOKEN_BYTES, MAX_REGION_STATUS_BYTES,
    };
    // A monitor as large as validation allows: the largest body, then header values grown
    // until the next byte is refused.
    let headers = (0..32)
        .map(|i| Header {
            name: format!("x-h{i:02}"),
            value: String::new(),
        })
        .collect();
    let base = http_monitor(|h| {
        h.body = "b".repeat(64 * 1024);
        h.headers = headers;
    });
    let mut m = monitor(base, &["eu".to_string()]).expect("under the bound");
    for step in [1024, 32, 1] {
        loop {
            let mut next = m.clone();
            if let Some(Check::Http(h)) = &mut next.check {
                match h
                    .headers
                    .iter_mut()
                    .find(|hd| hd.value.len() + step <= 4096)
                {
                    Some(hd) => hd.value.push_str(&"v".repeat(step)),
                    None => break,
                }
            }
            match ValidMonitor::try_from(next) {
                Ok(v) => m = v.into_spec(),
                Err(_) => break,
            }
        }
    }
    assert!(prost::Message::encoded_len(&m) > MAX_MONITOR_BYTES - 8);
    m.id = "mon_0196a5c3b1e47c2a9f0d3e8b7a6c5d4e".into();
    m.version = u64::MAX;
    m.created_at_ms = i64::MIN;
    m.updated_at_ms = i64::MIN;
    // The output-only status the coordinator adds to every monitor it lists, as large as 16
    // regions of 64 bytes make it.
    m.region_status = (0..16)
        .map(|i| RegionStatus {
            region: format!("{i:02}{}", "r".repeat(62)),
            status: "DEGRADED".into(),
            consecutive_failures: u32::MAX,
            down: true,
            changed_at_ms: i64::MIN,
        })
        .collect();
    let status_only = Monitor {
        region_status: m.region_status.clone(),
        ..Default::default()
    };
    assert!(prost::Message::encoded_len(&status_only) <= MAX_REGION_STATUS_BYTES);
    let largest = ListMonitorsResponse {
        monitors: vec![m; MAX_LIST_MONITORS],
        next_page_token: "f".repeat(MAX_PAGE_TOKEN_BYTES),
    };
    let size = prost::Message::encoded_len(&largest);
    assert!(
        size <= MAX_ADMIN_MESSAGE_BYTES,
        "{size} > {MAX_ADMIN_MESSAGE_BYTES}"
    );
}
