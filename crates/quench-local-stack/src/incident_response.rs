//! The seed scenario on the local stack: one EC2 instance and its three alarms in moto,
//! and the deployed incident-response state machine executed by moto's Step Functions
//! interpreter against the real handlers under `cargo lambda watch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use serde_json::Value;

use crate::sink::Sink;
use crate::{
    create_table, free_port, function_arn, sample_event, state_machine_definition, LambdaWatch,
    Moto, StackError, ACCOUNT, REGION,
};

/// The instance id the sample events name; rewritten to the instance moto launched.
pub const SAMPLE_INSTANCE: &str = "i-0abc1234def567890";

/// One of DESIGN.md's three seed alarms, as its sample events describe it.
pub struct SeedAlarm {
    pub name: &'static str,
    pub alarm_event: &'static str,
    pub ok_event: &'static str,
    namespace: &'static str,
    metric: &'static str,
    comparison: ComparisonOperator,
    threshold: f64,
    /// `exe` for the agent's process count.
    process: Option<&'static str>,
}

pub const CPU_HIGH: usize = 0;
pub const INSTANCE_CHECK: usize = 1;
pub const PROCESS_GONE: usize = 2;

pub fn seed_alarms() -> [SeedAlarm; 3] {
    [
        SeedAlarm {
            name: "web-1-cpu-high",
            alarm_event: "cpu-high-alarm.json",
            ok_event: "cpu-high-ok.json",
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            comparison: ComparisonOperator::GreaterThanThreshold,
            threshold: 90.0,
            process: None,
        },
        SeedAlarm {
            name: "web-1-status-check-failed",
            alarm_event: "instance-check-failed-alarm.json",
            ok_event: "instance-check-failed-ok.json",
            namespace: "AWS/EC2",
            metric: "StatusCheckFailed_Instance",
            comparison: ComparisonOperator::GreaterThanThreshold,
            threshold: 0.0,
            process: None,
        },
        SeedAlarm {
            name: "web-1-nginx-gone",
            alarm_event: "agent-process-gone-alarm.json",
            ok_event: "agent-process-gone-ok.json",
            namespace: "CWAgent",
            metric: "procstat_lookup_pid_count",
            comparison: ComparisonOperator::LessThanOrEqualToThreshold,
            threshold: 0.0,
            process: Some("nginx"),
        },
    ]
}

fn aws<E: std::error::Error + 'static>(error: E) -> StackError {
    StackError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string())
}

/// The instance the seed alarms watch.
pub async fn launch_instance(ec2: &aws_sdk_ec2::Client) -> Result<String, StackError> {
    let reservation = ec2
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .map_err(aws)?;
    reservation
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
        .ok_or_else(|| StackError::Aws("RunInstances returned no instance".into()))
}

/// Creates the three seed alarms on `instance`.
pub async fn create_seed_alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    instance: &str,
) -> Result<(), StackError> {
    for alarm in seed_alarms() {
        let mut request = cloudwatch
            .put_metric_alarm()
            .alarm_name(alarm.name)
            .namespace(alarm.namespace)
            .metric_name(alarm.metric)
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(alarm.threshold)
            .comparison_operator(alarm.comparison)
            .dimensions(
                Dimension::builder()
                    .name("InstanceId")
                    .value(instance)
                    .build(),
            );
        if let Some(process) = alarm.process {
            request = request.dimensions(Dimension::builder().name("exe").value(process).build());
        }
        request.send().await.map_err(aws)?;
    }
    Ok(())
}

/// What CloudWatch would report now; the runbooks read it when they end.
pub async fn set_alarm_state(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
    state: StateValue,
) -> Result<(), StackError> {
    cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state.clone())
        .state_reason(format!("set to {} by the scenario", state.as_str()))
        .send()
        .await
        .map_err(aws)?;
    Ok(())
}

/// A sample event about `instance` instead of the sample's instance, with `rewrite`
/// replacements on top.
pub fn seed_event(
    sample: &str,
    instance: &str,
    rewrite: &[(&str, &str)],
) -> Result<String, StackError> {
    let mut raw = sample_event(sample)?.replace(SAMPLE_INSTANCE, instance);
    for (from, to) in rewrite {
        raw = raw.replace(from, to);
    }
    Ok(raw)
}

/// The same EventBridge alarm event, happening now: its state time becomes the current
/// time and its other times move with it, so a replayed incident's timeline reads in
/// order with the runbook steps that follow it.
pub fn happening_now(raw: &str) -> Result<String, StackError> {
    use chrono::{DateTime, SecondsFormat, Utc};
    let bad = |what: &str| StackError::Template(format!("not an EventBridge alarm event: {what}"));
    let mut event: Value = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
    let parse = |text: &str| {
        DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
            .or_else(|_| DateTime::parse_from_rfc3339(text))
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(&format!("{text}: {e}")))
    };
    let state_at = parse(
        event["detail"]["state"]["timestamp"]
            .as_str()
            .ok_or_else(|| bad("no detail.state.timestamp"))?,
    )?;
    let offset = Utc::now() - state_at;
    let cloudwatch_form = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    for path in [["detail", "state"], ["detail", "previousState"]] {
        let slot = &mut event[path[0]][path[1]]["timestamp"];
        if let Some(text) = slot.as_str() {
            *slot = Value::String(cloudwatch_form(parse(text)? + offset));
        }
    }
    if let Some(text) = event["time"].as_str() {
        event["time"] =
            Value::String((parse(text)? + offset).to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    Ok(event.to_string())
}

/// The secrets, topic and queues the example config's chat channels name, pointing at the
/// sink: tokens and URLs in Secrets Manager and SSM SecureString, as in production.
pub struct ChatStandIns {
    pub sqs: aws_sdk_sqs::Client,
    pub chatbot_inbox: String,
    pub dead_letters: String,
}

impl ChatStandIns {
    pub async fn create(sdk: &SdkConfig, sink: &Sink) -> Result<Self, StackError> {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        for (name, value) in [
            (
                "quench/chat/slack-bot-token",
                "xoxb-local-test-token".to_string(),
            ),
            (
                "quench/chat/audit-signing-key",
                "local-signing-key".to_string(),
            ),
        ] {
            secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .map_err(aws)?;
        }
        let ssm = aws_sdk_ssm::Client::new(sdk);
        for (name, path) in [
            ("/quench/chat/teams-webhook", "/teams"),
            ("/quench/chat/chime-webhook", "/chime"),
            ("/quench/chat/audit-webhook", "/audit"),
        ] {
            ssm.put_parameter()
                .name(name)
                .value(sink.url(path))
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .map_err(aws)?;
        }
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dead_letters = create_queue(&sqs, "quench-chat-dead-letters").await?;
        // Raw: Chatbot reads the notification itself, not an SNS envelope.
        let (_, chatbot_inbox) =
            topic_with_inbox(sdk, &sqs, "quench-chatbot", "quench-chatbot-inbox", true).await?;
        Ok(ChatStandIns {
            sqs,
            chatbot_inbox,
            dead_letters,
        })
    }
}

/// The stack's pages topic, with an SQS queue subscribed (not raw, so each message keeps
/// its `contact` attribute) where a test reads the email pages.
pub struct PagesStandIn {
    pub topic_arn: String,
    pub inbox: String,
}

impl PagesStandIn {
    pub async fn create(sdk: &SdkConfig, sqs: &aws_sdk_sqs::Client) -> Result<Self, StackError> {
        let (topic_arn, inbox) =
            topic_with_inbox(sdk, sqs, "quench-pages", "quench-pages-inbox", false).await?;
        Ok(PagesStandIn { topic_arn, inbox })
    }
}

/// A new SQS queue; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, StackError> {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(aws)?
        .queue_url
        .ok_or_else(|| StackError::Aws(format!("queue {name} has no URL")))
}

/// A new SNS topic; returns its ARN.
pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String, StackError> {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .map_err(aws)?
        .topic_arn
        .ok_or_else(|| StackError::Aws(format!("topic {name} has no ARN")))
}

/// An SNS topic with an SQS queue subscribed to it; returns (topic ARN, queue URL).
async fn topic_with_inbox(
    sdk: &SdkConfig,
    sqs: &aws_sdk_sqs::Client,
    topic: &str,
    queue: &str,
    raw: bool,
) -> Result<(String, String), StackError> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let topic_arn = create_topic(&sns, topic).await?;
    let inbox = create_queue(sqs, queue).await?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"))
        .attributes("RawMessageDelivery", raw.to_string())
        .send()
        .await
        .map_err(aws)?;
    Ok((topic_arn, inbox))
}

/// Every message waiting in `queue`, as JSON, removed from it.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<Vec<Value>, StackError> {
    let mut messages = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(aws)?;
        let batch = received.messages.unwrap_or_default();
        if batch.is_empty() {
            return Ok(messages);
        }
        for message in batch {
            if let Some(body) = message.body() {
                messages.push(serde_json::from_str(body).unwrap_or(Value::String(body.into())));
            }
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(aws)?;
            }
        }
    }
}

impl IncidentResponse {
    /// The seed alarm's ALARM (or, with `recovery`, its OK) event about this stack's
    /// instance, happening now.
    pub fn seed_input(&self, alarm: &SeedAlarm, recovery: bool) -> Result<String, StackError> {
        let sample = if recovery {
            alarm.ok_event
        } else {
            alarm.alarm_event
        };
        happening_now(&seed_event(sample, &self.instance, &[])?)
    }
}

/// One finished execution.
#[derive(Debug)]
pub struct Execution {
    pub arn: String,
    pub status: ExecutionStatus,
    pub output: Value,
    pub error: Option<String>,
    pub wall: Duration,
}

/// moto, `cargo lambda watch` serving both functions, the table, the seed instance and
/// alarms, and the deployed state machine.
pub struct IncidentResponse {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub machine: String,
    pub instance: String,
    /// Stands in for Slack, Teams, Chime and the audit webhook of the example config.
    pub sink: Sink,
    pub sqs: aws_sdk_sqs::Client,
    /// Receives what is published to the Chatbot topic.
    pub chatbot_inbox: String,
    pub chat_dead_letters: String,
    /// Receives what is published to the pages topic (email pages).
    pub pages_inbox: String,
    runs: AtomicUsize,
    _watch: LambdaWatch,
    pub moto: Moto,
}

impl IncidentResponse {
    /// `max_wait_seconds` caps every runbook wait (`QUENCH_MAX_WAIT_SECONDS`), so a
    /// runbook's `sleep: 5m` takes no time here.
    pub async fn start(table: &str, max_wait_seconds: u64) -> Result<Self, StackError> {
        Self::start_with_env(table, max_wait_seconds, &[]).await
    }

    /// As [`IncidentResponse::start`], with `extra` in the functions' environment (a
    /// test's own config through `QUENCH_CONFIG_FILE`, say).
    pub async fn start_with_env(
        table: &str,
        max_wait_seconds: u64,
        extra: &[(String, String)],
    ) -> Result<Self, StackError> {
        let lambda_port = free_port()?;
        let moto = Moto::start_forwarding_lambda(lambda_port)?;
        let sdk = moto.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        create_table(&dynamodb, table).await?;
        let sink = Sink::start()?;
        let chat = ChatStandIns::create(&sdk, &sink).await?;
        let pages = PagesStandIn::create(&sdk, &chat.sqs).await?;
        let mut env = moto.function_env(table);
        env.push(("QUENCH_PAGES_TOPIC".into(), pages.topic_arn.clone()));
        env.push((
            "QUENCH_MAX_WAIT_SECONDS".into(),
            max_wait_seconds.to_string(),
        ));
        env.push(("QUENCH_SLACK_API_URL".into(), sink.url("/slack/api")));
        env.push((
            "QUENCH_CHAT_DEAD_LETTER_QUEUE".into(),
            chat.dead_letters.clone(),
        ));
        env.extend(extra.iter().cloned());
        let watch = LambdaWatch::start_on(lambda_port, &env)?;
        let definition = state_machine_definition(
            "incident-response.asl.json",
            &[
                (
                    "AlarmToIncidentFunctionArn",
                    function_arn("alarm-to-incident"),
                ),
                ("RunbookStepFunctionArn", function_arn("runbook-step")),
                ("ChatNotifierFunctionArn", function_arn("chat-notifier")),
                (
                    "EscalationTickerFunctionArn",
                    function_arn("escalation-ticker"),
                ),
            ],
        )?;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let machine = sfn
            .create_state_machine()
            .name("incident-response")
            .definition(definition)
            .role_arn("arn:aws:iam::123456789012:role/quench-state-machine")
            .send()
            .await
            .map_err(aws)?
            .state_machine_arn;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
        let instance = launch_instance(&ec2).await?;
        create_seed_alarms(&cloudwatch, &instance).await?;
        Ok(IncidentResponse {
            sfn,
            cloudwatch,
            ssm: aws_sdk_ssm::Client::new(&sdk),
            dynamodb,
            table: table.to_string(),
            machine,
            instance,
            sink,
            sqs: chat.sqs,
            chatbot_inbox: chat.chatbot_inbox,
            chat_dead_letters: chat.dead_letters,
            pages_inbox: pages.inbox,
            runs: AtomicUsize::new(0),
            _watch: watch,
            moto,
        })
    }

    /// Starts an execution on `input`.
    pub async fn start_execution(&self, input: &str) -> Result<String, StackError> {
        // moto names unnamed executions "None", so a second one would collide.
        let name = format!("run-{}", self.runs.fetch_add(1, Ordering::Relaxed));
        Ok(self
            .sfn
            .start_execution()
            .state_machine_arn(&self.machine)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(aws)?
            .execution_arn)
    }

    /// Waits for an execution to end. Patient: its first task may wait for `cargo lambda
    /// watch` to build a function.
    pub async fn finish(&self, arn: &str, started: Instant) -> Result<Execution, StackError> {
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .map_err(aws)?;
            if described.status != ExecutionStatus::Running {
                let output = match described.output.as_deref() {
                    Some(text) => serde_json::from_str(text)
                        .map_err(|e| StackError::Aws(format!("execution output: {e}")))?,
                    None => Value::Null,
                };
                return Ok(Execution {
                    arn: arn.to_string(),
                    status: described.status,
                    output,
                    error: described.error,
                    wall: started.elapsed(),
                });
            }
            if Instant::now() > deadline {
                return Err(StackError::NotReady(format!("execution {arn}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one execution to its end.
    pub async fn run(&self, input: &str) -> Result<Execution, StackError> {
        let started = Instant::now();
        let arn = self.start_execution(input).await?;
        self.finish(&arn, started).await
    }

    /// The execution's history, oldest first.
    pub async fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, StackError> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(aws)?;
            events.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(events);
            }
        }
    }

    /// Every command sent to SSM Run Command so far: (document, commands).
    pub async fn commands_sent(&self) -> Result<Vec<(String, Vec<String>)>, StackError> {
        let listed = self.ssm.list_commands().send().await.map_err(aws)?;
        Ok(listed
            .commands()
            .iter()
            .map(|c| {
                (
                    c.document_name().unwrap_or_default().to_string(),
                    c.parameters()
                        .and_then(|p| p.get("commands"))
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect())
    }
}
