//! `lookout-runtime`: what every Lookout binary does at start and stop, written once: read the
//! YAML config file (bounded, with `${VAR}` expansion), set up logging, and turn SIGTERM or
//! Ctrl-C into a graceful shutdown with a bound.

pub mod config;
pub mod logging;
pub mod shutdown;

pub use config::{ConfigFileError, load, parse};
