//! Configuration as code: response plans and the routes that pick them.
//!
//! Loaded once per cold start. Parsing is strict (unknown fields are errors) and every
//! error names the field path, so a typo fails the deploy pipeline with a line a human
//! can act on instead of silently routing alarms to the default plan.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::chat::ChatConfig;
use crate::duration::Span;
use crate::escalation::{Contact, EscalationPolicy};
use crate::glob::Glob;
use crate::oncall::Schedule;
use crate::runbook::Runbook;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file; only 1 exists.
    pub version: u32,
    /// Response plans by name.
    pub plans: BTreeMap<String, Plan>,
    /// Routing rules, tried in order; the first that matches picks the plan.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The plan for alarms no route matches. Without it such alarms are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_plan: Option<String>,
    /// Runbooks by name: ordered steps that diagnose and remediate.
    #[serde(default)]
    pub runbooks: BTreeMap<String, Runbook>,
    /// Chat channels plans post to.
    #[serde(default, skip_serializing_if = "ChatConfig::is_empty")]
    pub chat: ChatConfig,
    /// People who can be paged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contacts: BTreeMap<String, Contact>,
    /// On-call rotations by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schedules: BTreeMap<String, Schedule>,
    /// Who is paged, in what order, when automation does not fix an incident.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub escalation_policies: BTreeMap<String, EscalationPolicy>,
}

/// What Quench does for the incidents of one kind of alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Incident title; `{alarm}` is replaced by the alarm name. Defaults to the alarm name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// 1 (critical) to 5 (no impact), as in Incident Manager.
    pub impact: u8,
    /// Which alarm changes belong to the same incident.
    #[serde(default)]
    pub dedupe: Dedupe,
    /// When an OK closes the incident.
    #[serde(default)]
    pub resolve_on_ok: ResolveOnOk,
    /// What an INSUFFICIENT_DATA state means for this plan.
    #[serde(default)]
    pub insufficient_data: InsufficientData,
    /// An ALARM within this long after the incident resolved reopens it instead of
    /// opening a new one. `0s` turns it off.
    #[serde(default = "default_flap_window")]
    pub flap_window: Span,
    /// Runbook to run when an incident opens or reopens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Copies of the incident kept in AWS services, off unless named here.
    #[serde(default, skip_serializing_if = "Mirrors::is_off")]
    pub mirror: Mirrors,
    /// Chat channels (names from `chat.channels`) that follow this plan's incidents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat: Vec<String>,
    /// The escalation policy (from `escalation_policies`) that pages people when the
    /// incident escalates. Without one, an escalation is recorded and told in chat only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// An acknowledged incident still open this long after the acknowledgement is paged
    /// again, from the stage that was acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_timeout: Option<Span>,
    /// An incident still open this long after it opened is closed by the ticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<Span>,
}

fn default_flap_window() -> Span {
    Span::from_secs(600)
}

/// Written `alarm`, `plan`, or `{ dimensions: [InstanceId] }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(into = "DedupeSyntax")]
#[schemars(with = "DedupeSyntax")]
pub enum Dedupe {
    /// One incident per alarm (per contributor for multi-series alarms).
    #[default]
    Alarm,
    /// One incident for every alarm routed to this plan.
    Plan,
    /// One incident per value of these dimensions (e.g. `[InstanceId]`) within the plan.
    Dimensions(Vec<String>),
}

/// How `dedupe` is written in the file: YAML has no plain syntax for an enum variant
/// with data, so the variants with none are words and the one with data is a map.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
enum DedupeSyntax {
    /// `alarm`: one incident per alarm (per contributor for multi-series alarms);
    /// `plan`: one incident for every alarm routed to this plan.
    Word(DedupeWord),
    /// One incident per value of these dimensions within the plan.
    Dimensions(DedupeDimensions),
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum DedupeWord {
    Alarm,
    Plan,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DedupeDimensions {
    dimensions: Vec<String>,
}

impl<'de> Deserialize<'de> for Dedupe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DedupeVisitor;

        impl<'de> de::Visitor<'de> for DedupeVisitor {
            type Value = Dedupe;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`alarm`, `plan` or `{ dimensions: [NAME, ...] }`")
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<Dedupe, E> {
                match word {
                    "alarm" => Ok(Dedupe::Alarm),
                    "plan" => Ok(Dedupe::Plan),
                    other => Err(E::custom(format!(
                        "`{other}` is not `alarm`, `plan` or `{{ dimensions: [NAME, ...] }}`"
                    ))),
                }
            }

            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Dedupe, M::Error> {
                let mut dimensions = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "dimensions" || dimensions.is_some() {
                        return Err(de::Error::custom(format!(
                            "unexpected key `{key}`: the only key is `dimensions`"
                        )));
                    }
                    dimensions = Some(map.next_value::<Vec<String>>()?);
                }
                dimensions
                    .map(Dedupe::Dimensions)
                    .ok_or_else(|| de::Error::custom("missing `dimensions`"))
            }
        }

        deserializer.deserialize_any(DedupeVisitor)
    }
}

impl From<Dedupe> for DedupeSyntax {
    fn from(dedupe: Dedupe) -> Self {
        match dedupe {
            Dedupe::Alarm => DedupeSyntax::Word(DedupeWord::Alarm),
            Dedupe::Plan => DedupeSyntax::Word(DedupeWord::Plan),
            Dedupe::Dimensions(dimensions) => {
                DedupeSyntax::Dimensions(DedupeDimensions { dimensions })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveOnOk {
    #[default]
    Immediately,
    /// Only once the alarm has stayed OK this long.
    After(Span),
    Never,
}

impl fmt::Display for ResolveOnOk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Immediately => f.write_str("immediately"),
            Self::After(span) => write!(f, "after {span}"),
            Self::Never => f.write_str("never"),
        }
    }
}

impl Serialize for ResolveOnOk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResolveOnOk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.trim() {
            "immediately" => Ok(Self::Immediately),
            "never" => Ok(Self::Never),
            other => match other.strip_prefix("after ") {
                Some(span) => Span::parse(span)
                    .map(Self::After)
                    .map_err(de::Error::custom),
                None => Err(de::Error::custom(format!(
                    "`{raw}` is not `immediately`, `never` or `after <duration>`"
                ))),
            },
        }
    }
}

impl JsonSchema for ResolveOnOk {
    fn schema_name() -> Cow<'static, str> {
        "ResolveOnOk".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^(immediately|never|after ([0-9]+[smhd])+)$",
            "description": "`immediately`, `never`, or `after <duration>`: resolve once the alarm has stayed OK that long."
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InsufficientData {
    /// Changes nothing: the last ALARM or OK stands.
    #[default]
    Ignore,
    /// Missing data is treated as ALARM (e.g. a heartbeat metric).
    Alarm,
    /// Missing data is treated as recovery.
    Ok,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mirrors {
    /// Start, update and resolve a matching incident in AWS Incident Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_manager: Option<IncidentManagerMirror>,
    /// Create and resolve an OpsItem in Systems Manager OpsCenter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_center: Option<OpsCenterMirror>,
}

impl Mirrors {
    pub fn is_off(&self) -> bool {
        self.incident_manager.is_none() && self.ops_center.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentManagerMirror {
    /// ARN of the Incident Manager response plan to start incidents from.
    pub response_plan_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsCenterMirror {
    /// OpsItem category, e.g. `Availability`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// OpsItem severity `1`-`4`; defaults from the plan's impact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// A routing rule. Every condition given must hold; an empty `match` matches every alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub plan: String,
    #[serde(rename = "match", default)]
    pub conditions: Conditions,
}

/// Conditions on an alarm. Values are globs: `*` any run of characters, `?` one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Metric namespace, e.g. `AWS/EC2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Glob>,
    /// Metric name, e.g. `CPUUtilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Glob>,
    /// Dimensions that must be present with a matching value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, Glob>,
    /// Alarm name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<Glob>,
    /// Alarm tags that must be present with a matching value (needs tag propagation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, Glob>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("config field `{path}`: {problem}")]
    Field { path: String, problem: String },
    #[error("config is invalid:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

pub(crate) fn field(path: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        path: path.into(),
        problem: problem.into(),
    }
}

/// A config file is at most this large; larger is a mistake, not a config.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

impl Config {
    /// Parses YAML (JSON is YAML) strictly, then checks what types cannot express.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::Syntax(format!(
                "config is {} bytes, more than the {MAX_CONFIG_BYTES} allowed",
                text.len()
            )));
        }
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." || path.is_empty() {
                ConfigError::Syntax(inner)
            } else {
                let problem = strip_location(&inner);
                let problem = problem
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&problem)
                    .to_string();
                field(path, problem)
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if self.version != 1 {
            errors.push(field(
                "version",
                format!("{} is not supported; use 1", self.version),
            ));
        }
        if self.plans.is_empty() {
            errors.push(field("plans", "at least one plan is needed"));
        }
        for (name, plan) in &self.plans {
            let at = format!("plans.{name}");
            if !valid_name(name) {
                errors.push(field(
                    &at,
                    "plan names use letters, digits, `-` and `_` only (at most 64)",
                ));
            }
            if !(1..=5).contains(&plan.impact) {
                errors.push(field(
                    format!("{at}.impact"),
                    format!("{} is not between 1 and 5", plan.impact),
                ));
            }
            if let Dedupe::Dimensions(keys) = &plan.dedupe {
                if keys.is_empty() {
                    errors.push(field(
                        format!("{at}.dedupe.dimensions"),
                        "name at least one dimension",
                    ));
                }
                if keys.iter().any(|k| k.trim().is_empty()) {
                    errors.push(field(
                        format!("{at}.dedupe.dimensions"),
                        "dimension names cannot be empty",
                    ));
                }
            }
            if plan.resolve_on_ok == ResolveOnOk::After(Span::ZERO) {
                errors.push(field(
                    format!("{at}.resolve_on_ok"),
                    "`after 0s` is `immediately`; say so",
                ));
            }
            if let Some(im) = &plan.mirror.incident_manager {
                if !im.response_plan_arn.starts_with("arn:")
                    || !im.response_plan_arn.contains(":response-plan/")
                {
                    errors.push(field(
                        format!("{at}.mirror.incident_manager.response_plan_arn"),
                        format!(
                            "`{}` is not an Incident Manager response plan ARN",
                            im.response_plan_arn
                        ),
                    ));
                }
            }
            if let Some(severity) = plan
                .mirror
                .ops_center
                .as_ref()
                .and_then(|o| o.severity.as_deref())
            {
                if !matches!(severity, "1" | "2" | "3" | "4") {
                    errors.push(field(
                        format!("{at}.mirror.ops_center.severity"),
                        format!("`{severity}` is not 1, 2, 3 or 4"),
                    ));
                }
            }
            if let Some(runbook) = &plan.runbook {
                if !self.runbooks.contains_key(runbook) {
                    errors.push(field(
                        format!("{at}.runbook"),
                        format!("no runbook is named `{runbook}`"),
                    ));
                }
            }
            if let Some(title) = &plan.title {
                if title.trim().is_empty() {
                    errors.push(field(format!("{at}.title"), "empty"));
                }
            }
            for (index, channel) in plan.chat.iter().enumerate() {
                if !self.chat.channels.contains_key(channel) {
                    errors.push(field(
                        format!("{at}.chat[{index}]"),
                        format!("no chat channel is named `{channel}`"),
                    ));
                }
                if plan.chat[..index].contains(channel) {
                    errors.push(field(
                        format!("{at}.chat[{index}]"),
                        format!("`{channel}` is listed twice"),
                    ));
                }
            }
        }
        self.chat.validate(&mut errors);
        crate::escalation::validate(self, &mut errors);
        for (name, schedule) in &self.schedules {
            if !valid_name(name) {
                errors.push(field(
                    format!("schedules.{name}"),
                    "schedule names use letters, digits, `-` and `_` only (at most 64)",
                ));
            }
            schedule.check(name, &|c| self.contacts.contains_key(c), &mut errors);
        }
        for (index, route) in self.routes.iter().enumerate() {
            if !self.plans.contains_key(&route.plan) {
                errors.push(field(
                    format!("routes[{index}].plan"),
                    format!("no plan is named `{}`", route.plan),
                ));
            }
        }
        if let Some(default_plan) = &self.default_plan {
            if !self.plans.contains_key(default_plan) {
                errors.push(field(
                    "default_plan",
                    format!("no plan is named `{default_plan}`"),
                ));
            }
        }
        for (name, runbook) in &self.runbooks {
            if !valid_name(name) {
                errors.push(field(
                    format!("runbooks.{name}"),
                    "runbook names use letters, digits, `-` and `_` only (at most 64)",
                ));
            }
            crate::runbook::validate(name, runbook, &mut errors);
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Invalid(errors)),
        }
    }

    /// The JSON Schema of the file, generated from these types.
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::schema_for!(Config);
        serde_json::to_value(schema).unwrap_or_default()
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// serde_yaml_ng appends "at line L column C" to messages; the path already locates the
/// problem, and keeping both reads twice.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}
