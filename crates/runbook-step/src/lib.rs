//! The `runbook-step` handler: one runbook step of one incident per invocation.
//!
//! The state machine loops: it invokes this function, waits `wait_seconds` (a Wait state
//! with `SecondsPath: $.runbook.state.wait_seconds`), and invokes it again with the
//! response, until `next.kind` is `resolve`, `escalate` or `stop`. The Lambda never
//! sleeps: a command or automation that is still running is polled on a later
//! invocation.
//!
//! # Request
//!
//! ```json
//! {
//!   "incident": { "incident_id": "inc-20261120T100400000Z-5d0c1c6f0e0a1b2c",
//!                 "dedup_key": "alarm:arn:aws:cloudwatch:...", "plan": "ec2-instance-health" },
//!   "runbook": "reboot-and-verify",
//!   "position": null,
//!   "outputs": { "steps": {}, "runs": 0 },
//!   "pending": null
//! }
//! ```
//!
//! - `incident`: from alarm-to-incident's response; only `incident_id` is required (the
//!   incident item is read for the alarm facts templates use). Other fields are ignored.
//!   The first response adds `episode` (the incident's reopen count): a run whose
//!   incident was reopened since stops, because the reopen starts its own run.
//! - `runbook`: the runbook's name (alarm-to-incident's `runbook`).
//! - `position`: the step to run; `null` (or absent) starts the runbook.
//! - `outputs`, `pending`, `next`: exactly as the previous response returned them
//!   (absent at the start). `next` matters after a final `sleep`: the invocation after
//!   the Wait verifies instead of starting over.
//!
//! The response carries `incident` and `runbook` back, so the next request is the
//! previous response as it is (`"Payload.$": "$"`); extra fields are ignored.
//!
//! # Response
//!
//! ```json
//! {
//!   "incident": { "incident_id": "inc-...", "dedup_key": "...", "plan": "...", "episode": 0 },
//!   "runbook": "reboot-and-verify",
//!   "next": { "kind": "wait", "seconds": 300, "sleep": "settle", "then": "status" },
//!   "wait_seconds": 300,
//!   "position": "status",
//!   "outputs": { "steps": { "reboot": 0 }, "runs": 1 },
//!   "pending": null,
//!   "outcome": { "status": "succeeded", "summary": "reboot of i-0abc... requested" },
//!   "step": "reboot"
//! }
//! ```
//!
//! `next.kind` is what the ASL's Choice reads:
//!
//! | `next.kind` | meaning | the ASL |
//! |---|---|---|
//! | `step`   | run `next.step` now (`wait_seconds` 0) | invoke again |
//! | `poll`   | a command / automation of `next.step` is running; `pending` holds it | Wait `wait_seconds`, invoke again |
//! | `wait`   | a runbook `sleep`; `next.then` is the step after it (`null`: verify next) | Wait `wait_seconds`, invoke again |
//! | `resolve`| the runbook resolved and the alarm does not alarm (`next.reason`) | resolve without paging |
//! | `escalate`| the runbook escalated or failed, or ended with the alarm still alarming (`next.reason`) | escalate |
//! | `stop`   | the incident was resolved (its alarm recovered) or reopened meanwhile | done |
//!
//! The end of a runbook (its last step, or a `resolve`) reads the triggering alarm with
//! DescribeAlarms and decides by [`Next::concluded`]: a runbook that ran to its end
//! resolves only if the alarm recovered, and a `resolve` is believed unless the alarm
//! still alarms. What the alarm said is in `verified` and on the timeline. The core's
//! `verify` never leaves this function.
//!
//! [`Next::concluded`]: quench_core::runbook::Next::concluded
//!
//! `wait_seconds` is capped by `QUENCH_MAX_WAIT_SECONDS` when set (tests set 0).
//! `outcome` and `step` are the step that finished in this invocation (null when none
//! did: a poll, or a transition decided without running a step). `position` is the
//! step the next invocation runs (null when the runbook is over, or when a final `sleep`
//! leads to verify).
//!
//! # What the state carries
//!
//! Step Functions fails an execution, beyond any Catch, when a state passes 256 KiB. So
//! the state carries references and the few values the ASL reads, never a step's
//! outputs: each finished step's outcome (status, outputs, summary) is recorded in the
//! table under `OUT#<episode>#<run>#<step>`, and `outputs` says under which run each
//! step's latest is. An invocation reads back the outcomes its templates and conditions
//! can name ([`read_at`], [`read_after`]), and no others. The branches the interpreter
//! took are logged. What remains is bounded by the config's limits (step ids, targets,
//! summaries); a response over [`MAX_STATE_BYTES`] all the same is an error the state
//! machine catches and escalates, never a state it cannot carry.
//!
//! [`read_at`]: quench_core::runbook::read_at
//! [`read_after`]: quench_core::runbook::read_after
//!
//! # Errors
//!
//! `error_type` is one of `InvalidEvent` (bad request, unknown runbook or incident, an
//! outcome the request names missing from the table: do not retry; catch and
//! escalate), `Retryable` (throttling, store or service unavailable, an action whose
//! answer was lost: retry with backoff; the step is idempotent), `InternalError`.
//!
//! # Idempotency
//!
//! Steps that act (`run_command`, `automation`, `ec2.reboot`) claim
//! `STEP#<episode>#<runs>#<id>` on the incident with a conditional put before acting, and
//! record the command id or execution id on the claim. A retried invocation finds the
//! claim and reuses what it recorded instead of acting again. A call that failed without
//! acting (throttled, refused) gives the claim back. A call that may have acted (a
//! timeout, a dropped connection, a server error: its answer may have been lost after
//! the service acted) keeps the claim without a result, as does an attempt that died
//! before recording one, and the retry finds out what happened before acting again:
//!
//! - `run_command`: SendCommand is sent once (no SDK retries) with the claim's marker
//!   ([`step_marker`]) first in its comment; the retry looks for it with ListCommands on
//!   the first target since the claim, and polls the command it finds or, when SSM lists
//!   none, sends it.
//! - `automation`: StartAutomationExecution carries a ClientToken derived from the claim,
//!   so starting again returns the execution a lost answer started.
//! - `ec2.reboot`: RebootInstances is sent once and has no token; a reboot leaves nothing
//!   to look up, so one whose answer was lost counts as requested (it may have happened)
//!   and is never requested again. The step says so, with what DescribeInstanceStatus
//!   said at that moment; the runbook's own checks and the alarm read at its end tell
//!   whether the instance recovered.
//!
//! Each finished step appends one timeline event with a deterministic key, and its
//! outcome is recorded once per run (the first recorded wins).
//!
//! [`step_marker`]: quench_core::ports::step_marker

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::actions::AwsActions;
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::ports::{ActionRunner, StepStore};
use quench_core::runbook::scope::Facts;
use serde_json::value::RawValue;

pub use quench_aws::sdk::BUNDLED_CONFIG;
pub use request::{IncidentRef, OutputRefs, Pending, PendingHandle, Request, Response, StepReport};

use turn::Turn;

mod execute;
mod outcome;
mod poll;
mod request;
mod turn;

/// Requests are small; a bigger one is not from our state machine.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// The most a response may be: a quarter of the 256 KiB Step Functions allows a state,
/// which also holds the alarm event and the other tasks' results. The largest runbook
/// the config allows stays far below it (a test drives one).
pub const MAX_STATE_BYTES: usize = 64 * 1024;

pub struct Handler<S, A> {
    pub config: Config,
    pub store: S,
    pub actions: A,
    /// Caps every `wait_seconds` (`QUENCH_MAX_WAIT_SECONDS`).
    pub max_wait_seconds: Option<u64>,
}

impl<S, A> Handler<S, A>
where
    S: StepStore + Sync,
    A: ActionRunner + Sync,
{
    /// Handles one raw payload.
    pub async fn handle(&self, raw: &str, now: DateTime<Utc>) -> Result<Response, HandlerError> {
        let request: Request = decode_request(raw, MAX_REQUEST_BYTES)?;
        self.handle_request(request, now).await
    }

    /// Handles one decoded request.
    pub async fn handle_request(
        &self,
        request: Request,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let runbook = self.config.runbooks.get(&request.runbook).ok_or_else(|| {
            HandlerError::InvalidRequest(format!("no runbook is named `{}`", request.runbook))
        })?;
        let incident_id = &request.incident.incident_id;
        let incident =
            self.store.incident(incident_id).await?.ok_or_else(|| {
                HandlerError::InvalidRequest(format!("no incident `{incident_id}`"))
            })?;
        let facts = Facts::of_incident(&incident);
        let turn = Turn {
            handler: self,
            request: &request,
            runbook,
            incident: &incident,
            episode: request.incident.episode.unwrap_or(incident.reopen_count),
            facts: &facts,
            now,
        };
        let response = turn.run().await?;
        let size = serde_json::to_vec(&response).map_or(usize::MAX, |json| json.len());
        if size > MAX_STATE_BYTES {
            return Err(HandlerError::Internal(format!(
                "the response for step {} would be {size} bytes, over the {MAX_STATE_BYTES} the state machine's state allows it",
                response.step.as_deref().or(response.position.as_deref()).unwrap_or("-")
            )));
        }
        tracing::info!(
            incident_id = %incident.id,
            runbook = %request.runbook,
            step = response.step.as_deref().unwrap_or(""),
            status = response.outcome.as_ref().map(|o| o.status.as_str()).unwrap_or(""),
            next = response.next.kind(),
            wait_seconds = response.wait_seconds,
            "runbook step"
        );
        Ok(response)
    }

    fn cap(&self, seconds: u64) -> u64 {
        match self.max_wait_seconds {
            Some(max) => seconds.min(max),
            None => seconds,
        }
    }
}

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, AwsActions>;

/// `QUENCH_MAX_WAIT_SECONDS`, when set.
pub fn max_wait_from_env() -> Result<Option<u64>, InitError> {
    match std::env::var("QUENCH_MAX_WAIT_SECONDS") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| InitError::BadEnv("QUENCH_MAX_WAIT_SECONDS")),
        _ => Ok(None),
    }
}

/// Reads the environment once: `QUENCH_TABLE` (required), `QUENCH_MAX_WAIT_SECONDS`
/// (optional), `QUENCH_AUTOMATION_ROLE_ARN` (optional: the role Automation documents
/// run as); the config from the SSM parameter `QUENCH_CONFIG_PARAMETER`, else the
/// file `QUENCH_CONFIG_FILE`, else the bundled file.
pub async fn init_from_env() -> Result<LambdaHandler, InitError> {
    let table = required_env("QUENCH_TABLE")?;
    let max_wait_seconds = max_wait_from_env()?;
    let sdk = sdk_config("runbook-step").await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let config = load_config(&sdk).await?;
    Ok(Handler {
        config,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        actions: AwsActions::new(
            ssm,
            aws_sdk_ec2::Client::new(&sdk),
            aws_sdk_cloudwatch::Client::new(&sdk),
        )
        .with_automation_role(optional_env("QUENCH_AUTOMATION_ROLE_ARN")),
        max_wait_seconds,
    })
}

/// The Lambda entry point over a shared handler.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    handler.handle(event.payload.get(), Utc::now()).await
}

#[cfg(test)]
mod tests;
