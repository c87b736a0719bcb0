//! One invocation's flow: whether the run still has work ([`Turn::run`]), the earlier
//! outcomes this turn reads (from the table), executing or polling its step, recording
//! the finished step (its outcome in the table, a line on the timeline), following the
//! interpreter's transition, reading the alarm when the runbook ends, and the response.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use quench_aws::handler::HandlerError;
use quench_core::alarm::AlarmState;
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{step_key, ActionRunner, StepRun, StepStore};
use quench_core::runbook::limits::poll_wait;
use quench_core::runbook::scope::Facts;
use quench_core::runbook::{
    after_step, next_action, read_after, read_at, start, BranchTaken, Next, Outputs, Planned,
    Runbook, StepOutcome, StepStatus, Transition,
};

use crate::outcome::{summary, Progress};
use crate::{Handler, IncidentRef, OutputRefs, Pending, Request, Response, StepReport};

/// One invocation's worth of context.
pub(crate) struct Turn<'a, S, A> {
    pub(crate) handler: &'a Handler<S, A>,
    pub(crate) request: &'a Request,
    pub(crate) runbook: &'a Runbook,
    pub(crate) incident: &'a IncidentRecord,
    /// The incident's reopen count this run belongs to.
    pub(crate) episode: u32,
    pub(crate) facts: &'a Facts,
    pub(crate) now: DateTime<Utc>,
}

impl<S, A> Turn<'_, S, A>
where
    S: StepStore + Sync,
    A: ActionRunner + Sync,
{
    pub(crate) fn store(&self) -> &S {
        &self.handler.store
    }

    pub(crate) fn actions(&self) -> &A {
        &self.handler.actions
    }

    fn step_run(&self, step: &str, run: u32) -> StepRun {
        StepRun {
            incident_id: self.incident.id.clone(),
            episode: self.episode,
            run,
            step: step.to_string(),
        }
    }

    /// The outcomes of `steps` that have run, read back from the table; the request says
    /// under which run each is stored.
    async fn outputs(&self, steps: BTreeSet<String>) -> Result<Outputs, HandlerError> {
        let refs = &self.request.outputs;
        let mut outputs = Outputs {
            runs: refs.runs,
            ..Outputs::default()
        };
        for step in steps {
            let Some(&run) = refs.steps.get(&step) else {
                continue;
            };
            let outcome = self
                .store()
                .outcome(&self.step_run(&step, run))
                .await?
                .ok_or_else(|| {
                    HandlerError::InvalidRequest(format!(
                        "no outcome of step `{step}` (run {run}) is recorded for incident {}",
                        self.incident.id
                    ))
                })?;
            outputs.steps.insert(step, outcome);
        }
        Ok(outputs)
    }

    /// The response; the branches taken go to the log, not the state.
    fn respond(
        &self,
        next: Next,
        outputs: OutputRefs,
        pending: Option<Pending>,
        finished: Option<(String, StepReport)>,
        branches: &[BranchTaken],
    ) -> Response {
        for branch in branches {
            tracing::info!(incident_id = %self.incident.id, %branch, "runbook branch");
        }
        let (wait_seconds, position) = match &next {
            Next::Step { step } => (0, Some(step.clone())),
            Next::Poll { step } => {
                let wait = poll_wait(pending.as_ref().map_or(0, |p| p.polls));
                (self.handler.cap(wait), Some(step.clone()))
            }
            Next::Wait { seconds, then, .. } => (self.handler.cap(*seconds), then.clone()),
            Next::Resolve { .. } | Next::Escalate { .. } | Next::Verify | Next::Stop { .. } => {
                (0, None)
            }
        };
        let (step, outcome) = finished.unzip();
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
        outputs: OutputRefs,
        finished: Option<(String, StepReport)>,
        branches: &[BranchTaken],
    ) -> Result<Response, HandlerError> {
        if !matches!(next, Next::Verify | Next::Resolve { .. }) {
            return Ok(self.respond(next, outputs, None, finished, branches));
        }
        let (next, verified) = self.verify_alarm(next).await?;
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
        response.verified = Some(StepReport::from(&verified));
        Ok(response)
    }

    /// Reads the triggering alarm at the end of the runbook: `next` as the alarm's state
    /// concludes it (an unreadable or unknown state escalates), and what the alarm said.
    async fn verify_alarm(&self, next: Next) -> Result<(Next, StepOutcome), HandlerError> {
        let alarm = &self.incident.trigger.alarm_name;
        match self.actions().alarm_state(alarm).await {
            Ok(info) => {
                let outcome = StepOutcome::succeeded(summary(&format!(
                    "{alarm} is {}: {}",
                    info.state, info.reason
                )));
                let policy = self
                    .handler
                    .config
                    .plans
                    .get(&self.incident.plan)
                    .map(|plan| plan.insufficient_data)
                    .unwrap_or_default();
                let next = match AlarmState::parse(&info.state) {
                    Some(state) => next.concluded(alarm, state, policy, self.now),
                    None => Next::Escalate {
                        step: None,
                        reason: format!("{alarm} reports an unknown state `{}`", info.state),
                    },
                };
                Ok((next, outcome))
            }
            Err(error) if error.is_retryable() => Err(HandlerError::Retryable(error.to_string())),
            Err(error) => {
                let reason = summary(&format!("could not read {alarm}: {error}"));
                Ok((
                    Next::Escalate {
                        step: None,
                        reason: reason.clone(),
                    },
                    StepOutcome::with_status(StepStatus::Failed, reason),
                ))
            }
        }
    }

    async fn flow(&self, transition: Transition) -> Result<Response, HandlerError> {
        self.conclude(
            transition.next,
            self.request.outputs.clone(),
            None,
            &transition.branches,
        )
        .await
    }

    pub(crate) async fn run(&self) -> Result<Response, HandlerError> {
        if let Some(reason) = self.superseded() {
            return Ok(self.respond(
                Next::Stop { reason },
                self.request.outputs.clone(),
                None,
                None,
                &[],
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
                Progress::Running(pending) => Ok(self.running(pending, &[])),
                Progress::Finished(outcome) => {
                    let outputs = self
                        .outputs(read_after(self.runbook, &pending.step))
                        .await?;
                    self.finish(&pending.step, pending.run, outcome, &outputs, Vec::new())
                        .await
                }
            };
        }
        let position = match &self.request.position {
            Some(position) => Some(position.as_str()),
            None => self.runbook.steps.first().map(|step| step.id.as_str()),
        };
        let reads = position.map_or_else(BTreeSet::new, |p| read_at(self.runbook, p));
        let outputs = self.outputs(reads).await?;
        let planned = match &self.request.position {
            None => start(self.runbook, self.facts, &outputs),
            Some(position) => next_action(self.runbook, position, self.facts, &outputs),
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
                self.finish(&step, outputs.runs, outcome, &outputs, branches)
                    .await
            }
            Planned::Execute {
                step,
                input,
                branches,
            } => {
                let run = outputs.runs;
                match self.execute(&step, run, &input).await? {
                    Progress::Running(pending) => Ok(self.running(pending, &branches)),
                    Progress::Finished(outcome) => {
                        self.finish(&step, run, outcome, &outputs, branches).await
                    }
                }
            }
        }
    }

    fn running(&self, pending: Pending, branches: &[BranchTaken]) -> Response {
        let step = pending.step.clone();
        self.respond(
            Next::Poll { step },
            self.request.outputs.clone(),
            Some(pending),
            None,
            branches,
        )
    }

    /// Records the outcome in the table (the first recorded wins, so a retried invocation
    /// goes on from the same outcome) and on the timeline, and follows the interpreter's
    /// transition. `outputs` holds what the transition reads.
    async fn finish(
        &self,
        step: &str,
        run: u32,
        outcome: StepOutcome,
        outputs: &Outputs,
        mut branches: Vec<BranchTaken>,
    ) -> Result<Response, HandlerError> {
        let outcome = self
            .store()
            .record_outcome(&self.step_run(step, run), &outcome)
            .await?;
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
        let transition = after_step(self.runbook, step, &outcome, self.facts, outputs);
        let mut refs = self.request.outputs.clone();
        refs.record(step, run);
        branches.extend(transition.branches);
        self.conclude(
            transition.next,
            refs,
            Some((step.to_string(), StepReport::from(&outcome))),
            &branches,
        )
        .await
    }
}
