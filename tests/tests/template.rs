//! The deployed template against what the tests run: the EventBridge rule's pattern is
//! the one every sample alarm event is checked against, so a sample the handler accepts
//! but the rule would never deliver (or the reverse) fails here, not in production.

use quench_e2e::{repo_root, template_properties};
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
    let machine = template_properties("IncidentResponseStateMachine").expect("state machine");
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
