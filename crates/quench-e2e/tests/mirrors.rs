//! The handler with mirrors on: our record lives in moto's DynamoDB; Incident Manager and
//! OpsCenter, which nothing emulates, are SDK-level mocks. A mirror failure must never
//! lose or block our own record, and learned mirror ids must be kept on the incident.

use std::time::Duration;

use alarm_to_incident::Handler;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemOutput;
use aws_sdk_ssm::operation::update_ops_item::UpdateOpsItemOutput;
use aws_sdk_ssm::types::OpsItemStatus;
use aws_sdk_ssmincidents::operation::start_incident::StartIncidentError;
use aws_sdk_ssmincidents::types::error::AccessDeniedException;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::Utc;
use quench_aws::mirror::AwsMirror;
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::incident::{DecisionKind, IncidentStatus};
use quench_core::ports::IncidentLog;
use quench_local_stack::{create_table, sample_event, Moto};

const CONFIG: &str = "version: 1
plans:
  mirrored:
    impact: 2
    mirror:
      incident_manager: { response_plan_arn: 'arn:aws:ssm-incidents::123456789012:response-plan/web' }
      ops_center: { category: Availability }
default_plan: mirrored
";

fn mirror(incidents: &[&Rule], ssm: &[&Rule]) -> AwsMirror {
    let retry = || {
        aws_sdk_ssm::config::retry::RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(1))
    };
    AwsMirror::new(
        mock_client!(
            aws_sdk_ssmincidents,
            RuleMode::MatchAny,
            incidents.iter().copied(),
            |c| c.retry_config(retry())
        ),
        mock_client!(aws_sdk_ssm, RuleMode::MatchAny, ssm.iter().copied(), |c| c
            .retry_config(retry())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mirror_never_blocks_our_record_and_learned_ids_are_kept() {
    let moto = Moto::start().expect("moto starts");
    let sdk = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamodb, "quench-mirrors")
        .await
        .expect("table");

    let start = mock!(aws_sdk_ssmincidents::Client::start_incident).then_error(|| {
        StartIncidentError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not allowed")
                .build()
                .expect("message set"),
        )
    });
    // Only a tagged OpsItem can be updated later (the role's UpdateOpsItem is conditioned
    // on the tag); an untagged create matches no rule and fails.
    let (tag_key, tag_value) = quench_aws::mirror::OPS_ITEM_TAG;
    let create = mock!(aws_sdk_ssm::Client::create_ops_item)
        .match_requests(move |req| {
            req.tags()
                .iter()
                .any(|tag| tag.key() == tag_key && tag.value() == tag_value)
        })
        .then_output(|| {
            CreateOpsItemOutput::builder()
                .ops_item_id("oi-0123456789ab")
                .build()
        });
    let resolve = mock!(aws_sdk_ssm::Client::update_ops_item)
        .match_requests(|req| {
            req.ops_item_id() == Some("oi-0123456789ab")
                && req.status() == Some(&OpsItemStatus::Resolved)
        })
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let handler = Handler {
        config: Config::parse(CONFIG).expect("config"),
        store: DynamoStore::new(dynamodb, "quench-mirrors"),
        mirror: Some(mirror(&[&start], &[&create, &resolve])),
    };

    let raw = sample_event("cpu-high-alarm.json").expect("sample");
    let opened = handler.handle(&raw, Utc::now()).await.expect("handled");
    assert_eq!(opened.decision.decision, DecisionKind::Opened);
    assert_eq!(
        opened.mirror_failures.len(),
        1,
        "{:?}",
        opened.mirror_failures
    );
    assert!(opened.mirror_failures[0].contains("StartIncident"));
    let id = opened.decision.incident_id.clone().expect("id");
    let stored = handler
        .store
        .incident(&id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.status, IncidentStatus::Open);
    assert_eq!(
        stored.mirrors.ops_item_id.as_deref(),
        Some("oi-0123456789ab")
    );
    assert_eq!(stored.mirrors.incident_manager_arn, None);

    let raw = sample_event("cpu-high-ok.json").expect("sample");
    let resolved = handler.handle(&raw, Utc::now()).await.expect("handled");
    assert_eq!(resolved.decision.decision, DecisionKind::Resolved);
    assert!(
        resolved.mirror_failures.is_empty(),
        "{:?}",
        resolved.mirror_failures
    );
    assert_eq!(
        resolve.num_calls(),
        1,
        "the OpsItem id survived to the resolve"
    );
    let stored = handler
        .store
        .incident(&id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.status, IncidentStatus::Resolved);
    assert_eq!(
        stored.mirrors.ops_item_id.as_deref(),
        Some("oi-0123456789ab")
    );
    assert_eq!(
        start.num_calls(),
        1,
        "a resolved incident is not started in IM"
    );
}
