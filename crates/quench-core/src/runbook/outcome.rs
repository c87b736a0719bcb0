//! What a step did and what comes next: the types that cross the state machine between
//! the interpreter and the `runbook-step` function.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::config::plan::InsufficientData;
use crate::runbook::model::*;
use crate::runbook::template::TemplateError;
use crate::text::sanitize_output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    TimedOut,
    /// Not executed: an input was refused (a param off its pattern, a missing variable).
    Refused,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputValue {
    /// `serde_json::Number` rather than `f64`: it cannot hold NaN, which JSON cannot carry.
    Number(serde_json::Number),
    Text(String),
}

impl fmt::Display for OutputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputValue::Number(n) => write!(f, "{n}"),
            OutputValue::Text(t) => f.write_str(t),
        }
    }
}

impl From<&str> for OutputValue {
    fn from(text: &str) -> Self {
        OutputValue::Text(text.to_string())
    }
}

impl From<String> for OutputValue {
    fn from(text: String) -> Self {
        OutputValue::Text(text)
    }
}

impl From<i64> for OutputValue {
    fn from(number: i64) -> Self {
        OutputValue::Number(number.into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, OutputValue>,
    /// One line for the timeline.
    #[serde(default)]
    pub summary: String,
}

impl StepOutcome {
    pub fn succeeded(summary: impl Into<String>) -> Self {
        StepOutcome {
            status: StepStatus::Succeeded,
            output: BTreeMap::new(),
            summary: summary.into(),
        }
    }

    pub fn with_status(status: StepStatus, summary: impl Into<String>) -> Self {
        StepOutcome {
            status,
            output: BTreeMap::new(),
            summary: summary.into(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<OutputValue>) -> Self {
        self.output.insert(key.to_string(), value.into());
        self
    }
}

/// The outcomes so far: the latest per step (a loop overwrites), and how many ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    #[serde(default)]
    pub steps: BTreeMap<String, StepOutcome>,
    #[serde(default)]
    pub runs: u32,
}

impl Outputs {
    pub fn record(&mut self, step: &str, outcome: StepOutcome) {
        self.steps.insert(step.to_string(), outcome);
        self.runs = self.runs.saturating_add(1);
    }
}

/// A step's input with every template rendered: what the adapter executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum RenderedAction {
    #[serde(rename = "run_command")]
    RunCommand {
        document: String,
        /// For the shell document: `commands` and `executionTimeout`.
        parameters: BTreeMap<String, Vec<String>>,
        targets: Vec<String>,
        timeout_seconds: u64,
        output_limit: u32,
    },
    #[serde(rename = "automation")]
    Automation {
        document: String,
        parameters: BTreeMap<String, Vec<String>>,
        timeout_seconds: u64,
    },
    #[serde(rename = "ec2.reboot")]
    Ec2Reboot { instance: String },
    #[serde(rename = "ec2.status")]
    Ec2Status { instance: String },
    #[serde(rename = "alarm.state")]
    AlarmState { alarm: String },
    #[serde(rename = "metric.query")]
    MetricQuery {
        namespace: String,
        metric: String,
        dimensions: BTreeMap<String, String>,
        stat: String,
        period_seconds: u64,
        minutes: u32,
    },
    #[serde(rename = "note")]
    Note { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Then,
    Else,
}

/// A branch the interpreter took, for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchTaken {
    pub step: String,
    pub arm: Arm,
    /// `None`: on to the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Goto>,
    /// Why the condition could not be evaluated, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unevaluable: Option<String>,
}

impl fmt::Display for BranchTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arm = match self.arm {
            Arm::Then => "then",
            Arm::Else => "else",
        };
        write!(f, "branch `{}`: ", self.step)?;
        if let Some(why) = &self.unevaluable {
            write!(f, "condition could not be evaluated ({why}); ")?;
        }
        match &self.to {
            Some(to) => write!(f, "took {arm} → {to}"),
            None => write!(f, "took {arm} → next step"),
        }
    }
}

/// Where the runbook goes after a step.
/// The most bytes of the reason a runbook resolves or escalates with. A reason may
/// carry step output; it becomes the reason of an operation, which alarm-to-incident
/// refuses over 4,096 bytes, and the end of a runbook says the alarm's name and state
/// around it ([`Next::concluded`]), so this leaves room for both.
pub const MAX_REASON_BYTES: u32 = 2_048;

/// A reason as a runbook may give it: control characters dropped, cut on a character
/// boundary to [`MAX_REASON_BYTES`], the cut marked.
pub fn bounded_reason(text: &str) -> String {
    sanitize_output(text, MAX_REASON_BYTES)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Next {
    /// Invoke the step Lambda for this step.
    Step { step: String },
    /// A Step Functions Wait of `seconds`, then invoke the step Lambda at `then`;
    /// `then: null` means the runbook ends after the wait: verify.
    Wait {
        seconds: u64,
        sleep: String,
        then: Option<String>,
    },
    /// Resolve the incident without paging.
    Resolve {
        step: Option<String>,
        reason: String,
        /// When the runbook's final check read the alarm (see [`Next::concluded`]): the
        /// resolve is refused if an alarm of the incident fired after it, news the check
        /// never saw. Always in the JSON (null before the check): the state machine reads it.
        #[serde(default)]
        checked_at: Option<DateTime<Utc>>,
    },
    /// Record `reason` and escalate: a runbook that fails never leaves an incident
    /// silently open.
    Escalate {
        step: Option<String>,
        reason: String,
    },
    /// The runbook ran to its end: resolve if the alarm is OK now, else escalate.
    Verify,
    /// A started command or automation is still running: wait, then ask again at the
    /// same step. Only the step Lambda says this; the interpreter never does.
    Poll { step: String },
    /// Nothing more for this run to do: the incident was resolved meanwhile (its alarm
    /// recovered) or reopened (a newer run owns it). Only the step Lambda says this.
    Stop { reason: String },
}

impl Next {
    /// The `kind` tag the state machine's Choice reads.
    pub fn kind(&self) -> &'static str {
        match self {
            Next::Step { .. } => "step",
            Next::Poll { .. } => "poll",
            Next::Wait { .. } => "wait",
            Next::Resolve { .. } => "resolve",
            Next::Escalate { .. } => "escalate",
            Next::Verify => "verify",
            Next::Stop { .. } => "stop",
        }
    }

    /// The end of a runbook, once the triggering alarm's state is known: a runbook that
    /// ran to its end resolves only if the alarm recovered; one that resolved by its own
    /// checks is believed unless the alarm still alarms. So nothing closes an incident
    /// whose alarm says the problem is there, and nothing pages for one that is gone.
    /// Other kinds pass through.
    pub fn concluded(
        self,
        alarm: &str,
        state: AlarmState,
        policy: InsufficientData,
        checked_at: DateTime<Utc>,
    ) -> Next {
        let alarming = crate::config::plan::alarming(state, policy);
        match self {
            Next::Verify => match alarming {
                Some(false) => Next::Resolve {
                    step: None,
                    reason: format!("the runbook finished and {alarm} is {state}"),
                    checked_at: Some(checked_at),
                },
                _ => Next::Escalate {
                    step: None,
                    reason: format!("the runbook finished and {alarm} is still {state}"),
                },
            },
            Next::Resolve { step, reason, .. } => match (alarming, bounded_reason(&reason)) {
                (Some(true), reason) => Next::Escalate {
                    step,
                    reason: format!("the runbook resolved ({reason}) but {alarm} is {state}"),
                },
                (_, reason) => Next::Resolve {
                    step,
                    reason: format!("{reason}; {alarm} is {state}"),
                    checked_at: Some(checked_at),
                },
            },
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub next: Next,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<BranchTaken>,
}

/// What to do at a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Planned {
    /// Execute `step` with this input, then ask [`after_step`](crate::runbook::interpreter::after_step).
    Execute {
        step: String,
        input: RenderedAction,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        branches: Vec<BranchTaken>,
    },
    /// The step's input was refused: record `outcome` (status `refused`, never executed)
    /// and ask [`after_step`](crate::runbook::interpreter::after_step) as for any outcome.
    Refused {
        step: String,
        error: TemplateError,
        outcome: StepOutcome,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        branches: Vec<BranchTaken>,
    },
    /// Nothing to execute: the control steps from this position lead here.
    Flow(Transition),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
}
