//! What the escalation ticker does to one incident that is due: close it when stale,
//! complete an overdue pending resolution, resolve it when its alarms recovered without
//! Quench hearing of it, escalate it when nobody has handled it for too long (the safety
//! net), and walk its escalation policy. Pure: what the ticker read (alarm states, the
//! last sign the incident is handled) is passed in, and the store applies the result on
//! the head's version like every other decision, so two tickers racing on one incident
//! page it once.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alarm::AlarmState;
use crate::config::file::Config;
use crate::config::plan::ResolveOnOk;
use crate::escalation::paging::{Page, PagingState};
use crate::escalation::walk::{self as escalation, Advance};
use crate::incident::commit::{decision_on, ignored_on, incident_commit, incident_event};
use crate::incident::decide::confirm_pending_resolve;
use crate::incident::operate::{operate, Operation, OperationKind};
use crate::incident::record::{
    DecisionKind, DedupHead, IgnoreReason, IncidentRecord, IncidentStatus, Outcome, SeriesState,
    TimelineEvent, TimelineKind, PENDING_RESOLVE_GRACE,
};

/// An alarm's state as CloudWatch reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmReading {
    pub alarm_name: String,
    pub state: AlarmState,
    /// When it entered that state.
    pub since: DateTime<Utc>,
}

/// What the ticker read for one incident's decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// The states of [`alarms_to_check`]'s alarms; empty when no check was due or they
    /// could not be read.
    pub readings: Vec<AlarmReading>,
    /// [`last_handled`], when [`net_due`] asked for it.
    pub handled_at: Option<DateTime<Utc>>,
}

/// Whether the safety net looks at the head's incident now: nobody has taken it on and
/// its look has come. The ticker then reads its timeline for [`last_handled`].
pub fn net_due(head: &DedupHead, config: &Config, now: DateTime<Utc>) -> bool {
    head.incident.as_ref().is_some_and(|incident| {
        incident
            .net_look(config.plans.get(&incident.plan))
            .is_some_and(|look| look <= now)
    })
}

/// The newest sign that the incident's current episode is being handled: its opening
/// or latest reopening, or a runbook step that finished since.
pub fn last_handled(incident: &IncidentRecord, timeline: &[TimelineEvent]) -> DateTime<Utc> {
    timeline
        .iter()
        .filter(|e| matches!(e.kind, TimelineKind::Reopened | TimelineKind::Step))
        .map(|e| e.at)
        .fold(incident.created_at, DateTime::max)
}

/// The alarm named by a series key (`<alarm ARN>` or `<alarm ARN>#<contributor>`).
/// Contributor series have no state of their own in DescribeAlarms, so they are `None`.
fn alarm_name_of(series_key: &str) -> Option<&str> {
    let (_, name) = series_key.split_once(":alarm:")?;
    (!name.contains('#')).then_some(name)
}

/// The alarms to read for a recovery check, when one is due: the head still thinks
/// some series alarms and the plan resolves on OK. Empty: no check.
pub fn alarms_to_check(head: &DedupHead, config: &Config, now: DateTime<Utc>) -> Vec<String> {
    let Some(incident) = head.incident.as_ref().filter(|i| i.status.is_active()) else {
        return Vec::new();
    };
    let plan = config.plans.get(&incident.plan);
    if incident.next_alarm_check(plan).is_none_or(|due| due > now) {
        return Vec::new();
    }
    let alarming: Vec<&str> = head
        .series
        .iter()
        .filter(|(_, s)| s.alarming)
        .map(|(key, _)| key.as_str())
        .collect();
    if alarming.is_empty() {
        return Vec::new();
    }
    let mut names: Vec<String> = Vec::new();
    for key in alarming {
        // One unreadable series (a contributor) makes the whole check moot.
        let Some(name) = alarm_name_of(key) else {
            return Vec::new();
        };
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// An event of the ticker's: a resolution reads OK, anything else ALARM.
fn event(
    incident: &IncidentRecord,
    kind: TimelineKind,
    at: DateTime<Utc>,
    tag: &str,
    summary: &str,
) -> TimelineEvent {
    let state = if kind == TimelineKind::Resolved {
        AlarmState::Ok
    } else {
        AlarmState::Alarm
    };
    incident_event(incident, kind, at, tag, state, summary)
}

/// Decides what is due for `incident_id` at `now`, from what the ticker `seen`.
pub fn tick(
    head: &DedupHead,
    incident_id: &str,
    config: &Config,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Outcome {
    let ignored = |reason| ignored_on(head, incident_id, reason);
    let Some(incident) = head
        .incident
        .as_ref()
        .filter(|i| i.id == incident_id && i.status.is_active())
    else {
        return ignored(IgnoreReason::NothingOpen);
    };
    let plan = config.plans.get(&incident.plan);
    let mut next_head = head.clone();
    let mut updated = incident.clone();
    let mut pages: Vec<Page> = Vec::new();

    let resolved_because = if let Some(limit) = plan.and_then(|p| p.stale_after).filter(|limit| {
        limit
            .after(incident.last_active())
            .is_some_and(|due| due <= now)
    }) {
        Some(format!(
            "closed by the ticker: no alarm change or operation for longer than the plan's stale limit of {limit}"
        ))
    } else if incident.resolve_due_at.is_some_and(|due| {
        due.checked_add_signed(PENDING_RESOLVE_GRACE)
            .is_some_and(|t| t <= now)
    }) {
        // The state machine's wait should have done this; do it in its place.
        return confirm_pending_resolve(head, incident_id, now);
    } else {
        recovered(
            &mut next_head,
            plan.map(|p| p.resolve_on_ok),
            &seen.readings,
            now,
        )
    };
    if let (None, Some(handled), Some(plan)) = (&resolved_because, seen.handled_at, plan) {
        if incident.unhandled() {
            let limit = plan.unhandled_after(&config.runbooks);
            let due = limit.after(handled);
            if due.is_some_and(|due| due <= now) {
                let escalate = Operation {
                    action: OperationKind::Escalate,
                    dedup_key: head.dedup_key.clone(),
                    incident_id: incident_id.to_string(),
                    by: "ticker".into(),
                    reason: format!("no runbook outcome or page within {limit}"),
                    unless_alarmed_after: None,
                };
                return operate(head, &escalate, config, now);
            }
            updated.net_at = due;
        }
    }

    let (kind, timeline) = if let Some(summary) = resolved_because {
        updated.status = IncidentStatus::Resolved;
        updated.resolved_at = Some(now);
        updated.resolve_due_at = None;
        let timeline = event(&updated, TimelineKind::Resolved, now, "ticker", &summary);
        (DecisionKind::Resolved, Some(timeline))
    } else {
        let (id, episode) = (updated.id.clone(), updated.reopen_count);
        let advanced = updated
            .paging
            .as_mut()
            .and_then(|paging| escalation::advance(&config.roster(), paging, &id, episode, now));
        match (advanced, &updated.paging) {
            (Some((advance, wave)), Some(paging)) => {
                pages = wave;
                let stage = format!("stage {} of round {}", paging.stage + 1, paging.round + 1);
                let who = paging.engaged.join(", ");
                let summary = match advance {
                    Advance::NextStage => {
                        format!("nobody acknowledged in time: paging {stage}: {who}")
                    }
                    Advance::Repaged => format!(
                        "still unresolved after the acknowledgement timeout: paging {stage} again: {who}"
                    ),
                    Advance::Exhausted => format!(
                        "escalation policy `{}` exhausted: nobody acknowledged",
                        paging.policy
                    ),
                };
                let tag = format!("w{}", paging.wave);
                // Only an acknowledgement that ran out re-pages: it is open again.
                if advance == Advance::Repaged {
                    updated.status = IncidentStatus::Open;
                }
                let timeline = event(&updated, TimelineKind::Paging, now, &tag, &summary);
                (DecisionKind::Escalated, Some(timeline))
            }
            _ => (DecisionKind::Ignored, None),
        }
    };
    // A check that was due counts as done even with nothing to read, or the incident
    // would stay due every tick.
    if incident
        .next_alarm_check(plan)
        .is_some_and(|due| due <= now)
    {
        updated.alarms_checked_at = Some(now);
    }
    updated.reschedule(plan);
    if timeline.is_none() && updated == *incident && next_head.series == head.series {
        return ignored(IgnoreReason::NotYetDue);
    }
    updated.version += 1;
    Outcome {
        decision: decision_on(head, incident_id, kind, None),
        commit: Some(incident_commit(head, next_head, updated, timeline, pages)),
    }
}

/// Whether the readings show every alarming series recovered for long enough; if so
/// the head learns the OKs (so the lost change, should it arrive, is stale) and the
/// reason to resolve is returned.
fn recovered(
    head: &mut DedupHead,
    resolve_on_ok: Option<ResolveOnOk>,
    readings: &[AlarmReading],
    now: DateTime<Utc>,
) -> Option<String> {
    let stable = match resolve_on_ok? {
        ResolveOnOk::Immediately => chrono::TimeDelta::zero(),
        ResolveOnOk::After(span) => span.to_chrono(),
        ResolveOnOk::Never => return None,
    };
    if readings.is_empty() {
        return None;
    }
    let mut learned = Vec::new();
    for (key, series) in head.series.iter().filter(|(_, s)| s.alarming) {
        let reading = readings
            .iter()
            .find(|r| alarm_name_of(key) == Some(r.alarm_name.as_str()))?;
        if reading.state != AlarmState::Ok
            || reading
                .since
                .checked_add_signed(stable)
                .is_none_or(|t| t > now)
            || reading.since <= series.at
        {
            return None;
        }
        learned.push((key.clone(), reading.clone()));
    }
    let mut told = Vec::new();
    for (key, reading) in learned {
        if let Some(series) = head.series.get_mut(&key) {
            *series = SeriesState {
                state: AlarmState::Ok,
                alarming: false,
                at: reading.since,
                made: None,
            };
        }
        told.push(format!(
            "{} has been OK since {}",
            reading.alarm_name,
            reading.since.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    Some(format!(
        "resolved by the ticker: {}; the change to OK never reached Quench",
        told.join(", ")
    ))
}

/// Whether the incident's due work may page someone: its walk waits for the next stage
/// or a re-page, or it is open and neither acknowledged nor escalated (the safety net
/// of [`tick`] watches it). The store keeps these in their own due queue, which the
/// ticker reads before the routine recovery checks and stale limits.
pub fn may_page(incident: &IncidentRecord) -> bool {
    let walk_waits = incident
        .paging
        .as_ref()
        .is_some_and(|p| p.next_at.is_some());
    incident.status.is_active() && (walk_waits || incident.unhandled())
}

/// Whether a page is still wanted when its time comes: the incident is the same
/// episode, still open and unacknowledged in the same wave, and its contact has not
/// acknowledged.
pub fn page_wanted(incident: &IncidentRecord, page: &Page) -> bool {
    incident.status == IncidentStatus::Open
        && incident.reopen_count == page.episode
        && incident.paging.as_ref().is_some_and(|p| {
            p.wave == page.wave
                && p.state == PagingState::Waiting
                && !p.acknowledged_by.contains(&page.contact)
        })
}
