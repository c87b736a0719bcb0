//! [`AwsActions`] against mocked SSM, EC2 and CloudWatch clients: each call, how its
//! failures are classified, and that a retried call is the same call.

use std::time::Duration;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_ec2::operation::describe_instance_status::DescribeInstanceStatusOutput;
use aws_sdk_ec2::operation::reboot_instances::RebootInstancesOutput;
use aws_sdk_ec2::types::{InstanceState, InstanceStateName, InstanceStatusSummary, SummaryStatus};
use aws_sdk_ssm::operation::get_automation_execution::GetAutomationExecutionOutput;
use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput;
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::SendCommandOutput;
use aws_sdk_ssm::operation::start_automation_execution::StartAutomationExecutionOutput;
use aws_sdk_ssm::types::error::InvocationDoesNotExist;
use aws_sdk_ssm::types::{
    AutomationExecution, AutomationExecutionStatus, Command, CommandInvocationStatus,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use quench_core::text::TRUNCATION_MARKER;

use std::collections::BTreeMap;

use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError;
use quench_aws::actions::{AwsActions, AUTOMATION_ROLE_PARAMETER};
use quench_core::ports::{
    ActionError, ActionRunner, AutomationResult, CommandFinished, CommandRequest, CommandResult,
    InstanceStatus,
};
use quench_core::runbook::StepStatus;

fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

fn ssm_client(rules: &[&Rule]) -> aws_sdk_ssm::Client {
    mock_client!(aws_sdk_ssm, RuleMode::Sequential, rules, |c| c
        .retry_config(fast_retries()))
}

fn ec2_client(rules: &[&Rule]) -> aws_sdk_ec2::Client {
    mock_client!(aws_sdk_ec2, RuleMode::Sequential, rules, |c| c
        .retry_config(fast_retries()))
}

fn cloudwatch_client(rules: &[&Rule]) -> aws_sdk_cloudwatch::Client {
    mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, rules)
}

fn with_ssm(rules: &[&Rule]) -> AwsActions {
    AwsActions::new(ssm_client(rules), ec2_client(&[]), cloudwatch_client(&[]))
}

fn with_ec2(rules: &[&Rule]) -> AwsActions {
    AwsActions::new(ssm_client(&[]), ec2_client(rules), cloudwatch_client(&[]))
}

fn with_cloudwatch(rules: &[&Rule]) -> AwsActions {
    AwsActions::new(ssm_client(&[]), ec2_client(&[]), cloudwatch_client(rules))
}

fn shell_request() -> CommandRequest {
    CommandRequest {
        document: "AWS-RunShellScript".into(),
        parameters: BTreeMap::from([
            ("commands".to_string(), vec!["vmstat 1 5".to_string()]),
            ("executionTimeout".to_string(), vec!["60".to_string()]),
        ]),
        targets: vec!["i-0abc1234def567890".into()],
        timeout_seconds: 60,
        comment: "quench inc-1 step snapshot".into(),
        marker: "quench-0123456789abcdef".into(),
    }
}

#[tokio::test]
async fn send_command_passes_document_parameters_and_targets() {
    let rule = mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(|r| {
            r.document_name() == Some("AWS-RunShellScript")
                && r.instance_ids() == ["i-0abc1234def567890"]
                && r.parameters().and_then(|p| p.get("commands"))
                    == Some(&vec!["vmstat 1 5".to_string()])
                && r.parameters().and_then(|p| p.get("executionTimeout"))
                    == Some(&vec!["60".to_string()])
                && r.timeout_seconds() == Some(60)
                && r.comment() == Some("quench-0123456789abcdef quench inc-1 step snapshot")
        })
        .then_output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-1").build())
                .build()
        });
    let actions = with_ssm(&[&rule]);
    let id = actions.send_command(&shell_request()).await.expect("sent");
    assert_eq!(id, "cmd-1");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_send_is_made_once_whatever_its_answer() {
    // A server error may come after SSM ran the command: sending again could run it twice,
    // so the step, not the SDK, decides what comes next.
    let lost = r#"{"__type":"InternalServerError","message":"try again"}"#;
    let rule = mock!(aws_sdk_ssm::Client::send_command)
        .sequence()
        .http_status(500, Some(lost.to_string()))
        .times(3)
        .build();
    let actions = with_ssm(&[&rule]);
    let error = actions
        .send_command(&shell_request())
        .await
        .expect_err("lost");
    assert_eq!(rule.num_calls(), 1);
    assert!(error.may_have_acted(), "{error:?}");
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_command_whose_answer_was_lost_is_found_by_its_marker() {
    let since = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:05:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let command =
        |id: &str, comment: &str| Command::builder().command_id(id).comment(comment).build();
    let first = mock!(aws_sdk_ssm::Client::list_commands)
        .match_requests(|r| {
            r.instance_id() == Some("i-0abc1234def567890")
                && r.next_token().is_none()
                && r.filters().iter().any(|f| {
                    f.key() == &aws_sdk_ssm::types::CommandFilterKey::InvokedAfter
                        && f.value() == "2026-11-20T10:00:00Z"
                })
        })
        .then_output(move || {
            ListCommandsOutput::builder()
                .commands(command(
                    "cmd-other",
                    "quench-fedcba9876543210 quench inc-1 other",
                ))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_ssm::Client::list_commands)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            ListCommandsOutput::builder()
                .commands(command(
                    "cmd-lost",
                    "quench-0123456789abcdef quench inc-1 step snapshot",
                ))
                .build()
        });
    let actions = with_ssm(&[&first, &second]);
    let found = actions
        .find_command(&shell_request(), since)
        .await
        .expect("listed");
    assert_eq!(found.as_deref(), Some("cmd-lost"));

    let none = mock!(aws_sdk_ssm::Client::list_commands)
        .then_output(|| ListCommandsOutput::builder().build());
    let actions = with_ssm(&[&none]);
    assert_eq!(
        actions
            .find_command(&shell_request(), since)
            .await
            .expect("listed"),
        None
    );
}

#[tokio::test]
async fn persistent_throttling_is_a_retryable_error_without_the_parameters() {
    let throttle = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let rule = mock!(aws_sdk_ssm::Client::send_command)
        .sequence()
        .http_status(400, Some(throttle.to_string()))
        .times(3)
        .build();
    let actions = with_ssm(&[&rule]);
    let error = actions
        .send_command(&shell_request())
        .await
        .expect_err("throttled");
    assert!(matches!(error, ActionError::Throttled(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        !error.may_have_acted(),
        "a throttled call was answered without acting"
    );
    assert!(!error.to_string().contains("vmstat"), "{error}");
}

#[tokio::test]
async fn invocation_does_not_exist_right_after_send_is_pending() {
    let rule = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(|r| {
            r.command_id() == Some("cmd-1") && r.instance_id() == Some("i-0abc1234def567890")
        })
        .then_error(|| {
            GetCommandInvocationError::InvocationDoesNotExist(
                InvocationDoesNotExist::builder().build(),
            )
        });
    let actions = with_ssm(&[&rule]);
    let result = actions
        .command_result("cmd-1", "i-0abc1234def567890", 4096)
        .await
        .expect("pending");
    assert_eq!(result, CommandResult::Pending);
}

fn invocation(status: CommandInvocationStatus, details: &str, code: i32) -> Rule {
    let details = details.to_string();
    mock!(aws_sdk_ssm::Client::get_command_invocation).then_output(move || {
        GetCommandInvocationOutput::builder()
            .status(status.clone())
            .status_details(&details)
            .response_code(code)
            .standard_output_content("out\n")
            .standard_error_content("err\n")
            .build()
    })
}

async fn finished(rule: Rule) -> CommandFinished {
    let actions = with_ssm(&[&rule]);
    match actions.command_result("cmd-1", "i-1", 4096).await {
        Ok(CommandResult::Finished(f)) => f,
        other => panic!("not finished: {other:?}"),
    }
}

#[tokio::test]
async fn command_statuses_map_to_step_statuses() {
    let ok = finished(invocation(CommandInvocationStatus::Success, "Success", 0)).await;
    assert_eq!(ok.status, StepStatus::Succeeded);
    assert_eq!((ok.stdout.as_str(), ok.stderr.as_str()), ("out\n", "err\n"));
    assert_eq!(ok.exit_code, 0);

    let failed = finished(invocation(CommandInvocationStatus::Failed, "Failed", 3)).await;
    assert_eq!(failed.status, StepStatus::Failed);
    assert_eq!(failed.exit_code, 3);

    let timed_out = finished(invocation(
        CommandInvocationStatus::TimedOut,
        "ExecutionTimedOut",
        -1,
    ))
    .await;
    assert_eq!(timed_out.status, StepStatus::TimedOut);
    assert_eq!(timed_out.detail, "ExecutionTimedOut");

    let undeliverable = finished(invocation(
        CommandInvocationStatus::Failed,
        "DeliveryTimedOut",
        -1,
    ))
    .await;
    assert_eq!(undeliverable.status, StepStatus::TimedOut);

    let actions = with_ssm(&[&invocation(
        CommandInvocationStatus::InProgress,
        "InProgress",
        -1,
    )]);
    let running = actions.command_result("cmd-1", "i-1", 4096).await;
    assert_eq!(running, Ok(CommandResult::Pending));
}

#[tokio::test]
async fn instance_output_is_sanitised_and_bounded() {
    let rule = mock!(aws_sdk_ssm::Client::get_command_invocation).then_output(|| {
        GetCommandInvocationOutput::builder()
            .status(CommandInvocationStatus::Success)
            .response_code(0)
            .standard_output_content(format!(
                "\u{1b}[2J\u{1b}]0;pwned\u{7}line\r\n{}",
                "x".repeat(24_000)
            ))
            .build()
    });
    let actions = with_ssm(&[&rule]);
    let Ok(CommandResult::Finished(done)) = actions.command_result("c", "i-1", 256).await else {
        panic!("not finished");
    };
    assert!(done.stdout.len() <= 256, "{}", done.stdout.len());
    assert!(
        done.stdout.starts_with("[2J]0;pwnedline\n"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.ends_with(TRUNCATION_MARKER));
    assert!(!done.stdout.chars().any(|c| c.is_control() && c != '\n'));
}

#[tokio::test]
async fn automation_runs_as_the_automation_role_unless_the_step_names_one() {
    const STACK_ROLE: &str = "arn:aws:iam::111122223333:role/quench-automation";
    const STEP_ROLE: &str = "arn:aws:iam::111122223333:role/custom";
    let role_is = |expected: &'static str| {
        move |r: &aws_sdk_ssm::operation::start_automation_execution::StartAutomationExecutionInput| {
            r.parameters().and_then(|p| p.get(AUTOMATION_ROLE_PARAMETER))
                == Some(&vec![expected.to_string()])
        }
    };
    let stack_role = mock!(aws_sdk_ssm::Client::start_automation_execution)
        .match_requests(role_is(STACK_ROLE))
        .then_output(|| {
            StartAutomationExecutionOutput::builder()
                .automation_execution_id("exec-stack")
                .build()
        });
    let step_role = mock!(aws_sdk_ssm::Client::start_automation_execution)
        .match_requests(role_is(STEP_ROLE))
        .then_output(|| {
            StartAutomationExecutionOutput::builder()
                .automation_execution_id("exec-step")
                .build()
        });
    let actions =
        with_ssm(&[&stack_role, &step_role]).with_automation_role(Some(STACK_ROLE.into()));
    let plain = BTreeMap::from([("InstanceId".to_string(), vec!["i-1".to_string()])]);
    let mut own = plain.clone();
    own.insert(AUTOMATION_ROLE_PARAMETER.into(), vec![STEP_ROLE.into()]);
    assert_eq!(
        actions
            .start_automation("AWS-RestartEC2Instance", &plain, "t1")
            .await,
        Ok("exec-stack".to_string())
    );
    assert_eq!(
        actions
            .start_automation("AWS-RestartEC2Instance", &own, "t2")
            .await,
        Ok("exec-step".to_string())
    );
}

#[tokio::test]
async fn automation_starts_with_the_client_token_and_polls_to_its_outputs() {
    let start = mock!(aws_sdk_ssm::Client::start_automation_execution)
        .match_requests(|r| {
            r.document_name() == Some("AWS-RestartEC2Instance")
                && r.client_token() == Some("0123abcd-0000-0000-0000-000000000000")
                && r.parameters().and_then(|p| p.get("InstanceId"))
                    == Some(&vec!["i-1".to_string()])
        })
        .then_output(|| {
            StartAutomationExecutionOutput::builder()
                .automation_execution_id("exec-1")
                .build()
        });
    let poll = mock!(aws_sdk_ssm::Client::get_automation_execution)
        .match_requests(|r| r.automation_execution_id() == Some("exec-1"))
        .sequence()
        .output(|| {
            GetAutomationExecutionOutput::builder()
                .automation_execution(
                    AutomationExecution::builder()
                        .automation_execution_status(AutomationExecutionStatus::Inprogress)
                        .build(),
                )
                .build()
        })
        .output(|| {
            GetAutomationExecutionOutput::builder()
                .automation_execution(
                    AutomationExecution::builder()
                        .automation_execution_status(AutomationExecutionStatus::Success)
                        .outputs("startInstances.InstanceStates", vec!["running".into()])
                        .build(),
                )
                .build()
        })
        .build();
    let actions = with_ssm(&[&start, &poll]);
    let parameters = BTreeMap::from([("InstanceId".to_string(), vec!["i-1".to_string()])]);
    let id = actions
        .start_automation(
            "AWS-RestartEC2Instance",
            &parameters,
            "0123abcd-0000-0000-0000-000000000000",
        )
        .await
        .expect("started");
    assert_eq!(id, "exec-1");
    assert_eq!(
        actions.automation_result("exec-1").await,
        Ok(AutomationResult::Pending)
    );
    let Ok(AutomationResult::Finished(done)) = actions.automation_result("exec-1").await else {
        panic!("not finished");
    };
    assert_eq!(done.status, StepStatus::Succeeded);
    assert_eq!(done.detail, "Success");
    assert_eq!(
        done.outputs.get("startInstances.InstanceStates"),
        Some(&vec!["running".to_string()])
    );
}

#[tokio::test]
async fn failed_automation_keeps_its_failure_message() {
    let poll = mock!(aws_sdk_ssm::Client::get_automation_execution).then_output(|| {
        GetAutomationExecutionOutput::builder()
            .automation_execution(
                AutomationExecution::builder()
                    .automation_execution_status(AutomationExecutionStatus::Failed)
                    .failure_message("Step fails when it is Executing.")
                    .build(),
            )
            .build()
    });
    let actions = with_ssm(&[&poll]);
    let Ok(AutomationResult::Finished(done)) = actions.automation_result("exec-1").await else {
        panic!("not finished");
    };
    assert_eq!(done.status, StepStatus::Failed);
    assert_eq!(
        done.failure.as_deref(),
        Some("Step fails when it is Executing.")
    );
}

#[tokio::test]
async fn a_reboot_is_requested_once_whatever_its_answer() {
    let lost = "<Response><Errors><Error><Code>InternalError</Code><Message>try again</Message></Error></Errors><RequestID>r</RequestID></Response>";
    let rule = mock!(aws_sdk_ec2::Client::reboot_instances)
        .sequence()
        .http_status(500, Some(lost.to_string()))
        .times(3)
        .build();
    let error = with_ec2(&[&rule]).reboot("i-1").await.expect_err("lost");
    assert_eq!(rule.num_calls(), 1);
    assert!(error.may_have_acted(), "{error:?}");
}

#[tokio::test]
async fn reboot_names_the_instance() {
    let rule = mock!(aws_sdk_ec2::Client::reboot_instances)
        .match_requests(|r| r.instance_ids() == ["i-1"])
        .then_output(|| RebootInstancesOutput::builder().build());
    with_ec2(&[&rule]).reboot("i-1").await.expect("rebooted");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn instance_status_includes_stopped_instances() {
    let rule = mock!(aws_sdk_ec2::Client::describe_instance_status)
        .match_requests(|r| r.include_all_instances() == Some(true) && r.instance_ids() == ["i-1"])
        .then_output(|| {
            DescribeInstanceStatusOutput::builder()
                .instance_statuses(
                    aws_sdk_ec2::types::InstanceStatus::builder()
                        .instance_id("i-1")
                        .instance_state(
                            InstanceState::builder()
                                .name(InstanceStateName::Stopped)
                                .build(),
                        )
                        .instance_status(
                            InstanceStatusSummary::builder()
                                .status(SummaryStatus::NotApplicable)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let status = with_ec2(&[&rule])
        .instance_status("i-1")
        .await
        .expect("status");
    assert_eq!(
        status,
        InstanceStatus {
            instance_state: "stopped".into(),
            instance_status: "not-applicable".into(),
            system_status: "not-applicable".into(),
        }
    );
}

#[tokio::test]
async fn unknown_instance_is_not_found() {
    let rule = mock!(aws_sdk_ec2::Client::describe_instance_status)
        .then_output(|| DescribeInstanceStatusOutput::builder().build());
    let error = with_ec2(&[&rule])
        .instance_status("i-gone")
        .await
        .expect_err("not found");
    assert!(matches!(error, ActionError::NotFound(_)), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn alarm_state_reads_describe_alarms() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| r.alarm_names() == ["web-1-cpu-high"])
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("web-1-cpu-high")
                        .state_value(StateValue::Alarm)
                        .state_reason("Threshold Crossed")
                        .build(),
                )
                .build()
        });
    let state = with_cloudwatch(&[&rule])
        .alarm_state("web-1-cpu-high")
        .await
        .expect("state");
    assert_eq!(state.state, "ALARM");
    assert_eq!(state.reason, "Threshold Crossed");

    let none = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .then_output(|| DescribeAlarmsOutput::builder().build());
    let error = with_cloudwatch(&[&none])
        .alarm_state("gone")
        .await
        .expect_err("missing");
    assert!(matches!(error, ActionError::NotFound(_)));
}
