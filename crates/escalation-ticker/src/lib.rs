//! The escalation ticker: run every minute by EventBridge Scheduler.
//!
//! Each tick reads the sparse `due` index, and nothing else, for what is due now:
//! - an incident: its due work is decided on the head's version ([`apply_tick`]): the
//!   next stage of its escalation policy, a re-page after an expired acknowledgement,
//!   the plan's stale limit, an overdue pending resolution, or a recovery check that
//!   re-reads its alarms (DescribeAlarms) in case the OK never reached Quench. Two
//!   tickers racing on one incident both decide; one conditional write wins, the other
//!   re-decides and finds nothing due. The pages a stage creates are written in the
//!   same transaction.
//! - a page: claimed with a lease (so a concurrent ticker skips it), sent by email or
//!   SMS through SNS or to chat with a mention through the chat notifier, and settled.
//!   A failed page is tried again on a later tick with backoff, without touching the
//!   other pages of its wave; after [`MAX_PAGE_ATTEMPTS`] it is recorded as failed.
//!
//! A page whose incident was acknowledged, resolved or reopened before it was due is
//! cancelled, so a resolve cancels every pending page.
//!
//! [`MAX_PAGE_ATTEMPTS`]: quench_core::escalation::MAX_PAGE_ATTEMPTS

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::metrics::{self, Unit};
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::escalation::{page_retry_at, Page, PageState, Via};
use quench_core::incident::{Commit, DecisionKind, IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{AlarmReader, DueItem, IncidentLog, PageSender, PageStore};
use quench_core::store::{apply_tick, ApplyError, IncidentStore};
use quench_core::ticker::{alarms_to_check, page_wanted, AlarmReading};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// At most this many due items per tick, so a backlog cannot run a tick past its
/// timeout; the rest are due on the next tick.
pub const MAX_DUE_PER_TICK: usize = 500;

/// What one tick did, for the logs and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Items the due index returned.
    pub due: u32,
    /// Incidents whose escalation moved on (a stage paged, a re-page, exhausted).
    pub escalations: u32,
    pub resolved: u32,
    pub pages_sent: u32,
    /// Failed this tick and scheduled again.
    pub pages_retrying: u32,
    /// Failed every attempt.
    pub pages_failed: u32,
    pub pages_cancelled: u32,
    /// Claimed by another ticker or already handled.
    pub pages_skipped: u32,
    /// Items that hit an error; they stay due and are tried on the next tick.
    pub errors: u32,
}

pub struct Handler {
    pub config: Config,
    pub store: DynamoStore,
    pub pager: Pager,
    pub alarms: CloudWatchAlarms,
    /// Chat pages go through the chat notifier, in process.
    pub chat: Option<chat_notifier::LambdaHandler>,
    /// A page claimed longer ago than this belongs to a ticker that died; it is taken
    /// over.
    pub lease: chrono::Duration,
}

fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `{}` from the scheduler: a tick. `{"incident_id": ...}` from the state machine right
/// after an escalation: that incident's pages that are due, sent now.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub incident_id: Option<String>,
}

pub const MAX_REQUEST_BYTES: usize = 4 * 1024;

impl Handler {
    pub async fn handle_raw(&self, raw: &str, now: DateTime<Utc>) -> Result<Report, HandlerError> {
        let request: Request = decode_request(raw, MAX_REQUEST_BYTES)?;
        match request.incident_id {
            Some(incident_id) => self.page_now(&incident_id, now).await,
            None => self.tick(now).await,
        }
    }

    /// Sends the incident's pages that are due; the rest wait for the ticks.
    pub async fn page_now(
        &self,
        incident_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Report, HandlerError> {
        let due: Vec<Page> = self
            .store
            .pages(incident_id)
            .await?
            .into_iter()
            .filter(|p| self.sendable(p, now))
            .collect();
        let mut report = Report {
            due: u32::try_from(due.len()).unwrap_or(u32::MAX),
            ..Report::default()
        };
        self.send_pages(due, BTreeMap::new(), now, &mut report)
            .await;
        Ok(report)
    }

    /// One tick at `now`.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Report, HandlerError> {
        let due = self.store.due(now, MAX_DUE_PER_TICK).await?;
        let mut report = Report {
            due: u32::try_from(due.len()).unwrap_or(u32::MAX),
            ..Report::default()
        };
        let mut pages: Vec<Page> = Vec::new();
        // Incidents this tick wrote: their pages need no second read of them.
        let mut written = BTreeMap::new();
        for item in due {
            match item {
                DueItem::Incident {
                    incident_id,
                    dedup_key,
                } => match self
                    .incident(&dedup_key, &incident_id, now, &mut report)
                    .await
                {
                    Ok(Some(commit)) => {
                        pages.extend(commit.pages.into_iter().filter(|p| p.due_at <= now));
                        if let Some(incident) = commit.incident {
                            written.insert(incident.id.clone(), incident);
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        report.errors += 1;
                        tracing::warn!(%incident_id, %error, "due incident left for the next tick");
                    }
                },
                DueItem::Page {
                    incident_id,
                    page_key,
                } => match self.store.page(&incident_id, &page_key).await {
                    Ok(Some(page)) => pages.push(page),
                    Ok(None) => report.pages_skipped += 1,
                    Err(error) => {
                        report.errors += 1;
                        tracing::warn!(%incident_id, %page_key, %error, "page left for the next tick");
                    }
                },
            }
        }
        self.send_pages(pages, written, now, &mut report).await;
        tracing::info!(?report, "tick done");
        Ok(report)
    }

    /// Does what is due for one incident; returns what it wrote, if anything.
    async fn incident(
        &self,
        dedup_key: &str,
        incident_id: &str,
        now: DateTime<Utc>,
        report: &mut Report,
    ) -> Result<Option<Commit>, ApplyError> {
        let Some(head) = self.store.load_head(dedup_key).await? else {
            return Ok(None);
        };
        let readings = self
            .readings(&alarms_to_check(&head, &self.config, now))
            .await;
        let (decision, commit) =
            apply_tick(&self.store, &self.config, head, incident_id, &readings, now).await?;
        let Some(commit) = commit else {
            return Ok(None);
        };
        if commit.timeline.is_some() && self.chat.is_some() {
            // A stage paged, a policy exhausted, a resolution: the plan's channels hear
            // of it now. If they cannot, the event waits for the incident's next catch-up.
            if let Err(error) = self.catch_up_chat(incident_id, now).await {
                tracing::warn!(%incident_id, %error, "chat left for the incident's next catch-up");
            }
        }
        match decision.decision {
            DecisionKind::Resolved => {
                report.resolved += 1;
                if let Some(incident) = &commit.incident {
                    metrics::incident_metrics(DecisionKind::Resolved, incident, now);
                }
            }
            DecisionKind::Escalated => report.escalations += 1,
            _ => {}
        }
        Ok(Some(commit))
    }

    /// Sends pages, reading each incident once (or not at all when this tick wrote it).
    /// A page whose incident changes after that read is in the same place as one whose
    /// incident changes just after it was sent. One page's failure stops no other.
    async fn send_pages(
        &self,
        mut pages: Vec<Page>,
        mut incidents: BTreeMap<String, IncidentRecord>,
        now: DateTime<Utc>,
        report: &mut Report,
    ) {
        pages.sort_by_key(|p| (p.incident_id.clone(), p.key()));
        pages.dedup_by_key(|p| (p.incident_id.clone(), p.key()));
        for page in pages {
            if !incidents.contains_key(&page.incident_id) {
                match self.store.incident(&page.incident_id).await {
                    Ok(Some(incident)) => {
                        incidents.insert(incident.id.clone(), incident);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        report.errors += 1;
                        tracing::warn!(incident_id = %page.incident_id, %error, "page left for the next tick");
                        continue;
                    }
                }
            }
            let incident = incidents.get(&page.incident_id);
            let (incident_id, key) = (page.incident_id.clone(), page.key());
            if let Err(error) = self.page(incident, page, now, report).await {
                report.errors += 1;
                tracing::warn!(%incident_id, page = %key, %error, "page left for the next tick");
            }
        }
    }

    /// Whether a page may be sent at `now`: pending and due, or left `sending` by an
    /// attempt whose lease has run out.
    fn sendable(&self, page: &Page, now: DateTime<Utc>) -> bool {
        let abandoned = page.state == PageState::Sending && page.at < now - self.lease;
        (page.state == PageState::Pending || abandoned) && page.due_at <= now
    }

    /// Brings the incident's chat threads up to date through the chat notifier.
    async fn catch_up_chat(&self, incident_id: &str, now: DateTime<Utc>) -> Result<(), String> {
        let chat = self
            .chat
            .as_ref()
            .ok_or("chat is not set up for the ticker")?;
        let request = chat_notifier::Request {
            incident_id: incident_id.to_string(),
        };
        chat.handle(&request, now)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Alarm states for a recovery check; a failed read is logged and skipped (the
    /// check comes round again).
    async fn readings(&self, names: &[String]) -> Vec<AlarmReading> {
        if names.is_empty() {
            return Vec::new();
        }
        match self.alarms.readings(names).await {
            Ok(readings) => readings,
            Err(error) => {
                tracing::warn!(%error, "cannot read alarms for a recovery check");
                Vec::new()
            }
        }
    }

    async fn page(
        &self,
        incident: Option<&IncidentRecord>,
        mut page: Page,
        now: DateTime<Utc>,
        report: &mut Report,
    ) -> Result<(), HandlerError> {
        if !self.sendable(&page, now) {
            report.pages_skipped += 1;
            return Ok(());
        }
        if !self.store.claim_page(&page, now, self.lease).await? {
            report.pages_skipped += 1;
            return Ok(());
        }
        page.at = now;
        let Some(incident) = incident.filter(|i| page_wanted(i, &page)) else {
            page.state = PageState::Cancelled;
            self.store.settle_page(&page).await?;
            report.pages_cancelled += 1;
            return Ok(());
        };
        match self.send(incident, &page, now).await {
            Ok(()) => {
                page.state = PageState::Sent;
                page.attempts += 1;
                page.last_error = None;
                self.store.settle_page(&page).await?;
                report.pages_sent += 1;
                page_metric("PagesSent", incident, &page, now);
            }
            Err(error) => {
                page.attempts += 1;
                page.last_error = Some(error.clone());
                match page_retry_at(&page, now) {
                    Some(retry_at) => {
                        page.state = PageState::Pending;
                        page.due_at = retry_at;
                        report.pages_retrying += 1;
                    }
                    None => {
                        page.state = PageState::Failed;
                        report.pages_failed += 1;
                        let summary = format!(
                            "could not page {} by {} after {} attempts: {error}",
                            page.contact,
                            page.via.as_str(),
                            page.attempts
                        );
                        self.store
                            .append_timeline(&page_event(
                                incident,
                                &page,
                                TimelineKind::PageFailed,
                                summary,
                                now,
                            ))
                            .await?;
                        page_metric("PagesFailed", incident, &page, now);
                    }
                }
                tracing::warn!(incident_id = %incident.id, page = %page.key(), %error, "page failed");
                self.store.settle_page(&page).await?;
            }
        }
        Ok(())
    }

    /// Sends one page; the error text is kept on the page.
    async fn send(
        &self,
        incident: &IncidentRecord,
        page: &Page,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let contact = self
            .config
            .contacts
            .get(&page.contact)
            .ok_or_else(|| format!("contact `{}` is no longer in the config", page.contact))?;
        let who = contact.name.as_deref().unwrap_or(&page.contact);
        let title = format!("[Quench] P{} {}", incident.impact, incident.title);
        let text = format!(
            "{who}, you are paged for incident {} ({}, stage {} of round {}): {}. \
             Alarm {} since {}. Acknowledge to stop the escalation.",
            incident.id,
            incident.plan,
            page.stage + 1,
            page.round + 1,
            incident.title,
            incident.trigger.alarm_name,
            when(incident.created_at)
        );
        let summary = format!(
            "paged {who} by {} (stage {}, round {})",
            page.via.as_str(),
            page.stage + 1,
            page.round + 1
        );
        let mut event = page_event(incident, page, TimelineKind::Paged, summary, now);
        match page.via {
            Via::Email => {
                self.pager
                    .email(&page.contact, &title, &text)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Via::Sms => {
                let phone = contact.phone.as_deref().ok_or("the contact has no phone")?;
                let sms = format!(
                    "Quench P{}: {} ({}). You are paged; acknowledge to stop escalation.",
                    incident.impact, incident.title, incident.id
                );
                self.pager
                    .sms(phone, &sms)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // A chat page is the event itself, carrying the mention, posted below.
            Via::Chat => {
                let identity = contact.chat.clone();
                event.mention = Some(identity.ok_or("the contact has no chat identity")?);
            }
        }
        self.store
            .append_timeline(&event)
            .await
            .map_err(|e| e.to_string())?;
        if page.via == Via::Chat {
            // A failed catch-up fails the page, so a later tick tries again: the event
            // is already recorded (keyed by the page, so once), and the notifier's
            // claims keep what did get through from being posted twice. A channel that
            // refuses the message for good is the notifier's to dead-letter.
            self.catch_up_chat(&incident.id, now)
                .await
                .map_err(|e| format!("chat notifier: {e}"))?;
        }
        Ok(())
    }
}

/// One page sent or given up, by plan and channel.
fn page_metric(name: &str, incident: &IncidentRecord, page: &Page, now: DateTime<Utc>) {
    let dimensions = [("Plan", incident.plan.as_str()), ("Via", page.via.as_str())];
    metrics::emit(now, &dimensions, &[(name, 1.0, Unit::Count)]);
}

/// The timeline event of a page, keyed by the page alone: a page retried later (its
/// `due_at` moved on) still records one event, and its chat message is posted once.
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
        state: quench_core::alarm::AlarmState::Alarm,
        summary,
        mention: None,
    }
}

/// Everything built once per cold start: `QUENCH_TABLE` (required),
/// `QUENCH_PAGES_TOPIC` (the pages SNS topic ARN), and the chat notifier's environment.
pub async fn init_from_env() -> Result<Handler, InitError> {
    let table = required_env("QUENCH_TABLE")?;
    let sdk = sdk_config("escalation-ticker").await;
    let config = load_config(&sdk).await?;
    // One DynamoDB client for the ticker and the chat notifier it runs in-process.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let chat = chat_notifier::Handler {
        config: config.clone(),
        store: DynamoStore::new(dynamodb.clone(), &table),
        chat: quench_aws::chat::AwsChat::from_env(&sdk),
        table: table.clone(),
        policy: chat_notifier::RetryPolicy::default(),
    };
    Ok(Handler {
        config,
        store: DynamoStore::new(dynamodb, &table),
        pager: Pager::new(
            aws_sdk_sns::Client::new(&sdk),
            optional_env("QUENCH_PAGES_TOPIC"),
        ),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        chat: Some(chat),
        lease: chrono::Duration::minutes(2),
    })
}

/// The Lambda entry point. The clock is the function's own, so no request can ask for
/// pages early.
pub async fn invoke(
    handler: Arc<Handler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Report, HandlerError> {
    handler.handle_raw(event.payload.get(), Utc::now()).await
}
