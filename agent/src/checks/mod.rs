//! The probers, one file each behind the `Check` trait; `build` holds the only match on the kind.

use futures::future::BoxFuture;
use lookout_proto::v1::{self, Timings, monitor};
use lookout_proto::validate::ValidMonitor;
use lookout_proto::{CheckStatus, FailureClass, Monitor};
use tokio::time::Instant;

/// What one run of a check found. A failed probe is an `Outcome` with status DOWN, never an
/// error: an unreachable target is exactly what the user wants to hear about.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: CheckStatus,
    pub failure: FailureClass,
    /// Empty when UP; otherwise what a person should read ("expected status 200-299, got 503").
    pub message: String,
    pub status_code: Option<u32>,
    pub timings: Timings,
    /// Packet loss and round trips of an ICMP check; None for other kinds.
    pub ping: Option<PingStats>,
    /// The leaf certificate of an https or tls check whose handshake completed.
    pub certificate: Option<v1::CertificateFacts>,
}

/// What an ICMP check measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingStats {
    pub sent: u32,
    pub received: u32,
    pub rtt_min_us: u64,
    pub rtt_avg_us: u64,
    pub rtt_max_us: u64,
}

impl PingStats {
    /// Lost requests as a whole percentage of those sent.
    pub fn loss_percent(&self) -> u32 {
        (self.sent - self.received.min(self.sent)) * 100 / self.sent.max(1)
    }
}

impl Outcome {
    pub fn up(timings: Timings) -> Outcome {
        Outcome {
            status: CheckStatus::Up,
            failure: FailureClass::Unspecified,
            message: String::new(),
            status_code: None,
            timings,
            ping: None,
            certificate: None,
        }
    }

    pub fn down(failure: FailureClass, message: impl Into<String>, timings: Timings) -> Outcome {
        Outcome {
            status: CheckStatus::Down,
            failure,
            message: message.into(),
            status_code: None,
            timings,
            ping: None,
            certificate: None,
        }
    }

    fn from_failure(f: Failure, timings: Timings) -> Outcome {
        Outcome::down(f.class, f.message, timings)
    }

    fn with_status_code(mut self, code: Option<u32>) -> Outcome {
        self.status_code = code;
        self
    }

    fn with_certificate(mut self, cert: Option<v1::CertificateFacts>) -> Outcome {
        self.certificate = cert;
        self
    }
}

/// Why a probe failed: the class a machine acts on and the sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub class: FailureClass,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
        }
    }
}

/// Microseconds elapsed since `since`, saturating.
pub(crate) fn micros_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The message for a check cut off by its deadline: how long it ran and what it was doing.
pub(crate) fn timeout_failure(started: Instant, doing: &str) -> Failure {
    let ms = started.elapsed().as_millis();
    Failure::new(
        FailureClass::Timeout,
        format!("timed out after {ms} ms {doing}"),
    )
}

/// One configured probe. Built once per assignment (regexes compiled, addresses parsed), run
/// many times. `run` must finish by `deadline`; it reports a timeout itself.
pub trait Check: Send + Sync {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome>;
}

/// A monitor whose check cannot be built (an assignment the agent cannot run).
#[derive(Debug, thiserror::Error)]
#[error("monitor {monitor_id}: {reason}")]
pub struct BuildError {
    pub monitor_id: String,
    pub reason: String,
}

/// Builds the check for `monitor`, connecting only where `targets` permits. The spec is
/// validated first with the coordinator's own constructor, so the agent refuses exactly what
/// the admin API refuses and builds from the normalized spec.
pub fn build(monitor: &Monitor, targets: Targets) -> Result<Box<dyn Check>, BuildError> {
    let valid = ValidMonitor::try_from(monitor.clone()).map_err(|e| BuildError {
        monitor_id: monitor.id.clone(),
        reason: e.to_string(),
    })?;
    build_valid(&valid, targets, Close::default())
}

/// Builds the check of a validated monitor, its TCP and HTTP connections ending by `close`;
/// the one place that matches on the check kind.
pub fn build_valid(
    valid: &ValidMonitor,
    targets: Targets,
    close: Close,
) -> Result<Box<dyn Check>, BuildError> {
    let monitor = valid.spec();
    let fail = |reason: String| BuildError {
        monitor_id: monitor.id.clone(),
        reason,
    };
    match &monitor.check {
        Some(monitor::Check::Http(spec)) => Ok(Box::new(
            match valid.http_url() {
                Some(url) => http::HttpCheck::parsed(spec, url.clone()),
                None => http::HttpCheck::new(spec),
            }
            .map_err(fail)?
            .with_targets(targets)
            .with_close(close),
        )),
        Some(monitor::Check::Tcp(spec)) => Ok(Box::new(
            tcp::TcpCheck::new(spec)
                .map_err(fail)?
                .with_targets(targets)
                .with_close(close),
        )),
        Some(monitor::Check::Dns(spec)) => Ok(Box::new(
            dns::DnsCheck::new(spec)
                .map_err(fail)?
                .with_targets(targets),
        )),
        Some(monitor::Check::Icmp(spec)) => Ok(Box::new(
            icmp::IcmpCheck::new(spec)
                .map_err(fail)?
                .with_targets(targets),
        )),
        Some(monitor::Check::Tls(spec)) => Ok(Box::new(
            tls::TlsCheck::new(spec)
                .map_err(fail)?
                .with_targets(targets),
        )),
        Some(monitor::Check::Grpc(spec)) => Ok(Box::new(
            grpc::GrpcCheck::new(spec)
                .map_err(fail)?
                .with_targets(targets),
        )),
        None => Err(fail("no check defined".into())),
    }
}

mod assertions;
pub mod dns;
pub mod grpc;
pub mod http;
pub mod icmp;
mod net;
pub use net::{Close, Targets};
pub mod tcp;
pub mod tls;
mod tls_client;
mod tls_errors;
