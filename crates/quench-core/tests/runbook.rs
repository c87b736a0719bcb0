//! Runbooks: parsing, validation, templating (hostile values included) and the
//! interpreter's transitions. About 1,150 lines because each of the eleven actions and
//! each validation rule has its own cases; they read best side by side.

use std::collections::BTreeMap;

use quench_core::config::Config;
use quench_core::duration::Span;
use quench_core::runbook::scope::{AlarmFacts, Facts, IncidentFacts, Scope};
use quench_core::runbook::template::{shell_quote, Param, Template, TemplateError};
use quench_core::runbook::{
    after_step, next_action, start, Action, Arm, Condition, Goto, Next, Outputs, Planned,
    RenderedAction, Runbook, StepOutcome, StepStatus, Transition, MAX_STEP_RUNS,
};

const EXAMPLE: &str = include_str!("../../../infra/quench.yaml");

fn facts_with(dimensions: &[(&str, &str)]) -> Facts {
    Facts {
        alarm: AlarmFacts {
            name: "web-1-proc-gone".into(),
            arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-proc-gone".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            namespace: Some("CWAgent".into()),
            metric: Some("procstat_lookup_pid_count".into()),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: BTreeMap::from([("aws:cloudformation:stack-name".into(), "web".into())]),
        },
        incident: IncidentFacts {
            id: "inc-20260101T000000000Z-0123456789abcdef".into(),
            title: "Process gone: web-1-proc-gone".into(),
            impact: 2,
        },
        plan: "agent-process-gone".into(),
    }
}

fn facts() -> Facts {
    facts_with(&[("InstanceId", "i-0abc1234def567890"), ("exe", "nginx")])
}

fn example() -> Config {
    Config::parse(EXAMPLE).expect("example config is valid")
}

fn runbook(name: &str) -> Runbook {
    example().runbooks[name].clone()
}

/// A config with plan `p` running runbook `r`, whose steps are `steps` (YAML, indented
/// by four spaces).
fn with_runbook(steps: &str) -> String {
    format!("version: 1\nplans:\n  p: {{ impact: 3, runbook: r }}\nrunbooks:\n  r:\n{steps}")
}

fn parse_runbook(steps: &str) -> Runbook {
    Config::parse(&with_runbook(steps))
        .expect("valid runbook")
        .runbooks["r"]
        .clone()
}

fn error_of(text: &str) -> String {
    Config::parse(text)
        .expect_err("config must be refused")
        .to_string()
}

fn ok(output: &[(&str, &str)]) -> StepOutcome {
    output
        .iter()
        .fold(StepOutcome::succeeded("done"), |o, (k, v)| o.with(k, *v))
}

fn next_of(transition: Transition) -> Next {
    transition.next
}

// ---------------------------------------------------------------------------------------
// Parsing

#[test]
fn each_action_parses() {
    let runbook = parse_runbook(
        r#"    - id: cmd
      run_command:
        commands: ["uptime"]
    - id: doc
      run_command:
        document: AWS-ConfigureAWSPackage
        parameters: { action: Install, name: ["{{ params.pkg }}"] }
        targets: ["i-1", "i-2"]
        timeout: 90s
        output_limit: 100
        params: { pkg: { from: "{{ alarm.tags.package }}", pattern: "^[A-Za-z]+$" } }
    - id: auto
      automation:
        document: AWS-RestartEC2Instance
        parameters: { InstanceId: "{{ alarm.dimensions.InstanceId }}", IncidentId: "{{ incident.id }}" }
    - id: reboot
      ec2.reboot: { instance: "{{ alarm.dimensions.InstanceId }}" }
    - id: status
      ec2.status: { instance: "{{ alarm.dimensions.InstanceId }}" }
    - id: alarm
      alarm.state: {}
    - id: other-alarm
      alarm.state: { alarm: "{{ alarm.name }}-twin" }
    - id: metric
      metric.query:
        namespace: "{{ alarm.namespace }}"
        metric: "{{ alarm.metric }}"
        dimensions: { InstanceId: "{{ alarm.dimensions.InstanceId }}" }
        stat: Maximum
        period: 5m
        minutes: 30
    - id: wait
      sleep: 2m
    - id: decide
      branch:
        if: { any: [{ not: { equals: ["{{ steps.status.output.instance_state }}", running] } }, { ge: ["{{ steps.metric.output.latest }}", 90] }] }
        then: fail
        else: fine
    - id: fine
      resolve: "metric is back to {{ steps.metric.output.latest }}"
    - id: fail
      escalate:
    - id: write
      note: { text: "seen {{ steps.cmd.output.stdout }}" }
"#,
    );
    let names: Vec<&str> = runbook.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(
        names,
        [
            "run_command",
            "run_command",
            "automation",
            "ec2.reboot",
            "ec2.status",
            "alarm.state",
            "alarm.state",
            "metric.query",
            "sleep",
            "branch",
            "resolve",
            "escalate",
            "note"
        ]
    );
    let Action::RunCommand(cmd) = &runbook.steps[0].action else {
        panic!("run_command")
    };
    assert_eq!(cmd.document, "AWS-RunShellScript");
    assert_eq!(cmd.output_limit, 4096);
    assert_eq!(cmd.timeout, Span::from_secs(600));
    assert_eq!(
        cmd.targets.0,
        vec![Template::new("{{ alarm.dimensions.InstanceId }}")]
    );
    let Action::RunCommand(doc) = &runbook.steps[1].action else {
        panic!("run_command")
    };
    assert_eq!(doc.targets.0.len(), 2);
    assert_eq!(doc.timeout, Span::from_secs(90));
    assert_eq!(runbook.steps[8].action, Action::Sleep(Span::from_secs(120)));
    let Action::Branch(branch) = &runbook.steps[9].action else {
        panic!("branch")
    };
    assert!(matches!(branch.condition, Condition::Any(ref parts) if parts.len() == 2));
    assert_eq!(branch.then, Goto::Step("fail".into()));
    assert_eq!(runbook.steps[11].action, Action::Escalate(None));
}

#[test]
fn runbooks_round_trip_through_json() {
    let config = example();
    let json = serde_json::to_string(&config).expect("serialises");
    let again = Config::parse(&json).expect("its own JSON parses");
    assert_eq!(again, config);
}

#[test]
fn seed_plans_run_the_seed_runbooks() {
    let config = example();
    for (plan, runbook) in [
        ("ec2-cpu-high", "cpu-diagnostics"),
        ("ec2-instance-health", "reboot-and-verify"),
        ("agent-process-gone", "restart-process"),
    ] {
        assert_eq!(config.plans[plan].runbook.as_deref(), Some(runbook));
    }
    assert!(config.runbooks.contains_key("im-automation"));
}

#[test]
fn unknown_action_names_its_path_and_the_choices() {
    let error = error_of(&with_runbook(
        "    - id: a\n      note: { text: hi }\n    - id: b\n      ec2.rebot: { instance: i-1 }\n",
    ));
    assert!(error.contains("`runbooks.r[1]`"), "{error}");
    assert!(error.contains("unknown action `ec2.rebot`"), "{error}");
    assert!(error.contains("ec2.reboot"), "{error}");
}

#[test]
fn a_step_does_exactly_one_thing() {
    let two = error_of(&with_runbook(
        "    - id: a\n      sleep: 1m\n      note: { text: hi }\n",
    ));
    assert!(
        two.contains("`runbooks.r[0]`") && two.contains("`sleep` and `note`"),
        "{two}"
    );
    let none = error_of(&with_runbook("    - id: a\n"));
    assert!(none.contains("has no action"), "{none}");
    let no_id = error_of(&with_runbook("    - sleep: 1m\n"));
    assert!(no_id.contains("no `id`"), "{no_id}");
}

#[test]
fn errors_inside_an_action_keep_their_path() {
    for (steps, path, words) in [
        (
            "    - id: a\n      run_command: { commands: [x], timeout: 5x }\n",
            "runbooks.r[0].run_command.timeout",
            "unit `x`",
        ),
        (
            "    - id: a\n      sleep: soon\n",
            "runbooks.r[0].sleep",
            "not a duration",
        ),
        (
            "    - id: a\n      run_command: { commands: [x], tiemout: 5m }\n",
            "runbooks.r[0].run_command",
            "unknown field `tiemout`",
        ),
        (
            "    - id: a\n      branch: { if: { equal: [1, 1] }, then: resolve }\n",
            "runbooks.r[0].branch.if",
            "unknown condition `equal`",
        ),
        (
            "    - id: a\n      branch: { if: { equals: [1] }, then: resolve }\n",
            "runbooks.r[0].branch.if.equals",
            "",
        ),
    ] {
        let error = error_of(&with_runbook(steps));
        assert!(error.contains(path), "expected {path} in: {error}");
        assert!(error.contains(words), "expected {words} in: {error}");
    }
}

// ---------------------------------------------------------------------------------------
// Validation

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

// ---------------------------------------------------------------------------------------
// Templating

#[test]
fn renders_alarm_incident_plan_and_step_variables() {
    let facts = facts();
    let mut outputs = Outputs::default();
    outputs.record("count", ok(&[("stdout", "3\n")]));
    let scope = Scope::new(&facts, &outputs);
    let template = Template::new(
        "{{alarm.name}} {{ alarm.region }} {{ alarm.account }} {{ alarm.namespace }}/{{ alarm.metric }} \
         {{ alarm.dimensions.InstanceId }} {{ alarm.tags.aws:cloudformation:stack-name }} \
         {{ incident.id }} {{ incident.impact }} {{ plan }} {{ steps.count.status }} {{ steps.count.output.stdout }}",
    );
    assert_eq!(
        template.render(&scope).expect("renders"),
        "web-1-proc-gone eu-west-1 123456789012 CWAgent/procstat_lookup_pid_count \
         i-0abc1234def567890 web \
         inc-20260101T000000000Z-0123456789abcdef 2 agent-process-gone succeeded 3\n"
    );
    assert_eq!(
        Template::new("{{ alarm.arn }}").render(&scope),
        Ok("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-proc-gone".into())
    );
}

#[test]
fn variables_without_a_value_are_errors_never_empty_strings() {
    let bare = facts_with(&[]);
    let outputs = Outputs::default();
    let scope = Scope::new(&bare, &outputs);
    for (template, why) in [
        (
            "{{ alarm.dimensions.InstanceId }}",
            "no dimension `InstanceId`",
        ),
        ("{{ alarm.tags.team }}", "no tag `team`"),
        (
            "{{ steps.count.output.stdout }}",
            "step `count` has not run",
        ),
        ("{{ params.process }}", "no parameter `process`"),
    ] {
        let error = Template::new(template)
            .render(&scope)
            .expect_err("no value");
        assert!(
            matches!(&error, TemplateError::Missing { why: w, .. } if w.contains(why)),
            "{template}: {error}"
        );
    }
    let mut composite = facts_with(&[]);
    composite.alarm.metric = None;
    let scope = Scope::new(&composite, &outputs);
    assert!(Template::new("{{ alarm.metric }}").render(&scope).is_err());
    let mut outputs = Outputs::default();
    outputs.record("count", ok(&[]));
    let facts = facts();
    let scope = Scope::new(&facts, &outputs);
    assert!(Template::new("{{ steps.count.output.stdout }}")
        .render(&scope)
        .is_err());
}

const HOSTILE: &[&str] = &[
    "nginx; rm -rf /",
    "$(curl x)",
    "`curl x`",
    "nginx\nrm -rf /",
    "nginx'; rm -rf / #",
    "\"nginx\"",
    "-rf",
    "nginx && reboot",
    "",
    "a-very-long-process-name-that-goes-on-and-on-and-on-past-sixty-four-characters",
];

fn plan_restart(exe: &str) -> Planned {
    let facts = facts_with(&[("InstanceId", "i-0abc1234def567890"), ("exe", exe)]);
    start(&runbook("restart-process"), &facts, &Outputs::default())
}

#[test]
fn hostile_dimension_values_are_refused_and_never_rendered() {
    for value in HOSTILE {
        let planned = plan_restart(value);
        let Planned::Refused {
            step,
            error,
            outcome,
            ..
        } = planned
        else {
            panic!("`{value}` was not refused: {planned:?}")
        };
        assert_eq!(step, "restart");
        assert_eq!(outcome.status, StepStatus::Refused);
        let TemplateError::Refused {
            param,
            value_preview,
            pattern,
        } = &error
        else {
            panic!("wrong error for `{value}`: {error}")
        };
        assert_eq!(param, "process");
        assert_eq!(pattern, "^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$");
        assert!(
            !value_preview.contains('\n'),
            "preview must be escaped: {value_preview}"
        );
        let message = error.to_string();
        assert!(message.contains("refused parameter `process`"), "{message}");
        assert!(message.contains("was not used"), "{message}");
        assert!(outcome.summary.contains("refused parameter"), "{message}");
    }
}

#[test]
fn a_refused_step_escalates_with_the_reason() {
    let runbook = runbook("restart-process");
    let facts = facts_with(&[("InstanceId", "i-1"), ("exe", "$(curl x)")]);
    let outputs = Outputs::default();
    let Planned::Refused { step, outcome, .. } = start(&runbook, &facts, &outputs) else {
        panic!("refused")
    };
    match next_of(after_step(&runbook, &step, &outcome, &facts, &outputs)) {
        Next::Escalate { step, reason } => {
            assert_eq!(step.as_deref(), Some("restart"));
            assert!(
                reason.contains("refused") && reason.contains("$(curl x)"),
                "{reason}"
            );
        }
        other => panic!("expected escalate, got {other:?}"),
    }
}

#[test]
fn accepted_values_are_single_quoted_in_commands() {
    let Planned::Execute { step, input, .. } = plan_restart("nginx") else {
        panic!("nginx is a fine process name")
    };
    assert_eq!(step, "restart");
    let RenderedAction::RunCommand {
        document,
        parameters,
        targets,
        timeout_seconds,
        output_limit,
    } = input
    else {
        panic!("run_command")
    };
    assert_eq!(document, "AWS-RunShellScript");
    assert_eq!(parameters["commands"], ["systemctl restart -- 'nginx'"]);
    assert_eq!(parameters["executionTimeout"], ["120"]);
    assert_eq!(targets, ["i-0abc1234def567890"]);
    assert_eq!((timeout_seconds, output_limit), (120, 4096));
}

#[test]
fn quoting_survives_quotes_a_pattern_lets_through() {
    assert_eq!(shell_quote("nginx"), "'nginx'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
    let runbook = parse_runbook(
        "    - id: say\n      run_command:\n        commands: [\"echo {{ params.text }}\"]\n        params: { text: { from: \"{{ alarm.dimensions.exe }}\", pattern: \"[^\\\\n]*\" } }\n",
    );
    let facts = facts_with(&[("InstanceId", "i-1"), ("exe", "a'b; $(rm -rf /) `x`")]);
    let Planned::Execute { input, .. } = start(&runbook, &facts, &Outputs::default()) else {
        panic!("the permissive pattern accepts it")
    };
    let RenderedAction::RunCommand { parameters, .. } = input else {
        panic!("run_command")
    };
    assert_eq!(parameters["commands"], [r"echo 'a'\''b; $(rm -rf /) `x`'"]);
    // The same pattern still refuses a newline: the whole value must match.
    let facts = facts_with(&[("InstanceId", "i-1"), ("exe", "ok\nrm -rf /")]);
    assert!(matches!(
        start(&runbook, &facts, &Outputs::default()),
        Planned::Refused {
            error: TemplateError::Refused { .. },
            ..
        }
    ));
}

/// The real test of quoting: a POSIX shell given the quoted value prints it back.
fn shell_echo(value: &str) -> String {
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("printf '%s' {}", shell_quote(value)))
        .output()
        .expect("/bin/sh runs");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn quoted_values_reach_the_shell_as_themselves() {
    for value in HOSTILE
        .iter()
        .copied()
        .chain(["it's", "'", "''", "\\'", "$HOME", "a\tb", "*", "~", "%s"])
    {
        assert_eq!(shell_echo(value), value, "{value:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn any_quoted_value_reaches_the_shell_as_itself(value in "[^\\x00]{0,40}") {
        proptest::prop_assert_eq!(shell_echo(&value), value);
    }

    #[test]
    fn templates_never_panic(source in "(\\{\\{|\\}\\}|[ a-z.]|steps|alarm|params){0,20}") {
        let facts = facts();
        let outputs = Outputs::default();
        let template = Template::new(source);
        let _ = template.render(&Scope::new(&facts, &outputs));
    }
}

#[test]
fn patterns_must_match_the_whole_value() {
    let param = Param {
        from: Template::new("{{ alarm.dimensions.exe }}"),
        pattern: "[a-z]+".into(),
    };
    let outputs = Outputs::default();
    for (value, accepted) in [("nginx", true), ("nginx;", false), (";nginx", false)] {
        let facts = facts_with(&[("exe", value)]);
        let scope = Scope::new(&facts, &outputs);
        assert_eq!(
            quench_core::runbook::scope::check_param("p", &param, &scope).is_ok(),
            accepted,
            "{value}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The interpreter

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
            reason: "worked".into()
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
