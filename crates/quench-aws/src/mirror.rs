//! [`IncidentMirror`] for AWS: an Incident Manager incident and an OpsCenter OpsItem per
//! Quench incident.
//!
//! Both mirrors are best effort copies of the DynamoDB record. Every SDK error becomes a
//! [`MirrorFailure`] in the report; one mirror failing never stops the other, and
//! nothing here panics or returns early past the other mirror.
//!
//! Retries are safe: every create carries something the service deduplicates on
//! (Incident Manager client tokens derived from the incident id and the timeline event
//! key, the OpsCenter `/aws/dedup` string), so a retried Lambda gets the same incident,
//! the same timeline entry and the same OpsItem back instead of a second one.

use std::collections::HashMap;

use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemError;
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue, OpsItemStatus, Tag};
use aws_sdk_ssmincidents::error::DisplayErrorContext;
use aws_sdk_ssmincidents::types::{IncidentRecordStatus, TriggerDetails};
use chrono::{DateTime, Utc};
use quench_core::config::{IncidentManagerMirror, Mirrors, OpsCenterMirror};
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{IncidentMirror, MirrorFailure, MirrorReport};
use quench_core::text::stable_hash;
use serde_json::json;
use tracing::Instrument;

/// `MirrorFailure::target` of the Incident Manager mirror.
pub const INCIDENT_MANAGER: &str = "incident_manager";
/// `MirrorFailure::target` of the OpsCenter mirror.
pub const OPS_CENTER: &str = "ops_center";

// API limits (Incident Manager and Systems Manager API references).
const MAX_CLIENT_TOKEN: usize = 128;
const MAX_INCIDENT_TITLE: usize = 200;
const MAX_RAW_DATA: usize = 10_000;
const MAX_EVENT_DATA: usize = 12_000;
const MAX_OPS_ITEM_TITLE: usize = 1024;
const MAX_OPS_ITEM_DESCRIPTION: usize = 2048;

const TRIGGER_SOURCE: &str = "aws.cloudwatch";
const TIMELINE_EVENT_TYPE: &str = "Custom Event";
/// OpsItem `Source` may not contain `aws`, `amazon` or `amzn`.
const OPS_ITEM_SOURCE: &str = "Quench";
/// The tag on every OpsItem Quench creates. The function's role may update only the
/// OpsItems that carry it (`aws:ResourceTag` in infra/template.yaml), not every OpsItem of
/// the account: the OpsItem resource type supports no narrower condition.
pub const OPS_ITEM_TAG: (&str, &str) = ("quench:managed", "true");

pub struct AwsMirror {
    incidents: aws_sdk_ssmincidents::Client,
    ssm: aws_sdk_ssm::Client,
}

impl AwsMirror {
    pub fn new(incidents: aws_sdk_ssmincidents::Client, ssm: aws_sdk_ssm::Client) -> Self {
        AwsMirror { incidents, ssm }
    }
}

/// What one mirror did: an id it created (or found), and what went wrong.
#[derive(Default)]
struct Outcome {
    learned: Option<String>,
    failures: Vec<MirrorFailure>,
}

impl Outcome {
    fn fail(&mut self, target: &'static str, operation: &'static str, message: String) {
        tracing::warn!(target_mirror = target, operation, error = %message, "mirror call failed");
        self.failures.push(MirrorFailure {
            target,
            operation,
            message,
        });
    }
}

impl IncidentMirror for AwsMirror {
    async fn sync(
        &self,
        settings: &Mirrors,
        incident: &IncidentRecord,
        event: &TimelineEvent,
    ) -> MirrorReport {
        let span = tracing::info_span!(
            "mirror_sync",
            incident_id = %incident.id,
            kind = event.kind.as_str(),
            event_key = %event.event_key,
        );
        async {
            let incident_manager = async {
                match &settings.incident_manager {
                    Some(plan) => self.sync_incident_manager(plan, incident, event).await,
                    None => Outcome::default(),
                }
            };
            let ops_center = async {
                match &settings.ops_center {
                    Some(options) => self.sync_ops_center(options, incident, event).await,
                    None => Outcome::default(),
                }
            };
            // Independent services: run them side by side, so neither waits on (or is
            // skipped by) the other.
            let (incident_manager, ops_center) = tokio::join!(incident_manager, ops_center);

            let mut report = MirrorReport::default();
            report.learned.incident_manager_arn = incident_manager.learned;
            report.learned.ops_item_id = ops_center.learned;
            report.failures = incident_manager.failures;
            report.failures.extend(ops_center.failures);
            report
        }
        .instrument(span)
        .await
    }
}

impl AwsMirror {
    async fn sync_incident_manager(
        &self,
        plan: &IncidentManagerMirror,
        incident: &IncidentRecord,
        event: &TimelineEvent,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let existing = incident.mirrors.incident_manager_arn.clone();

        // Start when there is none yet: on `Opened`, and as a catch-up on any later
        // change of a still active incident whose first start failed. Never for a
        // resolved incident: there is nothing left to respond to.
        if existing.is_none() && incident.status.is_active() {
            match self.start_incident(plan, incident).await {
                Ok(arn) => {
                    tracing::info!(operation = "StartIncident", incident_record_arn = %arn, "incident manager incident started");
                    outcome.learned = Some(arn);
                }
                Err(message) => outcome.fail(INCIDENT_MANAGER, "StartIncident", message),
            }
        }
        let Some(arn) = existing.clone().or_else(|| outcome.learned.clone()) else {
            return outcome;
        };

        let timeline = self
            .incidents
            .create_timeline_event()
            .client_token(client_token(&format!(
                "{}#{}",
                incident.id, event.event_key
            )))
            .incident_record_arn(&arn)
            .event_time(smithy_time(event.at))
            .event_type(TIMELINE_EVENT_TYPE)
            .event_data(timeline_event_data(event))
            .send()
            .await;
        match timeline {
            Ok(_) => tracing::debug!(operation = "CreateTimelineEvent", "timeline event added"),
            Err(error) => outcome.fail(INCIDENT_MANAGER, "CreateTimelineEvent", describe(error)),
        }

        // A just-started incident is already open, and a resolved one is never started.
        let status = match event.kind {
            TimelineKind::Reopened => IncidentRecordStatus::Open,
            TimelineKind::Resolved => IncidentRecordStatus::Resolved,
            _ => return outcome,
        };
        if existing.is_none() {
            return outcome;
        }
        let update = self
            .incidents
            .update_incident_record()
            .client_token(client_token(&format!(
                "{}#{}#status",
                incident.id, event.event_key
            )))
            .arn(&arn)
            .status(status.clone())
            .send()
            .await;
        match update {
            Ok(_) => tracing::info!(
                operation = "UpdateIncidentRecord",
                status = status.as_str(),
                "incident manager status updated"
            ),
            Err(error) => outcome.fail(INCIDENT_MANAGER, "UpdateIncidentRecord", describe(error)),
        }
        outcome
    }

    async fn start_incident(
        &self,
        plan: &IncidentManagerMirror,
        incident: &IncidentRecord,
    ) -> Result<String, String> {
        // Everything here comes from the incident, not from the event being synced: a
        // catch-up start after a lost response must repeat the original request exactly,
        // because the client token only returns the same incident for the same details.
        // `created_at` is the opening change's time, so on `Opened` it is `event.at`.
        let raw_data = json!({
            "alarm_name": incident.trigger.alarm_name,
            "alarm_arn": incident.trigger.alarm_arn,
            "reason": incident.trigger.reason,
            "quench_incident_id": incident.id,
        });
        let trigger = TriggerDetails::builder()
            .source(TRIGGER_SOURCE)
            .trigger_arn(&incident.trigger.alarm_arn)
            .timestamp(smithy_time(incident.created_at))
            .raw_data(truncate(&raw_data.to_string(), MAX_RAW_DATA))
            .build()
            .map_err(describe)?;
        let output = self
            .incidents
            .start_incident()
            .client_token(client_token(&incident.id))
            .response_plan_arn(&plan.response_plan_arn)
            .title(truncate(&incident.title, MAX_INCIDENT_TITLE))
            .impact(i32::from(incident.impact.clamp(1, 5)))
            .trigger_details(trigger)
            .send()
            .await
            .map_err(describe)?;
        Ok(output.incident_record_arn().to_string())
    }

    async fn sync_ops_center(
        &self,
        options: &OpsCenterMirror,
        incident: &IncidentRecord,
        event: &TimelineEvent,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(id) = incident.mirrors.ops_item_id.as_deref() else {
            if incident.status.is_active() {
                match self.create_ops_item(options, incident).await {
                    Ok(id) => outcome.learned = Some(id),
                    Err(message) => outcome.fail(OPS_CENTER, "CreateOpsItem", message),
                }
            }
            // A new OpsItem is already open; there is no timeline to add to (below).
            return outcome;
        };

        // No timeline entries: OpsCenter has no timeline API, only operational data and
        // related items. Overwriting operational data on every change would lose history,
        // and the Quench timeline (and the Incident Manager one) already holds it.
        let status = match event.kind {
            TimelineKind::Reopened => OpsItemStatus::Open,
            TimelineKind::Resolved => OpsItemStatus::Resolved,
            _ => return outcome,
        };
        let update = self
            .ssm
            .update_ops_item()
            .ops_item_id(id)
            .status(status.clone())
            .send()
            .await;
        match update {
            Ok(_) => tracing::info!(
                operation = "UpdateOpsItem",
                ops_item_id = id,
                status = status.as_str(),
                "opsitem status updated"
            ),
            Err(error) => outcome.fail(OPS_CENTER, "UpdateOpsItem", describe(error)),
        }
        outcome
    }

    async fn create_ops_item(
        &self,
        options: &OpsCenterMirror,
        incident: &IncidentRecord,
    ) -> Result<String, String> {
        let data = |value: String| {
            OpsItemDataValue::builder()
                .value(value)
                .r#type(OpsItemDataType::SearchableString)
                .build()
        };
        let operational_data = HashMap::from([
            // OpsCenter refuses a second OpsItem with this string while the first is open,
            // so a retried create cannot duplicate. The incident id, not the dedup key: a
            // later incident of the same key must get its own OpsItem even if resolving the
            // earlier one failed.
            (
                "/aws/dedup".to_string(),
                data(json!({ "dedupString": incident.id }).to_string()),
            ),
            (
                "/aws/resources".to_string(),
                data(json!([{ "arn": incident.trigger.alarm_arn }]).to_string()),
            ),
            ("quench:incident_id".to_string(), data(incident.id.clone())),
        ]);
        let severity = options
            .severity
            .clone()
            .unwrap_or_else(|| severity_for_impact(incident.impact).to_string());
        let title = if incident.title.trim().is_empty() {
            incident.trigger.alarm_name.as_str()
        } else {
            incident.title.as_str()
        };
        let description = format!(
            "{title}\n\nAlarm {}: {}\n\nQuench incident {}",
            incident.trigger.alarm_name, incident.trigger.reason, incident.id
        );
        let (tag_key, tag_value) = OPS_ITEM_TAG;
        let tag = Tag::builder()
            .key(tag_key)
            .value(tag_value)
            .build()
            .map_err(|e| e.to_string())?;
        let result = self
            .ssm
            .create_ops_item()
            .title(truncate(title, MAX_OPS_ITEM_TITLE))
            .description(truncate(&description, MAX_OPS_ITEM_DESCRIPTION))
            .source(OPS_ITEM_SOURCE)
            .set_category(options.category.clone())
            .severity(severity)
            .priority(i32::from(incident.impact.clamp(1, 5)))
            .set_operational_data(Some(operational_data))
            .tags(tag)
            .send()
            .await;
        match result {
            Ok(output) => match output.ops_item_id() {
                Some(id) => {
                    tracing::info!(
                        operation = "CreateOpsItem",
                        ops_item_id = id,
                        "opsitem created"
                    );
                    Ok(id.to_string())
                }
                // The API models the id as optional; without one there is nothing to
                // store, so report it rather than pretend.
                None => Err("CreateOpsItem succeeded but returned no OpsItemId".to_string()),
            },
            Err(error) => {
                // The dedup string matched an open OpsItem (ours, from an earlier attempt
                // whose response was lost): adopt it.
                if let Some(id) = error
                    .as_service_error()
                    .and_then(|e| match e {
                        CreateOpsItemError::OpsItemAlreadyExistsException(exists) => {
                            exists.ops_item_id()
                        }
                        _ => None,
                    })
                    .map(str::to_string)
                {
                    tracing::info!(operation = "CreateOpsItem", ops_item_id = %id, "opsitem already exists, adopting it");
                    return Ok(id);
                }
                Err(describe(error))
            }
        }
    }
}

/// The error and its sources on one line (`DisplayErrorContext`): service error code and
/// message, never request contents or credentials.
fn describe(error: impl std::error::Error) -> String {
    DisplayErrorContext(error).to_string()
}

/// OpsItem severity `1` (critical) to `4` (low) from the plan's impact `1` to `5`.
fn severity_for_impact(impact: u8) -> &'static str {
    match impact {
        0 | 1 => "1",
        2 => "2",
        3 => "3",
        _ => "4",
    }
}

/// The text itself when it fits the API's 128 characters, else a stable hash of it.
fn client_token(text: &str) -> String {
    if text.len() <= MAX_CLIENT_TOKEN {
        text.to_string()
    } else {
        // Two independent 64-bit hashes (the text, and the text reversed) keep collisions
        // negligible while staying deterministic across runs.
        let reversed: String = text.chars().rev().collect();
        format!(
            "quench-{:016x}{:016x}",
            stable_hash(text),
            stable_hash(&reversed)
        )
    }
}

/// `text` cut to at most `max` characters, marking the cut with `…`.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_string(),
    }
}

/// The timeline entry's JSON, with the summary shortened until it fits `eventData`.
fn timeline_event_data(event: &TimelineEvent) -> String {
    let render = |summary: &str| {
        json!({
            "kind": event.kind.as_str(),
            "alarm": event.alarm_name,
            "state": event.state.as_str(),
            "summary": summary,
        })
        .to_string()
    };
    let mut summary = event.summary.clone();
    loop {
        let data = render(&summary);
        // Bytes, not characters: never more than the characters the limit counts.
        let excess = data.len().saturating_sub(MAX_EVENT_DATA);
        if excess == 0 {
            return data;
        }
        // Every character dropped frees at least one byte; the `…` marker costs three.
        let keep = summary.chars().count().saturating_sub(excess + 3);
        if keep == 0 {
            return render("");
        }
        summary = truncate(&summary, keep);
    }
}

fn smithy_time(at: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(at.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_client_tokens_are_kept_and_long_ones_hashed() {
        assert_eq!(client_token("inc-1#key"), "inc-1#key");
        let long = "x".repeat(300);
        let token = client_token(&long);
        assert!(token.len() <= MAX_CLIENT_TOKEN);
        assert_eq!(token, client_token(&long));
        assert_ne!(token, client_token(&"y".repeat(300)));
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
    }

    #[test]
    fn severity_follows_impact() {
        let got: Vec<_> = (1..=5).map(severity_for_impact).collect();
        assert_eq!(got, ["1", "2", "3", "4", "4"]);
    }
}
