//! lookout-agent
pub mod checks;
