//! The incident decision under duplicated, late and reordered delivery, against an
//! in-memory store that applies commits exactly as the DynamoDB adapter does (conditional
//! on the head version).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use quench_core::alarm::{AlarmChange, AlarmKind, AlarmSource, AlarmState, MetricRef};
use quench_core::config::Config;
use quench_core::incident::{
    confirm_pending_resolve, decide, operate, Commit, DecisionKind, DedupHead, IgnoreReason,
    IncidentRecord, IncidentStatus, Operation, OperationKind, Outcome, TimelineEvent, TimelineKind,
    MAX_INCIDENT_SERIES,
};

#[derive(Default, Debug, Clone, PartialEq)]
struct MemoryStore {
    heads: HashMap<String, DedupHead>,
    incidents: BTreeMap<String, IncidentRecord>,
    timelines: BTreeMap<String, Vec<TimelineEvent>>,
}

/// A config whose plans page nobody: operations then only record.
fn without_paging() -> Config {
    Config::parse("version: 1\nplans: { p: { impact: 3 } }").expect("config")
}

impl MemoryStore {
    fn apply(&mut self, commit: Commit) -> bool {
        let current = self.heads.get(&commit.head.dedup_key).map(|h| h.version);
        if current != commit.expected_version {
            return false;
        }
        if let Some(incident) = commit.incident {
            self.incidents.insert(incident.id.clone(), incident);
        }
        if let Some(event) = commit.timeline {
            self.timelines
                .entry(event.incident_id.clone())
                .or_default()
                .push(event);
        }
        self.heads
            .insert(commit.head.dedup_key.clone(), commit.head);
        true
    }

    /// Applies an operation; returns the decision and whether anything was written.
    fn operate(&mut self, operation: &Operation, now: DateTime<Utc>) -> (DecisionKind, bool) {
        let empty = DedupHead::empty(&operation.dedup_key);
        let head = self.heads.get(&operation.dedup_key).unwrap_or(&empty);
        let outcome = operate(head, operation, &without_paging(), now);
        let kind = outcome.decision.decision;
        match outcome.commit {
            Some(commit) => {
                assert!(self.apply(commit), "no concurrent writer here");
                (kind, true)
            }
            None => (kind, false),
        }
    }

    fn deliver(&mut self, config: &Config, change: &AlarmChange) -> DecisionKind {
        let routed = config.route(change).expect("routed");
        let key = routed.dedup_key(change);
        let outcome = decide(self.heads.get(&key), change, &routed, &key);
        let kind = outcome.decision.decision;
        if let Some(commit) = outcome.commit {
            assert!(self.apply(commit), "no concurrent writer here");
        }
        kind
    }
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .expect("valid")
}

fn change(alarm: usize, state: AlarmState, at: DateTime<Utc>) -> AlarmChange {
    let name = format!("alarm-{alarm}");
    AlarmChange {
        source: AlarmSource::EventBridge,
        kind: AlarmKind::Metric,
        alarm_arn: format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        alarm_name: name,
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        state,
        previous_state: None,
        state_at: at,
        reason: format!("{state} at {at}"),
        description: None,
        metrics: vec![MetricRef {
            namespace: "AWS/EC2".into(),
            name: "CPUUtilization".into(),
            dimensions: BTreeMap::from([("InstanceId".into(), "i-1".into())]),
        }],
        threshold: Some(90.0),
        comparison: None,
        alarm_rule: None,
        tags: BTreeMap::new(),
        contributor: None,
    }
}

fn config(plan: &str) -> Config {
    Config::parse(&format!(
        "version: 1\nplans:\n  p: {{ impact: 2, {plan} }}\ndefault_plan: p\n"
    ))
    .expect("valid config")
}

const PLANS: &[&str] = &[
    "dedupe: alarm",
    "dedupe: plan",
    "dedupe: alarm, flap_window: 0s",
    "dedupe: plan, flap_window: 30m",
    "dedupe: alarm, resolve_on_ok: never",
    "dedupe: alarm, resolve_on_ok: after 5m",
    "dedupe: plan, insufficient_data: alarm",
    "dedupe: alarm, insufficient_data: ok",
    "dedupe: { dimensions: [InstanceId] }, insufficient_data: ignore",
];

fn state_strategy() -> impl Strategy<Value = AlarmState> {
    prop_oneof![
        4 => Just(AlarmState::Alarm),
        4 => Just(AlarmState::Ok),
        1 => Just(AlarmState::InsufficientData),
    ]
}

/// A clean history: transitions of up to three alarms, strictly increasing in time.
fn history(max_alarms: usize) -> impl Strategy<Value = Vec<AlarmChange>> {
    prop::collection::vec((0..max_alarms, state_strategy(), 1i64..40), 1..24).prop_map(|steps| {
        let mut at = base();
        steps
            .into_iter()
            .map(|(alarm, state, gap_minutes)| {
                at += Duration::minutes(gap_minutes);
                change(alarm, state, at)
            })
            .collect()
    })
}

fn replay(config: &Config, deliveries: &[AlarmChange]) -> MemoryStore {
    let mut store = MemoryStore::default();
    for change in deliveries {
        store.deliver(config, change);
    }
    store
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every transition delivered 1-5 times, the copies landing anywhere after the first:
    /// exactly the incidents, records and timelines of the clean sequence.
    #[test]
    fn duplicates_anywhere_change_nothing(
        plan in prop::sample::select(PLANS),
        clean in history(3),
        copies in prop::collection::vec(0usize..5, 24),
        positions in prop::collection::vec(any::<prop::sample::Index>(), 24 * 4),
    ) {
        let config = config(plan);
        let mut deliveries: Vec<AlarmChange> = clean.clone();
        let mut position = positions.iter();
        for (index, change) in clean.iter().enumerate() {
            for _ in 0..copies[index] {
                let first = deliveries
                    .iter()
                    .position(|d| d == change)
                    .expect("first delivery is there");
                let slots = deliveries.len() - first;
                let at = first + 1 + position.next().map_or(0, |p| p.index(slots));
                deliveries.insert(at.min(deliveries.len()), change.clone());
            }
        }
        let expected = replay(&config, &clean);
        let actual = replay(&config, &deliveries);
        prop_assert_eq!(actual, expected);
    }

    /// Any order at all, with duplicates: each alarm ends in its newest state, an incident
    /// is active exactly when the newest state is a problem (for plans that resolve on OK
    /// at once), and reordering never makes more incidents than the clean sequence. (Only
    /// without a flap window: reordering can drop the transition that kept a later ALARM
    /// inside the window, so the count bound does not hold with one; the state does.)
    #[test]
    fn any_order_ends_in_the_newest_state(
        clean in history(1),
        copies in prop::collection::vec(1usize..=5, 24),
        seed in any::<u64>(),
    ) {
        let mut deliveries: Vec<AlarmChange> = clean
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n(c.clone(), copies[i]))
            .collect();
        shuffle(&mut deliveries, seed);
        for (plan, count_bound) in [
            ("dedupe: alarm, insufficient_data: alarm, flap_window: 0s", true),
            ("dedupe: alarm, insufficient_data: alarm, flap_window: 10m", false),
        ] {
            let config = config(plan);
            let expected = replay(&config, &clean);
            let actual = replay(&config, &deliveries);

            // What each series last saw; which transition it made depends on the order.
            let heads = |store: &MemoryStore| -> Vec<_> {
                let mut series: Vec<_> = store
                    .heads
                    .values()
                    .flat_map(|h| h.series.iter().map(|(k, s)| (k.clone(), s.state, s.alarming, s.at)))
                    .collect();
                series.sort_by(|a, b| a.0.cmp(&b.0));
                series
            };
            prop_assert_eq!(heads(&actual), heads(&expected));
            let newest_is_problem = clean.last().is_some_and(|c| c.state != AlarmState::Ok);
            let active = |store: &MemoryStore| {
                store.incidents.values().filter(|i| i.status.is_active()).count()
            };
            prop_assert_eq!(active(&actual), usize::from(newest_is_problem));
            prop_assert_eq!(active(&expected), usize::from(newest_is_problem));
            if count_bound {
                prop_assert!(actual.incidents.len() <= expected.incidents.len());
            }
            for incident in actual.incidents.values() {
                if let Some(resolved) = incident.resolved_at {
                    prop_assert!(resolved >= incident.created_at);
                }
            }
        }
    }
}

/// Fisher-Yates with a small xorshift, so a failing case replays from its seed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    base() + Duration::minutes(minutes)
}

#[test]
fn an_alarm_opens_and_its_ok_resolves() {
    let config = config("dedupe: alarm");
    let mut store = MemoryStore::default();
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(0))),
        DecisionKind::Opened
    );
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(5))),
        DecisionKind::Resolved
    );
    let incident = store.incidents.values().next().expect("incident");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolved_at, Some(at(5)));
    let kinds: Vec<_> = store.timelines[&incident.id]
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec![TimelineKind::Opened, TimelineKind::Resolved]);
}

#[test]
fn the_incident_keeps_the_tags_of_the_alarm_that_opened_it() {
    let config = config("dedupe: alarm");
    let mut store = MemoryStore::default();
    let mut alarm = change(0, AlarmState::Alarm, at(0));
    alarm.tags = BTreeMap::from([("team".to_string(), "web".to_string())]);
    store.deliver(&config, &alarm);
    let incident = store.incidents.values().next().expect("incident");
    assert_eq!(incident.trigger.tags, alarm.tags);
}

#[test]
fn a_second_alarm_attaches_under_plan_dedupe_and_resolution_waits_for_both() {
    let config = config("dedupe: plan");
    let mut store = MemoryStore::default();
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(0))),
        DecisionKind::Opened
    );
    assert_eq!(
        store.deliver(&config, &change(1, AlarmState::Alarm, at(1))),
        DecisionKind::Attached
    );
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(2))),
        DecisionKind::Attached
    );
    assert_eq!(
        store.deliver(&config, &change(1, AlarmState::Ok, at(3))),
        DecisionKind::Resolved
    );
    assert_eq!(store.incidents.len(), 1);
    let incident = store.incidents.values().next().expect("incident");
    assert_eq!(incident.series.len(), 2);
    let kinds: Vec<_> = store.timelines[&incident.id]
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Attached,
            TimelineKind::Recovered,
            TimelineKind::Resolved
        ]
    );
}

#[test]
fn an_alarm_inside_the_flap_window_reopens_and_outside_opens_anew() {
    let config = config("dedupe: alarm, flap_window: 10m");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    store.deliver(&config, &change(0, AlarmState::Ok, at(5)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(15))),
        DecisionKind::Reopened
    );
    assert_eq!(store.incidents.len(), 1);
    assert_eq!(
        store.incidents.values().next().map(|i| i.reopen_count),
        Some(1)
    );
    store.deliver(&config, &change(0, AlarmState::Ok, at(20)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(31))),
        DecisionKind::Opened
    );
    assert_eq!(store.incidents.len(), 2);
}

#[test]
fn a_zero_flap_window_never_reopens() {
    let config = config("dedupe: alarm, flap_window: 0s");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    store.deliver(&config, &change(0, AlarmState::Ok, at(1)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(2))),
        DecisionKind::Opened
    );
}

#[test]
fn resolve_never_keeps_the_incident_open() {
    let config = config("dedupe: alarm, resolve_on_ok: never");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(1))),
        DecisionKind::Attached
    );
    assert!(store
        .incidents
        .values()
        .all(|i| i.status == IncidentStatus::Open));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(2))),
        DecisionKind::Attached
    );
    assert_eq!(store.incidents.len(), 1);
}

#[test]
fn resolve_after_a_stable_period_is_confirmed_only_when_due_and_still_ok() {
    let config = config("dedupe: alarm, resolve_on_ok: after 5m");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(1))),
        DecisionKind::ResolvePending
    );
    let head = store.heads.values().next().expect("head").clone();
    let id = head.incident.as_ref().expect("incident").id.clone();
    assert_eq!(
        head.incident.as_ref().and_then(|i| i.resolve_due_at),
        Some(at(6))
    );

    let early = confirm_pending_resolve(&head, &id, at(5));
    assert_eq!(
        early.decision.ignored_because,
        Some(IgnoreReason::NotYetDue)
    );
    assert!(early.commit.is_none());

    // the alarm fires again inside the stable period: the incident stays open, pending cleared
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(3))),
        DecisionKind::Attached
    );
    let head = store.heads.values().next().expect("head").clone();
    let realarmed = confirm_pending_resolve(&head, &id, at(10));
    assert_eq!(
        realarmed.decision.ignored_because,
        Some(IgnoreReason::Realarmed)
    );

    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(4))),
        DecisionKind::ResolvePending
    );
    let head = store.heads.values().next().expect("head").clone();
    let done = confirm_pending_resolve(&head, &id, at(9));
    assert_eq!(done.decision.decision, DecisionKind::Resolved);
    let commit = done.commit.expect("commit");
    assert_eq!(
        commit.incident.as_ref().and_then(|i| i.resolved_at),
        Some(at(9))
    );
    assert!(store.apply(commit));
    let head = store.heads.values().next().expect("head").clone();
    assert_eq!(
        confirm_pending_resolve(&head, &id, at(20))
            .decision
            .ignored_because,
        Some(IgnoreReason::NothingPending)
    );
}

#[test]
fn insufficient_data_follows_the_plan() {
    let ignore = config("dedupe: alarm, insufficient_data: ignore");
    let mut store = MemoryStore::default();
    assert_eq!(
        store.deliver(&ignore, &change(0, AlarmState::InsufficientData, at(0))),
        DecisionKind::Ignored
    );
    assert!(
        store.heads.is_empty(),
        "ignored INSUFFICIENT_DATA writes nothing"
    );
    store.deliver(&ignore, &change(0, AlarmState::Alarm, at(1)));
    assert_eq!(
        store.deliver(&ignore, &change(0, AlarmState::InsufficientData, at(2))),
        DecisionKind::Ignored
    );
    assert!(store
        .incidents
        .values()
        .all(|i| i.status == IncidentStatus::Open));

    let as_alarm = config("dedupe: alarm, insufficient_data: alarm");
    let mut store = MemoryStore::default();
    assert_eq!(
        store.deliver(&as_alarm, &change(0, AlarmState::InsufficientData, at(0))),
        DecisionKind::Opened
    );

    let as_ok = config("dedupe: alarm, insufficient_data: ok");
    let mut store = MemoryStore::default();
    store.deliver(&as_ok, &change(0, AlarmState::Alarm, at(0)));
    assert_eq!(
        store.deliver(&as_ok, &change(0, AlarmState::InsufficientData, at(1))),
        DecisionKind::Resolved
    );
}

#[test]
fn a_late_ok_never_resolves_a_newer_alarm() {
    let config = config("dedupe: alarm, flap_window: 0s");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    store.deliver(&config, &change(0, AlarmState::Ok, at(1)));
    store.deliver(&config, &change(0, AlarmState::Alarm, at(2)));
    // a second copy of the OK at 1 arrives late
    let late = store.deliver(&config, &change(0, AlarmState::Ok, at(1)));
    assert_eq!(late, DecisionKind::Ignored);
    assert_eq!(
        store
            .incidents
            .values()
            .filter(|i| i.status.is_active())
            .count(),
        1
    );
}

#[test]
fn a_lost_race_is_refused_by_the_version_condition() {
    let config = config("dedupe: alarm");
    let alarm = change(0, AlarmState::Alarm, at(0));
    let routed = config.route(&alarm).expect("routed");
    let key = routed.dedup_key(&alarm);
    let mut store = MemoryStore::default();
    // two deliveries decide against the same (empty) head
    let first = decide(None, &alarm, &routed, &key).commit.expect("commit");
    let second = decide(None, &alarm, &routed, &key).commit.expect("commit");
    assert!(store.apply(first));
    assert!(!store.apply(second), "the loser must re-decide");
    let retry = decide(store.heads.get(&key), &alarm, &routed, &key);
    // The loser hears what the winner did (its execution carries on beside the winner's,
    // and the step and page claims keep every effect single); it writes nothing.
    assert_eq!(retry.decision.decision, DecisionKind::Opened);
    assert!(retry.decision.redelivery);
    assert_eq!(store.incidents.len(), 1);
    assert!(retry.commit.is_none());
}

/// Decides `change` against the stored head without writing: what a retried delivery
/// hears.
fn redeliver(store: &MemoryStore, config: &Config, change: &AlarmChange) -> Outcome {
    let routed = config.route(change).expect("routed");
    let key = routed.dedup_key(change);
    decide(store.heads.get(&key), change, &routed, &key)
}

/// A delivery retried after its commit landed (an SDK retry of a write whose answer was
/// lost, a retried invocation, a replay) hears what the first delivery did, so its
/// execution goes on to the runbook or the stable-period wait instead of stopping at
/// `duplicate` with the incident open and nobody engaged. It writes nothing.
#[test]
fn a_redelivered_transition_answers_with_what_it_did_and_writes_nothing() {
    let config_plain = config("dedupe: alarm, flap_window: 30m");
    let mut store = MemoryStore::default();
    let alarm = change(0, AlarmState::Alarm, at(0));
    store.deliver(&config_plain, &alarm);
    let opened = store.incidents.values().next().expect("opened").id.clone();
    let again = redeliver(&store, &config_plain, &alarm);
    assert_eq!(again.decision.decision, DecisionKind::Opened);
    assert_eq!(again.decision.incident_id.as_deref(), Some(opened.as_str()));
    assert!(again.decision.redelivery);
    assert!(again.commit.is_none());

    let ok = change(0, AlarmState::Ok, at(5));
    assert_eq!(store.deliver(&config_plain, &ok), DecisionKind::Resolved);
    let again = redeliver(&store, &config_plain, &ok);
    assert_eq!(again.decision.decision, DecisionKind::Resolved);
    assert!(again.commit.is_none());
    // The open is history now: its redelivery is stale, as before.
    assert_eq!(
        redeliver(&store, &config_plain, &alarm)
            .decision
            .ignored_because,
        Some(IgnoreReason::Stale)
    );

    let realarm = change(0, AlarmState::Alarm, at(8));
    assert_eq!(
        store.deliver(&config_plain, &realarm),
        DecisionKind::Reopened
    );
    let again = redeliver(&store, &config_plain, &realarm);
    assert_eq!(again.decision.decision, DecisionKind::Reopened);
    assert_eq!(again.decision.incident_id.as_deref(), Some(opened.as_str()));
    assert!(again.commit.is_none());

    // Once a runbook resolved the reopened incident, the reopen has nothing to carry on.
    let resolve = operation(&store, OperationKind::Resolve, "fixed");
    store.operate(&resolve, at(9));
    let again = redeliver(&store, &config_plain, &realarm);
    assert_eq!(
        again.decision.ignored_because,
        Some(IgnoreReason::Duplicate)
    );

    let pending = config("dedupe: alarm, resolve_on_ok: after 5m");
    let mut store = MemoryStore::default();
    store.deliver(&pending, &change(0, AlarmState::Alarm, at(0)));
    let ok = change(0, AlarmState::Ok, at(1));
    assert_eq!(store.deliver(&pending, &ok), DecisionKind::ResolvePending);
    let again = redeliver(&store, &pending, &ok);
    assert_eq!(again.decision.decision, DecisionKind::ResolvePending);
    assert_eq!(again.decision.resolve_due_at, Some(at(6)));
    assert!(again.commit.is_none());
}

#[test]
fn incident_ids_are_deterministic_and_distinct_per_key() {
    let a = quench_core::incident::incident_id("alarm:a", at(0));
    assert_eq!(a, quench_core::incident::incident_id("alarm:a", at(0)));
    assert_ne!(a, quench_core::incident::incident_id("alarm:b", at(0)));
    assert!(a.starts_with("inc-20261120T100000000Z-"));
}

fn operation(store: &MemoryStore, action: OperationKind, reason: &str) -> Operation {
    let incident = store.incidents.values().last().expect("an incident");
    Operation {
        action,
        dedup_key: incident.dedup_key.clone(),
        incident_id: incident.id.clone(),
        by: "runbook:reboot-and-verify".into(),
        reason: reason.into(),
        unless_alarmed_after: None,
    }
}

#[test]
fn a_runbook_resolves_an_open_incident_once() {
    let config = config("dedupe: alarm");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    let resolve = operation(&store, OperationKind::Resolve, "instance is healthy");

    assert_eq!(
        store.operate(&resolve, at(7)),
        (DecisionKind::Resolved, true)
    );
    let incident = &store.incidents[&resolve.incident_id];
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolved_at, Some(at(7)));
    let last = store.timelines[&resolve.incident_id].last().expect("event");
    assert_eq!(last.kind, TimelineKind::Resolved);
    assert_eq!(
        last.summary,
        "resolved by runbook:reboot-and-verify: instance is healthy"
    );
    // The head still knows the alarm is in ALARM, so the event says so.
    assert_eq!(last.state, AlarmState::Alarm);

    // Retried by the state machine: nothing more happens.
    assert_eq!(
        store.operate(&resolve, at(8)),
        (DecisionKind::Ignored, false)
    );
    assert_eq!(store.timelines[&resolve.incident_id].len(), 2);
    // The alarm's own OK arriving later finds nothing open.
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Ok, at(9))),
        DecisionKind::Ignored
    );
}

#[test]
fn escalation_is_recorded_once_and_reset_by_a_reopen() {
    let config = config("dedupe: alarm, flap_window: 10m");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    let escalate = operation(
        &store,
        OperationKind::Escalate,
        "the process did not come back",
    );

    assert_eq!(
        store.operate(&escalate, at(3)),
        (DecisionKind::Escalated, true)
    );
    let incident = &store.incidents[&escalate.incident_id];
    assert_eq!(
        incident.status,
        IncidentStatus::Open,
        "escalating keeps it open"
    );
    assert_eq!(incident.escalated_at, Some(at(3)));
    assert_eq!(
        store.operate(&escalate, at(4)),
        (DecisionKind::Ignored, false)
    );
    assert_eq!(
        store.timelines[&escalate.incident_id]
            .iter()
            .filter(|e| e.kind == TimelineKind::Escalated)
            .count(),
        1
    );

    store.deliver(&config, &change(0, AlarmState::Ok, at(5)));
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(8))),
        DecisionKind::Reopened
    );
    assert_eq!(store.incidents[&escalate.incident_id].escalated_at, None);
    assert_eq!(
        store.operate(&escalate, at(9)),
        (DecisionKind::Escalated, true)
    );
}

#[test]
fn an_operation_on_a_resolved_or_replaced_incident_changes_nothing() {
    let config = config("dedupe: alarm, flap_window: 0s");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    let first = operation(&store, OperationKind::Escalate, "");
    store.deliver(&config, &change(0, AlarmState::Ok, at(1)));
    let resolved = store.operate(&first, at(2));
    assert_eq!(resolved, (DecisionKind::Ignored, false));

    // A new incident of the same key: the old incident's operation must not touch it.
    store.deliver(&config, &change(0, AlarmState::Alarm, at(3)));
    assert_eq!(store.incidents.len(), 2);
    assert_eq!(store.operate(&first, at(4)), (DecisionKind::Ignored, false));
    let unknown_key = Operation {
        dedup_key: "alarm:nothing-here".into(),
        ..first.clone()
    };
    let outcome = operate(
        &DedupHead::empty(&unknown_key.dedup_key),
        &unknown_key,
        &without_paging(),
        at(5),
    );
    assert_eq!(
        outcome.decision.ignored_because,
        Some(IgnoreReason::NothingOpen)
    );
    assert!(store.incidents.values().all(|i| i.escalated_at.is_none()));
}

#[test]
fn an_acknowledgement_is_recorded_once_and_a_resolve_still_closes() {
    let config = config("dedupe: alarm");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    let mut acknowledge = operation(&store, OperationKind::Acknowledge, "looking");
    acknowledge.by = "alice".into();

    assert_eq!(
        store.operate(&acknowledge, at(4)),
        (DecisionKind::Acknowledged, true)
    );
    let incident = &store.incidents[&acknowledge.incident_id];
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
    assert_eq!(incident.acknowledged_at, Some(at(4)));
    assert_eq!(
        store.timelines[&acknowledge.incident_id]
            .last()
            .map(|e| e.summary.as_str()),
        Some("acknowledged by alice: looking")
    );
    assert_eq!(
        store.operate(&acknowledge, at(5)),
        (DecisionKind::Ignored, false)
    );

    let resolve = operation(&store, OperationKind::Resolve, "fixed");
    assert_eq!(
        store.operate(&resolve, at(9)),
        (DecisionKind::Resolved, true)
    );
    assert_eq!(
        store.operate(&acknowledge, at(10)),
        (DecisionKind::Ignored, false),
        "nothing to acknowledge once resolved"
    );
}

/// A plan-wide dedup key sees every alarm of the plan: thousands of series over weeks.
/// Recovered series are forgotten after a day, the head never holds more than
/// MAX_HEAD_SERIES_BYTES, and it stays far under DynamoDB's 400 KB item limit.
#[test]
fn a_plan_wide_head_forgets_old_recovered_series_and_stays_bounded() {
    let config = config("dedupe: plan");
    let mut store = MemoryStore::default();
    for alarm in 0..2_000 {
        let start = at(i64::try_from(alarm).expect("small") * 3);
        store.deliver(&config, &change(alarm, AlarmState::Alarm, start));
        store.deliver(
            &config,
            &change(alarm, AlarmState::Ok, start + Duration::minutes(1)),
        );
    }
    let head = store.heads.values().next().expect("one plan-wide head");
    // 24 hours of 3-minute cycles, and nothing alarming older than that.
    assert!(head.series.len() <= 24 * 20 + 1, "{}", head.series.len());
    let size = serde_json::to_string(head).expect("json").len();
    assert!(size < 400_000 / 2, "{size} bytes");

    // A late copy of a forgotten series' change is stale, not a new incident.
    let forgotten = change(0, AlarmState::Alarm, at(0));
    assert_eq!(
        redeliver(&store, &config, &forgotten)
            .decision
            .ignored_because,
        Some(IgnoreReason::Stale)
    );
    // A new change of that alarm is as welcome as ever.
    assert_eq!(
        store.deliver(&config, &change(0, AlarmState::Alarm, at(7_000))),
        DecisionKind::Opened
    );
}

/// At the longest series keys (a 255-character alarm name and a long contributor id),
/// the fullest head a decision can write fits an item with room to spare, and still
/// remembers hundreds of series.
#[test]
fn the_fullest_head_fits_an_item() {
    let config = config("dedupe: plan");
    let mut store = MemoryStore::default();
    let long_name = "n".repeat(250);
    for alarm in 0..600 {
        let mut alarming = change(
            alarm,
            AlarmState::Alarm,
            at(0) + Duration::seconds(i64::try_from(alarm).expect("small")),
        );
        alarming.alarm_name = format!("{long_name}{alarm:05}");
        alarming.alarm_arn = format!(
            "arn:aws:cloudwatch:ap-southeast-2:123456789012:alarm:{}",
            alarming.alarm_name
        );
        alarming.contributor = Some(quench_core::alarm::Contributor {
            id: "c".repeat(256),
            attributes: BTreeMap::new(),
        });
        store.deliver(&config, &alarming);
    }
    let head = store.heads.values().next().expect("one plan-wide head");
    assert!(head.series.len() > 300, "{}", head.series.len());
    let incident = head.incident.as_ref().expect("incident");
    assert_eq!(incident.series.len(), MAX_INCIDENT_SERIES);
    let size = serde_json::to_string(head).expect("json").len();
    assert!(size < 300_000, "{size} bytes");
}

/// A runbook's final check saw the alarm OK; an ALARM that arrives before its resolve
/// (chat runs in between) is news the check never saw: the resolve is refused, and the
/// incident stays open for the state machine to escalate.
#[test]
fn a_resolve_after_a_check_is_refused_when_the_alarm_came_back_since() {
    let config = config("dedupe: alarm, flap_window: 0s");
    let mut store = MemoryStore::default();
    store.deliver(&config, &change(0, AlarmState::Alarm, at(0)));
    // The check saw OK since minute 3 (the OK event itself is still on its way), then
    // the alarm fired again at minute 4.
    store.deliver(&config, &change(0, AlarmState::Ok, at(3)));
    store.deliver(&config, &change(0, AlarmState::Alarm, at(4)));
    let mut resolve = operation(&store, OperationKind::Resolve, "the runbook fixed it");
    resolve.unless_alarmed_after = Some(at(3));
    assert_eq!(
        store.operate(&resolve, at(5)),
        (DecisionKind::Ignored, false)
    );
    let incident = store.incidents.values().last().expect("incident");
    assert!(incident.status.is_active());

    // What the check saw is still the news: the resolve goes through.
    resolve.unless_alarmed_after = Some(at(4));
    assert_eq!(
        store.operate(&resolve, at(5)),
        (DecisionKind::Resolved, true)
    );
}
