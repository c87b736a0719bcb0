//! Adapters behind the quench-core ports.

pub mod actions;
pub mod chat;
#[cfg(feature = "fakes")]
pub mod fake;
pub mod handler;
pub mod http;
pub mod incidents;
pub mod metrics;
pub mod mirror;
pub mod paging;
pub mod sdk;
pub mod secrets;
pub mod store;
