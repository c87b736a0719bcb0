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
//!   SMS through SNS or to chat with a mention through the chat delivery flow, and
//!   settled. A failed page is tried again on a later tick with backoff, without
//!   touching the other pages of its wave; after [`MAX_PAGE_ATTEMPTS`] it is recorded as
//!   failed. What to do with a page and how its attempt settles it are decided in
//!   [`quench_core::escalation`] (`sending`); this handler reads, claims, sends and writes.
//!
//! A page whose incident was acknowledged, resolved or reopened before it was due is
//! cancelled, so a resolve cancels every pending page.
//!
//! [`MAX_PAGE_ATTEMPTS`]: quench_core::escalation::MAX_PAGE_ATTEMPTS

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::chat::{AwsChat, TokioHost};
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::metrics::{self, Unit};
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::chat::{Notifier, RetryPolicy};
use quench_core::config::Config;
use quench_core::escalation::Page;
use quench_core::escalation::{
    in_send_order, plan_page, sendable, settle, Outgoing, PageMessage, PageOutcome, PagePlan,
};
use quench_core::incident::{alarms_to_check, AlarmReading};
use quench_core::incident::{apply_tick, ApplyError};
use quench_core::incident::{Commit, DecisionKind, IncidentRecord};
use quench_core::ports::IncidentStore;
use quench_core::ports::{AlarmReader, ChatSender, DueItem, NoticeStore, PageSender, PageStore};
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

pub struct Handler<S, P, A, C> {
    pub config: Config,
    /// The incident heads, pages and timelines, and chat deliveries.
    pub store: S,
    /// Email and SMS pages.
    pub pager: P,
    /// Alarm states for recovery checks.
    pub alarms: A,
    /// Chat pages and the plan's channels, through the chat delivery flow in process;
    /// `None`: no chat.
    pub chat: Option<C>,
    /// The incident table's name, for console links in chat.
    pub table: String,
    /// A page claimed longer ago than this belongs to a ticker that died; it is taken
    /// over.
    pub lease: chrono::Duration,
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

impl<S, P, A, C> Handler<S, P, A, C>
where
    S: IncidentStore + PageStore + NoticeStore + Sync,
    P: PageSender + Sync,
    A: AlarmReader + Sync,
    C: ChatSender + Sync,
{
    /// Handles one raw payload.
    pub async fn handle(&self, raw: &str, now: DateTime<Utc>) -> Result<Report, HandlerError> {
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
            .filter(|p| sendable(p, now, self.lease))
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

    /// Does what is due for one incident (decided and committed by [`apply_tick`]);
    /// returns what it wrote, if anything.
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
        in_send_order(&mut pages);
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

    /// Brings the incident's chat threads up to date through the chat delivery flow.
    async fn catch_up_chat(&self, incident_id: &str, now: DateTime<Utc>) -> Result<(), String> {
        let chat = self
            .chat
            .as_ref()
            .ok_or("chat is not set up for the ticker")?;
        let notifier = Notifier {
            config: &self.config,
            store: &self.store,
            chat,
            host: &TokioHost,
            table: &self.table,
            policy: &RetryPolicy::default(),
        };
        notifier
            .catch_up(incident_id, now)
            .await
            .map_err(|e| HandlerError::from(e).to_string())?;
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

    /// Claims one page, then cancels or sends it as [`plan_page`] decides, and settles
    /// it as [`settle`] decides.
    async fn page(
        &self,
        incident: Option<&IncidentRecord>,
        page: Page,
        now: DateTime<Utc>,
        report: &mut Report,
    ) -> Result<(), HandlerError> {
        if !sendable(&page, now, self.lease)
            || !self.store.claim_page(&page, now, self.lease).await?
        {
            report.pages_skipped += 1;
            return Ok(());
        }
        let (incident, send) = match plan_page(&self.config.roster(), incident, &page, now) {
            PagePlan::Cancel(cancelled) => {
                self.store.settle_page(&cancelled).await?;
                report.pages_cancelled += 1;
                return Ok(());
            }
            PagePlan::Attempt { incident, send } => (incident, send),
        };
        let result = match send {
            Ok(outgoing) => self.send(outgoing, now).await,
            Err(error) => Err(error),
        };
        let settled = settle(incident, page, result, now);
        let page = &settled.page;
        if settled.outcome == PageOutcome::Sent {
            self.store.settle_page(page).await?;
            report.pages_sent += 1;
            page_metric("PagesSent", incident, page, now);
            return Ok(());
        }
        match settled.outcome {
            PageOutcome::Retrying => report.pages_retrying += 1,
            _ => report.pages_failed += 1,
        }
        if let Some(event) = &settled.timeline {
            self.store.append_timeline(event).await?;
            page_metric("PagesFailed", incident, page, now);
        }
        let error = page.last_error.as_deref().unwrap_or_default();
        tracing::warn!(incident_id = %incident.id, page = %page.key(), %error, "page failed");
        self.store.settle_page(page).await?;
        Ok(())
    }

    /// Sends one page and records its event; the error text is kept on the page.
    async fn send(&self, outgoing: Outgoing, now: DateTime<Utc>) -> Result<(), String> {
        let Outgoing { message, event } = outgoing;
        match &message {
            PageMessage::Email {
                contact,
                subject,
                body,
            } => {
                self.pager
                    .email(contact, subject, body)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            PageMessage::Sms { phone, body } => {
                self.pager
                    .sms(phone, body)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // A chat page is the event itself, carrying the mention, posted below.
            PageMessage::Chat => {}
        }
        self.store
            .append_timeline(&event)
            .await
            .map_err(|e| e.to_string())?;
        if message == PageMessage::Chat {
            // A failed catch-up fails the page, so a later tick tries again: the event
            // is already recorded (keyed by the page, so once), and the delivery
            // claims keep what did get through from being posted twice. A channel that
            // refuses the message for good is the delivery flow's to dead-letter.
            self.catch_up_chat(&event.incident_id, now)
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

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, Pager, CloudWatchAlarms, AwsChat>;

/// Everything built once per cold start: `QUENCH_TABLE` (required),
/// `QUENCH_PAGES_TOPIC` (the pages SNS topic ARN), and the chat sender's environment
/// (`QUENCH_SLACK_API_URL`, `QUENCH_CHAT_DEAD_LETTER_QUEUE`).
pub async fn init_from_env() -> Result<LambdaHandler, InitError> {
    let table = required_env("QUENCH_TABLE")?;
    let sdk = sdk_config("escalation-ticker").await;
    let config = load_config(&sdk).await?;
    Ok(Handler {
        config,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        pager: Pager::new(
            aws_sdk_sns::Client::new(&sdk),
            optional_env("QUENCH_PAGES_TOPIC"),
        ),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        chat: Some(AwsChat::from_env(&sdk)),
        table,
        lease: chrono::Duration::minutes(2),
    })
}

/// The Lambda entry point. The clock is the function's own, so no request can ask for
/// pages early.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Report, HandlerError> {
    handler.handle(event.payload.get(), Utc::now()).await
}
