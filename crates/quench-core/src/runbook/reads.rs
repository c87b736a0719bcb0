//! Which earlier outcomes one turn of the interpreter can read. The state machine carries
//! only where each step's outcome is stored, so `runbook-step` loads these from the table
//! before it asks the interpreter: the steps that templates reachable in this turn name,
//! and no others.

use std::collections::BTreeSet;

use crate::runbook::graph::successors;
use crate::runbook::model::{Action, Operand, Runbook};
use crate::runbook::template::Template;

/// Every template a step renders, conditions and reasons included.
fn templates(action: &Action) -> Vec<&Template> {
    match action {
        Action::RunCommand(rc) => rc
            .commands
            .iter()
            .chain(rc.parameters.values().flat_map(|values| values.0.iter()))
            .chain(rc.targets.0.iter())
            .chain(rc.params.values().map(|param| &param.from))
            .collect(),
        Action::Automation(a) => a
            .parameters
            .values()
            .flat_map(|values| values.0.iter())
            .collect(),
        Action::Ec2Reboot(i) | Action::Ec2Status(i) => vec![&i.instance],
        Action::AlarmState(q) => q.alarm.iter().collect(),
        Action::MetricQuery(q) => [&q.namespace, &q.metric]
            .into_iter()
            .chain(q.dimensions.values())
            .collect(),
        Action::Branch(branch) => branch
            .condition
            .operands()
            .into_iter()
            .filter_map(|operand| match operand {
                Operand::Text(text) => Some(text),
                Operand::Number(_) | Operand::Bool(_) => None,
            })
            .collect(),
        Action::Resolve(reason) | Action::Escalate(reason) => reason.iter().collect(),
        Action::Note(note) => vec![&note.text],
        Action::Sleep(_) => Vec::new(),
    }
}

/// The steps one walk of the interpreter from `index` can visit: the control steps on
/// every way from there, and the step each way stops at (one to run, or a `sleep`).
fn walk(runbook: &Runbook, index: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![index];
    while let Some(at) = queue.pop() {
        let Some(step) = runbook.steps.get(at) else {
            continue;
        };
        if !seen.insert(at) {
            continue;
        }
        if matches!(
            step.action,
            Action::Branch(_) | Action::Resolve(_) | Action::Escalate(_)
        ) {
            queue.extend(successors(runbook, at));
        }
    }
    seen
}

/// The steps the templates of these steps name.
fn named(runbook: &Runbook, indices: &BTreeSet<usize>) -> BTreeSet<String> {
    indices
        .iter()
        .filter_map(|&i| runbook.steps.get(i))
        .flat_map(|step| templates(&step.action))
        .filter_map(|template| template.variables().ok())
        .flatten()
        .filter_map(|var| var.step().map(str::to_string))
        .collect()
}

/// The steps whose outcomes [`after_step`](crate::runbook::interpreter::after_step) of
/// `step` can read. The step it stops at is rendered by the next turn, not this one.
pub fn read_after(runbook: &Runbook, step: &str) -> BTreeSet<String> {
    let Some(index) = runbook.index_of(step) else {
        return BTreeSet::new();
    };
    let decided: BTreeSet<usize> = walk(runbook, index + 1)
        .into_iter()
        .filter(|&at| {
            runbook
                .steps
                .get(at)
                .is_some_and(|s| !s.action.is_executed())
        })
        .collect();
    named(runbook, &decided)
}

/// The steps whose outcomes [`next_action`](crate::runbook::interpreter::next_action) at
/// `position` can read, and `after_step` of whichever step it runs.
pub fn read_at(runbook: &Runbook, position: &str) -> BTreeSet<String> {
    let Some(index) = runbook.index_of(position) else {
        return BTreeSet::new();
    };
    let visited = walk(runbook, index);
    let mut read = named(runbook, &visited);
    for &at in &visited {
        if let Some(step) = runbook.steps.get(at) {
            if step.action.is_executed() {
                read.extend(read_after(runbook, &step.id));
            }
        }
    }
    read
}
