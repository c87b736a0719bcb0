//! Configuration as code: the file, its response plans and routes, and the vocabulary
//! every section checks itself with.
//!
//! Layout: `vocabulary` (errors, field paths, names; imports nothing of the domain),
//! `plan` (plans and routes), `file` (the whole file: parse, then each section's
//! [`Validate`] against the names the others define). The other sections live with
//! their domain: `chat::channels`, `escalation::policy`, `oncall::schedule`,
//! `runbook::model`.

pub(crate) mod file;
pub(crate) mod plan;
pub(crate) mod vocabulary;

pub use file::{Config, MAX_CONFIG_BYTES};
pub use plan::{
    alarming, Conditions, Dedupe, IncidentManagerMirror, InsufficientData, Mirrors,
    OpsCenterMirror, Plan, ResolveOnOk, Route,
};
pub use vocabulary::{field, valid_name, ConfigError, Names, Problems, Validate, Warning};
