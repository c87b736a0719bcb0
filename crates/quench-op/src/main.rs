//! `quench-op acknowledge|escalate|resolve INCIDENT_ID --by WHO [--reason TEXT]`: the
//! incident operations from a terminal, through the same handler code as the Lambda
//! (same validation, same conditional write, same metrics). Reads the environment the
//! function reads (`QUENCH_TABLE`, the config) and the caller's AWS credentials.
//!
//! `quench-op sync-subscriptions PAGES_TOPIC_ARN [--dry-run]`: subscribes each contact's
//! email to the pages topic with the filter on that contact, refilters or removes what
//! the config no longer says (`make deploy` runs it after each deploy).
//!
//! `quench-op replay-alarm-events QUEUE_URL STATE_MACHINE_ARN [--dry-run]`: starts the
//! state machine for each alarm change EventBridge could not deliver (the stack's alarm
//! events dead-letter queue), once per event however often it is run.
//!
//! `quench-op put-config PARAMETER_NAME CONFIG_FILE`: validates the config file and stores
//! it as the SecureString parameter the functions read (`ConfigParameterName`), Advanced
//! tier once it passes Standard's 4 KB (`make deploy CONFIG_PARAMETER=...` runs it).

use std::process::ExitCode;

use chrono::Utc;
use quench_aws::incidents::IncidentPorts;
use quench_aws::paging::{
    apply_subscription_changes, email_subscriptions, plan_subscriptions, SubscriptionChange,
};
use quench_aws::sdk::{load_config, put_config_parameter, sdk_config};
use quench_core::config::Config;
use quench_core::incident::OperationKind;
use quench_op::replay_alarm_events;

const USAGE: &str =
    "usage: quench-op acknowledge|escalate|resolve INCIDENT_ID --by WHO [--reason TEXT]\n       \
     quench-op sync-subscriptions PAGES_TOPIC_ARN [--dry-run]\n       \
     quench-op replay-alarm-events QUEUE_URL STATE_MACHINE_ARN [--dry-run]\n       \
     quench-op put-config PARAMETER_NAME CONFIG_FILE";

struct Args {
    action: OperationKind,
    incident_id: String,
    by: String,
    reason: String,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let [action, incident_id, rest @ ..] = args else {
        return Err("an action and an incident id are needed".into());
    };
    let action = match action.as_str() {
        "acknowledge" | "ack" => OperationKind::Acknowledge,
        "escalate" => OperationKind::Escalate,
        "resolve" => OperationKind::Resolve,
        other => return Err(format!("`{other}` is not acknowledge, escalate or resolve")),
    };
    let (mut by, mut reason) = (None, String::new());
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--by" => by = Some(value.clone()),
            "--reason" => reason.clone_from(value),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Args {
        action,
        incident_id: incident_id.clone(),
        by: by.ok_or("--by is needed: say who acts")?,
        reason,
    })
}

/// Brings the pages topic's email subscriptions in line with the config's contacts.
#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
async fn sync_subscriptions(topic_arn: &str, dry_run: bool) -> Result<(), String> {
    let sdk = sdk_config("quench-op").await;
    let config = load_config(&sdk).await.map_err(|e| e.to_string())?;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let existing = email_subscriptions(&sns, topic_arn)
        .await
        .map_err(|e| e.to_string())?;
    let changes = plan_subscriptions(&existing, &config.contacts);
    for change in &changes {
        let line = match change {
            SubscriptionChange::Subscribe { endpoint, contacts } => {
                format!("subscribe   {endpoint} for {}", contacts.join(", "))
            }
            SubscriptionChange::Refilter {
                endpoint, contacts, ..
            } => format!("refilter    {endpoint} to {}", contacts.join(", ")),
            SubscriptionChange::Unsubscribe { endpoint, .. } => {
                format!("unsubscribe {endpoint} (no contact has it)")
            }
            SubscriptionChange::Keep {
                endpoint,
                pending: true,
            } => format!("pending     {endpoint} (waiting for its owner to confirm)"),
            SubscriptionChange::Keep { endpoint, .. } => format!("in line     {endpoint}"),
        };
        println!("{line}");
    }
    if !dry_run {
        apply_subscription_changes(&sns, topic_arn, &changes)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Stores a valid config file as the parameter the functions read, and says what it did.
#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
async fn put_config(name: &str, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    Config::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let sdk = sdk_config("quench-op").await;
    put_config_parameter(&aws_sdk_ssm::Client::new(&sdk), name, &text)
        .await
        .map_err(|e| e.to_string())?;
    println!("stored {path} ({} bytes) as {name}", text.len());
    Ok(())
}

/// Replays the alarm events EventBridge dead-lettered, and says what it did.
#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
async fn replay(queue_url: &str, state_machine_arn: &str, dry_run: bool) -> Result<(), String> {
    let sdk = sdk_config("quench-op").await;
    let report = replay_alarm_events(
        &aws_sdk_sqs::Client::new(&sdk),
        &aws_sdk_sfn::Client::new(&sdk),
        queue_url,
        state_machine_arn,
        dry_run,
    )
    .await
    .map_err(|e| e.to_string())?;
    let verb = if dry_run { "would start" } else { "started" };
    println!(
        "{verb} {} execution(s); {} already started by an earlier replay; {} message(s) kept",
        report.started,
        report.already_started,
        report.kept.len()
    );
    for kept in &report.kept {
        println!("kept: {kept}");
    }
    Ok(())
}

fn exit_code(done: Result<(), String>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quench-op: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("put-config") {
        let done = match args.as_slice() {
            [_, name, path] => put_config(name, path).await,
            _ => {
                eprintln!("quench-op: wrong arguments for put-config\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        return exit_code(done);
    }
    // Only these two take --dry-run; the incident operations always act.
    if let Some((command @ ("sync-subscriptions" | "replay-alarm-events"), rest)) = args
        .split_first()
        .map(|(command, rest)| (command.as_str(), rest))
    {
        let (rest, dry_run) = match rest {
            [rest @ .., flag] if flag == "--dry-run" => (rest, true),
            rest => (rest, false),
        };
        let done = match (command, rest) {
            ("sync-subscriptions", [topic]) => sync_subscriptions(topic, dry_run).await,
            ("replay-alarm-events", [queue, machine]) => replay(queue, machine, dry_run).await,
            _ => {
                eprintln!("quench-op: wrong arguments for {command}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        return exit_code(done);
    }
    let args = match parse(&args) {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("quench-op: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Built as alarm-to-incident builds its own, and named so in the SDK's user agent.
    let ports = match IncidentPorts::from_env("alarm-to-incident").await {
        Ok(ports) => ports,
        Err(e) => {
            eprintln!("quench-op: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = ports
        .incidents()
        .operate_by_id(
            args.action,
            &args.incident_id,
            &args.by,
            &args.reason,
            Utc::now(),
        )
        .await;
    match result.map(|response| serde_json::to_string_pretty(&response)) {
        Ok(Ok(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("quench-op: cannot print the response: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("quench-op: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn an_acknowledgement_needs_who() {
        let parsed = parse(&args("ack inc-1 --by alice --reason looking")).expect("valid");
        assert_eq!(parsed.action, OperationKind::Acknowledge);
        assert_eq!(
            (parsed.by.as_str(), parsed.reason.as_str()),
            ("alice", "looking")
        );
        assert!(parse(&args("resolve inc-1")).is_err_and(|e| e.contains("--by")));
        assert!(parse(&args("silence inc-1 --by a")).is_err_and(|e| e.contains("silence")));
        assert!(parse(&args("resolve inc-1 --by")).is_err_and(|e| e.contains("needs a value")));
    }
}
