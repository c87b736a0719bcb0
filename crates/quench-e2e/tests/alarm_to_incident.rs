//! alarm-to-incident against the local stack: real SDK calls to moto's DynamoDB, the table
//! created from infra/template.yaml, and the function itself under `cargo lambda watch`.

use std::sync::Arc;

use alarm_to_incident::{Handler, HandlerError, Response, BUNDLED_CONFIG};
use chrono::Utc;
use quench_aws::mirror::AwsMirror;
use quench_aws::store::{DynamoStore, PARTITION_KEY, SORT_KEY};
use quench_core::config::Config;
use quench_core::incident::{DecisionKind, IgnoreReason, IncidentStatus, TimelineKind};
use quench_core::ports::IncidentLog;
use quench_local_stack::{
    counted_dynamodb, create_table, sample_event, table_definition, CallCounter, LambdaWatch, Moto,
};

type LocalHandler = Handler<DynamoStore, AwsMirror>;

struct Local {
    _moto: Moto,
    handler: Arc<LocalHandler>,
    counter: CallCounter,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

async fn local(config: &str) -> Local {
    let moto = Moto::start().expect("moto starts");
    let sdk = moto.sdk_config().await;
    let counter = CallCounter::default();
    let client = counted_dynamodb(&sdk, &counter);
    let table = "quench-e2e".to_string();
    create_table(&client, &table).await.expect("table created");
    counter.take();
    let handler = Handler {
        config: Config::parse(config).expect("config"),
        store: DynamoStore::new(client.clone(), &table),
        mirror: None,
    };
    Local {
        _moto: moto,
        handler: Arc::new(handler),
        counter,
        client,
        table,
    }
}

impl Local {
    async fn send(&self, sample: &str) -> Result<Response, HandlerError> {
        let raw = sample_event(sample).expect("sample");
        self.handler.handle(&raw, Utc::now()).await
    }

    async fn item_count(&self) -> usize {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .expect("scan");
        output.items().len()
    }
}

#[test]
fn table_keys_in_the_template_are_the_ones_the_store_uses() {
    let definition = table_definition().expect("template has the table");
    let keys: Vec<(String, String)> = definition["KeySchema"]
        .as_sequence()
        .expect("key schema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().expect("name").to_string(),
                k["KeyType"].as_str().expect("type").to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (PARTITION_KEY.to_string(), "HASH".to_string()),
            (SORT_KEY.to_string(), "RANGE".to_string())
        ]
    );
    assert_eq!(definition["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_alarm_opens_dedupes_and_resolves_within_two_calls_each() {
    let local = local(BUNDLED_CONFIG).await;

    let opened = local.send("cpu-high-alarm.json").await.expect("handled");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    assert_eq!(opened.decision.plan, "ec2-cpu-high");
    assert_eq!(opened.impact, Some(3));
    let open_calls = local.counter.take();
    assert_eq!(open_calls, vec!["GetItem", "TransactWriteItems"], "open");

    // A redelivery hears what the first delivery did, and writes nothing.
    let again = local.send("cpu-high-alarm.json").await.expect("handled");
    assert_eq!(again.decision.decision, DecisionKind::Opened);
    assert!(again.decision.redelivery);
    assert_eq!(again.decision.incident_id, opened.decision.incident_id);
    assert_eq!(local.counter.take(), vec!["GetItem"], "redelivery");

    let resolved = local.send("cpu-high-ok.json").await.expect("handled");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);
    assert_eq!(resolved.decision.incident_id, opened.decision.incident_id);
    assert_eq!(
        local.counter.take(),
        vec!["GetItem", "TransactWriteItems"],
        "resolve"
    );

    let incident_id = opened.decision.incident_id.expect("id");
    let incident = local
        .handler
        .store
        .incident(&incident_id)
        .await
        .expect("read")
        .expect("incident exists");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.title, "High CPU: web-1-cpu-high");
    assert_eq!(
        incident.resolved_at.map(|t| t.to_rfc3339()),
        Some("2026-11-20T10:10:00+00:00".to_string())
    );
    let timeline = local
        .handler
        .store
        .timeline(&incident_id)
        .await
        .expect("timeline");
    let kinds: Vec<TimelineKind> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Opened, TimelineKind::Resolved]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn eight_concurrent_deliveries_of_one_alarm_open_one_incident() {
    let local = local(BUNDLED_CONFIG).await;
    let raw = sample_event("instance-check-failed-alarm.json").expect("sample");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let handler = local.handler.clone();
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            handler.handle(&raw, Utc::now()).await
        }));
    }
    let mut opened = Vec::new();
    let mut redeliveries = 0;
    for task in tasks {
        let response = task.await.expect("task").expect("handled");
        assert_eq!(response.decision.decision, DecisionKind::Opened);
        if response.decision.redelivery {
            redeliveries += 1;
        } else {
            opened.push(response.decision.incident_id.clone());
        }
    }
    // One delivery opens; the others hear that it did (the same incident), and their
    // executions' step and page claims keep every effect single.
    assert_eq!(opened.len(), 1, "exactly one delivery opens");
    assert_eq!(redeliveries, 7);
    // head + incident + one timeline event, nothing more
    assert_eq!(local.item_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_escalations_and_a_resolve_each_apply_once() {
    let local = local(BUNDLED_CONFIG).await;
    let opened = local
        .send("instance-check-failed-alarm.json")
        .await
        .expect("opened");
    let operation = |action: &str| {
        serde_json::json!({ "operation": {
            "action": action,
            "dedup_key": opened.decision.dedup_key,
            "incident_id": opened.decision.incident_id,
            "by": "runbook:reboot-and-verify",
            "reason": "still impaired",
        }})
        .to_string()
    };
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let handler = local.handler.clone();
        let raw = operation("escalate");
        tasks.push(tokio::spawn(async move {
            handler.handle(&raw, Utc::now()).await
        }));
    }
    let mut escalated = 0;
    for task in tasks {
        let response = task.await.expect("task").expect("handled");
        match response.decision.decision {
            DecisionKind::Escalated => escalated += 1,
            DecisionKind::Ignored => assert_eq!(
                response.decision.ignored_because,
                Some(IgnoreReason::AlreadyEscalated)
            ),
            other => panic!("unexpected decision {other:?}"),
        }
    }
    assert_eq!(escalated, 1, "one escalation however many race");

    let acknowledged = local
        .handler
        .handle(&operation("acknowledge"), Utc::now())
        .await
        .expect("acknowledged");
    assert_eq!(acknowledged.decision.decision, DecisionKind::Acknowledged);
    let again = local
        .handler
        .handle(&operation("acknowledge"), Utc::now())
        .await
        .expect("handled");
    assert_eq!(
        again.decision.ignored_because,
        Some(IgnoreReason::AlreadyAcknowledged)
    );

    let resolved = local
        .handler
        .handle(&operation("resolve"), Utc::now())
        .await
        .expect("resolved");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);
    let again = local
        .handler
        .handle(&operation("resolve"), Utc::now())
        .await
        .expect("handled");
    assert_eq!(
        again.decision.ignored_because,
        Some(IgnoreReason::NothingOpen)
    );
    let id = opened.decision.incident_id.as_deref().expect("id");
    let timeline = local.handler.store.timeline(id).await.expect("timeline");
    let kinds: Vec<TimelineKind> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Escalated,
            TimelineKind::Acknowledged,
            TimelineKind::Resolved
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_alarm_never_reopens_what_a_newer_ok_resolved() {
    let local = local(BUNDLED_CONFIG).await;
    let ok_first = local
        .send("agent-process-gone-ok.json")
        .await
        .expect("handled");
    assert_eq!(
        ok_first.decision.ignored_because,
        Some(IgnoreReason::NothingOpen)
    );
    let late_alarm = local
        .send("agent-process-gone-alarm.json")
        .await
        .expect("handled");
    assert_eq!(late_alarm.decision.decision, DecisionKind::Ignored);
    assert_eq!(
        late_alarm.decision.ignored_because,
        Some(IgnoreReason::Stale)
    );
    // only the head that remembers the OK
    assert_eq!(local.item_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_period_resolution_waits_for_confirmation() {
    let local = local(BUNDLED_CONFIG).await;
    let opened = local
        .send("instance-check-failed-alarm.json")
        .await
        .expect("handled");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    let pending = local
        .send("instance-check-failed-ok.json")
        .await
        .expect("handled");
    assert_eq!(pending.decision.decision, DecisionKind::ResolvePending);
    let due = pending.decision.resolve_due_at.expect("due time");
    assert_eq!(due.to_rfc3339(), "2026-11-20T10:14:00+00:00");

    let confirm = serde_json::json!({
        "confirm_resolve": {
            "dedup_key": pending.decision.dedup_key,
            "incident_id": pending.decision.incident_id,
        }
    })
    .to_string();
    let early = local
        .handler
        .handle(&confirm, due - chrono::Duration::seconds(1))
        .await
        .expect("handled");
    assert_eq!(
        early.decision.ignored_because,
        Some(IgnoreReason::NotYetDue)
    );
    let done = local.handler.handle(&confirm, due).await.expect("handled");
    assert_eq!(done.decision.decision, DecisionKind::Resolved);
    let again = local.handler.handle(&confirm, due).await.expect("handled");
    assert_eq!(
        again.decision.ignored_because,
        Some(IgnoreReason::NothingPending)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_typed_error_and_writes_nothing() {
    let local = local("version: 1\nplans:\n  p: { impact: 1 }\nroutes:\n  - plan: p\n    match: { namespace: AWS/RDS }\n").await;
    let cases: Vec<(String, &str)> = vec![
        ("{not json".to_string(), "InvalidEvent"),
        (sample_event("wrong-type.json").expect("sample"), "InvalidEvent"),
        (
            r#"{"detail-type":"CloudWatch Alarm State Change","account":"1","region":"r","detail":{}}"#.to_string(),
            "InvalidEvent",
        ),
        (format!("[{}]", "1,".repeat(200_000)), "InvalidEvent"),
        (r#"{"confirm_resolve": {"dedup_key": 1}}"#.to_string(), "InvalidEvent"),
        (
            r#"{"operation": {"action": "close", "dedup_key": "k", "incident_id": "i", "by": "me"}}"#
                .to_string(),
            "InvalidEvent",
        ),
        (
            r#"{"operation": {"action": "resolve", "dedup_key": "k", "incident_id": "i", "by": " "}}"#
                .to_string(),
            "InvalidEvent",
        ),
        (
            serde_json::json!({"operation": {"action": "escalate", "dedup_key": "k",
                "incident_id": "i", "by": "me", "reason": "x".repeat(5_000)}})
            .to_string(),
            "InvalidEvent",
        ),
        (sample_event("cpu-high-alarm.json").expect("sample"), "UnroutableAlarm"),
    ];
    for (raw, expected) in cases {
        let error = local
            .handler
            .handle(&raw, Utc::now())
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), expected, "{error}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(local.item_count().await, 0, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_through_cargo_lambda_watch() {
    let moto = Moto::start().expect("moto starts");
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&client, "quench-watch").await.expect("table");
    let watch = LambdaWatch::start(&moto.function_env("quench-watch")).expect("watch starts");
    let expectations = [
        ("cpu-high-alarm.json", "opened"),
        ("cpu-high-ok.json", "resolved"),
        ("instance-check-failed-alarm.json", "opened"),
        ("instance-check-failed-ok.json", "resolve_pending"),
        ("agent-process-gone-alarm.json", "opened"),
        ("agent-process-gone-ok.json", "resolved"),
        ("metric-math-alarm.json", "opened"),
        ("composite-alarm.json", "opened"),
        ("contributor-alarm.json", "opened"),
        ("contributor-ok.json", "resolved"),
        ("sns-wrapped-alarm.json", "opened"),
    ];
    for (sample, expected) in expectations {
        let file = quench_local_stack::repo_root()
            .join("events/alarm-to-incident")
            .join(sample);
        let body =
            tokio::task::block_in_place(|| watch.invoke_data_file("alarm-to-incident", &file))
                .expect("cargo lambda invoke");
        let response: serde_json::Value = serde_json::from_str(&body).expect("json response");
        assert_eq!(response["decision"], expected, "{sample}: {body}");
    }
    let payload = sample_event("wrong-type.json").expect("sample");
    let (_, body) = tokio::task::block_in_place(|| watch.invoke("alarm-to-incident", &payload))
        .expect("invoke");
    assert!(body.contains("InvalidEvent"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_loads_from_an_ssm_secure_string() {
    let moto = Moto::start().expect("moto starts");
    let sdk = moto.sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    // Stored as `make deploy` stores it: the bundled config is over the Standard tier's
    // 4 KB, which the local stack refuses as SSM does.
    quench_aws::sdk::put_config_parameter(&ssm, "/quench/config", BUNDLED_CONFIG)
        .await
        .expect("parameter stored");
    let text = quench_aws::sdk::config_from_parameter(&ssm, "/quench/config")
        .await
        .expect("read back");
    let config = Config::parse(&text).expect("valid");
    assert_eq!(config, Config::parse(BUNDLED_CONFIG).expect("valid"));

    let missing = quench_aws::sdk::config_from_parameter(&ssm, "/quench/missing")
        .await
        .expect_err("missing parameter");
    assert!(missing.to_string().contains("/quench/missing"), "{missing}");
}
