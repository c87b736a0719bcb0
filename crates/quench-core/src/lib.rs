//! Quench's domain, free of any AWS SDK: adapters live in `quench-aws`.
//!
//! Inside this crate an item is imported from the file that defines it
//! (`crate::incident::record::IncidentRecord`); a folder's `mod.rs` holds only its
//! documentation, its modules and the re-exports other crates use
//! (`quench_core::incident::IncidentRecord`). That keeps the graph of files free of
//! circles, which `tests/module_graph.rs` checks.
//!
//! Tests: a module's tests live in the crate's `tests/` when its public items are
//! enough, and in the folder's `tests` module (`#[cfg(test)] mod tests;`, a `tests.rs`
//! or, when it grows, a `tests/` folder of its own) when they reach private ones.

pub mod alarm;
pub mod chat;
pub mod config;
pub mod deploy;
pub mod duration;
pub mod escalation;
pub mod glob;
pub mod incident;
pub mod oncall;
pub mod ports;
pub mod routing;
pub mod runbook;
pub mod text;
