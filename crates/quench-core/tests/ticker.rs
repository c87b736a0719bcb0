//! The ticker's decision for one due incident: stale limits, overdue pending
//! resolutions, lost recoveries, and when a page is still wanted.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use quench_core::alarm::{AlarmChange, AlarmKind, AlarmSource, AlarmState, MetricRef};
use quench_core::config::Config;
use quench_core::incident::{alarms_to_check, page_wanted, tick, AlarmReading, Seen};
use quench_core::incident::{
    decide, operate, DecisionKind, DedupHead, IgnoreReason, IncidentStatus, Operation,
    OperationKind, TimelineKind,
};

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap() + Duration::minutes(minutes)
}

const NAME: &str = "web-1-cpu";

fn change(state: AlarmState, when: DateTime<Utc>, contributor: bool) -> AlarmChange {
    AlarmChange {
        source: AlarmSource::EventBridge,
        kind: AlarmKind::Metric,
        alarm_arn: format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{NAME}"),
        alarm_name: NAME.into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        state,
        previous_state: None,
        state_at: when,
        reason: format!("{state}"),
        description: None,
        metrics: vec![MetricRef {
            namespace: "AWS/EC2".into(),
            name: "CPUUtilization".into(),
            dimensions: BTreeMap::new(),
        }],
        threshold: Some(90.0),
        comparison: None,
        alarm_rule: None,
        tags: BTreeMap::new(),
        contributor: contributor.then(|| quench_core::alarm::Contributor {
            id: "c-1".into(),
            attributes: BTreeMap::new(),
        }),
    }
}

fn config(plan: &str) -> Config {
    let text = format!(
        r#"
version: 1
default_plan: p
plans:
  p: {{ impact: 2, {plan} }}
contacts:
  alice: {{ email: alice@example.com }}
escalation_policies:
  front: {{ stages: [{{ targets: [{{ contact: alice }}], timeout: 10m }}] }}
"#
    );
    Config::parse(&text).expect("config")
}

/// Tests of other deadlines set `escalate_unhandled_after: 7d`: the safety net would
/// otherwise look at every open incident after 15 minutes.
///
/// The head after `changes`, each applied in turn.
fn head_after(config: &Config, changes: &[AlarmChange]) -> DedupHead {
    let mut head: Option<DedupHead> = None;
    for change in changes {
        let routed = config.route(change).expect("routed");
        let key = routed.dedup_key(change);
        if let Some(commit) = decide(head.as_ref(), change, &routed, &key).commit {
            head = Some(commit.head);
        }
    }
    head.expect("an incident")
}

/// `action` on the head's incident, by alice.
fn by_alice(head: &DedupHead, action: OperationKind) -> Operation {
    Operation {
        action,
        dedup_key: head.dedup_key.clone(),
        incident_id: id(head),
        by: "alice".into(),
        reason: String::new(),
    }
}

/// What the ticker saw: these alarm states, and nothing for the safety net.
fn read(readings: Vec<AlarmReading>) -> Seen {
    Seen {
        readings,
        handled_at: None,
    }
}

fn id(head: &DedupHead) -> String {
    head.incident.as_ref().expect("incident").id.clone()
}

#[test]
fn a_stale_incident_is_closed_and_a_fresh_one_is_not() {
    let config = config("resolve_on_ok: never, stale_after: 1h, escalate_unhandled_after: 7d");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    assert_eq!(head.incident.as_ref().and_then(|i| i.due_at), Some(at(60)));
    let early = tick(&head, &id(&head), &config, &Seen::default(), at(59));
    assert_eq!(
        early.decision.ignored_because,
        Some(IgnoreReason::NotYetDue)
    );
    let due = tick(&head, &id(&head), &config, &Seen::default(), at(60));
    assert_eq!(due.decision.decision, DecisionKind::Resolved);
    let commit = due.commit.expect("written");
    let incident = commit.incident.expect("incident");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(
        incident.due_at, None,
        "a resolved incident leaves the index"
    );
    assert!(commit
        .timeline
        .expect("event")
        .summary
        .contains("stale limit of 1h"));
}

#[test]
fn the_stale_limit_counts_from_the_last_activity_so_a_flapping_alarm_is_not_closed_in_alarm() {
    let config = config("resolve_on_ok: immediately, stale_after: 1h");
    // ALARM and OK every 5 minutes for 70 minutes: each ALARM reopens the incident
    // within the flap window, so the incident opened at 0 is still the one open at 70.
    let changes: Vec<AlarmChange> = (0..=14)
        .map(|n| {
            let state = if n % 2 == 0 {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            };
            change(state, at(n * 5), false)
        })
        .collect();
    let head = head_after(&config, &changes);
    let incident = head.incident.as_ref().expect("incident");
    assert_eq!(
        (incident.status, incident.reopen_count, incident.created_at),
        (IncidentStatus::Open, 7, at(0))
    );
    let next_tick = tick(&head, &id(&head), &config, &Seen::default(), at(71));
    assert_ne!(
        next_tick.decision.decision,
        DecisionKind::Resolved,
        "in ALARM since 70: {:?}",
        next_tick.commit.and_then(|c| c.timeline).map(|t| t.summary)
    );

    // An operation is activity too: quiet for an hour after it, the incident is stale.
    let acked = operate(
        &head,
        &by_alice(&head, OperationKind::Acknowledge),
        &config,
        at(100),
    );
    let head = acked.commit.expect("written").head;
    let before = tick(&head, &id(&head), &config, &Seen::default(), at(159));
    assert_ne!(before.decision.decision, DecisionKind::Resolved);
    let quiet = tick(&head, &id(&head), &config, &Seen::default(), at(160));
    assert_eq!(quiet.decision.decision, DecisionKind::Resolved);
    let summary = quiet
        .commit
        .and_then(|c| c.timeline)
        .expect("event")
        .summary;
    assert!(summary.contains("stale limit of 1h"), "{summary}");
}

#[test]
fn an_overdue_pending_resolution_is_completed() {
    let config = config("resolve_on_ok: after 5m");
    let head = head_after(
        &config,
        &[
            change(AlarmState::Alarm, at(0), false),
            change(AlarmState::Ok, at(3), false),
        ],
    );
    // Due at 3 + 5 minutes, completed by the ticker 2 minutes of grace later.
    assert_eq!(head.incident.as_ref().and_then(|i| i.due_at), Some(at(10)));
    let outcome = tick(&head, &id(&head), &config, &Seen::default(), at(10));
    assert_eq!(outcome.decision.decision, DecisionKind::Resolved);
    let incident = outcome.commit.expect("written").incident.expect("incident");
    assert_eq!(incident.resolved_at, Some(at(8)));
}

#[test]
fn a_lost_recovery_resolves_once_the_alarm_was_ok_for_the_stable_period() {
    let config = config("resolve_on_ok: after 5m, escalate_unhandled_after: 7d");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    assert_eq!(alarms_to_check(&head, &config, at(9)), Vec::<String>::new());
    assert_eq!(
        alarms_to_check(&head, &config, at(10)),
        vec![NAME.to_string()]
    );
    let ok_since = |minute| AlarmReading {
        alarm_name: NAME.into(),
        state: AlarmState::Ok,
        since: at(minute),
    };

    // OK for 3 minutes only: not yet; the check is recorded and the next is 10 minutes on.
    let early = tick(&head, &id(&head), &config, &read(vec![ok_since(7)]), at(10));
    let commit = early.commit.expect("the check is recorded");
    let checked = commit.incident.expect("incident");
    assert_eq!(checked.status, IncidentStatus::Open);
    assert_eq!(checked.due_at, Some(at(20)));
    assert!(commit.timeline.is_none());

    let outcome = tick(&head, &id(&head), &config, &read(vec![ok_since(7)]), at(12));
    assert_eq!(outcome.decision.decision, DecisionKind::Resolved);
    let commit = outcome.commit.expect("written");
    let learned = commit.head.series.values().next().expect("series");
    assert_eq!(
        (learned.state, learned.alarming, learned.at),
        (AlarmState::Ok, false, at(7))
    );
    let event = commit.timeline.expect("event");
    assert_eq!(event.kind, TimelineKind::Resolved);
    assert!(
        event.summary.contains("never reached Quench"),
        "{}",
        event.summary
    );

    // An OK older than the ALARM Quench knows, or a reading still in ALARM, resolves nothing.
    let older = tick(
        &head,
        &id(&head),
        &config,
        &read(vec![AlarmReading {
            since: at(-5),
            ..ok_since(0)
        }]),
        at(12),
    );
    assert_ne!(older.decision.decision, DecisionKind::Resolved);
    let alarming = AlarmReading {
        state: AlarmState::Alarm,
        ..ok_since(0)
    };
    assert_ne!(
        tick(&head, &id(&head), &config, &read(vec![alarming]), at(12))
            .decision
            .decision,
        DecisionKind::Resolved
    );
}

#[test]
fn recovery_checks_skip_plans_that_never_resolve_on_ok_and_contributor_series() {
    let never = config("resolve_on_ok: never, escalate_unhandled_after: 7d");
    let head = head_after(&never, &[change(AlarmState::Alarm, at(0), false)]);
    assert!(alarms_to_check(&head, &never, at(60)).is_empty());
    let incident = head.incident.as_ref().expect("incident");
    assert_eq!(incident.next_alarm_check(never.plans.get("p")), None);

    let config = config("resolve_on_ok: immediately, escalate_unhandled_after: 7d");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), true)]);
    assert!(
        alarms_to_check(&head, &config, at(60)).is_empty(),
        "a contributor has no state of its own"
    );
    // The check that was due is recorded even with nothing to read, so it is not due again at once.
    let outcome = tick(&head, &id(&head), &config, &Seen::default(), at(60));
    let incident = outcome
        .commit
        .expect("recorded")
        .incident
        .expect("incident");
    assert_eq!(incident.due_at, Some(at(70)));
}

#[test]
fn a_page_is_wanted_only_while_its_wave_waits_for_an_acknowledgement() {
    let config = config("resolve_on_ok: never, escalation: front");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    let operation = |action| by_alice(&head, action);
    let escalated = operate(&head, &operation(OperationKind::Escalate), &config, at(1))
        .commit
        .expect("escalated");
    assert_eq!(escalated.pages.len(), 1);
    let page = &escalated.pages[0];
    let incident = escalated.incident.as_ref().expect("incident");
    assert!(page_wanted(incident, page));

    let acked = operate(
        &escalated.head,
        &operation(OperationKind::Acknowledge),
        &config,
        at(2),
    )
    .commit
    .expect("acknowledged");
    assert!(!page_wanted(
        acked.incident.as_ref().expect("incident"),
        page
    ));

    let resolved = operate(
        &escalated.head,
        &operation(OperationKind::Resolve),
        &config,
        at(2),
    )
    .commit
    .expect("resolved");
    let resolved = resolved.incident.expect("incident");
    assert!(!page_wanted(&resolved, page));
    assert_eq!(resolved.due_at, None);
}

#[test]
fn an_incident_acknowledged_before_it_escalates_pages_nobody_until_the_timeout() {
    let config = config("resolve_on_ok: never, escalation: front, acknowledge_timeout: 30m");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    let operation = |action| by_alice(&head, action);
    let acked = operate(
        &head,
        &operation(OperationKind::Acknowledge),
        &config,
        at(1),
    )
    .commit
    .expect("acknowledged");
    let escalated = operate(
        &acked.head,
        &operation(OperationKind::Escalate),
        &config,
        at(5),
    )
    .commit
    .expect("escalated");
    assert!(escalated.pages.is_empty(), "{:?}", escalated.pages);
    let incident = escalated.incident.as_ref().expect("incident");
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
    assert_eq!(
        incident.due_at,
        Some(at(31)),
        "the acknowledgement runs out 30m after it was given"
    );

    let quiet = tick(
        &escalated.head,
        &id(&head),
        &config,
        &Seen::default(),
        at(30),
    );
    assert!(quiet.commit.is_none());
    let repaged = tick(
        &escalated.head,
        &id(&head),
        &config,
        &Seen::default(),
        at(31),
    );
    assert_eq!(repaged.decision.decision, DecisionKind::Escalated);
    let commit = repaged.commit.expect("paged");
    assert_eq!(commit.pages.len(), 1);
    assert_eq!(
        commit.incident.expect("incident").status,
        IncidentStatus::Open
    );
}

/// A config whose plan `p` runs `runbook` (written as YAML steps), with `extra` plan
/// settings.
fn with_runbook(extra: &str, steps: &str) -> Config {
    let text = format!(
        r#"
version: 1
default_plan: p
plans:
  p: {{ impact: 2, escalation: front, resolve_on_ok: never, runbook: fix{extra} }}
runbooks:
  fix:
{steps}
contacts:
  alice: {{ email: alice@example.com }}
escalation_policies:
  front: {{ stages: [{{ targets: [{{ contact: alice }}], timeout: 10m }}] }}
"#
    );
    Config::parse(&text).expect("config")
}

/// What the ticker saw: the last sign the incident is handled.
fn handled(at: DateTime<Utc>) -> Seen {
    Seen {
        readings: Vec::new(),
        handled_at: Some(at),
    }
}

#[test]
fn the_safety_net_escalates_an_incident_nobody_handled_within_the_plans_limit() {
    let config = config("resolve_on_ok: never, escalation: front");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    assert_eq!(
        head.incident.as_ref().and_then(|i| i.due_at),
        Some(at(15)),
        "the first look, 15 minutes on"
    );
    let outcome = tick(&head, &id(&head), &config, &handled(at(0)), at(15));
    assert_eq!(outcome.decision.decision, DecisionKind::Escalated);
    let commit = outcome.commit.expect("written");
    assert_eq!(commit.pages.len(), 1, "stage 1: alice");
    let incident = commit.incident.expect("incident");
    assert_eq!(incident.escalated_at, Some(at(15)));
    assert_eq!(
        commit.timeline.expect("event").summary,
        "escalated by ticker: no runbook outcome or page within 15m; paging alice"
    );

    // Acknowledged, or escalated by its runbook: not the net's business.
    let acked = operate(
        &head,
        &by_alice(&head, OperationKind::Acknowledge),
        &config,
        at(5),
    );
    let acked = acked.commit.expect("written").head;
    let incident = acked.incident.as_ref().expect("incident");
    assert!(!incident.unhandled());
    assert_eq!(incident.net_look(config.plans.get("p")), None);
}

#[test]
fn a_runbook_at_work_holds_the_safety_net_off_until_it_goes_quiet_too_long() {
    // An automation may run 30 minutes: the default limit is 35 minutes after a sign.
    let steps = "    - { id: restart, automation: { document: AWS-RestartEC2Instance } }";
    let config = with_runbook("", steps);
    let plan = config.plans.get("p").expect("plan");
    assert_eq!(plan.unhandled_after(&config.runbooks).to_string(), "35m");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    // First look at 15 minutes: the run started at 0, so not yet; look again at 35.
    let look = tick(&head, &id(&head), &config, &handled(at(0)), at(15));
    assert_ne!(look.decision.decision, DecisionKind::Escalated);
    let head = look.commit.expect("the next look is written").head;
    let incident = head.incident.as_ref().expect("incident");
    assert_eq!(
        (incident.net_at, incident.due_at),
        (Some(at(35)), Some(at(35)))
    );
    // A step finished at 30: the run is alive, the next look is 35 minutes after it.
    let alive = tick(&head, &id(&head), &config, &handled(at(30)), at(35));
    assert_ne!(alive.decision.decision, DecisionKind::Escalated);
    let head = alive.commit.expect("written").head;
    assert_eq!(head.incident.as_ref().and_then(|i| i.due_at), Some(at(65)));
    let quiet = tick(&head, &id(&head), &config, &handled(at(30)), at(65));
    assert_eq!(quiet.decision.decision, DecisionKind::Escalated);
    let summary = quiet
        .commit
        .and_then(|c| c.timeline)
        .expect("event")
        .summary;
    assert!(summary.contains("within 35m"), "{summary}");
}

#[test]
fn the_safety_net_limit_is_checked_against_the_runbook_it_must_outlast() {
    let steps = "    - { id: wait, sleep: 20m }\n    - { id: check, run_command: { commands: [uptime], timeout: 10m } }";
    let refuse = |extra: &str| {
        let text = format!(
            r#"
version: 1
default_plan: p
plans:
  p: {{ impact: 2, runbook: fix{extra} }}
runbooks:
  fix:
{steps}
"#
        );
        Config::parse(&text).expect_err("refused").to_string()
    };
    let short = refuse(", escalate_unhandled_after: 30m");
    assert!(
        short.contains("plans.p.escalate_unhandled_after")
            && short.contains("runbook `fix` can go without a step finishing (30m"),
        "{short}"
    );
    let zero = refuse(", escalate_unhandled_after: 0s");
    assert!(zero.contains("`0s` is not between 1m and 7d"), "{zero}");
    let long = refuse(", escalate_unhandled_after: 8d");
    assert!(long.contains("`8d` is not between 1m and 7d"), "{long}");
    let fine = with_runbook(", escalate_unhandled_after: 31m", steps);
    let plan = fine.plans.get("p").expect("plan");
    assert_eq!(plan.unhandled_after(&fine.runbooks).to_string(), "31m");
}

#[test]
fn the_last_sign_of_handling_is_the_latest_reopening_or_runbook_step() {
    use quench_core::incident::{last_handled, TimelineEvent};
    let config = config("resolve_on_ok: never");
    let head = head_after(&config, &[change(AlarmState::Alarm, at(0), false)]);
    let incident = head.incident.as_ref().expect("incident");
    let event = |kind, minute| TimelineEvent {
        incident_id: incident.id.clone(),
        event_key: format!("{minute}"),
        at: at(minute),
        kind,
        alarm_name: NAME.into(),
        series: String::new(),
        state: AlarmState::Alarm,
        summary: String::new(),
        mention: None,
    };
    assert_eq!(last_handled(incident, &[]), at(0), "its opening");
    let steps = [
        event(TimelineKind::Step, 5),
        event(TimelineKind::Attached, 9),
    ];
    assert_eq!(
        last_handled(incident, &steps),
        at(5),
        "an attach is no handling"
    );
    let reopened = [
        event(TimelineKind::Step, 5),
        event(TimelineKind::Reopened, 20),
        event(TimelineKind::Step, 25),
    ];
    assert_eq!(last_handled(incident, &reopened), at(25));
    assert_eq!(last_handled(incident, &reopened[..2]), at(20));
}
