//! [`ActionRunner`] on SSM (Run Command, Automation), EC2 and CloudWatch.
//!
//! Each method is one API call; the SDK retries throttling and transient faults with the
//! client's retry config before an error reaches us. What still fails is classified:
//! throttled / unavailable (the step is retried by the state machine), refused / not found
//! (the step fails and the runbook decides). Error messages are the service's error code
//! and message, bounded; never a request's parameters.
//!
//! The two calls that act without an idempotency token, SendCommand and RebootInstances,
//! are sent once, without the SDK's retries: a retry after a lost answer would run the
//! command or reboot the instance a second time. The step decides what a failed call
//! means (see runbook-step's Idempotency).

use std::collections::{BTreeMap, HashMap};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy,
};
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError;
use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use quench_core::ports::{
    automation_status, command_status, ActionError, ActionRunner, AlarmStateInfo,
    AutomationFinished, AutomationResult, CommandFinished, CommandRequest, CommandResult,
    Datapoint, InstanceStatus, MetricRequest,
};
use quench_core::runbook::StepStatus;
use quench_core::text::sanitize_output;

/// Bytes kept of each automation output value.
const AUTOMATION_OUTPUT_LIMIT: u32 = 4_096;
/// Bytes kept of an error message from a service.
const MESSAGE_LIMIT: u32 = 512;
/// SendCommand's delivery timeout bounds.
const MIN_DELIVERY_TIMEOUT: u64 = 30;
const MAX_DELIVERY_TIMEOUT: u64 = 2_592_000;
/// SendCommand's Comment is at most 100 characters.
const MAX_COMMENT_CHARS: usize = 100;
/// GetMetricData pages read at most (each holds up to 100,800 datapoints).
const MAX_METRIC_PAGES: usize = 5;
/// ListCommands pages read at most when looking for a command whose answer was lost
/// (each holds up to 50 commands, of one instance, sent since the step was claimed).
const MAX_COMMAND_PAGES: usize = 10;
/// How much earlier than our clock SSM's may date a command.
const CLOCK_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug)]
pub struct AwsActions {
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// The role SSM Automation documents run as, unless a step names its own.
    automation_role: Option<String>,
}

/// The document parameter through which SSM Automation takes the role to run as.
pub const AUTOMATION_ROLE_PARAMETER: &str = "AutomationAssumeRole";

impl AwsActions {
    pub fn new(
        ssm: aws_sdk_ssm::Client,
        ec2: aws_sdk_ec2::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
    ) -> Self {
        AwsActions {
            ssm,
            ec2,
            cloudwatch,
            automation_role: None,
        }
    }

    /// Automation documents run as `role` (passed as `AutomationAssumeRole`) instead of
    /// with the caller's permissions, unless a step sets that parameter itself.
    pub fn with_automation_role(mut self, role: Option<String>) -> Self {
        self.automation_role = role;
        self
    }
}

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequestsException",
    "TooManyUpdates",
];

const UNAVAILABLE_CODES: &[&str] = &[
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "InternalServiceError",
];

const NOT_FOUND_CODES: &[&str] = &[
    "InvalidInstanceID.NotFound",
    "InvalidInstanceId",
    "InvalidCommandId",
    "InvalidDocument",
    "AutomationDefinitionNotFoundException",
    "AutomationExecutionNotFoundException",
    "ResourceNotFound",
    "ResourceNotFoundException",
];

/// Classifies what the SDK gave up on. `operation` names the call for the message.
pub(crate) fn classify<E>(operation: &str, error: SdkError<E, HttpResponse>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error.code().unwrap_or_default().to_string();
    let message = match (&error, error.message()) {
        (SdkError::ServiceError(_), Some(message)) => format!("{operation}: {code}: {message}"),
        (SdkError::ServiceError(_), None) => format!("{operation}: {code}"),
        _ => format!("{operation}: {}", DisplayErrorContext(&error)),
    };
    let message = sanitize_output(&message, MESSAGE_LIMIT);
    if THROTTLING_CODES.contains(&code.as_str()) {
        ActionError::Throttled(message)
    } else if UNAVAILABLE_CODES.contains(&code.as_str())
        || matches!(
            error,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        )
        || error
            .raw_response()
            .is_some_and(|r| r.status().is_server_error())
    {
        ActionError::Unavailable(message)
    } else if NOT_FOUND_CODES.contains(&code.as_str()) {
        ActionError::NotFound(message)
    } else {
        ActionError::Refused(message)
    }
}

fn to_hash_map(map: &BTreeMap<String, Vec<String>>) -> HashMap<String, Vec<String>> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn smithy_time(at: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(at.timestamp_millis())
}

fn chrono_time(at: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    at.to_millis()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

/// The marker first, so that cutting the comment to SendCommand's limit keeps it.
fn marked_comment(request: &CommandRequest) -> String {
    format!("{} {}", request.marker, request.comment)
        .chars()
        .take(MAX_COMMENT_CHARS)
        .collect()
}

impl ActionRunner for AwsActions {
    async fn send_command(&self, request: &CommandRequest) -> Result<String, ActionError> {
        let timeout = request
            .timeout_seconds
            .clamp(MIN_DELIVERY_TIMEOUT, MAX_DELIVERY_TIMEOUT);
        let output = self
            .ssm
            .send_command()
            .document_name(&request.document)
            .set_parameters(Some(to_hash_map(&request.parameters)))
            .set_instance_ids(Some(request.targets.clone()))
            .timeout_seconds(i32::try_from(timeout).unwrap_or(i32::MAX))
            .comment(marked_comment(request))
            .customize()
            .config_override(
                aws_sdk_ssm::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| classify("SendCommand", e))?;
        output
            .command
            .and_then(|c| c.command_id)
            .ok_or_else(|| ActionError::Unavailable("SendCommand returned no command id".into()))
    }

    async fn find_command(
        &self,
        request: &CommandRequest,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, ActionError> {
        let Some(instance) = request.targets.first() else {
            return Ok(None);
        };
        let after = CommandFilter::builder()
            .key(CommandFilterKey::InvokedAfter)
            .value(
                (since - chrono::Duration::seconds(CLOCK_SKEW_SECS))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
            .build()
            .map_err(|e| ActionError::Refused(format!("ListCommands: {e}")))?;
        let mut token = None;
        for _ in 0..MAX_COMMAND_PAGES {
            let output = self
                .ssm
                .list_commands()
                .instance_id(instance)
                .filters(after.clone())
                .max_results(50)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("ListCommands", e))?;
            let found = output
                .commands()
                .iter()
                .find(|c| c.comment().is_some_and(|c| c.starts_with(&request.marker)))
                .and_then(|c| c.command_id());
            if let Some(command_id) = found {
                return Ok(Some(command_id.to_string()));
            }
            token = output.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(None);
            }
        }
        Err(ActionError::Unavailable(format!(
            "ListCommands: more than {} commands on {instance} since the step began; cannot tell whether it sent one",
            MAX_COMMAND_PAGES * 50
        )))
    }

    async fn command_result(
        &self,
        command_id: &str,
        instance: &str,
        output_limit: u32,
    ) -> Result<CommandResult, ActionError> {
        let result = self
            .ssm
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // Right after SendCommand the invocation may not be visible yet.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetCommandInvocationError::InvocationDoesNotExist(_))
                ) =>
            {
                return Ok(CommandResult::Pending)
            }
            Err(error) => return Err(classify("GetCommandInvocation", error)),
        };
        let status = output
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "Pending".to_string());
        let detail = output
            .status_details()
            .filter(|d| !d.is_empty())
            .unwrap_or(&status)
            .to_string();
        // StatusDetails is finer (DeliveryTimedOut, Undeliverable, ...) once finished.
        let Some(step_status) = command_status(&status) else {
            return Ok(CommandResult::Pending);
        };
        let step_status = match (step_status, command_status(&detail)) {
            (StepStatus::Failed, Some(StepStatus::TimedOut)) => StepStatus::TimedOut,
            (status, _) => status,
        };
        Ok(CommandResult::Finished(CommandFinished {
            status: step_status,
            detail: sanitize_output(&detail, 64),
            stdout: sanitize_output(
                output.standard_output_content().unwrap_or_default(),
                output_limit,
            ),
            stderr: sanitize_output(
                output.standard_error_content().unwrap_or_default(),
                output_limit,
            ),
            exit_code: i64::from(output.response_code()),
        }))
    }

    async fn start_automation(
        &self,
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        client_token: &str,
    ) -> Result<String, ActionError> {
        let mut parameters = to_hash_map(parameters);
        if let Some(role) = &self.automation_role {
            parameters
                .entry(AUTOMATION_ROLE_PARAMETER.to_string())
                .or_insert_with(|| vec![role.clone()]);
        }
        let output = self
            .ssm
            .start_automation_execution()
            .document_name(document)
            .set_parameters(Some(parameters))
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| classify("StartAutomationExecution", e))?;
        output.automation_execution_id.ok_or_else(|| {
            ActionError::Unavailable("StartAutomationExecution returned no execution id".into())
        })
    }

    async fn automation_result(&self, execution_id: &str) -> Result<AutomationResult, ActionError> {
        let output = self
            .ssm
            .get_automation_execution()
            .automation_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| classify("GetAutomationExecution", e))?;
        let Some(execution) = output.automation_execution else {
            return Err(ActionError::NotFound(format!(
                "GetAutomationExecution: no execution {execution_id}"
            )));
        };
        let status = execution
            .automation_execution_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "Pending".to_string());
        let Some(step_status) = automation_status(&status) else {
            return Ok(AutomationResult::Pending);
        };
        let outputs = execution
            .outputs()
            .map(|outputs| {
                outputs
                    .iter()
                    .map(|(name, values)| {
                        (
                            sanitize_output(name, 256),
                            values
                                .iter()
                                .map(|v| sanitize_output(v, AUTOMATION_OUTPUT_LIMIT))
                                .collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(AutomationResult::Finished(AutomationFinished {
            status: step_status,
            detail: sanitize_output(&status, 64),
            outputs,
            failure: execution
                .failure_message()
                .filter(|m| !m.is_empty())
                .map(|m| sanitize_output(m, MESSAGE_LIMIT)),
        }))
    }

    async fn reboot(&self, instance: &str) -> Result<(), ActionError> {
        self.ec2
            .reboot_instances()
            .instance_ids(instance)
            .customize()
            .config_override(
                aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| classify("RebootInstances", e))?;
        Ok(())
    }

    async fn instance_status(&self, instance: &str) -> Result<InstanceStatus, ActionError> {
        let output = self
            .ec2
            .describe_instance_status()
            .instance_ids(instance)
            .include_all_instances(true)
            .send()
            .await
            .map_err(|e| classify("DescribeInstanceStatus", e))?;
        let found = output
            .instance_statuses()
            .iter()
            .find(|s| s.instance_id() == Some(instance))
            .ok_or_else(|| {
                ActionError::NotFound(format!("DescribeInstanceStatus: no instance {instance}"))
            })?;
        let summary = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
            s.and_then(|s| s.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "not-applicable".to_string())
        };
        Ok(InstanceStatus {
            instance_state: found
                .instance_state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|| "unknown".to_string()),
            instance_status: summary(found.instance_status()),
            system_status: summary(found.system_status()),
        })
    }

    async fn alarm_state(&self, name: &str) -> Result<AlarmStateInfo, ActionError> {
        let output = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| classify("DescribeAlarms", e))?;
        let metric = output
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .map(|a| (a.state_value(), a.state_reason()));
        let composite = output
            .composite_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .map(|a| (a.state_value(), a.state_reason()));
        let (state, reason) = metric
            .or(composite)
            .ok_or_else(|| ActionError::NotFound(format!("DescribeAlarms: no alarm {name}")))?;
        Ok(AlarmStateInfo {
            state: state
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "INSUFFICIENT_DATA".to_string()),
            reason: sanitize_output(reason.unwrap_or_default(), 1_024),
        })
    }

    async fn metric_query(&self, request: &MetricRequest) -> Result<Vec<Datapoint>, ActionError> {
        let mut metric = Metric::builder()
            .namespace(&request.namespace)
            .metric_name(&request.metric);
        for (name, value) in &request.dimensions {
            metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
        }
        let query = MetricDataQuery::builder()
            .id("m")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric.build())
                    .period(i32::try_from(request.period_seconds).unwrap_or(60))
                    .stat(&request.stat)
                    .build(),
            )
            .return_data(true)
            .build();
        let mut points = Vec::new();
        let mut token = None;
        for _ in 0..MAX_METRIC_PAGES {
            let output = self
                .cloudwatch
                .get_metric_data()
                .metric_data_queries(query.clone())
                .start_time(smithy_time(request.start))
                .end_time(smithy_time(request.end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("GetMetricData", e))?;
            for result in output.metric_data_results() {
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    if let Some(at) = chrono_time(at) {
                        if value.is_finite() {
                            points.push(Datapoint { at, value: *value });
                        }
                    }
                }
            }
            token = output.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        points.sort_by_key(|p| p.at);
        Ok(points)
    }
}
