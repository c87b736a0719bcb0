//! The incident store on DynamoDB: one table, seven item shapes.
//!
//! | item              | PK                | SK              |
//! |-------------------|-------------------|-----------------|
//! | dedup head        | `DEDUP#<key>`     | `HEAD`          |
//! | incident          | `INC#<id>`        | `INCIDENT`      |
//! | timeline event    | `INC#<id>`        | `TL#<event key>`|
//! | runbook step claim| `INC#<id>`        | `STEP#<episode>#<run>#<step>`|
//! | step outcome      | `INC#<id>`        | `OUT#<episode>#<run>#<step>`|
//! | chat delivery     | `INC#<id>`        | `CHAT#<channel>#<event key>`|
//! | page              | `INC#<id>`        | `PAGE#<page key>`|
//!
//! Incidents the ticker must look at, pages waiting to be sent, and pages claimed by a
//! ticker (due again when the claim's lease runs out) carry `due_shard` and `due_at`;
//! nothing else does, so the `due` index is sparse: the ticker's query reads only what
//! is due, however many incidents are open.
//!
//! A decision is one `TransactWriteItems` conditioned on the head's version, so reading
//! the head and writing the decision is race-free: two deliveries of the same ALARM both
//! decide "open", one transaction wins, the other is cancelled and re-decides against the
//! winner's head, where the change is now a redelivery: it hears "opened" and writes
//! nothing.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use aws_sdk_dynamodb::Client;
use quench_core::chat::{Delivery, DeliveryState};
use quench_core::escalation::{due_again, Page, PageState};
use quench_core::incident::may_page;
use quench_core::incident::{Commit, DedupHead, IncidentRecord, TimelineEvent};
use quench_core::ports::{fits_one_transaction, IncidentStore, StoreError};
pub use quench_core::ports::{DueItem, DueQueue};
use quench_core::ports::{IncidentLog, NoticeStore, PageStore, StepClaim, StepRun, StepStore};
use quench_core::runbook::StepOutcome;
use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Key attribute names; the table definition in infra/template.yaml must agree (a test
/// checks it).
pub const PARTITION_KEY: &str = "PK";
pub const SORT_KEY: &str = "SK";
const HEAD_SORT_KEY: &str = "HEAD";
const INCIDENT_SORT_KEY: &str = "INCIDENT";
const TIMELINE_PREFIX: &str = "TL#";
const STEP_PREFIX: &str = "STEP#";
const OUTCOME_PREFIX: &str = "OUT#";
const CHAT_PREFIX: &str = "CHAT#";
const PAGE_PREFIX: &str = "PAGE#";
/// The sparse index of due items, and its keys, as infra/template.yaml defines them (the
/// end-to-end tests create their table from the template and query it).
pub const DUE_INDEX: &str = "due";
pub const DUE_PARTITION: &str = "due_shard";
pub const DUE_SORT: &str = "due_at";
/// The index partition of each due queue. A tick reads at most a few hundred items of
/// each, far below what one index partition serves. Pages have their own partition and
/// incidents that may page another, so a backlog of recovery checks (every open incident
/// that resolves on OK is due for one every 10 minutes) never sorts ahead of a page.
/// Items written before the queues were split sit in `DUE`, read as paging work, and
/// move to their queue at their next write.
fn due_shard(queue: DueQueue) -> &'static str {
    match queue {
        DueQueue::Pages => "PAGE",
        DueQueue::Paging => "DUE",
        DueQueue::Routine => "ROUTINE",
    }
}

/// Sortable as text, so the index orders by time.
fn due_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn page_sk(page: &Page) -> String {
    format!("{PAGE_PREFIX}{}", page.key())
}

/// What a `due` index item is; `None` for anything else.
fn due_item(item: &HashMap<String, AttributeValue>) -> Option<DueItem> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let incident_id = text(PARTITION_KEY)?.strip_prefix("INC#")?.to_string();
    let sort = text(SORT_KEY)?;
    if sort == INCIDENT_SORT_KEY {
        let dedup_key = text("dedup_key")?.to_string();
        Some(DueItem::Incident {
            incident_id,
            dedup_key,
        })
    } else {
        let page_key = sort.strip_prefix(PAGE_PREFIX)?.to_string();
        Some(DueItem::Page {
            incident_id,
            page_key,
        })
    }
}

fn chat_sk(delivery: &Delivery) -> String {
    format!("{CHAT_PREFIX}{}#{}", delivery.channel, delivery.event_key)
}

fn step_sk(claim: &StepClaim) -> String {
    format!(
        "{STEP_PREFIX}{:02}#{:04}#{}",
        claim.episode, claim.run, claim.step
    )
}

fn outcome_sk(run: &StepRun) -> String {
    format!(
        "{OUTCOME_PREFIX}{:02}#{:04}#{}",
        run.episode, run.run, run.step
    )
}

/// A conditional put's result: `true` written, `false` the condition did not hold.
fn written(
    result: Result<PutItemOutput, SdkError<PutItemError, HttpResponse>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(classify(error)),
    }
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn head_pk(dedup_key: &str) -> String {
    format!("DEDUP#{dedup_key}")
}

fn incident_pk(incident_id: &str) -> String {
    format!("INC#{incident_id}")
}

fn to_body<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Failed(format!("cannot encode item: {e}")))
}

fn from_body<T: DeserializeOwned>(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Failed("item has no body".into()))?;
    serde_json::from_str(body).map_err(|e| StoreError::Failed(format!("cannot decode item: {e}")))
}

/// Throttling and server faults are worth another try later (the SDK has already retried
/// them with backoff by the time they reach us); the runbook actions' classification
/// decides which is which, for every AWS call Quench makes.
fn classify<E>(error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let error = crate::actions::classify("DynamoDB", error);
    if error.is_retryable() {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Failed(error.to_string())
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    fn put(
        &self,
        item: Vec<(&str, AttributeValue)>,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table);
        for (name, value) in item {
            put = put.item(name, value);
        }
        if let Some((expression, values)) = condition {
            put = put.condition_expression(expression);
            for (name, value) in values {
                put = put.expression_attribute_values(name, value);
            }
        }
        let put = put
            .build()
            .map_err(|e| StoreError::Failed(format!("cannot build put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn head_item(head: &DedupHead) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
        Ok(vec![
            (PARTITION_KEY, s(head_pk(&head.dedup_key))),
            (SORT_KEY, s(HEAD_SORT_KEY)),
            ("version", n(head.version)),
            ("body", to_body(head)?),
        ])
    }

    fn head_write(&self, commit: &Commit) -> Result<TransactWriteItem, StoreError> {
        let item = Self::head_item(&commit.head)?;
        let condition = match commit.expected_version {
            None => ("attribute_not_exists(PK)", vec![]),
            Some(version) => ("version = :expected", vec![(":expected", n(version))]),
        };
        self.put(item, Some(condition))
    }

    fn incident_item(
        incident: &IncidentRecord,
    ) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
        let mut item = vec![
            (PARTITION_KEY, s(incident_pk(&incident.id))),
            (SORT_KEY, s(INCIDENT_SORT_KEY)),
            ("status", s(incident.status.as_str())),
            ("plan", s(&incident.plan)),
            ("impact", n(incident.impact)),
            ("dedup_key", s(&incident.dedup_key)),
            ("created_at", s(incident.created_at.to_rfc3339())),
            ("version", n(incident.version)),
            ("body", to_body(incident)?),
        ];
        if let Some(resolved_at) = incident.resolved_at {
            item.push(("resolved_at", s(resolved_at.to_rfc3339())));
        }
        if let Some(due_at) = incident.due_at {
            let queue = if may_page(incident) {
                DueQueue::Paging
            } else {
                DueQueue::Routine
            };
            item.push((DUE_PARTITION, s(due_shard(queue))));
            item.push((DUE_SORT, s(due_text(due_at))));
        }
        Ok(item)
    }

    fn incident_write(&self, incident: &IncidentRecord) -> Result<TransactWriteItem, StoreError> {
        // The head's condition already serialises writers of this incident.
        self.put(Self::incident_item(incident)?, None)
    }

    /// Writes heads and their incidents in bulk (BatchWriteItem), unconditionally: for
    /// loading incidents into an empty table (a migration, a benchmark), never for
    /// live decisions, which go through [`IncidentStore::apply`].
    pub async fn import(&self, heads: &[DedupHead]) -> Result<(), StoreError> {
        let mut requests = Vec::new();
        for head in heads {
            let mut items = vec![Self::head_item(head)?];
            if let Some(incident) = &head.incident {
                items.push(Self::incident_item(incident)?);
            }
            for item in items {
                let put = PutRequest::builder()
                    .set_item(Some(
                        item.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    ))
                    .build()
                    .map_err(|e| StoreError::Failed(format!("cannot build put: {e}")))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
        }
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..8u32 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(classify)?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "{} items left unprocessed after 8 attempts",
                    pending.len()
                )));
            }
        }
        Ok(())
    }

    fn timeline_write(&self, event: &TimelineEvent) -> Result<TransactWriteItem, StoreError> {
        let item = vec![
            (PARTITION_KEY, s(incident_pk(&event.incident_id))),
            (SORT_KEY, s(format!("{TIMELINE_PREFIX}{}", event.event_key))),
            ("kind", s(event.kind.as_str())),
            ("at", s(event.at.to_rfc3339())),
            ("body", to_body(event)?),
        ];
        self.put(item, None)
    }

    /// Strongly consistent read of one item's body.
    async fn read_body<T: DeserializeOwned>(
        &self,
        partition: String,
        sort: String,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(partition))
            .key(SORT_KEY, s(sort))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.as_ref().map(from_body).transpose()
    }

    /// A put of `body` as the item `(partition, sort)`; callers add the attributes
    /// they index or condition on, and the condition.
    fn put_body(
        &self,
        partition: String,
        sort: String,
        body: &impl Serialize,
    ) -> Result<PutItemFluentBuilder, StoreError> {
        Ok(self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(partition))
            .item(SORT_KEY, s(sort))
            .item("body", to_body(body)?))
    }
}

impl IncidentLog for DynamoStore {
    async fn incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.read_body(incident_pk(incident_id), INCIDENT_SORT_KEY.into())
            .await
    }

    async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEvent>, StoreError> {
        let mut events: Vec<TimelineEvent> = self.items_of(incident_id, TIMELINE_PREFIX).await?;
        // Keys are deterministic (so a retried write is the same item), not
        // chronological: runbook steps are keyed by their run, alarm changes by their
        // state time. Time orders the story; the key breaks ties the same way each read.
        events.sort_by(|a, b| (a.at, &a.event_key).cmp(&(b.at, &b.event_key)));
        Ok(events)
    }

    async fn append_timeline(&self, event: &TimelineEvent) -> Result<bool, StoreError> {
        let put = self
            .put_body(
                incident_pk(&event.incident_id),
                format!("{TIMELINE_PREFIX}{}", event.event_key),
                event,
            )?
            .item("kind", s(event.kind.as_str()))
            .item("at", s(event.at.to_rfc3339()))
            .condition_expression("attribute_not_exists(PK)");
        written(put.send().await)
    }
}

impl StepStore for DynamoStore {
    async fn claim_step(&self, claim: &StepClaim) -> Result<Option<StepClaim>, StoreError> {
        let put = self
            .put_body(incident_pk(&claim.incident_id), step_sk(claim), claim)?
            .condition_expression("attribute_not_exists(PK)");
        if written(put.send().await)? {
            return Ok(None);
        }
        match self
            .read_body(incident_pk(&claim.incident_id), step_sk(claim))
            .await?
        {
            Some(existing) => Ok(Some(existing)),
            // Released between our put and our read: a retry will claim it.
            None => Err(StoreError::Unavailable(
                "step claim changed concurrently".into(),
            )),
        }
    }

    async fn record_step_handle(&self, claim: &StepClaim) -> Result<(), StoreError> {
        self.put_body(incident_pk(&claim.incident_id), step_sk(claim), claim)?
            .condition_expression("attribute_exists(PK)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Only for a call that certainly did not act (throttled, refused): a later attempt
    /// may act.
    async fn release_step(&self, claim: &StepClaim) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(incident_pk(&claim.incident_id)))
            .key(SORT_KEY, s(step_sk(claim)))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        run: &StepRun,
        outcome: &StepOutcome,
    ) -> Result<StepOutcome, StoreError> {
        let put = self
            .put_body(incident_pk(&run.incident_id), outcome_sk(run), outcome)?
            .condition_expression("attribute_not_exists(PK)");
        if written(put.send().await)? {
            return Ok(outcome.clone());
        }
        self.outcome(run).await?.ok_or_else(|| {
            StoreError::Unavailable("a step outcome vanished after it was written".into())
        })
    }

    async fn outcome(&self, run: &StepRun) -> Result<Option<StepOutcome>, StoreError> {
        self.read_body(incident_pk(&run.incident_id), outcome_sk(run))
            .await
    }
}

fn is_lost_race(error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return false;
    };
    let reasons = cancelled.cancellation_reasons();
    // Without reasons we cannot tell; re-deciding against a fresh read is safe either way.
    reasons.is_empty()
        || reasons.iter().any(|r| {
            matches!(
                r.code(),
                Some("ConditionalCheckFailed") | Some("TransactionConflict")
            )
        })
}

impl IncidentStore for DynamoStore {
    async fn load_head(&self, dedup_key: &str) -> Result<Option<DedupHead>, StoreError> {
        self.read_body(head_pk(dedup_key), HEAD_SORT_KEY.into())
            .await
    }

    async fn apply(&self, commit: &Commit) -> Result<(), StoreError> {
        fits_one_transaction(commit)?;
        let mut writes = vec![self.head_write(commit)?];
        if let Some(incident) = &commit.incident {
            writes.push(self.incident_write(incident)?);
        }
        if let Some(event) = &commit.timeline {
            writes.push(self.timeline_write(event)?);
        }
        for page in &commit.pages {
            // The head's condition makes this commit land once; no condition of its own.
            writes.push(self.put(self.page_item(page, unclaimed_due(page))?, None)?);
        }
        // No ClientRequestToken: two identical deliveries racing would share it and both
        // be told they succeeded, and the runbook would run twice. A retry whose first
        // attempt did land fails the version check instead and re-decides as a duplicate.
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_lost_race(&error) => Err(StoreError::Conflict),
            Err(error) => Err(classify(error)),
        }
    }
}

impl NoticeStore for DynamoStore {
    /// In one query.
    async fn deliveries(&self, incident_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.items_of(incident_id, CHAT_PREFIX).await
    }

    /// A claim is a conditional put: absent, or `sending` since before the lease.
    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        lease: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let put = self
            .delivery_put(delivery)?
            .condition_expression(
                "attribute_not_exists(PK) OR (#state = :sending AND #at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
            .expression_attribute_values(":stale", s((delivery.at - lease).to_rfc3339()));
        written(put.send().await)
    }

    /// Deletes the claim if it is still the one given back.
    async fn release_delivery(&self, claim: &Delivery) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(incident_pk(&claim.incident_id)))
            .key(SORT_KEY, s(chat_sk(claim)))
            .condition_expression("#state = :sending AND #at = :at")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
            .expression_attribute_values(":at", s(claim.at.to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn settle_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.delivery_put(delivery)?
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl DynamoStore {
    /// Every item of the incident whose sort key starts with `prefix`, decoded.
    async fn items_of<T: DeserializeOwned>(
        &self,
        incident_id: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(incident_pk(incident_id)))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        self.query_all(request, usize::MAX)
            .await?
            .iter()
            .map(from_body)
            .collect()
    }

    /// Every item the query finds, page after page, at most `limit`.
    async fn query_all(
        &self,
        request: QueryFluentBuilder,
        limit: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            // Only what is still wanted: DynamoDB otherwise reads (and bills) up to 1 MB
            // a page, which the cut below would throw away.
            let wanted = i32::try_from(limit - items.len()).ok();
            let output = request
                .clone()
                .set_exclusive_start_key(start)
                .set_limit(wanted)
                .send()
                .await
                .map_err(classify)?;
            items.extend(output.items.unwrap_or_default());
            if items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// A delivery with its state and time as top-level attributes, for the claim's
    /// condition.
    fn delivery_put(&self, delivery: &Delivery) -> Result<PutItemFluentBuilder, StoreError> {
        Ok(self
            .put_body(
                incident_pk(&delivery.incident_id),
                chat_sk(delivery),
                delivery,
            )?
            .item("state", s(delivery.state.as_str()))
            .item("at", s(delivery.at.to_rfc3339())))
    }
}

/// The `due` time of a page the ticker has not claimed (a claim goes through
/// [`PageStore::claim_page`], which knows the lease).
fn unclaimed_due(page: &Page) -> Option<chrono::DateTime<chrono::Utc>> {
    (page.state != PageState::Sending)
        .then(|| due_again(page, chrono::Duration::zero()))
        .flatten()
}

impl DynamoStore {
    /// The page's item; `due` puts it in the `due` index.
    fn page_item(
        &self,
        page: &Page,
        due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
        let mut item = vec![
            (PARTITION_KEY, s(incident_pk(&page.incident_id))),
            (SORT_KEY, s(page_sk(page))),
            ("state", s(page.state.as_str())),
            ("attempts", n(page.attempts)),
            ("at", s(due_text(page.at))),
            ("body", to_body(page)?),
        ];
        if let Some(due) = due {
            item.push((DUE_PARTITION, s(due_shard(DueQueue::Pages))));
            item.push((DUE_SORT, s(due_text(due))));
        }
        Ok(item)
    }

    /// The page as one PutItem; the transaction of the decision that paged writes the
    /// same attributes.
    fn page_put(
        &self,
        page: &Page,
        due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<PutItemFluentBuilder, StoreError> {
        let put = self.client.put_item().table_name(&self.table);
        Ok(self
            .page_item(page, due)?
            .into_iter()
            .fold(put, |put, (name, value)| put.item(name, value)))
    }
}

impl PageStore for DynamoStore {
    /// Reads one partition of the sparse index only.
    async fn due(
        &self,
        queue: DueQueue,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<DueItem>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("#shard = :shard AND #due <= :now")
            .expression_attribute_names("#shard", DUE_PARTITION)
            .expression_attribute_names("#due", DUE_SORT)
            .expression_attribute_values(":shard", s(due_shard(queue)))
            .expression_attribute_values(":now", s(due_text(now)));
        let items = self.query_all(request, limit).await?;
        Ok(items.iter().filter_map(due_item).collect())
    }

    async fn page(&self, incident_id: &str, page_key: &str) -> Result<Option<Page>, StoreError> {
        self.read_body(incident_pk(incident_id), format!("{PAGE_PREFIX}{page_key}"))
            .await
    }

    async fn claim_page(
        &self,
        page: &Page,
        now: chrono::DateTime<chrono::Utc>,
        lease: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let mut claimed = page.clone();
        claimed.state = PageState::Sending;
        claimed.at = now;
        // Still in the index, due when the lease runs out: if this ticker dies before
        // settling the page, a later tick takes it over.
        let put = self
            .page_put(&claimed, due_again(&claimed, lease))?
            .condition_expression(
                "(#state = :pending AND attempts = :attempts) OR (#state = :sending AND #at <= :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":pending", s(PageState::Pending.as_str()))
            .expression_attribute_values(":sending", s(PageState::Sending.as_str()))
            .expression_attribute_values(":attempts", n(page.attempts))
            .expression_attribute_values(":stale", s(due_text(now - lease)));
        written(put.send().await)
    }

    async fn settle_page(&self, page: &Page) -> Result<(), StoreError> {
        self.page_put(page, unclaimed_due(page))?
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn pages(&self, incident_id: &str) -> Result<Vec<Page>, StoreError> {
        self.items_of(incident_id, PAGE_PREFIX).await
    }
}
