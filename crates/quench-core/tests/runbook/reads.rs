//! The outcomes a turn of the interpreter reads: `runbook-step` loads only these, so a
//! turn given only them decides exactly as one given every outcome.

use std::collections::BTreeSet;

use quench_core::runbook::{read_after, read_at};

use super::*;

fn only(outputs: &Outputs, steps: &BTreeSet<String>) -> Outputs {
    Outputs {
        steps: outputs
            .steps
            .iter()
            .filter(|(id, _)| steps.contains(*id))
            .map(|(id, outcome)| (id.clone(), outcome.clone()))
            .collect(),
        runs: outputs.runs,
    }
}

/// An outcome of every step that runs, with every output a template here names.
fn every_outcome(runbook: &Runbook) -> Outputs {
    let mut outputs = Outputs::default();
    for step in runbook.steps.iter().filter(|s| s.action.is_executed()) {
        outputs.record(
            &step.id,
            ok(&[
                ("stdout", "1"),
                ("exit_code", "0"),
                ("instance_state", "running"),
                ("instance_status", "ok"),
                ("state", "OK"),
            ]),
        );
    }
    outputs
}

fn crafted() -> Runbook {
    parse_runbook(
        "    - id: look\n      ec2.status: { instance: \"{{ alarm.dimensions.InstanceId }}\" }\n\
         \x20   - id: count\n      run_command: { commands: [\"pgrep -c nginx\"] }\n\
         \x20   - id: fine\n      branch: { if: { equals: [\"{{ steps.look.output.instance_state }}\", running] }, then: tell }\n\
         \x20   - id: nap\n      sleep: 1m\n\
         \x20   - id: again\n      branch: { if: { gt: [\"{{ steps.count.output.stdout }}\", 5] }, then: look, else: tell }\n\
         \x20   - id: tell\n      note: { text: \"{{ steps.count.output.stdout }} running\" }\n\
         \x20   - id: done\n      branch: { if: { equals: [\"{{ steps.tell.status }}\", succeeded] }, then: bye }\n\
         \x20   - id: alarm\n      alarm.state: {}\n\
         \x20   - id: bye\n      resolve: \"{{ steps.look.summary }}\"\n",
    )
}

#[test]
fn a_turn_given_only_what_it_reads_decides_as_one_given_everything() {
    let mut runbooks: Vec<(String, Runbook)> = example().runbooks.into_iter().collect();
    runbooks.push(("crafted".into(), crafted()));
    let facts = facts();
    for (name, runbook) in &runbooks {
        let all = every_outcome(runbook);
        for step in &runbook.steps {
            let loaded = only(&all, &read_at(runbook, &step.id));
            assert_eq!(
                next_action(runbook, &step.id, &facts, &loaded),
                next_action(runbook, &step.id, &facts, &all),
                "{name} at {}",
                step.id
            );
            if let Some(outcome) = all.steps.get(&step.id) {
                let loaded = only(&all, &read_after(runbook, &step.id));
                assert_eq!(
                    after_step(runbook, &step.id, outcome, &facts, &loaded),
                    after_step(runbook, &step.id, outcome, &facts, &all),
                    "{name} after {}",
                    step.id
                );
            }
        }
    }
}

#[test]
fn a_turn_reads_the_steps_its_templates_name_and_no_others() {
    let runbook = crafted();
    let ids =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    // After `count`: `fine` reads `look`, then `tell` or the sleep is next; `tell` is
    // rendered by the turn that runs it.
    assert_eq!(read_after(&runbook, "count"), ids(&["look"]));
    // After the sleep: `again` reads `count`, and runs `look` (which reads nothing
    // earlier, and after which `fine` reads `look`) or `tell` (which reads `count`, and
    // after which `done` reads `tell` and `bye` reads `look`).
    assert_eq!(read_at(&runbook, "again"), ids(&["count", "look", "tell"]));
    // After `tell`: `done` reads `tell`, and `bye` resolves with `look`'s summary.
    assert_eq!(read_after(&runbook, "tell"), ids(&["look", "tell"]));
    // The first step reads nothing.
    assert_eq!(read_at(&runbook, "look"), ids(&[]));
}
