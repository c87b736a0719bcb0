//! The local stack refuses what AWS refuses: each test trips one rule of the strict layer
//! of tools/local_aws.py through the SDK call a function would make, and checks the
//! boundary AWS documents is still accepted. The post-commit faults are here too: they
//! are how an end-to-end test reaches a write that landed while its answer was lost.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use quench_local_stack::incident_response::{create_queue, create_topic};
use quench_local_stack::{create_table, function_arn, Fault, Moto};
use serde_json::{json, Value};

const TABLE: &str = "strict";
/// DynamoDB's 400 KB item, in its binary kilobytes.
const MAX_ITEM: usize = 400 * 1024;
/// Step Functions' 256 KiB for a state's or a task's data.
const MAX_STATE: usize = 262_144;

/// The error code and message of a refused call; panics when the call was accepted.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> (String, String) {
    let error = result.expect_err("AWS refuses this call");
    (
        error.code().unwrap_or_default().to_string(),
        error.message().unwrap_or_default().to_string(),
    )
}

async fn local() -> (Moto, SdkConfig) {
    let moto = Moto::start().expect("moto");
    let sdk = moto.sdk_config().await;
    (moto, sdk)
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_string())
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s("item"))])
}

/// An item of exactly `bytes` by DynamoDB's sizing (names plus values): its key, and a
/// string attribute `p` padding it out.
fn item_of(pk: &str, bytes: usize) -> HashMap<String, AttributeValue> {
    let key_bytes = "PK".len() + pk.len() + "SK".len() + "item".len();
    let mut item = key(pk);
    item.insert("p".into(), s(&"x".repeat(bytes - key_bytes - "p".len())));
    item
}

/// An item whose JSON is small but whose DynamoDB size is over 400 KB: a list of
/// 140,000 one-digit numbers costs 3 bytes an element (a byte of overhead, two for the
/// number), 420,000 in all.
fn item_of_many_numbers(pk: &str) -> HashMap<String, AttributeValue> {
    let mut item = key(pk);
    item.insert(
        "l".into(),
        AttributeValue::L(vec![AttributeValue::N("1".into()); 140_000]),
    );
    item
}

async fn stored(
    dynamodb: &aws_sdk_dynamodb::Client,
    pk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    dynamodb
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(pk)))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
}

async fn table(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    create_table(&dynamodb, TABLE).await.expect("table");
    dynamodb
}

#[tokio::test]
async fn sns_subjects_are_printable_ascii_under_100_characters() {
    let (_moto, sdk) = local().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = create_topic(&sns, "pages").await.expect("topic");
    let publish = |subject: String| {
        sns.publish()
            .topic_arn(&topic)
            .message("body")
            .subject(subject)
            .send()
    };
    publish("a".repeat(99))
        .await
        .expect("99 characters are under 100");
    for subject in [
        "a".repeat(100),
        String::new(),
        "two\nlines".into(),
        "tab\there".into(),
        "caf\u{e9}".into(),
        " leading space".into(),
    ] {
        let (code, message) = refused(publish(subject.clone()).await);
        assert_eq!(code, "InvalidParameter", "{subject:?}: {message}");
        assert_eq!(message, "Invalid parameter: Subject", "{subject:?}");
    }
}

#[tokio::test]
async fn sns_messages_are_at_most_256_kib_of_utf8() {
    let (_moto, sdk) = local().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = create_topic(&sns, "pages").await.expect("topic");
    let publish = |message: String| sns.publish().topic_arn(&topic).message(message).send();
    publish("x".repeat(262_144)).await.expect("exactly 256 KiB");
    // 131,073 characters, 262,146 bytes: the limit is in bytes.
    let (code, message) = refused(publish("\u{e9}".repeat(131_073)).await);
    assert_eq!(code, "InvalidParameter", "{message}");
    assert_eq!(message, "Invalid parameter: Message too long");
}

#[tokio::test]
async fn an_sms_is_at_most_1600_characters() {
    let (moto, sdk) = local().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sms = |body: String| {
        sns.publish()
            .phone_number("+15555550100")
            .message(body)
            .send()
    };
    sms("a".repeat(1_600)).await.expect("1,600 characters");
    let (code, message) = refused(sms("a".repeat(1_601)).await);
    assert_eq!(code, "InvalidParameter", "{message}");
    assert_eq!(moto.sms_sent().expect("sms").len(), 1);
}

#[tokio::test]
async fn a_put_item_is_at_most_400_kb_by_dynamodb_sizing() {
    let (_moto, sdk) = local().await;
    let dynamodb = table(&sdk).await;
    let put = |item| {
        dynamodb
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
    };
    put(item_of("at", MAX_ITEM)).await.expect("exactly 400 KB");
    for (pk, item) in [
        ("over", item_of("over", MAX_ITEM + 1)),
        ("numbers", item_of_many_numbers("numbers")),
    ] {
        let (code, message) = refused(put(item).await);
        assert_eq!(code, "ValidationException", "{pk}: {message}");
        assert_eq!(message, "Item size has exceeded the maximum allowed size");
        assert!(stored(&dynamodb, pk).await.is_none(), "{pk}");
    }
}

#[tokio::test]
async fn an_update_item_whose_result_is_over_400_kb_changes_nothing() {
    let (_moto, sdk) = local().await;
    let dynamodb = table(&sdk).await;
    let update = |pk: &'static str, bytes: usize| {
        dynamodb
            .update_item()
            .table_name(TABLE)
            .set_key(Some(key(pk)))
            .update_expression("SET q = :q")
            .expression_attribute_values(":q", s(&"y".repeat(bytes)))
            .send()
    };
    for pk in ["at", "over"] {
        dynamodb
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item_of(pk, 300_000)))
            .send()
            .await
            .expect("seed");
    }
    // "q" and its value bring the item to exactly 400 KB.
    update("at", MAX_ITEM - 300_000 - 1)
        .await
        .expect("a result of exactly 400 KB");
    let (code, message) = refused(update("over", MAX_ITEM - 300_000).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert_eq!(
        message,
        "Item size to update has exceeded the maximum allowed size"
    );
    let item = stored(&dynamodb, "over").await.expect("still there");
    assert!(!item.contains_key("q"), "the refused update left no trace");
}

fn put_action(item: HashMap<String, AttributeValue>) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(TABLE)
                .set_item(Some(item))
                .build()
                .expect("put"),
        )
        .build()
}

#[tokio::test]
async fn a_transaction_refuses_what_dynamodb_refuses_before_writing_anything() {
    let (_moto, sdk) = local().await;
    let dynamodb = table(&sdk).await;
    let transact = |actions: Vec<TransactWriteItem>| {
        dynamodb
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
    };

    let too_many = (0..101).map(|i| put_action(item_of(&format!("many-{i}"), 100)));
    let (code, message) = refused(transact(too_many.collect()).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert!(message.contains("less than or equal to 100"), "{message}");

    let twice = vec![
        put_action(item_of("first", 100)),
        put_action(item_of("twice", 100)),
        put_action(item_of("twice", 120)),
    ];
    let (code, message) = refused(transact(twice).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert_eq!(
        message,
        "Transaction request cannot include multiple operations on one item"
    );

    // Eleven items of 390,000 bytes: each under 400 KB, 4.29 MB together.
    let heavy = (0..11).map(|i| put_action(item_of(&format!("heavy-{i}"), 390_000)));
    let (code, message) = refused(transact(heavy.collect()).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert_eq!(message, "Transaction request cannot be larger than 4 MB");

    let oversized = vec![
        put_action(item_of("small", 100)),
        put_action(item_of_many_numbers("numbers")),
    ];
    let (code, message) = refused(transact(oversized).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert_eq!(message, "Item size has exceeded the maximum allowed size");

    for pk in ["many-0", "first", "twice", "heavy-0", "small", "numbers"] {
        assert!(stored(&dynamodb, pk).await.is_none(), "{pk} was written");
    }
    let ten = (0..10).map(|i| put_action(item_of(&format!("ten-{i}"), 390_000)));
    transact(ten.collect()).await.expect("3.9 MB in ten items");
}

#[tokio::test]
async fn a_transacted_update_over_400_kb_cancels_the_transaction() {
    let (_moto, sdk) = local().await;
    let dynamodb = table(&sdk).await;
    dynamodb
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item_of("grown", 300_000)))
        .send()
        .await
        .expect("seed");
    let grow = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(TABLE)
                .set_key(Some(key("grown")))
                .update_expression("SET q = :q")
                .expression_attribute_values(":q", s(&"y".repeat(MAX_ITEM - 300_000)))
                .build()
                .expect("update"),
        )
        .build();
    let result = dynamodb
        .transact_write_items()
        .transact_items(put_action(item_of("beside", 100)))
        .transact_items(grow)
        .send()
        .await;
    let error = result.expect_err("cancelled").into_service_error();
    let reasons = match &error {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            cancelled,
        ) => cancelled.cancellation_reasons().to_vec(),
        other => panic!("not a cancellation: {other:?}"),
    };
    let codes: Vec<_> = reasons
        .iter()
        .map(|r| r.code().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["None", "ValidationError"], "{reasons:?}");
    assert_eq!(
        reasons[1].message(),
        Some("Item size to update has exceeded the maximum allowed size")
    );
    assert!(stored(&dynamodb, "beside").await.is_none());
    let grown = stored(&dynamodb, "grown").await.expect("still there");
    assert!(!grown.contains_key("q"));
}

#[tokio::test]
async fn sqs_messages_are_at_most_the_queues_maximum_message_size_in_bytes() {
    let (_moto, sdk) = local().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let default = create_queue(&sqs, "default").await.expect("queue");
    let send = |queue: &str, body: String| {
        sqs.send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
    };

    send(&default, "x".repeat(262_144))
        .await
        .expect("the default 256 KiB");
    for body in ["x".repeat(262_145), "\u{e9}".repeat(131_073)] {
        let (code, message) = refused(send(&default, body).await);
        assert_eq!(code, "InvalidParameterValue", "{message}");
        assert_eq!(
            message,
            "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."
        );
    }
    // Attribute names, types and values count toward the size.
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("v")
        .build()
        .expect("attribute");
    let (code, _) = refused(
        sqs.send_message()
            .queue_url(&default)
            .message_body("x".repeat(262_140))
            .message_attributes("name", attribute)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValue");
    let entry = |id: &str, bytes: usize| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body("x".repeat(bytes))
            .build()
            .expect("entry")
    };
    let (code, _) = refused(
        sqs.send_message_batch()
            .queue_url(&default)
            .entries(entry("small", 10))
            .entries(entry("large", 262_145))
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValue");
    let waiting = sqs
        .get_queue_attributes()
        .queue_url(&default)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        waiting
            .attributes()
            .and_then(
                |a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            )
            .map(String::as_str),
        Some("1"),
        "only the first message was accepted"
    );

    let large = sqs
        .create_queue()
        .queue_name("large")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1048576",
        )
        .send()
        .await
        .expect("a 1 MiB queue")
        .queue_url
        .expect("url");
    send(&large, "x".repeat(1_048_576)).await.expect("1 MiB");
    let (code, _) = refused(send(&large, "x".repeat(1_048_577)).await);
    assert_eq!(code, "InvalidParameterValue");
}

#[tokio::test]
async fn ssm_parameter_values_are_at_most_4_kb_standard_and_8_kb_advanced() {
    let (_moto, sdk) = local().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let put = |name: &str, bytes: usize, tier: aws_sdk_ssm::types::ParameterTier| {
        ssm.put_parameter()
            .name(name)
            .value("x".repeat(bytes))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .tier(tier)
            .send()
    };
    use aws_sdk_ssm::types::ParameterTier::{Advanced, Standard};
    put("/standard/at", 4_096, Standard).await.expect("4 KB");
    put("/advanced/at", 8_192, Advanced).await.expect("8 KB");
    let (code, message) = refused(put("/standard/over", 4_097, Standard).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert!(
        message.starts_with("Standard tier parameters support a maximum parameter value of 4096"),
        "{message}"
    );
    let (code, _) = refused(put("/advanced/over", 8_193, Advanced).await);
    assert_eq!(code, "ValidationException");
    // Multibyte characters count by their bytes: 2,049 of them are 4,098 bytes.
    let (code, _) = refused(
        ssm.put_parameter()
            .name("/standard/bytes")
            .value("\u{e9}".repeat(2_049))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
}

/// A function under `cargo lambda watch` stand-in: every invocation is answered `body`.
/// Counts the invocations it served.
fn stand_in_function(body: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(mut writer) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                line.clear();
            }
            let mut request = vec![0; length];
            let _ = reader.read_exact(&mut request);
            counter.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&body);
        }
    });
    (port, served)
}

/// A JSON string value of `bytes` bytes once serialized (quotes included).
fn json_of(bytes: usize) -> Vec<u8> {
    format!("\"{}\"", "x".repeat(bytes - 2)).into_bytes()
}

struct Machine {
    sfn: aws_sdk_sfn::Client,
    arn: String,
}

impl Machine {
    async fn create(sdk: &SdkConfig, definition: Value) -> Machine {
        let sfn = aws_sdk_sfn::Client::new(sdk);
        let arn = sfn
            .create_state_machine()
            .name("strict")
            .definition(definition.to_string())
            .role_arn("arn:aws:iam::123456789012:role/strict")
            .send()
            .await
            .expect("state machine")
            .state_machine_arn;
        Machine { sfn, arn }
    }

    /// Runs one execution to its end: (status, error, output).
    async fn run(
        &self,
        input: &Value,
        patience: Duration,
    ) -> (ExecutionStatus, Option<String>, Value) {
        let execution = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.arn)
            .name(format!("run-{}", input.to_string().len()))
            .input(input.to_string())
            .send()
            .await
            .expect("started")
            .execution_arn;
        let deadline = Instant::now() + patience;
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&execution)
                .send()
                .await
                .expect("described");
            if described.status != ExecutionStatus::Running {
                let output = described
                    .output
                    .as_deref()
                    .map(|text| serde_json::from_str(text).expect("output"))
                    .unwrap_or(Value::Null);
                return (described.status, described.error, output);
            }
            assert!(Instant::now() < deadline, "{execution} still running");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A task invoking the stand-in function, whose every error States.ALL may catch.
fn invoking(payload: Value) -> Value {
    json!({
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn("stand-in"), "Payload": payload},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test]
async fn a_state_output_over_256_kib_fails_the_execution_and_exactly_256_kib_does_not() {
    let (_moto, sdk) = local().await;
    // The output is the input's string and `"t":"ab"`: 17 bytes of JSON around it.
    let machine = Machine::create(
        &sdk,
        json!({
            "StartAt": "Grow",
            "States": {"Grow": {"Type": "Pass", "Parameters": {"s.$": "$.s", "t": "ab"}, "End": true}}
        }),
    )
    .await;
    let input = |bytes: usize| json!({"s": "x".repeat(bytes - 17)});
    let (status, error, _) = machine
        .run(&input(MAX_STATE), Duration::from_secs(60))
        .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let (status, error, _) = machine
        .run(&input(MAX_STATE + 1), Duration::from_secs(60))
        .await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("States.DataLimitExceeded"));
}

#[tokio::test]
async fn states_all_does_not_catch_a_task_result_over_256_kib() {
    let (function, _) = stand_in_function(json_of(300_000));
    let moto = Moto::start_forwarding_lambda(function).expect("moto");
    let sdk = moto.sdk_config().await;
    let machine = Machine::create(&sdk, invoking(json!({"any": "thing"}))).await;
    let (status, error, output) = machine.run(&json!({}), Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Failed, "{output}");
    assert_eq!(error.as_deref(), Some("States.DataLimitExceeded"));
}

#[tokio::test]
async fn states_all_does_not_catch_a_runtime_error() {
    let (_moto, sdk) = local().await;
    // A context object path that names nothing: States.Runtime, before any invocation.
    let machine = Machine::create(&sdk, invoking(json!({"absent.$": "$$.Execution.Absent"}))).await;
    let (status, error, output) = machine.run(&json!({}), Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Failed, "{output}");
    assert_eq!(error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn a_task_input_over_256_kib_fails_before_the_function_is_invoked() {
    let (function, served) = stand_in_function(b"{}".to_vec());
    let moto = Moto::start_forwarding_lambda(function).expect("moto");
    let sdk = moto.sdk_config().await;
    let machine = Machine::create(&sdk, invoking(json!({"a.$": "$.s", "b.$": "$.s"}))).await;
    let input = json!({"s": "x".repeat(140_000)});
    let (status, error, output) = machine.run(&input, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Failed, "{output}");
    assert_eq!(error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_function_response_over_6_mb_is_a_function_error() {
    let (function, _) = stand_in_function(json_of(6_291_457));
    let moto = Moto::start_forwarding_lambda(function).expect("moto");
    let sdk = moto.sdk_config().await;
    let machine = Machine::create(&sdk, invoking(json!({}))).await;
    let (status, error, output) = machine.run(&json!({}), Duration::from_secs(120)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    assert_eq!(
        output["error"]["Error"], "Function.ResponseSizeTooLarge",
        "{output}"
    );
    let cause: Value = serde_json::from_str(output["error"]["Cause"].as_str().unwrap_or("{}"))
        .expect("the function error's payload");
    assert_eq!(
        cause["errorMessage"],
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    );
}

#[tokio::test]
async fn an_execution_fails_at_its_25000th_history_event() {
    let (_moto, sdk) = local().await;
    let machine = Machine::create(
        &sdk,
        json!({
            "StartAt": "Spin",
            "States": {
                "Spin": {"Type": "Pass", "Next": "Again"},
                "Again": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.spin", "BooleanEquals": true, "Next": "Spin"}],
                    "Default": "Done"
                },
                "Done": {"Type": "Succeed"}
            }
        }),
    )
    .await;
    let (status, error, _) = machine
        .run(&json!({"spin": true}), Duration::from_secs(120))
        .await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("States.Runtime"));
    let executions = machine
        .sfn
        .list_executions()
        .state_machine_arn(&machine.arn)
        .send()
        .await
        .expect("executions");
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = machine
            .sfn
            .get_execution_history()
            .execution_arn(executions.executions()[0].execution_arn())
            .set_next_token(token)
            .send()
            .await
            .expect("history");
        events.extend(page.events().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(events.len(), 25_000);
    let event = events.last().expect("an event");
    assert_eq!(event.id(), 25_000);
    assert_eq!(event.r#type(), &HistoryEventType::ExecutionFailed);
    let details = event.execution_failed_event_details().expect("details");
    assert_eq!(
        details.cause(),
        Some("The execution reached the maximum number of history events (25000).")
    );
}

#[tokio::test]
async fn a_put_item_can_land_while_its_answer_is_lost() {
    let (moto, sdk) = local().await;
    table(&sdk).await;
    let once = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(once.clone().build());
    let put = |client: &aws_sdk_dynamodb::Client, pk: &str| {
        client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item_of(pk, 100)))
            .send()
    };

    moto.inject(&Fault::after_commit(
        "DynamoDB_20120810.PutItem",
        "InternalServerError",
    ))
    .expect("fault");
    let error = put(&dynamodb, "lost-answer")
        .await
        .expect_err("the answer is an error");
    assert_eq!(error.code(), Some("InternalServerError"), "{error:?}");
    assert_eq!(
        moto.faults_served("DynamoDB_20120810.PutItem")
            .expect("served"),
        1
    );
    assert!(
        stored(&dynamodb, "lost-answer").await.is_some(),
        "the put landed"
    );

    moto.inject(&Fault::held("DynamoDB_20120810.PutItem", 3))
        .expect("fault");
    let impatient = aws_sdk_dynamodb::Client::from_conf(
        once.timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build(),
    );
    let error = put(&impatient, "timed-out").await.expect_err("timed out");
    assert!(
        matches!(error, aws_sdk_dynamodb::error::SdkError::TimeoutError(_)),
        "{error:?}"
    );
    assert!(
        stored(&dynamodb, "timed-out").await.is_some(),
        "the put landed"
    );
}
