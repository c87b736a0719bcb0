//! `make demo`: brings up the local stack (moto with the seed instance and its three
//! alarms, the table from infra/template.yaml, both functions under `cargo lambda watch`,
//! the deployed state machine), replays the seed incidents through Step Functions the way
//! EventBridge would start them, and prints each execution's path and each incident's
//! timeline. Runbook waits are capped to zero seconds.

use std::process::ExitCode;

use aws_sdk_cloudwatch::types::StateValue;
use quench_aws::store::DynamoStore;
use quench_core::ports::{IncidentLog, PageStore};
use quench_local_stack::incident_response::{
    drain_queue, seed_alarms, set_alarm_state, Execution, IncidentResponse, CPU_HIGH,
    INSTANCE_CHECK, PROCESS_GONE,
};
use quench_local_stack::StackError;

const TABLE: &str = "quench-demo";

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("store: {0}")]
    Store(#[from] quench_core::ports::StoreError),
}

/// One alarm change of the story: which seed alarm, which of its events, what CloudWatch
/// will say when the runbook reads the alarm, and what the instance will report.
struct Beat {
    alarm: usize,
    recovery: bool,
    /// The previous beat's event delivered again.
    redelivery: bool,
    state_at_end: Option<StateValue>,
    told: &'static str,
}

const STORY: &[Beat] = &[
    Beat {
        alarm: CPU_HIGH,
        recovery: false,
        redelivery: false,
        state_at_end: Some(StateValue::Alarm),
        told: "CPU high: diagnostics run, the alarm still alarms, people are engaged",
    },
    Beat {
        alarm: CPU_HIGH,
        recovery: false,
        redelivery: true,
        state_at_end: None,
        told: "the same alarm delivered again: a duplicate, nothing runs",
    },
    Beat {
        alarm: INSTANCE_CHECK,
        recovery: false,
        redelivery: false,
        state_at_end: Some(StateValue::Ok),
        told: "instance check failed: reboot, wait, status ok, the alarm agrees: resolved, nobody paged",
    },
    Beat {
        alarm: PROCESS_GONE,
        recovery: false,
        redelivery: false,
        state_at_end: Some(StateValue::Ok),
        told: "nginx gone: restart, wait, the instance counts one process: resolved, nobody paged",
    },
    Beat {
        alarm: CPU_HIGH,
        recovery: true,
        redelivery: false,
        state_at_end: None,
        told: "CPU back to normal: the escalated incident resolves itself",
    },
];

/// The states an execution went through, repeats folded: "RunbookStep x3".
async fn path(stack: &IncidentResponse, execution: &Execution) -> Result<String, StackError> {
    let mut states: Vec<(String, usize)> = Vec::new();
    for event in stack.history(&execution.arn).await? {
        let Some(name) = event.state_entered_event_details().map(|d| d.name()) else {
            continue;
        };
        match states.last_mut() {
            Some((last, count)) if last == name => *count += 1,
            _ => states.push((name.to_string(), 1)),
        }
    }
    Ok(states
        .iter()
        .map(|(name, count)| match count {
            1 => name.clone(),
            n => format!("{name} x{n}"),
        })
        .collect::<Vec<_>>()
        .join(" > "))
}

fn decision(execution: &Execution, at: &str) -> String {
    execution.output[at]["decision"]["decision"]
        .as_str()
        .unwrap_or("-")
        .to_string()
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
async fn run() -> Result<(), DemoError> {
    println!("starting moto (EC2 instance, three CloudWatch alarms, table `{TABLE}`), `cargo lambda watch` and the state machine ...");
    println!("(the first execution waits for `cargo lambda watch` to build both functions)");
    let stack = IncidentResponse::start(TABLE, 0).await?;
    // What the instance will report to Run Command: one nginx process after the restart.
    stack.moto.agent_reports("pgrep", "Success", 0, "1\n")?;
    let alarms = seed_alarms();

    // Scripted instance output: nothing here runs the commands, they are meant for an
    // instance.
    stack.moto.agent_reports(
        "vmstat",
        "Success",
        0,
        "procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----\n \
         r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st\n \
         7  0      0 182340  40212 912004    0    0     3    18 1210 2405 96  3  1  0  0",
    )?;

    let mut incidents: Vec<String> = Vec::new();
    let mut last_input = String::new();
    for beat in STORY {
        let alarm = &alarms[beat.alarm];
        if let Some(state) = &beat.state_at_end {
            set_alarm_state(&stack.cloudwatch, alarm.name, state.clone()).await?;
        }
        let sample = if beat.recovery {
            alarm.ok_event
        } else {
            alarm.alarm_event
        };
        // A redelivery is the very same event; everything else happens now.
        if !beat.redelivery {
            last_input = stack.seed_input(alarm, beat.recovery)?;
        }
        let execution = stack.run(&last_input).await?;
        println!("\n== {}\n   {sample}", beat.told);
        println!(
            "   execution {:?} in {} ms: {}",
            execution.status,
            execution.wall.as_millis(),
            path(&stack, &execution).await?
        );
        let outcome = decision(&execution, "outcome");
        println!(
            "   decision {}{}",
            decision(&execution, "incident"),
            if outcome == "-" {
                String::new()
            } else {
                format!(", then {outcome}")
            }
        );
        if let Some(id) = execution.output["incident"]["decision"]["incident_id"].as_str() {
            if !incidents.iter().any(|known| known == id) {
                incidents.push(id.to_string());
            }
        }
    }

    let commands = stack.commands_sent().await?;
    println!("\n== SSM Run Command received {} commands", commands.len());
    for (document, lines) in commands {
        println!("   {document}: {}", lines.join("; "));
    }

    let store = DynamoStore::new(stack.dynamodb.clone(), TABLE);
    println!("\n== incidents in DynamoDB");
    for id in incidents.clone() {
        let Some(incident) = store.incident(&id).await? else {
            continue;
        };
        println!(
            "\n{id}\n  {title}\n  status {status}, impact {impact}, plan {plan}{escalated}",
            title = incident.title,
            status = incident.status.as_str(),
            impact = incident.impact,
            plan = incident.plan,
            escalated = if incident.escalated_at.is_some() {
                ", escalated"
            } else {
                ""
            },
        );
        for event in store.timeline(&id).await? {
            println!(
                "    {at}  {kind:<10} {summary}",
                at = event.at.format("%m-%d %H:%M:%S"),
                kind = event.kind.as_str(),
                summary = event.summary.replace('\n', "\n                          "),
            );
        }
    }
    print_pages(&stack, &store, &incidents).await?;
    print_chat(&stack).await?;
    println!("\nstopping the local stack.");
    Ok(())
}

/// The headline of a message and the start of what follows, whatever the format.
fn first_line(text: &str) -> String {
    let text = text.strip_prefix("/md ").unwrap_or(text);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut line = lines.next().unwrap_or_default().to_string();
    if let Some(next) = lines.next() {
        let next: String = next.chars().take(70).collect();
        line = format!("{line} | {next}");
    }
    line.replace("**", "").replace('\\', "")
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
async fn print_pages(
    stack: &IncidentResponse,
    store: &DynamoStore,
    incidents: &[String],
) -> Result<(), DemoError> {
    println!("\n== paging (escalation policy `web-oncall`, schedule `web-primary` at this hour)");
    for id in incidents {
        let pages = store.pages(id).await?;
        if pages.is_empty() {
            continue;
        }
        println!("{id}:");
        for page in pages {
            println!(
                "   stage {} round {}  {:<6} by {:<5} due {}  {}{}",
                page.stage + 1,
                page.round + 1,
                page.contact,
                page.via.as_str(),
                page.due_at.format("%H:%M:%S"),
                page.state.as_str(),
                page.last_error
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default(),
            );
        }
    }
    let emails = drain_queue(&stack.sqs, &stack.pages_inbox).await?;
    println!("pages topic ({} emails):", emails.len());
    for email in &emails {
        println!(
            "   to {}: {}",
            email["MessageAttributes"]["contact"]["Value"]
                .as_str()
                .unwrap_or_default(),
            email["Subject"].as_str().unwrap_or_default()
        );
    }
    let sms = stack.moto.sms_sent()?;
    println!("SMS ({}):", sms.len());
    for (phone, text) in &sms {
        println!("   {phone}: {text}");
    }
    println!("(the escalation ticker sends pages when they fall due, every minute, and cancels them if the incident was acknowledged or resolved first)");
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
async fn print_chat(stack: &IncidentResponse) -> Result<(), DemoError> {
    println!("\n== chat (a local sink stands in for Slack, Teams, Chime and the audit webhook;");
    println!("   moto's SNS, read through an SQS subscription, for AWS Chatbot)");
    let slack = stack.sink.delivered("/slack/api/chat.postMessage");
    println!("\n#C0INCIDENTS on Slack ({} messages):", slack.len());
    for message in &slack {
        let indent = match message.body["thread_ts"].as_str() {
            Some(thread) => format!("      ↳ [{thread}] "),
            None => "   ".to_string(),
        };
        println!(
            "{indent}{}",
            first_line(message.body["text"].as_str().unwrap_or_default())
        );
    }
    let chatbot = drain_queue(&stack.sqs, &stack.chatbot_inbox).await?;
    println!("\nAWS Chatbot topic ({} notifications):", chatbot.len());
    for message in &chatbot {
        println!(
            "   [thread {}] {}",
            message["metadata"]["threadId"].as_str().unwrap_or_default(),
            first_line(message["content"]["title"].as_str().unwrap_or_default())
        );
    }
    let teams = stack.sink.delivered("/teams");
    println!("\nMicrosoft Teams ({} Adaptive Cards):", teams.len());
    for message in &teams {
        let title = &message.body["attachments"][0]["content"]["body"][0]["text"];
        println!("   {}", first_line(title.as_str().unwrap_or_default()));
    }
    let chime = stack.sink.delivered("/chime");
    println!("\nAmazon Chime ({} messages):", chime.len());
    for message in &chime {
        println!(
            "   {}",
            first_line(message.body["Content"].as_str().unwrap_or_default())
        );
    }
    let audit = stack.sink.delivered("/audit");
    println!("\naudit webhook ({} signed JSON posts):", audit.len());
    for message in &audit {
        println!(
            "   {} {}  {}",
            message.body["event"]["kind"].as_str().unwrap_or_default(),
            message.body["incident"]["id"].as_str().unwrap_or_default(),
            message.header("x-quench-signature").unwrap_or("unsigned")
        );
    }
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
