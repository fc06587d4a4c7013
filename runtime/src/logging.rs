//! Logging for every binary: to stderr, filtered by `RUST_LOG`, as text (coloured only when
//! stderr is a terminal) or, with `LOOKOUT_LOG_FORMAT=json`, one JSON object per line for log
//! shippers.

use std::fmt::Display;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The environment variable that picks the log format.
pub const FORMAT_VAR: &str = "LOOKOUT_LOG_FORMAT";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{FORMAT_VAR}: {0:?} is invalid, must be text or json")]
    Format(String),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The format named by `value` (the content of [`FORMAT_VAR`]); unset or empty is text.
    pub fn parse(value: Option<&str>) -> Result<LogFormat, LogError> {
        match value.map(str::trim) {
            None | Some("") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
            Some(v) => Err(LogError::Format(v.to_string())),
        }
    }
}

/// The format the global subscriber writes, once [`init`] ran; it lives beside that
/// subscriber, which is process-wide too.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the global subscriber: `RUST_LOG` when set, else `default` (`"info"`, say).
/// Calling it again keeps the first subscriber.
pub fn init(default: &str) -> Result<(), LogError> {
    let format = LogFormat::parse(std::env::var(FORMAT_VAR).ok().as_deref())?;
    let format = *FORMAT.get_or_init(|| format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (a test, or a binary embedding another) finds a subscriber installed;
    // logging already works then, so that is not an error.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .try_init(),
    };
    Ok(())
}

/// True once [`init`] chose JSON lines.
pub fn is_json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// A line for the person who started `binary` (where it listens, that it stopped): an info
/// event in JSON mode, else a plain line on stderr.
pub fn notice(binary: &str, message: &dyn Display) {
    if is_json() {
        tracing::info!("{message}");
    } else {
        eprintln!("{binary}: {message}");
    }
}

/// Reports the error that stops `binary`: a log event in JSON mode (so every line a shipper
/// reads is JSON), else a plain line on stderr.
pub fn fatal(binary: &str, error: &dyn Display) {
    if is_json() {
        tracing::error!(error = %error, "{binary} stopped");
    } else {
        eprintln!("{binary}: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(LogFormat::parse(None).expect("unset"), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("")).expect("empty"), LogFormat::Text);
        assert_eq!(
            LogFormat::parse(Some("JSON")).expect("json"),
            LogFormat::Json
        );
        let e = LogFormat::parse(Some("xml")).expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "LOOKOUT_LOG_FORMAT: \"xml\" is invalid, must be text or json"
        );
    }
}
