//! Quench's domain, free of any AWS SDK: adapters live in `quench-aws`.

pub mod actions;
pub mod alarm;
pub mod chat;
pub mod config;
pub mod deploy;
pub mod duration;
pub mod escalation;
pub mod glob;
pub mod incident;
pub mod mirror;
pub mod notice_flow;
pub mod oncall;
pub mod ports;
pub mod routing;
pub mod runbook;
pub mod store;
pub mod template;
pub mod tick_flow;
pub mod ticker;
