//! Adapters behind the quench-core ports.

pub mod actions;
pub mod chat;
pub mod http;
pub mod mirror;
pub mod sdk;
pub mod secrets;
pub mod store;
