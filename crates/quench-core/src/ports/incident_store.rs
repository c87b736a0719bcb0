//! The port the incident store adapters implement: the head of a dedup key, read
//! strongly, and a commit written only on that head's version.

use std::future::Future;

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
