//! Lookout's wire formats: the agent gateway, the admin API and the `CheckResult` message
//! written to Kafka, generated from `proto/lookout/v1/*.proto`, plus their validation.

pub mod address;
pub mod bounds;
pub mod chunk;
pub mod codec;
pub mod json_path;
mod secrets;
pub use secrets::{REDACTED, Secret, is_secret_header, redact_url as redact_url_credentials};
pub mod validate;

/// Generated types of package `lookout.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("lookout.v1");
    // Canonical proto3 JSON (snake_case names, enums as strings), for the CLI's JSON output
    // and the YAML config files.
    include!(concat!(env!("OUT_DIR"), "/lookout.v1.serde.rs"));
}

pub use v1::{CheckResult, CheckStatus, FailureClass, Monitor};

/// Encoded `FileDescriptorSet` of every Lookout `.proto` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lookout_descriptor.bin"));

/// The Kafka message header naming the encoding of every `lookout.results` value.
pub const RESULT_CONTENT_TYPE: &str = "application/x-protobuf; message=lookout.v1.CheckResult";

impl CheckStatus {
    /// Upper-case name used in webhooks and tables (`UP`, `DOWN`, ...).
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Unspecified => "UNKNOWN",
            CheckStatus::Up => "UP",
            CheckStatus::Down => "DOWN",
            CheckStatus::Degraded => "DEGRADED",
            CheckStatus::Missed => "MISSED",
            CheckStatus::NoData => "NO_DATA",
        }
    }
}

impl v1::EventKind {
    /// Every kind but `Unspecified`.
    pub const ALL: [v1::EventKind; 13] = [
        v1::EventKind::Incident,
        v1::EventKind::Escalation,
        v1::EventKind::Reminder,
        v1::EventKind::Recovery,
        v1::EventKind::Degraded,
        v1::EventKind::DegradedRecovery,
        v1::EventKind::NoData,
        v1::EventKind::DataResumed,
        v1::EventKind::CertExpiring,
        v1::EventKind::CertRenewed,
        v1::EventKind::Flapping,
        v1::EventKind::FlappingEnded,
        v1::EventKind::Test,
    ];

    /// The kind's stored and shown name (`incident`, `recovery`, ...).
    pub fn label(self) -> &'static str {
        use v1::EventKind as K;
        match self {
            K::Unspecified => "unspecified",
            K::Incident => "incident",
            K::Escalation => "escalation",
            K::Reminder => "reminder",
            K::Recovery => "recovery",
            K::Degraded => "degraded",
            K::DegradedRecovery => "degraded_recovery",
            K::NoData => "no_data",
            K::DataResumed => "data_resumed",
            K::CertExpiring => "cert_expiring",
            K::CertRenewed => "cert_renewed",
            K::Flapping => "flapping",
            K::FlappingEnded => "flapping_ended",
            K::Test => "test",
        }
    }

    /// The kind named `label` (see [`v1::EventKind::label`]).
    pub fn from_label(label: &str) -> Option<v1::EventKind> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }
}

impl FailureClass {
    /// Short lower-case name (`timeout`, `connect_refused`, ...); empty for no failure.
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::Unspecified => "",
            FailureClass::Timeout => "timeout",
            FailureClass::Dns => "dns",
            FailureClass::ConnectRefused => "connect_refused",
            FailureClass::Connect => "connect",
            FailureClass::Tls => "tls",
            FailureClass::HttpStatus => "http_status",
            FailureClass::Assertion => "assertion",
            FailureClass::Protocol => "protocol",
            FailureClass::Overload => "overload",
            FailureClass::Shutdown => "shutdown",
            FailureClass::Internal => "internal",
        }
    }
}

impl Monitor {
    /// What the monitor points at, for people: the URL of an HTTP check, `tcp://host:port`,
    /// `dns://resolver/name`, `icmp://host`, `tls://host:port`, `grpc://host:port`.
    pub fn target(&self) -> String {
        use v1::monitor::Check;
        match &self.check {
            Some(Check::Http(h)) => h.url.clone(),
            Some(Check::Tcp(t)) => format!("tcp://{}", t.address),
            Some(Check::Dns(d)) => format!("dns://{}/{}", d.resolver, d.name),
            Some(Check::Icmp(i)) => format!("icmp://{}", i.host),
            Some(Check::Tls(t)) => format!("tls://{}", t.address),
            Some(Check::Grpc(g)) => format!("grpc://{}", g.address),
            None => String::new(),
        }
    }

    /// Short name of the check kind (`http`, `tcp`, `dns`, `icmp`, `tls`, `grpc`).
    pub fn kind(&self) -> &'static str {
        use v1::monitor::Check;
        match &self.check {
            Some(Check::Http(_)) => "http",
            Some(Check::Tcp(_)) => "tcp",
            Some(Check::Dns(_)) => "dns",
            Some(Check::Icmp(_)) => "icmp",
            Some(Check::Tls(_)) => "tls",
            Some(Check::Grpc(_)) => "grpc",
            None => "none",
        }
    }
}

/// gRPC metadata a coordinator replica that does not lead sets on the UNAVAILABLE status it
/// refuses an agent's session with: the URL of the replica that leads, as that one
/// advertises it (empty while no replica is known to lead).
pub const LEADER_METADATA: &str = "lookout-leader";
