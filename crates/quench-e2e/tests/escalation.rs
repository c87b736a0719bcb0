//! Paging end to end with simulated time: the real alarm-to-incident and escalation
//! ticker handlers in process, against moto's DynamoDB (the table and its sparse index
//! created from infra/template.yaml), SNS (emails through the pages topic, read back
//! from an SQS subscription; SMS read back from moto), CloudWatch, and the chat
//! notifier posting to a local Slack stand-in. Every `now` is chosen by the test: no
//! test sleeps through a real minute.

use std::sync::Arc;

use alarm_to_incident::Handler as AlarmHandler;
use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, Duration, Utc};
use escalation_ticker::{LambdaHandler as Ticker, Report};
use quench_aws::chat::{AwsChat, TokioHost};
use quench_aws::mirror::AwsMirror;
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::escalation::PageState;
use quench_core::incident::{DecisionKind, IncidentStatus, OperationKind, TimelineKind};
use quench_core::ports::{IncidentLog, PageStore};
use quench_local_stack::incident_response::{drain_queue, ChatStandIns, PagesStandIn};
use quench_local_stack::sink::Sink;
use quench_local_stack::{create_table, sample_event, Moto};
use serde_json::{json, Value};

const SLACK: &str = "/slack/api/chat.postMessage";

const CONFIG: &str = r#"
version: 1
default_plan: web
plans:
  web:
    impact: 2
    escalation: web-oncall
    acknowledge_timeout: 30m
    resolve_on_ok: never
    chat: [ops-slack]
  recovering:
    impact: 3
    resolve_on_ok: after 5m
    stale_after: 1d
routes:
  - plan: recovering
    match: { alarm_name: "*-recovering" }
chat:
  channels:
    ops-slack:
      slack: { token: { secrets_manager: quench/chat/slack-bot-token }, channel: C0INCIDENTS }
contacts:
  alice: { email: alice@example.com, phone: "+4915100000001", chat: { channel: ops-slack, user: U0ALICE } }
  bob: { email: bob@example.com, phone: "+4915100000002", engagement: [{ via: email }, { via: sms, after: 5m }] }
  carol: { email: carol@example.com }
schedules:
  primary:
    time_zone: Europe/Berlin
    rotations:
      - name: daily
        members: [alice, bob]
        every: daily
        start: 2026-03-01T09:00
escalation_policies:
  web-oncall:
    repeat: 1
    stages:
      - { targets: [{ schedule: primary }], timeout: 10m }
      - { targets: [{ contact: carol }], timeout: 10m }
"#;

struct Stack {
    moto: Moto,
    sink: Sink,
    alarms: AlarmHandler<DynamoStore, AwsMirror>,
    ticker: Arc<Ticker>,
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    inbox: String,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

async fn stack() -> Stack {
    let moto = Moto::start().expect("moto");
    let sdk = moto.sdk_config().await;
    let sink = Sink::start().expect("sink");
    let chat = ChatStandIns::create(&sdk, &sink)
        .await
        .expect("chat stand-ins");
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "quench-paging";
    create_table(&dynamodb, table).await.expect("table");
    let pages = PagesStandIn::create(&sdk, &chat.sqs)
        .await
        .expect("pages topic");
    let config = Config::parse(CONFIG).expect("config");
    let store = DynamoStore::new(dynamodb, table);
    let ticker = Ticker {
        config: config.clone(),
        store: store.clone(),
        pager: Pager::new(aws_sdk_sns::Client::new(&sdk), Some(pages.topic_arn)),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        chat: Some(AwsChat::new(
            &sdk,
            std::time::Duration::from_secs(5),
            Some(sink.url("/slack/api")),
            Some(chat.dead_letters.clone()),
        )),
        host: TokioHost,
        table: table.to_string(),
        lease: Duration::minutes(2),
    };
    let alarms = AlarmHandler {
        config,
        store: store.clone(),
        mirror: None,
    };
    Stack {
        sqs: chat.sqs.clone(),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        moto,
        sink,
        alarms,
        ticker: Arc::new(ticker),
        store,
        inbox: pages.inbox,
    }
}

/// As long as a Lambda invocation could work: the local stack is slower than AWS, and
/// these tests are about what a tick does, not when it stops.
fn deadline() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(300)
}

fn t0() -> DateTime<Utc> {
    "2026-11-20T10:00:00Z".parse().expect("time")
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(n)
}

/// The CPU sample's ALARM, for alarm `name`, at `at`.
fn alarm_event(name: &str, at: DateTime<Utc>) -> String {
    let mut event: Value =
        serde_json::from_str(&sample_event("cpu-high-alarm.json").expect("sample")).expect("json");
    let arn = format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}");
    event["resources"] = json!([arn]);
    event["detail"]["alarmName"] = json!(name);
    event["time"] = json!(at.to_rfc3339());
    event["detail"]["state"]["timestamp"] =
        json!(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    event.to_string()
}

impl Stack {
    /// Opens an incident for `alarm` at `at`; returns (incident id, dedup key).
    async fn open(&self, alarm: &str, at: DateTime<Utc>) -> (String, String) {
        let response = self
            .alarms
            .handle(&alarm_event(alarm, at), at)
            .await
            .expect("alarm handled");
        let decision = &response.decision;
        (
            decision.incident_id.clone().expect("an incident"),
            decision.dedup_key.clone(),
        )
    }

    /// Opens an incident for `alarm` and escalates it as a runbook would.
    async fn escalated(&self, alarm: &str, at: DateTime<Utc>) -> (String, String) {
        let incident = self.open(alarm, at).await;
        let escalated = self.operate("escalate", &incident, "runbook:cpu", at).await;
        assert_eq!(escalated, DecisionKind::Escalated);
        incident
    }

    async fn operate(
        &self,
        action: &str,
        incident: &(String, String),
        by: &str,
        at: DateTime<Utc>,
    ) -> DecisionKind {
        let request = json!({"operation": {
            "action": action, "dedup_key": incident.1, "incident_id": incident.0, "by": by,
        }});
        let response = self
            .alarms
            .handle(&request.to_string(), at)
            .await
            .expect("operation handled");
        response.decision.decision
    }

    async fn tick(&self, at: DateTime<Utc>) -> Report {
        self.ticker.tick(at, deadline()).await.expect("tick")
    }

    /// Emails delivered to the pages topic since the last call, by contact, in order.
    async fn emails(&self) -> Vec<String> {
        drain_queue(&self.sqs, &self.inbox)
            .await
            .expect("inbox")
            .iter()
            .map(|m| {
                m["MessageAttributes"]["contact"]["Value"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    }

    fn sms_to(&self) -> Vec<String> {
        self.moto
            .sms_sent()
            .expect("sms")
            .into_iter()
            .map(|(phone, _)| phone)
            .collect()
    }

    fn slack_mentions(&self) -> usize {
        self.sink
            .delivered(SLACK)
            .iter()
            .filter(|m| {
                m.body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("<@U0ALICE>"))
            })
            .count()
    }

    async fn status(&self, id: &str) -> IncidentStatus {
        self.store
            .incident(id)
            .await
            .expect("read")
            .expect("incident")
            .status
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_incident_walks_every_stage_then_repeats_then_stops() {
    let stack = stack().await;
    let incident = stack.escalated("web-1-cpu", t0()).await;

    // Stage 1 is the schedule: alice is on call (the 2026-11-20 09:00 Berlin shift).
    let first = stack.tick(t0()).await;
    assert_eq!((first.pages_sent, first.escalations), (3, 0), "{first:?}");
    assert_eq!(stack.emails().await, vec!["alice"]);
    assert_eq!(stack.sms_to(), vec!["+4915100000001"]);
    assert_eq!(stack.slack_mentions(), 1);

    assert_eq!(
        stack.tick(minutes(5)).await,
        Report::default(),
        "nothing due"
    );
    let second = stack.tick(minutes(10)).await;
    assert_eq!(
        (second.escalations, second.pages_sent),
        (1, 1),
        "{second:?}"
    );
    assert_eq!(stack.emails().await, vec!["carol"]);
    // Round 2: the policy repeats once.
    stack.tick(minutes(20)).await;
    assert_eq!(stack.emails().await, vec!["alice"]);
    stack.tick(minutes(30)).await;
    assert_eq!(stack.emails().await, vec!["carol"]);
    let exhausted = stack.tick(minutes(40)).await;
    assert_eq!(
        (exhausted.escalations, exhausted.pages_sent),
        (1, 0),
        "{exhausted:?}"
    );
    assert_eq!(stack.tick(minutes(90)).await.pages_sent, 0);
    assert!(stack.emails().await.is_empty());
    assert_eq!(stack.sms_to().len(), 2, "alice by SMS once per round");
    assert_eq!(stack.slack_mentions(), 2, "alice in chat once per round");

    let timeline = stack.store.timeline(&incident.0).await.expect("timeline");
    let paging: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Paging)
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(paging.len(), 4, "{paging:#?}");
    // The plan's channel heard each stage change from the ticker.
    let stage_posts = stack
        .sink
        .delivered(SLACK)
        .iter()
        .filter(|m| {
            m.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("📟 Paging:"))
        })
        .count();
    assert_eq!(stage_posts, 4);
    assert!(paging[3].contains("exhausted"), "{paging:#?}");
    let pages = stack.store.pages(&incident.0).await.expect("pages");
    assert_eq!(pages.len(), 8);
    assert!(
        pages.iter().all(|p| p.state == PageState::Sent),
        "{pages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_stops_escalation_until_its_timeout_pages_again() {
    let stack = stack().await;
    let incident = stack.escalated("web-1-cpu", t0()).await;
    stack.tick(t0()).await;
    stack.tick(minutes(10)).await;
    assert_eq!(stack.emails().await, vec!["alice", "carol"]);

    // By incident id alone, as the `quench-op` command does.
    let acked = stack
        .alarms
        .incidents()
        .operate_by_id(
            OperationKind::Acknowledge,
            &incident.0,
            "carol",
            "on it",
            minutes(12),
        )
        .await
        .expect("acknowledged")
        .decision
        .decision;
    assert_eq!(acked, DecisionKind::Acknowledged);
    assert_eq!(
        stack.status(&incident.0).await,
        IncidentStatus::Acknowledged
    );
    for minute in [20, 30, 41] {
        assert_eq!(
            stack.tick(minutes(minute)).await.pages_sent,
            0,
            "minute {minute}"
        );
    }
    assert!(stack.emails().await.is_empty());

    // 30 minutes after the acknowledgement and still open: stage 2 is paged again.
    let repage = stack.tick(minutes(42)).await;
    assert_eq!(
        (repage.escalations, repage.pages_sent),
        (1, 1),
        "{repage:?}"
    );
    assert_eq!(stack.emails().await, vec!["carol"]);
    assert_eq!(stack.status(&incident.0).await, IncidentStatus::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_cancels_the_pages_still_pending() {
    let stack = stack().await;
    // 2026-11-21 10:00 Berlin: bob's shift, whose SMS comes 5 minutes after the email.
    let at = t0() + Duration::days(1);
    let incident = stack.escalated("web-2-cpu", at).await;
    let first = stack.tick(at).await;
    assert_eq!(first.pages_sent, 1, "{first:?}");
    assert_eq!(stack.emails().await, vec!["bob"]);

    stack
        .operate("resolve", &incident, "bob", at + Duration::minutes(2))
        .await;
    let later = stack.tick(at + Duration::minutes(5)).await;
    assert_eq!(
        (later.pages_cancelled, later.pages_sent),
        (1, 0),
        "{later:?}"
    );
    assert_eq!(
        stack.tick(at + Duration::minutes(10)).await,
        Report::default()
    );
    assert!(stack.sms_to().is_empty(), "{:?}", stack.sms_to());
    assert!(stack.emails().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_tickers_page_each_contact_once_per_stage() {
    let stack = stack().await;
    let incidents = [
        stack.open("web-1-cpu", t0()).await,
        stack.open("web-2-cpu", t0()).await,
        stack.open("web-3-cpu", t0()).await,
    ];
    for incident in &incidents {
        stack
            .operate("escalate", incident, "runbook:cpu", t0())
            .await;
    }
    let mut totals = Report::default();
    for minute in [0, 10, 20, 30] {
        let (a, b) = tokio::join!(
            {
                let ticker = stack.ticker.clone();
                async move {
                    ticker
                        .tick(minutes(minute), deadline())
                        .await
                        .expect("tick")
                }
            },
            {
                let ticker = stack.ticker.clone();
                async move {
                    ticker
                        .tick(minutes(minute), deadline())
                        .await
                        .expect("tick")
                }
            }
        );
        totals.pages_sent += a.pages_sent + b.pages_sent;
        totals.escalations += a.escalations + b.escalations;
    }
    let mut emails = stack.emails().await;
    emails.sort();
    // 3 incidents x 2 rounds: alice twice, carol twice each.
    let expected: Vec<String> = [["alice"; 6], ["carol"; 6]]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(emails, expected);
    assert_eq!(stack.sms_to().len(), 6);
    // Per incident: alice by email, SMS and chat, then carol by email, twice over.
    assert_eq!(totals.pages_sent, 3 * 8, "{totals:?}");
    assert_eq!(
        totals.escalations, 9,
        "each stage advance decided once: {totals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_is_retried_on_the_next_tick_without_paging_the_others_again() {
    let stack = stack().await;
    stack.escalated("web-1-cpu", t0()).await;
    // SNS throttles through all 3 of the SDK's attempts for the first publish (the email).
    stack
        .moto
        .inject_fault("SNS.Publish", "Throttling", 3)
        .expect("fault");
    let first = stack.tick(t0()).await;
    assert_eq!(
        (first.pages_sent, first.pages_retrying),
        (2, 1),
        "{first:?}"
    );
    assert_eq!(stack.moto.faults_served("SNS.Publish").expect("served"), 3);
    let retried = stack.tick(minutes(1)).await;
    assert_eq!(
        (retried.pages_sent, retried.pages_retrying),
        (1, 0),
        "{retried:?}"
    );
    assert_eq!(stack.emails().await, vec!["alice"]);
    assert_eq!(stack.sms_to(), vec!["+4915100000001"]);
    assert_eq!(stack.slack_mentions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_on_call_person_changes_at_the_hand_off_across_a_dst_change() {
    let stack = stack().await;
    // Berlin moves to summer time on 2026-03-29; the 09:00 hand-off is 08:00 UTC before
    // and 07:00 UTC after.
    let cases = [
        ("2026-03-28T07:59:59Z", "alice"),
        ("2026-03-28T08:00:00Z", "bob"),
        ("2026-03-29T06:59:59Z", "bob"),
        ("2026-03-29T07:00:00Z", "alice"),
    ];
    for (index, (at, expected)) in cases.iter().enumerate() {
        let at: DateTime<Utc> = at.parse().expect("time");
        let incident = stack.escalated(&format!("dst-{index}-cpu"), at).await;
        stack.tick(at).await;
        assert_eq!(stack.emails().await, vec![expected.to_string()], "at {at}");
        stack.operate("resolve", &incident, expected, at).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticker_repairs_a_lost_recovery_and_closes_stale_incidents() {
    let stack = stack().await;
    stack
        .cloudwatch
        .put_metric_alarm()
        .alarm_name("web-1-recovering")
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("alarm");
    let now = Utc::now();
    let lost = stack
        .open("web-1-recovering", now - Duration::minutes(30))
        .await;
    let stale = stack
        .open("web-2-recovering", now - Duration::days(2))
        .await;
    // The OK happened in CloudWatch, but its event never reached Quench.
    stack
        .cloudwatch
        .set_alarm_state()
        .alarm_name("web-1-recovering")
        .state_value(StateValue::Ok)
        .state_reason("recovered")
        .send()
        .await
        .expect("state");
    // Stable period (5 minutes) not yet over: the check records itself and waits.
    let early = stack.tick(now).await;
    assert_eq!(early.resolved, 1, "only the stale one: {early:?}");
    assert_eq!(stack.status(&stale.0).await, IncidentStatus::Resolved);
    assert_eq!(stack.status(&lost.0).await, IncidentStatus::Open);
    let later = stack.tick(now + Duration::minutes(11)).await;
    assert_eq!(later.resolved, 1, "{later:?}");
    assert_eq!(stack.status(&lost.0).await, IncidentStatus::Resolved);
    let timeline = stack.store.timeline(&lost.0).await.expect("timeline");
    let last = timeline.last().expect("events");
    assert_eq!(last.kind, TimelineKind::Resolved);
    assert!(
        last.summary.contains("never reached Quench"),
        "{}",
        last.summary
    );
    assert_eq!(
        stack.tick(now + Duration::minutes(30)).await,
        Report::default()
    );
}

/// A generated alarm name of 120 characters escalates and its email page is sent: SNS
/// refuses a subject of 100 characters or more (the local stack's strict layer refuses
/// what AWS refuses), so the subject is cut to fit and the whole title is in the body.
/// Before, both email pages stayed pending with `InvalidParameter`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_with_a_120_character_name_pages_by_email() {
    let stack = stack().await;
    let name = format!(
        "{}-cpu-high",
        "eks-prod-eu-west-1-checkout-node-group-".repeat(3)
    )
    .chars()
    .take(120)
    .collect::<String>();
    assert_eq!(name.chars().count(), 120);
    let incident = stack.escalated(&name, t0()).await;
    let first = stack.tick(t0()).await;
    assert_eq!(
        (first.pages_retrying, first.pages_failed),
        (0, 0),
        "{first:?}"
    );
    assert_eq!(stack.emails().await, vec!["alice"]);
    let pages = stack.store.pages(&incident.0).await.expect("pages");
    assert!(
        pages
            .iter()
            .filter(|p| p.via == quench_core::escalation::Via::Email)
            .all(|p| p.state == PageState::Sent),
        "{pages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_ticker_picks_up_a_rotated_slack_token_when_slack_refuses_the_old_one() {
    let stack = stack().await;
    let incident = stack.escalated("web-1-cpu", t0()).await;
    stack.tick(t0()).await;
    assert_eq!(stack.slack_mentions(), 1, "the token was read and kept");

    let sdk = stack.moto.sdk_config().await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id("quench/chat/slack-bot-token")
        .secret_string("xoxb-rotated-token")
        .send()
        .await
        .expect("rotated");
    // Slack no longer knows the token the ticker kept.
    stack.sink.fail_next("/slack/api", 1, 401, None);
    let second = stack.tick(minutes(10)).await;
    assert_eq!(second.escalations, 1, "{second:?}");

    let posted = stack.sink.delivered(SLACK);
    let last = posted.last().expect("the stage change was posted");
    assert_eq!(
        last.header("Authorization"),
        Some("Bearer xoxb-rotated-token")
    );
    assert!(
        last.body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("📟 Paging:")),
        "{:?}",
        last.body
    );
    let timeline = stack.store.timeline(&incident.0).await.expect("timeline");
    assert!(
        timeline.iter().all(|e| e.kind != TimelineKind::ChatFailed),
        "{timeline:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_ticker_died_after_claiming_it_is_sent_once_the_lease_runs_out() {
    let stack = stack().await;
    // 2026-11-21 10:00 Berlin: bob's shift, one email now and an SMS 5 minutes later.
    let at = t0() + Duration::days(1);
    let incident = stack.escalated("web-2-cpu", at).await;
    let pages = stack.store.pages(&incident.0).await.expect("pages");
    let email = pages
        .iter()
        .find(|p| p.contact == "bob" && p.via.as_str() == "email")
        .expect("bob's email page");
    // A ticker claims it and dies before sending or settling it.
    assert!(stack
        .store
        .claim_page(email, at, stack.ticker.lease)
        .await
        .expect("claimed"));

    let during = stack.tick(at + Duration::minutes(1)).await;
    assert_eq!(during.pages_sent, 0, "the lease still holds: {during:?}");
    let after = stack.tick(at + Duration::minutes(2)).await;
    assert_eq!(after.pages_sent, 1, "{after:?}");
    assert_eq!(stack.emails().await, vec!["bob"]);
    for minute in [3, 4] {
        let report = stack.tick(at + Duration::minutes(minute)).await;
        assert_eq!(report.pages_sent, 0, "minute {minute}: {report:?}");
    }
    assert!(stack.emails().await.is_empty(), "exactly once");
    let pages = stack.store.pages(&incident.0).await.expect("pages");
    let email = pages
        .iter()
        .find(|p| p.contact == "bob" && p.via.as_str() == "email")
        .expect("bob's email page");
    assert_eq!((email.state, email.attempts), (PageState::Sent, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_nobody_escalated_is_escalated_and_paged_by_the_safety_net() {
    let stack = stack().await;
    // Opened, and then nothing: no runbook outcome, no escalation (its execution died).
    let incident = stack.open("web-1-cpu", t0()).await;
    let quiet = stack.tick(minutes(14)).await;
    assert_eq!(quiet, Report::default(), "not yet: {quiet:?}");

    let net = stack.tick(minutes(15)).await;
    assert_eq!(
        (net.escalations, net.pages_sent),
        (1, 3),
        "alice by email, SMS and chat in the same tick: {net:?}"
    );
    assert_eq!(stack.emails().await, vec!["alice"]);
    let timeline = stack.store.timeline(&incident.0).await.expect("timeline");
    let escalated: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Escalated)
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(
        escalated,
        vec!["escalated by ticker: no runbook outcome or page within 15m; paging alice"]
    );
    let after = stack.tick(minutes(16)).await;
    assert_eq!(after.escalations, 0, "once: {after:?}");
}
