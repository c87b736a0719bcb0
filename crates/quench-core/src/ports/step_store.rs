//! The store operations a runbook step needs beyond the incident and its timeline: the
//! claims that keep a retried step from acting twice.

use std::future::Future;

use crate::ports::actions::StepClaim;
use crate::ports::incident_log::IncidentLog;
use crate::ports::incident_store::StoreError;

pub trait StepStore: IncidentLog {
    /// Claims one execution of a step before it acts. `None`: the claim is ours, act.
    /// `Some(claim)`: an earlier attempt claimed it; reuse what it recorded.
    fn claim_step(
        &self,
        claim: &StepClaim,
    ) -> impl Future<Output = Result<Option<StepClaim>, StoreError>> + Send;

    /// Records what the claimed step's action returned (command id, execution id).
    fn record_step_handle(
        &self,
        claim: &StepClaim,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives a claim back when its action's call failed, so a later attempt may act.
    fn release_step(
        &self,
        claim: &StepClaim,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
