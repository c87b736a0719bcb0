//! The port the incident store adapters implement: the head of a dedup key, read
//! strongly, and a commit written only on that head's version.

use std::collections::BTreeSet;
use std::future::Future;

use crate::escalation::paging::MAX_PAGES_PER_WAVE;
use crate::incident::record::{Commit, DedupHead};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The head moved since it was read: decide again on the new state.
    #[error("dedup head changed concurrently")]
    Conflict,
    /// Throttling, timeouts, 5xx: worth retrying later.
    #[error("incident store is unavailable: {0}")]
    Unavailable(String),
    /// Anything a retry will not fix.
    #[error("incident store failed: {0}")]
    Failed(String),
}

/// A commit is one DynamoDB transaction, which takes at most 100 items, each once.
pub const MAX_COMMIT_ITEMS: usize = 100;

// The largest wave validation lets through still fits beside the head, the incident and
// its timeline event.
const _: () = assert!(MAX_PAGES_PER_WAVE + 3 <= MAX_COMMIT_ITEMS);

/// Whether `commit` can be written as one transaction: at most [`MAX_COMMIT_ITEMS`]
/// items and no item twice. Validation keeps the decisions inside both; a store checks
/// anyway, so a commit that is not is refused for what it is rather than half-described
/// by the database.
pub fn fits_one_transaction(commit: &Commit) -> Result<(), StoreError> {
    let items = 1
        + usize::from(commit.incident.is_some())
        + usize::from(commit.timeline.is_some())
        + commit.pages.len();
    if items > MAX_COMMIT_ITEMS {
        return Err(StoreError::Failed(format!(
            "a commit of {items} items ({} pages) is more than the {MAX_COMMIT_ITEMS} one transaction holds",
            commit.pages.len()
        )));
    }
    let mut keys = BTreeSet::new();
    for page in &commit.pages {
        if !keys.insert((page.incident_id.as_str(), page.key())) {
            return Err(StoreError::Failed(format!(
                "a commit writes page `{}` of incident `{}` twice",
                page.key(),
                page.incident_id
            )));
        }
    }
    Ok(())
}

pub trait IncidentStore {
    /// Strongly consistent read of the head of a dedup key.
    fn load_head(
        &self,
        dedup_key: &str,
    ) -> impl Future<Output = Result<Option<DedupHead>, StoreError>> + Send;

    /// Writes everything in the commit atomically, only if the head is still at
    /// `commit.expected_version`; otherwise `StoreError::Conflict` and nothing written.
    fn apply(&self, commit: &Commit) -> impl Future<Output = Result<(), StoreError>> + Send;
}
