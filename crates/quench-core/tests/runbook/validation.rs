//! Validation: each error names its path; loops, missing runbooks, several errors at once.

use super::*;

#[test]
fn each_validation_error_names_its_path() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "`runbooks.r`", "at least one step"),
        (
            "    - id: a\n      note: { text: x }\n    - id: a\n      note: { text: y }\n",
            "`runbooks.r[1].id`",
            "also the id of step 0",
        ),
        (
            "    - id: Bad\n      note: { text: x }\n",
            "`runbooks.r[0].id`",
            "lowercase",
        ),
        (
            "    - id: resolve\n      note: { text: x }\n",
            "`runbooks.r[0].id`",
            "reserved",
        ),
        (
            "    - id: a\n      branch: { if: { equals: [1, 1] }, then: nowhere }\n",
            "`runbooks.r[0].branch.then`",
            "no step `nowhere`",
        ),
        (
            "    - id: a\n      branch: { if: { equals: [1, 1] }, then: resolve, else: gone }\n",
            "`runbooks.r[0].branch.else`",
            "no step `gone`",
        ),
        (
            "    - id: a\n      note: { text: \"{{ steps.b.output.stdout }}\" }\n    - id: b\n      run_command: { commands: [x] }\n",
            "`runbooks.r[0].note.text`",
            "does not come before",
        ),
        (
            "    - id: a\n      ec2.status: { instance: \"{{ steps.a.output.instance_state }}\" }\n",
            "`runbooks.r[0].ec2.status.instance`",
            "does not come before",
        ),
        (
            "    - id: a\n      note: { text: \"{{ steps.zzz.status }}\" }\n",
            "`runbooks.r[0].note.text`",
            "no step `zzz`",
        ),
        (
            "    - id: a\n      ec2.reboot: { instance: \"{{ alarm.dimension.InstanceId }}\" }\n",
            "`runbooks.r[0].ec2.reboot.instance`",
            "unknown variable `alarm.dimension.InstanceId`",
        ),
        (
            "    - id: a\n      ec2.reboot: { instance: \"{{ alarm.dimensions.InstanceId\" }\n",
            "`runbooks.r[0].ec2.reboot.instance`",
            "never closed",
        ),
        (
            "    - id: a\n      ec2.status: { instance: i-1 }\n    - id: b\n      note: { text: \"{{ steps.a.output.state }}\" }\n",
            "`runbooks.r[1].note.text`",
            "no output `state`",
        ),
        (
            "    - id: a\n      sleep: 1m\n    - id: b\n      note: { text: \"{{ steps.a.status }}\" }\n",
            "`runbooks.r[1].note.text`",
            "has no outcome",
        ),
        (
            "    - id: a\n      sleep: 0s\n",
            "`runbooks.r[0].sleep`",
            "not between 1s and 1d",
        ),
        (
            "    - id: a\n      sleep: 2d\n",
            "`runbooks.r[0].sleep`",
            "not between 1s and 1d",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"systemctl restart {{ params.p }}\"]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"[a-z\" } }\n",
            "`runbooks.r[0].run_command.params.p.pattern`",
            "not a valid pattern",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"systemctl restart {{ params.p }}\"]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"\" } }\n",
            "`runbooks.r[0].run_command.params.p.pattern`",
            "empty pattern",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"systemctl restart {{ params.p }}\"]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"a)|(b\" } }\n",
            "`runbooks.r[0].run_command.params.p.pattern`",
            "not a valid pattern",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"systemctl restart {{ alarm.dimensions.exe }}\"]\n",
            "`runbooks.r[0].run_command.commands[0]`",
            "cannot be used in a shell command directly",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"echo {{ incident.title }}\"]\n",
            "`runbooks.r[0].run_command.commands[0]`",
            "declare it under `params`",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"echo '{{ params.p }}'\"]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"^[a-z]+$\" } }\n",
            "`runbooks.r[0].run_command.commands[0]`",
            "inside quotes",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"echo \\\"start\", \"{{ params.p }} end\\\"\"]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"^[a-z]+$\" } }\n",
            "`runbooks.r[0].run_command.commands[1]`",
            "inside a quote opened in commands[0]",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [\"echo {{ params.q }}\"]\n",
            "`runbooks.r[0].run_command.commands[0]`",
            "not declared under `params`",
        ),
        (
            "    - id: a\n      run_command:\n        commands: [uptime]\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"^[a-z]+$\" } }\n",
            "`runbooks.r[0].run_command.params.p`",
            "never used",
        ),
        (
            "    - id: a\n      note: { text: \"{{ params.p }}\" }\n",
            "`runbooks.r[0].note.text`",
            "params exist only in run_command",
        ),
        (
            "    - id: a\n      run_command:\n        parameters: { commands: [\"rm -rf {{ alarm.dimensions.exe }}\"] }\n",
            "`runbooks.r[0].run_command.parameters`",
            "would bypass",
        ),
        (
            "    - id: a\n      run_command:\n        document: Custom-Doc\n        parameters: { name: \"{{ alarm.dimensions.exe }}\" }\n",
            "`runbooks.r[0].run_command.parameters.name`",
            "cannot be used in document parameters directly",
        ),
        (
            "    - id: a\n      automation:\n        document: Custom-Doc\n        parameters: { Target: \"{{ alarm.dimensions.exe }}\" }\n",
            "`runbooks.r[0].automation.parameters.Target`",
            "cannot be used in automation parameters directly",
        ),
        (
            "    - id: a\n      automation:\n        document: Custom-Doc\n        parameters: { Target: \"{{ params.q }}\" }\n",
            "`runbooks.r[0].automation.parameters.Target`",
            "not declared under `params`",
        ),
        (
            "    - id: a\n      automation:\n        document: Custom-Doc\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"^[a-z]+$\" } }\n",
            "`runbooks.r[0].automation.params.p`",
            "never used",
        ),
        (
            "    - id: a\n      automation:\n        document: Custom-Doc\n        parameters: { Target: \"{{ params.p }}\" }\n        params: { p: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"[a-z\" } }\n",
            "`runbooks.r[0].automation.params.p.pattern`",
            "not a valid pattern",
        ),
        (
            "    - id: a\n      run_command:\n        document: Custom-Doc\n        commands: [uptime]\n",
            "`runbooks.r[0].run_command.commands`",
            "are for AWS-RunShellScript",
        ),
        (
            "    - id: a\n      run_command: {}\n",
            "`runbooks.r[0].run_command.commands`",
            "at least one command",
        ),
        (
            "    - id: a\n      run_command: { commands: [x], output_limit: 0 }\n",
            "`runbooks.r[0].run_command.output_limit`",
            "not between 1 and 24000",
        ),
        (
            "    - id: a\n      run_command: { commands: [x], timeout: 3d }\n",
            "`runbooks.r[0].run_command.timeout`",
            "not between",
        ),
        (
            "    - id: a\n      automation: { document: 'no spaces allowed' }\n",
            "`runbooks.r[0].automation.document`",
            "not an SSM document",
        ),
        (
            "    - id: a\n      metric.query: { namespace: AWS/EC2, metric: CPUUtilization, period: 7s }\n",
            "`runbooks.r[0].metric.query.period`",
            "whole number of minutes",
        ),
        (
            "    - id: a\n      metric.query: { namespace: AWS/EC2, metric: CPUUtilization, minutes: 0 }\n",
            "`runbooks.r[0].metric.query.minutes`",
            "between 1 and 1440",
        ),
        (
            "    - id: a\n      branch: { if: { all: [] }, then: resolve }\n",
            "`runbooks.r[0].branch.if`",
            "at least one condition",
        ),
        (
            "    - id: a\n      ec2.reboot: { instance: '' }\n",
            "`runbooks.r[0].ec2.reboot.instance`",
            "empty",
        ),
        (
            "    - id: a\n      ec2.status: { instance: i-1 }\n    - id: b\n      branch: { if: { equals: [\"{{ steps.a.output.instance_state }}\", running] }, then: a }\n",
            "`runbooks.r[1].branch.then`",
            "a loop without a wait",
        ),
        (
            "    - id: a\n      ec2.status: { instance: i-1 }\n    - id: b\n      sleep: 1m\n    - id: c\n      branch: { if: { equals: [\"{{ steps.a.output.instance_state }}\", running] }, then: b }\n",
            "`runbooks.r[2].branch.then`",
            "a loop that checks nothing",
        ),
        (
            "    - id: a\n      branch: { if: { equals: [1, 2] }, then: resolve, else: a }\n",
            "`runbooks.r[0].branch.else`",
            "a loop without a wait",
        ),
    ];
    for (steps, path, words) in cases {
        let error = error_of(&with_runbook(steps));
        assert!(error.contains(path), "expected {path} in: {error}");
        assert!(error.contains(words), "expected {words} in: {error}");
    }
}

#[test]
fn a_plan_naming_a_missing_runbook_is_refused() {
    let error = error_of("version: 1\nplans:\n  p: { impact: 3, runbook: nope }\n");
    assert!(
        error.contains("`plans.p.runbook`") && error.contains("no runbook is named `nope`"),
        "{error}"
    );
}

#[test]
fn a_loop_through_a_skipping_branch_still_needs_its_wait() {
    // The sleep sits between the loop's ends, but `skip` jumps over it, so the cycle
    // a → skip → check → a has no wait.
    let error = error_of(&with_runbook(
        "    - id: a\n      ec2.status: { instance: i-1 }\n    - id: skip\n      branch: { if: { equals: [1, 1] }, then: check }\n    - id: nap\n      sleep: 1m\n    - id: check\n      branch: { if: { equals: [\"{{ steps.a.output.instance_state }}\", pending] }, then: a }\n",
    ));
    assert!(
        error.contains("runbooks.r[3].branch.then") && error.contains("a loop without a wait"),
        "{error}"
    );
}

#[test]
fn a_loop_with_a_sleep_is_accepted() {
    parse_runbook(
        "    - id: status\n      ec2.status: { instance: i-1 }\n    - id: up\n      branch: { if: { equals: [\"{{ steps.status.output.instance_state }}\", running] }, then: resolve }\n    - id: nap\n      sleep: 30s\n    - id: again\n      branch: { if: { equals: [1, 1] }, then: status }\n",
    );
}

#[test]
fn several_runbook_errors_are_reported_together() {
    let error = error_of(&with_runbook(
        "    - id: a\n      sleep: 0s\n    - id: a\n      branch: { if: { equals: [1, 1] }, then: zzz }\n",
    ));
    for path in [
        "runbooks.r[0].sleep",
        "runbooks.r[1].id",
        "runbooks.r[1].branch.then",
    ] {
        assert!(error.contains(path), "expected {path} in: {error}");
    }
}
