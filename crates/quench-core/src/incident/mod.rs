//! Incidents: the stored record and the decisions about it.
//!
//! Every decision is pure (no clock, no I/O) and returns a [`Commit`] the store writes
//! on the condition that the dedup key's head is still at the version the decision read:
//! `decide` for an alarm change, `operate` for someone's word, `tick` for the ticker's
//! due work, confirm-resolve for a resolution that waited out its stable period. `apply`
//! is the one loop that reads, decides, commits and re-decides on a lost race, for all
//! of them.
//!
//! Layout: `record` (the stored model), `commit` (how decisions build an outcome),
//! `decide`, `operate`, `tick`, `apply`.

pub(crate) mod apply;
pub(crate) mod commit;
pub(crate) mod decide;
pub(crate) mod operate;
pub(crate) mod record;
pub(crate) mod tick;

pub use apply::{
    apply_change, apply_operation, apply_pending_resolve, apply_tick, store_mirror_ids, ApplyError,
    MAX_DECIDE_ATTEMPTS,
};
pub use decide::{attach_mirror_ids, confirm_pending_resolve, decide};
pub use operate::{operate, Operation, OperationKind};
pub use record::{
    incident_id, Commit, Decision, DecisionKind, DedupHead, IgnoreReason, IncidentRecord,
    IncidentStatus, MirrorIds, Outcome, SeriesState, TimelineEvent, TimelineKind, Transition,
    Trigger, MAX_HEAD_SERIES_BYTES, MAX_INCIDENT_SERIES, PENDING_RESOLVE_GRACE,
    RECOVERY_CHECK_EVERY, SERIES_MEMORY,
};
pub use tick::{
    alarms_to_check, last_handled, may_page, net_due, page_wanted, tick, AlarmReading, Seen,
};
