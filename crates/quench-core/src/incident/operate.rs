//! What someone (a runbook, a person, quench-op) does to an incident directly, rather
//! than through an alarm change: resolve, escalate, acknowledge.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::config::file::Config;
use crate::escalation::walk::{self as escalation, AckEffect};
use crate::incident::commit::{decision_on, ignored_on, incident_commit, incident_event};
use crate::incident::record::*;

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
    /// For a resolve that follows a check of the alarms (a runbook's end): the state
    /// timestamp the check saw. A series that turned alarming after it is news the check
    /// never saw, so the resolve is refused (`realarmed`) rather than closing an incident
    /// whose alarm is in ALARM again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unless_alarmed_after: Option<DateTime<Utc>>,
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
            if let Some(seen) = operation.unless_alarmed_after {
                if head.series.values().any(|s| s.alarming && s.at > seen) {
                    return ignored(IgnoreReason::Realarmed);
                }
            }
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
                        timeout.and_then(|t| t.after(since)),
                        now,
                    ));
                    note = Some("already acknowledged: nobody paged".to_string());
                } else {
                    let (paging, first) = escalation::start(
                        &config.roster(),
                        policy,
                        &updated.id,
                        updated.reopen_count,
                        now,
                    );
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
                    escalation::acknowledge(&config.roster(), paging, &operation.by, timeout, now)
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
    updated.touch(now);
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
