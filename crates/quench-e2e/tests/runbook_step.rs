//! runbook-step against the local stack: moto's DynamoDB, EC2, SSM Run Command and
//! CloudWatch, the incident opened by alarm-to-incident's handler from the seed events
//! (rewritten to name the instance moto created), and the step handler driven in-process
//! the way the state machine drives it: each response is the next request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use alarm_to_incident::{Handler as AlarmHandler, BUNDLED_CONFIG};
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ssm::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ssm::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chrono::Utc;
use quench_aws::actions::AwsActions;
use quench_aws::mirror::AwsMirror;
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::incident::{DecisionKind, TimelineKind};
use quench_core::ports::{IncidentLog, StepRun, StepStore};
use quench_core::runbook::{Next, StepOutcome, StepStatus};
use quench_local_stack::incident_response::{
    create_seed_alarms, launch_instance, seed_event, set_alarm_state,
};
use quench_local_stack::{create_table, Moto};
use runbook_step::{Handler, HandlerError, IncidentRef, PendingHandle, Request, Response};

/// Answers lost on their way back: the request reaches the local stack and is applied,
/// and the caller gets a 500 in place of the answer, as after a dropped connection or a
/// gateway fault. Armed per operation (`SendCommand`, `RebootInstances`); counts every
/// attempt of it that reached the stack.
#[derive(Debug, Clone, Default)]
struct LostAnswers {
    /// The operation, and how many of its answers to lose.
    armed: Arc<Mutex<Option<(&'static str, u32)>>>,
    /// The current attempt's answer is to be lost.
    losing: Arc<AtomicBool>,
    sent: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl LostAnswers {
    fn lose(&self, operation: &'static str, count: u32) {
        *self.armed.lock().expect("lock") = Some((operation, count));
    }

    fn sent(&self, operation: &str) -> u32 {
        self.sent
            .lock()
            .expect("lock")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

/// The operation of a request to SSM (JSON: the target header) or EC2 (query: `Action`).
fn operation(request: &aws_smithy_runtime_api::http::Request) -> Option<String> {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().map(str::to_string);
    }
    let body = std::str::from_utf8(request.body().bytes()?).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}

impl Intercept for LostAnswers {
    fn name(&self) -> &'static str {
        "LostAnswers"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = operation(context.request()) else {
            return Ok(());
        };
        *self
            .sent
            .lock()
            .expect("lock")
            .entry(operation.clone())
            .or_default() += 1;
        let mut armed = self.armed.lock().expect("lock");
        if let Some((target, left)) = armed.as_mut() {
            if *target == operation && *left > 0 {
                *left -= 1;
                self.losing.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.losing.swap(false, Ordering::SeqCst) {
            let response = context.response_mut();
            *response.status_mut() = StatusCode::try_from(500u16)?;
            let json = response
                .headers()
                .get("content-type")
                .is_some_and(|t| t.contains("json"));
            *response.body_mut() = SdkBody::from(if json {
                r#"{"__type":"InternalServerError","message":"the answer was lost"}"#
            } else {
                "<Response><Errors><Error><Code>InternalError</Code><Message>the answer was lost</Message></Error></Errors><RequestID>lost</RequestID></Response>"
            });
        }
        Ok(())
    }
}

struct Local {
    _moto: Moto,
    lost: LostAnswers,
    alarms: AlarmHandler<DynamoStore, AwsMirror>,
    steps: Handler<DynamoStore, AwsActions>,
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    instance: String,
}

async fn local() -> Local {
    let moto = Moto::start().expect("moto starts");
    let sdk = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "quench-e2e";
    create_table(&dynamodb, table).await.expect("table created");
    let lost = LostAnswers::default();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .interceptor(lost.clone())
            .build(),
    );
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sdk)
            .interceptor(lost.clone())
            .build(),
    );
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let instance = launch_instance(&ec2).await.expect("instance launched");
    create_seed_alarms(&cloudwatch, &instance)
        .await
        .expect("alarms created");
    let config = Config::parse(BUNDLED_CONFIG).expect("config");
    Local {
        alarms: AlarmHandler {
            config: config.clone(),
            store: DynamoStore::new(dynamodb.clone(), table),
            mirror: None,
        },
        steps: Handler {
            config,
            store: DynamoStore::new(dynamodb, table),
            actions: AwsActions::new(ssm.clone(), ec2.clone(), cloudwatch.clone()),
            max_wait_seconds: Some(0),
        },
        ssm,
        ec2,
        cloudwatch,
        instance,
        lost,
        _moto: moto,
    }
}

impl Local {
    /// Opens the incident for a seed event aimed at our instance; returns the first request.
    async fn open(&self, sample: &str, rewrite: &[(&str, &str)]) -> Request {
        let raw = seed_event(sample, &self.instance, rewrite).expect("sample");
        let opened = self
            .alarms
            .handle(&raw, Utc::now())
            .await
            .expect("alarm handled");
        assert_eq!(opened.decision.decision, DecisionKind::Opened);
        Request {
            incident: IncidentRef {
                incident_id: opened.decision.incident_id.clone().expect("incident id"),
                dedup_key: Some(opened.decision.dedup_key.clone()),
                plan: Some(opened.decision.plan.clone()),
                episode: None,
            },
            runbook: opened.runbook.clone().expect("plan has a runbook"),
            position: None,
            outputs: Default::default(),
            pending: None,
            next: None,
        }
    }

    async fn step(&self, request: &Request) -> Response {
        // Through JSON both ways, as the state machine passes it.
        let raw = serde_json::to_string(request).expect("request encodes");
        self.steps
            .handle(&raw, Utc::now())
            .await
            .expect("step handled")
    }

    /// Drives the runbook like the ASL: invoke, wait (capped to 0), invoke, ... until it
    /// resolves, escalates or asks to verify. Returns every response.
    async fn drive(&self, first: Request) -> Vec<Response> {
        let mut request = first;
        let mut responses = Vec::new();
        for _ in 0..50 {
            let response = self.step(&request).await;
            let next = response.next.clone();
            let value = serde_json::to_value(&response).expect("response encodes");
            responses.push(response);
            match next {
                Next::Step { .. } | Next::Poll { .. } | Next::Wait { .. } => {
                    request = serde_json::from_value(value).expect("response is the next request");
                }
                Next::Resolve { .. } | Next::Escalate { .. } | Next::Verify | Next::Stop { .. } => {
                    return responses
                }
            }
        }
        panic!("runbook did not end in 50 invocations");
    }

    /// The outcome of `step` that `response` refers to, read from the table.
    async fn recorded(&self, response: &Response, step: &str) -> StepOutcome {
        let run = StepRun {
            incident_id: response.incident.incident_id.clone(),
            episode: response.incident.episode.expect("episode"),
            run: response.outputs.steps[step],
            step: step.to_string(),
        };
        self.steps
            .store
            .outcome(&run)
            .await
            .expect("read")
            .expect("recorded")
    }

    async fn commands_sent(&self) -> usize {
        self.ssm
            .list_commands()
            .send()
            .await
            .expect("list commands")
            .commands()
            .len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reboot_and_verify_reboots_waits_checks_and_resolves() {
    let local = local().await;
    let first = local.open("instance-check-failed-alarm.json", &[]).await;
    assert_eq!(first.runbook, "reboot-and-verify");
    let incident_id = first.incident.incident_id.clone();
    // The reboot fixed it: CloudWatch says OK by the time the runbook ends.
    set_alarm_state(
        &local.cloudwatch,
        "web-1-status-check-failed",
        StateValue::Ok,
    )
    .await
    .expect("alarm state");

    let responses = local.drive(first).await;
    let kinds: Vec<&str> = responses.iter().map(|r| r.next.kind()).collect();
    assert_eq!(kinds, vec!["wait", "resolve"], "{responses:#?}");

    let reboot = &responses[0];
    assert_eq!(reboot.step.as_deref(), Some("reboot"));
    assert_eq!(
        reboot.outcome.as_ref().map(|o| o.status),
        Some(StepStatus::Succeeded)
    );
    assert!(
        matches!(&reboot.next, Next::Wait { seconds: 300, then: Some(then), .. } if then == "status")
    );
    assert_eq!(
        reboot.wait_seconds, 0,
        "QUENCH_MAX_WAIT_SECONDS caps the wait"
    );
    assert_eq!(reboot.position.as_deref(), Some("status"));

    let last = &responses[1];
    assert_eq!(last.step.as_deref(), Some("status"));
    let status = local.recorded(last, "status").await.output;
    assert_eq!(status["instance_state"].to_string(), "running");
    assert_eq!(status["instance_status"].to_string(), "ok");
    assert!(
        matches!(&last.next, Next::Resolve { step: Some(s), reason, .. }
        if s == "healthy" && reason.contains("the condition of `healthy` held"))
    );
    assert_eq!(last.outputs.runs, 2);

    let timeline = local
        .steps
        .store
        .timeline(&incident_id)
        .await
        .expect("timeline");
    let kinds: Vec<TimelineKind> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Step,
            TimelineKind::Step,
            TimelineKind::Step
        ]
    );
    assert!(timeline[1]
        .summary
        .contains("ec2.reboot `reboot` succeeded"));
    assert!(timeline[2].summary.contains("running"));
    assert!(timeline[3]
        .summary
        .contains("web-1-status-check-failed is OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_instance_escalates_after_the_reboot() {
    let local = local().await;
    let first = local.open("instance-check-failed-alarm.json", &[]).await;
    // Reboot first, then stop the instance during the settle wait.
    let reboot = local.step(&first).await;
    assert_eq!(reboot.next.kind(), "wait");
    local
        .ec2
        .stop_instances()
        .instance_ids(&local.instance)
        .send()
        .await
        .expect("stopped");
    let next: Request =
        serde_json::from_value(serde_json::to_value(&reboot).expect("json")).expect("request");
    let responses = local.drive(next).await;
    let last = responses.last().expect("a response");
    let status = local.recorded(last, "status").await.output;
    assert_eq!(status["instance_state"].to_string(), "stopped");
    assert_eq!(status["instance_status"].to_string(), "not-applicable");
    assert!(matches!(&last.next, Next::Escalate { .. }), "{last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_process_name_is_refused_recorded_and_escalates_without_a_command() {
    let local = local().await;
    let first = local
        .open(
            "agent-process-gone-alarm.json",
            &[(r#""exe": "nginx""#, r#""exe": "nginx; rm -rf /""#)],
        )
        .await;
    assert_eq!(first.runbook, "restart-process");
    let incident_id = first.incident.incident_id.clone();

    let responses = local.drive(first).await;
    assert_eq!(responses.len(), 1, "{responses:#?}");
    let refused = &responses[0];
    assert_eq!(refused.step.as_deref(), Some("restart"));
    let outcome = refused.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::Refused);
    assert!(outcome.summary.contains("process"), "{}", outcome.summary);
    assert!(
        matches!(&refused.next, Next::Escalate { step: Some(s), .. } if s == "restart"),
        "{:?}",
        refused.next
    );
    assert_eq!(local.commands_sent().await, 0, "nothing reached SSM");

    let timeline = local
        .steps
        .store
        .timeline(&incident_id)
        .await
        .expect("timeline");
    let step_events: Vec<_> = timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Step)
        .collect();
    assert_eq!(step_events.len(), 1);
    assert!(step_events[0].summary.contains("refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_step_sends_its_command_once_and_records_it_once() {
    let local = local().await;
    let first = local.open("cpu-high-alarm.json", &[]).await;
    assert_eq!(first.runbook, "cpu-diagnostics");
    set_alarm_state(&local.cloudwatch, "web-1-cpu-high", StateValue::Alarm)
        .await
        .expect("alarm state");
    let incident_id = first.incident.incident_id.clone();

    // The state machine retries the same invocation (say, its response was lost).
    let sent = local.step(&first).await;
    let retried = local.step(&first).await;
    assert_eq!(local.commands_sent().await, 1, "one SendCommand");
    assert_eq!(sent.next.kind(), "poll");
    assert_eq!(sent.position.as_deref(), Some("snapshot"));
    let command_id = |r: &Response| match r.pending.as_ref().map(|p| &p.handle) {
        Some(PendingHandle::RunCommand { command_id, .. }) => command_id.clone(),
        other => panic!("no pending command: {other:?}"),
    };
    assert_eq!(command_id(&sent), command_id(&retried));

    let listed = local.ssm.list_commands().send().await.expect("list");
    let command = &listed.commands()[0];
    assert_eq!(command.document_name(), Some("AWS-RunShellScript"));
    assert_eq!(
        command.instance_ids(),
        std::slice::from_ref(&local.instance)
    );
    let parameters = command.parameters().expect("parameters");
    assert_eq!(
        parameters["commands"],
        vec![
            "vmstat 1 5".to_string(),
            "top -b -n 1 | head -20".to_string()
        ]
    );
    assert_eq!(parameters["executionTimeout"], vec!["60".to_string()]);

    // The poll that finishes the step, retried too: one timeline entry.
    let poll: Request =
        serde_json::from_value(serde_json::to_value(&sent).expect("json")).expect("request");
    let done = local.step(&poll).await;
    let done_again = local.step(&poll).await;
    assert_eq!(done, done_again);
    let outcome = done.outcome.as_ref().expect("finished");
    assert_eq!(outcome.status, StepStatus::Succeeded);
    let output = local.recorded(&done, "snapshot").await.output;
    assert_eq!(output["command_id"].to_string(), command_id(&sent));
    assert_eq!(output["exit_code"].to_string(), "0");
    assert!(matches!(&done.next, Next::Step { step } if step == "record"));

    let rest = local
        .drive(serde_json::from_value(serde_json::to_value(&done).expect("json")).expect("req"))
        .await;
    let last = rest.last().expect("a response");
    assert_eq!(last.step.as_deref(), Some("record"));
    // The runbook ran to its end and the alarm still alarms: people are needed.
    assert!(
        matches!(&last.next, Next::Escalate { step: None, reason } if reason.contains("web-1-cpu-high is still ALARM")),
        "{:?}",
        last.next
    );
    assert_eq!(local.commands_sent().await, 1);

    let timeline = local
        .steps
        .store
        .timeline(&incident_id)
        .await
        .expect("timeline");
    let steps: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Step)
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(steps[0].starts_with("run_command `snapshot` succeeded"));
    assert!(steps[1].starts_with("note `record` succeeded: CPU snapshot of"));
    assert!(steps[2]
        .starts_with("alarm.state at the end of the runbook succeeded: web-1-cpu-high is ALARM"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_whose_answer_was_lost_is_found_and_not_sent_again() {
    let local = local().await;
    let first = local.open("cpu-high-alarm.json", &[]).await;
    set_alarm_state(&local.cloudwatch, "web-1-cpu-high", StateValue::Alarm)
        .await
        .expect("alarm state");
    // SSM runs the command; its answer never reaches the step.
    local.lost.lose("SendCommand", 1);
    let raw = serde_json::to_string(&first).expect("request encodes");
    let attempt = local.steps.handle(&raw, Utc::now()).await;
    // The state machine retries the invocation.
    let retried = local.step(&first).await;

    assert_eq!(
        local.commands_sent().await,
        1,
        "SendCommand reached SSM {} times",
        local.lost.sent("SendCommand")
    );
    assert_eq!(local.lost.sent("SendCommand"), 1);
    assert!(
        matches!(attempt, Err(HandlerError::Retryable(_))),
        "{attempt:?}"
    );
    let listed = local.ssm.list_commands().send().await.expect("list");
    let sent = listed.commands()[0].command_id().expect("id").to_string();
    assert!(
        matches!(retried.pending.as_ref().map(|p| &p.handle),
            Some(PendingHandle::RunCommand { command_id, .. }) if *command_id == sent),
        "{retried:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reboot_whose_answer_was_lost_counts_as_requested_and_is_not_repeated() {
    let local = local().await;
    let first = local.open("instance-check-failed-alarm.json", &[]).await;
    local.lost.lose("RebootInstances", 1);
    let raw = serde_json::to_string(&first).expect("request encodes");
    let attempt = local.steps.handle(&raw, Utc::now()).await;
    let retried = local.step(&first).await;

    assert_eq!(
        local.lost.sent("RebootInstances"),
        1,
        "RebootInstances reached EC2 more than once"
    );
    assert!(
        matches!(attempt, Err(HandlerError::Retryable(_))),
        "{attempt:?}"
    );
    assert_eq!(retried.step.as_deref(), Some("reboot"));
    let outcome = retried.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::Succeeded);
    assert!(
        outcome
            .summary
            .contains("the answer to an earlier request was lost"),
        "{}",
        outcome.summary
    );
    assert_eq!(
        retried.next.kind(),
        "wait",
        "on to the settle and the status check"
    );
}
