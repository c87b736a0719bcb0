//! The state machine's payloads: the request, the response, and the command or
//! automation a run carries from one invocation to the next while it runs. Their
//! contract is the crate doc.

use chrono::{DateTime, Utc};
use quench_core::runbook::{BranchTaken, Next, Outputs, StepOutcome};
use serde::{Deserialize, Serialize};

/// Which incident; the rest of alarm-to-incident's decision may ride along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRef {
    pub incident_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The incident's reopen count when this run started; set by the first response.
    /// A run whose episode is no longer the incident's stops: the reopen has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub incident: IncidentRef,
    pub runbook: String,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    pub outputs: Outputs,
    #[serde(default)]
    pub pending: Option<Pending>,
    /// The previous response's `next`: after a runbook's final `sleep` (`then: null`),
    /// this invocation verifies instead of starting over.
    #[serde(default)]
    pub next: Option<Next>,
}

/// A command or automation that was started and is being polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub step: String,
    /// `outputs.runs` when the step started: part of its claim key.
    pub run: u32,
    #[serde(flatten)]
    pub handle: PendingHandle,
    pub started_at: DateTime<Utc>,
    /// Past this, the step has timed out.
    pub deadline: DateTime<Utc>,
    pub polls: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingHandle {
    RunCommand {
        command_id: String,
        targets: Vec<String>,
        output_limit: u32,
    },
    Automation {
        execution_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub incident: IncidentRef,
    pub runbook: String,
    pub next: Next,
    pub wait_seconds: u64,
    pub position: Option<String>,
    pub outputs: Outputs,
    pub pending: Option<Pending>,
    /// The step that finished in this invocation, and its outcome.
    pub step: Option<String>,
    pub outcome: Option<StepOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<BranchTaken>,
    /// The triggering alarm's state, read when the runbook ended (`resolve`/`escalate`
    /// decided by the end of the runbook carry it as evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<StepOutcome>,
}
