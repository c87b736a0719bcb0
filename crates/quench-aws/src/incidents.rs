//! What alarm-to-incident and the `quench-op` command share: an operation on an
//! incident through the same validation, conditional write, metrics and mirrors; the
//! response the state machine reads; and the incident ports built from the environment.

use chrono::{DateTime, Utc};
use quench_core::config::{Config, Mirrors};
use quench_core::incident::{apply_operation, store_mirror_ids};
use quench_core::incident::{Commit, Decision, DecisionKind, Operation, OperationKind};
use quench_core::ports::IncidentLog;
use quench_core::ports::IncidentMirror;
use quench_core::ports::IncidentStore;
use serde::Serialize;

use crate::handler::{required_env, HandlerError, InitError};
use crate::metrics;
use crate::mirror::AwsMirror;
use crate::sdk::{load_config, sdk_config};
use crate::store::DynamoStore;

/// Operation reasons and actors end up in timelines and chat; longer is not from us.
const MAX_OPERATION_TEXT: usize = 4_096;

/// A decision as the state machine (and `quench-op`) reads it.
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

/// The incident ports and config of one function, lent for one decision.
pub struct Incidents<'a, S, M> {
    pub config: &'a Config,
    pub store: &'a S,
    /// `None` when no plan mirrors anything: nothing called.
    pub mirror: Option<&'a M>,
}

impl<S, M> Incidents<'_, S, M>
where
    S: IncidentStore + Sync,
    M: IncidentMirror + Sync,
{
    /// Validates and applies an operation on someone's word (a runbook, a person).
    /// Operations are idempotent: repeating one is `ignored`.
    pub async fn operate(
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
        let (decision, commit) = apply_operation(self.store, self.config, operation, now).await?;
        tracing::info!(
            action = ?operation.action,
            by = %operation.by,
            decision = decision.decision.as_str(),
            incident_id = %operation.incident_id,
            "incident operation"
        );
        Ok(self.respond(decision, commit.as_ref(), now).await)
    }

    /// The response to a decision: after a commit, its metrics and the mirrors' sync
    /// (whatever happens there, our record stands).
    pub async fn respond(
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
    async fn sync_mirrors(&self, settings: &Mirrors, commit: &Commit) -> Vec<String> {
        let (Some(mirror), Some(incident), Some(event)) =
            (self.mirror, &commit.incident, &commit.timeline)
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
                store_mirror_ids(self.store, &incident.dedup_key, &incident.id, learned).await
            {
                tracing::warn!(incident_id = %incident.id, error = %e, "could not keep mirror ids");
                failures.push(format!("store mirror ids: {e}"));
            }
        }
        failures
    }
}

impl<S, M> Incidents<'_, S, M>
where
    S: IncidentStore + IncidentLog + Sync,
    M: IncidentMirror + Sync,
{
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
            unless_alarmed_after: None,
        };
        self.operate(&operation, now).await
    }
}

/// The incident table, the config and the mirrors, as a function that decides on
/// incidents builds them once per cold start.
pub struct IncidentPorts {
    pub config: Config,
    pub store: DynamoStore,
    /// `None` when no plan mirrors anything: no clients built.
    pub mirror: Option<AwsMirror>,
}

impl IncidentPorts {
    /// Reads the environment once: `QUENCH_TABLE` (required); the config from the SSM
    /// parameter `QUENCH_CONFIG_PARAMETER`, else the file `QUENCH_CONFIG_FILE`, else the
    /// bundled file. `function` names the caller in the SDK's user agent.
    pub async fn from_env(function: &str) -> Result<Self, InitError> {
        let table = required_env("QUENCH_TABLE")?;
        let sdk = sdk_config(function).await;
        let config = load_config(&sdk).await?;
        let mirrors_wanted = config.plans.values().any(|p| !p.mirror.is_off());
        let mirror = mirrors_wanted.then(|| {
            AwsMirror::new(
                aws_sdk_ssmincidents::Client::new(&sdk),
                aws_sdk_ssm::Client::new(&sdk),
            )
        });
        Ok(IncidentPorts {
            config,
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            mirror,
        })
    }

    pub fn incidents(&self) -> Incidents<'_, DynamoStore, AwsMirror> {
        Incidents {
            config: &self.config,
            store: &self.store,
            mirror: self.mirror.as_ref(),
        }
    }
}
