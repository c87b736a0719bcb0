//! What a runbook costs the state machine: how long and how often a running command or
//! automation is polled, and the most Step Functions history events a run can add, which
//! validation keeps under the execution's quota.
//!
//! The event counts are the states of `infra/statemachines/incident-response.asl.json`
//! that each kind of step passes through; the end-to-end tests hold a real run's history
//! to [`worst_case_history`].

use crate::runbook::graph::{reaches, successors};
use crate::runbook::model::{Action, Runbook, MAX_STEP_RUNS};

/// Step Functions fails an execution whose history reaches this many events.
pub const HISTORY_QUOTA: u64 = 25_000;
/// The most a run's worst case may add. The rest of the quota is for what the worst case
/// does not count: each retried invocation adds three events, so 5,000 cover more than
/// 1,600 retries.
pub const HISTORY_BUDGET: u64 = 20_000;

/// The wait before the first poll of a started command or automation. Each later wait
/// doubles, up to [`MAX_POLL_SECS`]: most commands end within seconds, and a long one
/// should not cost a poll every few seconds for hours.
pub const FIRST_POLL_SECS: u64 = 5;
pub const MAX_POLL_SECS: u64 = 300;
/// Polling goes on this long after a step's timeout: SSM reports a command or automation
/// that ran out of time a little after the fact.
pub const POLL_GRACE_SECS: u64 = 120;

/// One turn of the poll loop: `RunbookStep` (entered, scheduled, started, succeeded,
/// exited), `StepFinished`, `RunbookNext` and `RunbookWait` (entered, exited each).
pub const EVENTS_PER_POLL: u64 = 11;
/// The invocation that finishes a step: `RunbookStep` (5), `StepFinished` (2),
/// `NotifyStep` (5), `RunbookNext` (2).
pub const EVENTS_PER_STEP: u64 = 14;
/// A `sleep`: `RunbookWait` (2), and the invocation after it, which may end the runbook
/// without running a step (`RunbookStep`, `StepFinished`, `RunbookNext`: 9).
pub const EVENTS_PER_SLEEP: u64 = 11;
/// Everything around the runbook on the longest way through the state machine: the
/// execution's start and end, `AlarmToIncident` to `StartRunbook` (18), the first
/// invocation when it runs no step (9), a failed resolve, a failed escalation and its
/// second attempt, the pages, the outcome's notice and the end (45), counted high.
pub const EVENTS_AROUND_RUNBOOK: u64 = 100;

/// How long to wait before the poll that follows `polls` earlier ones.
pub fn poll_wait(polls: u32) -> u64 {
    let doubled = 1u64.checked_shl(polls.min(32)).unwrap_or(u64::MAX);
    FIRST_POLL_SECS.saturating_mul(doubled).min(MAX_POLL_SECS)
}

/// How many polls a step that may run `timeout_secs` gets: as many as it takes for the
/// waits before them to cover its timeout and [`POLL_GRACE_SECS`]. A step still running
/// at its last poll has timed out, whatever the clock says, so a run whose waits are cut
/// short (as the tests cut them) polls no more often than one that waits them out.
pub fn poll_budget(timeout_secs: u64) -> u32 {
    let goal = timeout_secs.saturating_add(POLL_GRACE_SECS);
    let mut waited = 0u64;
    let mut polls = 0u32;
    while waited < goal {
        let wait = poll_wait(polls);
        if wait == MAX_POLL_SECS {
            let rest = (goal - waited).div_ceil(MAX_POLL_SECS);
            return polls.saturating_add(u32::try_from(rest).unwrap_or(u32::MAX));
        }
        waited += wait;
        polls += 1;
    }
    polls
}

/// The most history events one run of a step adds. A command or an automation is sent
/// (a turn of the poll loop), polled up to its budget, the last poll finishing it.
pub fn step_events(action: &Action) -> u64 {
    let polled = |timeout_secs: u64| {
        u64::from(poll_budget(timeout_secs)) * EVENTS_PER_POLL + EVENTS_PER_STEP
    };
    match action {
        Action::RunCommand(rc) => polled(rc.timeout.as_secs()),
        Action::Automation(a) => polled(a.timeout.as_secs()),
        Action::Sleep(_) => EVENTS_PER_SLEEP,
        Action::Branch(_) | Action::Resolve(_) | Action::Escalate(_) => 0,
        Action::Ec2Reboot(_)
        | Action::Ec2Status(_)
        | Action::AlarmState(_)
        | Action::MetricQuery(_)
        | Action::Note(_) => EVENTS_PER_STEP,
    }
}

/// The most history events one execution of `runbook` can have. A step outside every
/// loop runs at most once. The runbook escalates after [`MAX_STEP_RUNS`] step runs, so
/// the steps in loops run at most that often between them: counted as the costliest of
/// them, every time. Validation refuses a loop that runs no step, so a `sleep` in a loop
/// is passed at most once per step run, plus once.
pub fn worst_case_history(runbook: &Runbook) -> u64 {
    let in_loop = |index: usize| {
        successors(runbook, index)
            .into_iter()
            .any(|next| reaches(runbook, next, index, |_| false))
    };
    let runs = u64::from(MAX_STEP_RUNS);
    let mut once = 0u64;
    let mut costliest_looped = 0u64;
    let mut looped_sleeps = 0u64;
    for (index, step) in runbook.steps.iter().enumerate() {
        let events = step_events(&step.action);
        match (in_loop(index), &step.action) {
            (false, _) => once = once.saturating_add(events),
            (true, Action::Sleep(_)) => looped_sleeps = looped_sleeps.saturating_add(events),
            (true, _) => costliest_looped = costliest_looped.max(events),
        }
    }
    EVENTS_AROUND_RUNBOOK
        .saturating_add(once)
        .saturating_add(runs.saturating_mul(costliest_looped))
        .saturating_add((runs + 1).saturating_mul(looped_sleeps))
}
