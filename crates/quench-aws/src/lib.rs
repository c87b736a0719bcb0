//! Adapters behind the quench-core ports.

pub mod actions;
pub mod mirror;
pub mod sdk;
pub mod store;
