//! Chat end to end: the deployed state machine calls the real chat-notifier under
//! `cargo lambda watch`; a local HTTP sink stands in for Slack's Web API, Teams, Chime and
//! the signed audit webhook; moto's SNS (subscribed by an SQS queue) stands in for AWS
//! Chatbot; secrets come from moto's Secrets Manager and SSM SecureString.

use std::collections::BTreeSet;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sfn::types::ExecutionStatus;
use quench_aws::chat::webhook_signature;
use quench_aws::store::DynamoStore;
use quench_core::incident::{IncidentStatus, TimelineEvent, TimelineKind};
use quench_core::ports::IncidentLog;
use quench_local_stack::incident_response::{
    drain_queue, seed_alarms, set_alarm_state, Execution, IncidentResponse, CPU_HIGH,
    INSTANCE_CHECK, PROCESS_GONE,
};
use serde_json::Value;
use TimelineKind::{Escalated, Opened, Paged, Resolved, Step};

const SLACK: &str = "/slack/api/chat.postMessage";

async fn run(
    stack: &IncidentResponse,
    alarm: usize,
    recovery: bool,
    state: StateValue,
) -> Execution {
    let seed = &seed_alarms()[alarm];
    set_alarm_state(&stack.cloudwatch, seed.name, state)
        .await
        .expect("alarm state");
    let input = stack.seed_input(seed, recovery).expect("sample");
    let execution = stack.run(&input).await.expect("execution");
    if execution.status != ExecutionStatus::Succeeded {
        // The last events say which state failed and why.
        let history = stack.history(&execution.arn).await.expect("history");
        let tail: Vec<String> = history
            .iter()
            .rev()
            .take(6)
            .map(|e| {
                let failed = e
                    .task_failed_event_details()
                    .map(|d| (d.error(), d.cause()))
                    .or_else(|| {
                        e.execution_failed_event_details()
                            .map(|d| (d.error(), d.cause()))
                    });
                let state = e.state_entered_event_details().map(|d| d.name());
                format!("{:?} {state:?} {failed:?}", e.r#type)
            })
            .collect();
        panic!("{execution:#?}\nlast events: {tail:#?}");
    }
    execution
}

fn incident_id(execution: &Execution) -> String {
    execution.output["incident"]["decision"]["incident_id"]
        .as_str()
        .expect("incident id")
        .to_string()
}

async fn timeline(stack: &IncidentResponse, id: &str) -> Vec<TimelineEvent> {
    DynamoStore::new(stack.dynamodb.clone(), &stack.table)
        .timeline(id)
        .await
        .expect("timeline")
}

async fn timeline_kinds(stack: &IncidentResponse, id: &str) -> Vec<TimelineKind> {
    timeline(stack, id).await.iter().map(|e| e.kind).collect()
}

/// How many of the events a channel of the plan posts: all but the failure records, and
/// of the pages only the chat pages that mention someone in that channel.
fn posted_to(events: &[TimelineEvent], channel: &str) -> usize {
    events
        .iter()
        .filter(|e| match e.kind {
            TimelineKind::ChatFailed | TimelineKind::PageFailed => false,
            TimelineKind::Paged => e.mention.as_ref().is_some_and(|m| m.channel == channel),
            _ => true,
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_seed_incident_is_one_conversation_in_each_of_its_channels() {
    let stack = IncidentResponse::start("quench-chat", 0)
        .await
        .expect("stack");

    // CPU high: Slack (bot, threaded) and AWS Chatbot.
    let cpu = run(&stack, CPU_HIGH, false, StateValue::Alarm).await;
    run(&stack, CPU_HIGH, true, StateValue::Ok).await;
    let id = incident_id(&cpu);
    let events = timeline(&stack, &id).await;
    let kinds: Vec<TimelineKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[..5],
        [Opened, Step, Step, Step, Escalated],
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&Resolved), "{kinds:?}");
    // Whoever the example schedule has on call now was paged; each on-call contact has
    // a chat identity in ops-slack, so at least one page is a mention there.
    let chat_pages = events.iter().filter(|e| e.mention.is_some()).count();
    assert!(chat_pages >= 1, "{kinds:?}");
    let slack = stack.sink.delivered(SLACK);
    assert_eq!(
        slack.len(),
        posted_to(&events, "ops-slack"),
        "one message per event"
    );
    let mentions = slack
        .iter()
        .filter(|m| {
            m.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("<@U0"))
        })
        .count();
    assert_eq!(mentions, chat_pages);
    let opening = &slack[0];
    assert_eq!(opening.body["channel"], "C0INCIDENTS");
    assert!(opening.body.get("thread_ts").is_none());
    assert_eq!(
        opening.header("authorization"),
        Some("Bearer xoxb-local-test-token")
    );
    assert!(opening.body["text"]
        .as_str()
        .unwrap_or_default()
        .contains("web-1-cpu-high"));
    for reply in &slack[1..] {
        assert_eq!(
            reply.body["thread_ts"], "1764000000.000001",
            "threaded under the opening"
        );
    }
    let last = slack.last().expect("resolution").body["text"].to_string();
    assert!(last.to_lowercase().contains("resolved"), "{last}");
    // The opening message was rewritten in place to show where the incident stands.
    let updates = stack.sink.delivered("/slack/api/chat.update");
    let latest = updates.last().expect("chat.update");
    assert_eq!(latest.body["ts"], "1764000000.000001");
    assert!(
        latest.body["blocks"].to_string().contains("resolved after"),
        "{:#}",
        latest.body
    );
    let chatbot = drain_queue(&stack.sqs, &stack.chatbot_inbox)
        .await
        .expect("inbox");
    assert_eq!(chatbot.len(), posted_to(&events, "ops-chatbot"));
    assert_eq!(
        chatbot.len(),
        kinds.len() - kinds.iter().filter(|k| **k == Paged).count()
    );
    for message in &chatbot {
        assert_eq!(message["version"], "1.0");
        assert_eq!(message["source"], "custom");
        assert_eq!(message["metadata"]["threadId"], Value::String(id.clone()));
    }

    // Instance check: Slack, Teams and the signed audit webhook.
    let check = run(&stack, INSTANCE_CHECK, false, StateValue::Ok).await;
    let check_events = posted_to(&timeline(&stack, &incident_id(&check)).await, "ops-teams");
    let teams = stack.sink.delivered("/teams");
    assert_eq!(teams.len(), check_events);
    assert_eq!(
        teams[0].body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let audit = stack.sink.delivered("/audit");
    assert_eq!(audit.len(), check_events);
    let keys: BTreeSet<&str> = audit
        .iter()
        .filter_map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys.len(), check_events, "one idempotency key per event");
    for request in &audit {
        let timestamp: i64 = request
            .header("x-quench-timestamp")
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        assert_eq!(
            request.header("x-quench-signature"),
            Some(webhook_signature(b"local-signing-key", timestamp, &request.raw).as_str())
        );
    }

    // Process gone: Slack and Chime.
    stack
        .moto
        .agent_reports("pgrep", "Success", 0, "1\n")
        .expect("agent");
    run(&stack, PROCESS_GONE, false, StateValue::Ok).await;
    let chime = stack.sink.delivered("/chime");
    assert!(!chime.is_empty());
    assert!(chime.iter().all(|r| r.body["Content"]
        .as_str()
        .is_some_and(|c| c.starts_with("/md "))));
    assert!(drain_queue(&stack.sqs, &stack.chat_dead_letters)
        .await
        .expect("dlq")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_fails_twice_then_recovers_gets_each_message_once() {
    let stack = IncidentResponse::start("quench-chat-flaky", 0)
        .await
        .expect("stack");
    stack.sink.fail_next("/slack/api", 1, 429, Some(1));
    stack.sink.fail_next("/slack/api", 1, 503, None);
    let cpu = run(&stack, CPU_HIGH, false, StateValue::Alarm).await;
    let events = posted_to(&timeline(&stack, &incident_id(&cpu)).await, "ops-slack");
    let slack = stack.sink.delivered(SLACK);
    assert_eq!(slack.len(), events, "exactly one message per event");
    assert_eq!(
        stack.sink.requests(SLACK),
        events + 2,
        "two failures, retried"
    );
    let texts: BTreeSet<String> = slack.iter().map(|r| r.body["blocks"].to_string()).collect();
    assert_eq!(texts.len(), events, "no message twice");
    assert!(drain_queue(&stack.sqs, &stack.chat_dead_letters)
        .await
        .expect("dlq")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_for_good_dead_letters_and_the_incident_still_resolves() {
    let stack = IncidentResponse::start("quench-chat-down", 0)
        .await
        .expect("stack");
    stack.sink.down("/slack/api");
    let check = run(&stack, INSTANCE_CHECK, false, StateValue::Ok).await;
    assert_eq!(
        check.output["outcome"]["decision"]["decision"], "resolved",
        "{:#}",
        check.output
    );
    let id = incident_id(&check);
    let store = DynamoStore::new(stack.dynamodb.clone(), &stack.table);
    let incident = store.incident(&id).await.expect("read").expect("incident");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert!(stack.sink.delivered(SLACK).is_empty());
    let dead = drain_queue(&stack.sqs, &stack.chat_dead_letters)
        .await
        .expect("dlq");
    assert!(!dead.is_empty());
    assert!(dead
        .iter()
        .all(|d| d["channel"] == "ops-slack" && d["message"].is_object()));
    let text = serde_json::to_string(&dead).expect("json");
    assert!(
        !text.contains("xoxb-local-test-token"),
        "no secret in a dead letter"
    );
    let kinds = timeline_kinds(&stack, &id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == TimelineKind::ChatFailed)
            .count(),
        dead.len()
    );
    // The other channels of the plan got everything but the failure records.
    let delivered = posted_to(&timeline(&stack, &id).await, "ops-teams");
    assert_eq!(stack.sink.delivered("/teams").len(), delivered);
}
