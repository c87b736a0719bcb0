//! The delivery loop over in-memory fakes: ordering, once-only delivery, retries with
//! backoff and Retry-After (on tokio's paused clock), dead letters and threads.

use std::time::Duration;

use chat_notifier::{Handler, Request, RetryPolicy};
use chrono::{DateTime, Utc};
use quench_aws::fake::{lock, FakeChat, MemoryStore};
use quench_core::chat::{Delivery, DeliveryState};
use quench_core::config::Config;
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{SendError, Sent};

const CONFIG: &str = "version: 1
plans:
  p: { impact: 2, chat: [slack, hook] }
default_plan: p
chat:
  channels:
    slack: { slack: { token: { secrets_manager: quench/slack }, channel: C1 } }
    hook: { webhook: { url: { ssm: /quench/hook } } }
";

fn t(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-20T10:{minute:02}:00Z"))
        .expect("time")
        .with_timezone(&Utc)
}

fn event(key: &str, kind: &str, minute: u32) -> TimelineEvent {
    serde_json::from_value(serde_json::json!({
        "incident_id": "inc-1", "event_key": key, "at": t(minute), "kind": kind,
        "alarm_name": "web-1-cpu-high", "series": "", "state": "ALARM",
        "summary": format!("{kind} happened"),
    }))
    .expect("event")
}

fn incident() -> IncidentRecord {
    serde_json::from_value(serde_json::json!({
        "id": "inc-1", "dedup_key": "alarm:x", "plan": "p", "impact": 2,
        "title": "High CPU", "status": "OPEN", "created_at": t(0),
        "series": ["arn"],
        "trigger": { "alarm_name": "web-1-cpu-high", "alarm_arn": "arn",
                     "account": "123456789012", "region": "eu-west-1", "reason": "r" },
        "version": 1
    }))
    .expect("incident")
}

fn handler(events: Vec<TimelineEvent>) -> Handler<MemoryStore, FakeChat> {
    Handler {
        config: Config::parse(CONFIG).expect("config"),
        store: MemoryStore::new()
            .with_incident(incident())
            .with_events(events),
        chat: FakeChat::default(),
        table: "quench".into(),
        policy: RetryPolicy::default(),
    }
}

fn request() -> Request {
    serde_json::from_str(r#"{"incident_id": "inc-1", "decision": "opened"}"#).expect("request")
}

fn retry(after: Option<u64>) -> Result<Sent, SendError> {
    Err(SendError::Retry {
        after: after.map(Duration::from_secs),
        reason: "503".into(),
    })
}

#[tokio::test(start_paused = true)]
async fn every_event_reaches_every_channel_once_in_order_and_slack_threads() {
    let h = handler(vec![
        event("a", "opened", 0),
        event("b", "step", 1),
        event("c", "resolved", 2),
    ]);
    let first = h.handle_request(&request(), t(3)).await.expect("handled");
    assert_eq!(
        (first.delivered, first.dead_lettered, first.pending),
        (6, 0, 0)
    );
    let slack = h.chat.attempts("slack");
    assert_eq!(
        slack,
        vec![
            (None, "inc-1#a".to_string()),
            (Some("ts-inc-1#a".to_string()), "inc-1#b".to_string()),
            (Some("ts-inc-1#a".to_string()), "inc-1#c".to_string()),
        ]
    );
    assert_eq!(h.chat.attempts("webhook").len(), 3);

    // A retried invocation, or the next one with nothing new: nothing is sent again.
    let again = h.handle_request(&request(), t(4)).await.expect("handled");
    assert_eq!(again.delivered, 0);
    assert_eq!(lock(&h.chat.attempts).len(), 6);

    // The resolution rewrote the opening message in place, once.
    let updates = lock(&h.chat.updates).clone();
    assert_eq!(
        updates.len(),
        1,
        "only the threaded channel has a message to edit"
    );
    assert_eq!(
        (updates[0].0.as_str(), updates[0].1.as_str()),
        ("slack", "ts-inc-1#a")
    );
    assert!(updates[0].2["text"].to_string().contains("Incident opened"));

    // A new event later: only it is sent, still in the thread.
    h.store.add_event(event("d", "escalated", 5));
    h.handle_request(&request(), t(6)).await.expect("handled");
    assert_eq!(
        h.chat.attempts("slack").last(),
        Some(&(Some("ts-inc-1#a".to_string()), "inc-1#d".to_string()))
    );
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_fails_twice_gets_the_message_once_after_backoff() {
    let h = handler(vec![event("a", "opened", 0)]);
    h.chat.script("webhook", vec![retry(None), retry(None)]);
    let response = h.handle_request(&request(), t(1)).await.expect("handled");
    assert_eq!((response.delivered, response.dead_lettered), (2, 0));
    assert_eq!(
        h.chat.attempts("webhook").len(),
        3,
        "two failures, one success"
    );
    assert_eq!(
        h.store.delivery_state("inc-1", "hook", "a"),
        Some(DeliveryState::Delivered)
    );
    assert!(lock(&h.chat.dead).is_empty());
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_capped() {
    let h = handler(vec![event("a", "opened", 0)]);
    h.chat
        .script("webhook", vec![retry(Some(7)), retry(Some(3_600))]);
    h.handle_request(&request(), t(1)).await.expect("handled");
    let times: Vec<tokio::time::Instant> = lock(&h.chat.attempts)
        .iter()
        .filter(|a| a.0 == "webhook")
        .map(|a| a.3)
        .collect();
    assert_eq!(times.len(), 3);
    assert_eq!(times[1] - times[0], Duration::from_secs(7));
    assert_eq!(
        times[2] - times[1],
        RetryPolicy::default().retry_after_cap,
        "an hour is cut to the cap"
    );
}

#[tokio::test(start_paused = true)]
async fn a_sink_down_for_good_dead_letters_records_and_lets_the_rest_wait() {
    let h = handler(vec![event("a", "opened", 0), event("b", "resolved", 1)]);
    h.chat
        .script("webhook", (0..4).map(|_| retry(None)).collect());
    let response = h.handle_request(&request(), t(2)).await.expect("handled");
    assert_eq!(
        (response.delivered, response.dead_lettered, response.pending),
        (2, 1, 1),
        "slack got both; the hook dead-lettered `a` and left `b` for later"
    );
    assert_eq!(h.chat.attempts("webhook").len(), 4, "bounded attempts");
    assert_eq!(
        h.store.delivery_state("inc-1", "hook", "a"),
        Some(DeliveryState::DeadLettered)
    );
    let dead = lock(&h.chat.dead).clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["channel"], "hook");
    assert_eq!(dead[0]["event_kind"], "opened");
    assert!(
        dead[0]["message"].is_object(),
        "the rendered message is kept"
    );
    let failed: Vec<TimelineEvent> = h.store.events_of("inc-1", TimelineKind::ChatFailed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].summary.contains("chat `hook`"),
        "{}",
        failed[0].summary
    );

    // Recovered: the next invocation sends `b`, and never the failure record itself.
    let next = h.handle_request(&request(), t(3)).await.expect("handled");
    assert_eq!(
        (next.delivered, next.dead_lettered, next.pending),
        (1, 0, 0)
    );
    assert_eq!(
        h.store.delivery_state("inc-1", "hook", "b"),
        Some(DeliveryState::Delivered)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_final_at_once_and_a_fresh_claim_is_left_alone() {
    let h = handler(vec![event("a", "opened", 0)]);
    h.chat.script(
        "webhook",
        vec![Err(SendError::Fail {
            reason: "HTTP 404".into(),
        })],
    );
    let response = h.handle_request(&request(), t(1)).await.expect("handled");
    assert_eq!(response.dead_lettered, 1);
    assert_eq!(h.chat.attempts("webhook").len(), 1, "no retry of a 404");

    // Another invocation is sending `x` right now: this one leaves it.
    let h = handler(vec![event("x", "opened", 0)]);
    h.store.put_delivery(Delivery {
        incident_id: "inc-1".into(),
        channel: "slack".into(),
        event_key: "x".into(),
        state: DeliveryState::Sending,
        at: t(1),
        attempts: 0,
        thread: None,
        error: None,
    });
    let response = h.handle_request(&request(), t(1)).await.expect("handled");
    assert_eq!(response.pending, 1);
    assert!(h.chat.attempts("slack").is_empty());
    // Once that claim is older than the lease, its attempt is taken to have died.
    let later = h.handle_request(&request(), t(9)).await.expect("handled");
    assert_eq!(later.delivered, 1);
}

#[tokio::test]
async fn bad_requests_are_invalid_events() {
    let h = handler(vec![]);
    for raw in ["{}", "[]", r#"{"incident_id": "inc-404"}"#] {
        let error = h.handle(raw, t(0)).await.expect_err("refused");
        assert_eq!(error.error_type(), "InvalidEvent", "{raw}: {error}");
    }
}
