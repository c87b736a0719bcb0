//! The port for optional copies of an incident in AWS services (Incident Manager,
//! OpsCenter). Our DynamoDB record is the system of record: a mirror is written after
//! it, and a mirror failure is reported, never allowed to undo or block that record.

use std::future::Future;

use crate::config::plan::Mirrors;
use crate::incident::record::{IncidentRecord, MirrorIds, TimelineEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFailure {
    /// `incident_manager` or `ops_center`.
    pub target: &'static str,
    /// The operation that failed, e.g. `StartIncident`.
    pub operation: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorReport {
    /// Ids learned by this sync (a new Incident Manager incident or OpsItem); the caller
    /// stores them on the incident.
    pub learned: MirrorIds,
    pub failures: Vec<MirrorFailure>,
}

pub trait IncidentMirror {
    /// Brings the mirrors configured in `settings` in line with one change of the
    /// incident: `Opened` creates, `Reopened` reopens, `Resolved` resolves, and every
    /// kind adds a timeline entry where the mirror has a timeline. Ids already on
    /// `incident.mirrors` are reused, never created twice.
    fn sync(
        &self,
        settings: &Mirrors,
        incident: &IncidentRecord,
        event: &TimelineEvent,
    ) -> impl Future<Output = MirrorReport> + Send;
}
