//! The state machine's payloads: the request, the response, and the command or
//! automation a run carries from one invocation to the next while it runs. Their
//! contract is the crate doc. They carry references and the values the state machine's
//! Choice states read, never a step's outputs: those are in the table.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use quench_core::runbook::{Next, StepOutcome, StepStatus};
use serde::{Deserialize, Serialize};

use crate::outcome::summary;

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

/// Where the finished steps' outcomes are: each step's latest run, under which its
/// outcome is stored (a loop's later turn replaces an earlier one), and how many steps
/// have finished.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputRefs {
    #[serde(default)]
    pub steps: BTreeMap<String, u32>,
    #[serde(default)]
    pub runs: u32,
}

impl OutputRefs {
    /// `step` finished in run `run`.
    pub fn record(&mut self, step: &str, run: u32) {
        self.steps.insert(step.to_string(), run);
        self.runs = self.runs.saturating_add(1);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub incident: IncidentRef,
    pub runbook: String,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    pub outputs: OutputRefs,
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
    /// The polls it gets before it counts as timed out whatever the clock says
    /// ([`poll_budget`](quench_core::runbook::limits::poll_budget) of its timeout).
    pub max_polls: u32,
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

/// What the state carries of a finished step or of the alarm read at the end: its status
/// and one bounded line. The outputs are in the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub status: StepStatus,
    pub summary: String,
}

impl From<&StepOutcome> for StepReport {
    fn from(outcome: &StepOutcome) -> Self {
        StepReport {
            status: outcome.status,
            summary: summary(&outcome.summary),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub incident: IncidentRef,
    pub runbook: String,
    pub next: Next,
    pub wait_seconds: u64,
    pub position: Option<String>,
    pub outputs: OutputRefs,
    pub pending: Option<Pending>,
    /// The step that finished in this invocation, and its outcome.
    pub step: Option<String>,
    pub outcome: Option<StepReport>,
    /// The triggering alarm's state, read when the runbook ended (`resolve`/`escalate`
    /// decided by the end of the runbook carry it as evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<StepReport>,
}
