//! lookout-coordinator
