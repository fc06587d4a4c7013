//! Notifier state: per-region counters, incidents, the delivery outbox and consumed offsets,
//! written together in one transaction per consumed batch.
