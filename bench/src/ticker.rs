//! The escalation ticker with many open incidents: run time and DynamoDB reads of one
//! tick with 10,000 open incidents of which 10 are due, beside 10 open of which 10 are
//! due. The sparse `due` index is what should make the two alike.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use escalation_ticker::LambdaHandler as Ticker;
use quench_aws::chat::TokioHost;
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::incident::{DedupHead, IncidentRecord};
use quench_local_stack::incident_response::create_topic;
use quench_local_stack::{counted_dynamodb, create_table, CallCounter, Moto};

use crate::{failed, say, verdict, BenchError};

const CONFIG: &str = r#"
version: 1
default_plan: web
plans:
  web: { impact: 2, escalation: front, resolve_on_ok: never }
contacts:
  alice: { email: alice@example.com }
  carol: { email: carol@example.com }
escalation_policies:
  front:
    stages:
      - { targets: [{ contact: alice }], timeout: 10m }
      - { targets: [{ contact: carol }], timeout: 10m }
"#;

const DUE: usize = 10;
const RUNS: usize = 3;

/// An open incident escalated at `escalated_at` to stage 1, which times out 10 minutes
/// later: due from then on.
fn incident(
    n: usize,
    tag: &str,
    escalated_at: DateTime<Utc>,
) -> Result<IncidentRecord, BenchError> {
    let id = format!("inc-{tag}-{n:06}");
    let next_at = escalated_at + chrono::Duration::minutes(10);
    let mut record: IncidentRecord = serde_json::from_value(serde_json::json!({
        "id": id, "dedup_key": format!("alarm:{id}"), "plan": "web", "impact": 2,
        "title": "High CPU", "status": "OPEN",
        "created_at": escalated_at, "escalated_at": escalated_at,
        "series": [format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{id}")],
        "trigger": { "alarm_name": id,
                     "alarm_arn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{id}"),
                     "account": "123456789012", "region": "eu-west-1", "reason": "Threshold Crossed" },
        "paging": { "policy": "front", "round": 0, "stage": 0, "wave": 1,
                    "wave_started_at": escalated_at, "engaged": ["alice"],
                    "state": "waiting", "next_at": next_at },
        "version": 1
    }))
    .map_err(|e| failed(format!("incident fixture: {e}")))?;
    record.due_at = Some(next_at);
    Ok(record)
}

/// Loads each incident with its head.
async fn seed(store: &DynamoStore, records: Vec<IncidentRecord>) -> Result<(), BenchError> {
    let heads: Vec<DedupHead> = records
        .into_iter()
        .map(|record| DedupHead {
            version: 1,
            incident: Some(record.clone()),
            ..DedupHead::empty(&record.dedup_key)
        })
        .collect();
    store
        .import(&heads)
        .await
        .map_err(|e| failed(format!("seed: {e}")))
}

/// CPU time of every thread of this process so far, from the scheduler's own
/// nanosecond accounting (Linux). The ticker runs in this process and the local AWS
/// stack in another, so the difference across a tick is the ticker's own work.
fn process_cpu() -> Result<Duration, BenchError> {
    let mut total = 0_u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        let on_cpu = stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok());
        total += on_cpu.ok_or_else(|| failed(format!("unreadable schedstat: {stat}")))?;
    }
    Ok(Duration::from_nanos(total))
}

struct Figures {
    wall: Duration,
    cpu: Duration,
    calls: BTreeMap<String, usize>,
    items_read: usize,
    pages_sent: u32,
}

async fn scenario(moto: &Moto, open: usize) -> Result<Vec<Figures>, BenchError> {
    let sdk = moto.sdk_config().await;
    let counter = CallCounter::default();
    let client = counted_dynamodb(&sdk, &counter);
    let table = format!("quench-ticker-{open}");
    create_table(&client, &table).await?;
    let store = DynamoStore::new(client, &table);
    let config = Config::parse(CONFIG).map_err(|e| failed(e.to_string()))?;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = Some(create_topic(&sns, &format!("pages-{open}")).await?);
    let ticker = Ticker {
        config,
        store: store.clone(),
        pager: Pager::new(sns, topic),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        chat: None,
        host: TokioHost,
        table: table.clone(),
        lease: chrono::Duration::minutes(2),
    };
    let now = Utc::now();
    // Not due: escalated just now, their stage times out in 10 minutes.
    let quiet = (0..open.saturating_sub(DUE))
        .map(|n| incident(n, "quiet", now))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    seed(&store, quiet).await?;
    if open > DUE {
        say(format!(
            "   seeded {} quiet open incidents in {:.1} s",
            open - DUE,
            started.elapsed().as_secs_f64()
        ));
    }
    let mut runs = Vec::new();
    for run in 0..RUNS {
        let due = (0..DUE)
            .map(|n| incident(n, &format!("due{run}"), now - chrono::Duration::minutes(15)))
            .collect::<Result<Vec<_>, _>>()?;
        seed(&store, due).await?;
        counter.take();
        let cpu_before = process_cpu()?;
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(600);
        let report = ticker
            .tick(now, deadline)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let wall = started.elapsed();
        let cpu = process_cpu()? - cpu_before;
        let mut calls = BTreeMap::new();
        for call in counter.take() {
            *calls.entry(call).or_insert(0) += 1;
        }
        if report.escalations != DUE as u32 || report.pages_sent != DUE as u32 {
            return Err(failed(format!("tick did not do the due work: {report:?}")));
        }
        // Items the due query returned (each due incident, nothing else) plus one per
        // GetItem; a Query of one partition reads only what it returns.
        let items_read = report.due as usize + calls.get("GetItem").copied().unwrap_or(0);
        runs.push(Figures {
            wall,
            cpu,
            calls,
            items_read,
            pages_sent: report.pages_sent,
        });
    }
    Ok(runs)
}

fn median(runs: &[Figures], figure: fn(&Figures) -> Duration) -> Duration {
    let mut values: Vec<Duration> = runs.iter().map(figure).collect();
    values.sort();
    values[values.len() / 2]
}

pub async fn bench_ticker(moto: &Moto) -> Result<(), BenchError> {
    say("\n9. escalation ticker: one tick, 10 due incidents among 10,000 open vs among 10 open");
    let few = scenario(moto, DUE).await?;
    let many = scenario(moto, 10_000).await?;
    let wall = |f: &Figures| f.wall;
    let cpu = |f: &Figures| f.cpu;
    for (label, runs) in [("10 open, 10 due", &few), ("10,000 open, 10 due", &many)] {
        let first = &runs[0];
        say(format!(
            "   {label:<20} ticker CPU {:>6.1} ms, wall {:>7.1} ms (medians of {RUNS}); {} pages; \
             DynamoDB items read {}; calls: {}",
            median(runs, cpu).as_secs_f64() * 1000.0,
            median(runs, wall).as_secs_f64() * 1000.0,
            first.pages_sent,
            first.items_read,
            crate::tally(&first.calls)
        ));
    }
    let ratio = |figure: fn(&Figures) -> Duration| {
        median(&many, figure).as_secs_f64() / median(&few, figure).as_secs_f64().max(f64::EPSILON)
    };
    let reads = many[0].items_read as f64 / few[0].items_read.max(1) as f64;
    let cpu_ratio = ratio(cpu);
    say(format!(
        "   10,000 open / 10 open: items read {reads:.2}x, ticker CPU {cpu_ratio:.2}x (target <= 1.5: {})",
        verdict(reads <= 1.5 && cpu_ratio <= 1.5)
    ));
    say(format!(
        "   wall {:.2}x: the local stack's own cost per request grows with the table (moto \
         scans every item for an index query and copies the table's key map for each transaction), which DynamoDB's does not",
        ratio(wall)
    ));
    Ok(())
}
