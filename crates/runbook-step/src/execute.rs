//! Acting on a step: the rendered action of the step the interpreter planned, one
//! function per kind of action. The steps that act (`run_command`, `automation`,
//! `ec2.reboot`) go through [`Turn::act_once`], the one place that claims the step,
//! records what the action returned and gives the claim back when it failed (the crate
//! doc's Idempotency); the others only read.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use quench_aws::handler::HandlerError;
use quench_core::incident::IncidentRecord;
use quench_core::ports::{
    client_token, ActionError, ActionRunner, CommandRequest, MetricRequest, StepClaim, StepStore,
};
use quench_core::runbook::{OutputValue, RenderedAction, StepOutcome, StepStatus};

use crate::outcome::{failed, summary, Progress};
use crate::turn::Turn;
use crate::{Pending, PendingHandle};

/// Added to a command's timeout before polling gives up: delivery and reporting lag.
const COMMAND_GRACE_SECS: i64 = 120;
const AUTOMATION_GRACE_SECS: i64 = 120;
/// Handle recorded on a claim whose action has no id of its own (a reboot).
const DONE: &str = "done";

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

    /// A command or automation of this step started at `started_at`, to be polled: it
    /// has timed out `timeout_seconds` plus `grace_seconds` later.
    fn pending(
        &self,
        handle: PendingHandle,
        started_at: DateTime<Utc>,
        timeout_seconds: u64,
        grace_seconds: i64,
    ) -> Pending {
        Pending {
            step: self.step.to_string(),
            run: self.run,
            handle,
            started_at,
            deadline: started_at
                + Duration::seconds(
                    i64::try_from(timeout_seconds).unwrap_or(i64::MAX / 2) + grace_seconds,
                ),
            polls: 0,
        }
    }
}

/// What [`Turn::act_once`] does with a claim an earlier attempt left without a handle.
#[derive(Debug, Clone, Copy)]
enum Unrecorded {
    /// The earlier attempt may have acted: the step fails rather than act twice.
    Fail,
    /// Acting again is safe (the call carries an idempotency token): act, and count the
    /// action as started when the step was first claimed.
    ActAgain,
}

impl<S, A> Turn<'_, S, A>
where
    S: StepStore + Sync,
    A: ActionRunner + Sync,
{
    pub(crate) async fn execute(
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
                let request = CommandRequest {
                    document: document.clone(),
                    parameters: parameters.clone(),
                    targets: targets.clone(),
                    timeout_seconds: *timeout_seconds,
                    comment: format!("quench {} {step}", self.incident.id),
                };
                self.run_command(&exec, &request, *output_limit).await
            }
            RenderedAction::Automation {
                document,
                parameters,
                timeout_seconds,
            } => {
                self.automation(&exec, document, parameters, *timeout_seconds)
                    .await
            }
            RenderedAction::Ec2Reboot { instance } => self.ec2_reboot(&exec, instance).await,
            RenderedAction::Ec2Status { instance } => self.ec2_status(instance).await,
            RenderedAction::AlarmState { alarm } => self.alarm_state(alarm).await,
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
                self.metric_query(&request).await
            }
            RenderedAction::Note { text } => {
                Ok(Progress::Finished(StepOutcome::succeeded(summary(text))))
            }
        }
    }

    /// Claims the step, then acts at most once. A handle an earlier attempt recorded is
    /// reused without acting; a claim without one is handled as `unrecorded` says.
    /// Otherwise `act` runs: the handle it returns is recorded on the claim, and a failed
    /// call gives the claim back. `acted` turns a handle and the time its action started
    /// into the step's progress.
    async fn act_once<Act, Fut>(
        &self,
        exec: &Execution<'_>,
        unrecorded: Unrecorded,
        act: Act,
        acted: impl FnOnce(String, DateTime<Utc>) -> Progress,
    ) -> Result<Progress, HandlerError>
    where
        Act: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, ActionError>>,
    {
        let existing = self.store().claim_step(&exec.claim(None)).await?;
        let started_at = existing.as_ref().map_or(self.now, |c| c.claimed_at);
        if let Some(claim) = existing {
            match (claim.handle, unrecorded) {
                (Some(handle), _) => return Ok(acted(handle, started_at)),
                (None, Unrecorded::Fail) => return Ok(uncertain(exec.step)),
                (None, Unrecorded::ActAgain) => {}
            }
        }
        match act().await {
            Ok(handle) => {
                self.store()
                    .record_step_handle(&exec.claim(Some(handle.clone())))
                    .await?;
                Ok(acted(handle, started_at))
            }
            Err(error) => {
                self.store().release_step(&exec.claim(None)).await?;
                failed(error)
            }
        }
    }

    async fn run_command(
        &self,
        exec: &Execution<'_>,
        request: &CommandRequest,
        output_limit: u32,
    ) -> Result<Progress, HandlerError> {
        self.act_once(
            exec,
            Unrecorded::Fail,
            || self.actions().send_command(request),
            |command_id, started_at| {
                let handle = PendingHandle::RunCommand {
                    command_id,
                    targets: request.targets.clone(),
                    output_limit,
                };
                Progress::Running(exec.pending(
                    handle,
                    started_at,
                    request.timeout_seconds,
                    COMMAND_GRACE_SECS,
                ))
            },
        )
        .await
    }

    async fn automation(
        &self,
        exec: &Execution<'_>,
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        timeout_seconds: u64,
    ) -> Result<Progress, HandlerError> {
        // With the same ClientToken, a start that did happen returns the same execution
        // instead of a second one: safe to call again.
        let token = client_token(&exec.incident.id, exec.episode, exec.run, exec.step);
        self.act_once(
            exec,
            Unrecorded::ActAgain,
            || {
                self.actions()
                    .start_automation(document, parameters, &token)
            },
            |execution_id, started_at| {
                let handle = PendingHandle::Automation { execution_id };
                Progress::Running(exec.pending(
                    handle,
                    started_at,
                    timeout_seconds,
                    AUTOMATION_GRACE_SECS,
                ))
            },
        )
        .await
    }

    async fn ec2_reboot(
        &self,
        exec: &Execution<'_>,
        instance: &str,
    ) -> Result<Progress, HandlerError> {
        let reboot = || async {
            self.actions()
                .reboot(instance)
                .await
                .map(|()| DONE.to_string())
        };
        self.act_once(exec, Unrecorded::Fail, reboot, |_, _| {
            Progress::Finished(
                StepOutcome::succeeded(format!("reboot of {instance} requested"))
                    .with("instance", instance),
            )
        })
        .await
    }

    async fn ec2_status(&self, instance: &str) -> Result<Progress, HandlerError> {
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
            Err(error) => failed(error),
        }
    }

    async fn alarm_state(&self, alarm: &str) -> Result<Progress, HandlerError> {
        match self.actions().alarm_state(alarm).await {
            Ok(state) => Ok(Progress::Finished(
                StepOutcome::succeeded(format!("{alarm} is {}: {}", state.state, state.reason))
                    .with("state", state.state)
                    .with("reason", state.reason),
            )),
            Err(error) => failed(error),
        }
    }

    async fn metric_query(&self, request: &MetricRequest) -> Result<Progress, HandlerError> {
        match self.actions().metric_query(request).await {
            Ok(points) => Ok(Progress::Finished(metric_outcome(request, &points))),
            Err(error) => failed(error),
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

fn number(value: f64) -> Option<OutputValue> {
    serde_json::Number::from_f64(value).map(OutputValue::Number)
}
