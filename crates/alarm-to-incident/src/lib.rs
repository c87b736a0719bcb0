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
//! `already_acknowledged`). Output is the [`Decision`](quench_core::incident::Decision) the state
//! machine branches on. Operations, and what follows any decision (metrics, mirrors),
//! are [`quench_aws::incidents`], shared with the `quench-op` command.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
pub use quench_aws::handler::{HandlerError, InitError};
pub use quench_aws::incidents::Response;
use quench_aws::incidents::{IncidentPorts, Incidents};
use quench_aws::mirror::AwsMirror;
use quench_aws::store::DynamoStore;
use quench_core::alarm::{parse_alarm_value, parse_payload, AlarmChange, EventError};
use quench_core::config::Config;
use quench_core::incident::Operation;
use quench_core::incident::{apply_change, apply_pending_resolve};
use quench_core::ports::IncidentMirror;
use quench_core::ports::IncidentStore;
use serde::Deserialize;
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
            return Ok(self
                .incidents()
                .respond(decision, commit.as_ref(), now)
                .await);
        }
        if value.get("operation").is_some() {
            let request: OperationRequest = serde_json::from_value(value)
                .map_err(|e| HandlerError::InvalidRequest(format!("operation: {e}")))?;
            return self.incidents().operate(&request.operation, now).await;
        }
        let changes = parse_alarm_value(&value, now)?;
        // Every record is routed before any is applied: a refusal after the first commit
        // would leave a retry facing a half-applied event.
        for change in &changes {
            self.config.route(change)?;
        }
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

    /// The ports, lent to the decisions shared with `quench-op`, e.g.
    /// [`Incidents::operate_by_id`] for an incident known by its id alone.
    pub fn incidents(&self) -> Incidents<'_, S, M> {
        Incidents {
            config: &self.config,
            store: &self.store,
            mirror: self.mirror.as_ref(),
        }
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
        Ok(self
            .incidents()
            .respond(decision, commit.as_ref(), now)
            .await)
    }
}

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, AwsMirror>;

/// Reads the environment once (see [`IncidentPorts::from_env`]).
pub async fn init_from_env() -> Result<LambdaHandler, InitError> {
    let IncidentPorts {
        config,
        store,
        mirror,
    } = IncidentPorts::from_env("alarm-to-incident").await?;
    Ok(Handler {
        config,
        store,
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
