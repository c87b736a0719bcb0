//! Time at its edges. Durations longer than a field allows are refused when the config
//! is read; and a state timestamp anywhere a timestamp can be, with every duration at
//! the most validation lets through and a clock up to the end of time, never makes a
//! decision panic. (alarm-to-incident refuses a state timestamp from the future before
//! it is decided; the decisions hold without that.)

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use quench_core::alarm::{AlarmChange, AlarmKind, AlarmSource, AlarmState};
use quench_core::config::Config;
use quench_core::incident::{
    confirm_pending_resolve, decide, operate, tick, AlarmReading, DedupHead, Operation,
    OperationKind, Seen,
};

/// A config with `plan` (YAML flow fields) for plan `p`, contact alice engaged with
/// `engagement`, and policy `front` whose stage waits `timeout`.
fn config_text(plan: &str, engagement: &str, timeout: &str) -> String {
    format!(
        r#"
version: 1
default_plan: p
plans:
  p: {{ impact: 2, escalation: front, {plan} }}
contacts:
  alice: {{ email: alice@example.com, phone: "+4915112345678", engagement: [{{ via: email }}, {{ via: sms, after: {engagement} }}] }}
escalation_policies:
  front: {{ repeat: 1, stages: [{{ targets: [{{ contact: alice }}], timeout: {timeout} }}] }}
runbooks:
  r:
    - {{ id: wait, sleep: 1d }}
    - {{ id: look, metric.query: {{ namespace: AWS/EC2, metric: CPUUtilization, period: 1d }} }}
"#
    )
}

/// Every duration at the most its field allows.
fn longest() -> Config {
    let plan =
        "resolve_on_ok: after 1d, flap_window: 7d, acknowledge_timeout: 7d, stale_after: 30d";
    Config::parse(&config_text(plan, "1d", "1d")).expect("the longest durations are valid")
}

#[test]
fn durations_longer_than_their_field_allows_are_refused() {
    let plan =
        "resolve_on_ok: after 1d, flap_window: 7d, acknowledge_timeout: 7d, stale_after: 30d";
    let cases = [
        (
            config_text("stale_after: 36600d", "1d", "1d"),
            "plans.p.stale_after",
            "at most 30d",
        ),
        (
            config_text("stale_after: 30d1s", "1d", "1d"),
            "plans.p.stale_after",
            "at most 30d",
        ),
        (
            config_text("acknowledge_timeout: 8d", "1d", "1d"),
            "plans.p.acknowledge_timeout",
            "at most 7d",
        ),
        (
            config_text("flap_window: 8d", "1d", "1d"),
            "plans.p.flap_window",
            "at most 7d",
        ),
        (
            config_text("resolve_on_ok: after 2d", "1d", "1d"),
            "plans.p.resolve_on_ok",
            "at most 1d",
        ),
        (
            config_text(plan, "25h", "1d"),
            "contacts.alice.engagement[1].after",
            "at most 1d",
        ),
        (
            config_text(plan, "1d", "2d"),
            "escalation_policies.front.stages[0].timeout",
            "at most 1d",
        ),
        (
            config_text(plan, "1d", "1d").replace("period: 1d", "period: 2d"),
            "runbooks.r[1].metric.query.period",
            "at most 1d",
        ),
    ];
    for (text, path, problem) in cases {
        let error = Config::parse(&text).expect_err(path).to_string();
        assert!(
            error.contains(&format!("`{path}`")) && error.contains(problem),
            "{path}: {error}"
        );
    }
    // A duration no field could hold is refused as it is read, whatever its field.
    for absurd in ["999999999999d", "99999999999999999999s"] {
        let text = config_text(plan, "1d", absurd);
        let error = Config::parse(&text).expect_err(absurd).to_string();
        assert!(
            error.contains("escalation_policies.front.stages[0].timeout")
                && error.contains("the longest duration Quench reads"),
            "{error}"
        );
    }
}

fn change(state: AlarmState, at: DateTime<Utc>) -> AlarmChange {
    AlarmChange {
        source: AlarmSource::EventBridge,
        kind: AlarmKind::Metric,
        alarm_name: "web-1-cpu".into(),
        alarm_arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-cpu".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        state,
        previous_state: None,
        state_at: at,
        reason: state.to_string(),
        description: None,
        metrics: Vec::new(),
        threshold: None,
        comparison: None,
        alarm_rule: None,
        tags: BTreeMap::new(),
        contributor: None,
    }
}

/// Applies `change` to `head`; the head it leaves.
fn deliver(config: &Config, head: Option<DedupHead>, change: &AlarmChange) -> Option<DedupHead> {
    let routed = config.route(change).expect("the default plan");
    let key = routed.dedup_key(change);
    match decide(head.as_ref(), change, &routed, &key).commit {
        Some(commit) => Some(commit.head),
        None => head,
    }
}

fn by_alice(head: &DedupHead, action: OperationKind) -> Option<Operation> {
    head.incident.as_ref().map(|incident| Operation {
        action,
        dedup_key: head.dedup_key.clone(),
        incident_id: incident.id.clone(),
        by: "alice".into(),
        reason: String::new(),
        unless_alarmed_after: None,
    })
}

fn instant(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).expect("in range")
}

/// Anywhere a timestamp can be, its ends most often.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (first, last) = (
        DateTime::<Utc>::MIN_UTC.timestamp_millis(),
        DateTime::<Utc>::MAX_UTC.timestamp_millis(),
    );
    prop_oneof![
        (first..=last).prop_map(instant),
        (0_i64..(30 * 86_400_000)).prop_map(move |back| instant(last - back)),
        (0_i64..(30 * 86_400_000)).prop_map(move |on| instant(first + on)),
        Just(DateTime::<Utc>::MAX_UTC),
    ]
}

proptest! {
    /// An alarm at `at` opens, escalates, is acknowledged, recovers and is ticked at
    /// `now`, all with the longest durations: nothing panics on the way.
    #[test]
    fn no_decision_panics_at_the_edges_of_time(at in any_instant(), now in any_instant()) {
        let config = longest();
        let opened = deliver(&config, None, &change(AlarmState::Alarm, at));
        let mut head = opened.expect("an ALARM opens an incident");
        for action in [OperationKind::Escalate, OperationKind::Acknowledge] {
            let operation = by_alice(&head, action).expect("an incident");
            if let Some(commit) = operate(&head, &operation, &config, now).commit {
                head = commit.head;
            }
        }
        let id = head.incident.as_ref().map(|i| i.id.clone()).expect("an incident");
        let readings = [AlarmReading {
            alarm_name: "web-1-cpu".into(),
            state: AlarmState::Ok,
            since: at,
        }];
        // The safety net's arithmetic too: a handled time at the edges of time.
        let seen = Seen {
            readings: readings.to_vec(),
            handled_at: Some(at),
        };
        for when in [now, DateTime::<Utc>::MAX_UTC] {
            let _ = tick(&head, &id, &config, &seen, when);
        }
        for ok_at in [at.checked_add_signed(TimeDelta::milliseconds(1)), Some(DateTime::<Utc>::MAX_UTC)] {
            let Some(ok_at) = ok_at else { continue };
            if let Some(after) = deliver(&config, Some(head.clone()), &change(AlarmState::Ok, ok_at)) {
                let _ = confirm_pending_resolve(&after, &id, now);
                let _ = tick(&after, &id, &config, &seen, now);
                let _ = deliver(&config, Some(after), &change(AlarmState::Alarm, DateTime::<Utc>::MAX_UTC));
            }
        }
    }
}
