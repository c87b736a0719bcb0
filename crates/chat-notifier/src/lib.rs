//! The `chat-notifier` handler: brings an incident's chat conversations up to date.
//!
//! # Request
//!
//! ```json
//! { "incident_id": "inc-20261120T100000000Z-0a9f759915fc1211" }
//! ```
//!
//! Other fields are ignored, so the state machine passes alarm-to-incident's decision as
//! it is. The escalation ticker's chat pages take the same path in its own process: one
//! rendering path.
//!
//! # What it does
//!
//! For each chat channel of the incident's plan, every timeline event not yet delivered
//! there is rendered ([`quench_core::chat::render`]) and sent, oldest first (the flow is
//! [`quench_core::chat::Notifier`]):
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

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use quench_aws::chat::{AwsChat, TokioHost};
use quench_aws::handler::{decode_request, required_env};
pub use quench_aws::handler::{HandlerError, InitError};
use quench_aws::sdk::{load_config, sdk_config};
use quench_aws::store::DynamoStore;
use quench_core::chat::Notifier;
pub use quench_core::chat::{DeliveryReport as Response, RetryPolicy};
use quench_core::config::Config;
use quench_core::ports::{ChatSender, NoticeStore};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use quench_aws::sdk::BUNDLED_CONFIG;

/// Requests are an id and whatever rides along; bigger is not from the state machine.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub incident_id: String,
}

pub struct Handler<S, C> {
    pub config: Config,
    pub store: S,
    pub chat: C,
    /// The incident table's name, for console links.
    pub table: String,
    pub policy: RetryPolicy,
}

impl<S, C> Handler<S, C>
where
    S: NoticeStore + Sync,
    C: ChatSender + Sync,
{
    /// Handles one raw payload.
    pub async fn handle(&self, raw: &str, now: DateTime<Utc>) -> Result<Response, HandlerError> {
        let request: Request = decode_request(raw, MAX_REQUEST_BYTES)?;
        self.handle_request(&request, now).await
    }

    /// Handles one decoded request.
    pub async fn handle_request(
        &self,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response, HandlerError> {
        let notifier = Notifier {
            config: &self.config,
            store: &self.store,
            chat: &self.chat,
            host: &TokioHost,
            table: &self.table,
            policy: &self.policy,
        };
        Ok(notifier.catch_up(&request.incident_id, now).await?)
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
    Ok(Handler {
        config,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        chat: AwsChat::from_env(&sdk),
        table,
        policy: RetryPolicy::default(),
    })
}

/// The Lambda entry point over a shared handler.
pub async fn invoke(
    handler: Arc<LambdaHandler>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    handler.handle(event.payload.get(), Utc::now()).await
}
