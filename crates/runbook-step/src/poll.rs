//! Polling a command or automation that an earlier invocation started: when it has
//! timed out, and what its finished invocations come to. How long to wait between polls
//! is [`poll_wait`](quench_core::runbook::limits::poll_wait), shared with validation.

use chrono::{DateTime, Utc};
use quench_aws::handler::HandlerError;
use quench_core::ports::{
    ActionRunner, AutomationFinished, AutomationResult, CommandResult, StepStore,
};
use quench_core::runbook::{StepOutcome, StepStatus};
use quench_core::text::sanitize_output;

use crate::outcome::{failed, summary, Progress};
use crate::turn::Turn;
use crate::{Pending, PendingHandle};

/// Bytes of an automation's outputs (names and values) kept with its outcome: as much as
/// a command's two streams at their limit, so a step's outcome always fits in one item.
const AUTOMATION_OUTPUTS_LIMIT: usize = 48_000;

impl<S, A> Turn<'_, S, A>
where
    S: StepStore + Sync,
    A: ActionRunner + Sync,
{
    pub(crate) async fn poll(&self, pending: &Pending) -> Result<Progress, HandlerError> {
        match &pending.handle {
            PendingHandle::RunCommand {
                command_id,
                targets,
                output_limit,
            } => {
                self.poll_command(pending, command_id, targets, *output_limit)
                    .await
            }
            PendingHandle::Automation { execution_id } => {
                self.poll_automation(pending, execution_id).await
            }
        }
    }

    /// Finished once the command finished on every target.
    async fn poll_command(
        &self,
        pending: &Pending,
        command_id: &str,
        targets: &[String],
        output_limit: u32,
    ) -> Result<Progress, HandlerError> {
        let mut done = Vec::with_capacity(targets.len());
        for target in targets {
            match self
                .actions()
                .command_result(command_id, target, output_limit)
                .await
            {
                Ok(CommandResult::Pending) => return Ok(still_running(pending, self.now)),
                Ok(CommandResult::Finished(finished)) => done.push((target, finished)),
                Err(error) => return failed(error),
            }
        }
        Ok(Progress::Finished(command_outcome(
            command_id,
            output_limit,
            &done,
        )))
    }

    async fn poll_automation(
        &self,
        pending: &Pending,
        execution_id: &str,
    ) -> Result<Progress, HandlerError> {
        match self.actions().automation_result(execution_id).await {
            Ok(AutomationResult::Pending) => Ok(still_running(pending, self.now)),
            Ok(AutomationResult::Finished(finished)) => Ok(Progress::Finished(automation_outcome(
                execution_id,
                &finished,
            ))),
            Err(error) => failed(error),
        }
    }
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

/// No final status yet: poll again, unless the deadline has passed or this was the last
/// poll the step's timeout allows.
fn still_running(pending: &Pending, now: DateTime<Utc>) -> Progress {
    if now >= pending.deadline || pending.polls.saturating_add(1) >= pending.max_polls {
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
}

fn automation_outcome(execution_id: &str, finished: &AutomationFinished) -> StepOutcome {
    let mut kept = Vec::new();
    let mut size = 0usize;
    for (name, values) in &finished.outputs {
        let value = values.join("\n");
        size = size.saturating_add(name.len() + value.len());
        if size > AUTOMATION_OUTPUTS_LIMIT {
            break;
        }
        kept.push((name, value));
    }
    let mut line = match &finished.failure {
        Some(why) => format!("automation {execution_id} {}: {why}", finished.detail),
        None => format!("automation {execution_id} {}", finished.detail),
    };
    let dropped = finished.outputs.len() - kept.len();
    if dropped > 0 {
        line.push_str(&format!(
            " ({dropped} of its outputs not kept: over {AUTOMATION_OUTPUTS_LIMIT} bytes)"
        ));
    }
    let mut outcome = StepOutcome::with_status(finished.status, summary(&line))
        .with("execution_id", execution_id)
        .with("status", finished.detail.as_str());
    for (name, value) in kept {
        outcome = outcome.with(name, value);
    }
    outcome
}
