//! Sending rendered chat messages: HTTP webhooks, the Slack Web API, SNS for AWS
//! Chatbot, and the SQS dead-letter queue for messages that could not be delivered.
//!
//! Secrets (webhook URLs, bot tokens, signing keys) are read through [`Secrets`] and sent
//! only as the URL or an `Authorization` header; no error returned here contains them.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use quench_core::chat::{Channel, SecretRef};
use quench_core::ports::{ChatSender, DeliveryHost, DeliveryNote};
pub use quench_core::ports::{SendError, Sent};
use sha2::Sha256;

use crate::actions::classify;
use crate::handler::optional_env;
use crate::http::{HttpAnswer, HttpError, HttpSender};
use crate::secrets::{SecretError, Secrets};

/// Where the Slack Web API lives; tests point it at a local sink.
pub const DEFAULT_SLACK_API: &str = "https://slack.com/api";

impl From<SecretError> for SendError {
    fn from(error: SecretError) -> Self {
        if error.is_retryable() {
            SendError::retry(error.to_string())
        } else {
            SendError::fail(error.to_string())
        }
    }
}

impl From<HttpError> for SendError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Transport(_) => SendError::retry(error.to_string()),
            other => SendError::fail(other.to_string()),
        }
    }
}

pub struct AwsChat {
    pub secrets: Secrets,
    pub http: HttpSender,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub slack_api: String,
    /// The SQS queue for undeliverable messages; without one they are kept only in the
    /// table and the timeline.
    pub dead_letter_queue: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256=<hex>` over `<timestamp>.<body>`: the receiver checks the timestamp is recent
/// and recomputes the MAC with the shared key.
pub fn webhook_signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Why one send did not go through: the receiver refused the credential it was sent (a
/// secret rotated since it was read), or anything else.
#[derive(Debug, PartialEq)]
enum Failure {
    Refused(SendError),
    Other(SendError),
}

impl From<SendError> for Failure {
    fn from(error: SendError) -> Self {
        Failure::Other(error)
    }
}

impl From<SecretError> for Failure {
    fn from(error: SecretError) -> Self {
        Failure::Other(error.into())
    }
}

impl From<HttpError> for Failure {
    fn from(error: HttpError) -> Self {
        Failure::Other(error.into())
    }
}

impl From<Failure> for SendError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(error) | Failure::Other(error) => error,
        }
    }
}

/// Statuses that say the URL or token is not (or no longer) one the receiver knows: a
/// revoked webhook answers 403, 404 or 410, a bad bearer token 401 or 403.
const REFUSED_STATUSES: [u16; 4] = [401, 403, 404, 410];

/// The Slack Web API's errors about the token itself.
const SLACK_TOKEN_ERRORS: [&str; 5] = [
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// An HTTP answer as a delivery outcome: 2xx sent, 429 and 5xx retried (429 with the
/// server's delay), other 4xx failed (a refusal of the credential told apart).
fn judge(answer: &HttpAnswer) -> Result<(), Failure> {
    match answer.status {
        200..=299 => Ok(()),
        429 => Err(Failure::Other(SendError::Retry {
            after: answer.retry_after,
            reason: "429 Too Many Requests".into(),
        })),
        500..=599 => Err(Failure::Other(SendError::Retry {
            after: answer.retry_after,
            reason: format!("HTTP {}", answer.status),
        })),
        status => {
            let error = SendError::fail(format!(
                "HTTP {status}: {}",
                quench_core::text::sanitize_output(&answer.body, 200)
            ));
            if REFUSED_STATUSES.contains(&status) {
                Err(Failure::Refused(error))
            } else {
                Err(Failure::Other(error))
            }
        }
    }
}

/// The secrets a channel sends with each message.
fn secrets_of(channel: &Channel) -> Vec<&SecretRef> {
    match channel {
        Channel::Slack { token, .. } => vec![token],
        Channel::SlackWebhook { url } | Channel::Teams { url } | Channel::Chime { url } => {
            vec![url]
        }
        Channel::Webhook { url, signing_key } => std::iter::once(url).chain(signing_key).collect(),
        Channel::Chatbot { .. } => Vec::new(),
    }
}

impl AwsChat {
    /// Clients from one SDK config; requests time out after `timeout`.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        timeout: Duration,
        slack_api: Option<String>,
        dead_letter_queue: Option<String>,
    ) -> Self {
        AwsChat {
            secrets: Secrets::new(
                aws_sdk_ssm::Client::new(sdk),
                aws_sdk_secretsmanager::Client::new(sdk),
            ),
            http: HttpSender::new(timeout),
            sns: aws_sdk_sns::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            slack_api: slack_api.unwrap_or_else(|| DEFAULT_SLACK_API.to_string()),
            dead_letter_queue,
        }
    }

    /// As every function that delivers chat builds it: requests time out after 5 s;
    /// `QUENCH_SLACK_API_URL` (optional, for tests) and `QUENCH_CHAT_DEAD_LETTER_QUEUE`
    /// (SQS queue URL, optional) from the environment.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        AwsChat::new(
            sdk,
            Duration::from_secs(5),
            optional_env("QUENCH_SLACK_API_URL"),
            optional_env("QUENCH_CHAT_DEAD_LETTER_QUEUE"),
        )
    }

    async fn slack(
        &self,
        token: &SecretRef,
        channel: &str,
        body: &serde_json::Value,
        thread: Option<&str>,
    ) -> Result<Sent, Failure> {
        let reply = self
            .slack_call(
                "chat.postMessage",
                token,
                channel,
                body,
                thread.map(|ts| ("thread_ts", ts)),
            )
            .await?;
        Ok(Sent {
            thread: thread
                .map(str::to_string)
                .or_else(|| reply["ts"].as_str().map(str::to_string)),
        })
    }

    /// One Web API call with the bot token; `extra` is one more field (`thread_ts` or
    /// `ts`). Returns the API's reply.
    async fn slack_call(
        &self,
        method: &str,
        token: &SecretRef,
        channel: &str,
        body: &serde_json::Value,
        extra: Option<(&str, &str)>,
    ) -> Result<serde_json::Value, Failure> {
        let token = self.secrets.get(token).await?;
        let mut message = body.clone();
        if let Some(fields) = message.as_object_mut() {
            fields.insert("channel".into(), channel.into());
            if let Some((name, value)) = extra {
                fields.insert(name.into(), value.into());
            }
        }
        let url = crate::secrets::Secret::new(format!(
            "{}/{method}",
            self.slack_api.trim_end_matches('/')
        ));
        let answer = self
            .http
            .post(
                &url,
                &[
                    (
                        "Content-Type",
                        "application/json; charset=utf-8".to_string(),
                    ),
                    ("Authorization", format!("Bearer {}", token.expose())),
                ],
                serde_json::to_vec(&message).unwrap_or_default(),
            )
            .await?;
        judge(&answer)?;
        // The Web API answers 200 with `ok: false` for its own errors.
        let reply: serde_json::Value = serde_json::from_str(&answer.body)
            .map_err(|_| SendError::retry("Slack answered with something other than JSON"))?;
        if reply["ok"].as_bool() == Some(true) {
            return Ok(reply);
        }
        let error = reply["error"].as_str().unwrap_or("unknown error");
        match error {
            "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout" => Err(Failure::Other(SendError::Retry {
                after: answer.retry_after,
                reason: format!("Slack: {error}"),
            })),
            refused if SLACK_TOKEN_ERRORS.contains(&refused) => Err(Failure::Refused(
                SendError::fail(format!("Slack: {refused}")),
            )),
            _ => Err(Failure::Other(SendError::fail(format!("Slack: {error}")))),
        }
    }

    /// Reads the channel's secrets again after a refusal; whether any changed, so that
    /// one more attempt can differ. A secret that cannot be read now changes nothing:
    /// the refusal stands.
    async fn reread(&self, channel: &Channel) -> bool {
        let mut changed = false;
        for secret in secrets_of(channel) {
            match self.secrets.refresh(secret).await {
                Ok(fresh) => changed |= fresh.is_some(),
                Err(error) => tracing::warn!(%error, "cannot re-read a refused secret"),
            }
        }
        changed
    }

    /// `call`, and once more if the receiver refused the channel's credential and reading
    /// its secrets again found one changed (a rotation the cache had not seen yet).
    async fn again_if_refused<T, F>(
        &self,
        channel: &Channel,
        call: impl Fn() -> F,
    ) -> Result<T, SendError>
    where
        F: std::future::Future<Output = Result<T, Failure>>,
    {
        match call().await {
            Err(Failure::Refused(error)) if !self.reread(channel).await => Err(error),
            Err(Failure::Refused(_)) => Ok(call().await?),
            other => Ok(other?),
        }
    }

    /// One post of `body` to the channel.
    async fn post(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: Option<&str>,
        key: &str,
    ) -> Result<Sent, Failure> {
        let json = |value: &serde_json::Value| serde_json::to_vec(value).unwrap_or_default();
        let content_type = ("Content-Type", "application/json".to_string());
        match channel {
            Channel::SlackWebhook { url } | Channel::Teams { url } | Channel::Chime { url } => {
                let url = self.secrets.get(url).await?;
                let answer = self.http.post(&url, &[content_type], json(body)).await?;
                judge(&answer)?;
                Ok(Sent { thread: None })
            }
            Channel::Webhook { url, signing_key } => {
                let url = self.secrets.get(url).await?;
                let payload = json(body);
                let mut headers = vec![content_type, ("Idempotency-Key", key.to_string())];
                if let Some(signing_key) = signing_key {
                    let secret = self.secrets.get(signing_key).await?;
                    let now = chrono::Utc::now().timestamp();
                    headers.push(("X-Quench-Timestamp", now.to_string()));
                    headers.push((
                        "X-Quench-Signature",
                        webhook_signature(secret.expose().as_bytes(), now, &payload),
                    ));
                }
                let answer = self.http.post(&url, &headers, payload).await?;
                judge(&answer)?;
                Ok(Sent { thread: None })
            }
            Channel::Slack { token, channel } => self.slack(token, channel, body, thread).await,
            Channel::Chatbot { topic_arn } => {
                self.sns
                    .publish()
                    .topic_arn(topic_arn)
                    .message(String::from_utf8_lossy(&json(body)).into_owned())
                    .send()
                    .await
                    .map_err(|e| SendError::from(classify("Publish", e)))?;
                Ok(Sent { thread: None })
            }
        }
    }
}

impl ChatSender for AwsChat {
    /// `key` goes out as `Idempotency-Key` where the receiver deduplicates (webhooks). A
    /// refused credential is read again, and the message sent once more if it changed.
    async fn send(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: Option<&str>,
        key: &str,
    ) -> Result<Sent, SendError> {
        self.again_if_refused(channel, || self.post(channel, body, thread, key))
            .await
    }

    /// Rewrites a posted message in place (Slack `chat.update`): the opening message
    /// follows the incident's status. Other channels cannot edit; nothing to do.
    async fn update(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: &str,
    ) -> Result<(), SendError> {
        let Channel::Slack { token, channel: id } = channel else {
            return Ok(());
        };
        self.again_if_refused(channel, || {
            self.slack_call("chat.update", token, id, body, Some(("ts", thread)))
        })
        .await?;
        Ok(())
    }

    /// The SQS queue, when there is one.
    async fn dead_letter(&self, record: &serde_json::Value) -> Result<bool, SendError> {
        let Some(queue) = &self.dead_letter_queue else {
            return Ok(false);
        };
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(record.to_string())
            .send()
            .await
            .map_err(|e| SendError::from(classify("SendMessage", e)))?;
        Ok(true)
    }
}

/// Where chat delivery runs in a function: tokio's timer between attempts, and the
/// function's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioHost;

impl DeliveryHost for TokioHost {
    async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn jitter_seed(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()) ^ d.as_secs())
            .unwrap_or(0)
    }

    fn note(&self, note: DeliveryNote<'_>) {
        match note {
            DeliveryNote::Retrying {
                incident_id,
                channel,
                attempt,
                wait,
                error,
            } => tracing::warn!(
                incident_id = %incident_id,
                channel,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "chat send failed; retrying"
            ),
            DeliveryNote::GivenUp {
                incident_id,
                channel,
                event_key,
                attempts,
                error,
                queued,
            } => tracing::error!(
                incident_id = %incident_id,
                channel,
                event_key = %event_key,
                attempts,
                error = %error,
                "chat message not delivered; {queued}"
            ),
            DeliveryNote::OpeningNotUpdated {
                incident_id,
                channel,
                error,
            } => tracing::warn!(
                incident_id = %incident_id,
                channel,
                error = %error,
                "could not update the opening message"
            ),
            DeliveryNote::CaughtUp {
                incident_id,
                delivered,
                dead_lettered,
                pending,
            } => tracing::info!(
                incident_id = %incident_id,
                delivered,
                dead_lettered,
                pending,
                "chat caught up"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipe() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with openssl:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            webhook_signature(b"key", 1_700_000_000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn http_answers_map_to_retry_or_fail() {
        let answer = |status, retry_after| HttpAnswer {
            status,
            retry_after,
            body: "nope".into(),
        };
        assert_eq!(judge(&answer(204, None)), Ok(()));
        assert_eq!(
            judge(&answer(429, Some(Duration::from_secs(3)))),
            Err(Failure::Other(SendError::Retry {
                after: Some(Duration::from_secs(3)),
                reason: "429 Too Many Requests".into()
            }))
        );
        assert!(matches!(
            judge(&answer(503, None)),
            Err(Failure::Other(SendError::Retry { .. }))
        ));
        assert!(matches!(
            judge(&answer(400, None)),
            Err(Failure::Other(SendError::Fail { .. }))
        ));
        for refused in REFUSED_STATUSES {
            assert!(
                matches!(
                    judge(&answer(refused, None)),
                    Err(Failure::Refused(SendError::Fail { .. }))
                ),
                "{refused}"
            );
        }
    }
}
