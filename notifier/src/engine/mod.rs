//! The incident engine's rules beyond the per-region state machine (`crate::incidents`):
//! escalation levels, reminders, maintenance windows, parent monitors, certificate expiry and
//! flapping. Each rule is pure (no I/O; time comes in as an argument), so each is covered by
//! table-driven tests; the consumer and the timer apply them and store what they decide.

pub mod certificate;
pub mod escalation;
pub mod flapping;
pub mod gate;
pub mod maintenance;
pub mod reminders;
