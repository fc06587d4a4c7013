//! Lookout's wire formats: the agent gateway, the admin API and the `CheckResult` message
//! written to Kafka, generated from `proto/lookout/v1/*.proto`, plus their validation.

pub mod validate;

/// Generated types of package `lookout.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("lookout.v1");
}

pub use v1::{CheckResult, CheckStatus, FailureClass, Monitor};

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
        }
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
    /// What the monitor points at, for people: the URL of an HTTP check, `host:port` of TCP.
    pub fn target(&self) -> String {
        match &self.check {
            Some(v1::monitor::Check::Http(h)) => h.url.clone(),
            Some(v1::monitor::Check::Tcp(t)) => format!("tcp://{}", t.address),
            None => String::new(),
        }
    }

    /// Short name of the check kind (`http`, `tcp`).
    pub fn kind(&self) -> &'static str {
        match &self.check {
            Some(v1::monitor::Check::Http(_)) => "http",
            Some(v1::monitor::Check::Tcp(_)) => "tcp",
            None => "none",
        }
    }

    /// A copy safe to return from an API or print: webhook secrets blanked, `secret_set` kept.
    pub fn redacted(&self) -> Monitor {
        let mut m = self.clone();
        for w in &mut m.webhooks {
            w.secret_set = !w.secret.is_empty() || w.secret_set;
            w.secret.clear();
        }
        m
    }
}
