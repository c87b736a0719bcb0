//! Unit tests of the runbook folder's private parts.

use super::template::*;

#[test]
fn finds_placeholders_inside_quotes_only() {
    assert!(quoted_placeholders("systemctl restart {{ params.p }}").is_empty());
    assert_eq!(
        quoted_placeholders("echo '{{ params.p }}'"),
        vec!["{{ params.p }}"]
    );
    assert_eq!(
        quoted_placeholders("echo \"x {{ params.p }}\""),
        vec!["{{ params.p }}"]
    );
    assert!(quoted_placeholders("echo \\'{{ params.p }}").is_empty());
    assert!(quoted_placeholders("echo 'a' {{ params.p }} \"b\"").is_empty());
}

#[test]
fn var_paths_round_trip() {
    for path in [
        "alarm.name",
        "alarm.dimensions.InstanceId",
        "alarm.tags.aws:cloudformation:stack-name",
        "steps.count.output.stdout",
        "steps.count.status",
        "params.process",
        "plan",
    ] {
        assert_eq!(Var::parse(path).map(|v| v.to_string()), Ok(path.into()));
    }
    for path in [
        "alarm",
        "alarm.dimensions.",
        "steps.x",
        "steps.x.output.",
        "params.A",
    ] {
        assert!(Var::parse(path).is_err(), "{path}");
    }
}
