//! Monitor definitions: written by the coordinator, read by the notifier.
