//! The escalation ticker under a backlog: 5,000 open incidents whose recovery checks are
//! due and 10 pages due, in one table. The pages must go out in the first tick, first;
//! the checks take the time that is left, and the ticks after work off the rest.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use escalation_ticker::{LambdaHandler as Ticker, Report, TICK_SPAN};
use quench_aws::chat::TokioHost;
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::incident::{apply_operation, DedupHead, IncidentRecord, Operation, OperationKind};
use quench_local_stack::incident_response::create_topic;
use quench_local_stack::{create_table, Moto};

use crate::{failed, say, verdict, BenchError};

const CONFIG: &str = r#"
version: 1
default_plan: web
plans:
  web: { impact: 2, escalation: front, resolve_on_ok: never }
  checked: { impact: 3, resolve_on_ok: after 5m }
contacts:
  alice: { email: alice@example.com }
escalation_policies:
  front:
    stages:
      - { targets: [{ contact: alice }], timeout: 10m }
"#;

const CHECKS: usize = 5_000;
const PAGES: usize = 10;
/// Ticks run one after another until the checks are done, at most this many.
const MAX_TICKS: usize = 3;

/// An incident opened at `opened_at` whose alarm is still in ALARM as Quench last heard,
/// under `plan`, with its head.
fn head(
    config: &Config,
    n: usize,
    tag: &str,
    plan: &str,
    status: &str,
    opened_at: DateTime<Utc>,
) -> Result<DedupHead, BenchError> {
    let id = format!("inc-{tag}-{n:06}");
    let arn = format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{id}");
    let mut record: IncidentRecord = serde_json::from_value(serde_json::json!({
        "id": id, "dedup_key": format!("alarm:{id}"), "plan": plan, "impact": 2,
        "title": "High CPU", "status": status, "created_at": opened_at,
        "acknowledged_at": (status == "ACKNOWLEDGED").then_some(opened_at),
        "series": [arn],
        "trigger": { "alarm_name": id, "alarm_arn": arn, "account": "123456789012",
                     "region": "eu-west-1", "reason": "Threshold Crossed" },
        "version": 1
    }))
    .map_err(|e| failed(format!("incident fixture: {e}")))?;
    record.reschedule(config.plans.get(plan));
    let head = serde_json::json!({
        "dedup_key": record.dedup_key, "version": 1,
        "series": { arn: { "state": "ALARM", "alarming": true, "at": opened_at } },
        "incident": record,
    });
    serde_json::from_value(head).map_err(|e| failed(format!("head fixture: {e}")))
}

pub async fn bench_backlog(moto: &Moto) -> Result<(), BenchError> {
    say(format!(
        "\n9b. escalation ticker under a backlog: {CHECKS} open incidents due for a recovery \
         check and {PAGES} pages due, ticks of at most {} s",
        TICK_SPAN.as_secs()
    ));
    let sdk = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "quench-backlog";
    create_table(&dynamodb, table).await?;
    let store = DynamoStore::new(dynamodb, table);
    let config = Config::parse(CONFIG).map_err(|e| failed(e.to_string()))?;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = Some(create_topic(&sns, "pages-backlog").await?);
    let ticker = Ticker {
        config: config.clone(),
        store: store.clone(),
        pager: Pager::new(sns, topic),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        chat: None,
        host: TokioHost,
        table: table.to_string(),
        lease: chrono::Duration::minutes(2),
    };
    let now = Utc::now();
    // Acknowledged an hour ago and still open: a check has been due for 50 minutes.
    let checked = (0..CHECKS)
        .map(|n| {
            head(
                &config,
                n,
                "checked",
                "checked",
                "ACKNOWLEDGED",
                now - chrono::Duration::hours(1),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paging = (0..PAGES)
        .map(|n| {
            head(
                &config,
                n,
                "paging",
                "web",
                "OPEN",
                now - chrono::Duration::minutes(2),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    store
        .import(&checked)
        .await
        .map_err(|e| failed(format!("seed: {e}")))?;
    store
        .import(&paging)
        .await
        .map_err(|e| failed(format!("seed: {e}")))?;
    // Escalated a minute ago: stage 1's pages are written and due.
    for head in &paging {
        let incident = head
            .incident
            .as_ref()
            .ok_or_else(|| failed("no incident"))?;
        let escalate = Operation {
            action: OperationKind::Escalate,
            dedup_key: head.dedup_key.clone(),
            incident_id: incident.id.clone(),
            by: "bench".into(),
            reason: String::new(),
            unless_alarmed_after: None,
        };
        apply_operation(
            &store,
            &config,
            &escalate,
            now - chrono::Duration::minutes(1),
        )
        .await
        .map_err(|e| failed(format!("escalate: {e}")))?;
    }
    say(format!(
        "   seeded {CHECKS} + {PAGES} incidents in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let mut ticks: Vec<(Report, Duration)> = Vec::new();
    let mut checks = 0;
    while checks < CHECKS && ticks.len() < MAX_TICKS {
        let started = Instant::now();
        let report = ticker
            .tick(now, started + TICK_SPAN)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let wall = started.elapsed();
        // The Paging queue's incidents escalate; the rest of what was decided is checks.
        let checked = report.incidents.saturating_sub(report.escalations);
        checks += checked as usize;
        if ticks.is_empty() {
            let first_page = report
                .first_page_ms
                .map_or("none".to_string(), |ms| format!("{ms} ms"));
            say(format!(
                "   tick 1: time to first page {first_page}, pages sent {} of {PAGES}, checks \
                 done {}, left for later ticks {}, wall {:.1} s",
                report.pages_sent,
                checked,
                report.left,
                wall.as_secs_f64(),
            ));
        } else {
            say(format!(
                "   tick {}: checks done {}, pages sent {}, wall {:.1} s",
                ticks.len() + 1,
                checked,
                report.pages_sent,
                wall.as_secs_f64()
            ));
        }
        ticks.push((report, wall));
    }
    let (first, wall) = ticks.first().ok_or_else(|| failed("no tick ran"))?;
    let per_second = first.incidents as f64 / wall.as_secs_f64().max(f64::EPSILON);
    say(format!(
        "   checks per second on the local stack: {per_second:.0} (a check is a head read, a \
         DescribeAlarms and a conditional write); {checks} of {CHECKS} checked in {} ticks",
        ticks.len()
    ));
    say(format!(
        "   every page in tick 1: {}",
        verdict(first.pages_sent == PAGES as u32 && first.first_page_ms.is_some())
    ));
    Ok(())
}
