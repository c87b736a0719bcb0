//! `AwsMirror` against mocked Incident Manager and Systems Manager clients.
//!
//! The mocks run in `MatchAny` mode with `must_match` on (the aws-smithy-mocks default):
//! any call no rule matches panics inside the SDK call and fails the test, so a rule
//! set that leaves an operation out also asserts that the operation is never called.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ssm::operation::create_ops_item::{CreateOpsItemError, CreateOpsItemOutput};
use aws_sdk_ssm::operation::update_ops_item::UpdateOpsItemOutput;
use aws_sdk_ssm::types::error::{OpsItemAlreadyExistsException, OpsItemLimitExceededException};
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemStatus};
use aws_sdk_ssmincidents::config::retry::RetryConfig;
use aws_sdk_ssmincidents::error::ErrorMetadata;
use aws_sdk_ssmincidents::operation::create_timeline_event::CreateTimelineEventOutput;
use aws_sdk_ssmincidents::operation::start_incident::{StartIncidentError, StartIncidentOutput};
use aws_sdk_ssmincidents::operation::update_incident_record::UpdateIncidentRecordOutput;
use aws_sdk_ssmincidents::types::error::{AccessDeniedException, ThrottlingException};
use aws_sdk_ssmincidents::types::{IncidentRecordStatus, ServiceCode};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{DateTime, Utc};
use quench_aws::mirror::AwsMirror;
use quench_core::alarm::AlarmState;
use quench_core::config::{IncidentManagerMirror, Mirrors, OpsCenterMirror};
use quench_core::incident::{
    IncidentRecord, IncidentStatus, MirrorIds, TimelineEvent, TimelineKind, Trigger,
};
use quench_core::ports::{IncidentMirror, MirrorFailure};
use serde_json::{json, Value};

const INCIDENT_ID: &str = "inc-20250301T101500000Z-0123456789abcdef";
const DEDUP_KEY: &str = "ec2-i-0abc:cpu";
const TITLE: &str = "CPU high on i-0abc";
const ALARM_NAME: &str = "cpu-high";
const ALARM_ARN: &str = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu-high";
const REASON: &str = "Threshold Crossed: 1 datapoint [97.0] was greater than the threshold (90.0).";
const PLAN_ARN: &str = "arn:aws:ssm-incidents::123456789012:response-plan/quench";
const IM_ARN: &str = "arn:aws:ssm-incidents::123456789012:incident-record/quench/8ec4-91b2";
const OPS_ITEM_ID: &str = "oi-0123456789ab";

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("rfc3339 fixture time")
}

fn opened_at() -> DateTime<Utc> {
    time("2025-03-01T10:15:00Z")
}

fn incident(status: IncidentStatus, mirrors: MirrorIds) -> IncidentRecord {
    IncidentRecord {
        id: INCIDENT_ID.to_string(),
        dedup_key: DEDUP_KEY.to_string(),
        plan: "ec2".to_string(),
        impact: 2,
        title: TITLE.to_string(),
        status,
        created_at: opened_at(),
        acknowledged_at: None,
        escalated_at: None,
        resolved_at: (status == IncidentStatus::Resolved).then(|| time("2025-03-01T10:40:00Z")),
        resolve_due_at: None,
        reopen_count: 0,
        series: BTreeSet::from([ALARM_ARN.to_string()]),
        trigger: Trigger {
            alarm_name: ALARM_NAME.to_string(),
            alarm_arn: ALARM_ARN.to_string(),
            account: "123456789012".to_string(),
            region: "eu-west-1".to_string(),
            namespace: Some("AWS/EC2".to_string()),
            metric: Some("CPUUtilization".to_string()),
            dimensions: BTreeMap::from([("InstanceId".to_string(), "i-0abc".to_string())]),
            threshold: Some(90.0),
            reason: REASON.to_string(),
            tags: BTreeMap::new(),
        },
        mirrors,
        paging: None,
        active_at: None,
        net_at: None,
        alarms_checked_at: None,
        due_at: None,
        version: 1,
    }
}

fn event(kind: TimelineKind, state: AlarmState, at: &str) -> TimelineEvent {
    TimelineEvent {
        incident_id: INCIDENT_ID.to_string(),
        event_key: format!("{at}#{}#00000000000000aa", kind.as_str()),
        at: time(at),
        kind,
        alarm_name: ALARM_NAME.to_string(),
        series: ALARM_ARN.to_string(),
        state,
        summary: format!("{ALARM_NAME} is {state}: {REASON}"),
        mention: None,
    }
}

fn opened() -> TimelineEvent {
    event(
        TimelineKind::Opened,
        AlarmState::Alarm,
        "2025-03-01T10:15:00.000Z",
    )
}

fn known_ids() -> MirrorIds {
    MirrorIds {
        incident_manager_arn: Some(IM_ARN.to_string()),
        ops_item_id: Some(OPS_ITEM_ID.to_string()),
    }
}

fn both_mirrors() -> Mirrors {
    Mirrors {
        incident_manager: Some(IncidentManagerMirror {
            response_plan_arn: PLAN_ARN.to_string(),
        }),
        ops_center: Some(OpsCenterMirror {
            category: Some("Availability".to_string()),
            severity: None,
        }),
    }
}

fn mirror(incidents: &[&Rule], ssm: &[&Rule]) -> AwsMirror {
    // Retries stay on (they are part of the behaviour under test) but back off for a
    // millisecond instead of seconds.
    let retry = || {
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5))
    };
    let incidents_client = mock_client!(
        aws_sdk_ssmincidents,
        RuleMode::MatchAny,
        incidents.iter().copied(),
        |config| config.retry_config(retry())
    );
    let ssm_client = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        ssm.iter().copied(),
        |config| config.retry_config(retry())
    );
    AwsMirror::new(incidents_client, ssm_client)
}

fn event_data(json_text: Option<&str>) -> Value {
    serde_json::from_str(json_text.expect("event data set")).expect("event data is JSON")
}

// --- rules ---------------------------------------------------------------------------

fn start_incident_ok() -> Rule {
    mock!(aws_sdk_ssmincidents::Client::start_incident)
        .match_requests(|req| {
            let trigger = req.trigger_details().expect("trigger details");
            req.client_token() == Some(INCIDENT_ID)
                && req.response_plan_arn() == Some(PLAN_ARN)
                && req.title() == Some(TITLE)
                && req.impact() == Some(2)
                && trigger.source() == "aws.cloudwatch"
                && trigger.trigger_arn() == Some(ALARM_ARN)
                && trigger.timestamp().to_millis().ok() == Some(opened_at().timestamp_millis())
                && serde_json::from_str::<Value>(trigger.raw_data().unwrap_or_default())
                    .is_ok_and(|raw| raw["alarm_name"] == ALARM_NAME && raw["reason"] == REASON)
        })
        .then_output(|| {
            StartIncidentOutput::builder()
                .incident_record_arn(IM_ARN)
                .build()
                .expect("arn set")
        })
}

fn timeline_event_ok(expected: &TimelineEvent) -> Rule {
    let token = format!("{INCIDENT_ID}#{}", expected.event_key);
    let kind = expected.kind.as_str();
    let state = expected.state.as_str();
    let at = expected.at.timestamp_millis();
    mock!(aws_sdk_ssmincidents::Client::create_timeline_event)
        .match_requests(move |req| {
            let data = event_data(req.event_data());
            req.incident_record_arn() == Some(IM_ARN)
                && req.client_token() == Some(token.as_str())
                && req.event_type() == Some("Custom Event")
                && req.event_time().and_then(|t| t.to_millis().ok()) == Some(at)
                && data["kind"] == kind
                && data["alarm"] == ALARM_NAME
                && data["state"] == state
                && data["summary"].as_str().is_some_and(|s| s.contains(REASON))
        })
        .then_output(|| {
            CreateTimelineEventOutput::builder()
                .incident_record_arn(IM_ARN)
                .event_id("event-1")
                .build()
                .expect("fields set")
        })
}

fn update_incident_ok(status: IncidentRecordStatus) -> Rule {
    mock!(aws_sdk_ssmincidents::Client::update_incident_record)
        .match_requests(move |req| req.arn() == Some(IM_ARN) && req.status() == Some(&status))
        .then_output(|| UpdateIncidentRecordOutput::builder().build())
}

fn create_ops_item_ok() -> Rule {
    mock!(aws_sdk_ssm::Client::create_ops_item)
        .match_requests(|req| {
            let data = req.operational_data().expect("operational data");
            let dedup = &data["/aws/dedup"];
            let resources = &data["/aws/resources"];
            let dedup_value: Value =
                serde_json::from_str(dedup.value().unwrap_or_default()).unwrap_or_default();
            let resources_value: Value =
                serde_json::from_str(resources.value().unwrap_or_default()).unwrap_or_default();
            req.title() == Some(TITLE)
                && req.source() == Some("Quench")
                && req.category() == Some("Availability")
                && req.severity() == Some("2")
                && req.priority() == Some(2)
                && req.description().is_some_and(|d| d.contains(REASON))
                && dedup.r#type() == Some(&OpsItemDataType::SearchableString)
                && dedup_value == json!({ "dedupString": INCIDENT_ID })
                && resources_value == json!([{ "arn": ALARM_ARN }])
                && data["quench:incident_id"].value() == Some(INCIDENT_ID)
        })
        .then_output(|| {
            CreateOpsItemOutput::builder()
                .ops_item_id(OPS_ITEM_ID)
                .build()
        })
}

fn update_ops_item_ok(status: OpsItemStatus) -> Rule {
    mock!(aws_sdk_ssm::Client::update_ops_item)
        .match_requests(move |req| {
            req.ops_item_id() == Some(OPS_ITEM_ID) && req.status() == Some(&status)
        })
        .then_output(|| UpdateOpsItemOutput::builder().build())
}

// --- tests ---------------------------------------------------------------------------

#[tokio::test]
async fn opened_starts_incident_and_creates_ops_item() {
    let event = opened();
    let start = start_incident_ok();
    let timeline = timeline_event_ok(&event);
    let create = create_ops_item_ok();
    let aws = mirror(&[&start, &timeline], &[&create]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned, known_ids());
    assert_eq!(start.num_calls(), 1);
    assert_eq!(timeline.num_calls(), 1);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn attached_with_known_ids_only_adds_a_timeline_event() {
    let event = event(
        TimelineKind::Attached,
        AlarmState::Alarm,
        "2025-03-01T10:20:00.000Z",
    );
    let timeline = timeline_event_ok(&event);
    let aws = mirror(&[&timeline], &[]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, known_ids()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned, MirrorIds::default());
    assert_eq!(timeline.num_calls(), 1);
}

#[tokio::test]
async fn opened_again_with_known_ids_creates_nothing_twice() {
    let event = opened();
    let timeline = timeline_event_ok(&event);
    let aws = mirror(&[&timeline], &[]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, known_ids()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned, MirrorIds::default());
    assert_eq!(timeline.num_calls(), 1);
}

#[tokio::test]
async fn resolved_resolves_both_mirrors() {
    let event = event(
        TimelineKind::Resolved,
        AlarmState::Ok,
        "2025-03-01T10:40:00.000Z",
    );
    let timeline = timeline_event_ok(&event);
    let update = update_incident_ok(IncidentRecordStatus::Resolved);
    let ops = update_ops_item_ok(OpsItemStatus::Resolved);
    let aws = mirror(&[&timeline, &update], &[&ops]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Resolved, known_ids()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned, MirrorIds::default());
    assert_eq!(timeline.num_calls(), 1);
    assert_eq!(update.num_calls(), 1);
    assert_eq!(ops.num_calls(), 1);
}

#[tokio::test]
async fn reopened_reopens_both_mirrors() {
    let event = event(
        TimelineKind::Reopened,
        AlarmState::Alarm,
        "2025-03-01T10:45:00.000Z",
    );
    let timeline = timeline_event_ok(&event);
    let update = update_incident_ok(IncidentRecordStatus::Open);
    let ops = update_ops_item_ok(OpsItemStatus::Open);
    let aws = mirror(&[&timeline, &update], &[&ops]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, known_ids()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(timeline.num_calls(), 1);
    assert_eq!(update.num_calls(), 1);
    assert_eq!(ops.num_calls(), 1);
}

#[tokio::test]
async fn resolved_without_mirror_ids_creates_nothing() {
    let event = event(
        TimelineKind::Resolved,
        AlarmState::Ok,
        "2025-03-01T10:40:00.000Z",
    );
    // No rules: any call would panic.
    let aws = mirror(&[], &[]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Resolved, MirrorIds::default()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned, MirrorIds::default());
}

#[tokio::test]
async fn a_later_change_starts_the_incident_a_failed_open_missed() {
    let event = event(
        TimelineKind::Attached,
        AlarmState::Alarm,
        "2025-03-01T10:20:00.000Z",
    );
    // Same request as the original open (timestamp = incident opening time), so the
    // client token returns the incident if that first start did in fact succeed.
    let start = start_incident_ok();
    let timeline = timeline_event_ok(&event);
    let aws = mirror(&[&start, &timeline], &[]);
    let settings = Mirrors {
        ops_center: None,
        ..both_mirrors()
    };

    let report = aws
        .sync(
            &settings,
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned.incident_manager_arn.as_deref(), Some(IM_ARN));
    assert_eq!(report.learned.ops_item_id, None);
    assert_eq!(start.num_calls(), 1);
    assert_eq!(timeline.num_calls(), 1);
}

#[tokio::test]
async fn start_incident_failure_still_creates_the_ops_item() {
    let start = mock!(aws_sdk_ssmincidents::Client::start_incident).then_error(|| {
        StartIncidentError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not authorized to perform ssm-incidents:StartIncident")
                .build()
                .expect("message set"),
        )
    });
    let timeline = mock!(aws_sdk_ssmincidents::Client::create_timeline_event).then_output(|| {
        CreateTimelineEventOutput::builder()
            .incident_record_arn(IM_ARN)
            .event_id("event-1")
            .build()
            .expect("fields set")
    });
    let create = create_ops_item_ok();
    let aws = mirror(&[&start, &timeline], &[&create]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &opened(),
        )
        .await;

    let [failure] = report.failures.as_slice() else {
        panic!("expected exactly one failure, got {:?}", report.failures);
    };
    assert_eq!(failure.target, "incident_manager");
    assert_eq!(failure.operation, "StartIncident");
    assert!(
        failure.message.contains("AccessDeniedException")
            && failure.message.contains("not authorized"),
        "{}",
        failure.message
    );
    assert_eq!(report.learned.incident_manager_arn, None);
    assert_eq!(report.learned.ops_item_id.as_deref(), Some(OPS_ITEM_ID));
    assert_eq!(start.num_calls(), 1, "access denied is not retried");
    assert_eq!(timeline.num_calls(), 0, "no timeline without an incident");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn throttled_start_incident_is_retried_with_the_same_client_token() {
    let start = mock!(aws_sdk_ssmincidents::Client::start_incident)
        .match_requests(|req| req.client_token() == Some(INCIDENT_ID))
        .sequence()
        .error(|| {
            StartIncidentError::ThrottlingException(
                // Code set as the deserializer would: the SDK's retry classifier goes by it.
                ThrottlingException::builder()
                    .message("Rate exceeded")
                    .service_code(ServiceCode::SsmIncidents)
                    .quota_code("StartIncident")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ThrottlingException")
                            .message("Rate exceeded")
                            .build(),
                    )
                    .build()
                    .expect("message set"),
            )
        })
        .output(|| {
            StartIncidentOutput::builder()
                .incident_record_arn(IM_ARN)
                .build()
                .expect("arn set")
        })
        .build();
    let event = opened();
    let timeline = timeline_event_ok(&event);
    let aws = mirror(&[&start, &timeline], &[]);
    let settings = Mirrors {
        ops_center: None,
        ..both_mirrors()
    };

    let report = aws
        .sync(
            &settings,
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned.incident_manager_arn.as_deref(), Some(IM_ARN));
    assert_eq!(start.num_calls(), 2);
}

#[tokio::test]
async fn ops_center_failure_does_not_stop_incident_manager() {
    let event = opened();
    let start = start_incident_ok();
    let timeline = timeline_event_ok(&event);
    let create = mock!(aws_sdk_ssm::Client::create_ops_item).then_error(|| {
        CreateOpsItemError::OpsItemLimitExceededException(
            OpsItemLimitExceededException::builder()
                .message("The OpsItem limit was exceeded")
                .build(),
        )
    });
    let aws = mirror(&[&start, &timeline], &[&create]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &event,
        )
        .await;

    assert_eq!(
        report
            .failures
            .iter()
            .map(|f| (f.target, f.operation))
            .collect::<Vec<_>>(),
        [("ops_center", "CreateOpsItem")]
    );
    assert!(report.failures[0]
        .message
        .contains("OpsItemLimitExceededException"));
    assert_eq!(report.learned.incident_manager_arn.as_deref(), Some(IM_ARN));
    assert_eq!(report.learned.ops_item_id, None);
    assert_eq!(start.num_calls(), 1);
    assert_eq!(timeline.num_calls(), 1);
}

#[tokio::test]
async fn an_ops_item_that_already_exists_is_adopted() {
    let create = mock!(aws_sdk_ssm::Client::create_ops_item).then_error(|| {
        CreateOpsItemError::OpsItemAlreadyExistsException(
            OpsItemAlreadyExistsException::builder()
                .message("The OpsItem already exists")
                .ops_item_id(OPS_ITEM_ID)
                .build(),
        )
    });
    let aws = mirror(&[], &[&create]);
    let settings = Mirrors {
        incident_manager: None,
        ..both_mirrors()
    };

    let report = aws
        .sync(
            &settings,
            &incident(IncidentStatus::Open, MirrorIds::default()),
            &opened(),
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(report.learned.ops_item_id.as_deref(), Some(OPS_ITEM_ID));
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn status_update_failures_are_reported_per_operation() {
    let event = event(
        TimelineKind::Resolved,
        AlarmState::Ok,
        "2025-03-01T10:40:00.000Z",
    );
    let timeline = timeline_event_ok(&event);
    let update = mock!(aws_sdk_ssmincidents::Client::update_incident_record).then_error(|| {
        aws_sdk_ssmincidents::operation::update_incident_record::UpdateIncidentRecordError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("denied")
                .build()
                .expect("message set"),
        )
    });
    let ops = update_ops_item_ok(OpsItemStatus::Resolved);
    let aws = mirror(&[&timeline, &update], &[&ops]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Resolved, known_ids()),
            &event,
        )
        .await;

    assert_eq!(
        report
            .failures
            .iter()
            .map(|f: &MirrorFailure| (f.target, f.operation))
            .collect::<Vec<_>>(),
        [("incident_manager", "UpdateIncidentRecord")]
    );
    assert_eq!(timeline.num_calls(), 1);
    assert_eq!(ops.num_calls(), 1);
}

#[tokio::test]
async fn long_event_keys_and_summaries_stay_within_api_limits() {
    let mut event = event(
        TimelineKind::Attached,
        AlarmState::Alarm,
        "2025-03-01T10:20:00.000Z",
    );
    event.event_key = format!("{}#{}", event.event_key, "k".repeat(200));
    // Quotes and control characters grow when JSON-escaped.
    event.summary = "\"\u{1}é".repeat(5_000);
    let timeline = mock!(aws_sdk_ssmincidents::Client::create_timeline_event)
        .match_requests(|req| {
            let data = req.event_data().unwrap_or_default();
            let token = req.client_token().unwrap_or_default();
            !token.is_empty()
                && token.len() <= 128
                && data.chars().count() <= 12_000
                && serde_json::from_str::<Value>(data)
                    .is_ok_and(|v| v["kind"] == "attached" && v["summary"].is_string())
        })
        .then_output(|| {
            CreateTimelineEventOutput::builder()
                .incident_record_arn(IM_ARN)
                .event_id("event-1")
                .build()
                .expect("fields set")
        });
    let aws = mirror(&[&timeline], &[]);

    let report = aws
        .sync(
            &both_mirrors(),
            &incident(IncidentStatus::Open, known_ids()),
            &event,
        )
        .await;

    assert_eq!(report.failures, []);
    assert_eq!(timeline.num_calls(), 1);
}

#[tokio::test]
async fn mirrors_off_makes_no_calls() {
    let start = start_incident_ok();
    let timeline = timeline_event_ok(&opened());
    let create = create_ops_item_ok();
    let aws = mirror(&[&start, &timeline], &[&create]);

    for (status, ids, event) in [
        (IncidentStatus::Open, MirrorIds::default(), opened()),
        (
            IncidentStatus::Resolved,
            known_ids(),
            event(
                TimelineKind::Resolved,
                AlarmState::Ok,
                "2025-03-01T10:40:00.000Z",
            ),
        ),
    ] {
        let report = aws
            .sync(&Mirrors::default(), &incident(status, ids), &event)
            .await;
        assert_eq!(report, Default::default());
    }

    assert_eq!(start.num_calls(), 0);
    assert_eq!(timeline.num_calls(), 0);
    assert_eq!(create.num_calls(), 0);
}
