//! The `runbook-step` handler: one runbook step of one incident per invocation.
//!
//! The state machine loops: it invokes this function, waits `wait_seconds` (a Wait state
//! with `SecondsPath: $.wait_seconds`), and invokes it again with the response, until
//! `next.kind` is `resolve`, `escalate` or `verify`. The Lambda never sleeps: a command
//! or automation that is still running is polled on a later invocation.
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
//!   "outputs": { "steps": { "reboot": { "status": "succeeded",
//!                "output": { "instance": "i-0abc..." }, "summary": "rebooted i-0abc..." } },
//!                "runs": 1 },
//!   "pending": null,
//!   "outcome": { "status": "succeeded", "output": { "instance": "i-0abc..." },
//!                "summary": "rebooted i-0abc..." },
//!   "step": "reboot",
//!   "branches": []
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
//! `wait_seconds` is capped by `QUENCH_MAX_WAIT_SECONDS` when set (tests set 0).
//! `outcome` and `step` are the step that finished in this invocation (null when none
//! did: a poll, or a transition decided without running a step). `position` is the
//! step the next invocation runs (null when the runbook is over, or when a final `sleep`
//! leads to verify).
//!
//! # Errors
//!
//! `error_type` is one of `InvalidEvent` (bad request, unknown runbook or incident: do
//! not retry; catch and escalate), `Retryable` (throttling, store or service unavailable:
//! retry with backoff; the step is idempotent), `InternalError`.
//!
//! # Idempotency
//!
//! Steps that act (`run_command`, `automation`, `ec2.reboot`) claim
//! `STEP#<episode>#<runs>#<id>` on the incident with a conditional put before acting, and record the command id or
//! execution id on the claim. A retried invocation finds the claim and reuses what it
//! recorded instead of acting again; automation starts also carry a ClientToken derived
//! from incident, step and run. A claim with nothing recorded (the attempt died between
//! acting and recording) is never acted on again: the step fails and the runbook decides.
//! Each finished step appends one timeline event with a deterministic key.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::actions::AwsActions;
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::alarm::AlarmState;
use quench_core::config::Config;
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{
    client_token, step_key, ActionError, ActionRunner, AutomationResult, CommandRequest,
    CommandResult, MetricRequest, StepClaim, StepStore,
};
use quench_core::runbook::scope::Facts;
use quench_core::runbook::{
    after_step, next_action, start, BranchTaken, Next, OutputValue, Outputs, Planned,
    RenderedAction, Runbook, StepOutcome, StepStatus, Transition,
};
use quench_core::text::sanitize_output;
use serde_json::value::RawValue;

pub use quench_aws::sdk::BUNDLED_CONFIG;
pub use request::{IncidentRef, Pending, PendingHandle, Request, Response};

mod request;

/// Requests are small; a bigger one is not from our state machine.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Polls of one command or automation before the step counts as timed out, whatever the
/// clock says (with waits capped to 0 the clock alone would allow thousands).
pub const MAX_POLLS: u32 = 200;
/// Added to a command's timeout before polling gives up: delivery and reporting lag.
const COMMAND_GRACE_SECS: i64 = 120;
const AUTOMATION_GRACE_SECS: i64 = 120;
/// Timeline summaries are at most this many bytes.
const SUMMARY_LIMIT: u32 = 1_024;
/// Handle recorded on a claim whose action has no id of its own (a reboot).
const DONE: &str = "done";

/// Poll intervals: short at first (most commands take seconds), growing, capped.
fn poll_wait(handle: &PendingHandle, polls: u32) -> u64 {
    let schedule: &[u64] = match handle {
        PendingHandle::RunCommand { .. } => &[3, 5, 10, 15, 30],
        PendingHandle::Automation { .. } => &[10, 20, 30, 60],
    };
    let index = usize::try_from(polls).unwrap_or(usize::MAX);
    schedule
        .get(index)
        .or(schedule.last())
        .copied()
        .unwrap_or(30)
}

fn number(value: f64) -> Option<OutputValue> {
    serde_json::Number::from_f64(value).map(OutputValue::Number)
}

fn summary(text: &str) -> String {
    sanitize_output(text, SUMMARY_LIMIT)
}

/// The step's state while it executes: what the claim is keyed on.
struct Execution<'a> {
    incident: &'a IncidentRecord,
    episode: u32,
    step: &'a str,
    run: u32,
    now: DateTime<Utc>,
}

impl Execution<'_> {
    fn claim(&self, handle: Option<String>) -> StepClaim {
        StepClaim {
            incident_id: self.incident.id.clone(),
            episode: self.episode,
            run: self.run,
            step: self.step.to_string(),
            claimed_at: self.now,
            handle,
        }
    }
}

/// What executing or polling a step came to.
enum Progress {
    Finished(StepOutcome),
    Running(Pending),
}

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

/// One invocation's worth of context.
struct Turn<'a, S, A> {
    handler: &'a Handler<S, A>,
    request: &'a Request,
    runbook: &'a Runbook,
    incident: &'a IncidentRecord,
    /// The incident's reopen count this run belongs to.
    episode: u32,
    facts: &'a Facts,
    now: DateTime<Utc>,
}

impl<S, A> Turn<'_, S, A>
where
    S: StepStore + Sync,
    A: ActionRunner + Sync,
{
    fn store(&self) -> &S {
        &self.handler.store
    }

    fn actions(&self) -> &A {
        &self.handler.actions
    }

    fn respond(
        &self,
        next: Next,
        outputs: Outputs,
        pending: Option<Pending>,
        finished: Option<(String, StepOutcome)>,
        branches: Vec<BranchTaken>,
    ) -> Response {
        let (wait_seconds, position) = match &next {
            Next::Step { step } => (0, Some(step.clone())),
            Next::Poll { step } => {
                let polls = pending.as_ref().map_or(0, |p| p.polls);
                let wait = pending
                    .as_ref()
                    .map_or(5, |p| poll_wait(&p.handle, polls.saturating_sub(1)));
                (self.handler.cap(wait), Some(step.clone()))
            }
            Next::Wait { seconds, then, .. } => (self.handler.cap(*seconds), then.clone()),
            Next::Resolve { .. } | Next::Escalate { .. } | Next::Verify | Next::Stop { .. } => {
                (0, None)
            }
        };
        let (step, outcome) = match finished {
            Some((step, outcome)) => (Some(step), Some(outcome)),
            None => (None, None),
        };
        Response {
            incident: IncidentRef {
                episode: Some(self.episode),
                ..self.request.incident.clone()
            },
            runbook: self.request.runbook.clone(),
            next,
            wait_seconds,
            position,
            outputs,
            pending,
            step,
            outcome,
            branches,
            verified: None,
        }
    }

    /// Appends a step entry to the timeline; `event_key` is deterministic, so a retried
    /// invocation writes the same entry once.
    async fn record(&self, event_key: String, text: &str) -> Result<(), HandlerError> {
        let trigger = &self.incident.trigger;
        let event = TimelineEvent {
            incident_id: self.incident.id.clone(),
            event_key,
            at: self.now,
            kind: TimelineKind::Step,
            alarm_name: trigger.alarm_name.clone(),
            series: trigger.alarm_arn.clone(),
            // Steps do not change the alarm; the incident runs its runbook in ALARM.
            state: AlarmState::Alarm,
            summary: summary(text),
            mention: None,
        };
        self.store().append_timeline(&event).await?;
        Ok(())
    }

    /// Why this run has nothing more to do, if it has not.
    fn superseded(&self) -> Option<String> {
        if !self.incident.status.is_active() {
            return Some(format!(
                "incident {} was resolved meanwhile",
                self.incident.id
            ));
        }
        (self.incident.reopen_count != self.episode).then(|| {
            format!(
                "incident {} was reopened; the reopened incident runs its own runbook",
                self.incident.id
            )
        })
    }

    /// Ends the runbook: a `verify` or `resolve` first reads the triggering alarm (see
    /// [`Next::concluded`]) and records what it said on the timeline.
    async fn conclude(
        &self,
        next: Next,
        outputs: Outputs,
        finished: Option<(String, StepOutcome)>,
        branches: Vec<BranchTaken>,
    ) -> Result<Response, HandlerError> {
        if !matches!(next, Next::Verify | Next::Resolve { .. }) {
            return Ok(self.respond(next, outputs, None, finished, branches));
        }
        let alarm = &self.incident.trigger.alarm_name;
        let (next, verified) = match self.actions().alarm_state(alarm).await {
            Ok(info) => {
                let outcome = StepOutcome::succeeded(summary(&format!(
                    "{alarm} is {}: {}",
                    info.state, info.reason
                )))
                .with("state", info.state.as_str())
                .with("reason", info.reason.as_str());
                let policy = self
                    .handler
                    .config
                    .plans
                    .get(&self.incident.plan)
                    .map(|plan| plan.insufficient_data)
                    .unwrap_or_default();
                let next = match AlarmState::parse(&info.state) {
                    Some(state) => next.concluded(alarm, state, policy),
                    None => Next::Escalate {
                        step: None,
                        reason: format!("{alarm} reports an unknown state `{}`", info.state),
                    },
                };
                (next, outcome)
            }
            Err(error) if error.is_retryable() => {
                return Err(HandlerError::Retryable(error.to_string()))
            }
            Err(error) => {
                let reason = summary(&format!("could not read {alarm}: {error}"));
                (
                    Next::Escalate {
                        step: None,
                        reason: reason.clone(),
                    },
                    StepOutcome::with_status(StepStatus::Failed, reason),
                )
            }
        };
        self.record(
            format!(
                "verify#{}",
                step_key(&self.incident.id, self.episode, outputs.runs, "end")
            ),
            &format!(
                "alarm.state at the end of the runbook {}: {}",
                verified.status.as_str(),
                verified.summary
            ),
        )
        .await?;
        let mut response = self.respond(next, outputs, None, finished, branches);
        response.verified = Some(verified);
        Ok(response)
    }

    async fn flow(&self, transition: Transition) -> Result<Response, HandlerError> {
        self.conclude(
            transition.next,
            self.request.outputs.clone(),
            None,
            transition.branches,
        )
        .await
    }

    async fn run(&self) -> Result<Response, HandlerError> {
        if let Some(reason) = self.superseded() {
            return Ok(self.respond(
                Next::Stop { reason },
                self.request.outputs.clone(),
                None,
                None,
                Vec::new(),
            ));
        }
        if matches!(self.request.next, Some(Next::Wait { then: None, .. })) {
            return self
                .flow(Transition {
                    next: Next::Verify,
                    branches: Vec::new(),
                })
                .await;
        }
        if let Some(pending) = &self.request.pending {
            return match self.poll(pending).await? {
                Progress::Running(pending) => Ok(self.running(pending, Vec::new())),
                Progress::Finished(outcome) => {
                    self.finish(&pending.step, pending.run, outcome, Vec::new())
                        .await
                }
            };
        }
        let outputs = &self.request.outputs;
        let planned = match &self.request.position {
            None => start(self.runbook, self.facts, outputs),
            Some(position) => next_action(self.runbook, position, self.facts, outputs),
        };
        match planned {
            Planned::Flow(transition) => self.flow(transition).await,
            Planned::Refused {
                step,
                error,
                outcome,
                branches,
            } => {
                tracing::warn!(
                    incident_id = %self.incident.id,
                    step = %step,
                    error = %error,
                    "step input refused; not executed"
                );
                self.finish(&step, outputs.runs, outcome, branches).await
            }
            Planned::Execute {
                step,
                input,
                branches,
            } => {
                let run = outputs.runs;
                match self.execute(&step, run, &input).await? {
                    Progress::Running(pending) => Ok(self.running(pending, branches)),
                    Progress::Finished(outcome) => self.finish(&step, run, outcome, branches).await,
                }
            }
        }
    }

    fn running(&self, pending: Pending, branches: Vec<BranchTaken>) -> Response {
        let step = pending.step.clone();
        self.respond(
            Next::Poll { step },
            self.request.outputs.clone(),
            Some(pending),
            None,
            branches,
        )
    }

    /// Records the outcome on the timeline and follows the interpreter's transition.
    async fn finish(
        &self,
        step: &str,
        run: u32,
        outcome: StepOutcome,
        mut branches: Vec<BranchTaken>,
    ) -> Result<Response, HandlerError> {
        let action = self.runbook.step(step).map_or("step", |s| s.action.name());
        self.record(
            format!(
                "step#{}",
                step_key(&self.incident.id, self.episode, run, step)
            ),
            &format!(
                "{action} `{step}` {}: {}",
                outcome.status.as_str(),
                outcome.summary
            ),
        )
        .await?;
        let transition = after_step(
            self.runbook,
            step,
            &outcome,
            self.facts,
            &self.request.outputs,
        );
        let mut outputs = self.request.outputs.clone();
        outputs.record(step, outcome.clone());
        branches.extend(transition.branches);
        self.conclude(
            transition.next,
            outputs,
            Some((step.to_string(), outcome)),
            branches,
        )
        .await
    }

    /// A failed call: retryable ones become the invocation's error (the state machine
    /// retries the whole step), the others the step's failed outcome.
    fn failed(&self, error: ActionError) -> Result<Progress, HandlerError> {
        if error.is_retryable() {
            Err(HandlerError::Retryable(error.to_string()))
        } else {
            Ok(Progress::Finished(StepOutcome::with_status(
                StepStatus::Failed,
                summary(&error.to_string()),
            )))
        }
    }

    async fn execute(
        &self,
        step: &str,
        run: u32,
        input: &RenderedAction,
    ) -> Result<Progress, HandlerError> {
        let exec = Execution {
            incident: self.incident,
            episode: self.episode,
            step,
            run,
            now: self.now,
        };
        match input {
            RenderedAction::RunCommand {
                document,
                parameters,
                targets,
                timeout_seconds,
                output_limit,
            } => {
                let started = |command_id: String, started_at: DateTime<Utc>| Pending {
                    step: step.to_string(),
                    run,
                    handle: PendingHandle::RunCommand {
                        command_id,
                        targets: targets.clone(),
                        output_limit: *output_limit,
                    },
                    started_at,
                    deadline: started_at
                        + Duration::seconds(
                            i64::try_from(*timeout_seconds).unwrap_or(i64::MAX / 2)
                                + COMMAND_GRACE_SECS,
                        ),
                    polls: 0,
                };
                if let Some(existing) = self.store().claim_step(&exec.claim(None)).await? {
                    return Ok(match existing.handle {
                        Some(id) => Progress::Running(started(id, existing.claimed_at)),
                        None => uncertain(step),
                    });
                }
                let request = CommandRequest {
                    document: document.clone(),
                    parameters: parameters.clone(),
                    targets: targets.clone(),
                    timeout_seconds: *timeout_seconds,
                    comment: format!("quench {} {step}", self.incident.id),
                };
                match self.actions().send_command(&request).await {
                    Ok(id) => {
                        self.store()
                            .record_step_handle(&exec.claim(Some(id.clone())))
                            .await?;
                        Ok(Progress::Running(started(id, self.now)))
                    }
                    Err(error) => {
                        self.store().release_step(&exec.claim(None)).await?;
                        self.failed(error)
                    }
                }
            }
            RenderedAction::Automation {
                document,
                parameters,
                timeout_seconds,
            } => {
                let started = |execution_id: String, started_at: DateTime<Utc>| Pending {
                    step: step.to_string(),
                    run,
                    handle: PendingHandle::Automation { execution_id },
                    started_at,
                    deadline: started_at
                        + Duration::seconds(
                            i64::try_from(*timeout_seconds).unwrap_or(i64::MAX / 2)
                                + AUTOMATION_GRACE_SECS,
                        ),
                    polls: 0,
                };
                let existing = self.store().claim_step(&exec.claim(None)).await?;
                let started_at = existing.as_ref().map_or(self.now, |c| c.claimed_at);
                if let Some(id) = existing.and_then(|c| c.handle) {
                    return Ok(Progress::Running(started(id, started_at)));
                }
                // With the same ClientToken, a start that did happen returns the same
                // execution instead of a second one: safe to call again.
                let token = client_token(&self.incident.id, self.episode, run, step);
                match self
                    .actions()
                    .start_automation(document, parameters, &token)
                    .await
                {
                    Ok(id) => {
                        self.store()
                            .record_step_handle(&exec.claim(Some(id.clone())))
                            .await?;
                        Ok(Progress::Running(started(id, started_at)))
                    }
                    Err(error) => {
                        self.store().release_step(&exec.claim(None)).await?;
                        self.failed(error)
                    }
                }
            }
            RenderedAction::Ec2Reboot { instance } => {
                let rebooted = || {
                    StepOutcome::succeeded(format!("reboot of {instance} requested"))
                        .with("instance", instance.as_str())
                };
                if let Some(existing) = self.store().claim_step(&exec.claim(None)).await? {
                    return Ok(match existing.handle {
                        Some(_) => Progress::Finished(rebooted()),
                        None => uncertain(step),
                    });
                }
                match self.actions().reboot(instance).await {
                    Ok(()) => {
                        self.store()
                            .record_step_handle(&exec.claim(Some(DONE.into())))
                            .await?;
                        Ok(Progress::Finished(rebooted()))
                    }
                    Err(error) => {
                        self.store().release_step(&exec.claim(None)).await?;
                        self.failed(error)
                    }
                }
            }
            RenderedAction::Ec2Status { instance } => {
                match self.actions().instance_status(instance).await {
                    Ok(status) => Ok(Progress::Finished(
                        StepOutcome::succeeded(format!(
                            "{instance}: {}, instance status {}, system status {}",
                            status.instance_state, status.instance_status, status.system_status
                        ))
                        .with("instance_state", status.instance_state)
                        .with("instance_status", status.instance_status)
                        .with("system_status", status.system_status),
                    )),
                    Err(error) => self.failed(error),
                }
            }
            RenderedAction::AlarmState { alarm } => match self.actions().alarm_state(alarm).await {
                Ok(state) => Ok(Progress::Finished(
                    StepOutcome::succeeded(format!("{alarm} is {}: {}", state.state, state.reason))
                        .with("state", state.state)
                        .with("reason", state.reason),
                )),
                Err(error) => self.failed(error),
            },
            RenderedAction::MetricQuery {
                namespace,
                metric,
                dimensions,
                stat,
                period_seconds,
                minutes,
            } => {
                let request = MetricRequest {
                    namespace: namespace.clone(),
                    metric: metric.clone(),
                    dimensions: dimensions.clone(),
                    stat: stat.clone(),
                    period_seconds: *period_seconds,
                    start: self.now - Duration::minutes(i64::from(*minutes)),
                    end: self.now,
                };
                match self.actions().metric_query(&request).await {
                    Ok(points) => Ok(Progress::Finished(metric_outcome(&request, &points))),
                    Err(error) => self.failed(error),
                }
            }
            RenderedAction::Note { text } => {
                Ok(Progress::Finished(StepOutcome::succeeded(summary(text))))
            }
        }
    }

    async fn poll(&self, pending: &Pending) -> Result<Progress, HandlerError> {
        let over = self.now >= pending.deadline || pending.polls >= MAX_POLLS;
        let still_running = |pending: &Pending| {
            if over {
                Progress::Finished(StepOutcome::with_status(
                    StepStatus::TimedOut,
                    format!(
                        "no final status after {} polls since {}",
                        pending.polls,
                        pending.started_at.to_rfc3339()
                    ),
                ))
            } else {
                Progress::Running(Pending {
                    polls: pending.polls.saturating_add(1),
                    ..pending.clone()
                })
            }
        };
        match &pending.handle {
            PendingHandle::RunCommand {
                command_id,
                targets,
                output_limit,
            } => {
                let mut done = Vec::with_capacity(targets.len());
                for target in targets {
                    match self
                        .actions()
                        .command_result(command_id, target, *output_limit)
                        .await
                    {
                        Ok(CommandResult::Pending) => return Ok(still_running(pending)),
                        Ok(CommandResult::Finished(finished)) => done.push((target, finished)),
                        Err(error) => return self.failed(error),
                    }
                }
                Ok(Progress::Finished(command_outcome(
                    command_id,
                    *output_limit,
                    &done,
                )))
            }
            PendingHandle::Automation { execution_id } => {
                match self.actions().automation_result(execution_id).await {
                    Ok(AutomationResult::Pending) => Ok(still_running(pending)),
                    Ok(AutomationResult::Finished(finished)) => {
                        let mut outcome = StepOutcome::with_status(
                            finished.status,
                            summary(&match &finished.failure {
                                Some(why) => {
                                    format!("automation {execution_id} {}: {why}", finished.detail)
                                }
                                None => format!("automation {execution_id} {}", finished.detail),
                            }),
                        )
                        .with("execution_id", execution_id.as_str())
                        .with("status", finished.detail.as_str());
                        for (name, values) in &finished.outputs {
                            outcome = outcome.with(name, values.join("\n"));
                        }
                        Ok(Progress::Finished(outcome))
                    }
                    Err(error) => self.failed(error),
                }
            }
        }
    }
}

/// A claim without a recorded result: an earlier attempt may have acted and died before
/// recording it. Acting again could do it twice, so the step fails and says why.
fn uncertain(step: &str) -> Progress {
    Progress::Finished(StepOutcome::with_status(
        StepStatus::Failed,
        format!(
            "an earlier attempt of `{step}` may have acted but did not record it; not acting twice"
        ),
    ))
}

fn command_outcome(
    command_id: &str,
    output_limit: u32,
    done: &[(&String, quench_core::ports::CommandFinished)],
) -> StepOutcome {
    let worst = done
        .iter()
        .map(|(_, f)| f.status)
        .max_by_key(|s| match s {
            StepStatus::Succeeded => 0,
            StepStatus::TimedOut => 1,
            StepStatus::Failed => 2,
            StepStatus::Refused => 3,
        })
        .unwrap_or(StepStatus::Failed);
    let (stdout, stderr) = match done {
        [(_, one)] => (one.stdout.clone(), one.stderr.clone()),
        many => {
            let join = |pick: &dyn Fn(&quench_core::ports::CommandFinished) -> &str| {
                let text: String = many
                    .iter()
                    .map(|(target, f)| format!("== {target} ==\n{}\n", pick(f)))
                    .collect();
                sanitize_output(&text, output_limit)
            };
            (join(&|f| &f.stdout), join(&|f| &f.stderr))
        }
    };
    let exit_code = done
        .iter()
        .map(|(_, f)| f.exit_code)
        .find(|code| *code != 0)
        .unwrap_or(0);
    let statuses: Vec<String> = done
        .iter()
        .map(|(target, f)| format!("{target} {} (exit {})", f.detail, f.exit_code))
        .collect();
    let mut line = format!("command {command_id}: {}", statuses.join(", "));
    let shown = if stdout.trim().is_empty() {
        &stderr
    } else {
        &stdout
    };
    if !shown.trim().is_empty() {
        line.push('\n');
        line.push_str(shown.trim_end());
    }
    StepOutcome::with_status(worst, summary(&line))
        .with("stdout", stdout)
        .with("stderr", stderr)
        .with("exit_code", exit_code)
        .with("command_id", command_id)
}

fn metric_outcome(
    request: &MetricRequest,
    points: &[quench_core::ports::Datapoint],
) -> StepOutcome {
    let count = i64::try_from(points.len()).unwrap_or(i64::MAX);
    let mut outcome = StepOutcome::succeeded(format!(
        "{}/{} {}: {count} datapoints",
        request.namespace, request.metric, request.stat
    ))
    .with("datapoints", count);
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    if let (Some(latest), false) = (values.last(), values.is_empty()) {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let average = values.iter().sum::<f64>() / values.len() as f64;
        for (key, value) in [
            ("latest", *latest),
            ("minimum", min),
            ("maximum", max),
            ("average", average),
        ] {
            if let Some(v) = number(value) {
                outcome.output.insert(key.to_string(), v);
            }
        }
        outcome.summary.push_str(&format!(", latest {latest}"));
    }
    outcome
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
