//! The interpreter: the seed runbooks' transitions, failures, branches, waits and caps.

use quench_core::alarm::AlarmState;
use quench_core::config::InsufficientData;

use super::*;

#[test]
fn reboot_and_verify_resolves_when_the_instance_is_healthy() {
    let runbook = runbook("reboot-and-verify");
    let facts = facts();
    let mut outputs = Outputs::default();

    let Planned::Execute { step, input, .. } = start(&runbook, &facts, &outputs) else {
        panic!("execute")
    };
    assert_eq!(step, "reboot");
    assert_eq!(
        input,
        RenderedAction::Ec2Reboot {
            instance: "i-0abc1234def567890".into()
        }
    );
    let rebooted = ok(&[("instance", "i-0abc1234def567890")]);
    let next = next_of(after_step(&runbook, &step, &rebooted, &facts, &outputs));
    outputs.record(&step, rebooted);
    assert_eq!(
        next,
        Next::Wait {
            seconds: 300,
            sleep: "settle".into(),
            then: Some("status".into())
        }
    );

    let Planned::Execute { step, input, .. } = next_action(&runbook, "status", &facts, &outputs)
    else {
        panic!("execute")
    };
    assert_eq!(step, "status");
    assert!(matches!(input, RenderedAction::Ec2Status { .. }));
    let healthy = ok(&[("instance_state", "running"), ("instance_status", "ok")]);
    let transition = after_step(&runbook, &step, &healthy, &facts, &outputs);
    assert!(
        matches!(transition.next, Next::Resolve { ref step, .. } if step.as_deref() == Some("healthy"))
    );
    assert_eq!(transition.branches.len(), 1);
    assert_eq!(transition.branches[0].arm, Arm::Then);
}

#[test]
fn reboot_and_verify_escalates_when_the_instance_is_impaired() {
    let runbook = runbook("reboot-and-verify");
    let facts = facts();
    let outputs = Outputs::default();
    let impaired = ok(&[
        ("instance_state", "running"),
        ("instance_status", "impaired"),
    ]);
    let transition = after_step(&runbook, "status", &impaired, &facts, &outputs);
    assert!(
        matches!(&transition.next, Next::Escalate { reason, .. } if reason.contains("the condition of `healthy` did not hold")),
        "{transition:?}"
    );
    assert_eq!(transition.branches[0].arm, Arm::Else);
    assert_eq!(transition.branches[0].unevaluable, None);
}

#[test]
fn restart_process_resolves_when_the_process_counts_above_zero() {
    let runbook = runbook("restart-process");
    let facts = facts();
    let outputs = Outputs::default();
    let next = next_of(after_step(
        &runbook,
        "count",
        &ok(&[("stdout", "2\n"), ("exit_code", "0")]),
        &facts,
        &outputs,
    ));
    assert!(matches!(next, Next::Resolve { .. }), "{next:?}");
}

#[test]
fn restart_process_captures_status_then_escalates_when_nothing_runs() {
    let runbook = runbook("restart-process");
    let facts = facts();
    let mut outputs = Outputs::default();
    let none = ok(&[("stdout", "0\n")]);
    let next = next_of(after_step(&runbook, "count", &none, &facts, &outputs));
    outputs.record("count", none);
    assert_eq!(
        next,
        Next::Step {
            step: "status".into()
        }
    );
    let Planned::Execute { input, .. } = next_action(&runbook, "status", &facts, &outputs) else {
        panic!("execute")
    };
    assert!(
        matches!(&input, RenderedAction::RunCommand { parameters, .. }
            if parameters["commands"] == ["systemctl status --no-pager -- 'nginx' || true"]),
        "{input:?}"
    );
    let next = next_of(after_step(
        &runbook,
        "status",
        &ok(&[("stdout", "inactive (dead)")]),
        &facts,
        &outputs,
    ));
    assert!(
        matches!(&next, Next::Escalate { step, .. } if step.as_deref() == Some("give-up")),
        "{next:?}"
    );
}

#[test]
fn a_numeric_test_on_text_takes_else_and_says_why() {
    let runbook = runbook("restart-process");
    let facts = facts();
    let transition = after_step(
        &runbook,
        "count",
        &ok(&[("stdout", "pgrep: not found")]),
        &facts,
        &Outputs::default(),
    );
    assert_eq!(
        transition.next,
        Next::Step {
            step: "status".into()
        }
    );
    let taken = &transition.branches[0];
    assert_eq!(taken.arm, Arm::Else);
    let why = taken.unevaluable.as_deref().expect("recorded");
    assert!(why.contains("is not a number"), "{why}");
    assert!(
        taken
            .to_string()
            .contains("condition could not be evaluated"),
        "{taken}"
    );
}

#[test]
fn a_failed_step_without_a_branch_escalates() {
    let runbook = runbook("restart-process");
    let failed = StepOutcome::with_status(StepStatus::Failed, "Unit nginx.service not found.");
    let next = next_of(after_step(
        &runbook,
        "restart",
        &failed,
        &facts(),
        &Outputs::default(),
    ));
    assert_eq!(
        next,
        Next::Escalate {
            step: Some("restart".into()),
            reason: "step `restart` failed: Unit nginx.service not found.".into()
        }
    );
    let timed_out = StepOutcome::with_status(StepStatus::TimedOut, "");
    let next = next_of(after_step(
        &runbook,
        "status",
        &timed_out,
        &facts(),
        &Outputs::default(),
    ));
    assert!(matches!(next, Next::Escalate { reason, .. } if reason == "step `status` timed_out"));
}

#[test]
fn a_failed_step_followed_by_a_branch_lets_the_branch_decide() {
    let runbook = parse_runbook(
        "    - id: try\n      run_command: { commands: [uptime] }\n    - id: check\n      branch: { if: { equals: [\"{{ steps.try.status }}\", failed] }, then: fallback }\n    - id: done\n      resolve: worked\n    - id: fallback\n      note: { text: \"try failed: {{ steps.try.summary }}\" }\n",
    );
    let facts = facts();
    let mut outputs = Outputs::default();
    let failed = StepOutcome::with_status(StepStatus::Failed, "exit 1");
    let next = next_of(after_step(&runbook, "try", &failed, &facts, &outputs));
    outputs.record("try", failed);
    assert_eq!(
        next,
        Next::Step {
            step: "fallback".into()
        }
    );
    let Planned::Execute { input, .. } = next_action(&runbook, "fallback", &facts, &outputs) else {
        panic!("execute")
    };
    assert_eq!(
        input,
        RenderedAction::Note {
            text: "try failed: exit 1".into()
        }
    );
    let next = next_of(after_step(
        &runbook,
        "try",
        &ok(&[]),
        &facts,
        &Outputs::default(),
    ));
    assert_eq!(
        next,
        Next::Resolve {
            step: Some("done".into()),
            reason: "worked".into(),
            checked_at: None,
        }
    );
}

#[test]
fn the_end_of_a_runbook_means_verify() {
    let runbook = runbook("cpu-diagnostics");
    let facts = facts();
    let mut outputs = Outputs::default();
    let Planned::Execute { step, input, .. } = start(&runbook, &facts, &outputs) else {
        panic!("execute")
    };
    assert!(
        matches!(&input, RenderedAction::RunCommand { parameters, .. }
            if parameters["commands"] == ["vmstat 1 5", "top -b -n 1 | head -20"]),
        "{input:?}"
    );
    let snapshot = ok(&[("stdout", "procs -----------memory----------")]);
    assert_eq!(
        next_of(after_step(&runbook, &step, &snapshot, &facts, &outputs)),
        Next::Step {
            step: "record".into()
        }
    );
    outputs.record(&step, snapshot);
    let Planned::Execute { step, input, .. } = next_action(&runbook, "record", &facts, &outputs)
    else {
        panic!("execute")
    };
    assert!(
        matches!(&input, RenderedAction::Note { text } if text.contains("procs ---")),
        "{input:?}"
    );
    assert_eq!(
        next_of(after_step(&runbook, &step, &ok(&[]), &facts, &outputs)),
        Next::Verify
    );
}

#[test]
fn a_sleep_at_the_end_waits_then_verifies() {
    let runbook = parse_runbook(
        "    - id: a\n      ec2.reboot: { instance: i-1 }\n    - id: b\n      sleep: 90s\n",
    );
    assert_eq!(
        next_of(after_step(
            &runbook,
            "a",
            &ok(&[]),
            &facts(),
            &Outputs::default()
        )),
        Next::Wait {
            seconds: 90,
            sleep: "b".into(),
            then: None
        }
    );
}

#[test]
fn a_runbook_that_starts_with_control_steps_starts_past_them() {
    let runbook = parse_runbook(
        "    - id: only-eu\n      branch: { if: { equals: [\"{{ alarm.region }}\", us-east-1] }, then: resolve }\n    - id: nap\n      sleep: 1m\n",
    );
    match start(&runbook, &facts(), &Outputs::default()) {
        Planned::Flow(Transition { next, branches }) => {
            assert_eq!(
                next,
                Next::Wait {
                    seconds: 60,
                    sleep: "nap".into(),
                    then: None
                }
            );
            assert_eq!(branches[0].arm, Arm::Else);
        }
        other => panic!("expected a flow, got {other:?}"),
    }
}

#[test]
fn a_missing_dimension_refuses_the_step_instead_of_running_it_empty() {
    let runbook = runbook("reboot-and-verify");
    let facts = facts_with(&[]);
    let planned = start(&runbook, &facts, &Outputs::default());
    assert!(
        matches!(&planned, Planned::Refused { error: TemplateError::Missing { .. }, outcome, .. }
            if outcome.status == StepStatus::Refused && outcome.summary.contains("no dimension `InstanceId`")),
        "{planned:?}"
    );
}

#[test]
fn a_waiting_loop_runs_until_the_step_cap_then_escalates() {
    let runbook = parse_runbook(
        "    - id: status\n      ec2.status: { instance: i-1 }\n    - id: up\n      branch: { if: { equals: [\"{{ steps.status.output.instance_state }}\", running] }, then: resolve }\n    - id: nap\n      sleep: 30s\n    - id: again\n      branch: { if: { equals: [1, 1] }, then: status }\n",
    );
    let facts = facts();
    let mut outputs = Outputs::default();
    let pending = ok(&[("instance_state", "pending")]);
    assert_eq!(
        next_of(after_step(&runbook, "status", &pending, &facts, &outputs)),
        Next::Wait {
            seconds: 30,
            sleep: "nap".into(),
            then: Some("again".into())
        }
    );
    outputs.record("status", pending.clone());
    // After the wait the loop goes back to `status` through the `again` branch.
    assert!(matches!(
        next_action(&runbook, "again", &facts, &outputs),
        Planned::Execute { ref step, .. } if step == "status"
    ));
    outputs.runs = MAX_STEP_RUNS - 1;
    assert!(matches!(
        next_of(after_step(&runbook, "status", &pending, &facts, &outputs)),
        Next::Escalate { reason, .. } if reason.contains("without finishing")
    ));
}

#[test]
fn conditions_compare_numbers_as_numbers_and_text_trimmed() {
    let facts = facts();
    let mut outputs = Outputs::default();
    outputs.record(
        "s",
        ok(&[("n", "1.0\n"), ("word", " running\n"), ("yes", "true")]),
    );
    let scope = Scope::new(&facts, &outputs);
    let holds = |yaml: &str| -> bool {
        let condition: Condition = serde_yaml_ng::from_str(yaml).expect("condition parses");
        condition.evaluate(&scope).expect("evaluates")
    };
    assert!(holds(r#"{ equals: ["{{ steps.s.output.n }}", 1] }"#));
    assert!(holds(
        r#"{ equals: ["{{ steps.s.output.word }}", running] }"#
    ));
    assert!(holds(r#"{ equals: ["{{ steps.s.output.yes }}", true] }"#));
    assert!(holds(r#"{ ge: ["{{ steps.s.output.n }}", 1] }"#));
    assert!(!holds(r#"{ lt: ["{{ steps.s.output.n }}", 1] }"#));
    assert!(holds(r#"{ le: [0.5, "{{ steps.s.output.n }}"] }"#));
    assert!(holds(
        r#"{ not: { equals: ["{{ steps.s.output.word }}", stopped] } }"#
    ));
    assert!(holds(
        r#"{ all: [{ gt: ["{{ steps.s.output.n }}", 0] }, { equals: [a, a] }] }"#
    ));
    assert!(holds(r#"{ any: [{ gt: [0, 1] }, { equals: [a, a] }] }"#));
    let unevaluable: Condition = serde_yaml_ng::from_str(
        r#"{ any: [{ equals: [a, a] }, { gt: ["{{ steps.s.output.word }}", 1] }] }"#,
    )
    .expect("parses");
    assert!(unevaluable.evaluate(&scope).is_err());
    let nan: Condition = serde_yaml_ng::from_str(r#"{ gt: ["NaN", 1] }"#).expect("parses");
    assert!(nan.evaluate(&scope).is_err());
}

#[test]
fn interpreter_types_cross_step_functions_as_json() {
    let wait = Next::Wait {
        seconds: 300,
        sleep: "settle".into(),
        then: Some("status".into()),
    };
    assert_eq!(
        serde_json::to_value(&wait).expect("json"),
        serde_json::json!({ "kind": "wait", "seconds": 300, "sleep": "settle", "then": "status" })
    );
    let planned = plan_restart("nginx; rm -rf /");
    let json = serde_json::to_string(&planned).expect("json");
    assert_eq!(
        serde_json::from_str::<Planned>(&json).expect("round trip"),
        planned
    );
    let mut outputs = Outputs::default();
    outputs.record(
        "count",
        StepOutcome::succeeded("2 running")
            .with("stdout", "2\n")
            .with("exit_code", 0),
    );
    let json = serde_json::to_value(&outputs).expect("json");
    assert_eq!(json["steps"]["count"]["output"]["exit_code"], 0);
    assert_eq!(json["steps"]["count"]["status"], "succeeded");
    assert_eq!(
        serde_json::from_value::<Outputs>(json).expect("round trip"),
        outputs
    );
    let Planned::Execute { input, .. } = plan_restart("nginx") else {
        panic!("execute")
    };
    assert_eq!(
        serde_json::to_value(&input).expect("json")["action"],
        "run_command"
    );
}

/// alarm-to-incident refuses an operation whose reason is longer than this.
const OPERATION_TEXT_LIMIT: usize = 4_096;

/// A reason may carry step output, which can be 24,000 bytes: the escalation or
/// resolution it asks for must still be accepted, so the reason is cut, and cut visibly.
#[test]
fn reasons_that_carry_step_output_are_cut_to_what_an_operation_takes() {
    let runbook = parse_runbook(
        r#"    - id: look
      run_command: { commands: [dmesg], output_limit: 24000 }
    - id: decide
      branch: { if: { equals: ["{{ steps.look.output.exit_code }}", 0] }, then: fixed, else: broken }
    - id: fixed
      resolve: "dmesg says: {{ steps.look.output.stdout }}"
    - id: broken
      escalate: "dmesg says: {{ steps.look.output.stdout }}"
"#,
    );
    let facts = facts();
    let outputs = Outputs::default();
    // Multi-byte characters, so a cut at a byte count lands inside one.
    let stdout = "é".repeat(12_000);
    let mut reasons = Vec::new();
    for exit_code in ["0", "1"] {
        let looked = ok(&[("stdout", stdout.as_str()), ("exit_code", exit_code)]);
        match next_of(after_step(&runbook, "look", &looked, &facts, &outputs)) {
            Next::Resolve { reason, .. } | Next::Escalate { reason, .. } => reasons.push(reason),
            other => panic!("expected an end, got {other:?}"),
        }
    }
    let failed = StepOutcome::with_status(StepStatus::Failed, stdout.clone());
    let no_branch = parse_runbook("    - id: look\n      run_command: { commands: [dmesg] }\n");
    match next_of(after_step(&no_branch, "look", &failed, &facts, &outputs)) {
        Next::Escalate { reason, .. } => reasons.push(reason),
        other => panic!("expected escalate, got {other:?}"),
    }
    // The end of a runbook reads the alarm, and says so around the reason.
    let resolved = Next::Resolve {
        step: Some("fixed".into()),
        reason: reasons[0].clone(),
        checked_at: None,
    };
    for state in [AlarmState::Ok, AlarmState::Alarm] {
        let concluded = resolved.clone().concluded(
            "web-1-proc-gone",
            state,
            InsufficientData::Ignore,
            checked(),
        );
        match concluded {
            Next::Resolve { reason, .. } | Next::Escalate { reason, .. } => {
                assert!(
                    reason.ends_with(&format!("web-1-proc-gone is {state}")),
                    "{reason}"
                );
                reasons.push(reason);
            }
            other => panic!("expected an end, got {other:?}"),
        }
    }
    for reason in reasons {
        assert!(
            reason.len() <= OPERATION_TEXT_LIMIT,
            "{} bytes",
            reason.len()
        );
        assert!(
            reason.contains("[truncated by Quench]"),
            "the cut is marked"
        );
        assert!(reason.contains("éé"), "the start is kept");
    }
}

fn checked() -> chrono::DateTime<chrono::Utc> {
    "2026-11-20T10:30:00Z".parse().expect("time")
}

/// A resolve that the end-of-runbook check confirmed carries the time of that check, so
/// alarm-to-incident can refuse it if an alarm fired after it.
#[test]
fn a_confirmed_resolve_carries_the_time_of_its_check() {
    for next in [
        Next::Verify,
        Next::Resolve {
            step: Some("fixed".into()),
            reason: "restarted".into(),
            checked_at: None,
        },
    ] {
        match next.concluded(
            "web-1-cpu",
            AlarmState::Ok,
            InsufficientData::Ignore,
            checked(),
        ) {
            Next::Resolve { checked_at, .. } => assert_eq!(checked_at, Some(checked())),
            other => panic!("expected resolve, got {other:?}"),
        }
    }
    let json = serde_json::to_value(Next::Resolve {
        step: None,
        reason: "r".into(),
        checked_at: None,
    })
    .expect("json");
    assert!(
        json.get("checked_at").is_some(),
        "the state machine reads it: {json}"
    );
}
