//! Chat: render time per message, and delivery throughput of the real chat-notifier
//! handler (in-process) to the local HTTP sink with 8 incidents at once.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_notifier::{Handler, Request, RetryPolicy};
use chrono::Utc;
use quench_aws::chat::AwsChat;
use quench_aws::store::DynamoStore;
use quench_core::chat::render::render;
use quench_core::chat::{ChannelKind, Notice};
use quench_core::config::Config;
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::IncidentLog;
use quench_local_stack::incident_response::ChatStandIns;
use quench_local_stack::sink::Sink;
use quench_local_stack::{create_table, Moto};

use crate::{failed, say, BenchError};

const INCIDENTS: usize = 8;
const EVENTS_PER_INCIDENT: usize = 25;
const RENDERS: u32 = 20_000;

fn incident(id: &str) -> Result<IncidentRecord, BenchError> {
    serde_json::from_value(serde_json::json!({
        "id": id, "dedup_key": format!("alarm:{id}"), "plan": "p", "impact": 2,
        "title": "High CPU: web-1-cpu-high", "status": "OPEN",
        "created_at": "2026-11-20T10:00:00Z", "series": ["arn"],
        "trigger": { "alarm_name": "web-1-cpu-high",
                     "alarm_arn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-cpu-high",
                     "account": "123456789012", "region": "eu-west-1",
                     "namespace": "AWS/EC2", "metric": "CPUUtilization",
                     "dimensions": { "InstanceId": "i-0abc" }, "threshold": 90.0,
                     "reason": "Threshold Crossed" },
        "version": 1
    }))
    .map_err(|e| failed(format!("incident fixture: {e}")))
}

fn event(id: &str, n: usize, kind: TimelineKind) -> TimelineEvent {
    TimelineEvent {
        incident_id: id.to_string(),
        event_key: format!(
            "2026-11-20T10:00:{:02}.000Z#{}#{n:04}",
            n % 60,
            kind.as_str()
        ),
        at: Utc::now(),
        kind,
        alarm_name: "web-1-cpu-high".into(),
        series: String::new(),
        state: quench_core::alarm::AlarmState::Alarm,
        summary: format!(
            "run_command `snapshot` succeeded: command c-{n}: i-0abc Success (exit 0)\n\
             procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----\n \
             7  0      0 182340  40212 912004    0    0     3    18 1210 2405 96  3  1  0  0"
        ),
        mention: None,
    }
}

pub fn bench_render() -> Result<(), BenchError> {
    say(format!(
        "\n7. Chat rendering (pure core, {RENDERS} renders per channel and event kind)"
    ));
    let incident = incident("inc-bench")?;
    for kind in ChannelKind::ALL {
        let mut cells = Vec::new();
        for event_kind in [
            TimelineKind::Opened,
            TimelineKind::Step,
            TimelineKind::Resolved,
        ] {
            let notice = Notice::new(
                &incident,
                &event("inc-bench", 1, event_kind),
                Some("cpu-diagnostics"),
                "quench",
            );
            let started = Instant::now();
            for _ in 0..RENDERS {
                black_box(render(kind, black_box(&notice)));
            }
            let each = started.elapsed() / RENDERS;
            cells.push(format!(
                "{} {:.1} us",
                event_kind.as_str(),
                each.as_secs_f64() * 1e6
            ));
        }
        say(format!("   {:<14} {}", kind.as_str(), cells.join(", ")));
    }
    Ok(())
}

pub async fn bench_delivery(moto: &Moto) -> Result<(), BenchError> {
    say(format!(
        "\n8. Chat delivery: the chat-notifier handler in-process, {INCIDENTS} incidents at once, \
         {EVENTS_PER_INCIDENT} events each, to the local HTTP sink (generic webhook channel); \
         each message is a claim and a settle in moto's DynamoDB plus one POST"
    ));
    let sdk = moto.sdk_config().await;
    let sink = Sink::start()?;
    ChatStandIns::create(&sdk, &sink).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "quench-bench-chat";
    create_table(&dynamodb, table).await?;
    let store = DynamoStore::new(dynamodb, table);
    for i in 0..INCIDENTS {
        let id = format!("inc-bench-{i}");
        let record = incident(&id)?;
        let kinds = std::iter::once(TimelineKind::Opened).chain(std::iter::repeat_n(
            TimelineKind::Step,
            EVENTS_PER_INCIDENT - 1,
        ));
        for (n, kind) in kinds.enumerate() {
            store
                .append_timeline(&event(&id, n, kind))
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        seed_incident(&store, &record).await?;
    }
    let config = Config::parse(
        "version: 1\nplans:\n  p: { impact: 2, chat: [audit] }\ndefault_plan: p\n\
         chat:\n  channels:\n    audit: { webhook: { url: { ssm: /quench/chat/audit-webhook }, \
         signing_key: { secrets_manager: quench/chat/audit-signing-key } } }\n",
    )
    .map_err(|e| failed(e.to_string()))?;
    let handler = Arc::new(Handler {
        config,
        store,
        chat: AwsChat::new(&sdk, Duration::from_secs(5), None, None),
        table: table.into(),
        policy: RetryPolicy::default(),
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..INCIDENTS {
        let handler = handler.clone();
        tasks.push(tokio::spawn(async move {
            let request: Request = serde_json::from_value(
                serde_json::json!({ "incident_id": format!("inc-bench-{i}") }),
            )
            .map_err(|e| failed(e.to_string()))?;
            handler
                .handle_request(&request, Utc::now())
                .await
                .map_err(|e| failed(e.to_string()))
        }));
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await.map_err(|e| failed(e.to_string()))??.delivered;
    }
    let elapsed = started.elapsed();
    let received = sink.delivered("/audit").len();
    say(format!(
        "   {delivered} messages delivered ({received} received by the sink) in {} ms: {:.0} messages/s, {:.1} ms each per incident stream",
        elapsed.as_millis(),
        f64::from(delivered) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / (f64::from(delivered) / INCIDENTS as f64)
    ));
    Ok(())
}

/// The incident item the notifier reads, written as alarm-to-incident's commit would.
async fn seed_incident(store: &DynamoStore, record: &IncidentRecord) -> Result<(), BenchError> {
    let head = quench_core::incident::DedupHead {
        incident: Some(record.clone()),
        ..quench_core::incident::DedupHead::empty(&record.dedup_key)
    };
    let commit = quench_core::incident::Commit {
        expected_version: None,
        head: quench_core::incident::DedupHead { version: 1, ..head },
        incident: Some(record.clone()),
        timeline: None,
        pages: Vec::new(),
    };
    quench_core::ports::IncidentStore::apply(store, &commit)
        .await
        .map_err(|e| failed(e.to_string()))
}
