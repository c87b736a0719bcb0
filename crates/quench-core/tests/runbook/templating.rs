//! Templating: variables, hostile dimension values, quoting that survives the shell.

use super::*;

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

/// An automation document may hand its parameters to a shell or an API: alarm data
/// reaches them only through a declared param whose whole value matches its pattern.
#[test]
fn automation_parameters_take_alarm_data_only_through_checked_params() {
    let runbook = parse_runbook(
        r#"    - id: restart
      automation:
        document: Custom-RestartService
        parameters:
          InstanceId: "{{ params.instance }}"
          Service: ["{{ params.service }}", "fallback"]
        params:
          instance: { from: "{{ alarm.dimensions.InstanceId }}", pattern: "^i-[0-9a-f]{8,17}$" }
          service: { from: "{{ alarm.dimensions.exe }}", pattern: "^[a-z]{1,32}$" }
"#,
    );
    let outputs = Outputs::default();
    let Planned::Execute { input, .. } = start(&runbook, &facts(), &outputs) else {
        panic!("nginx on i-0abc1234def567890 passes")
    };
    let RenderedAction::Automation { parameters, .. } = input else {
        panic!("automation")
    };
    assert_eq!(parameters["InstanceId"], ["i-0abc1234def567890"]);
    assert_eq!(parameters["Service"], ["nginx", "fallback"]);
    for value in HOSTILE {
        let facts = facts_with(&[("InstanceId", "i-0abc1234def567890"), ("exe", value)]);
        match start(&runbook, &facts, &outputs) {
            Planned::Refused {
                error: TemplateError::Refused { param, .. },
                ..
            } => assert_eq!(param, "service"),
            other => panic!("`{value}` was not refused: {other:?}"),
        }
    }
}
