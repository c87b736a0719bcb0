//! The port runbook actions go through, and the pure rules around it: what a finished
//! command or automation means for the step, and the idempotency keys that stop a
//! retried step from acting twice.
//!
//! Adapters (`quench-aws::actions`) call SSM, EC2 and CloudWatch; tests use fakes or
//! mocked SDK clients. Nothing here knows an AWS SDK type.

use std::collections::BTreeMap;
use std::future::Future;

use crate::runbook::outcome::StepStatus;
use crate::text::stable_hash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an action call failed. Messages carry the service's error code and message, never
/// request parameters (which may hold secrets) or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The service throttled us even after the SDK's own retries: try the step again later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// Timeouts, connection failures, 5xx: try the step again later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (access denied, invalid parameter, wrong instance state):
    /// retrying will not help; the step fails.
    #[error("refused: {0}")]
    Refused(String),
    /// The instance, alarm, command or execution does not exist: the step fails.
    #[error("not found: {0}")]
    NotFound(String),
}

impl ActionError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Unavailable(_))
    }

    /// Whether the call may have acted although it failed: a timeout, a dropped
    /// connection or a server error can come after the service did the work. A throttled,
    /// refused or not-found call was answered without it.
    pub fn may_have_acted(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// One SSM Run Command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    pub document: String,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub targets: Vec<String>,
    /// How long the command may run on the instance; SendCommand's delivery timeout is
    /// derived from it.
    pub timeout_seconds: u64,
    /// Shown in the SSM console next to the command: the incident and step.
    pub comment: String,
    /// Unique to the step's claim ([`step_marker`]) and put first in the command's
    /// comment, so that a retry can find the command an attempt sent but never heard
    /// back about.
    pub marker: String,
}

/// A finished command on one instance. `stdout` and `stderr` are already sanitised and
/// bounded (see [`sanitize_output`](crate::text::sanitize_output)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandFinished {
    pub status: StepStatus,
    /// SSM's own status word (`Success`, `Failed`, `TimedOut`, `Cancelled`, ...).
    pub detail: String,
    pub stdout: String,
    pub stderr: String,
    /// The script's exit code; `-1` when it never ran (SSM's convention).
    pub exit_code: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Not finished, or not visible yet (GetCommandInvocation's InvocationDoesNotExist
    /// right after SendCommand).
    Pending,
    Finished(CommandFinished),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationFinished {
    pub status: StepStatus,
    /// SSM's status word (`Success`, `Failed`, `TimedOut`, `Cancelled`, ...).
    pub detail: String,
    /// The document's outputs by name (`step.Output`), sanitised.
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutomationResult {
    Pending,
    Finished(AutomationFinished),
}

/// DescribeInstanceStatus of one instance, stopped ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// `pending`, `running`, `stopping`, `stopped`, ...
    pub instance_state: String,
    /// `ok`, `impaired`, `initializing`, `insufficient-data`, `not-applicable`.
    pub instance_status: String,
    pub system_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStateInfo {
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRequest {
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    pub stat: String,
    pub period_seconds: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// What runbook steps do to the world. Every method is one API call (plus the SDK's
/// retries), so the Lambda never blocks on a long-running action: it starts it, and
/// polls it on later invocations.
pub trait ActionRunner {
    /// SSM SendCommand; returns the command id.
    fn send_command(
        &self,
        request: &CommandRequest,
    ) -> impl Future<Output = Result<String, ActionError>> + Send;

    /// SSM ListCommands: the id of a command like `request` (same marker, first target
    /// and document) sent since `since`, if SSM lists one.
    fn find_command(
        &self,
        request: &CommandRequest,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, ActionError>> + Send;

    /// SSM GetCommandInvocation for one instance; output bounded to `output_limit` bytes
    /// per stream.
    fn command_result(
        &self,
        command_id: &str,
        instance: &str,
        output_limit: u32,
    ) -> impl Future<Output = Result<CommandResult, ActionError>> + Send;

    /// SSM StartAutomationExecution with an idempotency token; returns the execution id.
    fn start_automation(
        &self,
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        client_token: &str,
    ) -> impl Future<Output = Result<String, ActionError>> + Send;

    /// SSM GetAutomationExecution.
    fn automation_result(
        &self,
        execution_id: &str,
    ) -> impl Future<Output = Result<AutomationResult, ActionError>> + Send;

    /// EC2 RebootInstances.
    fn reboot(&self, instance: &str) -> impl Future<Output = Result<(), ActionError>> + Send;

    /// EC2 DescribeInstanceStatus with IncludeAllInstances.
    fn instance_status(
        &self,
        instance: &str,
    ) -> impl Future<Output = Result<InstanceStatus, ActionError>> + Send;

    /// CloudWatch DescribeAlarms of one alarm (metric or composite).
    fn alarm_state(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<AlarmStateInfo, ActionError>> + Send;

    /// CloudWatch GetMetricData of one metric; datapoints oldest first.
    fn metric_query(
        &self,
        request: &MetricRequest,
    ) -> impl Future<Output = Result<Vec<Datapoint>, ActionError>> + Send;
}

/// SSM's command invocation statuses, as a step status; `None` while still running.
pub fn command_status(ssm_status: &str) -> Option<StepStatus> {
    match ssm_status {
        "Pending" | "InProgress" | "Delayed" | "Cancelling" => None,
        "Success" => Some(StepStatus::Succeeded),
        "TimedOut" | "DeliveryTimedOut" | "ExecutionTimedOut" => Some(StepStatus::TimedOut),
        // Failed, Cancelled, Undeliverable, Terminated, and anything SSM adds later: a
        // status we do not know is not a success.
        _ => Some(StepStatus::Failed),
    }
}

/// SSM's automation execution statuses, as a step status; `None` while still running.
pub fn automation_status(ssm_status: &str) -> Option<StepStatus> {
    match ssm_status {
        "Pending"
        | "InProgress"
        | "Waiting"
        | "Cancelling"
        | "PendingApproval"
        | "Approved"
        | "Scheduled"
        | "RunbookInProgress"
        | "PendingChangeCalendarOverride"
        | "ChangeCalendarOverrideApproved" => None,
        "Success" | "CompletedWithSuccess" => Some(StepStatus::Succeeded),
        "TimedOut" => Some(StepStatus::TimedOut),
        _ => Some(StepStatus::Failed),
    }
}

/// The key of one execution of one step of one incident: the episode (how often the
/// incident was reopened) makes each reopen's runbook its own run, and the `runs` count
/// before the step makes each turn of a loop its own execution.
pub fn step_key(incident_id: &str, episode: u32, run: u32, step: &str) -> String {
    format!("{incident_id}#{episode:02}#{run:04}#{step}")
}

/// What marks the command of one step execution in its comment: `quench-` and a hash of
/// the step key, 23 characters of SendCommand's 100.
pub fn step_marker(incident_id: &str, episode: u32, run: u32, step: &str) -> String {
    format!(
        "quench-{:016x}",
        stable_hash(&step_key(incident_id, episode, run, step))
    )
}

/// StartAutomationExecution's ClientToken must look like a UUID; this one is derived from
/// the step key so that a retried start is the same start.
pub fn client_token(incident_id: &str, episode: u32, run: u32, step: &str) -> String {
    let key = step_key(incident_id, episode, run, step);
    let hi = stable_hash(&key);
    let lo = stable_hash(&format!("{key}#quench-client-token"));
    let hex = format!("{hi:016x}{lo:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What a claimed step recorded about its action, so that a retry reuses it instead of
/// acting again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepClaim {
    pub incident_id: String,
    #[serde(default)]
    pub episode: u32,
    pub run: u32,
    pub step: String,
    pub claimed_at: DateTime<Utc>,
    /// The command id or automation execution id, `done` for a reboot, or `unconfirmed`
    /// for a reboot whose answer was lost; `None` while the action's result is unknown
    /// (its call failed in a way that may have acted, or the attempt died before
    /// recording it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}
