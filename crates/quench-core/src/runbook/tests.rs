//! Unit tests of the runbook folder's private parts.

use super::template::*;

#[test]
fn finds_placeholders_inside_quotes_only() {
    let texts = |script: &str| -> Vec<String> {
        quoted_placeholders(script)
            .into_iter()
            .map(|q| q.text)
            .collect()
    };
    assert!(texts("systemctl restart {{ params.p }}").is_empty());
    assert_eq!(texts("echo '{{ params.p }}'"), vec!["{{ params.p }}"]);
    assert_eq!(texts("echo \"x {{ params.p }}\""), vec!["{{ params.p }}"]);
    assert!(texts("echo \\'{{ params.p }}").is_empty());
    assert!(texts("echo 'a' {{ params.p }} \"b\"").is_empty());
    // A quote left open runs on into the next line, as the shell reads the script.
    let script = "echo \"start\n{{ params.p }} end\"\necho {{ params.q }}";
    assert_eq!(
        quoted_placeholders(script),
        vec![QuotedPlaceholder {
            at: 12,
            opened_at: 5,
            text: "{{ params.p }}".into()
        }]
    );
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
