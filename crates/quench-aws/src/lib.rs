//! Adapters behind the quench-core ports.

pub mod actions;
pub mod chat;
pub mod handler;
pub mod http;
pub mod mirror;
pub mod sdk;
pub mod secrets;
pub mod store;
