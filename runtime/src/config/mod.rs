//! Reading a YAML config file so that the file cannot be turned against the process: its size
//! is capped, alias expansion is bounded, and `${VAR}` inserts an environment value into a
//! scalar (never YAML text, so a value with a line break cannot add keys).

mod budget;
mod expand;

use std::io::Read as _;
use std::path::Path;

use serde::de::DeserializeOwned;

/// Largest config file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Largest document after alias expansion: scalar bytes plus [`NODE_COST`] per node. A
/// file of nested aliases (a "billion laughs") is refused before anything is built from it.
pub const MAX_EXPANDED_BYTES: usize = 16 << 20;
/// What one node (scalar, sequence or mapping) counts against [`MAX_EXPANDED_BYTES`].
pub const NODE_COST: usize = 8;

/// A config file that cannot be used; the message names the file and, for a bad value, the
/// field path and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("config {path}: aliases expand to more than {max} bytes; write the values out instead")]
    TooManyAliases { path: String, max: usize },
    #[error("config {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Reads and parses the file at `path`, expanding `${VAR}` from the process environment.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let shown = path.display().to_string();
    let read = |source| ConfigFileError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    // One byte more than the cap tells a file at the cap from a larger one.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigFileError::TooLarge {
            path: shown,
            max: MAX_FILE_BYTES,
        });
    }
    parse(&text, &shown, &|name| std::env::var(name).ok())
}

/// Parses YAML `text` (named `origin` in errors) into `T`, expanding `${VAR}` through `env`.
pub fn parse<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, ConfigFileError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigFileError::TooLarge {
            path: origin.to_string(),
            max: MAX_FILE_BYTES,
        });
    }
    if budget::exceeds(text, MAX_EXPANDED_BYTES) {
        return Err(ConfigFileError::TooManyAliases {
            path: origin.to_string(),
            max: MAX_EXPANDED_BYTES,
        });
    }
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(expand::Expand::new(deserializer, env)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ConfigFileError::Invalid {
            path: origin.to_string(),
            message: clarify(&with_path(&path, &message)),
        }
    })
}

/// serde_yaml_ng names the path of the value it was reading when the error arose; an error
/// found after the value was read (an untagged enum) names only the enclosing mapping. The
/// path tracked around the whole deserialization is exact: it replaces that prefix.
fn with_path(path: &str, message: &str) -> String {
    if path == "." || path.contains('?') {
        return message.to_string();
    }
    match message.split_once(": ") {
        Some((head, rest)) if !head.contains(char::is_whitespace) && path.starts_with(head) => {
            format!("{path}: {rest}")
        }
        _ => format!("{path}: {message}"),
    }
}

/// Protobuf-JSON numbers (monitors declared in a config) accept a number or a numeric string
/// through an untagged enum named `Content`, whose refusal names neither the value nor the
/// rule. All numbers a user sets there are `uint32`. The message is the only handle on that
/// error: the enum is private to pbjson.
fn clarify(message: &str) -> String {
    const UNTAGGED: &str = "data did not match any variant of untagged enum Content";
    match message.find(UNTAGGED) {
        Some(at) => format!(
            "{}value is invalid, must be a whole number 0..=4294967295{}",
            &message[..at],
            &message[at + UNTAGGED.len()..]
        ),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests;
