//! The incident as recorded, outside its head: the incident item and its timeline. What
//! every function that reads an incident or adds to its story shares.

use std::future::Future;

use crate::incident::record::{IncidentRecord, TimelineEvent};
use crate::ports::incident_store::StoreError;

pub trait IncidentLog {
    /// The incident item, as last written.
    fn incident(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Option<IncidentRecord>, StoreError>> + Send;

    /// The incident's timeline, oldest first (ties broken by event key).
    fn timeline(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<TimelineEvent>, StoreError>> + Send;

    /// Appends one event unless an event with its key is already there (a retried
    /// invocation computes the same key). Returns whether it was written.
    fn append_timeline(
        &self,
        event: &TimelineEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
