//! Acting on a step: the rendered action of the step the interpreter planned, one
//! function per kind of action. The steps that act (`run_command`, `automation`,
//! `ec2.reboot`) go through [`Turn::act_once`], the one place that claims the step,
//! records what the action returned, keeps the claim when the call may have acted, and
//! finds out what an earlier attempt did before acting again (the crate doc's
//! Idempotency); the others only read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use quench_aws::handler::HandlerError;
use quench_core::incident::IncidentRecord;
use quench_core::ports::{
    client_token, step_marker, ActionError, ActionRunner, CommandRequest, MetricRequest, StepClaim,
    StepStore,
};
use quench_core::runbook::limits::{poll_budget, POLL_GRACE_SECS};
use quench_core::runbook::{OutputValue, RenderedAction, StepOutcome};

use crate::outcome::{failed, summary, Progress};
use crate::turn::Turn;
use crate::{Pending, PendingHandle};

/// Handle recorded on a claim whose action has no id of its own (a reboot).
const DONE: &str = "done";
/// Handle recorded on a reboot whose answer was lost: it may have happened, so it counts
/// as requested and is never requested again.
const UNCONFIRMED: &str = "unconfirmed";

/// The step's state while it executes: what the claim is keyed on.
struct Execution<'a> {
    incident: &'a IncidentRecord,
    episode: u32,
    step: &'a str,
    run: u32,
}

impl Execution<'_> {
    /// The claim taken at `claimed_at`, with what its action returned.
    fn claim(&self, claimed_at: DateTime<Utc>, handle: Option<String>) -> StepClaim {
        StepClaim {
            incident_id: self.incident.id.clone(),
            episode: self.episode,
            run: self.run,
            step: self.step.to_string(),
            claimed_at,
            handle,
        }
    }

    /// A command or automation of this step started at `started_at`, to be polled: it
    /// has timed out [`POLL_GRACE_SECS`] after its timeout, or at its last poll.
    fn pending(
        &self,
        handle: PendingHandle,
        started_at: DateTime<Utc>,
        timeout_seconds: u64,
    ) -> Pending {
        let allowed = timeout_seconds.saturating_add(POLL_GRACE_SECS);
        Pending {
            step: self.step.to_string(),
            run: self.run,
            handle,
            started_at,
            deadline: started_at
                + Duration::seconds(i64::try_from(allowed).unwrap_or(i64::MAX / 2)),
            polls: 0,
            max_polls: poll_budget(timeout_seconds),
        }
    }
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
                    marker: step_marker(&self.incident.id, self.episode, run, step),
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
    /// reused without acting. A claim without one (an earlier call may have acted, or
    /// the attempt died before recording it) is settled by `recover`: `Some(handle)`,
    /// it acted; `None`, it did not, and acting is safe. Otherwise `act` runs: the
    /// handle it returns is recorded on the claim; a call that failed without acting
    /// gives the claim back, one that may have acted keeps it for `recover` to settle on
    /// the retry. `acted` turns a handle and the time its action started into the step's
    /// progress.
    async fn act_once<Recover, RecoverFut, Act, ActFut>(
        &self,
        exec: &Execution<'_>,
        recover: Recover,
        act: Act,
        acted: impl FnOnce(String, DateTime<Utc>) -> Progress,
    ) -> Result<Progress, HandlerError>
    where
        Recover: FnOnce(DateTime<Utc>) -> RecoverFut,
        RecoverFut: Future<Output = Result<Option<String>, ActionError>>,
        Act: FnOnce() -> ActFut,
        ActFut: Future<Output = Result<String, ActionError>>,
    {
        let existing = self.store().claim_step(&exec.claim(self.now, None)).await?;
        let started_at = existing.as_ref().map_or(self.now, |c| c.claimed_at);
        if let Some(claim) = existing {
            let handle = match claim.handle {
                Some(handle) => Some(handle),
                None => match recover(claim.claimed_at).await {
                    Ok(Some(handle)) => {
                        self.store()
                            .record_step_handle(&exec.claim(started_at, Some(handle.clone())))
                            .await?;
                        Some(handle)
                    }
                    Ok(None) => None,
                    Err(error) => return failed(error),
                },
            };
            if let Some(handle) = handle {
                return Ok(acted(handle, started_at));
            }
        }
        match act().await {
            Ok(handle) => {
                self.store()
                    .record_step_handle(&exec.claim(started_at, Some(handle.clone())))
                    .await?;
                Ok(acted(handle, started_at))
            }
            Err(error) if error.may_have_acted() => failed(error),
            Err(error) => {
                self.store()
                    .release_step(&exec.claim(started_at, None))
                    .await?;
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
        // The command's comment carries the claim's marker: ListCommands tells whether an
        // attempt whose answer was lost sent it.
        self.act_once(
            exec,
            |claimed_at| self.actions().find_command(request, claimed_at),
            || self.actions().send_command(request),
            |command_id, started_at| {
                let handle = PendingHandle::RunCommand {
                    command_id,
                    targets: request.targets.clone(),
                    output_limit,
                };
                Progress::Running(exec.pending(handle, started_at, request.timeout_seconds))
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
            |_| async { Ok(None) },
            || {
                self.actions()
                    .start_automation(document, parameters, &token)
            },
            |execution_id, started_at| {
                let handle = PendingHandle::Automation { execution_id };
                Progress::Running(exec.pending(handle, started_at, timeout_seconds))
            },
        )
        .await
    }

    /// RebootInstances has no idempotency token, and a reboot leaves no trace to look
    /// up: one whose answer was lost may have happened, so it counts as requested and is
    /// never requested again. What DescribeInstanceStatus says then goes on the timeline;
    /// the runbook's own checks and the alarm read at its end tell whether it helped.
    async fn ec2_reboot(
        &self,
        exec: &Execution<'_>,
        instance: &str,
    ) -> Result<Progress, HandlerError> {
        let seen = Mutex::new(None);
        let recover = |_| async {
            let status = match self.actions().instance_status(instance).await {
                Ok(s) => format!(
                    "{}, instance status {}, system status {}",
                    s.instance_state, s.instance_status, s.system_status
                ),
                Err(error) => format!("its status could not be read: {error}"),
            };
            *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
            Ok(Some(UNCONFIRMED.to_string()))
        };
        let reboot = || async {
            self.actions()
                .reboot(instance)
                .await
                .map(|()| DONE.to_string())
        };
        self.act_once(exec, recover, reboot, |handle, _| {
            let text = if handle == UNCONFIRMED {
                let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
                format!(
                    "reboot of {instance}: the answer to an earlier request was lost, so it counts as requested and is not requested again (now {})",
                    seen.as_deref().unwrap_or("not read")
                )
            } else {
                format!("reboot of {instance} requested")
            };
            Progress::Finished(StepOutcome::succeeded(text).with("instance", instance))
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
