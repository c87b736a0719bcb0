//! The incident decision: given what is known about a dedup key and one alarm change,
//! what happens. Pure: no clock, no I/O. The store applies the returned [`Commit`] with a
//! condition on the version it read, so two deliveries racing each other cannot both win.
//!
//! Ordering rule: each alarm series (alarm ARN, plus contributor) remembers the state
//! timestamp of the newest change applied to it. A change that is not newer than that is
//! a duplicate or arrived late, and changes nothing. So a late ALARM never reopens what a
//! newer OK resolved, and a late OK never resolves a newer ALARM.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmChange, AlarmState};
use crate::config::{Config, InsufficientData, Plan, ResolveOnOk};
use crate::escalation::{self, AckEffect, ChatIdentity, Page, Paging, PagingState};
use crate::routing::Routed;

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
            .map(|_| self.alarms_checked_at.unwrap_or(self.created_at) + RECOVERY_CHECK_EVERY)
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
            .map(|limit| self.created_at + limit.to_chrono());
        let pending = self.resolve_due_at.map(|due| due + PENDING_RESOLVE_GRACE);
        self.due_at = [paging, recovery, stale, pending]
            .into_iter()
            .flatten()
            .min();
    }
}

/// The newest applied state of one alarm series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesState {
    pub state: AlarmState,
    /// Whether the plan counts this series as a problem (INSUFFICIENT_DATA per policy).
    pub alarming: bool,
    pub at: DateTime<Utc>,
}

/// The one item per dedup key that every change for the key is decided against and
/// conditionally rewritten. It owns the current incident, so "at most one active
/// incident per key" is a property of one item, enforced by its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupHead {
    pub dedup_key: String,
    pub version: u64,
    pub series: BTreeMap<String, SeriesState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRecord>,
}

impl DedupHead {
    pub fn empty(dedup_key: &str) -> Self {
        DedupHead {
            dedup_key: dedup_key.to_string(),
            version: 0,
            series: BTreeMap::new(),
            incident: None,
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

/// FNV-1a: stable across builds and platforms, unlike `DefaultHasher`, which matters
/// because these hashes end up in stored ids.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

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

fn timeline_event(
    incident_id: &str,
    kind: TimelineKind,
    change: &AlarmChange,
    summary: String,
) -> TimelineEvent {
    let series = change.series_key();
    TimelineEvent {
        incident_id: incident_id.to_string(),
        event_key: format!(
            "{}#{}#{:016x}",
            change.state_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            kind.as_str(),
            stable_hash(&series)
        ),
        at: change.state_at,
        kind,
        alarm_name: change.alarm_name.clone(),
        series,
        state: change.state,
        summary: bounded(&summary),
        mention: None,
    }
}

fn render_title(routed: &Routed<'_>, change: &AlarmChange) -> String {
    match &routed.plan.title {
        Some(template) => template.replace("{alarm}", &change.alarm_name),
        None => change.alarm_name.clone(),
    }
}

fn new_incident(routed: &Routed<'_>, change: &AlarmChange, dedup_key: &str) -> IncidentRecord {
    let metric = change.primary_metric();
    IncidentRecord {
        id: incident_id(dedup_key, change.state_at),
        dedup_key: dedup_key.to_string(),
        plan: routed.plan_name.to_string(),
        impact: routed.plan.impact,
        title: render_title(routed, change),
        status: IncidentStatus::Open,
        created_at: change.state_at,
        acknowledged_at: None,
        resolved_at: None,
        escalated_at: None,
        resolve_due_at: None,
        reopen_count: 0,
        series: BTreeSet::from([change.series_key()]),
        trigger: Trigger {
            alarm_name: change.alarm_name.clone(),
            alarm_arn: change.alarm_arn.clone(),
            account: change.account.clone(),
            region: change.region.clone(),
            namespace: metric.map(|m| m.namespace.clone()),
            metric: metric.map(|m| m.name.clone()),
            dimensions: change.dimensions(),
            threshold: change.threshold,
            reason: bounded(&change.reason),
            tags: change.tags.clone(),
        },
        mirrors: MirrorIds::default(),
        paging: None,
        alarms_checked_at: None,
        due_at: None,
        version: 1,
    }
}

/// How the plan reads a state: `Some(true)` a problem, `Some(false)` fine, `None` no
/// opinion (the previous verdict stands).
pub fn alarming(state: AlarmState, policy: InsufficientData) -> Option<bool> {
    match (state, policy) {
        (AlarmState::Alarm, _) | (AlarmState::InsufficientData, InsufficientData::Alarm) => {
            Some(true)
        }
        (AlarmState::Ok, _) | (AlarmState::InsufficientData, InsufficientData::Ok) => Some(false),
        (AlarmState::InsufficientData, InsufficientData::Ignore) => None,
    }
}

/// Decides what one alarm change does to the incidents of `dedup_key`.
pub fn decide(
    head: Option<&DedupHead>,
    change: &AlarmChange,
    routed: &Routed<'_>,
    dedup_key: &str,
) -> Outcome {
    let series_key = change.series_key();
    let decision = |kind: DecisionKind, incident_id: Option<&str>| Decision {
        decision: kind,
        incident_id: incident_id.map(str::to_string),
        plan: routed.plan_name.to_string(),
        dedup_key: dedup_key.to_string(),
        ignored_because: None,
        resolve_due_at: None,
    };
    let ignored = |reason: IgnoreReason| Outcome {
        decision: Decision {
            ignored_because: Some(reason),
            ..decision(
                DecisionKind::Ignored,
                head.and_then(|h| h.incident.as_ref())
                    .map(|i| i.id.as_str()),
            )
        },
        commit: None,
    };

    let known = head.and_then(|h| h.series.get(&series_key));
    if let Some(known) = known {
        if change.state_at == known.at && change.state == known.state {
            return ignored(IgnoreReason::Duplicate);
        }
        if change.state_at <= known.at {
            return ignored(IgnoreReason::Stale);
        }
    }
    let Some(is_alarming) = alarming(change.state, routed.plan.insufficient_data) else {
        // Nothing to record: an older change arriving after this one is judged against
        // the same stored state either way, so skipping the write keeps order-independence.
        return ignored(IgnoreReason::InsufficientData);
    };

    let mut next = head.cloned().unwrap_or_else(|| DedupHead::empty(dedup_key));
    let expected_version = head.map(|h| h.version);
    next.version += 1;
    next.series.insert(
        series_key.clone(),
        SeriesState {
            state: change.state,
            alarming: is_alarming,
            at: change.state_at,
        },
    );
    let any_alarming = next.series.values().any(|s| s.alarming);
    let current = next.incident.take();

    let (kind, incident, timeline_kind, summary) = match (is_alarming, current) {
        (true, Some(mut incident)) if incident.status.is_active() => {
            incident.series.insert(series_key.clone());
            incident.resolve_due_at = None;
            incident.version += 1;
            let summary = format!(
                "{} is {}: {}",
                change.alarm_name, change.state, change.reason
            );
            (
                DecisionKind::Attached,
                incident,
                TimelineKind::Attached,
                summary,
            )
        }
        (true, Some(mut incident))
            if routed.plan.flap_window.as_secs() > 0
                && incident.resolved_at.is_some_and(|resolved| {
                    change.state_at - resolved <= routed.plan.flap_window.to_chrono()
                }) =>
        {
            incident.status = IncidentStatus::Open;
            incident.resolved_at = None;
            incident.acknowledged_at = None;
            incident.escalated_at = None;
            incident.paging = None;
            incident.reopen_count += 1;
            incident.series.insert(series_key.clone());
            incident.version += 1;
            let summary = format!(
                "{} is {} again within the {} flap window: {}",
                change.alarm_name, change.state, routed.plan.flap_window, change.reason
            );
            (
                DecisionKind::Reopened,
                incident,
                TimelineKind::Reopened,
                summary,
            )
        }
        (true, _) => {
            let incident = new_incident(routed, change, dedup_key);
            let summary = format!(
                "{} is {}: {}",
                change.alarm_name, change.state, change.reason
            );
            (
                DecisionKind::Opened,
                incident,
                TimelineKind::Opened,
                summary,
            )
        }
        (false, Some(mut incident)) if incident.status.is_active() => {
            let recovered = format!(
                "{} is {}: {}",
                change.alarm_name, change.state, change.reason
            );
            incident.version += 1;
            if any_alarming {
                (
                    DecisionKind::Attached,
                    incident,
                    TimelineKind::Recovered,
                    recovered,
                )
            } else {
                match routed.plan.resolve_on_ok {
                    ResolveOnOk::Immediately => {
                        incident.status = IncidentStatus::Resolved;
                        incident.resolved_at = Some(change.state_at);
                        incident.resolve_due_at = None;
                        (
                            DecisionKind::Resolved,
                            incident,
                            TimelineKind::Resolved,
                            recovered,
                        )
                    }
                    ResolveOnOk::After(span) => {
                        incident.resolve_due_at = Some(change.state_at + span.to_chrono());
                        (
                            DecisionKind::ResolvePending,
                            incident,
                            TimelineKind::ResolvePending,
                            format!("{recovered}; resolves if still OK after {span}"),
                        )
                    }
                    ResolveOnOk::Never => (
                        DecisionKind::Attached,
                        incident,
                        TimelineKind::Recovered,
                        format!("{recovered}; this plan resolves only by hand"),
                    ),
                }
            }
        }
        (false, resolved_or_none) => {
            // Recorded so that an older ALARM arriving later is recognised as stale.
            next.incident = resolved_or_none;
            let decision = Decision {
                ignored_because: Some(IgnoreReason::NothingOpen),
                ..decision(
                    DecisionKind::Ignored,
                    next.incident.as_ref().map(|i| i.id.as_str()),
                )
            };
            return Outcome {
                decision,
                commit: Some(Commit {
                    expected_version,
                    head: next,
                    incident: None,
                    timeline: None,
                    pages: Vec::new(),
                }),
            };
        }
    };

    let mut incident = incident;
    incident.reschedule(Some(routed.plan));
    let timeline = timeline_event(&incident.id, timeline_kind, change, summary);
    let mut out = decision(kind, Some(&incident.id));
    out.resolve_due_at = incident.resolve_due_at;
    next.incident = Some(incident.clone());
    Outcome {
        decision: out,
        commit: Some(Commit {
            expected_version,
            head: next,
            incident: Some(incident),
            timeline: Some(timeline),
            pages: Vec::new(),
        }),
    }
}

/// A decision about one incident of the head, asked for by id rather than by an alarm.
pub(crate) fn decision_on(
    head: &DedupHead,
    incident_id: &str,
    kind: DecisionKind,
    reason: Option<IgnoreReason>,
) -> Decision {
    Decision {
        decision: kind,
        incident_id: Some(incident_id.to_string()),
        plan: head
            .incident
            .as_ref()
            .map(|i| i.plan.clone())
            .unwrap_or_default(),
        dedup_key: head.dedup_key.clone(),
        ignored_because: reason,
        resolve_due_at: None,
    }
}

pub(crate) fn ignored_on(head: &DedupHead, incident_id: &str, reason: IgnoreReason) -> Outcome {
    Outcome {
        decision: decision_on(head, incident_id, DecisionKind::Ignored, Some(reason)),
        commit: None,
    }
}

/// An event about the incident itself rather than one alarm change (a confirmation, an
/// operation, the ticker's work), keyed by its time, kind and `tag`.
pub(crate) fn incident_event(
    incident: &IncidentRecord,
    kind: TimelineKind,
    at: DateTime<Utc>,
    tag: &str,
    state: AlarmState,
    summary: &str,
) -> TimelineEvent {
    TimelineEvent {
        incident_id: incident.id.clone(),
        event_key: format!(
            "{}#{}#{tag}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true),
            kind.as_str()
        ),
        at,
        kind,
        alarm_name: incident.trigger.alarm_name.clone(),
        series: String::new(),
        state,
        summary: bounded(summary),
        mention: None,
    }
}

/// The commit of a change to the head's incident: `next` (the head with whatever else
/// changed) one version on and holding `incident`, on the condition that `head` has not
/// moved.
pub(crate) fn incident_commit(
    head: &DedupHead,
    mut next: DedupHead,
    incident: IncidentRecord,
    timeline: Option<TimelineEvent>,
    pages: Vec<Page>,
) -> Commit {
    next.version = head.version + 1;
    next.incident = Some(incident.clone());
    Commit {
        expected_version: Some(head.version),
        head: next,
        incident: Some(incident),
        timeline,
        pages,
    }
}

/// Completes a resolution that waited out the plan's stable period, if the incident is
/// still pending, nothing alarms again, and the time has come.
pub fn confirm_pending_resolve(head: &DedupHead, incident_id: &str, now: DateTime<Utc>) -> Outcome {
    let base = |kind, reason| decision_on(head, incident_id, kind, reason);
    let ignored = |reason| ignored_on(head, incident_id, reason);
    let Some(incident) = head.incident.as_ref().filter(|i| i.id == incident_id) else {
        return ignored(IgnoreReason::NothingPending);
    };
    if head.series.values().any(|s| s.alarming) {
        return ignored(IgnoreReason::Realarmed);
    }
    let Some(due) = incident
        .resolve_due_at
        .filter(|_| incident.status.is_active())
    else {
        return ignored(IgnoreReason::NothingPending);
    };
    if due > now {
        let mut outcome = ignored(IgnoreReason::NotYetDue);
        outcome.decision.resolve_due_at = Some(due);
        return outcome;
    }
    let mut resolved = incident.clone();
    resolved.status = IncidentStatus::Resolved;
    resolved.resolved_at = Some(due);
    resolved.resolve_due_at = None;
    resolved.reschedule(None);
    resolved.version += 1;
    let timeline = incident_event(
        &resolved,
        TimelineKind::Resolved,
        due,
        "confirmed",
        AlarmState::Ok,
        "every alarm stayed OK through the stable period",
    );
    Outcome {
        decision: base(DecisionKind::Resolved, None),
        commit: Some(incident_commit(
            head,
            head.clone(),
            resolved,
            Some(timeline),
            Vec::new(),
        )),
    }
}

/// Stores ids learned from the mirrors on the head's copy of the incident (and so on the
/// incident item). `None` when the incident is no longer the head's or nothing is new.
pub fn attach_mirror_ids(
    head: &DedupHead,
    incident_id: &str,
    learned: &MirrorIds,
) -> Option<Commit> {
    let incident = head.incident.as_ref().filter(|i| i.id == incident_id)?;
    let mut updated = incident.clone();
    let mirrors = &mut updated.mirrors;
    if mirrors.incident_manager_arn.is_none() {
        mirrors.incident_manager_arn = learned.incident_manager_arn.clone();
    }
    if mirrors.ops_item_id.is_none() {
        mirrors.ops_item_id = learned.ops_item_id.clone();
    }
    if updated.mirrors == incident.mirrors {
        return None;
    }
    updated.version += 1;
    Some(incident_commit(
        head,
        head.clone(),
        updated,
        None,
        Vec::new(),
    ))
}

/// What someone (a runbook, a person, a ticker) does to an incident directly, rather
/// than through an alarm change. One entry point for every front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Resolve,
    Escalate,
    /// Someone owns it now: escalation stops (the plan's acknowledgement timeout may
    /// page again later); the incident stays open until resolved.
    Acknowledge,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub action: OperationKind,
    pub dedup_key: String,
    pub incident_id: String,
    /// Who acts, for the timeline: `runbook:<name>`, a person, `ticker`.
    pub by: String,
    #[serde(default)]
    pub reason: String,
}

/// Applies an operation to the head's incident. Idempotent: a repeated resolve or
/// escalate of the same incident changes nothing and says why, so the state machine may
/// retry it freely. An operation naming an incident the key no longer holds (a later
/// incident replaced it) is ignored rather than applied to the wrong one.
pub fn operate(
    head: &DedupHead,
    operation: &Operation,
    config: &Config,
    now: DateTime<Utc>,
) -> Outcome {
    let decision = |kind, reason| decision_on(head, &operation.incident_id, kind, reason);
    let ignored = |reason| ignored_on(head, &operation.incident_id, reason);
    let Some(incident) = head
        .incident
        .as_ref()
        .filter(|i| i.id == operation.incident_id && i.status.is_active())
    else {
        return ignored(IgnoreReason::NothingOpen);
    };
    let plan = config.plans.get(&incident.plan);
    let mut updated = incident.clone();
    let mut pages = Vec::new();
    let mut note = None;
    let (kind, timeline_kind, verb) = match operation.action {
        OperationKind::Resolve => {
            updated.status = IncidentStatus::Resolved;
            updated.resolved_at = Some(now);
            updated.resolve_due_at = None;
            (DecisionKind::Resolved, TimelineKind::Resolved, "resolved")
        }
        OperationKind::Escalate => {
            if incident.escalated_at.is_some() {
                return ignored(IgnoreReason::AlreadyEscalated);
            }
            updated.escalated_at = Some(now);
            if let Some(policy) = plan.and_then(|p| p.escalation.as_deref()) {
                if incident.status == IncidentStatus::Acknowledged {
                    // Someone owns it already: nobody is paged unless the plan's
                    // acknowledgement timeout runs out first.
                    let timeout = plan.and_then(|p| p.acknowledge_timeout);
                    let since = incident.acknowledged_at.unwrap_or(now);
                    updated.paging = Some(escalation::acknowledged(
                        policy,
                        timeout.map(|t| since + t.to_chrono()),
                        now,
                    ));
                    note = Some("already acknowledged: nobody paged".to_string());
                } else {
                    let (paging, first) =
                        escalation::start(config, policy, &updated.id, updated.reopen_count, now);
                    note = Some(format!("paging {}", paging.engaged.join(", ")));
                    updated.paging = Some(paging);
                    pages = first;
                }
            }
            (
                DecisionKind::Escalated,
                TimelineKind::Escalated,
                "escalated",
            )
        }
        OperationKind::Acknowledge => {
            if incident.status == IncidentStatus::Acknowledged {
                return ignored(IgnoreReason::AlreadyAcknowledged);
            }
            let timeout = plan.and_then(|p| p.acknowledge_timeout);
            let effect = match &mut updated.paging {
                Some(paging) => {
                    if paging.acknowledged_by.contains(&operation.by) {
                        return ignored(IgnoreReason::AlreadyAcknowledged);
                    }
                    escalation::acknowledge(config, paging, &operation.by, timeout, now)
                }
                None => AckEffect::Stopped,
            };
            match effect {
                AckEffect::Stopped => {
                    updated.status = IncidentStatus::Acknowledged;
                    if updated.acknowledged_at.is_none() {
                        updated.acknowledged_at = Some(now);
                    }
                }
                AckEffect::Waiting { missing } => {
                    note = Some(format!(
                        "this stage needs everyone it paged: {missing} more to acknowledge"
                    ));
                }
            }
            (
                DecisionKind::Acknowledged,
                TimelineKind::Acknowledged,
                "acknowledged",
            )
        }
    };
    updated.reschedule(plan);
    updated.version += 1;
    let alarming = head.series.values().any(|s| s.alarming);
    let mut summary = if operation.reason.is_empty() {
        format!("{verb} by {}", operation.by)
    } else {
        format!("{verb} by {}: {}", operation.by, operation.reason)
    };
    if let Some(note) = note {
        summary = format!("{summary}; {note}");
    }
    let state = if alarming {
        AlarmState::Alarm
    } else {
        AlarmState::Ok
    };
    // The incident's version in the key: one event per change, however often the same
    // change is retried.
    let tag = format!("v{}", updated.version);
    let timeline = incident_event(&updated, timeline_kind, now, &tag, state, &summary);
    Outcome {
        decision: decision(kind, None),
        commit: Some(incident_commit(
            head,
            head.clone(),
            updated,
            Some(timeline),
            pages,
        )),
    }
}
