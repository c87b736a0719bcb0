//! `chat:` in the config: the channels a plan posts to and where their secrets live.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::vocabulary::{Names, Problems, Validate};

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
    /// An Amazon Chime webhook. Deprecated: Amazon Chime reached its end of support on
    /// 2026-02-20; validation warns. Use `slack`, `teams` or `chatbot`.
    #[schemars(extend("deprecated" = true))]
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

/// Why a `chime` channel is warned about: it reads and posts as before, for as long as
/// the webhooks answer.
const CHIME_END_OF_SUPPORT: &str = "`chime` is deprecated: Amazon Chime reached its end \
     of support on 2026-02-20 and its webhooks may stop answering; move this channel to \
     `slack`, `teams` or `chatbot`";

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
}

impl Validate for ChatConfig {
    fn validate(&self, at: &str, _names: &Names<'_>, problems: &mut Problems) {
        for (name, channel) in &self.channels {
            let at = format!("{at}.channels.{name}");
            problems.check_name("channel", &at, name);
            let mut secrets = Vec::new();
            match channel {
                Channel::Slack { token, channel } => {
                    secrets.push(("slack.token", token));
                    if channel.trim().is_empty() {
                        problems.add(format!("{at}.slack.channel"), "empty");
                    }
                }
                Channel::SlackWebhook { url } => secrets.push(("slack_webhook.url", url)),
                Channel::Teams { url } => secrets.push(("teams.url", url)),
                Channel::Chime { url } => {
                    secrets.push(("chime.url", url));
                    problems.warn(format!("{at}.chime"), CHIME_END_OF_SUPPORT);
                }
                Channel::Webhook { url, signing_key } => {
                    secrets.push(("webhook.url", url));
                    if let Some(key) = signing_key {
                        secrets.push(("webhook.signing_key", key));
                    }
                }
                Channel::Chatbot { topic_arn } => {
                    if !(topic_arn.starts_with("arn:") && topic_arn.contains(":sns:")) {
                        problems.add(
                            format!("{at}.chatbot.topic_arn"),
                            format!("`{topic_arn}` is not an SNS topic ARN"),
                        );
                    }
                }
            }
            for (path, secret) in secrets {
                let (SecretRef::SecretsManager(id) | SecretRef::Ssm(id)) = secret;
                if id.trim().is_empty() {
                    problems.add(format!("{at}.{path}"), "name the secret");
                }
                // A URL here is the secret itself, pasted where its name belongs.
                if id.contains("://") {
                    problems.add(
                        format!("{at}.{path}"),
                        "this looks like the secret itself; store it in Secrets Manager or an SSM SecureString and name it here",
                    );
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
