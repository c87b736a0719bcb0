//! The incident decision: given what is known about a dedup key and one alarm change,
//! what happens. Pure: no clock, no I/O. The store applies the returned [`Commit`] with a
//! condition on the version it read, so two deliveries racing each other cannot both win.
//!
//! Ordering rule: each alarm series (alarm ARN, plus contributor) remembers the state
//! timestamp of the newest change applied to it. A change that is not newer than that is
//! a duplicate or arrived late, and changes nothing. So a late ALARM never reopens what a
//! newer OK resolved, and a late OK never resolves a newer ALARM.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alarm::{AlarmChange, AlarmState};
use crate::config::plan::{alarming, ResolveOnOk};
use crate::incident::commit::{decision_on, ignored_on, incident_commit, incident_event};
use crate::incident::record::*;
use crate::routing::Routed;
use crate::text::stable_hash;

pub(super) fn timeline_event(
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

pub(super) fn render_title(routed: &Routed<'_>, change: &AlarmChange) -> String {
    match &routed.plan.title {
        Some(template) => template.replace("{alarm}", &change.alarm_name),
        None => change.alarm_name.clone(),
    }
}

pub(super) fn new_incident(
    routed: &Routed<'_>,
    change: &AlarmChange,
    dedup_key: &str,
) -> IncidentRecord {
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
        active_at: None,
        net_at: None,
        alarms_checked_at: None,
        due_at: None,
        version: 1,
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
        redelivery: false,
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
            if let Some(redelivered) = head.and_then(|h| redelivered(h, known)) {
                return Outcome {
                    decision: Decision {
                        resolve_due_at: redelivered.resolve_due_at,
                        redelivery: true,
                        ..decision(redelivered.decision, Some(&redelivered.incident_id))
                    },
                    commit: None,
                };
            }
            return ignored(IgnoreReason::Duplicate);
        }
    }
    if head.is_some_and(|h| h.knows_newer(&series_key, change.state_at)) {
        return ignored(IgnoreReason::Stale);
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
            made: None,
        },
    );
    next.forget_old_series(
        change.state_at,
        SERIES_MEMORY.max(routed.plan.flap_window.to_chrono()),
    );
    let any_alarming = next.series.values().any(|s| s.alarming);
    let current = next.incident.take();

    let (kind, incident, timeline_kind, summary) = match (is_alarming, current) {
        (true, Some(mut incident)) if incident.status.is_active() => {
            if incident.series.len() < MAX_INCIDENT_SERIES {
                incident.series.insert(series_key.clone());
            }
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
            if incident.series.len() < MAX_INCIDENT_SERIES {
                incident.series.insert(series_key.clone());
            }
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
                        incident.resolve_due_at = span.after(change.state_at);
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
    incident.touch(change.state_at);
    incident.reschedule(Some(routed.plan));
    if matches!(
        kind,
        DecisionKind::Opened
            | DecisionKind::Reopened
            | DecisionKind::Resolved
            | DecisionKind::ResolvePending
    ) {
        if let Some(series) = next.series.get_mut(&series_key) {
            series.made = Some(Transition {
                decision: kind,
                incident_id: incident.id.clone(),
                episode: incident.reopen_count,
            });
        }
    }
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

/// What a redelivered change made, when the incident is still where that change left
/// it: open (or reopened) in the same episode, still pending resolution, or resolved.
/// Anything that happened since (a resolve by hand, a reopen) is another execution's
/// to carry on, so the redelivery is then a plain duplicate.
struct Redelivered {
    decision: DecisionKind,
    incident_id: String,
    resolve_due_at: Option<DateTime<Utc>>,
}

fn redelivered(head: &DedupHead, known: &SeriesState) -> Option<Redelivered> {
    let made = known.made.as_ref()?;
    let incident = head
        .incident
        .as_ref()
        .filter(|i| i.id == made.incident_id && i.reopen_count == made.episode)?;
    let still = match made.decision {
        DecisionKind::Opened | DecisionKind::Reopened => {
            incident.status.is_active() && incident.resolve_due_at.is_none()
        }
        DecisionKind::ResolvePending => {
            incident.status.is_active() && incident.resolve_due_at.is_some()
        }
        DecisionKind::Resolved => !incident.status.is_active(),
        _ => false,
    };
    still.then(|| Redelivered {
        decision: made.decision,
        incident_id: incident.id.clone(),
        resolve_due_at: incident.resolve_due_at,
    })
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
