//! Alarm changes EventBridge dead-lettered are replayed into the state machine once each:
//! `quench-op replay-alarm-events` against moto's SQS and Step Functions.

use quench_local_stack::incident_response::create_queue;
use quench_local_stack::{sample_event, Moto, ACCOUNT};
use quench_op::replay_alarm_events;

#[tokio::test]
async fn each_dead_lettered_alarm_event_starts_one_execution_and_junk_stays() {
    let moto = Moto::start().expect("moto");
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let queue = create_queue(&sqs, "alarm-events-dead-letters")
        .await
        .expect("queue");
    let machine = sfn
        .create_state_machine()
        .name("incident-response")
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/quench-state-machine"))
        .send()
        .await
        .expect("state machine")
        .state_machine_arn;
    let cpu = sample_event("cpu-high-alarm.json").expect("sample");
    let instance = sample_event("instance-check-failed-alarm.json").expect("sample");
    // The CPU change twice (EventBridge delivers at least once), and a message that is
    // not an alarm event at all.
    for body in [
        cpu.as_str(),
        instance.as_str(),
        cpu.as_str(),
        "not an event",
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let executions = || async {
        sfn.list_executions()
            .state_machine_arn(&machine)
            .send()
            .await
            .expect("list")
            .executions
    };

    let dry = replay_alarm_events(&sqs, &sfn, &queue, &machine, true)
        .await
        .expect("dry run");
    assert_eq!((dry.started, dry.kept.len()), (3, 1), "{dry:?}");
    assert!(executions().await.is_empty(), "a dry run starts nothing");

    // The dry run left every message visible, so the replay sees them all.
    let report = replay_alarm_events(&sqs, &sfn, &queue, &machine, false)
        .await
        .expect("replay");
    assert_eq!(report.started + report.already_started, 3, "{report:?}");
    assert_eq!(report.kept.len(), 1, "{report:?}");
    let mut names: Vec<String> = executions().await.into_iter().map(|e| e.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "replay-3f0a9b2c-5d1e-4c7f-8a26-9e4b1d7c2f01",
            "replay-9b1c3e5a-7d2f-4b80-a4c6-e8f0a2b4c6d8"
        ],
        "one execution per event, however often it was delivered"
    );
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(99)
    };
    assert_eq!(
        (
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        ),
        (1, 0),
        "only the message that is not an alarm event stays, visible"
    );
}
