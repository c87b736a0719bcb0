//! The store operations of the escalation ticker beyond the incident head: what is due,
//! and the pages with their claims.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::escalation::paging::Page;
use crate::ports::incident_log::IncidentLog;
use crate::ports::incident_store::StoreError;

/// An item the store says is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueItem {
    Incident {
        incident_id: String,
        dedup_key: String,
    },
    Page {
        incident_id: String,
        page_key: String,
    },
}

/// The three queues of due work, read in this order so that no amount of routine work
/// holds up a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueQueue {
    /// Pages waiting to be sent, and claimed pages whose lease ran out.
    Pages,
    /// Incidents whose due work may page someone
    /// ([`crate::incident::tick::may_page`]).
    Paging,
    /// Every other due incident: recovery checks, stale limits, overdue resolutions.
    Routine,
}

pub trait PageStore: IncidentLog {
    /// What is due at `now` in one queue, oldest first, at most `limit` items. Open
    /// incidents that are not due cost nothing.
    fn due(
        &self,
        queue: DueQueue,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DueItem>, StoreError>> + Send;

    /// One page, strongly consistent.
    fn page(
        &self,
        incident_id: &str,
        page_key: &str,
    ) -> impl Future<Output = Result<Option<Page>, StoreError>> + Send;

    /// Every page of the incident.
    fn pages(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<Page>, StoreError>> + Send;

    /// Claims a page, as read, for sending at `now`: `false` when another ticker claimed
    /// it less than `lease` ago, or it is no longer the pending page that was read.
    fn claim_page(
        &self,
        page: &Page,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how a claimed page ended: sent, cancelled, failed, or pending again with
    /// its next attempt's time.
    fn settle_page(&self, page: &Page) -> impl Future<Output = Result<(), StoreError>> + Send;
}
