//! Chat: the channels a plan posts to, what a message is about ([`Notice`]), and how it
//! is rendered for each kind of channel. Pure: the `chat-notifier` Lambda fetches the
//! secrets, sends, retries and records deliveries.
//!
//! Every incident has one conversation: the opening message, then each runbook step,
//! each page and acknowledgement, and the resolution, threaded under the opening message
//! where the channel can thread (Slack with a bot token; AWS Chatbot by thread id).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{field as problem, valid_name, ConfigError};
use crate::incident::{IncidentRecord, IncidentStatus, TimelineEvent, TimelineKind};

/// Where a secret lives. Webhook URLs, bot tokens and signing keys are never written in
/// the config itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretRef {
    /// A Secrets Manager secret (name or ARN) whose value is the secret string.
    SecretsManager(String),
    /// An SSM parameter (SecureString, or String) whose value is the secret.
    Ssm(String),
}

/// One chat destination, named in `chat.channels` and referenced by plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Channel {
    /// Slack Web API with a bot token: `chat.postMessage`, follow-ups threaded under the
    /// opening message.
    Slack { token: SecretRef, channel: String },
    /// A Slack incoming webhook: no threads.
    SlackWebhook { url: SecretRef },
    /// A Microsoft Teams workflow webhook, posting an Adaptive Card.
    Teams { url: SecretRef },
    /// An Amazon Chime webhook.
    Chime { url: SecretRef },
    /// AWS Chatbot (Amazon Q Developer in chat applications) custom notifications,
    /// published to this SNS topic.
    Chatbot { topic_arn: String },
    /// Any HTTPS endpoint: a JSON body, signed with HMAC-SHA256 in
    /// `X-Quench-Signature` when `signing_key` is set.
    Webhook {
        url: SecretRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signing_key: Option<SecretRef>,
    },
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Channel::Slack { .. } => ChannelKind::Slack,
            Channel::SlackWebhook { .. } => ChannelKind::SlackWebhook,
            Channel::Teams { .. } => ChannelKind::Teams,
            Channel::Chime { .. } => ChannelKind::Chime,
            Channel::Chatbot { .. } => ChannelKind::Chatbot,
            Channel::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

/// `chat:` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Channels by name.
    // YAML would otherwise want `!slack_webhook` tags; a one-key map reads as in JSON.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    #[schemars(with = "BTreeMap<String, Channel>")]
    pub channels: BTreeMap<String, Channel>,
}

impl ChatConfig {
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    pub(crate) fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (name, channel) in &self.channels {
            let at = format!("chat.channels.{name}");
            if !valid_name(name) {
                errors.push(problem(
                    at.clone(),
                    "channel names use letters, digits, `-` and `_` only (at most 64)",
                ));
            }
            let mut secrets = Vec::new();
            match channel {
                Channel::Slack { token, channel } => {
                    secrets.push(("slack.token", token));
                    if channel.trim().is_empty() {
                        errors.push(problem(format!("{at}.slack.channel"), "empty"));
                    }
                }
                Channel::SlackWebhook { url } => secrets.push(("slack_webhook.url", url)),
                Channel::Teams { url } => secrets.push(("teams.url", url)),
                Channel::Chime { url } => secrets.push(("chime.url", url)),
                Channel::Webhook { url, signing_key } => {
                    secrets.push(("webhook.url", url));
                    if let Some(key) = signing_key {
                        secrets.push(("webhook.signing_key", key));
                    }
                }
                Channel::Chatbot { topic_arn } => {
                    if !(topic_arn.starts_with("arn:") && topic_arn.contains(":sns:")) {
                        errors.push(problem(
                            format!("{at}.chatbot.topic_arn"),
                            format!("`{topic_arn}` is not an SNS topic ARN"),
                        ));
                    }
                }
            }
            for (path, secret) in secrets {
                let (SecretRef::SecretsManager(id) | SecretRef::Ssm(id)) = secret;
                if id.trim().is_empty() {
                    errors.push(problem(format!("{at}.{path}"), "name the secret"));
                }
                // A URL here is the secret itself, pasted where its name belongs.
                if id.contains("://") {
                    errors.push(problem(
                        format!("{at}.{path}"),
                        "this looks like the secret itself; store it in Secrets Manager or an SSM SecureString and name it here",
                    ));
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    SlackWebhook,
    Teams,
    Chime,
    Chatbot,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::Slack,
        ChannelKind::SlackWebhook,
        ChannelKind::Teams,
        ChannelKind::Chime,
        ChannelKind::Chatbot,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::SlackWebhook => "slack_webhook",
            ChannelKind::Teams => "teams",
            ChannelKind::Chime => "chime",
            ChannelKind::Chatbot => "chatbot",
            ChannelKind::Webhook => "webhook",
        }
    }
}

/// Links people follow from a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Links {
    /// The alarm in the CloudWatch console.
    pub alarm: String,
    /// The incident's item in the DynamoDB console (Incident Manager's page when the
    /// incident is mirrored there).
    pub incident: String,
}

/// What one message is about: the incident as it is now and the timeline event that
/// prompted the message. Every text field except the links is untrusted (alarm names,
/// reasons and descriptions, command output) and is escaped by the renderers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub incident_id: String,
    pub title: String,
    pub impact: u8,
    pub plan: String,
    pub status: IncidentStatus,
    pub runbook: Option<String>,
    pub alarm_name: String,
    pub region: String,
    pub account: String,
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub threshold: Option<f64>,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub event: NoticeEvent,
    pub links: Links,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeEvent {
    /// The timeline event's key: with the incident and the channel, what makes a
    /// delivery unique.
    pub key: String,
    pub kind: TimelineKind,
    pub at: DateTime<Utc>,
    pub summary: String,
    /// A chat page's member id, mentioned where the channel supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
}

/// `+`-free, URL-safe enough for the fragment parts the consoles use.
fn url_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Notice {
    /// `table` is the incident table's name, for the console link.
    pub fn new(
        incident: &IncidentRecord,
        event: &TimelineEvent,
        runbook: Option<&str>,
        table: &str,
    ) -> Notice {
        let trigger = &incident.trigger;
        let region = url_component(&trigger.region);
        let console = format!("https://{region}.console.aws.amazon.com");
        let incident_link = match &incident.mirrors.incident_manager_arn {
            Some(arn) => format!(
                "{console}/systems-manager/incidents/{}?region={region}",
                url_component(arn)
            ),
            None => format!(
                "{console}/dynamodbv2/home?region={region}#edit-item?table={}&itemMode=2&pk={}&sk=INCIDENT",
                url_component(table),
                url_component(&format!("INC#{}", incident.id))
            ),
        };
        Notice {
            incident_id: incident.id.clone(),
            title: incident.title.clone(),
            impact: incident.impact,
            plan: incident.plan.clone(),
            status: incident.status,
            runbook: runbook.map(str::to_string),
            alarm_name: trigger.alarm_name.clone(),
            region: trigger.region.clone(),
            account: trigger.account.clone(),
            namespace: trigger.namespace.clone(),
            metric: trigger.metric.clone(),
            threshold: trigger.threshold,
            opened_at: incident.created_at,
            resolved_at: incident.resolved_at,
            event: NoticeEvent {
                key: event.event_key.clone(),
                kind: event.kind,
                at: event.at,
                summary: event.summary.clone(),
                mention: event.mention.as_ref().map(|m| m.user.clone()),
            },
            links: Links {
                alarm: format!(
                    "{console}/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
                    url_component(&trigger.alarm_name)
                ),
                incident: incident_link,
            },
        }
    }
}

pub mod render;

/// One message of one incident to one channel: claimed while sending, then delivered or
/// dead-lettered. With the timeline event key, what makes a retried delivery post once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub incident_id: String,
    pub channel: String,
    pub event_key: String,
    pub state: DeliveryState,
    /// When the state was last set.
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    /// The channel's thread id for the incident (Slack `ts`), kept on the opening
    /// message's delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Sending,
    Delivered,
    DeadLettered,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::DeadLettered => "dead_lettered",
        }
    }
}
