//! Loading, validation, routing and the JSON Schema of the config file.

use quench_core::alarm::parse_alarm_event;
use quench_core::config::{Config, ConfigError, Dedupe, InsufficientData, ResolveOnOk};
use quench_core::duration::Span;
use quench_core::routing::RoutingError;

const EXAMPLE: &str = include_str!("../../../infra/quench.yaml");
const SCHEMA: &str = include_str!("../../../schema/quench-config.schema.json");

fn sample(name: &str) -> quench_core::alarm::AlarmChange {
    let path = format!(
        "{}/../../events/alarm-to-incident/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).expect("sample exists");
    let received = "2026-11-20T12:00:00Z".parse().expect("an instant");
    parse_alarm_event(&raw, received)
        .expect("sample parses")
        .remove(0)
}

fn error_of(text: &str) -> String {
    Config::parse(text)
        .expect_err("config must be refused")
        .to_string()
}

const MINIMAL: &str = "version: 1\nplans:\n  p:\n    impact: 3\n";

#[test]
fn example_config_is_valid_and_complete() {
    let config = Config::parse(EXAMPLE).expect("example config is valid");
    assert_eq!(config.default_plan.as_deref(), Some("catch-all"));
    let health = &config.plans["ec2-instance-health"];
    assert_eq!(health.dedupe, Dedupe::Dimensions(vec!["InstanceId".into()]));
    assert_eq!(
        health.resolve_on_ok,
        ResolveOnOk::After(Span::from_secs(120))
    );
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::parse(MINIMAL).expect("valid");
    let plan = &config.plans["p"];
    assert_eq!(plan.dedupe, Dedupe::Alarm);
    assert_eq!(plan.resolve_on_ok, ResolveOnOk::Immediately);
    assert_eq!(plan.insufficient_data, InsufficientData::Ignore);
    assert_eq!(plan.flap_window, Span::from_secs(600));
    assert!(plan.mirror.is_off());
}

#[test]
fn json_is_accepted_too() {
    let config = Config::parse(r#"{"version": 1, "plans": {"p": {"impact": 1}}}"#).expect("valid");
    assert_eq!(config.plans["p"].impact, 1);
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let error = error_of("version: 1\nplans:\n  p:\n    impact: 3\n    runbok: x\n");
    assert!(error.contains("plans.p"), "{error}");
    assert!(error.contains("unknown field `runbok`"), "{error}");
}

#[test]
fn wrong_types_name_the_field() {
    let error = error_of("version: 1\nplans:\n  p:\n    impact: high\n");
    assert!(error.contains("plans.p.impact"), "{error}");
}

#[test]
fn each_semantic_error_names_its_field() {
    let cases = [
        ("version: 2\nplans:\n  p:\n    impact: 3\n", "`version`"),
        ("version: 1\nplans: {}\n", "`plans`"),
        ("version: 1\nplans:\n  p:\n    impact: 0\n", "`plans.p.impact`"),
        ("version: 1\nplans:\n  p:\n    impact: 6\n", "`plans.p.impact`"),
        ("version: 1\nplans:\n  'bad name':\n    impact: 3\n", "`plans.bad name`"),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    dedupe: { dimensions: [] }\n",
            "`plans.p.dedupe.dimensions`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    resolve_on_ok: after 0s\n",
            "`plans.p.resolve_on_ok`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    mirror: { incident_manager: { response_plan_arn: nope } }\n",
            "`plans.p.mirror.incident_manager.response_plan_arn`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    mirror: { ops_center: { severity: '9' } }\n",
            "`plans.p.mirror.ops_center.severity`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\nroutes:\n  - plan: q\n",
            "`routes[0].plan`",
        ),
        ("version: 1\nplans:\n  p:\n    impact: 3\ndefault_plan: q\n", "`default_plan`"),
        ("version: 1\nplans:\n  p:\n    impact: 3\n    title: ' '\n", "`plans.p.title`"),
    ];
    for (text, path) in cases {
        let error = error_of(text);
        assert!(error.contains(path), "expected {path} in: {error}");
    }
}

#[test]
fn bad_policy_values_name_the_field() {
    for (text, path, words) in [
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    resolve_on_ok: sometimes\n",
            "plans.p.resolve_on_ok",
            "`immediately`, `never` or `after <duration>`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    resolve_on_ok: after 5x\n",
            "plans.p.resolve_on_ok",
            "unit `x`",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    flap_window: 10\n",
            "plans.p.flap_window",
            "needs a unit",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    insufficient_data: panic\n",
            "plans.p.insufficient_data",
            "unknown variant",
        ),
        (
            "version: 1\nplans:\n  p:\n    impact: 3\n    dedupe: instance\n",
            "plans.p.dedupe",
            "`instance` is not `alarm`, `plan`",
        ),
    ] {
        let error = error_of(text);
        assert!(error.contains(path), "expected {path} in: {error}");
        assert!(error.contains(words), "expected {words} in: {error}");
    }
}

#[test]
fn several_errors_are_reported_together() {
    let error = error_of("version: 1\nplans:\n  p:\n    impact: 9\nroutes:\n  - plan: nope\n");
    assert!(
        error.contains("plans.p.impact") && error.contains("routes[0].plan"),
        "{error}"
    );
}

#[test]
fn syntax_errors_and_oversized_files_are_refused() {
    assert!(matches!(
        Config::parse("version: [1"),
        Err(ConfigError::Syntax(_) | ConfigError::Field { .. })
    ));
    let huge = format!("{MINIMAL}# {}\n", "x".repeat(2 * 1024 * 1024));
    assert!(matches!(Config::parse(&huge), Err(ConfigError::Syntax(m)) if m.contains("bytes")));
}

#[test]
fn routes_by_namespace_and_metric() {
    let config = Config::parse(EXAMPLE).expect("valid");
    let route = |name: &str| {
        config
            .route(&sample(name))
            .expect("routed")
            .plan_name
            .to_string()
    };
    assert_eq!(
        route("instance-check-failed-alarm.json"),
        "ec2-instance-health"
    );
    assert_eq!(route("cpu-high-alarm.json"), "ec2-cpu-high");
    assert_eq!(route("agent-process-gone-alarm.json"), "agent-process-gone");
    assert_eq!(route("contributor-alarm.json"), "fleet");
    assert_eq!(route("sns-wrapped-alarm.json"), "catch-all");
    assert_eq!(route("composite-alarm.json"), "catch-all");
}

fn config_with_route(conditions: &str) -> Config {
    Config::parse(&format!(
        "version: 1\nplans:\n  hit: {{ impact: 1 }}\n  miss: {{ impact: 5 }}\nroutes:\n  - plan: hit\n    match: {conditions}\ndefault_plan: miss\n"
    ))
    .expect("valid")
}

#[test]
fn each_condition_decides_alone() {
    let cpu = sample("cpu-high-alarm.json");
    for (conditions, expected) in [
        ("{}", "hit"),
        ("{ namespace: AWS/EC2 }", "hit"),
        ("{ namespace: AWS/RDS }", "miss"),
        ("{ namespace: 'AWS/*' }", "hit"),
        ("{ metric: CPUUtilization }", "hit"),
        ("{ metric: 'CPU*' }", "hit"),
        ("{ metric: NetworkIn }", "miss"),
        ("{ dimensions: { InstanceId: 'i-0abc*' } }", "hit"),
        ("{ dimensions: { InstanceId: 'i-9*' } }", "miss"),
        ("{ dimensions: { AutoScalingGroupName: '*' } }", "miss"),
        ("{ alarm_name: 'web-?-cpu-*' }", "hit"),
        ("{ alarm_name: 'db-*' }", "miss"),
        ("{ tags: { team: web } }", "hit"),
        ("{ tags: { team: db } }", "miss"),
        ("{ tags: { owner: '*' } }", "miss"),
        ("{ namespace: AWS/EC2, tags: { team: db } }", "miss"),
    ] {
        let config = config_with_route(conditions);
        assert_eq!(
            config.route(&cpu).expect("routed").plan_name,
            expected,
            "conditions {conditions}"
        );
    }
}

#[test]
fn first_matching_route_wins() {
    let config = Config::parse(
        "version: 1\nplans:\n  first: { impact: 1 }\n  second: { impact: 2 }\nroutes:\n  - plan: first\n    match: { namespace: AWS/EC2 }\n  - plan: second\n    match: { metric: CPUUtilization }\n",
    )
    .expect("valid");
    let routed = config
        .route(&sample("cpu-high-alarm.json"))
        .expect("routed");
    assert_eq!((routed.plan_name, routed.route), ("first", Some(0)));
}

#[test]
fn no_match_without_default_is_a_typed_error() {
    let config = Config::parse("version: 1\nplans:\n  p: { impact: 1 }\nroutes:\n  - plan: p\n    match: { namespace: AWS/RDS }\n").expect("valid");
    let error = config.route(&sample("cpu-high-alarm.json")).unwrap_err();
    assert_eq!(
        error,
        RoutingError::NoPlan {
            alarm: "web-1-cpu-high".into()
        }
    );
}

#[test]
fn dedup_keys_follow_the_plan() {
    let cpu = sample("cpu-high-alarm.json");
    let fleet = sample("contributor-alarm.json");
    let plan_of = |dedupe: &str| {
        Config::parse(&format!(
            "version: 1\nplans:\n  p: {{ impact: 1, dedupe: {dedupe} }}\ndefault_plan: p\n"
        ))
        .expect("valid")
    };
    let alarm = plan_of("alarm");
    assert_eq!(
        alarm.route(&cpu).expect("routed").dedup_key(&cpu),
        "alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-cpu-high"
    );
    let contributor_key = alarm.route(&fleet).expect("routed").dedup_key(&fleet);
    assert!(
        contributor_key.ends_with("#5e1f0a9c3b7d2e48"),
        "{contributor_key}"
    );
    let by_plan = plan_of("plan");
    assert_eq!(
        by_plan.route(&cpu).expect("routed").dedup_key(&cpu),
        "plan:p"
    );
    let by_instance = plan_of("{ dimensions: [InstanceId] }");
    assert_eq!(
        by_instance.route(&cpu).expect("routed").dedup_key(&cpu),
        "dims:p:InstanceId=i-0abc1234def567890"
    );
    let composite = sample("composite-alarm.json");
    assert!(by_instance
        .route(&composite)
        .expect("routed")
        .dedup_key(&composite)
        .starts_with("alarm:"));
}

#[test]
fn committed_schema_matches_the_types() {
    let committed: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    assert_eq!(
        committed,
        Config::json_schema(),
        "schema/quench-config.schema.json is stale: run `make schema`"
    );
}

#[test]
fn chat_channels_are_checked_and_secrets_are_only_named() {
    let config = Config::parse(
        "version: 1\nplans:\n  p: { impact: 3, chat: [ops, bot] }\n\
         chat:\n  channels:\n\
         \x20   ops: { slack_webhook: { url: { ssm: /quench/slack-webhook } } }\n\
         \x20   bot: { chatbot: { topic_arn: 'arn:aws:sns:eu-west-1:123456789012:quench-chatbot' } }\n",
    )
    .expect("valid chat config");
    assert_eq!(config.plans["p"].chat, vec!["ops", "bot"]);
    assert_eq!(config.chat.channels.len(), 2);

    let cases = [
        ("plans.p.chat[0]", "no chat channel is named `nope`", "p: { impact: 3, chat: [nope] }", ""),
        ("plans.p.chat[1]", "listed twice", "p: { impact: 3, chat: [a, a] }", "    a: { chime: { url: { ssm: /x } } }\n"),
        ("chat.channels.a.teams.url", "looks like the secret itself", "p: { impact: 3 }", "    a: { teams: { url: { secrets_manager: 'https://example.webhook.office.com/x' } } }\n"),
        ("chat.channels.a.chatbot.topic_arn", "not an SNS topic ARN", "p: { impact: 3 }", "    a: { chatbot: { topic_arn: quench } }\n"),
        ("chat.channels.a.slack.channel", "empty", "p: { impact: 3 }", "    a: { slack: { token: { ssm: /t }, channel: ' ' } }\n"),
        ("chat.channels.a.webhook.signing_key", "name the secret", "p: { impact: 3 }", "    a: { webhook: { url: { ssm: /u }, signing_key: { ssm: '' } } }\n"),
    ];
    for (path, problem, plan, channels) in cases {
        let text = format!("version: 1\nplans:\n  {plan}\nchat:\n  channels:\n{channels}");
        let text = if channels.is_empty() {
            format!("version: 1\nplans:\n  {plan}\n")
        } else {
            text
        };
        let error = error_of(&text);
        assert!(
            error.contains(&format!("`{path}`")) && error.contains(problem),
            "{path}: {error}"
        );
    }
    // A literal URL where a secret reference belongs is not even the right type.
    let error = error_of(
        "version: 1\nplans:\n  p: { impact: 3 }\nchat:\n  channels:\n    a: { chime: { url: 'https://hooks.chime.aws/x' } }\n",
    );
    assert!(error.contains("chat.channels.a"), "{error}");
}

/// Amazon Chime reached its end of support on 2026-02-20: a `chime` channel still reads
/// and validates, and `quench-config validate` says to move on, without failing.
#[test]
fn a_chime_channel_is_valid_with_a_deprecation_warning() {
    let text = "version: 1\nplans:\n  p: { impact: 3, chat: [old, new] }\n\
                chat:\n  channels:\n\
                \x20   old: { chime: { url: { ssm: /quench/chime-webhook } } }\n\
                \x20   new: { teams: { url: { ssm: /quench/teams-webhook } } }\n";
    let file = std::env::temp_dir().join(format!("quench-chime-{}.yaml", std::process::id()));
    std::fs::write(&file, text).expect("temp file");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quench-config"))
        .arg("validate")
        .arg(&file)
        .output()
        .expect("quench-config runs");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    for expected in [
        "`chat.channels.old.chime`",
        "end of support on 2026-02-20",
        "slack",
        "teams",
        "chatbot",
    ] {
        assert!(warnings[0].contains(expected), "{expected}: {stderr}");
    }
}
