//! Acting on a step: the rendered action of the step the interpreter planned. Steps that
//! act (`run_command`, `automation`, `ec2.reboot`) claim the step first (see the crate
//! doc's Idempotency); the others only read.

use chrono::{DateTime, Duration, Utc};
use quench_aws::handler::HandlerError;
use quench_core::incident::IncidentRecord;
use quench_core::ports::{
    client_token, ActionRunner, CommandRequest, MetricRequest, StepClaim, StepStore,
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
                        failed(error)
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
                        failed(error)
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
                        failed(error)
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
                    Err(error) => failed(error),
                }
            }
            RenderedAction::AlarmState { alarm } => match self.actions().alarm_state(alarm).await {
                Ok(state) => Ok(Progress::Finished(
                    StepOutcome::succeeded(format!("{alarm} is {}: {}", state.state, state.reason))
                        .with("state", state.state)
                        .with("reason", state.reason),
                )),
                Err(error) => failed(error),
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
                    Err(error) => failed(error),
                }
            }
            RenderedAction::Note { text } => {
                Ok(Progress::Finished(StepOutcome::succeeded(summary(text))))
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
