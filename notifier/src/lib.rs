//! lookout-notifier
