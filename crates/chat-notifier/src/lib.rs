//! The `chat-notifier` handler: brings an incident's chat conversations up to date.
//!
//! # Request
//!
//! ```json
//! { "incident_id": "inc-20261120T100000000Z-0a9f759915fc1211" }
//! ```
//!
//! Other fields are ignored, so the state machine passes alarm-to-incident's decision as
//! it is. The escalation ticker will call it the same way: one payload, one rendering
//! path.
//!
//! # What it does
//!
//! For each chat channel of the incident's plan, every timeline event not yet delivered
//! there is rendered ([`quench_core::chat::render`]) and sent, oldest first:
//!
//! - **Once per (incident, event, channel).** A delivery is claimed with a conditional
//!   write before it is sent and settled after; a retried invocation skips what is
//!   delivered. A claim older than the lease belongs to an attempt that died mid-send and
//!   is taken over, so that one case is at-least-once.
//! - **Bounded retries.** 429 waits for `Retry-After` (capped); 5xx, timeouts and
//!   throttled AWS calls back off exponentially with full jitter; other failures are
//!   final at once. A message that still fails goes to the dead-letter queue, is recorded
//!   as `chat_failed` on the timeline, and the rest of that channel waits for the next
//!   invocation. The incident flow never waits on chat: this function answers normally.
//! - **Threads.** Slack (bot token) follow-ups thread under the first message delivered
//!   to the channel; its `ts` is kept on that delivery, and when the incident resolves,
//!   reopens or escalates the opening message is rewritten (`chat.update`) to show its
//!   status. AWS Chatbot threads by incident.
//!
//! # Response
//!
//! `{"delivered": 3, "dead_lettered": 0, "pending": 0}`: `pending` counts messages left
//! for a later invocation (another invocation is sending them, the time budget ran out,
//! or their channel dead-lettered one in this invocation).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::chat::AwsChat;
use quench_aws::handler::{decode_request, optional_env, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::chat::render::render;
use quench_core::chat::{Channel, Delivery, DeliveryState, Notice};
use quench_core::config::Config;
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{ChatSender, NoticeStore, SendError, Sent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use quench_aws::sdk::BUNDLED_CONFIG;

/// Requests are an id and whatever rides along; bigger is not from the state machine.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub incident_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub delivered: u32,
    pub dead_lettered: u32,
    pub pending: u32,
}

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
}

/// A small, good-enough mixer for jitter; no RNG crate needed for spreading retries.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn jitter_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) ^ d.as_secs())
        .unwrap_or(0)
}

pub struct Handler<S, C> {
    pub config: Config,
    pub store: S,
    pub chat: C,
    /// The incident table's name, for console links.
    pub table: String,
    pub policy: RetryPolicy,
}

/// What sending one message came to.
enum Outcome {
    Sent(Sent, u32),
    Failed(SendError, u32),
}

impl<S, C> Handler<S, C>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
{
    pub async fn handle_raw(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let request: Request = decode_request(raw, MAX_REQUEST_BYTES)?;
        self.handle(&request, now).await
    }

    pub async fn handle(
        &self,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let id = &request.incident_id;
        let incident = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| HandlerError::InvalidRequest(format!("no incident `{id}`")))?;
        let Some(plan) = self.config.plans.get(&incident.plan) else {
            return Ok(Response::default());
        };
        let timeline = self.store.timeline(id).await?;
        // The plan's channels follow the incident; a contact's channel gets their page.
        let mut channels: Vec<(&str, bool)> =
            plan.chat.iter().map(|c| (c.as_str(), true)).collect();
        for mention in timeline.iter().filter_map(|e| e.mention.as_ref()) {
            if !channels.iter().any(|(c, _)| *c == mention.channel) {
                channels.push((&mention.channel, false));
            }
        }
        if channels.is_empty() {
            return Ok(Response::default());
        }
        let deliveries = self.store.deliveries(id).await?;
        let started = Instant::now();
        let mut response = Response::default();
        for (name, follows_plan) in channels {
            let Some(channel) = self.config.chat.channels.get(name) else {
                continue;
            };
            let conversation = Conversation {
                handler: self,
                incident: &incident,
                runbook: plan.runbook.as_deref(),
                name,
                channel,
                follows_plan,
                now,
                started,
            };
            conversation
                .catch_up(&timeline, &deliveries, &mut response)
                .await?;
        }
        tracing::info!(
            incident_id = %incident.id,
            delivered = response.delivered,
            dead_lettered = response.dead_lettered,
            pending = response.pending,
            "chat caught up"
        );
        Ok(response)
    }
}

/// One incident's conversation in one channel.
struct Conversation<'a, S, C> {
    handler: &'a Handler<S, C>,
    incident: &'a IncidentRecord,
    runbook: Option<&'a str>,
    name: &'a str,
    channel: &'a Channel,
    /// A plan channel gets the whole story; a contact's own channel only their pages.
    follows_plan: bool,
    now: DateTime<Utc>,
    started: Instant,
}

impl<S, C> Conversation<'_, S, C>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
{
    async fn catch_up(
        &self,
        timeline: &[TimelineEvent],
        deliveries: &[Delivery],
        response: &mut Response,
    ) -> Result<(), HandlerError> {
        let ours = || deliveries.iter().filter(|d| d.channel == self.name);
        let mut thread = ours().find_map(|d| d.thread.clone());
        let mut stop = false;
        let mut status_changed = false;
        for event in timeline {
            if !self.wants(event)
                || ours()
                    .any(|d| d.event_key == event.event_key && d.state != DeliveryState::Sending)
            {
                continue;
            }
            if stop || self.started.elapsed() > self.handler.policy.budget {
                response.pending += 1;
                continue;
            }
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
            let store = &self.handler.store;
            if !store
                .claim_delivery(&claim, self.handler.policy.lease)
                .await?
            {
                response.pending += 1;
                continue;
            }
            let notice = Notice::new(self.incident, event, self.runbook, &self.handler.table);
            let body = render(self.channel.kind(), &notice);
            let key = format!("{}#{}", self.incident.id, event.event_key);
            match self.send(&body, thread.as_deref(), &key).await {
                Outcome::Sent(sent, attempts) => {
                    // The first message delivered here opens the thread.
                    let opens_thread = thread.is_none() && sent.thread.is_some();
                    if opens_thread {
                        thread.clone_from(&sent.thread);
                    }
                    status_changed |= matches!(
                        event.kind,
                        TimelineKind::Resolved
                            | TimelineKind::Reopened
                            | TimelineKind::Escalated
                            | TimelineKind::Acknowledged
                    );
                    store
                        .settle_delivery(&Delivery {
                            state: DeliveryState::Delivered,
                            attempts,
                            thread: sent.thread.filter(|_| opens_thread),
                            ..claim
                        })
                        .await?;
                    response.delivered += 1;
                }
                Outcome::Failed(error, attempts) => {
                    self.give_up(&claim, event, &body, &error, attempts).await?;
                    response.dead_lettered += 1;
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
    /// effort: the thread already says it, so a failure is logged and nothing more.
    async fn refresh_opening(&self, timeline: &[TimelineEvent], thread: &str) {
        let Some(opening) = timeline.iter().find(|e| e.kind == TimelineKind::Opened) else {
            return;
        };
        let notice = Notice::new(self.incident, opening, self.runbook, &self.handler.table);
        let body = render(self.channel.kind(), &notice);
        if let Err(error) = self.handler.chat.update(self.channel, &body, thread).await {
            tracing::warn!(
                incident_id = %self.incident.id,
                channel = self.name,
                error = %error,
                "could not update the opening message"
            );
        }
    }

    async fn send(&self, body: &serde_json::Value, thread: Option<&str>, key: &str) -> Outcome {
        let policy = &self.handler.policy;
        let seed = jitter_seed();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .handler
                .chat
                .send(self.channel, body, thread, key)
                .await;
            let error = match result {
                Ok(sent) => return Outcome::Sent(sent, attempt),
                Err(error) => error,
            };
            let wait = match &error {
                SendError::Retry { after, .. } if attempt < policy.attempts => after
                    .map(|after| after.min(policy.retry_after_cap))
                    .unwrap_or_else(|| policy.backoff(attempt - 1, seed)),
                _ => return Outcome::Failed(error, attempt),
            };
            if self.started.elapsed() + wait > policy.budget {
                return Outcome::Failed(error, attempt);
            }
            tracing::warn!(
                incident_id = %self.incident.id,
                channel = self.name,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "chat send failed; retrying"
            );
            tokio::time::sleep(wait).await;
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
    ) -> Result<(), HandlerError> {
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
        let queued = match self.handler.chat.dead_letter(&record).await {
            Ok(true) => "the message is in the dead-letter queue".to_string(),
            Ok(false) => "no dead-letter queue is configured".to_string(),
            Err(dlq) => format!("the dead-letter queue refused it too ({dlq})"),
        };
        tracing::error!(
            incident_id = %self.incident.id,
            channel = self.name,
            event_key = %event.event_key,
            attempts,
            error = %error,
            "chat message not delivered; {queued}"
        );
        let summary = format!(
            "chat `{}` did not get the {} message after {attempts} attempt(s): {error}; {queued}",
            self.name,
            event.kind.as_str()
        );
        let trigger = &self.incident.trigger;
        self.handler
            .store
            .append_timeline(&TimelineEvent {
                incident_id: self.incident.id.clone(),
                event_key: format!("chat#{}#{}", self.name, event.event_key),
                at: self.now,
                kind: TimelineKind::ChatFailed,
                alarm_name: trigger.alarm_name.clone(),
                series: String::new(),
                state: event.state,
                summary: quench_core::actions::sanitize_output(&summary, 1_024),
                mention: None,
            })
            .await?;
        self.handler
            .store
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

/// Everything built once per cold start.
pub type LambdaHandler = Handler<DynamoStore, AwsChat>;

/// Reads the environment once: `QUENCH_TABLE` (required), `QUENCH_CHAT_DEAD_LETTER_QUEUE`
/// (SQS queue URL, optional), `QUENCH_SLACK_API_URL` (optional, for tests); the config as
/// every function loads it.
pub async fn init_from_env() -> Result<LambdaHandler, InitError> {
    let table = required_env("QUENCH_TABLE")?;
    let sdk = sdk_config("chat-notifier").await;
    let config = load_config(&sdk).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    Ok(from_parts(&sdk, dynamodb, config, table))
}

/// The handler over clients of `sdk`, for a function that has its config and DynamoDB
/// client already (the escalation ticker sends chat pages through it). Reads
/// `QUENCH_CHAT_DEAD_LETTER_QUEUE` and `QUENCH_SLACK_API_URL` from the environment.
pub fn from_parts(
    sdk: &SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    config: Config,
    table: String,
) -> LambdaHandler {
    Handler {
        config,
        store: DynamoStore::new(dynamodb, &table),
        chat: AwsChat::new(
            sdk,
            Duration::from_secs(5),
            optional_env("QUENCH_SLACK_API_URL"),
            optional_env("QUENCH_CHAT_DEAD_LETTER_QUEUE"),
        ),
        table,
        policy: RetryPolicy::default(),
    }
}

/// The Lambda entry point over a shared handler.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    handler.handle_raw(event.payload.get(), Utc::now()).await
}
