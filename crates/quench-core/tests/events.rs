//! Every sample event in events/alarm-to-incident is parsed here; the same files feed
//! `cargo lambda invoke --data-file`.

use chrono::{DateTime, TimeDelta, Utc};
use quench_core::alarm::{
    parse_alarm_event, AlarmKind, AlarmSource, AlarmState, EventError, MAX_CLOCK_SKEW,
};

macro_rules! sample {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/alarm-to-incident/",
            $name
        ))
    };
}

/// When the samples are received: after every change they describe.
fn received() -> DateTime<Utc> {
    "2026-11-20T12:00:00Z".parse().expect("an instant")
}

fn one(raw: &str) -> quench_core::alarm::AlarmChange {
    let mut changes = parse_alarm_event(raw.as_bytes(), received()).expect("sample parses");
    assert_eq!(changes.len(), 1);
    changes.remove(0)
}

#[test]
fn cpu_high_pair_with_propagated_tags() {
    let alarm = one(sample!("cpu-high-alarm.json"));
    assert_eq!(alarm.source, AlarmSource::EventBridge);
    assert_eq!(alarm.kind, AlarmKind::Metric);
    assert_eq!(alarm.alarm_name, "web-1-cpu-high");
    assert_eq!(alarm.state, AlarmState::Alarm);
    assert_eq!(alarm.previous_state, Some(AlarmState::Ok));
    assert_eq!(alarm.region, "eu-west-1");
    assert_eq!(alarm.account, "123456789012");
    assert_eq!(
        alarm.alarm_arn,
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-cpu-high"
    );
    let metric = alarm.primary_metric().expect("metric");
    assert_eq!(
        (metric.namespace.as_str(), metric.name.as_str()),
        ("AWS/EC2", "CPUUtilization")
    );
    assert_eq!(alarm.dimensions()["InstanceId"], "i-0abc1234def567890");
    assert_eq!(alarm.threshold, Some(90.0));
    assert_eq!(alarm.tags["team"], "web");
    assert_eq!(alarm.tags["service"], "checkout");
    assert_eq!(alarm.state_at.to_rfc3339(), "2026-11-20T10:00:00+00:00");

    let ok = one(sample!("cpu-high-ok.json"));
    assert_eq!(ok.state, AlarmState::Ok);
    assert_eq!(ok.series_key(), alarm.series_key());
    assert!(ok.state_at > alarm.state_at);
}

#[test]
fn seed_alarm_pairs_parse() {
    for (raw_alarm, raw_ok, metric) in [
        (
            sample!("instance-check-failed-alarm.json"),
            sample!("instance-check-failed-ok.json"),
            "StatusCheckFailed_Instance",
        ),
        (
            sample!("agent-process-gone-alarm.json"),
            sample!("agent-process-gone-ok.json"),
            "procstat_lookup_pid_count",
        ),
    ] {
        let alarm = one(raw_alarm);
        let ok = one(raw_ok);
        assert_eq!(alarm.state, AlarmState::Alarm);
        assert_eq!(ok.state, AlarmState::Ok);
        assert_eq!(
            alarm.primary_metric().map(|m| m.name.as_str()),
            Some(metric)
        );
        assert_eq!(alarm.series_key(), ok.series_key());
        assert!(ok.state_at > alarm.state_at);
    }
    let process = one(sample!("agent-process-gone-alarm.json"));
    assert_eq!(process.dimensions()["exe"], "nginx");
}

#[test]
fn metric_math_alarm_keeps_every_metric() {
    let change = one(sample!("metric-math-alarm.json"));
    assert_eq!(change.kind, AlarmKind::MetricMath);
    assert_eq!(change.metrics.len(), 2);
    assert!(change
        .metrics
        .iter()
        .all(|m| m.namespace == "AWS/ApplicationELB"));
}

#[test]
fn composite_alarm_has_its_rule_and_no_metrics() {
    let change = one(sample!("composite-alarm.json"));
    assert_eq!(change.kind, AlarmKind::Composite);
    assert!(change.metrics.is_empty());
    assert!(change
        .alarm_rule
        .as_deref()
        .is_some_and(|r| r.contains("web-1-cpu-high")));
}

#[test]
fn each_contributor_is_its_own_series() {
    let alarm = one(sample!("contributor-alarm.json"));
    let ok = one(sample!("contributor-ok.json"));
    assert_eq!(alarm.kind, AlarmKind::MultiSeries);
    assert_eq!(alarm.source, AlarmSource::EventBridgeContributor);
    let contributor = alarm.contributor.as_ref().expect("contributor");
    assert_eq!(contributor.attributes["InstanceId"], "i-0fff0000aaaa11112");
    assert!(alarm
        .series_key()
        .ends_with(&format!("#{}", contributor.id)));
    assert_eq!(alarm.series_key(), ok.series_key());
    assert_eq!(alarm.dimensions()["InstanceId"], "i-0fff0000aaaa11112");
    assert_eq!(ok.state, AlarmState::Ok);
}

#[test]
fn sns_wrapped_notification_is_normalised() {
    let change = one(sample!("sns-wrapped-alarm.json"));
    assert_eq!(change.source, AlarmSource::Sns);
    assert_eq!(change.alarm_name, "web-1-disk-full");
    assert_eq!(
        change.region, "eu-west-1",
        "region comes from the ARN, not the display name"
    );
    assert_eq!(change.state, AlarmState::Alarm);
    assert_eq!(change.previous_state, Some(AlarmState::Ok));
    assert_eq!(change.threshold, Some(90.0));
    assert_eq!(change.comparison.as_deref(), Some("GreaterThanThreshold"));
    assert_eq!(change.dimensions()["InstanceId"], "i-0abc1234def567890");
    assert_eq!(
        change.primary_metric().map(|m| m.name.as_str()),
        Some("disk_used_percent")
    );
}

#[test]
fn other_event_types_are_refused() {
    let error = parse_alarm_event(sample!("wrong-type.json").as_bytes(), received()).unwrap_err();
    assert!(
        matches!(error, EventError::WrongType(ref m) if m.contains("EC2 Instance State-change Notification"))
    );
}

/// A change is ordered by its state timestamp, so one dated in the future would make
/// every real change after it stale; CloudWatch's clock may run a little ahead, no more.
#[test]
fn state_timestamps_from_the_future_are_refused_beyond_the_clock_skew() {
    let alarm = one(sample!("cpu-high-alarm.json"));
    let on_time = alarm.state_at - MAX_CLOCK_SKEW;
    let raw = sample!("cpu-high-alarm.json").as_bytes();
    assert!(parse_alarm_event(raw, on_time).is_ok(), "skew is allowed");
    let late = on_time - TimeDelta::milliseconds(1);
    assert!(matches!(
        parse_alarm_event(raw, late),
        Err(EventError::InvalidField { ref field, ref problem })
            if field == "detail.state.timestamp" && problem.contains("more than 15 minutes after")
    ));
    let sns = sample!("sns-wrapped-alarm.json").as_bytes();
    let at = one(sample!("sns-wrapped-alarm.json")).state_at;
    assert!(matches!(
        parse_alarm_event(sns, at - TimeDelta::hours(1)),
        Err(EventError::InvalidField { ref field, .. })
            if field == "Records[0].Sns.Message.StateChangeTime"
    ));
}
