//! The step graph: where a step leads, and what reaches what. Validation's loop checks,
//! the history bound and the outcomes a turn reads all walk it.

use std::collections::BTreeSet;

use crate::runbook::model::{Action, Goto, Runbook};

pub(crate) fn successors(runbook: &Runbook, index: usize) -> Vec<usize> {
    let next = index + 1;
    let fall_through = || {
        if next < runbook.steps.len() {
            vec![next]
        } else {
            Vec::new()
        }
    };
    match runbook.steps.get(index).map(|s| &s.action) {
        None | Some(Action::Resolve(_) | Action::Escalate(_)) => Vec::new(),
        Some(Action::Branch(branch)) => {
            let target = |goto: Option<&Goto>| match goto {
                None => fall_through(),
                Some(Goto::Step(id)) => runbook.index_of(id).into_iter().collect(),
                Some(Goto::Resolve | Goto::Escalate) => Vec::new(),
            };
            let mut all = target(Some(&branch.then));
            all.extend(target(branch.otherwise.as_ref()));
            all
        }
        Some(_) => fall_through(),
    }
}

/// Whether `to` can be reached from `from` through steps none of which is `avoided`.
pub(crate) fn reaches(
    runbook: &Runbook,
    from: usize,
    to: usize,
    avoided: impl Fn(&Action) -> bool,
) -> bool {
    let blocked = |i: usize| runbook.steps.get(i).is_none_or(|s| avoided(&s.action));
    if blocked(from) || blocked(to) {
        return false;
    }
    let mut seen = BTreeSet::from([from]);
    let mut queue = vec![from];
    while let Some(at) = queue.pop() {
        if at == to {
            return true;
        }
        for next in successors(runbook, at) {
            if !blocked(next) && seen.insert(next) {
                queue.push(next);
            }
        }
    }
    false
}
