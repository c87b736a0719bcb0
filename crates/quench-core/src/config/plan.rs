//! Response plans and the routes that pick them: what Quench does for the incidents of
//! one kind of alarm, as written in `plans.<name>` and `routes`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::alarm::AlarmState;
use crate::config::vocabulary::{Names, Problems, Validate};
use crate::duration::{Span, DAY_SECS};
use crate::glob::Glob;
use crate::runbook::model::{Action, Runbook};

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
    /// An incident with no alarm change, reopen or operation for this long is closed by
    /// the ticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<Span>,
    /// The safety net: an open incident nobody acknowledged, and that neither its runbook
    /// nor anyone escalated, is escalated by the ticker this long after the last sign it
    /// is being handled (its opening or reopening, a runbook step that finished).
    /// Default: 15m, or 5m more than the plan's runbook can go without a step finishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_unhandled_after: Option<Span>,
}

/// The safety net's limit when the plan sets none and its runbook (if any) is quicker.
pub const UNHANDLED_AFTER: Span = Span::from_secs(15 * 60);

/// What the default limit adds to a runbook's longest quiet stretch: the state machine's
/// own latency between steps.
const RUNBOOK_SLACK: u64 = 5 * 60;

/// The bounds of `escalate_unhandled_after`.
const UNHANDLED_MIN: Span = Span::from_secs(60);
const UNHANDLED_MAX: Span = Span::from_secs(7 * 86_400);

impl Plan {
    /// The safety net's limit for this plan (see
    /// [`Plan::escalate_unhandled_after`]).
    pub fn unhandled_after(&self, runbooks: &BTreeMap<String, Runbook>) -> Span {
        if let Some(limit) = self.escalate_unhandled_after {
            return limit;
        }
        let quiet = self
            .runbook
            .as_ref()
            .and_then(|name| runbooks.get(name))
            .map(longest_quiet)
            .unwrap_or(Span::ZERO);
        UNHANDLED_AFTER.max(Span::from_secs(
            quiet.as_secs().saturating_add(RUNBOOK_SLACK),
        ))
    }
}

/// The longest a run of `runbook` can go without a step finishing, at most: every sleep
/// (they record nothing), and its longest command or automation (recorded when it ends).
pub fn longest_quiet(runbook: &Runbook) -> Span {
    let mut sleeps: u64 = 0;
    let mut longest = Span::ZERO;
    for step in &runbook.steps {
        match &step.action {
            Action::Sleep(span) => sleeps = sleeps.saturating_add(span.as_secs()),
            Action::RunCommand(command) => longest = longest.max(command.timeout),
            Action::Automation(automation) => longest = longest.max(automation.timeout),
            _ => {}
        }
    }
    Span::from_secs(sleeps.saturating_add(longest.as_secs()))
}

fn default_flap_window() -> Span {
    Span::from_secs(600)
}

/// The longest stable period (`resolve_on_ok: after`): the state machine waits it out
/// in one execution, and an alarm that must stay OK for more than a day belongs to a
/// plan that resolves by hand.
pub const MAX_STABLE_PERIOD: Span = Span::from_secs(DAY_SECS);
/// The longest flap window: an ALARM more than a week after a resolution is news.
pub const MAX_FLAP_WINDOW: Span = Span::from_secs(7 * DAY_SECS);
/// The longest acknowledgement timeout: an acknowledged incident re-pages at least
/// weekly while it stays open.
pub const MAX_ACKNOWLEDGE_TIMEOUT: Span = Span::from_secs(7 * DAY_SECS);
/// The longest stale limit: an incident open for a month is closed by the ticker.
pub const MAX_STALE_AFTER: Span = Span::from_secs(30 * DAY_SECS);

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

/// How the plan reads a state: `Some(true)` a problem, `Some(false)` fine, `None` no
/// opinion (the previous verdict stands).
pub fn alarming(state: AlarmState, policy: InsufficientData) -> Option<bool> {
    match (state, policy) {
        (AlarmState::Alarm, _) | (AlarmState::InsufficientData, InsufficientData::Alarm) => {
            Some(true)
        }
        (AlarmState::Ok, _) | (AlarmState::InsufficientData, InsufficientData::Ok) => Some(false),
        (AlarmState::InsufficientData, InsufficientData::Ignore) => None,
    }
}

impl Validate for Plan {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems) {
        if !(1..=5).contains(&self.impact) {
            problems.add(
                format!("{at}.impact"),
                format!("{} is not between 1 and 5", self.impact),
            );
        }
        if let Dedupe::Dimensions(keys) = &self.dedupe {
            if keys.is_empty() {
                problems.add(
                    format!("{at}.dedupe.dimensions"),
                    "name at least one dimension",
                );
            }
            if keys.iter().any(|k| k.trim().is_empty()) {
                problems.add(
                    format!("{at}.dedupe.dimensions"),
                    "dimension names cannot be empty",
                );
            }
        }
        if let ResolveOnOk::After(span) = self.resolve_on_ok {
            if span == Span::ZERO {
                problems.add(
                    format!("{at}.resolve_on_ok"),
                    "`after 0s` is `immediately`; say so",
                );
            }
            problems.check_at_most(format!("{at}.resolve_on_ok"), span, MAX_STABLE_PERIOD);
        }
        problems.check_at_most(
            format!("{at}.flap_window"),
            self.flap_window,
            MAX_FLAP_WINDOW,
        );
        if let Some(im) = &self.mirror.incident_manager {
            if !im.response_plan_arn.starts_with("arn:")
                || !im.response_plan_arn.contains(":response-plan/")
            {
                problems.add(
                    format!("{at}.mirror.incident_manager.response_plan_arn"),
                    format!(
                        "`{}` is not an Incident Manager response plan ARN",
                        im.response_plan_arn
                    ),
                );
            }
        }
        if let Some(severity) = self
            .mirror
            .ops_center
            .as_ref()
            .and_then(|o| o.severity.as_deref())
        {
            if !matches!(severity, "1" | "2" | "3" | "4") {
                problems.add(
                    format!("{at}.mirror.ops_center.severity"),
                    format!("`{severity}` is not 1, 2, 3 or 4"),
                );
            }
        }
        if let Some(runbook) = &self.runbook {
            if !names.runbooks.contains(runbook.as_str()) {
                problems.add(
                    format!("{at}.runbook"),
                    format!("no runbook is named `{runbook}`"),
                );
            }
        }
        if let Some(title) = &self.title {
            if title.trim().is_empty() {
                problems.add(format!("{at}.title"), "empty");
            }
        }
        for (index, channel) in self.chat.iter().enumerate() {
            if !names.channels.contains(channel.as_str()) {
                problems.add(
                    format!("{at}.chat[{index}]"),
                    format!("no chat channel is named `{channel}`"),
                );
            }
            if self.chat[..index].contains(channel) {
                problems.add(
                    format!("{at}.chat[{index}]"),
                    format!("`{channel}` is listed twice"),
                );
            }
        }
        if let Some(policy) = &self.escalation {
            if !names.policies.contains_key(policy.as_str()) {
                problems.add(
                    format!("{at}.escalation"),
                    format!("no escalation policy is named `{policy}`"),
                );
            }
        }
        if self.acknowledge_timeout.is_some() && self.escalation.is_none() {
            problems.add(
                format!("{at}.acknowledge_timeout"),
                "re-paging needs someone to page: name an `escalation` policy",
            );
        }
        if let Some(timeout) = self.acknowledge_timeout {
            if timeout == Span::ZERO {
                problems.add(format!("{at}.acknowledge_timeout"), "must be above 0s");
            }
            problems.check_at_most(
                format!("{at}.acknowledge_timeout"),
                timeout,
                MAX_ACKNOWLEDGE_TIMEOUT,
            );
        }
        if let Some(limit) = self.stale_after {
            if limit == Span::ZERO {
                problems.add(format!("{at}.stale_after"), "must be above 0s");
            }
            problems.check_at_most(format!("{at}.stale_after"), limit, MAX_STALE_AFTER);
        }
        if let Some(limit) = self.escalate_unhandled_after {
            if !(UNHANDLED_MIN..=UNHANDLED_MAX).contains(&limit) {
                problems.add(
                    format!("{at}.escalate_unhandled_after"),
                    format!("`{limit}` is not between {UNHANDLED_MIN} and {UNHANDLED_MAX}"),
                );
            }
        }
    }
}

impl Validate for Route {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems) {
        if !names.plans.contains(self.plan.as_str()) {
            problems.add(
                format!("{at}.plan"),
                format!("no plan is named `{}`", self.plan),
            );
        }
    }
}
