//! One model for every way an alarm change reaches Quench.
//!
//! CloudWatch tells us about alarm changes through three doors: the EventBridge
//! `CloudWatch Alarm State Change` event (single-metric, metric-math and composite
//! alarms), the `CloudWatch Alarm Contributor State Change` event (one per time series of
//! a Metrics Insights alarm), and the classic alarm action that publishes a notification
//! JSON to SNS. All three become an [`AlarmChange`], so nothing past this module knows
//! which door an event came through.

use std::collections::BTreeMap;
use std::fmt;

use aws_lambda_events::sns::SnsEvent;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A payload larger than this is refused before parsing. EventBridge caps events at
/// 256 KiB; a Lambda async payload at 1 MiB. Anything larger is not an alarm event.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// How far ahead of the handler's clock a state timestamp may be. CloudWatch stamps a
/// change with its own clock, which may run a little ahead of ours; a change dated
/// further ahead is not one that happened, and since changes are ordered by their state
/// timestamps it would make every real change of its alarm stale until that date (and
/// near the end of what a timestamp can hold, the due-time arithmetic would overflow).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

pub const STATE_CHANGE_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
pub const CONTRIBUTOR_STATE_CHANGE_DETAIL_TYPE: &str = "CloudWatch Alarm Contributor State Change";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Metric,
    MetricMath,
    Composite,
    /// A Metrics Insights alarm over many series; the change is about one contributor.
    MultiSeries,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmSource {
    EventBridge,
    EventBridgeContributor,
    Sns,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// One time series of a multi-series alarm. Its id is stable for the series, so it is
/// part of the dedup key: two instances breaching one fleet alarm are two incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    pub id: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// The normalised alarm change. `state_at` is the alarm's own state timestamp, which is
/// what incidents are ordered by: delivery time says nothing about which change is newer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmChange {
    pub source: AlarmSource,
    pub kind: AlarmKind,
    pub alarm_name: String,
    pub alarm_arn: String,
    pub account: String,
    pub region: String,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub state_at: DateTime<Utc>,
    pub reason: String,
    pub description: Option<String>,
    /// Every metric the alarm reads; empty for composite alarms.
    pub metrics: Vec<MetricRef>,
    pub threshold: Option<f64>,
    pub comparison: Option<String>,
    pub alarm_rule: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub contributor: Option<Contributor>,
}

impl AlarmChange {
    /// The metric that routing looks at: the one the alarm returns for single-metric
    /// alarms, the first metric otherwise.
    pub fn primary_metric(&self) -> Option<&MetricRef> {
        self.metrics.first()
    }

    /// Dimensions the alarm is about: the contributor's attributes for a multi-series
    /// alarm (they name the series), otherwise the union over its metrics.
    pub fn dimensions(&self) -> BTreeMap<String, String> {
        let mut all = BTreeMap::new();
        for metric in &self.metrics {
            for (k, v) in &metric.dimensions {
                all.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(contributor) = &self.contributor {
            for (k, v) in &contributor.attributes {
                all.insert(k.clone(), v.clone());
            }
        }
        all
    }

    /// The alarm as one time series: its ARN, plus the contributor for multi-series alarms.
    pub fn series_key(&self) -> String {
        match &self.contributor {
            Some(c) => format!("{}#{}", self.alarm_arn, c.id),
            None => self.alarm_arn.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("event is {size} bytes, larger than the {max} bytes an alarm event can be")]
    Oversized { size: usize, max: usize },
    #[error("event is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("event is not an alarm change: {0}")]
    WrongType(String),
    #[error("alarm event is missing `{0}`")]
    MissingField(String),
    #[error("alarm event field `{field}` is invalid: {problem}")]
    InvalidField { field: String, problem: String },
}

/// Parses raw bytes as any of the three alarm-change shapes, received at `now`.
pub fn parse_alarm_event(raw: &[u8], now: DateTime<Utc>) -> Result<Vec<AlarmChange>, EventError> {
    parse_alarm_value(&parse_payload(raw)?, now)
}

/// Decodes a payload as JSON, refusing one too large to be an alarm event before any
/// parsing work: every entry point reads its input through here.
pub fn parse_payload(raw: &[u8]) -> Result<Value, EventError> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(EventError::Oversized {
            size: raw.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    serde_json::from_slice(raw).map_err(|e| EventError::MalformedJson(e.to_string()))
}

/// Parses an already-decoded payload received at `now`: a state timestamp more than
/// [`MAX_CLOCK_SKEW`] after it is refused. An SNS event may carry several records, so
/// the result is a list; EventBridge events always give exactly one change.
pub fn parse_alarm_value(
    value: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<AlarmChange>, EventError> {
    let object = value
        .as_object()
        .ok_or_else(|| EventError::WrongType("payload is not a JSON object".into()))?;
    if object.contains_key("Records") {
        return parse_sns_event(value, now);
    }
    if let Some(detail_type) = object.get("detail-type") {
        let detail_type = detail_type
            .as_str()
            .ok_or_else(|| invalid("detail-type", "not a string"))?;
        return match detail_type {
            STATE_CHANGE_DETAIL_TYPE => Ok(vec![parse_state_change(value, false, now)?]),
            CONTRIBUTOR_STATE_CHANGE_DETAIL_TYPE => {
                Ok(vec![parse_state_change(value, true, now)?])
            }
            other => Err(EventError::WrongType(format!(
                "EventBridge detail-type `{other}` is neither `{STATE_CHANGE_DETAIL_TYPE}` nor `{CONTRIBUTOR_STATE_CHANGE_DETAIL_TYPE}`"
            ))),
        };
    }
    if object.contains_key("AlarmName") && object.contains_key("NewStateValue") {
        return Ok(vec![parse_sns_notification(value, now)?]);
    }
    Err(EventError::WrongType(
        "expected an EventBridge alarm event, an SNS event or a CloudWatch alarm notification"
            .into(),
    ))
}

fn invalid(field: &str, problem: impl Into<String>) -> EventError {
    EventError::InvalidField {
        field: field.to_string(),
        problem: problem.into(),
    }
}

fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |current, key| current.get(key))
        .filter(|v| !v.is_null())
}

fn required_str<'a>(value: &'a Value, path: &[&str]) -> Result<&'a str, EventError> {
    let joined = path.join(".");
    match get(value, path) {
        None => Err(EventError::MissingField(joined)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(invalid(&joined, "empty")),
        Some(_) => Err(invalid(&joined, "not a string")),
    }
}

fn optional_str(value: &Value, path: &[&str]) -> Option<String> {
    get(value, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn string_map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, EventError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let object = value
        .as_object()
        .ok_or_else(|| invalid(field, "not an object"))?;
    object
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            _ => Err(invalid(&format!("{field}.{k}"), "not a string")),
        })
        .collect()
}

fn state(value: &Value, path: &[&str]) -> Result<AlarmState, EventError> {
    let raw = required_str(value, path)?;
    AlarmState::parse(raw).ok_or_else(|| {
        invalid(
            &path.join("."),
            format!("`{raw}` is not OK, ALARM or INSUFFICIENT_DATA"),
        )
    })
}

/// CloudWatch writes `2019-10-02T17:04:40.989+0000`: no colon in the offset, so not
/// RFC 3339. Both forms are accepted so a hand-written event works too.
pub fn parse_cloudwatch_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A state timestamp, which orders the changes of its alarm: one from the future is
/// refused (see [`MAX_CLOCK_SKEW`]).
fn state_timestamp(
    value: &Value,
    path: &[&str],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, EventError> {
    let raw = required_str(value, path)?;
    let at = parse_cloudwatch_time(raw)
        .ok_or_else(|| invalid(&path.join("."), format!("`{raw}` is not a timestamp")))?;
    if at.signed_duration_since(now) > MAX_CLOCK_SKEW {
        return Err(invalid(
            &path.join("."),
            format!(
                "`{raw}` is more than {} minutes after the time it was received ({})",
                MAX_CLOCK_SKEW.num_minutes(),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(at)
}

fn alarm_arn_of(value: &Value, region: &str, account: &str, name: &str) -> String {
    get(value, &["resources"])
        .and_then(Value::as_array)
        .and_then(|resources| {
            resources
                .iter()
                .filter_map(Value::as_str)
                .find(|r| r.contains(":alarm:"))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"))
}

fn parse_metric(entry: &Value, index: usize) -> Result<Option<MetricRef>, EventError> {
    let Some(metric) = get(entry, &["metricStat", "metric"]) else {
        return Ok(None);
    };
    let field = format!("detail.configuration.metrics[{index}].metricStat.metric");
    let namespace = optional_str(metric, &["namespace"])
        .ok_or_else(|| EventError::MissingField(format!("{field}.namespace")))?;
    let name = optional_str(metric, &["name"])
        .ok_or_else(|| EventError::MissingField(format!("{field}.name")))?;
    let dimensions = string_map(get(metric, &["dimensions"]), &format!("{field}.dimensions"))?;
    Ok(Some(MetricRef {
        namespace,
        name,
        dimensions,
    }))
}

fn threshold_from_reason_data(state: &Value) -> Option<f64> {
    let reason_data = get(state, &["reasonData"])?.as_str()?;
    let parsed: Value = serde_json::from_str(reason_data).ok()?;
    parsed.get("threshold")?.as_f64()
}

fn parse_state_change(
    value: &Value,
    contributor_event: bool,
    now: DateTime<Utc>,
) -> Result<AlarmChange, EventError> {
    let account = required_str(value, &["account"])?.to_string();
    let region = required_str(value, &["region"])?.to_string();
    let detail =
        get(value, &["detail"]).ok_or_else(|| EventError::MissingField("detail".into()))?;
    let alarm_name = required_str(detail, &["alarmName"])
        .map_err(|e| prefix_field(e, "detail"))?
        .to_string();
    let alarm_arn = alarm_arn_of(value, &region, &account, &alarm_name);
    let state_value = state(detail, &["state", "value"]).map_err(|e| prefix_field(e, "detail"))?;
    let state_at = state_timestamp(detail, &["state", "timestamp"], now)
        .map_err(|e| prefix_field(e, "detail"))?;
    let previous_state = match get(detail, &["previousState", "value"]) {
        Some(_) => Some(
            state(detail, &["previousState", "value"]).map_err(|e| prefix_field(e, "detail"))?,
        ),
        None => None,
    };
    let configuration = get(detail, &["configuration"]);
    let metric_entries = configuration
        .and_then(|c| get(c, &["metrics"]))
        .and_then(Value::as_array);
    let mut metrics = Vec::new();
    let mut has_expression = false;
    if let Some(entries) = metric_entries {
        for (index, entry) in entries.iter().enumerate() {
            has_expression |= get(entry, &["expression"]).is_some();
            if let Some(metric) = parse_metric(entry, index)? {
                metrics.push(metric);
            }
        }
    }
    let alarm_rule = configuration.and_then(|c| optional_str(c, &["alarmRule"]));
    let contributor = if contributor_event {
        let raw = get(detail, &["alarmContributor"])
            .ok_or_else(|| EventError::MissingField("detail.alarmContributor".into()))?;
        let id = required_str(raw, &["id"])
            .map_err(|e| prefix_field(e, "detail.alarmContributor"))?
            .to_string();
        let attributes = string_map(
            get(raw, &["attributes"]),
            "detail.alarmContributor.attributes",
        )?;
        Some(Contributor { id, attributes })
    } else {
        None
    };
    let kind = if contributor.is_some() {
        AlarmKind::MultiSeries
    } else if alarm_rule.is_some() {
        AlarmKind::Composite
    } else if has_expression {
        AlarmKind::MetricMath
    } else {
        AlarmKind::Metric
    };
    let state_object = get(detail, &["state"]).unwrap_or(&Value::Null);
    Ok(AlarmChange {
        source: if contributor_event {
            AlarmSource::EventBridgeContributor
        } else {
            AlarmSource::EventBridge
        },
        kind,
        alarm_name,
        alarm_arn,
        account,
        region,
        state: state_value,
        previous_state,
        state_at,
        reason: optional_str(state_object, &["reason"]).unwrap_or_default(),
        description: configuration.and_then(|c| optional_str(c, &["description"])),
        metrics,
        threshold: threshold_from_reason_data(state_object),
        comparison: None,
        alarm_rule,
        tags: string_map(get(detail, &["alarmTags"]), "detail.alarmTags")?,
        contributor,
    })
}

fn prefix_field(error: EventError, prefix: &str) -> EventError {
    match error {
        EventError::MissingField(field) => EventError::MissingField(format!("{prefix}.{field}")),
        EventError::InvalidField { field, problem } => EventError::InvalidField {
            field: format!("{prefix}.{field}"),
            problem,
        },
        other => other,
    }
}

fn parse_sns_event(value: &Value, now: DateTime<Utc>) -> Result<Vec<AlarmChange>, EventError> {
    let event = SnsEvent::deserialize(value)
        .map_err(|e| invalid("Records", format!("not an SNS event: {e}")))?;
    if event.records.is_empty() {
        return Err(invalid("Records", "no records"));
    }
    event
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let message: Value = serde_json::from_str(&record.sns.message).map_err(|e| {
                invalid(
                    &format!("Records[{index}].Sns.Message"),
                    format!("not a CloudWatch alarm notification: {e}"),
                )
            })?;
            parse_sns_notification(&message, now)
                .map_err(|e| prefix_field(e, &format!("Records[{index}].Sns.Message")))
        })
        .collect()
}

/// Region names in SNS notifications are display names ("EU (Ireland)"); the ARN carries
/// the code we need, so that is what we read.
fn region_from_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

fn parse_sns_notification(message: &Value, now: DateTime<Utc>) -> Result<AlarmChange, EventError> {
    let alarm_name = required_str(message, &["AlarmName"])?.to_string();
    let account = required_str(message, &["AWSAccountId"])?.to_string();
    let alarm_arn = required_str(message, &["AlarmArn"])?.to_string();
    let region = region_from_arn(&alarm_arn)
        .ok_or_else(|| invalid("AlarmArn", "has no region"))?
        .to_string();
    let trigger = get(message, &["Trigger"]);
    let mut metrics = Vec::new();
    let mut kind = AlarmKind::Metric;
    if let Some(trigger) = trigger {
        if let (Some(namespace), Some(name)) = (
            optional_str(trigger, &["Namespace"]),
            optional_str(trigger, &["MetricName"]),
        ) {
            let mut dimensions = BTreeMap::new();
            if let Some(list) = get(trigger, &["Dimensions"]).and_then(Value::as_array) {
                for (i, d) in list.iter().enumerate() {
                    let field = format!("Trigger.Dimensions[{i}]");
                    let key = optional_str(d, &["name"])
                        .ok_or_else(|| EventError::MissingField(format!("{field}.name")))?;
                    let val = optional_str(d, &["value"])
                        .ok_or_else(|| EventError::MissingField(format!("{field}.value")))?;
                    dimensions.insert(key, val);
                }
            }
            metrics.push(MetricRef {
                namespace,
                name,
                dimensions,
            });
        } else if get(trigger, &["Metrics"]).is_some() {
            kind = AlarmKind::MetricMath;
        }
    }
    let previous_state = match get(message, &["OldStateValue"]) {
        Some(_) => Some(state(message, &["OldStateValue"])?),
        None => None,
    };
    Ok(AlarmChange {
        source: AlarmSource::Sns,
        kind,
        alarm_name,
        alarm_arn,
        account,
        region,
        state: state(message, &["NewStateValue"])?,
        previous_state,
        state_at: state_timestamp(message, &["StateChangeTime"], now)?,
        reason: optional_str(message, &["NewStateReason"]).unwrap_or_default(),
        description: optional_str(message, &["AlarmDescription"]),
        metrics,
        threshold: trigger
            .and_then(|t| get(t, &["Threshold"]))
            .and_then(Value::as_f64),
        comparison: trigger.and_then(|t| optional_str(t, &["ComparisonOperator"])),
        alarm_rule: None,
        tags: BTreeMap::new(),
        contributor: None,
    })
}
