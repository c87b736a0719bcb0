//! The loop that applies a decision through the store: read the head, decide, write on
//! the condition that the head has not moved, and decide again on the fresh head when
//! another writer won. Every front end (alarm changes, pending resolutions, operations,
//! ticks, mirror ids) goes through it.

use chrono::{DateTime, Utc};

use crate::alarm::AlarmChange;
use crate::config::file::Config;
use crate::incident::decide::{attach_mirror_ids, confirm_pending_resolve, decide};
use crate::incident::operate::{operate, Operation};
use crate::incident::record::{Commit, Decision, DedupHead, MirrorIds, Outcome};
use crate::incident::tick::{tick, Seen};
use crate::ports::incident_store::{IncidentStore, StoreError};
use crate::routing::RoutingError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dedup key `{0}` kept changing under {1} attempts")]
    Contended(String, usize),
}

/// How many times a lost race is re-decided. Each loss means another writer made
/// progress on the same key, so a handful is plenty even with a burst of duplicates.
pub const MAX_DECIDE_ATTEMPTS: usize = 8;

/// Routes, decides and applies one alarm change. A lost conditional write is re-decided
/// against the fresh head: the second of two identical deliveries then sees the first
/// one's write and becomes a duplicate, so racing deliveries never open two incidents.
pub async fn apply_change<S: IncidentStore + Sync>(
    store: &S,
    config: &Config,
    change: &AlarmChange,
) -> Result<(Decision, Option<Commit>), ApplyError> {
    let routed = config.route(change)?;
    let dedup_key = routed.dedup_key(change);
    decide_and_apply(store, &dedup_key, None, |head| {
        let outcome = decide(head, change, &routed, &dedup_key);
        (outcome.decision, outcome.commit)
    })
    .await
}

/// Completes a resolution that waited out a stable period (called after the wait).
pub async fn apply_pending_resolve<S: IncidentStore + Sync>(
    store: &S,
    dedup_key: &str,
    incident_id: &str,
    now: DateTime<Utc>,
) -> Result<(Decision, Option<Commit>), ApplyError> {
    decide_on_head(store, dedup_key, None, |head| {
        confirm_pending_resolve(head, incident_id, now)
    })
    .await
}

/// Resolves or escalates an incident on someone's word (a runbook, a person).
pub async fn apply_operation<S: IncidentStore + Sync>(
    store: &S,
    config: &Config,
    operation: &Operation,
    now: DateTime<Utc>,
) -> Result<(Decision, Option<Commit>), ApplyError> {
    decide_on_head(store, &operation.dedup_key, None, |head| {
        operate(head, operation, config, now)
    })
    .await
}

/// Does what is due for one incident on the ticker's word (see [`crate::incident::tick::tick`]).
/// `head` is the head the ticker just read (to know which alarms to read): the first
/// decision is made on it rather than on a second read of the same item.
pub async fn apply_tick<S: IncidentStore + Sync>(
    store: &S,
    config: &Config,
    head: DedupHead,
    incident_id: &str,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<(Decision, Option<Commit>), ApplyError> {
    let dedup_key = head.dedup_key.clone();
    decide_on_head(store, &dedup_key, Some(head), |head| {
        tick(head, incident_id, config, seen, now)
    })
    .await
}

/// Keeps the ids of the incident's mirror copies. Returns whether anything was written.
pub async fn store_mirror_ids<S: IncidentStore + Sync>(
    store: &S,
    dedup_key: &str,
    incident_id: &str,
    learned: &MirrorIds,
) -> Result<bool, ApplyError> {
    let ((), commit) = decide_and_apply(store, dedup_key, None, |head| {
        (
            (),
            head.and_then(|h| attach_mirror_ids(h, incident_id, learned)),
        )
    })
    .await?;
    Ok(commit.is_some())
}

/// [`decide_and_apply`] for decisions about an incident the head may no longer (or
/// never) hold: a missing head decides as an empty one.
async fn decide_on_head<S, F>(
    store: &S,
    dedup_key: &str,
    read: Option<DedupHead>,
    decide: F,
) -> Result<(Decision, Option<Commit>), ApplyError>
where
    S: IncidentStore + Sync,
    F: Fn(&DedupHead) -> Outcome,
{
    decide_and_apply(store, dedup_key, read, |head| {
        let outcome = match head {
            Some(head) => decide(head),
            None => decide(&DedupHead::empty(dedup_key)),
        };
        (outcome.decision, outcome.commit)
    })
    .await
}

/// Reads the head, decides, and writes on the condition that the head has not moved;
/// a lost race decides again on the fresh head. `read` is a head the caller read just
/// now, decided on first instead of reading it again.
async fn decide_and_apply<S, T, F>(
    store: &S,
    dedup_key: &str,
    mut read: Option<DedupHead>,
    decide: F,
) -> Result<(T, Option<Commit>), ApplyError>
where
    S: IncidentStore + Sync,
    F: Fn(Option<&DedupHead>) -> (T, Option<Commit>),
{
    for _ in 0..MAX_DECIDE_ATTEMPTS {
        let head = match read.take() {
            Some(head) => Some(head),
            None => store.load_head(dedup_key).await?,
        };
        let (result, commit) = decide(head.as_ref());
        let Some(commit) = commit else {
            return Ok((result, None));
        };
        match store.apply(&commit).await {
            Ok(()) => return Ok((result, Some(commit))),
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApplyError::Contended(
        dedup_key.to_string(),
        MAX_DECIDE_ATTEMPTS,
    ))
}
