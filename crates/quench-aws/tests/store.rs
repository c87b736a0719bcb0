//! Fault paths of the DynamoDB store that moto cannot produce on demand: throttling,
//! a cancelled transaction, a validation failure. Happy paths and real races run against
//! moto in crates/quench-e2e/tests/alarm_to_incident.rs.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::error::{
    InternalServerError, ProvisionedThroughputExceededException, TransactionCanceledException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use quench_aws::store::DynamoStore;
use quench_core::escalation::{Page, PageState, Via};
use quench_core::incident::{Commit, DedupHead};
use quench_core::ports::{IncidentStore, PageStore, StoreError};

fn store(rules: &[&Rule]) -> DynamoStore {
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        rules.iter().copied(),
        |config| config.retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
        )
    );
    DynamoStore::new(client, "incidents")
}

fn throttled() -> GetItemError {
    GetItemError::ProvisionedThroughputExceededException(
        ProvisionedThroughputExceededException::builder()
            .message("Rate of requests exceeds the allowed throughput")
            // The SDK's retry classifier reads the code, as the deserializer would set it.
            .meta(
                ErrorMetadata::builder()
                    .code("ProvisionedThroughputExceededException")
                    .build(),
            )
            .build(),
    )
}

fn head_item(head: &DedupHead) -> GetItemOutput {
    GetItemOutput::builder()
        .item("PK", AttributeValue::S(format!("DEDUP#{}", head.dedup_key)))
        .item("SK", AttributeValue::S("HEAD".into()))
        .item("version", AttributeValue::N(head.version.to_string()))
        .item(
            "body",
            AttributeValue::S(serde_json::to_string(head).expect("encodes")),
        )
        .build()
}

fn head() -> DedupHead {
    DedupHead {
        dedup_key: "alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x".into(),
        version: 3,
        series: BTreeMap::new(),
        forgotten_through: None,
        incident: None,
    }
}

fn commit() -> Commit {
    let mut next = head();
    next.version = 4;
    Commit {
        expected_version: Some(3),
        head: next,
        incident: None,
        timeline: None,
        pages: Vec::new(),
    }
}

#[tokio::test]
async fn throttled_reads_are_retried_with_backoff() {
    let expected = head();
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .error(throttled)
        .times(2)
        .output({
            let expected = expected.clone();
            move || head_item(&expected)
        })
        .build();
    let store = store(&[&rule]);
    let loaded = store.load_head(&expected.dedup_key).await.expect("loaded");
    assert_eq!(loaded, Some(expected));
    assert_eq!(rule.num_calls(), 3, "two throttled attempts, then success");
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_unavailable_not_failed() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .error(throttled)
        .times(3)
        .build();
    let store = store(&[&rule]);
    let error = store.load_head("k").await.expect_err("gives up");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert_eq!(
        rule.num_calls(),
        3,
        "bounded: the configured attempts, no more"
    );
}

#[tokio::test]
async fn a_failed_version_condition_is_a_conflict() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|req| {
            let items = req.transact_items();
            items.len() == 1
                && items[0]
                    .put()
                    .and_then(|p| p.condition_expression())
                    .is_some_and(|c| c == "version = :expected")
        })
        .then_error(|| {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(
                        CancellationReason::builder()
                            .code("ConditionalCheckFailed")
                            .build(),
                    )
                    .build(),
            )
        });
    let store = store(&[&rule]);
    let error = store.apply(&commit()).await.expect_err("cancelled");
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
}

#[tokio::test]
async fn a_transaction_conflict_is_a_conflict_too() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("None").build())
                .cancellation_reasons(
                    CancellationReason::builder()
                        .code("TransactionConflict")
                        .build(),
                )
                .build(),
        )
    });
    let store = store(&[&rule]);
    assert!(matches!(
        store.apply(&commit()).await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test]
async fn a_validation_cancellation_is_a_failure_not_a_retry() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(
                    CancellationReason::builder()
                        .code("ValidationError")
                        .message("Item size has exceeded the maximum allowed size")
                        .build(),
                )
                .build(),
        )
    });
    let store = store(&[&rule]);
    let error = store.apply(&commit()).await.expect_err("refused");
    assert!(matches!(error, StoreError::Failed(_)), "{error:?}");
}

/// A server fault that reaches us is `Unavailable`, which the handler reports as
/// `Retryable` for the state machine to retry later. (The SDK's own retry of HTTP 5xx
/// cannot be shown here: the mock answers with status 418.)
#[tokio::test]
async fn server_errors_are_reported_unavailable() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::InternalServerError(
            InternalServerError::builder()
                .message("internal")
                .meta(ErrorMetadata::builder().code("InternalServerError").build())
                .build(),
        )
    });
    let store = store(&[&rule]);
    let error = store.apply(&commit()).await.expect_err("fails");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_corrupt_head_is_a_failure_with_a_reason() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .item("PK", AttributeValue::S("DEDUP#k".into()))
            .item("body", AttributeValue::S("{not json".into()))
            .build()
    });
    let store = store(&[&rule]);
    let error = store.load_head("k").await.expect_err("corrupt");
    assert!(
        matches!(&error, StoreError::Failed(m) if m.contains("cannot decode")),
        "{error:?}"
    );
}

fn page(contact: &str) -> Page {
    let at = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("an instant");
    Page {
        incident_id: "inc-1".into(),
        episode: 0,
        wave: 1,
        round: 0,
        stage: 0,
        contact: contact.into(),
        via: Via::Sms,
        due_at: at,
        state: PageState::Pending,
        attempts: 0,
        last_error: None,
        at,
    }
}

/// DynamoDB would refuse both with a ValidationException naming neither the pages nor
/// the limit; the store refuses them before sending, saying what is wrong.
#[tokio::test]
async fn a_commit_that_is_not_one_transaction_is_refused_before_it_is_sent() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_output(|| {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput::builder()
            .build()
    });
    let store = store(&[&rule]);
    let mut too_many = commit();
    too_many.pages = (0..100).map(|i| page(&format!("c{i}"))).collect();
    let error = store.apply(&too_many).await.expect_err("too many items");
    assert!(
        matches!(&error, StoreError::Failed(m) if m.contains("101 items (100 pages)") && m.contains("100 one transaction holds")),
        "{error:?}"
    );
    let mut twice = commit();
    twice.pages = vec![page("alice"), page("bob"), page("alice")];
    let error = store.apply(&twice).await.expect_err("one item twice");
    assert!(
        matches!(&error, StoreError::Failed(m) if m.contains("page `00#0001#alice#sms` of incident `inc-1` twice")),
        "{error:?}"
    );
    assert_eq!(rule.num_calls(), 0, "nothing was sent");
    let mut fits = commit();
    fits.pages = (0..99).map(|i| page(&format!("c{i}"))).collect();
    store
        .apply(&fits)
        .await
        .expect("100 items are one transaction");
    assert_eq!(rule.num_calls(), 1);
}

/// A due query asks DynamoDB for no more than the tick takes: without `Limit` each page
/// reads (and bills) up to 1 MB of the index, only to be cut to the batch afterwards.
#[tokio::test]
async fn a_due_query_reads_no_more_than_its_batch() {
    let rule = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|query| query.limit() == Some(500))
        .then_output(|| aws_sdk_dynamodb::operation::query::QueryOutput::builder().build());
    let due = store(&[&rule])
        .due(
            quench_core::ports::DueQueue::Routine,
            chrono::Utc::now(),
            500,
        )
        .await;
    assert!(due.is_ok_and(|items| items.is_empty()));
}
