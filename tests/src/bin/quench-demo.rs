//! `make demo`: brings up the local stack (moto, the table from infra/template.yaml, the
//! `alarm-to-incident` function under `cargo lambda watch`), replays the sample events the
//! way CloudWatch would deliver them, and prints the incidents and their timelines.

use std::process::ExitCode;

use quench_aws::store::DynamoStore;
use quench_e2e::{create_table, sample_event, LambdaWatch, Moto, StackError};

const TABLE: &str = "quench-demo";

/// The seed scenario and the other alarm shapes, with one duplicate delivery.
const REPLAY: &[&str] = &[
    "cpu-high-alarm.json",
    "instance-check-failed-alarm.json",
    "agent-process-gone-alarm.json",
    "agent-process-gone-alarm.json",
    "cpu-high-ok.json",
    "instance-check-failed-ok.json",
    "agent-process-gone-ok.json",
    "metric-math-alarm.json",
    "composite-alarm.json",
    "contributor-alarm.json",
    "contributor-ok.json",
    "sns-wrapped-alarm.json",
];

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("store: {0}")]
    Store(#[from] quench_core::store::StoreError),
    #[error("function answered {status}: {body}")]
    Function { status: u16, body: String },
    #[error("function response is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn invoke(watch: &LambdaWatch, payload: &str) -> Result<serde_json::Value, DemoError> {
    // The first call waits for `cargo lambda watch` to build the function.
    let (status, body) = watch.invoke("alarm-to-incident", payload)?;
    if status != 200 {
        return Err(DemoError::Function { status, body });
    }
    Ok(serde_json::from_str(&body)?)
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
async fn run() -> Result<(), DemoError> {
    println!("starting moto and creating table `{TABLE}` from infra/template.yaml ...");
    let moto = Moto::start()?;
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&client, TABLE).await?;
    println!("starting `cargo lambda watch` (the first invocation builds the function) ...");
    let watch = LambdaWatch::start(&moto.function_env(TABLE))?;

    println!("\n== replaying {} alarm events", REPLAY.len());
    let mut incidents = Vec::new();
    let mut pending = Vec::new();
    for name in REPLAY {
        let payload = sample_event(name)?;
        let response = tokio::task::block_in_place(|| invoke(&watch, &payload))?;
        let decision = response["decision"].as_str().unwrap_or("?");
        let incident = response["incident_id"].as_str().unwrap_or("-");
        let why = response["ignored_because"].as_str().unwrap_or("");
        println!(
            "{name:<36} -> {decision:<16} {incident} {plan} {why}",
            plan = response["plan"].as_str().unwrap_or(""),
        );
        if decision == "opened" {
            incidents.push(incident.to_string());
        }
        if decision == "resolve_pending" {
            pending.push(response);
        }
    }
    for response in pending {
        // What the state machine does after waiting until `resolve_due_at`.
        let confirm = serde_json::json!({
            "confirm_resolve": {
                "dedup_key": response["dedup_key"],
                "incident_id": response["incident_id"],
            }
        });
        let answer = tokio::task::block_in_place(|| invoke(&watch, &confirm.to_string()))?;
        println!(
            "{:<36} -> {:<16} {} (stable period over: {})",
            "confirm_resolve",
            answer["decision"].as_str().unwrap_or("?"),
            answer["incident_id"].as_str().unwrap_or("-"),
            response["resolve_due_at"].as_str().unwrap_or("?"),
        );
    }

    let store = DynamoStore::new(client, TABLE);
    println!("\n== incidents in DynamoDB");
    for id in incidents {
        let Some(incident) = store.incident(&id).await? else {
            continue;
        };
        println!(
            "\n{id}\n  {title}\n  status {status}, impact {impact}, plan {plan}, opened {opened}{resolved}",
            title = incident.title,
            status = incident.status.as_str(),
            impact = incident.impact,
            plan = incident.plan,
            opened = incident.created_at.format("%H:%M:%S"),
            resolved = incident
                .resolved_at
                .map(|t| format!(", resolved {}", t.format("%H:%M:%S")))
                .unwrap_or_default(),
        );
        for event in store.timeline(&id).await? {
            println!(
                "    {at}  {kind:<16} {summary}",
                at = event.at.format("%H:%M:%S"),
                kind = event.kind.as_str(),
                summary = event.summary,
            );
        }
    }
    println!("\nstopping the local stack.");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
