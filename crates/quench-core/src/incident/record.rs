//! The incident as stored: its record, the head of a dedup key (the versioned item every
//! write is conditioned on), the timeline, and the decision and commit a decision returns.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::config::plan::{Plan, ResolveOnOk, UNHANDLED_AFTER};
use crate::escalation::paging::{Page, Paging, PagingState};
use crate::escalation::policy::ChatIdentity;
use crate::text::stable_hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Resolved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// Ids of the copies kept in other AWS services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_manager_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_item_id: Option<String>,
}

/// What opened the incident, kept for people and for the runbooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub alarm_name: String,
    pub alarm_arn: String,
    pub account: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub reason: String,
    /// The alarm's tags when it opened the incident (EventBridge `alarmTags`), for
    /// runbook templates (`alarm.tags.<key>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub id: String,
    pub dedup_key: String,
    pub plan: String,
    pub impact: u8,
    pub title: String,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When automation gave up (or someone asked) and people were engaged; cleared on
    /// reopen, so a reopened incident escalates afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<Utc>>,
    /// Set while an OK waits out the plan's stable period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reopen_count: u32,
    /// Every alarm series that has joined this incident.
    pub series: BTreeSet<String>,
    pub trigger: Trigger,
    #[serde(default)]
    pub mirrors: MirrorIds,
    /// Where the incident is in its escalation policy, once escalated under a plan
    /// that has one; cleared on reopen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    /// The newest alarm change, reopen or operation on the incident; `None` in items
    /// written before it was kept, read as `created_at`. The stale limit counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_at: Option<DateTime<Utc>>,
    /// When the safety net looks at the incident next, as the ticker last set it from
    /// the last sign the incident is being handled; `None`: the plan's limit after it
    /// opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_at: Option<DateTime<Utc>>,
    /// When the ticker last read the alarms to find a recovery Quench never heard of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms_checked_at: Option<DateTime<Utc>>,
    /// When the ticker must next look at the incident (the next page, a recovery
    /// check, the stale limit); `None` once resolved. The store indexes it sparsely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Bumped on every change to the record.
    pub version: u64,
}

/// How often the ticker re-reads the alarms of an open incident whose plan resolves on
/// OK, in case the OK was lost.
pub const RECOVERY_CHECK_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// How long after a pending resolution was due the ticker completes it itself; the state
/// machine's wait normally does it first.
pub const PENDING_RESOLVE_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

impl IncidentRecord {
    /// When the ticker next reads the incident's alarms for a recovery Quench did not
    /// hear of; `None` under a plan that never resolves on OK.
    pub fn next_alarm_check(&self, plan: Option<&Plan>) -> Option<DateTime<Utc>> {
        plan.filter(|p| p.resolve_on_ok != ResolveOnOk::Never)
            .and_then(|_| {
                self.alarms_checked_at
                    .unwrap_or(self.created_at)
                    .checked_add_signed(RECOVERY_CHECK_EVERY)
            })
    }

    /// Whether nobody has taken the incident on: open, neither acknowledged nor
    /// escalated. The safety net watches these.
    pub fn unhandled(&self) -> bool {
        self.status == IncidentStatus::Open && self.escalated_at.is_none()
    }

    /// When the safety net looks at an unhandled incident next: as the ticker set it,
    /// or first the plan's own limit (without its runbook's, which only the ticker
    /// weighs, so this is never later) after the incident opened.
    pub fn net_look(&self, plan: Option<&Plan>) -> Option<DateTime<Utc>> {
        let first = plan
            .and_then(|p| p.escalate_unhandled_after)
            .unwrap_or(UNHANDLED_AFTER);
        self.unhandled()
            .then(|| self.net_at.or_else(|| first.after(self.created_at)))
            .flatten()
    }

    /// When the incident last saw an alarm change, a reopen or an operation.
    pub fn last_active(&self) -> DateTime<Utc> {
        self.active_at.unwrap_or(self.created_at)
    }

    /// Records activity at `at`; never backwards, as changes of several series arrive
    /// out of order.
    pub fn touch(&mut self, at: DateTime<Utc>) {
        self.active_at = Some(self.last_active().max(at));
    }

    /// Recomputes [`IncidentRecord::due_at`] after a change, under the incident's plan.
    pub fn reschedule(&mut self, plan: Option<&Plan>) {
        if !self.status.is_active() {
            self.due_at = None;
            if let Some(paging) = &mut self.paging {
                paging.next_at = None;
                if matches!(
                    paging.state,
                    PagingState::Waiting | PagingState::Acknowledged
                ) {
                    paging.state = PagingState::Stopped;
                }
            }
            return;
        }
        let paging = self.paging.as_ref().and_then(|p| p.next_at);
        let recovery = self.next_alarm_check(plan);
        let stale = plan
            .and_then(|p| p.stale_after)
            .and_then(|limit| limit.after(self.last_active()));
        let pending = self
            .resolve_due_at
            .and_then(|due| due.checked_add_signed(PENDING_RESOLVE_GRACE));
        self.due_at = [paging, recovery, stale, pending, self.net_look(plan)]
            .into_iter()
            .flatten()
            .min();
    }
}

/// The newest applied state of one alarm series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesState {
    pub state: AlarmState,
    /// Whether the plan counts this series as a problem (INSUFFICIENT_DATA per policy).
    pub alarming: bool,
    pub at: DateTime<Utc>,
    /// What that change did to an incident, when it opened, reopened or resolved one,
    /// so a redelivery of the very same change answers with it (see
    /// [`Decision::redelivery`]) and its execution carries on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made: Option<Transition>,
}

/// A transition one alarm change made, remembered on its series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub decision: DecisionKind,
    pub incident_id: String,
    /// The incident's reopen count after the change: a later reopen is another episode,
    /// which this change's execution must not carry on.
    pub episode: u32,
}

/// The one item per dedup key that every change for the key is decided against and
/// conditionally rewritten. It owns the current incident, so "at most one active
/// incident per key" is a property of one item, enforced by its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupHead {
    pub dedup_key: String,
    pub version: u64,
    pub series: BTreeMap<String, SeriesState>,
    /// The newest state timestamp among series forgotten for their age (see
    /// [`DedupHead::forget_old_series`]): a change of a series the head does not know,
    /// stamped at or before it, may be a late copy of a forgotten one and is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgotten_through: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRecord>,
}

/// How long a recovered series is remembered at least (longer under a longer flap
/// window). Its only use by then is ordering: a copy of one of its changes arriving
/// later than this is refused by [`DedupHead::forgotten_through`] instead.
pub const SERIES_MEMORY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The most bytes one head's series may take. A DynamoDB item holds at most 400 KB,
/// and with `dedupe: plan` (or churning contributors) the series of one key are
/// unbounded; this leaves room for the incident the head holds
/// (`the_fullest_head_fits_an_item`). About 1,500 series of 100-character alarm names.
pub const MAX_HEAD_SERIES_BYTES: usize = 240_000;

/// The most series an incident lists as having joined it; more still attach.
pub const MAX_INCIDENT_SERIES: usize = 20;

/// About what one series takes in the stored head (its key, its state as JSON).
fn series_bytes(key: &str, state: &SeriesState) -> usize {
    const STATE_JSON: usize = 90;
    const TRANSITION_JSON: usize = 60;
    key.len()
        + STATE_JSON
        + state
            .made
            .as_ref()
            .map_or(0, |m| m.incident_id.len() + TRANSITION_JSON)
}

impl DedupHead {
    pub fn empty(dedup_key: &str) -> Self {
        DedupHead {
            dedup_key: dedup_key.to_string(),
            version: 0,
            series: BTreeMap::new(),
            forgotten_through: None,
            incident: None,
        }
    }

    /// Whether a change of `series_key` stamped `at` is older than what the head knows
    /// or has forgotten of that series.
    pub fn knows_newer(&self, series_key: &str, at: DateTime<Utc>) -> bool {
        match self.series.get(series_key) {
            Some(known) => at <= known.at,
            None => self.forgotten_through.is_some_and(|through| at <= through),
        }
    }

    /// Keeps the head within an item: forgets recovered series older than `memory`
    /// before `now` (remembering the newest such timestamp for ordering), then, over
    /// [`MAX_HEAD_SERIES_BYTES`], the oldest series, recovered ones first. Forgetting a recent
    /// series for room does not move `forgotten_through`: a late copy of one of its
    /// changes may then open an incident the recovery check soon resolves, where moving
    /// it could refuse a new alarm's first change.
    pub fn forget_old_series(&mut self, now: DateTime<Utc>, memory: chrono::TimeDelta) {
        let horizon = now.checked_sub_signed(memory);
        let old: Vec<String> = self
            .series
            .iter()
            .filter(|(_, s)| !s.alarming && horizon.is_some_and(|h| s.at < h))
            .map(|(key, _)| key.clone())
            .collect();
        for key in old {
            if let Some(gone) = self.series.remove(&key) {
                self.forgotten_through = self.forgotten_through.max(Some(gone.at));
            }
        }
        let mut bytes: usize = self.series.iter().map(|(k, s)| series_bytes(k, s)).sum();
        if bytes <= MAX_HEAD_SERIES_BYTES {
            return;
        }
        let mut by_age: Vec<(bool, DateTime<Utc>, String)> = self
            .series
            .iter()
            .map(|(key, s)| (s.alarming, s.at, key.clone()))
            .collect();
        by_age.sort();
        for (_, _, key) in by_age {
            if bytes <= MAX_HEAD_SERIES_BYTES {
                break;
            }
            if let Some(gone) = self.series.remove(&key) {
                bytes -= series_bytes(&key, &gone);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    Attached,
    Reopened,
    /// One series recovered while the incident stays open (others alarm, or the plan
    /// never resolves on OK).
    Recovered,
    ResolvePending,
    Resolved,
    /// A runbook step finished (or was refused): its outcome, for people and for chat.
    Step,
    /// People were engaged: the runbook did not fix it, failed, or someone asked.
    Escalated,
    /// A chat channel did not get a message after every retry; the message went to the
    /// dead-letter queue. Never itself sent to chat.
    ChatFailed,
    /// Someone took the incident on.
    Acknowledged,
    /// The escalation policy paged a stage (or gave up): who, and why now.
    Paging,
    /// One page reached a contact's channel. Sent to chat only when it is a chat page
    /// (it carries the mention).
    Paged,
    /// A page failed every attempt. Never itself sent to chat.
    PageFailed,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Attached => "attached",
            Self::Reopened => "reopened",
            Self::Recovered => "recovered",
            Self::ResolvePending => "resolve_pending",
            Self::Resolved => "resolved",
            Self::Step => "step",
            Self::Escalated => "escalated",
            Self::ChatFailed => "chat_failed",
            Self::Acknowledged => "acknowledged",
            Self::Paging => "paging",
            Self::Paged => "paged",
            Self::PageFailed => "page_failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub incident_id: String,
    /// Sort key within the incident; deterministic so a retried write is the same item.
    pub event_key: String,
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub alarm_name: String,
    pub series: String,
    pub state: AlarmState,
    pub summary: String,
    /// A chat page: who to mention, on which channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<ChatIdentity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The same change was already applied.
    Duplicate,
    /// A newer change of the same series was already applied.
    Stale,
    /// An OK (or equivalent) with no active incident to resolve.
    NothingOpen,
    /// INSUFFICIENT_DATA under a plan that ignores it.
    InsufficientData,
    /// A pending resolution was checked before it was due.
    NotYetDue,
    /// A pending resolution found the alarm in ALARM again.
    Realarmed,
    /// No pending resolution for that incident.
    NothingPending,
    /// The incident was already escalated.
    AlreadyEscalated,
    /// The incident was already acknowledged.
    AlreadyAcknowledged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Opened,
    Attached,
    Reopened,
    Resolved,
    ResolvePending,
    Escalated,
    Acknowledged,
    Ignored,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Attached => "attached",
            Self::Reopened => "reopened",
            Self::Resolved => "resolved",
            Self::ResolvePending => "resolve_pending",
            Self::Escalated => "escalated",
            Self::Acknowledged => "acknowledged",
            Self::Ignored => "ignored",
        }
    }
}

/// What the state machine branches on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: DecisionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    pub plan: String,
    pub dedup_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_because: Option<IgnoreReason>,
    /// When a pending resolution becomes due (for `resolve_pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_due_at: Option<DateTime<Utc>>,
    /// This change was applied before (a retry of a write that landed, a retried
    /// invocation, a replay): the decision is what it did then, and nothing was written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivery: bool,
}

/// Everything one decision writes, applied atomically on the condition that the head is
/// still at `expected_version` (`None`: the head must not exist yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub expected_version: Option<u64>,
    pub head: DedupHead,
    /// The incident item to write, when the incident changed.
    pub incident: Option<IncidentRecord>,
    pub timeline: Option<TimelineEvent>,
    /// Pages to create (each only if not there yet).
    pub pages: Vec<Page>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    /// `None`: nothing to write.
    pub commit: Option<Commit>,
}

const MAX_SUMMARY_CHARS: usize = 1024;

/// Deterministic, so a retried open computes the same id and the conditional put of the
/// incident item refuses a second one; sortable by opening time; readable in a console.
pub fn incident_id(dedup_key: &str, opened_at: DateTime<Utc>) -> String {
    format!(
        "inc-{}-{:016x}",
        opened_at.format("%Y%m%dT%H%M%S%3fZ"),
        stable_hash(dedup_key)
    )
}

pub(crate) fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…[truncated]", &text[..cut]),
        None => text.to_string(),
    }
}
