//! What one message is about ([`Notice`]) and the record of its delivery to one channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::incident::record::{IncidentRecord, IncidentStatus, TimelineEvent, TimelineKind};

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
