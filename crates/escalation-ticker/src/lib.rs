//! The escalation ticker: run every minute by EventBridge Scheduler, one tick at a time
//! (reserved concurrency 1).
//!
//! A tick reads the sparse `due` index, and nothing else, one queue after another
//! ([`DueQueue`]), so that pages never wait behind routine work:
//! 1. **Pages** waiting to be sent (and claims whose lease ran out: their ticker died
//!    mid-send): each claimed with a lease (so a concurrent invocation skips it), sent by
//!    email or SMS through SNS, or to chat with a mention ([`Notifier::deliver_page`]),
//!    and settled. Email and SMS go before chat, so a chat endpoint that hangs holds up
//!    only chat pages. A failed page is tried again on a later tick with backoff,
//!    without touching the other pages of its wave; after [`MAX_PAGE_ATTEMPTS`] it is
//!    recorded as failed. A chat page counts as sent only once its message is delivered.
//! 2. **Incidents whose due work may page**: the next stage of the escalation policy, a
//!    re-page after an expired acknowledgement, an incident nobody acknowledged or
//!    escalated (the safety net: past the plan's `escalate_unhandled_after` since its
//!    opening or its runbook's last step, read from the timeline, it is escalated). Each is decided on the head's version ([`apply_tick`]): two
//!    invocations racing on one incident both decide, one conditional write wins, the
//!    other re-decides and finds nothing due. The pages a stage creates are written in
//!    the same transaction and sent right after it.
//! 3. **Routine incidents**: recovery checks that re-read the alarms (DescribeAlarms)
//!    in case the OK never reached Quench, the plan's stale limit, an overdue pending
//!    resolution.
//! 4. **Chat notices** of what the tick changed (a stage paged, a policy exhausted, a
//!    resolution), to the plan's channels, with the time that is left.
//!
//! Every step stops when the invocation's deadline is [`SAFETY_MARGIN`] away; what is
//! left stays due and is the next tick's. What to do with a page and how its attempt
//! settles it are decided in [`quench_core::escalation`] (`sending`); this handler
//! reads, claims, sends and writes.
//!
//! A page whose incident was acknowledged, resolved or reopened before it was due is
//! cancelled, so a resolve cancels every pending page.
//!
//! [`MAX_PAGE_ATTEMPTS`]: quench_core::escalation::MAX_PAGE_ATTEMPTS

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::chat::{AwsChat, TokioHost};
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::metrics::{self, Unit};
use quench_aws::paging::{CloudWatchAlarms, Pager};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::chat::{Notifier, PageDelivery, RetryPolicy};
use quench_core::config::Config;
use quench_core::escalation::{
    in_send_order, plan_page, put_back, sendable, settle, Outgoing, Page, PageMessage, PageOutcome,
    PagePlan, PageState, Via,
};
use quench_core::incident::{alarms_to_check, last_handled, net_due, AlarmReading, Seen};
use quench_core::incident::{apply_tick, ApplyError};
use quench_core::incident::{Commit, DecisionKind, IncidentRecord, TimelineEvent};
use quench_core::ports::{AlarmReader, ChatSender, DueItem, DueQueue, NoticeStore, PageSender};
use quench_core::ports::{DeliveryHost, IncidentStore, PageStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// At most this many due items of each queue per tick; the rest are due on the next.
pub const MAX_DUE_PER_TICK: usize = 500;

/// No new work starts with less than this left before the deadline: it covers the call
/// in flight (an SNS publish through the SDK's retries, a 5 s chat post) and the write
/// that settles it.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(10);

/// How long one invocation works at most, when the Lambda's deadline is later. Ticks
/// come every minute and one runs at a time, so a tick that ran past the minute would
/// have the next one throttled and dropped, and a PageNow of the state machine with it.
pub const TICK_SPAN: Duration = Duration::from_secs(50);

/// How many times a write after a page went out is tried, and the first wait between
/// tries (doubling): 0.1 + 0.2 + 0.4 + 0.8 s, well inside a tick's safety margin.
const SETTLE_ATTEMPTS: u32 = 5;
const SETTLE_FIRST_WAIT: Duration = Duration::from_millis(100);

/// Time kept for the chat notices of what a tick changed: routine work stops this much
/// earlier when notices are waiting.
pub const CHAT_RESERVE: Duration = Duration::from_secs(10);

/// What one tick did, for the logs and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Items the due index returned.
    pub due: u32,
    /// Due incidents decided: escalations, recovery checks, stale limits.
    pub incidents: u32,
    /// Incidents whose escalation moved on (a stage paged, a re-page, exhausted).
    pub escalations: u32,
    pub resolved: u32,
    pub pages_sent: u32,
    /// Failed this tick and scheduled again.
    pub pages_retrying: u32,
    /// Failed every attempt.
    pub pages_failed: u32,
    pub pages_cancelled: u32,
    /// Claimed by another invocation (or its chat message is being posted by one), or
    /// already handled.
    pub pages_skipped: u32,
    /// Due items not looked at: the deadline came first. They stay due.
    pub left: u32,
    /// Incidents whose chat notices wait for their next catch-up: the deadline came
    /// first.
    pub chat_left: u32,
    /// Items that hit an error; they stay due and are tried on the next tick.
    pub errors: u32,
    /// From the start of the invocation to its first page sent, by the host's clock.
    pub first_page_ms: Option<u64>,
}

pub struct Handler<S, P, A, C, H> {
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
    /// The clock the deadline is counted on, and where chat delivery waits.
    pub host: H,
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

/// One invocation's bookkeeping.
struct Run {
    started: Instant,
    deadline: Instant,
    report: Report,
    /// Incidents read or written so far: each page's incident is read once.
    incidents: BTreeMap<String, IncidentRecord>,
    /// Incidents whose timeline this invocation added to, for their chat notices.
    notices: Vec<String>,
    /// Due incidents looked at (decided or failed): one that stays due is not read
    /// again by a later batch of the same invocation.
    seen: BTreeSet<String>,
}

/// The id a due item is known by within one invocation.
fn due_key(item: &DueItem) -> &str {
    match item {
        DueItem::Incident { incident_id, .. } => incident_id,
        DueItem::Page { page_key, .. } => page_key,
    }
}

/// Why a claimed page was not sent.
enum NotSent {
    /// The attempt failed, for this reason.
    Failed(String),
    /// Another invocation is posting its chat message: this was no attempt.
    Busy,
}

impl<S, P, A, C, H> Handler<S, P, A, C, H>
where
    S: IncidentStore + PageStore + NoticeStore + Sync,
    P: PageSender + Sync,
    A: AlarmReader + Sync,
    C: ChatSender + Sync,
    H: DeliveryHost + Sync,
{
    /// Handles one raw payload; the work stops [`SAFETY_MARGIN`] before `deadline`
    /// (on the host's clock).
    pub async fn handle(
        &self,
        raw: &str,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Report, HandlerError> {
        let request: Request = decode_request(raw, MAX_REQUEST_BYTES)?;
        match request.incident_id {
            Some(incident_id) => self.page_now(&incident_id, now, deadline).await,
            None => self.tick(now, deadline).await,
        }
    }

    fn run(&self, deadline: Instant) -> Run {
        Run {
            started: self.host.instant(),
            deadline,
            report: Report::default(),
            incidents: BTreeMap::new(),
            notices: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Time left before the deadline, less the safety margin.
    fn time_left(&self, run: &Run) -> Duration {
        run.deadline
            .saturating_duration_since(self.host.instant())
            .saturating_sub(SAFETY_MARGIN)
    }

    /// Sends the incident's pages that are due; the rest wait for the ticks.
    pub async fn page_now(
        &self,
        incident_id: &str,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Report, HandlerError> {
        let due: Vec<Page> = self
            .store
            .pages(incident_id)
            .await?
            .into_iter()
            .filter(|p| sendable(p, now, self.lease))
            .collect();
        let mut run = self.run(deadline);
        run.report.due = count(due.len());
        self.send_pages(due, now, &mut run).await;
        Ok(run.report)
    }

    /// One tick at `now`: pages, then incidents that may page, then routine incidents,
    /// then chat notices, until the deadline is near.
    pub async fn tick(
        &self,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Report, HandlerError> {
        let mut run = self.run(deadline);
        let pages = self
            .store
            .due(DueQueue::Pages, now, MAX_DUE_PER_TICK)
            .await?;
        run.report.due += count(pages.len());
        self.due_items(pages, now, Duration::ZERO, &mut run).await;
        let paging = self
            .store
            .due(DueQueue::Paging, now, MAX_DUE_PER_TICK)
            .await?;
        run.report.due += count(paging.len());
        self.due_items(paging, now, Duration::ZERO, &mut run).await;
        // Routine work in batches while time is left: what a batch decides is due again
        // only later, so the next query returns the next oldest.
        while self.time_left(&run) > reserved(&run, CHAT_RESERVE) {
            let routine = self
                .store
                .due(DueQueue::Routine, now, MAX_DUE_PER_TICK)
                .await?;
            let full = routine.len() == MAX_DUE_PER_TICK;
            let fresh: Vec<DueItem> = routine
                .into_iter()
                .filter(|item| !run.seen.contains(due_key(item)))
                .collect();
            if fresh.is_empty() {
                break;
            }
            run.report.due += count(fresh.len());
            self.due_items(fresh, now, CHAT_RESERVE, &mut run).await;
            if !full {
                break;
            }
        }
        self.notices(now, &mut run).await;
        tracing::info!(report = ?run.report, "tick done");
        Ok(run.report)
    }

    /// Works through due items in order while more than `reserve` is left; a decided
    /// incident's pages that are due go out right after it.
    async fn due_items(
        &self,
        items: Vec<DueItem>,
        now: DateTime<Utc>,
        reserve: Duration,
        run: &mut Run,
    ) {
        for item in items {
            if self.time_left(run) <= reserved(run, reserve) {
                run.report.left += 1;
                continue;
            }
            run.seen.insert(due_key(&item).to_string());
            match item {
                DueItem::Incident {
                    incident_id,
                    dedup_key,
                } => match self.incident(&dedup_key, &incident_id, now, run).await {
                    Ok(Some(commit)) => {
                        let pages = commit.pages.into_iter().filter(|p| p.due_at <= now);
                        let pages: Vec<Page> = pages.collect();
                        if let Some(incident) = commit.incident {
                            run.incidents.insert(incident.id.clone(), incident);
                        }
                        self.send_pages(pages, now, run).await;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        run.report.errors += 1;
                        tracing::warn!(%incident_id, %error, "due incident left for the next tick");
                    }
                },
                DueItem::Page {
                    incident_id,
                    page_key,
                } => match self.store.page(&incident_id, &page_key).await {
                    Ok(Some(page)) => self.send_pages(vec![page], now, run).await,
                    Ok(None) => run.report.pages_skipped += 1,
                    Err(error) => {
                        run.report.errors += 1;
                        tracing::warn!(%incident_id, %page_key, %error, "page left for the next tick");
                    }
                },
            }
        }
    }

    /// Does what is due for one incident (decided and committed by [`apply_tick`]);
    /// returns what it wrote, if anything.
    async fn incident(
        &self,
        dedup_key: &str,
        incident_id: &str,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Result<Option<Commit>, ApplyError> {
        let Some(head) = self.store.load_head(dedup_key).await? else {
            return Ok(None);
        };
        let readings = self
            .readings(&alarms_to_check(&head, &self.config, now))
            .await;
        let handled_at = match head.incident.as_ref() {
            Some(incident) if net_due(&head, &self.config, now) => {
                let timeline = self.store.timeline(incident_id).await?;
                Some(last_handled(incident, &timeline))
            }
            _ => None,
        };
        let seen = Seen {
            readings,
            handled_at,
        };
        let (decision, commit) =
            apply_tick(&self.store, &self.config, head, incident_id, &seen, now).await?;
        run.report.incidents += 1;
        let Some(commit) = commit else {
            return Ok(None);
        };
        if commit.timeline.is_some() && !run.notices.iter().any(|id| id == incident_id) {
            // A stage paged, a policy exhausted, a resolution: the plan's channels hear
            // of it once this tick's pages are out.
            run.notices.push(incident_id.to_string());
        }
        match decision.decision {
            DecisionKind::Resolved => {
                run.report.resolved += 1;
                if let Some(incident) = &commit.incident {
                    metrics::incident_metrics(DecisionKind::Resolved, incident, now);
                }
            }
            DecisionKind::Escalated => run.report.escalations += 1,
            _ => {}
        }
        Ok(Some(commit))
    }

    /// Sends pages while time is left, email and SMS before chat, reading each
    /// incident once (or not at all when this invocation wrote it). A page whose
    /// incident changes after that read is in the same place as one whose incident
    /// changes just after it was sent. One page's failure stops no other.
    async fn send_pages(&self, mut pages: Vec<Page>, now: DateTime<Utc>, run: &mut Run) {
        in_send_order(&mut pages);
        // Stable: each incident's pages stay together within email and SMS, and chat.
        pages.sort_by_key(|p| p.via == Via::Chat);
        for page in pages {
            if self.time_left(run).is_zero() {
                run.report.left += 1;
                continue;
            }
            if !run.incidents.contains_key(&page.incident_id) {
                match self.store.incident(&page.incident_id).await {
                    Ok(Some(incident)) => {
                        run.incidents.insert(incident.id.clone(), incident);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        run.report.errors += 1;
                        tracing::warn!(incident_id = %page.incident_id, %error, "page left for the next tick");
                        continue;
                    }
                }
            }
            let (incident_id, key) = (page.incident_id.clone(), page.key());
            if let Err(error) = self.page(page, now, run).await {
                run.report.errors += 1;
                tracing::warn!(%incident_id, page = %key, %error, "page left for the next tick");
            }
        }
    }

    /// Brings the chat threads of the incidents this invocation changed up to date, each
    /// within the time that is left; an incident left out catches up with its next
    /// event.
    async fn notices(&self, now: DateTime<Utc>, run: &mut Run) {
        let Some(chat) = &self.chat else {
            return;
        };
        for incident_id in std::mem::take(&mut run.notices) {
            let left = self.time_left(run);
            if left.is_zero() {
                run.report.chat_left += 1;
                continue;
            }
            let defaults = RetryPolicy::default();
            let policy = RetryPolicy {
                budget: defaults.budget.min(left),
                ..defaults
            };
            let notifier = self.notifier(chat, &policy);
            if let Err(error) = notifier.catch_up(&incident_id, now).await {
                let error = HandlerError::from(error);
                tracing::warn!(%incident_id, %error, "chat left for the incident's next catch-up");
            }
        }
    }

    fn notifier<'a>(&'a self, chat: &'a C, policy: &'a RetryPolicy) -> Notifier<'a, S, C, H> {
        Notifier {
            config: &self.config,
            store: &self.store,
            chat,
            host: &self.host,
            table: &self.table,
            policy,
        }
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
        page: Page,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Result<(), HandlerError> {
        let taken_over = page.state == PageState::Sending;
        if !sendable(&page, now, self.lease)
            || !self.store.claim_page(&page, now, self.lease).await?
        {
            run.report.pages_skipped += 1;
            return Ok(());
        }
        let incident = run.incidents.get(&page.incident_id);
        let (incident, send) = match plan_page(&self.config.roster(), incident, &page, now) {
            PagePlan::Cancel(cancelled) => {
                self.store.settle_page(&cancelled).await?;
                run.report.pages_cancelled += 1;
                return Ok(());
            }
            PagePlan::Attempt { incident, send } => (incident, send),
        };
        // A chat page's delivery record already says whether it went out; an email or
        // SMS taken over from a dead ticker is looked up on the timeline first.
        let result = match send {
            Ok(outgoing)
                if taken_over
                    && !matches!(outgoing.message, PageMessage::Chat)
                    && self.sent_before(&outgoing.event).await? =>
            {
                Ok(())
            }
            Ok(outgoing) => match self.send(incident, outgoing, now, run).await {
                Ok(()) => Ok(()),
                Err(NotSent::Failed(error)) => Err(error),
                Err(NotSent::Busy) => {
                    self.store.settle_page(&put_back(page, now)).await?;
                    run.report.pages_skipped += 1;
                    return Ok(());
                }
            },
            Err(error) => Err(error),
        };
        let settled = settle(incident, page, result, now);
        let page = &settled.page;
        let report = &mut run.report;
        if settled.outcome == PageOutcome::Sent {
            self.after_send("settling the page", || self.store.settle_page(page))
                .await?;
            report.pages_sent += 1;
            if report.first_page_ms.is_none() {
                let after = self.host.instant().saturating_duration_since(run.started);
                report.first_page_ms = Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
            }
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

    /// A store write after a page went out, tried again while the store is throttled or
    /// unreachable (each such write is a plain put, so a repeat changes nothing): a sent
    /// page left `sending` would be taken over when its lease runs out and sent again.
    async fn after_send<F, T>(&self, what: &str, write: impl Fn() -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = SETTLE_FIRST_WAIT;
        for _ in 1..SETTLE_ATTEMPTS {
            match write().await {
                Err(StoreError::Unavailable(error)) => {
                    tracing::warn!(%error, "{what} after a page went out, again");
                    self.host.sleep(wait).await;
                    wait *= 2;
                }
                done => return done,
            }
        }
        write().await
    }

    /// Whether an earlier attempt at `page`, whose claim ran out, already sent it: its
    /// `paged` event is recorded right after the send, so a ticker that died after that
    /// must not have the page sent twice.
    async fn sent_before(&self, event: &TimelineEvent) -> Result<bool, StoreError> {
        let timeline = self.store.timeline(&event.incident_id).await?;
        Ok(timeline.iter().any(|e| e.event_key == event.event_key))
    }

    /// Sends one page and records its `paged` event once it went out.
    async fn send(
        &self,
        incident: &IncidentRecord,
        outgoing: Outgoing,
        now: DateTime<Utc>,
        run: &Run,
    ) -> Result<(), NotSent> {
        let Outgoing { message, event } = outgoing;
        let failed = |e: &dyn std::fmt::Display| NotSent::Failed(e.to_string());
        match &message {
            PageMessage::Email {
                contact,
                subject,
                body,
            } => {
                self.pager
                    .email(contact, subject, body)
                    .await
                    .map_err(|e| failed(&e))?;
            }
            PageMessage::Sms { phone, body } => {
                self.pager.sms(phone, body).await.map_err(|e| failed(&e))?;
            }
            PageMessage::Chat => {
                let chat = self
                    .chat
                    .as_ref()
                    .ok_or_else(|| failed(&"chat is not set up for the ticker"))?;
                // One try per tick, within the time left: the page's own retries (1, 2,
                // 4, 8 minutes) space out the next ones.
                let defaults = RetryPolicy::default();
                let policy = RetryPolicy {
                    attempts: 1,
                    budget: defaults.budget.min(self.time_left(run)),
                    ..defaults
                };
                let delivery = self
                    .notifier(chat, &policy)
                    .deliver_page(incident, &event, now)
                    .await
                    .map_err(|e| failed(&format!("chat: {e}")))?;
                match delivery {
                    PageDelivery::Delivered => {}
                    PageDelivery::Busy => return Err(NotSent::Busy),
                    PageDelivery::Failed(error) => return Err(NotSent::Failed(error)),
                }
            }
        }
        // The page went out: whatever the timeline write says now, it is sent.
        if let Err(error) = self
            .after_send("recording the paged event", || {
                self.store.append_timeline(&event)
            })
            .await
        {
            tracing::error!(incident_id = %incident.id, event = %event.event_key, %error,
                "the page went out but its paged event could not be recorded");
        }
        Ok(())
    }
}

/// The time kept back from due work: `reserve` while chat notices wait, else none.
fn reserved(run: &Run, reserve: Duration) -> Duration {
    if run.notices.is_empty() {
        Duration::ZERO
    } else {
        reserve
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One page sent or given up, by plan and channel.
fn page_metric(name: &str, incident: &IncidentRecord, page: &Page, now: DateTime<Utc>) {
    let dimensions = [("Plan", incident.plan.as_str()), ("Via", page.via.as_str())];
    metrics::emit(now, &dimensions, &[(name, 1.0, Unit::Count)]);
}

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, Pager, CloudWatchAlarms, AwsChat, TokioHost>;

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
        host: TokioHost,
        table,
        lease: chrono::Duration::minutes(2),
    })
}

/// The instant an invocation must be done by, on the monotonic clock read at `instant`
/// (wall-clock `now`): the Lambda's `deadline`, or [`TICK_SPAN`] on if that is sooner.
/// A deadline already past when the invocation starts is none: Lambda never hands out
/// such an invocation, and `cargo lambda watch` sends a constant 600,000 ms (1970).
pub fn work_deadline(deadline: SystemTime, now: SystemTime, instant: Instant) -> Instant {
    let left = deadline
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
        .unwrap_or(TICK_SPAN);
    instant + left.min(TICK_SPAN)
}

/// The Lambda entry point. The clock is the function's own, so no request can ask for
/// pages early.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Report, HandlerError> {
    let deadline = work_deadline(event.context.deadline(), SystemTime::now(), Instant::now());
    handler
        .handle(event.payload.get(), Utc::now(), deadline)
        .await
}
