//! The handler over in-memory fakes of its ports: an alarm's incident opened once,
//! operations by request and by id, the pending resolution's confirmation, and a mirror
//! that fails without touching our record. The same paths against DynamoDB are in
//! crates/quench-e2e/tests/alarm_to_incident.rs.

use alarm_to_incident::{Handler, BUNDLED_CONFIG};
use chrono::{DateTime, Duration, Utc};
use quench_aws::fake::{lock, FakeMirror, MemoryStore};
use quench_core::config::Config;
use quench_core::incident::{Commit, DedupHead};
use quench_core::incident::{DecisionKind, IgnoreReason, IncidentStatus, OperationKind};
use quench_core::ports::{IncidentStore, MirrorFailure, StoreError};

fn sample(name: &str) -> String {
    let path = format!(
        "{}/../../events/alarm-to-incident/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).expect("sample event")
}

fn handler(config: &str) -> Handler<MemoryStore, FakeMirror> {
    Handler {
        config: Config::parse(config).expect("config"),
        store: MemoryStore::new(),
        mirror: Some(FakeMirror::default()),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("time")
}

#[tokio::test]
async fn an_alarm_opens_one_incident_and_its_ok_resolves_it() {
    let h = handler(BUNDLED_CONFIG);
    let now = at("2026-11-20T10:05:00Z");
    let opened = h
        .handle(&sample("cpu-high-alarm.json"), now)
        .await
        .expect("handled");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    assert_eq!(opened.decision.plan, "ec2-cpu-high");
    assert_eq!(opened.impact, Some(3));
    let again = h
        .handle(&sample("cpu-high-alarm.json"), now)
        .await
        .expect("handled");
    // A second delivery of the opening change hears what it did, so its execution (a
    // retry, a replay) carries on to the runbook; nothing is written twice.
    assert_eq!(again.decision.decision, DecisionKind::Opened);
    assert!(again.decision.redelivery);
    assert_eq!(again.runbook, opened.runbook);
    assert_eq!(again.decision.incident_id, opened.decision.incident_id);

    let resolved = h
        .handle(&sample("cpu-high-ok.json"), now)
        .await
        .expect("handled");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);
    let id = opened.decision.incident_id.expect("id");
    let incident = h.store.record(&id).expect("incident");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(h.store.events(&id).len(), 2);
}

#[tokio::test]
async fn operations_are_idempotent_by_request_and_by_id() {
    let h = handler(BUNDLED_CONFIG);
    let now = at("2026-11-20T10:05:00Z");
    let opened = h
        .handle(&sample("cpu-high-alarm.json"), now)
        .await
        .expect("handled");
    let id = opened.decision.incident_id.clone().expect("id");
    let operation = |action: &str| {
        serde_json::json!({ "operation": {
            "action": action, "dedup_key": opened.decision.dedup_key,
            "incident_id": id, "by": "alice", "reason": "on it",
        }})
        .to_string()
    };
    let acknowledged = h.handle(&operation("acknowledge"), now).await.expect("ack");
    assert_eq!(acknowledged.decision.decision, DecisionKind::Acknowledged);
    let again = h
        .incidents()
        .operate_by_id(OperationKind::Acknowledge, &id, "alice", "", now)
        .await
        .expect("handled");
    assert_eq!(
        again.decision.ignored_because,
        Some(IgnoreReason::AlreadyAcknowledged)
    );
    let resolved = h
        .incidents()
        .operate_by_id(OperationKind::Resolve, &id, "alice", "fixed", now)
        .await
        .expect("resolved");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);

    let nobody = serde_json::json!({ "operation": {
        "action": "resolve", "dedup_key": "k", "incident_id": id, "by": " ",
    }})
    .to_string();
    let error = h.handle(&nobody, now).await.expect_err("refused");
    assert_eq!(error.error_type(), "InvalidEvent", "{error}");
    let unknown = h
        .incidents()
        .operate_by_id(OperationKind::Resolve, "inc-404", "alice", "", now)
        .await
        .expect_err("refused");
    assert_eq!(unknown.error_type(), "InvalidEvent", "{unknown}");
}

#[tokio::test]
async fn a_pending_resolution_is_confirmed_once_its_time_has_come() {
    let h = handler(BUNDLED_CONFIG);
    let now = at("2026-11-20T10:05:00Z");
    h.handle(&sample("instance-check-failed-alarm.json"), now)
        .await
        .expect("handled");
    let pending = h
        .handle(&sample("instance-check-failed-ok.json"), now)
        .await
        .expect("handled");
    assert_eq!(pending.decision.decision, DecisionKind::ResolvePending);
    let due = pending.decision.resolve_due_at.expect("due time");
    let confirm = serde_json::json!({ "confirm_resolve": {
        "dedup_key": pending.decision.dedup_key,
        "incident_id": pending.decision.incident_id,
    }})
    .to_string();
    let early = h
        .handle(&confirm, due - Duration::seconds(1))
        .await
        .expect("handled");
    assert_eq!(
        early.decision.ignored_because,
        Some(IgnoreReason::NotYetDue)
    );
    let done = h.handle(&confirm, due).await.expect("handled");
    assert_eq!(done.decision.decision, DecisionKind::Resolved);
}

#[tokio::test]
async fn a_failing_mirror_is_reported_and_what_it_learned_is_kept() {
    let h = handler(
        "version: 1
plans:
  mirrored:
    impact: 2
    mirror:
      ops_center: { category: Availability }
default_plan: mirrored
",
    );
    let mirror = h.mirror.as_ref().expect("mirror");
    {
        let mut report = lock(&mirror.report);
        report.learned.ops_item_id = Some("oi-0123456789ab".into());
        report.failures.push(MirrorFailure {
            target: "incident_manager",
            operation: "StartIncident",
            message: "not allowed".into(),
        });
    }
    let opened = h
        .handle(&sample("cpu-high-alarm.json"), at("2026-11-20T10:05:00Z"))
        .await
        .expect("our record stands");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    assert_eq!(
        opened.mirror_failures,
        vec!["incident_manager StartIncident: not allowed".to_string()]
    );
    let id = opened.decision.incident_id.expect("id");
    assert_eq!(lock(&mirror.synced).len(), 1);
    let incident = h.store.record(&id).expect("incident");
    assert_eq!(
        incident.mirrors.ops_item_id.as_deref(),
        Some("oi-0123456789ab")
    );
}

/// A store whose next commit lands and then answers with an error, as a DynamoDB write
/// does when its response is lost to a timeout or a 5xx after it committed.
struct LosesAnAnswer {
    inner: MemoryStore,
    lose_next: std::sync::atomic::AtomicBool,
}

impl IncidentStore for LosesAnAnswer {
    async fn load_head(&self, dedup_key: &str) -> Result<Option<DedupHead>, StoreError> {
        self.inner.load_head(dedup_key).await
    }

    async fn apply(&self, commit: &Commit) -> Result<(), StoreError> {
        self.inner.apply(commit).await?;
        if self
            .lose_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Unavailable("the answer was lost".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_retry_after_a_committed_open_carries_on_to_the_runbook() {
    let h = Handler {
        config: Config::parse(BUNDLED_CONFIG).expect("config"),
        store: LosesAnAnswer {
            inner: MemoryStore::new(),
            lose_next: true.into(),
        },
        mirror: Some(FakeMirror::default()),
    };
    let now = at("2026-11-20T10:05:00Z");
    let first = h.handle(&sample("cpu-high-alarm.json"), now).await;
    assert!(first.is_err(), "the lost answer fails the invocation");
    let retried = h
        .handle(&sample("cpu-high-alarm.json"), now)
        .await
        .expect("handled");
    assert_eq!(retried.decision.decision, DecisionKind::Opened);
    assert!(retried.decision.redelivery);
    assert_eq!(retried.runbook.as_deref(), Some("cpu-diagnostics"));
    let id = retried.decision.incident_id.expect("id");
    assert_eq!(
        h.store.inner.events(&id).len(),
        1,
        "one opening, written once"
    );
}

/// An SNS event carries several records; one that no plan takes refuses the whole event
/// before any is applied, so a retry never meets a half-applied event.
#[tokio::test]
async fn a_multi_record_event_with_an_unroutable_record_applies_none() {
    let h = handler(
        "version: 1\nplans: { disks: { impact: 3 } }\n\
         routes: [{ plan: disks, match: { alarm_name: \"web-*\" } }]\n",
    );
    let mut event: serde_json::Value =
        serde_json::from_str(&sample("sns-wrapped-alarm.json")).expect("json");
    let records = event["Records"].as_array_mut().expect("records");
    let mut stray = records[0].clone();
    let message = stray["Sns"]["Message"].as_str().expect("message");
    stray["Sns"]["Message"] = message.replace("web-1-disk-full", "db-1-disk-full").into();
    records.push(stray);
    let refused = h
        .handle(&event.to_string(), at("2026-11-20T10:07:00Z"))
        .await;
    assert!(
        matches!(refused, Err(alarm_to_incident::HandlerError::Unroutable(_))),
        "{refused:?}"
    );
    let key = "alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-disk-full";
    assert_eq!(
        h.store.head(key),
        None,
        "the routable record was not applied"
    );
}

/// `sample` with its state timestamp replaced.
fn dated(name: &str, state_at: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(&sample(name)).expect("sample is JSON");
    event["detail"]["state"]["timestamp"] = state_at.into();
    event.to_string()
}

/// A state change is ordered by its own timestamp, so one dated in the future would make
/// every real change after it stale: the alarm would be muted until that date.
#[tokio::test]
async fn a_state_timestamp_from_the_future_is_refused_and_mutes_nothing() {
    let h = handler(BUNDLED_CONFIG);
    let now = at("2026-11-20T10:05:00Z");
    let opened = h
        .handle(&sample("cpu-high-alarm.json"), now)
        .await
        .expect("handled");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    let error = h
        .handle(
            &dated("cpu-high-ok.json", "9999-12-31T23:59:59.999+0000"),
            now,
        )
        .await
        .expect_err("a change from the year 9999");
    assert_eq!(error.error_type(), "InvalidEvent", "{error}");
    assert!(
        error.to_string().contains("detail.state.timestamp"),
        "{error}"
    );
    // CloudWatch's clock may run a little ahead of ours; minutes are not refused.
    let resolved = h
        .handle(&sample("cpu-high-ok.json"), now)
        .await
        .expect("an OK five minutes ahead");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);
}

/// At the edge of what a timestamp can hold, the due-time arithmetic (stale limit,
/// recovery checks) would overflow: it is refused before it gets there.
#[tokio::test]
async fn a_state_timestamp_at_the_end_of_time_is_refused_without_a_panic() {
    let h = handler(BUNDLED_CONFIG);
    let now = at("2026-11-20T10:05:00Z");
    for name in [
        "cpu-high-alarm.json",
        "cpu-high-ok.json",
        "instance-check-failed-ok.json",
    ] {
        let error = h
            .handle(&dated(name, "+262142-12-31T23:59:59.999+0000"), now)
            .await
            .expect_err("the end of time");
        assert_eq!(error.error_type(), "InvalidEvent", "{name}: {error}");
    }
}
