//! The store operations a runbook step needs beyond the incident and its timeline: the
//! claims that keep a retried step from acting twice, and the outcomes of finished steps,
//! which later steps' templates read (the state machine carries only where they are).

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::ports::actions::StepClaim;
use crate::ports::incident_log::IncidentLog;
use crate::ports::incident_store::StoreError;
use crate::runbook::outcome::StepOutcome;

/// One run of one step of one incident's runbook: what its outcome is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRun {
    pub incident_id: String,
    /// The incident's reopen count when the runbook started.
    pub episode: u32,
    /// How many steps of the runbook had finished when this one started.
    pub run: u32,
    pub step: String,
}

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

    /// Gives a claim back when its action's call certainly did not act, so a later
    /// attempt may act.
    fn release_step(
        &self,
        claim: &StepClaim,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a finished step's outcome unless one is recorded for this run already (a
    /// retried invocation finishing the same step); returns the one recorded, which is
    /// the one the timeline tells.
    fn record_outcome(
        &self,
        run: &StepRun,
        outcome: &StepOutcome,
    ) -> impl Future<Output = Result<StepOutcome, StoreError>> + Send;

    /// The outcome recorded for a run of a step, if any.
    fn outcome(
        &self,
        run: &StepRun,
    ) -> impl Future<Output = Result<Option<StepOutcome>, StoreError>> + Send;
}
