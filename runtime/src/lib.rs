//! `lookout-runtime`: what every Lookout binary does at start and stop, written once: read the
//! YAML config file (bounded, with `${VAR}` expansion), set up logging, and turn SIGTERM or
//! Ctrl-C into a graceful shutdown with a bound.

pub mod config;
pub mod logging;
pub mod shutdown;

pub use config::{ConfigFileError, load, parse};

/// `VmRSS` and `VmHWM` (peak) in MiB of a process (`"self"` or a pid), for the benchmarks;
/// zeros where `/proc` cannot be read.
pub fn memory_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// An error and its causes on one line. tonic's transport errors say only "transport error";
/// the cause (connection refused, unknown certificate authority) is what an operator needs.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        // Many errors repeat their source in their own message; say each thing once.
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("transport error")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("invalid peer certificate: UnknownIssuer")]
    struct Middle(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("UnknownIssuer")]
    struct Inner;

    #[test]
    fn causes_are_said_once() {
        assert_eq!(
            super::causes(&Outer(Middle(Inner))),
            "transport error: invalid peer certificate: UnknownIssuer"
        );
    }
}
