//! What `quench-op` does beyond the incident operations, as library calls so the tests
//! run them against the local stack.

use std::collections::HashSet;

use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use chrono::Utc;
use quench_core::alarm::parse_alarm_event;

/// At most this many dead letters are handled in one run; run again for more.
pub const MAX_REPLAYED: usize = 10_000;
/// How long a dead letter stays invisible to other readers while it is replayed.
const VISIBILITY_SECONDS: i32 = 300;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Executions started, one per alarm event.
    pub started: usize,
    /// Events whose execution a previous replay already started (same event id).
    pub already_started: usize,
    /// Messages that are not alarm events: left in the queue, with why.
    pub kept: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

fn aws_error<E: std::error::Error + 'static>(operation: &'static str, error: E) -> ReplayError {
    ReplayError::Aws {
        operation,
        message: DisplayErrorContext(&error).to_string(),
    }
}

/// The execution name a replayed event gets: derived from the EventBridge event id, so a
/// second replay of the same event (a message delivered twice, a run interrupted between
/// starting and deleting) finds the execution the first one started.
pub fn replay_execution_name(event: &serde_json::Value) -> Option<String> {
    let id = event.get("id")?.as_str()?;
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(72)
        .collect();
    (!safe.is_empty()).then(|| format!("replay-{safe}"))
}

/// Starts the incident-response state machine for each alarm event in the dead-letter
/// queue EventBridge wrote to, and deletes each message once its execution exists. A
/// message that is not an alarm event is left in the queue. `dry_run` reads and reports
/// without starting or deleting anything.
pub async fn replay_alarm_events(
    sqs: &aws_sdk_sqs::Client,
    sfn: &aws_sdk_sfn::Client,
    queue_url: &str,
    state_machine_arn: &str,
    dry_run: bool,
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut seen = HashSet::new();
    // Read but not replayed: visible again once the run is over, not hidden for minutes.
    let mut released = Vec::new();
    while seen.len() < MAX_REPLAYED {
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(VISIBILITY_SECONDS)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| aws_error("ReceiveMessage", e))?;
        let messages = batch.messages();
        if messages.is_empty() || messages.iter().all(|m| seen.contains(&m.message_id)) {
            break;
        }
        for message in messages {
            seen.insert(message.message_id.clone());
            let body = message.body().unwrap_or_default();
            let id = message.message_id().unwrap_or("?");
            let event: Option<serde_json::Value> = serde_json::from_str(body).ok();
            let name = event.as_ref().and_then(replay_execution_name);
            let (Some(name), Ok(_)) = (name, parse_alarm_event(body.as_bytes(), Utc::now())) else {
                report
                    .kept
                    .push(format!("message {id}: not an alarm event with an id"));
                released.extend(message.receipt_handle().map(str::to_string));
                continue;
            };
            if dry_run {
                report.started += 1;
                released.extend(message.receipt_handle().map(str::to_string));
                continue;
            }
            let started = sfn
                .start_execution()
                .state_machine_arn(state_machine_arn)
                .name(&name)
                .input(body)
                .send()
                .await;
            match started {
                Ok(_) => report.started += 1,
                Err(e) if e.code() == Some("ExecutionAlreadyExists") => {
                    report.already_started += 1;
                }
                Err(e) => return Err(aws_error("StartExecution", e)),
            }
            if let Some(receipt) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteMessage", e))?;
            }
        }
    }
    for receipt in released {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| aws_error("ChangeMessageVisibility", e))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_execution_name_comes_from_the_event_id_and_is_always_valid() {
        let event = serde_json::json!({ "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92" });
        assert_eq!(
            replay_execution_name(&event).as_deref(),
            Some("replay-c4c1c1c9-6542-e61b-6ef0-8c4d36933a92")
        );
        let hostile = serde_json::json!({ "id": "a b/c:d" });
        assert_eq!(
            replay_execution_name(&hostile).as_deref(),
            Some("replay-abcd")
        );
        assert_eq!(
            replay_execution_name(&serde_json::json!({ "id": "" })),
            None
        );
        assert_eq!(replay_execution_name(&serde_json::json!({})), None);
    }
}
