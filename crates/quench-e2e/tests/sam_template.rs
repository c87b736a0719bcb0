//! The deployed SAM template (infra/template.yaml) against what the tests run: the
//! EventBridge rule's pattern is the one every sample alarm event is checked against, so a
//! sample the handler accepts but the rule would never deliver (or the reverse) fails
//! here, not in production.

use quench_local_stack::{
    function_actions, function_statements, references, repo_root, sam_template_properties,
    sam_template_resources, statement_actions, FUNCTIONS,
};
use serde_json::Value;

/// Samples that must not reach the state machine through the rule: an SNS delivery
/// arrives through a subscription, not EventBridge, and an EC2 event is not an alarm.
const NOT_FOR_THE_RULE: [&str; 2] = ["sns-wrapped-alarm.json", "wrong-type.json"];

/// EventBridge's matching for the pattern forms the template uses: a field's pattern is
/// a list of allowed exact values, or an object matched field by field.
fn matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, field_pattern)| {
            event
                .get(name)
                .is_some_and(|value| matches(field_pattern, value))
        }),
        Value::Array(allowed) => match event {
            Value::Array(values) => values.iter().any(|v| allowed.contains(v)),
            value => allowed.contains(value),
        },
        _ => false,
    }
}

fn rule_pattern() -> Value {
    let machine = sam_template_properties("IncidentResponseStateMachine").expect("state machine");
    let pattern = &machine["Events"]["AlarmStateChange"]["Properties"]["Pattern"];
    serde_json::to_value(pattern).expect("pattern as JSON")
}

#[test]
fn every_alarm_sample_matches_the_deployed_rule_and_nothing_else_does() {
    let pattern = rule_pattern();
    assert!(pattern.is_object(), "no pattern in the template: {pattern}");
    let dir = repo_root().join("events/alarm-to-incident");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("samples") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let expected = !NOT_FOR_THE_RULE.contains(&name.as_str());
        assert_eq!(
            matches(&pattern, &event),
            expected,
            "{name} against {pattern}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} samples");
}

#[test]
fn the_matcher_refuses_what_eventbridge_refuses() {
    let pattern = serde_json::json!({"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}});
    let event = |source: &str, state: &str| serde_json::json!({"source": source, "detail": {"state": {"value": state}}});
    assert!(matches(&pattern, &event("aws.cloudwatch", "ALARM")));
    assert!(!matches(&pattern, &event("aws.ec2", "ALARM")));
    assert!(!matches(&pattern, &event("aws.cloudwatch", "OK")));
    assert!(!matches(
        &pattern,
        &serde_json::json!({"source": "aws.cloudwatch"})
    ));
}

fn resources() -> serde_yaml_ng::Mapping {
    sam_template_resources().expect("template resources")
}

#[test]
fn every_function_has_a_log_retention_and_an_errors_alarm_and_the_ticker_a_heartbeat() {
    let resources = resources();
    let of_type = |kind: &str| -> Vec<(String, serde_yaml_ng::Value)> {
        resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(id, r)| (id.as_str().unwrap_or_default().to_string(), r.clone()))
            .collect()
    };
    let functions = of_type("AWS::Serverless::Function");
    assert_eq!(
        functions.len(),
        4,
        "{:?}",
        functions.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let log_groups = of_type("AWS::Logs::LogGroup");
    let alarms = of_type("AWS::CloudWatch::Alarm");
    for (function, definition) in &functions {
        let logging = &definition["Properties"]["LoggingConfig"]["LogGroup"];
        assert!(
            log_groups
                .iter()
                .any(|(group, g)| references(logging, group)
                    && !g["Properties"]["RetentionInDays"].is_null()),
            "{function} has no log group with a retention"
        );
        assert!(
            alarms.iter().any(
                |(_, a)| a["Properties"]["MetricName"].as_str() == Some("Errors")
                    && references(&a["Properties"]["Dimensions"], function)
            ),
            "{function} has no errors alarm"
        );
    }
    let heartbeat = alarms
        .iter()
        .find(|(_, a)| a["Properties"]["MetricName"].as_str() == Some("Invocations"))
        .expect("a heartbeat alarm");
    let properties = &heartbeat.1["Properties"];
    assert!(references(
        &properties["Dimensions"],
        "EscalationTickerFunction"
    ));
    assert_eq!(
        properties["TreatMissingData"].as_str(),
        Some("breaching"),
        "silence is the failure"
    );
    for (id, alarm) in &alarms {
        assert!(
            references(&alarm["Properties"]["AlarmActions"], "OpsAlertsTopic"),
            "{id} notifies nobody"
        );
    }
}

fn workflow(name: &str) -> (String, serde_yaml_ng::Value) {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows").join(name))
        .expect("workflow");
    let parsed = serde_yaml_ng::from_str(&text).expect("workflow yaml");
    (text, parsed)
}

#[test]
fn ci_runs_the_readme_test_command_and_deploy_uses_oidc_without_keys() {
    let (ci, _) = workflow("ci.yml");
    assert!(
        ci.contains("bash .ci/run") && ci.contains("make lint"),
        "{ci}"
    );
    // CI builds the deployable artifacts after the tests, and make deploy scopes the
    // roles to the config and syncs the pages topic.
    let ci_run = std::fs::read_to_string(repo_root().join(".ci/run")).expect(".ci/run");
    let test_at = ci_run.find("make test").expect("make test in .ci/run");
    let build_at = ci_run
        .find("make build ARCH=x86_64")
        .expect("sam build in .ci/run");
    assert!(test_at < build_at, "{ci_run}");
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).expect("Makefile");
    let deploy_recipe = makefile
        .split("\ndeploy:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a deploy target");
    for step in [
        "$(DEPLOY_PARAMETERS)",
        "$(SAM) deploy",
        "sync-subscriptions",
    ] {
        assert!(deploy_recipe.contains(step), "make deploy lacks `{step}`");
    }
    let (text, deploy) = workflow("deploy.yml");
    let job = &deploy["jobs"]["deploy"];
    assert_eq!(job["permissions"]["id-token"].as_str(), Some("write"));
    assert_eq!(
        job["needs"].as_str(),
        Some("test"),
        "deploy only what passed"
    );
    let steps: Vec<String> = job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .map(|s| serde_yaml_ng::to_string(s).unwrap_or_default())
        .collect();
    let position = |needle: &str| steps.iter().position(|s| s.contains(needle));
    let validate = position("make validate-config").expect("config validated");
    let deploy_step = position("make deploy").expect("make deploy");
    assert!(
        validate < deploy_step,
        "the config is validated before deploy"
    );
    assert!(position("role-to-assume").is_some_and(|p| p < deploy_step));
    for secret in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            !text.contains(secret),
            "long-lived key `{secret}` in deploy.yml"
        );
    }
}

/// Actions IAM cannot scope to a resource: a statement may grant these on `*`.
const NO_RESOURCE_LEVEL: [&str; 6] = [
    "ssm:GetCommandInvocation",
    "ssm:ListCommands",
    "ssm:CreateOpsItem",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstances",
    "cloudwatch:GetMetricData",
];

/// Every statement of every role in the template: the functions' (managed policies
/// included) and the automation role's.
fn all_statements() -> Vec<(String, serde_yaml_ng::Value)> {
    let mut statements = Vec::new();
    for binary in FUNCTIONS {
        for statement in function_statements(binary).expect("statements") {
            statements.push((binary.to_string(), statement));
        }
    }
    let automation = sam_template_properties("AutomationRole").expect("automation role");
    for policy in automation["Policies"].as_sequence().expect("policies") {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_sequence()
            .expect("statements")
        {
            statements.push(("AutomationRole".to_string(), statement.clone()));
        }
    }
    statements
}

#[test]
fn every_role_grants_named_actions_on_named_resources() {
    let statements = all_statements();
    assert!(statements.len() > 20, "{} statements", statements.len());
    // Managed policies and both branches of each `!If` are read.
    let chat = function_actions("chat-notifier").expect("chat-notifier actions");
    for action in [
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
        "ssm:GetParameter",
    ] {
        assert!(chat.contains(action), "{action} not in {chat:?}");
    }
    for (role, statement) in &statements {
        let actions = statement_actions(statement);
        assert!(!actions.is_empty(), "{role}: a statement without actions");
        for action in &actions {
            assert!(!action.contains('*'), "{role}: wildcard action `{action}`");
        }
        let on_everything = statement["Resource"].as_str() == Some("*");
        let conditioned = statement.get("Condition").is_some();
        if on_everything && !conditioned {
            for action in &actions {
                assert!(
                    NO_RESOURCE_LEVEL.contains(&action.as_str()),
                    "{role}: `{action}` on every resource; name the resource or a condition"
                );
            }
        }
        // A NotResource grant is the SMS publish alone: everything that is not a topic.
        if let Some(not) = statement.get("NotResource") {
            assert_eq!(actions, ["sns:Publish"], "{role}: {not:?}");
        }
    }
    // Remediation reaches only instances tagged for it, in every role that remediates.
    for (role, statement) in &statements {
        let actions = statement_actions(statement);
        if actions.iter().any(|a| {
            a == "ec2:RebootInstances" || a == "ec2:StopInstances" || a == "ec2:StartInstances"
        }) || (actions == ["ssm:SendCommand"]
            && serde_yaml_ng::to_string(&statement["Resource"])
                .unwrap_or_default()
                .contains(":instance/"))
        {
            let condition = serde_yaml_ng::to_string(&statement["Condition"]).unwrap_or_default();
            assert!(
                condition.contains("quench:remediate"),
                "{role}: {actions:?} without the tag condition"
            );
        }
    }
    // iam:PassRole only for the automation role, only to SSM.
    let pass_role: Vec<_> = statements
        .iter()
        .filter(|(_, s)| statement_actions(s).contains(&"iam:PassRole".to_string()))
        .collect();
    assert_eq!(pass_role.len(), 1, "{pass_role:?}");
    let (role, statement) = pass_role[0];
    assert_eq!(role, "runbook-step");
    assert!(
        serde_yaml_ng::to_string(&statement["Resource"])
            .unwrap_or_default()
            .contains("AutomationRole"),
        "{statement:?}"
    );
    assert!(
        serde_yaml_ng::to_string(&statement["Condition"])
            .unwrap_or_default()
            .contains("ssm.amazonaws.com"),
        "{statement:?}"
    );
}

/// OpsCenter is the account's, not Quench's: the mirror updates only the OpsItems it
/// created, which carry its tag, and may tag only what it creates with that tag.
#[test]
fn opsitem_updates_reach_only_the_opsitems_quench_tagged() {
    let (key, value) = quench_aws::mirror::OPS_ITEM_TAG;
    let statements = function_statements("alarm-to-incident").expect("statements");
    let granting = |action: &str| -> Vec<&serde_yaml_ng::Value> {
        statements
            .iter()
            .filter(|s| statement_actions(s).contains(&action.to_string()))
            .collect()
    };
    let updates = granting("ssm:UpdateOpsItem");
    assert_eq!(updates.len(), 1, "{updates:?}");
    let condition = &updates[0]["Condition"]["StringEquals"];
    assert_eq!(
        condition[format!("aws:ResourceTag/{key}").as_str()].as_str(),
        Some(value),
        "UpdateOpsItem on every OpsItem of the account: {:?}",
        updates[0]
    );
    let tagging = granting("ssm:AddTagsToResource");
    assert_eq!(tagging.len(), 1, "{tagging:?}");
    let condition = &tagging[0]["Condition"];
    assert_eq!(
        condition["StringEquals"][format!("aws:RequestTag/{key}").as_str()].as_str(),
        Some(value),
        "{condition:?}"
    );
    assert_eq!(
        serde_yaml_ng::to_string(&condition["ForAllValues:StringEquals"]["aws:TagKeys"])
            .unwrap_or_default()
            .trim(),
        format!("- {key}"),
        "{condition:?}"
    );
    for statement in updates.iter().chain(&tagging) {
        assert!(
            serde_yaml_ng::to_string(&statement["Resource"])
                .unwrap_or_default()
                .contains(":opsitem/*"),
            "{statement:?}"
        );
    }
}

/// The template's config-derived parameters default to what the bundled config needs, so
/// a config change that reaches a new document, topic or secret fails here until the
/// defaults follow (the pipeline passes the real values; see deploy.yml).
#[test]
fn deploy_parameter_defaults_are_what_the_bundled_config_needs() {
    let config = quench_core::config::Config::parse(quench_aws::sdk::BUNDLED_CONFIG)
        .expect("bundled config");
    let sam_template = quench_local_stack::sam_template().expect("SAM template");
    let derived = quench_core::deploy::deploy_parameters(&config, "aws");
    assert_eq!(derived.len(), 6);
    for parameter in derived {
        let declared = &sam_template["Parameters"][parameter.name];
        assert_eq!(
            declared["Default"].as_str(),
            Some(parameter.value().as_str()),
            "Parameters.{}.Default",
            parameter.name
        );
    }
}

/// An alarm change EventBridge cannot deliver is kept, and someone hears of it.
#[test]
fn undeliverable_alarm_events_go_to_a_watched_dead_letter_queue() {
    let machine = sam_template_properties("IncidentResponseStateMachine").expect("state machine");
    let rule = &machine["Events"]["AlarmStateChange"]["Properties"];
    assert!(
        references(
            &rule["DeadLetterConfig"]["Arn"],
            "AlarmEventsDeadLetterQueue"
        ),
        "{rule:?}"
    );
    assert!(rule["RetryPolicy"]["MaximumRetryAttempts"].as_u64() > Some(0));
    let watched = resources().values().any(|resource| {
        resource["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
            && references(
                &resource["Properties"]["Dimensions"],
                "AlarmEventsDeadLetterQueue",
            )
            && references(&resource["Properties"]["AlarmActions"], "OpsAlertsTopic")
    });
    assert!(watched, "no alarm on the alarm events' dead letters");
}
