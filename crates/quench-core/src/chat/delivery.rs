//! Chat delivery: brings an incident's chat conversations up to date through the
//! notice ports. Shared by the chat notifier and the escalation ticker (chat pages).
//!
//! For each chat channel of the incident's plan, every timeline event not yet delivered
//! there is rendered ([`crate::chat::render::render`]) and sent, oldest first:
//!
//! - **Once per (incident, event, channel).** A delivery is claimed with a conditional
//!   write before it is sent and settled after; a retried invocation skips what is
//!   delivered. A claim older than the lease belongs to an attempt that died mid-send and
//!   is taken over, so that one case is at-least-once.
//! - **Bounded retries.** A retryable failure waits for `Retry-After` (capped) or backs
//!   off exponentially with full jitter; other failures are final at once. A message that
//!   still fails is dead-lettered, recorded as `chat_failed` on the timeline, and the rest
//!   of that channel waits for the next invocation.
//! - **Threads.** Follow-ups thread under the first message delivered to the channel; its
//!   thread id is kept on that delivery, and when the incident resolves, reopens,
//!   escalates or is acknowledged the opening message is rewritten to show its status.
//!
//! A contact's own channel (a chat page's mention) gets only their pages.
//!
//! A chat page goes through [`Notifier::deliver_page`] instead: one message, claimed
//! and sent the same way, but a failure is given back to the escalation ticker, which
//! retries the page on its own schedule and records it as failed after the last
//! attempt, like an email or SMS page.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::channels::Channel;
use crate::chat::notice::{Delivery, DeliveryState, Notice};
use crate::chat::render::render;
use crate::config::file::Config;
use crate::incident::record::{IncidentRecord, TimelineEvent, TimelineKind};
use crate::ports::incident_store::StoreError;
use crate::ports::notices::{ChatSender, DeliveryHost, DeliveryNote, NoticeStore, SendError, Sent};
use crate::text::sanitize_output;

/// How hard one invocation tries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per message, the first included.
    pub attempts: u32,
    /// Backoff before attempt n+1 is a random part of `base * 2^n`, at most `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// A `Retry-After` longer than this is cut to it.
    pub retry_after_cap: Duration,
    /// No new message is started after this much time in one invocation.
    pub budget: Duration,
    /// A claim older than this belongs to a dead attempt.
    pub lease: chrono::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(20),
            budget: Duration::from_secs(40),
            lease: chrono::Duration::minutes(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform part of the exponential step, so retries of many incidents
    /// against one throttled endpoint spread out instead of arriving together.
    fn backoff(&self, attempt: u32, seed: u64) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
            .min(self.cap);
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(splitmix(seed ^ u64::from(attempt)) % nanos)
    }

    /// How long to wait before the next attempt after `error` on attempt `attempt`
    /// (1-based); `None`: give up.
    fn wait_after(&self, error: &SendError, attempt: u32, seed: u64) -> Option<Duration> {
        match error {
            SendError::Retry { after, .. } if attempt < self.attempts => Some(
                after
                    .map(|after| after.min(self.retry_after_cap))
                    .unwrap_or_else(|| self.backoff(attempt - 1, seed)),
            ),
            _ => None,
        }
    }
}

/// A small, good-enough mixer for jitter; no RNG crate needed for spreading retries.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What one catch-up did: `pending` counts messages left for a later invocation
/// (another invocation is sending them, the time budget ran out, or their channel
/// dead-lettered one in this invocation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub delivered: u32,
    pub dead_lettered: u32,
    pub pending: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("no incident `{0}`")]
    NoIncident(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ports and settings of one delivery: what the chat notifier and the ticker
/// each hold, lent for a catch-up.
pub struct Notifier<'a, S, C, H> {
    pub config: &'a Config,
    pub store: &'a S,
    pub chat: &'a C,
    pub host: &'a H,
    /// The incident table's name, for console links.
    pub table: &'a str,
    pub policy: &'a RetryPolicy,
}

/// What sending one message came to.
enum Outcome {
    Sent(Sent, u32),
    Failed(SendError, u32),
}

/// What posting one message came to, its delivery claimed and settled.
enum Posted {
    Delivered,
    /// Another invocation holds the claim.
    Busy,
    /// Every attempt failed; the claim is still held, for the caller to settle.
    Failed(Box<Unposted>),
}

/// A message every attempt failed to send.
struct Unposted {
    claim: Delivery,
    body: serde_json::Value,
    error: SendError,
    attempts: u32,
}

/// How delivering one chat page went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageDelivery {
    /// In the channel: posted now, or by an earlier attempt that died before it settled
    /// the page.
    Delivered,
    /// Another invocation holds the delivery's claim and may be posting it right now.
    Busy,
    /// Not posted, for this reason. The claim is given back, so the next attempt posts.
    Failed(String),
}

impl<S, C, H> Notifier<'_, S, C, H>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
    H: DeliveryHost + Sync,
{
    /// Brings every chat conversation of the incident up to date.
    pub async fn catch_up(
        &self,
        incident_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, NoticeError> {
        let incident = self
            .store
            .incident(incident_id)
            .await?
            .ok_or_else(|| NoticeError::NoIncident(incident_id.to_string()))?;
        let Some(plan) = self.config.plans.get(&incident.plan) else {
            return Ok(DeliveryReport::default());
        };
        let timeline = self.store.timeline(incident_id).await?;
        // The plan's channels follow the incident; a contact's channel gets their page.
        let mut channels: Vec<(&str, bool)> =
            plan.chat.iter().map(|c| (c.as_str(), true)).collect();
        for mention in timeline.iter().filter_map(|e| e.mention.as_ref()) {
            if !channels.iter().any(|(c, _)| *c == mention.channel) {
                channels.push((&mention.channel, false));
            }
        }
        if channels.is_empty() {
            return Ok(DeliveryReport::default());
        }
        let deliveries = self.store.deliveries(incident_id).await?;
        let started = self.host.instant();
        let mut report = DeliveryReport::default();
        for (name, follows_plan) in channels {
            let Some(channel) = self.config.chat.channels.get(name) else {
                continue;
            };
            let conversation = Conversation {
                notifier: self,
                incident: &incident,
                runbook: plan.runbook.as_deref(),
                name,
                channel,
                follows_plan,
                now,
                started,
            };
            conversation
                .catch_up(&timeline, &deliveries, &mut report)
                .await?;
        }
        self.host.note(DeliveryNote::CaughtUp {
            incident_id: &incident.id,
            delivered: report.delivered,
            dead_lettered: report.dead_lettered,
            pending: report.pending,
        });
        Ok(report)
    }
}

impl<S, C, H> Notifier<'_, S, C, H>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
    H: DeliveryHost + Sync,
{
    /// Posts one chat page: `event`, the page's `paged` event carrying the mention, to
    /// the mention's channel, in the incident's thread there. The event need not be on
    /// the timeline yet: the ticker records it once this says `Delivered`, so the
    /// timeline never says someone was paged who was not. A failure is not
    /// dead-lettered: the ticker tries the page again on its own schedule.
    pub async fn deliver_page(
        &self,
        incident: &IncidentRecord,
        event: &TimelineEvent,
        now: DateTime<Utc>,
    ) -> Result<PageDelivery, StoreError> {
        let Some(mention) = &event.mention else {
            return Ok(PageDelivery::Failed("the page has no chat mention".into()));
        };
        let name = mention.channel.as_str();
        let Some(channel) = self.config.chat.channels.get(name) else {
            return Ok(PageDelivery::Failed(format!(
                "no chat channel is named `{name}`"
            )));
        };
        let deliveries = self.store.deliveries(&incident.id).await?;
        let ours = || deliveries.iter().filter(|d| d.channel == name);
        if let Some(done) = ours().find(|d| d.event_key == event.event_key) {
            match done.state {
                DeliveryState::Delivered => return Ok(PageDelivery::Delivered),
                // A catch-up dead-lettered it: a page recorded before it was delivered,
                // as earlier versions did. It stays failed.
                DeliveryState::DeadLettered => {
                    let error = done.error.as_deref().unwrap_or("dead-lettered");
                    return Ok(PageDelivery::Failed(error.to_string()));
                }
                DeliveryState::Sending => {}
            }
        }
        let conversation = Conversation {
            notifier: self,
            incident,
            runbook: self
                .config
                .plans
                .get(&incident.plan)
                .and_then(|p| p.runbook.as_deref()),
            name,
            channel,
            follows_plan: false,
            now,
            started: self.host.instant(),
        };
        let mut thread = ours().find_map(|d| d.thread.clone());
        Ok(match conversation.post(event, &mut thread).await? {
            Posted::Delivered => PageDelivery::Delivered,
            Posted::Busy => PageDelivery::Busy,
            Posted::Failed(unposted) => {
                self.store.release_delivery(&unposted.claim).await?;
                PageDelivery::Failed(unposted.error.to_string())
            }
        })
    }
}

/// One incident's conversation in one channel.
struct Conversation<'a, S, C, H> {
    notifier: &'a Notifier<'a, S, C, H>,
    incident: &'a IncidentRecord,
    runbook: Option<&'a str>,
    name: &'a str,
    channel: &'a Channel,
    /// A plan channel gets the whole story; a contact's own channel only their pages.
    follows_plan: bool,
    now: DateTime<Utc>,
    started: Instant,
}

impl<S, C, H> Conversation<'_, S, C, H>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
    H: DeliveryHost + Sync,
{
    /// Time spent in this invocation, by the host's clock.
    fn elapsed(&self) -> Duration {
        self.notifier
            .host
            .instant()
            .saturating_duration_since(self.started)
    }

    async fn catch_up(
        &self,
        timeline: &[TimelineEvent],
        deliveries: &[Delivery],
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let ours = || deliveries.iter().filter(|d| d.channel == self.name);
        let mut thread = ours().find_map(|d| d.thread.clone());
        let mut stop = false;
        let mut status_changed = false;
        let policy = self.notifier.policy;
        for event in timeline {
            if !self.wants(event)
                || ours()
                    .any(|d| d.event_key == event.event_key && d.state != DeliveryState::Sending)
            {
                continue;
            }
            if stop || self.elapsed() > policy.budget {
                report.pending += 1;
                continue;
            }
            match self.post(event, &mut thread).await? {
                Posted::Delivered => {
                    status_changed |= matches!(
                        event.kind,
                        TimelineKind::Resolved
                            | TimelineKind::Reopened
                            | TimelineKind::Escalated
                            | TimelineKind::Acknowledged
                    );
                    report.delivered += 1;
                }
                Posted::Busy => report.pending += 1,
                Posted::Failed(unposted) => {
                    let Unposted {
                        claim,
                        body,
                        error,
                        attempts,
                    } = *unposted;
                    self.give_up(&claim, event, &body, &error, attempts).await?;
                    report.dead_lettered += 1;
                    // The endpoint is down or refuses us: the rest of this channel waits
                    // for the next invocation rather than each failing in turn now.
                    stop = true;
                }
            }
        }
        if let (true, Some(thread)) = (status_changed, thread) {
            self.refresh_opening(timeline, &thread).await;
        }
        Ok(())
    }

    /// Claims the event's delivery here, renders and sends it (threaded under `thread`,
    /// which the first message delivered here sets), and settles it when delivered.
    async fn post(
        &self,
        event: &TimelineEvent,
        thread: &mut Option<String>,
    ) -> Result<Posted, StoreError> {
        let store = self.notifier.store;
        let claim = Delivery {
            incident_id: self.incident.id.clone(),
            channel: self.name.to_string(),
            event_key: event.event_key.clone(),
            state: DeliveryState::Sending,
            at: self.now,
            attempts: 0,
            thread: None,
            error: None,
        };
        if !store
            .claim_delivery(&claim, self.notifier.policy.lease)
            .await?
        {
            return Ok(Posted::Busy);
        }
        let notice = Notice::new(self.incident, event, self.runbook, self.notifier.table);
        let body = render(self.channel.kind(), &notice);
        let key = format!("{}#{}", self.incident.id, event.event_key);
        match self.send(&body, thread.as_deref(), &key).await {
            Outcome::Sent(sent, attempts) => {
                // The first message delivered here opens the thread.
                let opens_thread = thread.is_none() && sent.thread.is_some();
                if opens_thread {
                    thread.clone_from(&sent.thread);
                }
                store
                    .settle_delivery(&Delivery {
                        state: DeliveryState::Delivered,
                        attempts,
                        thread: sent.thread.filter(|_| opens_thread),
                        ..claim
                    })
                    .await?;
                Ok(Posted::Delivered)
            }
            Outcome::Failed(error, attempts) => Ok(Posted::Failed(Box::new(Unposted {
                claim,
                body,
                error,
                attempts,
            }))),
        }
    }

    fn wants(&self, event: &TimelineEvent) -> bool {
        match event.kind {
            TimelineKind::ChatFailed | TimelineKind::PageFailed => false,
            TimelineKind::Paged => event
                .mention
                .as_ref()
                .is_some_and(|m| m.channel == self.name),
            _ => self.follows_plan,
        }
    }

    /// Rewrites the opening message so it shows where the incident stands now. Best
    /// effort: the thread already says it, so a failure is noted and nothing more.
    async fn refresh_opening(&self, timeline: &[TimelineEvent], thread: &str) {
        let Some(opening) = timeline.iter().find(|e| e.kind == TimelineKind::Opened) else {
            return;
        };
        let notice = Notice::new(self.incident, opening, self.runbook, self.notifier.table);
        let body = render(self.channel.kind(), &notice);
        if let Err(error) = self.notifier.chat.update(self.channel, &body, thread).await {
            self.notifier.host.note(DeliveryNote::OpeningNotUpdated {
                incident_id: &self.incident.id,
                channel: self.name,
                error: &error,
            });
        }
    }

    async fn send(&self, body: &serde_json::Value, thread: Option<&str>, key: &str) -> Outcome {
        let policy = self.notifier.policy;
        let seed = self.notifier.host.jitter_seed();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .notifier
                .chat
                .send(self.channel, body, thread, key)
                .await;
            let error = match result {
                Ok(sent) => return Outcome::Sent(sent, attempt),
                Err(error) => error,
            };
            let Some(wait) = policy.wait_after(&error, attempt, seed) else {
                return Outcome::Failed(error, attempt);
            };
            if self.elapsed() + wait > policy.budget {
                return Outcome::Failed(error, attempt);
            }
            self.notifier.host.note(DeliveryNote::Retrying {
                incident_id: &self.incident.id,
                channel: self.name,
                attempt,
                wait,
                error: &error,
            });
            self.notifier.host.sleep(wait).await;
        }
    }

    /// Dead-letters the message, records the failure on the timeline, and settles the
    /// delivery so no later invocation sends it: the queue holds it for replay.
    async fn give_up(
        &self,
        claim: &Delivery,
        event: &TimelineEvent,
        body: &serde_json::Value,
        error: &SendError,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let record = serde_json::json!({
            "incident_id": self.incident.id,
            "channel": self.name,
            "channel_kind": self.channel.kind().as_str(),
            "event_key": event.event_key,
            "event_kind": event.kind.as_str(),
            "attempts": attempts,
            "error": error.to_string(),
            "message": body,
        });
        let queued = match self.notifier.chat.dead_letter(&record).await {
            Ok(true) => "the message is in the dead-letter queue".to_string(),
            Ok(false) => "no dead-letter queue is configured".to_string(),
            Err(dlq) => format!("the dead-letter queue refused it too ({dlq})"),
        };
        self.notifier.host.note(DeliveryNote::GivenUp {
            incident_id: &self.incident.id,
            channel: self.name,
            event_key: &event.event_key,
            attempts,
            error,
            queued: &queued,
        });
        let summary = format!(
            "chat `{}` did not get the {} message after {attempts} attempt(s): {error}; {queued}",
            self.name,
            event.kind.as_str()
        );
        let trigger = &self.incident.trigger;
        let store = self.notifier.store;
        store
            .append_timeline(&TimelineEvent {
                incident_id: self.incident.id.clone(),
                event_key: format!("chat#{}#{}", self.name, event.event_key),
                at: self.now,
                kind: TimelineKind::ChatFailed,
                alarm_name: trigger.alarm_name.clone(),
                series: String::new(),
                state: event.state,
                summary: sanitize_output(&summary, 1_024),
                mention: None,
            })
            .await?;
        store
            .settle_delivery(&Delivery {
                state: DeliveryState::DeadLettered,
                attempts,
                error: Some(error.to_string()),
                ..claim.clone()
            })
            .await?;
        Ok(())
    }
}
