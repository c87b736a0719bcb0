//! The `alarm-to-incident` handler: one alarm change in, one decision out.
//!
//! Input is whatever reaches the function: an EventBridge alarm event (directly or as the
//! state machine's input), an SNS event carrying a CloudWatch alarm notification, a
//! `confirm_resolve` request the state machine sends after waiting out a plan's stable
//! period, or an `operation` on an incident:
//!
//! ```json
//! { "operation": { "action": "resolve", "dedup_key": "alarm:arn:aws:cloudwatch:...",
//!                  "incident_id": "inc-...", "by": "runbook:reboot-and-verify",
//!                  "reason": "instance is running and its status checks pass" } }
//! ```
//!
//! `action` is `resolve`, `escalate` or `acknowledge`. Operations are idempotent:
//! repeating one is `ignored` (`nothing_open`, `already_escalated`,
//! `already_acknowledged`). Output is the [`Decision`] the state
//! machine branches on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::handler::required_env;
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::metrics;
use quench_aws::mirror::AwsMirror;
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::alarm::{parse_alarm_value, parse_payload, AlarmChange, EventError};
use quench_core::config::Config;
use quench_core::incident::{Commit, Decision, DecisionKind, Operation, OperationKind};
use quench_core::mirror::IncidentMirror;
use quench_core::ports::IncidentLog;
use quench_core::store::{
    apply_change, apply_operation, apply_pending_resolve, store_mirror_ids, IncidentStore,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use quench_aws::sdk::BUNDLED_CONFIG;

/// Sent by the state machine once a `resolve_pending` decision's time has come.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResolve {
    pub dedup_key: String,
    pub incident_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmResolveRequest {
    confirm_resolve: ConfirmResolve,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationRequest {
    operation: Operation,
}

/// Operation reasons and actors end up in timelines and chat; longer is not from us.
const MAX_OPERATION_TEXT: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    #[serde(flatten)]
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<u8>,
    /// Runbook to start, for `opened` and `reopened`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Mirror operations that failed; our own record is written regardless.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirror_failures: Vec<String>,
    /// Decisions for further records of a multi-record SNS event, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Decision>,
}

pub struct Handler<S, M> {
    pub config: Config,
    pub store: S,
    /// `None` when no plan mirrors anything: no clients built, nothing called.
    pub mirror: Option<M>,
}

impl<S, M> Handler<S, M>
where
    S: IncidentStore + Sync,
    M: IncidentMirror + Sync,
{
    /// Handles one raw payload.
    pub async fn handle(&self, raw: &str, now: DateTime<Utc>) -> Result<Response, HandlerError> {
        let value = parse_payload(raw.as_bytes())?;
        if value.get("confirm_resolve").is_some() {
            let request: ConfirmResolveRequest = serde_json::from_value(value)
                .map_err(|e| HandlerError::InvalidRequest(format!("confirm_resolve: {e}")))?;
            let ConfirmResolve {
                dedup_key,
                incident_id,
            } = request.confirm_resolve;
            let (decision, commit) =
                apply_pending_resolve(&self.store, &dedup_key, &incident_id, now).await?;
            return Ok(self.respond(decision, commit.as_ref(), now).await);
        }
        if value.get("operation").is_some() {
            let request: OperationRequest = serde_json::from_value(value)
                .map_err(|e| HandlerError::InvalidRequest(format!("operation: {e}")))?;
            return self.operate(&request.operation, now).await;
        }
        let changes = parse_alarm_value(&value)?;
        let mut responses = Vec::with_capacity(changes.len());
        for change in &changes {
            responses.push(self.handle_change(change, now).await?);
        }
        let mut responses = responses.into_iter();
        let Some(mut first) = responses.next() else {
            return Err(EventError::MissingField("Records".into()).into());
        };
        first.more = responses.map(|r| r.decision).collect();
        Ok(first)
    }

    async fn operate(
        &self,
        operation: &Operation,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        for (field, text) in [
            ("by", &operation.by),
            ("reason", &operation.reason),
            ("incident_id", &operation.incident_id),
            ("dedup_key", &operation.dedup_key),
        ] {
            if text.len() > MAX_OPERATION_TEXT {
                return Err(HandlerError::InvalidRequest(format!(
                    "operation.{field}: {} bytes, at most {MAX_OPERATION_TEXT}",
                    text.len()
                )));
            }
        }
        if operation.by.trim().is_empty() {
            return Err(HandlerError::InvalidRequest(
                "operation.by: say who acts".into(),
            ));
        }
        let (decision, commit) = apply_operation(&self.store, &self.config, operation, now).await?;
        tracing::info!(
            action = ?operation.action,
            by = %operation.by,
            decision = decision.decision.as_str(),
            incident_id = %operation.incident_id,
            "incident operation"
        );
        Ok(self.respond(decision, commit.as_ref(), now).await)
    }

    async fn handle_change(
        &self,
        change: &AlarmChange,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let (decision, commit) = apply_change(&self.store, &self.config, change).await?;
        tracing::info!(
            alarm = %change.alarm_name,
            state = %change.state,
            decision = decision.decision.as_str(),
            incident_id = decision.incident_id.as_deref().unwrap_or(""),
            plan = %decision.plan,
            "alarm change decided"
        );
        Ok(self.respond(decision, commit.as_ref(), now).await)
    }

    async fn respond(
        &self,
        decision: Decision,
        commit: Option<&Commit>,
        now: DateTime<Utc>,
    ) -> Response {
        if let Some(incident) = commit.and_then(|c| c.incident.as_ref()) {
            metrics::incident_metrics(decision.decision, incident, now);
        }
        let plan = self.config.plans.get(&decision.plan);
        let mirror_failures = match (commit, plan) {
            (Some(commit), Some(plan)) => self.sync_mirrors(&plan.mirror, commit).await,
            _ => Vec::new(),
        };
        let starts_runbook = matches!(
            decision.decision,
            DecisionKind::Opened | DecisionKind::Reopened
        );
        Response {
            impact: plan.map(|p| p.impact),
            runbook: plan
                .and_then(|p| p.runbook.clone())
                .filter(|_| starts_runbook),
            decision,
            mirror_failures,
            more: Vec::new(),
        }
    }

    /// Runs after our record is committed: whatever happens here, that record stands.
    async fn sync_mirrors(
        &self,
        settings: &quench_core::config::Mirrors,
        commit: &Commit,
    ) -> Vec<String> {
        let (Some(mirror), Some(incident), Some(event)) =
            (&self.mirror, &commit.incident, &commit.timeline)
        else {
            return Vec::new();
        };
        if settings.is_off() {
            return Vec::new();
        }
        let report = mirror.sync(settings, incident, event).await;
        let mut failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{} {}: {}", f.target, f.operation, f.message))
            .collect();
        for failure in &report.failures {
            tracing::warn!(
                incident_id = %incident.id,
                target = failure.target,
                operation = failure.operation,
                error = %failure.message,
                "mirror sync failed; our record stands"
            );
        }
        let learned = &report.learned;
        if learned.incident_manager_arn.is_some() || learned.ops_item_id.is_some() {
            if let Err(e) =
                store_mirror_ids(&self.store, &incident.dedup_key, &incident.id, learned).await
            {
                tracing::warn!(incident_id = %incident.id, error = %e, "could not keep mirror ids");
                failures.push(format!("store mirror ids: {e}"));
            }
        }
        failures
    }
}

impl<M: IncidentMirror + Sync> Handler<DynamoStore, M> {
    /// An operation on an incident known by its id alone, for front ends that have
    /// nothing else (the `quench-op` command, chat buttons): the dedup key is read from
    /// the incident, and the operation takes the same path as an `operation` request.
    pub async fn operate_by_id(
        &self,
        action: OperationKind,
        incident_id: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let incident =
            self.store.incident(incident_id).await?.ok_or_else(|| {
                HandlerError::InvalidRequest(format!("no incident `{incident_id}`"))
            })?;
        let operation = Operation {
            action,
            dedup_key: incident.dedup_key,
            incident_id: incident_id.to_string(),
            by: by.to_string(),
            reason: reason.to_string(),
        };
        self.operate(&operation, now).await
    }
}

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, AwsMirror>;

/// Reads the environment once: `QUENCH_TABLE` (required); the config from the SSM
/// parameter `QUENCH_CONFIG_PARAMETER`, else the file `QUENCH_CONFIG_FILE`, else the
/// bundled file.
pub async fn init_from_env() -> Result<LambdaHandler, InitError> {
    let table = required_env("QUENCH_TABLE")?;
    let sdk = sdk_config("alarm-to-incident").await;
    let config = load_config(&sdk).await?;
    let mirrors_wanted = config.plans.values().any(|p| !p.mirror.is_off());
    let mirror = mirrors_wanted.then(|| {
        AwsMirror::new(
            aws_sdk_ssmincidents::Client::new(&sdk),
            aws_sdk_ssm::Client::new(&sdk),
        )
    });
    Ok(Handler {
        config,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        mirror,
    })
}

/// The Lambda entry point over a shared handler.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    handler.handle(event.payload.get(), Utc::now()).await
}
