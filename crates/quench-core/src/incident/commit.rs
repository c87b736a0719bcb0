//! How every decision about an incident (an operation, a confirmation, a tick) builds
//! its outcome: the decision about one incident of the head, its timeline event, and
//! the commit conditioned on the head's version.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alarm::AlarmState;
use crate::escalation::paging::Page;
use crate::incident::record::*;

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
        redelivery: false,
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
