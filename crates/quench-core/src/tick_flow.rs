//! What the escalation ticker does with a page, decided here so its handler is a loop
//! like the alarm path's: read what is due, decide, commit (claim), send, settle.
//!
//! - [`sendable`]: whether a due page may be claimed now.
//! - [`plan_page`]: once claimed, whether it is cancelled (the incident moved on) or
//!   sent, and the message and the `paged` timeline event that records it.
//! - [`settle`]: how a send's result settles the page (sent, retried later with backoff,
//!   or failed for good with a `page_failed` event).
//!
//! The incident side of a tick is [`crate::store::apply_tick`]; the pages its commit
//! writes that are due now are sent in the same tick.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alarm::AlarmState;
use crate::config::Config;
use crate::escalation::{page_retry_at, Page, PageState, Via};
use crate::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use crate::ticker::page_wanted;

fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether a page may be sent at `now`: pending and due, or left `sending` by an
/// attempt whose lease has run out.
pub fn sendable(page: &Page, now: DateTime<Utc>, lease: chrono::Duration) -> bool {
    let abandoned = page.state == PageState::Sending && page.at < now - lease;
    (page.state == PageState::Pending || abandoned) && page.due_at <= now
}

/// Orders pages by incident, each page once, so each incident is read once.
pub fn in_send_order(pages: &mut Vec<Page>) {
    pages.sort_by_key(|p| (p.incident_id.clone(), p.key()));
    pages.dedup_by_key(|p| (p.incident_id.clone(), p.key()));
}

/// How a page goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageMessage {
    /// To the contact's email subscription on the pages topic.
    Email {
        contact: String,
        subject: String,
        body: String,
    },
    Sms {
        phone: String,
        body: String,
    },
    /// The `paged` event itself, carrying the mention, posted by chat delivery once it
    /// is recorded.
    Chat,
}

/// A page to send, and the `paged` event recorded once it is sent. The event is keyed
/// by the page alone: a page retried later still records one event, and its chat
/// message is posted once.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub message: PageMessage,
    pub event: TimelineEvent,
}

/// What a claimed page comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum PagePlan<'a> {
    /// The incident was acknowledged, resolved or reopened (or is gone) before the page
    /// was due: the page, settled as cancelled.
    Cancel(Page),
    /// Try it: what to send, or why it cannot be sent as the config stands (the contact
    /// is gone or lacks the channel), which counts as a failed attempt.
    Attempt {
        incident: &'a IncidentRecord,
        send: Result<Outgoing, String>,
    },
}

/// Decides what a page this ticker claimed at `now` comes to.
pub fn plan_page<'a>(
    config: &Config,
    incident: Option<&'a IncidentRecord>,
    page: &Page,
    now: DateTime<Utc>,
) -> PagePlan<'a> {
    let Some(incident) = incident.filter(|i| page_wanted(i, page)) else {
        let mut cancelled = page.clone();
        cancelled.at = now;
        cancelled.state = PageState::Cancelled;
        return PagePlan::Cancel(cancelled);
    };
    PagePlan::Attempt {
        incident,
        send: outgoing(config, incident, page, now),
    }
}

fn outgoing(
    config: &Config,
    incident: &IncidentRecord,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Outgoing, String> {
    let contact = config
        .contacts
        .get(&page.contact)
        .ok_or_else(|| format!("contact `{}` is no longer in the config", page.contact))?;
    let who = contact.name.as_deref().unwrap_or(&page.contact);
    let summary = format!(
        "paged {who} by {} (stage {}, round {})",
        page.via.as_str(),
        page.stage + 1,
        page.round + 1
    );
    let mut event = page_event(incident, page, TimelineKind::Paged, summary, now);
    let message = match page.via {
        Via::Email => PageMessage::Email {
            contact: page.contact.clone(),
            subject: format!("[Quench] P{} {}", incident.impact, incident.title),
            body: format!(
                "{who}, you are paged for incident {} ({}, stage {} of round {}): {}. \
                 Alarm {} since {}. Acknowledge to stop the escalation.",
                incident.id,
                incident.plan,
                page.stage + 1,
                page.round + 1,
                incident.title,
                incident.trigger.alarm_name,
                when(incident.created_at)
            ),
        },
        Via::Sms => PageMessage::Sms {
            phone: contact.phone.clone().ok_or("the contact has no phone")?,
            body: format!(
                "Quench P{}: {} ({}). You are paged; acknowledge to stop escalation.",
                incident.impact, incident.title, incident.id
            ),
        },
        Via::Chat => {
            let identity = contact.chat.clone();
            event.mention = Some(identity.ok_or("the contact has no chat identity")?);
            PageMessage::Chat
        }
    };
    Ok(Outgoing { message, event })
}

/// How an attempt ended for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOutcome {
    Sent,
    /// Failed; pending again, due at its next attempt.
    Retrying,
    /// Failed every attempt.
    Failed,
}

/// A page after an attempt: to be written as it is, after `timeline` (if any) is
/// recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub page: Page,
    pub outcome: PageOutcome,
    /// The `page_failed` event of a page given up.
    pub timeline: Option<TimelineEvent>,
}

/// Settles a page claimed at `now` by the attempt's result (the error text is kept on
/// the page). A failure is tried again on a later tick with backoff, until
/// [`crate::escalation::MAX_PAGE_ATTEMPTS`].
pub fn settle(
    incident: &IncidentRecord,
    mut page: Page,
    result: Result<(), String>,
    now: DateTime<Utc>,
) -> Settled {
    page.at = now;
    page.attempts += 1;
    let error = match result {
        Ok(()) => {
            page.state = PageState::Sent;
            page.last_error = None;
            return Settled {
                page,
                outcome: PageOutcome::Sent,
                timeline: None,
            };
        }
        Err(error) => error,
    };
    page.last_error = Some(error.clone());
    if let Some(retry_at) = page_retry_at(&page, now) {
        page.state = PageState::Pending;
        page.due_at = retry_at;
        return Settled {
            page,
            outcome: PageOutcome::Retrying,
            timeline: None,
        };
    }
    page.state = PageState::Failed;
    let summary = format!(
        "could not page {} by {} after {} attempts: {error}",
        page.contact,
        page.via.as_str(),
        page.attempts
    );
    let event = page_event(incident, &page, TimelineKind::PageFailed, summary, now);
    Settled {
        page,
        outcome: PageOutcome::Failed,
        timeline: Some(event),
    }
}

/// The timeline event of a page, keyed by the page alone.
fn page_event(
    incident: &IncidentRecord,
    page: &Page,
    kind: TimelineKind,
    summary: String,
    now: DateTime<Utc>,
) -> TimelineEvent {
    TimelineEvent {
        incident_id: incident.id.clone(),
        event_key: format!("{}#{}", kind.as_str(), page.key()),
        at: now,
        kind,
        alarm_name: incident.trigger.alarm_name.clone(),
        series: String::new(),
        state: AlarmState::Alarm,
        summary,
        mention: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::MAX_PAGE_ATTEMPTS;

    fn at(minutes: i64) -> DateTime<Utc> {
        let t0: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().expect("time");
        t0 + chrono::Duration::minutes(minutes)
    }

    fn page(state: PageState) -> Page {
        Page {
            incident_id: "inc-1".into(),
            episode: 0,
            wave: 1,
            round: 0,
            stage: 0,
            contact: "carol".into(),
            via: Via::Email,
            due_at: at(0),
            state,
            attempts: 0,
            last_error: None,
            at: at(0),
        }
    }

    fn incident() -> IncidentRecord {
        serde_json::from_value(serde_json::json!({
            "id": "inc-1", "dedup_key": "k", "plan": "p", "impact": 2, "title": "t",
            "status": "OPEN", "created_at": at(0), "series": ["arn"],
            "trigger": { "alarm_name": "a", "alarm_arn": "arn", "account": "1",
                         "region": "eu-west-1", "reason": "r" },
            "paging": { "policy": "front", "round": 0, "stage": 0, "wave": 1,
                        "wave_started_at": at(0), "engaged": ["carol"], "state": "waiting" },
            "version": 1
        }))
        .expect("incident")
    }

    #[test]
    fn a_page_is_sendable_when_due_or_abandoned_past_its_lease() {
        let lease = chrono::Duration::minutes(2);
        assert!(sendable(&page(PageState::Pending), at(0), lease));
        assert!(!sendable(&page(PageState::Sent), at(0), lease));
        let claimed = page(PageState::Sending);
        assert!(!sendable(&claimed, at(1), lease), "another ticker has it");
        assert!(sendable(&claimed, at(3), lease), "that ticker died");
    }

    #[test]
    fn failures_back_off_then_give_up_with_an_event() {
        let incident = incident();
        let mut current = page(PageState::Pending);
        let mut outcomes = Vec::new();
        let mut now = at(0);
        for _ in 0..MAX_PAGE_ATTEMPTS {
            let settled = settle(&incident, current, Err("down".into()), now);
            outcomes.push((settled.outcome, settled.page.due_at - now));
            now = settled.page.due_at;
            current = settled.page;
            if settled.outcome == PageOutcome::Failed {
                let event = settled.timeline.expect("recorded");
                assert_eq!(event.kind, TimelineKind::PageFailed);
                assert_eq!(event.event_key, "page_failed#00#0001#carol#email");
                assert_eq!(
                    event.summary,
                    "could not page carol by email after 5 attempts: down"
                );
            }
        }
        let minutes = |n| chrono::Duration::minutes(n);
        assert_eq!(
            outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
            [
                [PageOutcome::Retrying; 4].as_slice(),
                &[PageOutcome::Failed]
            ]
            .concat()
        );
        assert_eq!(
            outcomes[..4].iter().map(|o| o.1).collect::<Vec<_>>(),
            vec![minutes(1), minutes(2), minutes(4), minutes(8)]
        );
        assert_eq!(current.state, PageState::Failed);
        let sent = settle(&incident, page(PageState::Sending), Ok(()), at(1));
        assert_eq!(
            (sent.outcome, sent.page.state, sent.page.attempts),
            (PageOutcome::Sent, PageState::Sent, 1)
        );
    }

    #[test]
    fn a_page_of_an_acknowledged_or_missing_incident_is_cancelled() {
        let config = Config::parse("version: 1\nplans: { p: { impact: 2 } }").expect("config");
        let mut incident = incident();
        let claimed = page(PageState::Pending);
        let unknown = plan_page(&config, Some(&incident), &claimed, at(1));
        assert!(
            matches!(&unknown, PagePlan::Attempt { send: Err(why), .. } if why.contains("no longer in the config")),
            "{unknown:?}"
        );
        incident.status = crate::incident::IncidentStatus::Acknowledged;
        for incident in [Some(&incident), None] {
            match plan_page(&config, incident, &claimed, at(1)) {
                PagePlan::Cancel(page) => {
                    assert_eq!((page.state, page.at), (PageState::Cancelled, at(1)));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
