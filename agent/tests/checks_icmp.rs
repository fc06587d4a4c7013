//! IcmpCheck pinging 127.0.0.1 and ::1 where the kernel permits ICMP sockets; where it does
//! not, the check must say which sysctl to change. (No test pings an unreachable address: some
//! sandboxes answer every echo request; the no-reply judgement has unit tests in icmp.rs.)

use std::time::Duration;

use lookout_agent::checks::icmp::IcmpCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1;
use lookout_proto::{CheckStatus, FailureClass};
use tokio::time::Instant;

async fn ping(host: &str, count: u32) -> Outcome {
    let spec = v1::IcmpCheck {
        host: host.into(),
        count,
        interval_ms: 20,
        reply_timeout_ms: 500,
        ..Default::default()
    };
    IcmpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(Instant::now() + Duration::from_secs(5))
        .await
}

fn refused(o: &Outcome) -> bool {
    o.status == CheckStatus::Down
        && o.failure == FailureClass::Internal
        && o.message.contains("net.ipv4.ping_group_range")
}

#[tokio::test]
async fn loopback_answers_every_ping() {
    let o = ping("127.0.0.1", 4).await;
    if refused(&o) {
        eprintln!(
            "ICMP sockets refused here; checked the error instead: {}",
            o.message
        );
        return;
    }
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let p = o.ping.expect("ping stats");
    assert_eq!((p.sent, p.received, p.loss_percent()), (4, 4, 0));
    assert!(
        p.rtt_min_us <= p.rtt_avg_us && p.rtt_avg_us <= p.rtt_max_us,
        "{p:?}"
    );
    assert!(p.rtt_max_us < 500_000, "{p:?}");
    assert!(
        o.timings.total_us >= 60_000,
        "4 pings 20 ms apart take at least 60 ms: {:?}",
        o.timings
    );
}

#[tokio::test]
async fn ipv6_loopback() {
    let o = ping("::1", 2).await;
    if refused(&o) || o.message.contains("cannot ping") {
        eprintln!("IPv6 ping unavailable here: {}", o.message);
        return;
    }
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert_eq!(o.ping.map(|p| p.received), Some(2));
}
