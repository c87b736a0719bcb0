//! Parsing: every action, round trips, and errors that keep their path.

use super::*;

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
        parameters: { InstanceId: "{{ params.instance }}", IncidentId: "{{ params.incident }}" }
        params:
          instance: { from: "{{ alarm.dimensions.InstanceId }}", pattern: "^i-[0-9a-f]{1,17}$" }
          incident: { from: "{{ incident.id }}", pattern: "^inc-[0-9TZ]+-[0-9a-f]{16}$" }
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
