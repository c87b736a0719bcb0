//! What the escalation ticker does with a page, decided here so its handler is a loop
//! like the alarm path's: read what is due, decide, commit (claim), send, settle.
//!
//! - [`sendable`]: whether a due page may be claimed now.
//! - [`plan_page`]: once claimed, whether it is cancelled (the incident moved on) or
//!   sent, and the message and the `paged` timeline event that records it.
//! - [`settle`]: how a send's result settles the page (sent, retried later with backoff,
//!   or failed for good with a `page_failed` event).
//!
//! The incident side of a tick is [`crate::incident::apply_tick`]; the pages its commit
//! writes that are due now are sent in the same tick.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alarm::AlarmState;
use crate::escalation::paging::{page_retry_at, Page, PageState};
use crate::escalation::policy::Via;
use crate::escalation::roster::Roster;
use crate::incident::record::{IncidentRecord, TimelineEvent, TimelineKind};
use crate::incident::tick::page_wanted;

fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// When the ticker must look at a page next: a pending page when it is due, a claimed
/// one when its claim's `lease` runs out (the ticker that claimed it may have died
/// mid-send, and only the ticks would ever find it again); never once it is settled.
/// What the `due` index holds for the page.
pub fn due_again(page: &Page, lease: chrono::Duration) -> Option<DateTime<Utc>> {
    match page.state {
        PageState::Pending => Some(page.due_at),
        PageState::Sending => page.at.checked_add_signed(lease),
        PageState::Sent | PageState::Cancelled | PageState::Failed => None,
    }
}

/// Whether a page may be claimed at `now`: pending and due, or left `sending` by an
/// attempt whose lease has run out.
pub fn sendable(page: &Page, now: DateTime<Utc>, lease: chrono::Duration) -> bool {
    due_again(page, lease).is_some_and(|due| due <= now)
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
    /// The `paged` event itself, carrying the mention, posted by chat delivery
    /// ([`crate::chat::Notifier::deliver_page`]) and recorded once it is delivered.
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
    roster: &Roster<'_>,
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
        send: outgoing(roster, incident, page, now),
    }
}

fn outgoing(
    roster: &Roster<'_>,
    incident: &IncidentRecord,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Outgoing, String> {
    let contact = roster
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
            // Unbounded here: the pager cuts it to what SNS takes, the body has it all.
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

/// A claimed page this ticker did not try after all (its chat message is being posted
/// by another invocation): pending again, due at the next tick, its attempts unchanged.
pub fn put_back(mut page: Page, now: DateTime<Utc>) -> Page {
    page.state = PageState::Pending;
    page.at = now;
    page.due_at = now + chrono::Duration::minutes(1);
    page
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
