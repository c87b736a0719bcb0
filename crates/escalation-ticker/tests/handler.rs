//! The ticker over in-memory fakes of its ports: stages paged on time, a page that fails
//! and is tried again, pages cancelled by an acknowledgement, the state machine's
//! PageNow, and a recovery found by reading the alarm.

use chrono::{DateTime, Duration, TimeZone, Utc};
use escalation_ticker::{Handler, Report, MAX_DUE_PER_TICK};
use quench_aws::fake::{
    alarm_change, lock, FakeAlarms, FakeChat, FakeClock, FakePager, Latency, MemoryStore,
};
use quench_core::alarm::{AlarmChange, AlarmState};
use quench_core::chat::{Delivery, DeliveryState};
use quench_core::config::Config;
use quench_core::escalation::{Page, PageState, Via};
use quench_core::incident::AlarmReading;
use quench_core::incident::{apply_change, apply_operation};
use quench_core::incident::{DecisionKind, IncidentStatus, Operation, OperationKind, TimelineKind};
use quench_core::ports::SendError;

const CONFIG: &str = r#"
version: 1
default_plan: web
plans:
  web: { impact: 2, escalation: front, resolve_on_ok: never, chat: [ops] }
  carol: { impact: 2, escalation: carol-only, resolve_on_ok: never }
  bob: { impact: 2, escalation: bob-only, resolve_on_ok: never }
  dave: { impact: 2, escalation: dave-only, resolve_on_ok: never }
  recovering: { impact: 3, resolve_on_ok: after 5m }
routes:
  - plan: carol
    match: { alarm_name: "carol-*" }
  - plan: bob
    match: { alarm_name: "bob-*" }
  - plan: dave
    match: { alarm_name: "dave-*" }
  - plan: recovering
    match: { alarm_name: "*-recovering" }
chat:
  channels:
    ops: { slack: { token: { secrets_manager: quench/slack }, channel: C1 } }
    pager: { slack: { token: { secrets_manager: quench/slack }, channel: C2 } }
contacts:
  alice: { email: alice@example.com, phone: "+4915100000001", chat: { channel: ops, user: U0ALICE } }
  bob: { email: bob@example.com, phone: "+4915100000002", engagement: [{ via: email }, { via: sms, after: 5m }] }
  carol: { email: carol@example.com }
  dave: { chat: { channel: pager, user: U0DAVE } }
escalation_policies:
  front:
    stages:
      - { targets: [{ contact: alice }], timeout: 10m }
      - { targets: [{ contact: carol }], timeout: 10m }
  carol-only:
    stages:
      - { targets: [{ contact: carol }], timeout: 1h }
  bob-only:
    stages:
      - { targets: [{ contact: bob }], timeout: 1h }
  dave-only:
    stages:
      - { targets: [{ contact: dave }], timeout: 1h }
"#;

type Ticker = Handler<MemoryStore, FakePager, FakeAlarms, FakeChat, FakeClock>;

fn ticker() -> Ticker {
    Handler {
        config: Config::parse(CONFIG).expect("config"),
        store: MemoryStore::new(),
        pager: FakePager::default(),
        alarms: FakeAlarms::default(),
        chat: Some(FakeChat::default()),
        host: FakeClock::default(),
        table: "quench".into(),
        lease: Duration::minutes(2),
    }
}

/// A deadline no test reaches: the fakes take no time unless a test makes them slow.
fn far_deadline(h: &Ticker) -> std::time::Instant {
    h.host.now() + std::time::Duration::from_secs(3600)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .expect("time")
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(n)
}

/// `name` went into ALARM at `at`.
fn alarm(name: &str, at: DateTime<Utc>) -> AlarmChange {
    alarm_change(name, AlarmState::Alarm, at)
}

/// Opens an incident for `name` at `at`; returns (incident id, dedup key).
async fn open(h: &Ticker, name: &str, at: DateTime<Utc>) -> (String, String) {
    let (decision, _) = apply_change(&h.store, &h.config, &alarm(name, at))
        .await
        .expect("opened");
    assert_eq!(decision.decision, DecisionKind::Opened);
    (decision.incident_id.expect("incident"), decision.dedup_key)
}

/// `action` on the incident by `by` at `at`, as alarm-to-incident applies it.
async fn operate(
    h: &Ticker,
    action: OperationKind,
    incident: &(String, String),
    by: &str,
    at: DateTime<Utc>,
) -> DecisionKind {
    let operation = Operation {
        action,
        dedup_key: incident.1.clone(),
        incident_id: incident.0.clone(),
        by: by.into(),
        reason: String::new(),
        unless_alarmed_after: None,
    };
    let (decision, _) = apply_operation(&h.store, &h.config, &operation, at)
        .await
        .expect("operated");
    decision.decision
}

/// An incident for `name`, escalated at `at` (stage 1's pages written, due).
async fn escalated(h: &Ticker, name: &str, at: DateTime<Utc>) -> (String, String) {
    let incident = open(h, name, at).await;
    let decision = operate(h, OperationKind::Escalate, &incident, "runbook:cpu", at).await;
    assert_eq!(decision, DecisionKind::Escalated);
    incident
}

async fn tick(h: &Ticker, at: DateTime<Utc>) -> Report {
    h.tick(at, far_deadline(h)).await.expect("tick")
}

fn page(h: &Ticker, incident_id: &str, contact: &str, via: Via) -> Page {
    h.store
        .stored_pages(incident_id)
        .into_iter()
        .find(|p| p.contact == contact && p.via == via)
        .expect("page")
}

fn chat(h: &Ticker) -> &FakeChat {
    h.chat.as_ref().expect("chat")
}

#[tokio::test]
async fn a_tick_pages_stage_one_on_every_channel_then_the_next_stage_on_time() {
    let h = ticker();
    let (id, _) = escalated(&h, "web-1-cpu", t0()).await;

    let first = tick(&h, t0()).await;
    assert_eq!((first.pages_sent, first.escalations), (3, 0), "{first:?}");
    assert_eq!(h.pager.emailed(), vec!["alice"]);
    assert_eq!(h.pager.texted(), vec!["+4915100000001"]);
    let (to, subject, body) = lock(&h.pager.emails)[0].clone();
    assert_eq!(to, "alice");
    assert!(subject.starts_with("[Quench] P2 "), "{subject}");
    assert!(body.contains("stage 1 of round 1"), "{body}");
    // Each page recorded once; the chat page is its event, posted with the mention.
    let paged = h.store.events_of(&id, TimelineKind::Paged);
    assert_eq!(paged.len(), 3, "{paged:#?}");
    let mention = paged
        .iter()
        .find(|e| e.mention.as_ref().is_some_and(|m| m.user == "U0ALICE"))
        .expect("the chat page's event");
    let posted = format!("{id}#{}", mention.event_key);
    assert!(
        chat(&h)
            .attempts("slack")
            .iter()
            .any(|(_, key)| *key == posted),
        "{:?}",
        chat(&h).attempts("slack")
    );
    assert!(h
        .store
        .stored_pages(&id)
        .iter()
        .all(|p| p.state == PageState::Sent && p.attempts == 1));

    assert_eq!(tick(&h, minutes(5)).await, Report::default(), "nothing due");
    let second = tick(&h, minutes(10)).await;
    assert_eq!(
        (second.escalations, second.pages_sent),
        (1, 1),
        "{second:?}"
    );
    assert_eq!(h.pager.emailed(), vec!["alice", "carol"]);
    // The plan's channel heard of the stage change from the ticker.
    let stage = h.store.events_of(&id, TimelineKind::Paging);
    let told = format!("{id}#{}", stage.last().expect("paging event").event_key);
    assert!(chat(&h)
        .attempts("slack")
        .iter()
        .any(|(_, key)| *key == told));
}

#[tokio::test]
async fn a_page_that_fails_is_tried_again_on_a_later_tick_and_recorded_when_it_never_goes_out() {
    let h = ticker();
    lock(&h.pager.failures).push_back("SNS is down".into());
    let (id, _) = escalated(&h, "carol-1-cpu", t0()).await;

    let first = tick(&h, t0()).await;
    assert_eq!(
        (first.pages_sent, first.pages_retrying),
        (0, 1),
        "{first:?}"
    );
    let failed = page(&h, &id, "carol", Via::Email);
    assert_eq!(failed.state, PageState::Pending);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.last_error.as_deref(), Some("SNS is down"));
    assert_eq!(failed.due_at, minutes(1), "the next tick");
    assert_eq!(
        tick(&h, t0() + Duration::seconds(30)).await,
        Report::default()
    );

    let retried = tick(&h, minutes(1)).await;
    assert_eq!(retried.pages_sent, 1, "{retried:?}");
    assert_eq!(h.pager.emailed(), vec!["carol"]);
    let sent = page(&h, &id, "carol", Via::Email);
    assert_eq!((sent.state, sent.attempts), (PageState::Sent, 2));
    assert_eq!(sent.last_error, None);
    assert_eq!(
        h.store.events_of(&id, TimelineKind::Paged).len(),
        1,
        "one event for the page, however many attempts"
    );

    // Another incident whose page never goes out: given up after five attempts.
    let h = ticker();
    lock(&h.pager.failures).extend((0..5).map(|_| "SNS is down".to_string()));
    let (id, _) = escalated(&h, "carol-2-cpu", t0()).await;
    let mut reports = Vec::new();
    for _ in 0..5 {
        let due = page(&h, &id, "carol", Via::Email).due_at;
        reports.push(tick(&h, due).await);
    }
    let last = reports.last().expect("ticks");
    assert_eq!(
        (last.pages_failed, last.pages_retrying),
        (1, 0),
        "{reports:?}"
    );
    assert_eq!(
        reports.iter().map(|r| r.pages_retrying).sum::<u32>(),
        4,
        "{reports:?}"
    );
    let given_up = page(&h, &id, "carol", Via::Email);
    assert_eq!((given_up.state, given_up.attempts), (PageState::Failed, 5));
    let recorded = h.store.events_of(&id, TimelineKind::PageFailed);
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].summary,
        "could not page carol by email after 5 attempts: SNS is down"
    );
    assert!(h.pager.emailed().is_empty());
}

#[tokio::test]
async fn an_acknowledgement_cancels_the_pages_still_pending() {
    let h = ticker();
    let incident = escalated(&h, "bob-1-cpu", t0()).await;
    let first = tick(&h, t0()).await;
    assert_eq!(first.pages_sent, 1, "the SMS waits 5 minutes: {first:?}");
    assert_eq!(h.pager.emailed(), vec!["bob"]);

    let acked = operate(&h, OperationKind::Acknowledge, &incident, "bob", minutes(2)).await;
    assert_eq!(acked, DecisionKind::Acknowledged);
    let later = tick(&h, minutes(5)).await;
    assert_eq!(
        (later.pages_cancelled, later.pages_sent),
        (1, 0),
        "{later:?}"
    );
    assert!(h.pager.texted().is_empty());
    let sms = page(&h, &incident.0, "bob", Via::Sms);
    assert_eq!(sms.state, PageState::Cancelled);
    assert_eq!(sms.at, minutes(5));
    assert_eq!(tick(&h, minutes(6)).await, Report::default());
}

#[tokio::test]
async fn page_now_sends_the_incidents_due_pages_at_once() {
    let h = ticker();
    let (id, _) = escalated(&h, "web-1-cpu", t0()).await;
    let request = serde_json::json!({ "incident_id": id }).to_string();
    let now = h
        .handle(&request, t0(), far_deadline(&h))
        .await
        .expect("paged");
    assert_eq!((now.due, now.pages_sent), (3, 3), "{now:?}");
    assert_eq!(h.pager.emailed(), vec!["alice"]);
    // The tick right after finds nothing left to send.
    assert_eq!(tick(&h, t0()).await, Report::default());
    let again = h
        .handle(&request, t0(), far_deadline(&h))
        .await
        .expect("paged");
    assert_eq!((again.due, again.pages_sent), (0, 0));

    let error = h
        .handle(r#"{"incident": "inc-1"}"#, t0(), far_deadline(&h))
        .await
        .expect_err("refused");
    assert_eq!(error.error_type(), "InvalidEvent", "{error}");
}

#[tokio::test]
async fn a_recovery_quench_did_not_hear_of_is_found_by_reading_the_alarm() {
    let h = ticker();
    let (id, _) = open(&h, "web-1-recovering", t0()).await;
    lock(&h.alarms.readings).push(AlarmReading {
        alarm_name: "web-1-recovering".into(),
        state: AlarmState::Ok,
        since: minutes(2),
    });
    assert_eq!(tick(&h, minutes(9)).await, Report::default(), "not yet due");
    let checked = tick(&h, minutes(10)).await;
    assert_eq!(checked.resolved, 1, "{checked:?}");
    assert_eq!(
        lock(&h.alarms.asked).clone(),
        vec![vec!["web-1-recovering".to_string()]]
    );
    let incident = h.store.record(&id).expect("incident");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    let resolved = h.store.events_of(&id, TimelineKind::Resolved);
    assert!(
        resolved[0].summary.contains("never reached Quench"),
        "{}",
        resolved[0].summary
    );
}

#[tokio::test]
async fn a_page_whose_ticker_died_after_claiming_it_is_sent_once_the_lease_runs_out() {
    use quench_core::ports::PageStore;
    let h = ticker();
    let (id, _) = escalated(&h, "carol-1-cpu", t0()).await;
    // A ticker claims carol's page and dies before sending or settling it.
    let claimed = page(&h, &id, "carol", Via::Email);
    assert!(h
        .store
        .claim_page(&claimed, t0(), h.lease)
        .await
        .expect("claimed"));

    let during = tick(&h, minutes(1)).await;
    assert_eq!(during.pages_sent, 0, "the lease still holds: {during:?}");
    let after = tick(&h, minutes(2)).await;
    assert_eq!(after.pages_sent, 1, "{after:?}");
    assert_eq!(h.pager.emailed(), vec!["carol"]);
    let sent = page(&h, &id, "carol", Via::Email);
    assert_eq!((sent.state, sent.attempts), (PageState::Sent, 1));
    for minute in [3, 5, 10] {
        assert_eq!(
            tick(&h, minutes(minute)).await.pages_sent,
            0,
            "minute {minute}"
        );
    }
    assert_eq!(h.pager.emailed(), vec!["carol"], "exactly once");
}

#[tokio::test]
async fn a_tick_sends_its_due_pages_before_a_backlog_of_checks_and_stops_at_its_deadline() {
    let clock = FakeClock::default();
    let h = Handler {
        pager: FakePager {
            latency: Latency::of(&clock, std::time::Duration::from_millis(200)),
            ..FakePager::default()
        },
        alarms: FakeAlarms {
            latency: Latency::of(&clock, std::time::Duration::from_millis(100)),
            ..FakeAlarms::default()
        },
        host: clock.clone(),
        ..ticker()
    };
    // 600 acknowledged incidents whose recovery checks are long due, more than one
    // tick reads, each check a 100 ms DescribeAlarms...
    for n in 0..600 {
        let at = t0() - Duration::hours(1) + Duration::seconds(n);
        let incident = open(&h, &format!("web-{n}-recovering"), at).await;
        operate(&h, OperationKind::Acknowledge, &incident, "alice", at).await;
    }
    // ...and 10 pages due a minute ago, each a 200 ms publish.
    for n in 0..10 {
        escalated(&h, &format!("carol-{n}-cpu"), minutes(-1)).await;
    }

    let deadline = clock.now() + std::time::Duration::from_secs(30);
    let report = h.tick(t0(), deadline).await.expect("tick");
    assert_eq!(report.pages_sent, 10, "{report:?}");
    let tried = lock(&h.pager.tried_at).clone();
    let origin = clock.now() - clock.elapsed();
    assert!(
        tried
            .iter()
            .all(|at| *at <= origin + std::time::Duration::from_secs(2)),
        "every page before any check: {:?}",
        tried.iter().map(|at| *at - origin).collect::<Vec<_>>()
    );
    assert!(
        clock.elapsed() <= std::time::Duration::from_secs(30),
        "past the deadline: {:?}, {report:?}",
        clock.elapsed()
    );
    assert_eq!(report.first_page_ms, Some(200), "{report:?}");
    // The checks use the time that is left, and the rest stay due for the next tick.
    let checks = lock(&h.alarms.asked).len();
    assert!(checks > 0 && checks < 500, "{checks} checks, {report:?}");
    assert_eq!(report.incidents as usize, checks);
    assert_eq!(report.left as usize, 500 - checks, "{report:?}");
    let next = h
        .tick(t0(), clock.now() + std::time::Duration::from_secs(600))
        .await
        .expect("tick");
    assert_eq!(
        next.incidents as usize,
        600 - checks,
        "the checks left are done next: {next:?}"
    );
}

#[tokio::test]
async fn a_chat_page_slack_refused_is_retried_and_recorded_as_failed_never_as_sent() {
    let h = ticker();
    let (id, _) = escalated(&h, "dave-1-cpu", t0()).await;
    let refused = || Err(SendError::fail("Slack: channel_not_found"));
    chat(&h).script("slack", vec![refused()]);

    let first = tick(&h, t0()).await;
    assert_eq!(
        (first.pages_sent, first.pages_retrying),
        (0, 1),
        "{first:?}"
    );
    let failed = page(&h, &id, "dave", Via::Chat);
    assert_eq!((failed.state, failed.attempts), (PageState::Pending, 1));
    assert_eq!(
        failed.last_error.as_deref(),
        Some("Slack: channel_not_found")
    );
    assert!(
        h.store.events_of(&id, TimelineKind::Paged).is_empty(),
        "not paged: {:#?}",
        h.store.events(&id)
    );

    // Slack takes it on the next attempt: one message, one `paged` event.
    let retried = tick(&h, failed.due_at).await;
    assert_eq!(retried.pages_sent, 1, "{retried:?}");
    let sent = page(&h, &id, "dave", Via::Chat);
    assert_eq!((sent.state, sent.attempts), (PageState::Sent, 2));
    let paged = h.store.events_of(&id, TimelineKind::Paged);
    assert_eq!(paged.len(), 1, "{paged:#?}");
    assert_eq!(chat(&h).attempts("slack").len(), 2);
    assert_eq!(
        h.store.delivery_state(&id, "pager", &paged[0].event_key),
        Some(DeliveryState::Delivered)
    );

    // A channel that refuses every attempt: the page fails, on the timeline.
    let h = ticker();
    let (id, _) = escalated(&h, "dave-2-cpu", t0()).await;
    chat(&h).script("slack", (0..5).map(|_| refused()).collect());
    let mut reports = Vec::new();
    for _ in 0..5 {
        let due = page(&h, &id, "dave", Via::Chat).due_at;
        reports.push(tick(&h, due).await);
    }
    assert_eq!(
        reports.iter().map(|r| r.pages_failed).sum::<u32>(),
        1,
        "{reports:?}"
    );
    assert!(reports.iter().all(|r| r.pages_sent == 0), "{reports:?}");
    let given_up = page(&h, &id, "dave", Via::Chat);
    assert_eq!((given_up.state, given_up.attempts), (PageState::Failed, 5));
    let failed = h.store.events_of(&id, TimelineKind::PageFailed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].summary.contains("channel_not_found"),
        "{}",
        failed[0].summary
    );
    assert!(h.store.events_of(&id, TimelineKind::Paged).is_empty());
}

#[tokio::test]
async fn a_chat_page_another_invocation_is_posting_is_left_for_a_later_tick() {
    let h = ticker();
    let (id, _) = escalated(&h, "dave-1-cpu", t0()).await;
    let pending = page(&h, &id, "dave", Via::Chat);
    // The delivery of this page's message is claimed elsewhere, and still leased.
    h.store.put_delivery(Delivery {
        incident_id: id.clone(),
        channel: "pager".into(),
        event_key: format!("paged#{}", pending.key()),
        state: DeliveryState::Sending,
        at: t0(),
        attempts: 0,
        thread: None,
        error: None,
    });
    let first = tick(&h, t0()).await;
    assert_eq!(first.pages_sent, 0, "{first:?}");
    let waiting = page(&h, &id, "dave", Via::Chat);
    assert_eq!(
        (waiting.state, waiting.attempts),
        (PageState::Pending, 0),
        "not an attempt"
    );
    assert!(waiting.due_at > t0());
    assert!(chat(&h).attempts("slack").is_empty());

    // The other invocation died; its claim runs out and this ticker posts the page.
    let later = tick(&h, minutes(3)).await;
    assert_eq!(later.pages_sent, 1, "{later:?}");
    assert_eq!(chat(&h).attempts("slack").len(), 1);
    assert_eq!(h.store.events_of(&id, TimelineKind::Paged).len(), 1);
}

#[tokio::test]
async fn a_hanging_chat_endpoint_holds_up_neither_the_pages_nor_the_deadline() {
    let h = ticker();
    for n in 0..3 {
        escalated(&h, &format!("web-{n}-cpu"), t0()).await;
    }
    assert_eq!(
        tick(&h, t0()).await.pages_sent,
        9,
        "stage 1: alice, three ways"
    );
    // Slack hangs from now on: every post takes the client's 5 s timeout and fails.
    let clock = h.host.clone();
    let h = Handler {
        chat: Some(FakeChat {
            latency: Latency::of(&clock, std::time::Duration::from_secs(5)),
            ..FakeChat::default()
        }),
        pager: FakePager {
            latency: Latency::of(&clock, std::time::Duration::from_millis(200)),
            ..FakePager::default()
        },
        ..h
    };
    let timeout = || Err(SendError::retry("no response: timed out"));
    chat(&h).script("slack", (0..100).map(|_| timeout()).collect());

    let started = clock.now();
    let deadline = started + std::time::Duration::from_secs(60);
    let report = h.tick(minutes(10), deadline).await.expect("tick");
    assert_eq!(
        (report.escalations, report.pages_sent),
        (3, 3),
        "stage 2: carol, for each: {report:?}"
    );
    let emailed = lock(&h.pager.tried_at).clone();
    assert_eq!(emailed.len(), 3);
    // A post takes 5 s: all three emails within the first second went before any.
    assert!(
        emailed
            .iter()
            .all(|at| *at - started < std::time::Duration::from_secs(1)),
        "the pages went first"
    );
    assert!(
        !chat(&h).attempts("slack").is_empty(),
        "the stage changes were posted"
    );
    // Each incident's notices get at most the time left, so the tick ends in time.
    assert!(
        clock.now() <= deadline,
        "{:?} past the deadline: {report:?}",
        clock.now() - deadline
    );
}

#[test]
fn an_invocation_works_until_its_deadline_or_for_fifty_seconds_whichever_comes_first() {
    use escalation_ticker::{work_deadline, TICK_SPAN};
    use std::time::{Duration as Span, Instant, SystemTime};
    let (now, instant) = (SystemTime::now(), Instant::now());
    assert_eq!(TICK_SPAN, Span::from_secs(50));
    let in_two_minutes = now + Span::from_secs(120);
    assert_eq!(
        work_deadline(in_two_minutes, now, instant),
        instant + TICK_SPAN
    );
    let soon = now + Span::from_secs(20);
    assert_eq!(
        work_deadline(soon, now, instant),
        instant + Span::from_secs(20)
    );
    // The local emulator's constant `lambda-runtime-deadline-ms: 600000`.
    let emulated = SystemTime::UNIX_EPOCH + Span::from_millis(600_000);
    assert_eq!(work_deadline(emulated, now, instant), instant + TICK_SPAN);
}

#[tokio::test]
async fn a_tick_with_time_left_reads_the_routine_queue_batch_after_batch() {
    let h = ticker();
    for n in 0..700 {
        let at = t0() - Duration::hours(1) + Duration::seconds(n);
        let incident = open(&h, &format!("web-{n}-recovering"), at).await;
        operate(&h, OperationKind::Acknowledge, &incident, "alice", at).await;
    }
    let report = tick(&h, t0()).await;
    assert_eq!((report.incidents, report.left), (700, 0), "{report:?}");
    assert_eq!(tick(&h, t0()).await, Report::default(), "all checked");
}

#[tokio::test]
async fn an_incident_left_open_unhandled_is_escalated_by_the_safety_net() {
    let h = ticker();
    // Opened under a plan that pages, and then nothing: the state machine never
    // escalated it (its execution failed, say).
    let (id, _) = open(&h, "carol-1-cpu", t0()).await;
    assert_eq!(tick(&h, minutes(14)).await.escalations, 0, "not yet");
    let net = tick(&h, minutes(15)).await;
    assert_eq!((net.escalations, net.pages_sent), (1, 1), "{net:?}");
    assert_eq!(h.pager.emailed(), vec!["carol"]);
    let escalated = h.store.events_of(&id, TimelineKind::Escalated);
    assert_eq!(escalated.len(), 1);
    assert_eq!(
        escalated[0].summary,
        "escalated by ticker: no runbook outcome or page within 15m; paging carol"
    );
    assert_eq!(tick(&h, minutes(30)).await.escalations, 0, "once");
}

/// Chat notices are waiting and the time left falls inside their reserve while a full
/// batch of routine checks is due: the tick stops taking routine work and keeps the
/// reserve for the notices, rather than querying the same batch again and again.
#[tokio::test]
async fn routine_work_stops_at_the_chat_reserve_instead_of_querying_again() {
    let clock = FakeClock::default();
    let h = Handler {
        alarms: FakeAlarms {
            latency: Latency::of(&clock, std::time::Duration::from_millis(100)),
            ..FakeAlarms::default()
        },
        host: clock.clone(),
        ..ticker()
    };
    for n in 0..600 {
        let at = t0() - Duration::hours(1) + Duration::seconds(n);
        let incident = open(&h, &format!("web-{n}-recovering"), at).await;
        operate(&h, OperationKind::Acknowledge, &incident, "alice", at).await;
    }
    // Their second stage is due now: the plan's chat channel hears of it.
    for n in 0..3 {
        escalated(&h, &format!("web-{n}-cpu"), minutes(-11)).await;
    }
    let deadline = clock.now() + std::time::Duration::from_secs(40);
    let report = tokio::time::timeout(std::time::Duration::from_secs(60), h.tick(t0(), deadline))
        .await
        .expect("the tick ends")
        .expect("tick");
    assert_eq!(report.escalations, 3, "{report:?}");
    assert!(
        // The 9 stage-1 pages and 3 incidents due, and one batch of checks.
        report.due <= 9 + 3 + MAX_DUE_PER_TICK as u32,
        "one routine batch read, not the same one again: {report:?}"
    );
    assert_eq!(
        report.chat_left, 0,
        "the reserve went to the notices: {report:?}"
    );
}
