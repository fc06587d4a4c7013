//! gRPC adapters: decode requests, call the domain layer, encode responses.

pub mod admin;
pub mod agents;
pub mod deliveries;
pub mod gateway;
pub mod incidents;
pub mod integrations;
pub mod members;
pub mod projects;
