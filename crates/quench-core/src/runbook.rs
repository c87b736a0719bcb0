//! Runbooks: named, ordered steps that diagnose and remediate, and the pure interpreter
//! that tells the `runbook-step` Lambda what to do next.
//!
//! The Lambda runs one step per invocation and Step Functions loops, waits and retries
//! between invocations, so everything here is a plain function of (runbook, position,
//! facts, outputs) and every type that crosses the state machine is serde JSON. Control
//! steps (`branch`, `resolve`, `escalate`, the end) are decided here without an
//! invocation of their own; a `sleep` becomes a Step Functions Wait, never a sleeping
//! Lambda.
//!
//! Safety rules the config validation enforces, so they never become runtime surprises:
//! every loop waits and does real work on each turn; a step reads only the outputs of
//! steps before it; shell commands see alarm data only through checked, quoted params.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::ser::SerializeMap;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::alarm::AlarmState;
use crate::config::{ConfigError, InsufficientData};
use crate::duration::Span;
use crate::template::{
    check_param, compile_pattern, is_param_char, quoted_placeholders, shell_quote, Facts, Param,
    Scope, Template, TemplateError, Var,
};

/// The SSM document that runs `commands` with `/bin/sh`; the only one whose input Quench
/// quotes, because it is the only one whose shell Quench knows.
pub const SHELL_DOCUMENT: &str = "AWS-RunShellScript";

/// A runbook that has run this many steps without finishing escalates: a loop that
/// waits is still a loop, and an incident must not sit in it for days.
pub const MAX_STEP_RUNS: u32 = 100;

const MAX_STEPS: usize = 100;
const MAX_SLEEP_SECS: u64 = 86_400;
/// AWS-RunShellScript's `executionTimeout` allows at most 48 hours.
const MAX_COMMAND_TIMEOUT_SECS: u64 = 172_800;
const MAX_AUTOMATION_TIMEOUT_SECS: u64 = 43_200;
/// GetCommandInvocation returns at most 24,000 characters of each stream.
const MAX_OUTPUT_LIMIT: u32 = 24_000;
/// SendCommand takes at most 50 instance ids.
const MAX_TARGETS: usize = 50;

/// An ordered list of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Runbook {
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }
}

/// One step: an `id` and exactly one action, e.g.
/// `{ id: reboot, ec2.reboot: { instance: "{{ alarm.dimensions.InstanceId }}" } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub enum Action {
    /// SSM Run Command on the alarm's instance(s), polled to a final status. Outputs:
    /// `stdout`, `stderr` (bounded by `output_limit`), `exit_code`, `command_id`.
    #[serde(rename = "run_command")]
    RunCommand(RunCommand),
    /// An existing SSM Automation document, polled to a final status. Outputs:
    /// `execution_id`, `status`, and the document's own outputs by name.
    #[serde(rename = "automation")]
    Automation(Automation),
    /// EC2 RebootInstances. Outputs: `instance`.
    #[serde(rename = "ec2.reboot")]
    Ec2Reboot(Instance),
    /// EC2 DescribeInstanceStatus, stopped instances included. Outputs: `instance_state`
    /// (`running`, `stopped`, ...), `instance_status` and `system_status` (`ok`,
    /// `impaired`, `initializing`, `insufficient-data`, `not-applicable`).
    #[serde(rename = "ec2.status")]
    Ec2Status(Instance),
    /// CloudWatch DescribeAlarms. Outputs: `state` (`OK`, `ALARM`, `INSUFFICIENT_DATA`),
    /// `reason`.
    #[serde(rename = "alarm.state")]
    AlarmState(AlarmQuery),
    /// CloudWatch GetMetricData over the last `minutes`. Outputs: `latest`, `minimum`,
    /// `maximum`, `average` (numbers over the returned datapoints) and `datapoints`.
    #[serde(rename = "metric.query")]
    MetricQuery(MetricQuery),
    /// A Step Functions Wait, e.g. `5m`.
    #[serde(rename = "sleep")]
    Sleep(Span),
    /// Goes to `then` when the condition holds, else to `else` (the next step if absent).
    #[serde(rename = "branch")]
    Branch(Branch),
    /// Ends the runbook and resolves the incident without paging; the value is the reason.
    #[serde(rename = "resolve")]
    Resolve(Option<Template>),
    /// Ends the runbook and escalates the incident; the value is the reason.
    #[serde(rename = "escalate")]
    Escalate(Option<Template>),
    /// Adds an entry to the incident timeline.
    #[serde(rename = "note")]
    Note(Note),
}

pub const ACTION_NAMES: [&str; 11] = [
    "run_command",
    "automation",
    "ec2.reboot",
    "ec2.status",
    "alarm.state",
    "metric.query",
    "sleep",
    "branch",
    "resolve",
    "escalate",
    "note",
];

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::RunCommand(_) => "run_command",
            Action::Automation(_) => "automation",
            Action::Ec2Reboot(_) => "ec2.reboot",
            Action::Ec2Status(_) => "ec2.status",
            Action::AlarmState(_) => "alarm.state",
            Action::MetricQuery(_) => "metric.query",
            Action::Sleep(_) => "sleep",
            Action::Branch(_) => "branch",
            Action::Resolve(_) => "resolve",
            Action::Escalate(_) => "escalate",
            Action::Note(_) => "note",
        }
    }

    /// Whether the Lambda executes this step and records an outcome; the other steps
    /// are decided by the interpreter.
    pub fn is_executed(&self) -> bool {
        !matches!(
            self,
            Action::Sleep(_) | Action::Branch(_) | Action::Resolve(_) | Action::Escalate(_)
        )
    }

    /// Whether the step asks AWS something, so that its outcome can differ from one turn
    /// of a loop to the next.
    fn observes(&self) -> bool {
        self.is_executed() && !matches!(self, Action::Note(_))
    }

    /// The output keys the adapter sets; `None` when the document decides them.
    pub fn output_keys(&self) -> Option<&'static [&'static str]> {
        match self {
            Action::RunCommand(_) => Some(&["stdout", "stderr", "exit_code", "command_id"]),
            Action::Automation(_) => None,
            Action::Ec2Reboot(_) => Some(&["instance"]),
            Action::Ec2Status(_) => Some(&["instance_state", "instance_status", "system_status"]),
            Action::AlarmState(_) => Some(&["state", "reason"]),
            Action::MetricQuery(_) => {
                Some(&["latest", "minimum", "maximum", "average", "datapoints"])
            }
            _ => Some(&[]),
        }
    }
}

fn default_document() -> String {
    SHELL_DOCUMENT.to_string()
}

fn default_targets() -> Templates {
    Templates(vec![Template::new("{{ alarm.dimensions.InstanceId }}")])
}

fn default_command_timeout() -> Span {
    Span::from_secs(600)
}

fn default_automation_timeout() -> Span {
    Span::from_secs(1_800)
}

fn default_output_limit() -> u32 {
    4_096
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// SSM document name or ARN. With `AWS-RunShellScript` write `commands`; with any
    /// other document write `parameters`.
    #[serde(default = "default_document")]
    pub document: String,
    /// Shell lines for `AWS-RunShellScript`. Alarm data enters only as `{{ params.NAME }}`,
    /// which is checked against its pattern and single-quoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Template>,
    /// Parameters of a named document; values may use only `{{ params.NAME }}`
    /// (checked, not quoted: the document decides how it uses them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Templates>,
    /// Instance id(s); defaults to the alarm's `InstanceId` dimension.
    #[serde(default = "default_targets")]
    pub targets: Templates,
    /// How long the command may run on the instance.
    #[serde(default = "default_command_timeout")]
    pub timeout: Span,
    /// Bytes of stdout and of stderr kept; the rest is cut and the cut is marked.
    #[serde(default = "default_output_limit")]
    pub output_limit: u32,
    /// Values from the alarm or earlier steps that commands may use, each with the
    /// pattern its whole value must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Param>,
}

impl RunCommand {
    pub fn is_shell(&self) -> bool {
        self.document == SHELL_DOCUMENT
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Automation {
    /// SSM Automation document name or ARN, e.g. `AWS-RestartEC2Instance`.
    pub document: String,
    /// Document parameters; e.g. `IncidentId: "{{ incident.id }}"` if the document takes one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Templates>,
    /// How long the execution may take before the step counts as timed out.
    #[serde(default = "default_automation_timeout")]
    pub timeout: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Instance id, e.g. `"{{ alarm.dimensions.InstanceId }}"`.
    pub instance: Template,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    /// Alarm name; defaults to the alarm that opened the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<Template>,
}

fn default_stat() -> String {
    "Average".to_string()
}

fn default_period() -> Span {
    Span::from_secs(60)
}

fn default_minutes() -> u32 {
    10
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    pub namespace: Template,
    pub metric: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, Template>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount` or a percentile like `p99`.
    #[serde(default = "default_stat")]
    pub stat: String,
    #[serde(default = "default_period")]
    pub period: Span,
    /// How far back to look.
    #[serde(default = "default_minutes")]
    pub minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    #[serde(rename = "if")]
    pub condition: Condition,
    pub then: Goto,
    /// Where to go when the condition is false or cannot be evaluated; the next step
    /// when absent.
    #[serde(rename = "else", default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Goto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub text: Template,
}

/// A branch target: `resolve`, `escalate`, or a step id (those two words are reserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goto {
    Resolve,
    Escalate,
    Step(String),
}

impl fmt::Display for Goto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goto::Resolve => f.write_str("resolve"),
            Goto::Escalate => f.write_str("escalate"),
            Goto::Step(id) => f.write_str(id),
        }
    }
}

impl Serialize for Goto {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Goto {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(match raw.as_str() {
            "resolve" => Goto::Resolve,
            "escalate" => Goto::Escalate,
            _ => Goto::Step(raw),
        })
    }
}

impl JsonSchema for Goto {
    fn schema_name() -> Cow<'static, str> {
        "Goto".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "`resolve`, `escalate`, or the id of a step of this runbook."
        })
    }
}

/// A test over earlier outputs. Operands are templates, numbers or booleans. `equals`
/// compares as numbers when both sides are numbers, else as text with surrounding
/// whitespace trimmed (command output ends in a newline). Ordering needs numbers on both
/// sides; when any part cannot be evaluated the whole condition is false and the branch
/// records why.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    Equals([Operand; 2]),
    Not(Box<Condition>),
    Gt([Operand; 2]),
    Ge([Operand; 2]),
    Lt([Operand; 2]),
    Le([Operand; 2]),
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

impl Condition {
    pub fn name(&self) -> &'static str {
        match self {
            Condition::Equals(_) => "equals",
            Condition::Not(_) => "not",
            Condition::Gt(_) => "gt",
            Condition::Ge(_) => "ge",
            Condition::Lt(_) => "lt",
            Condition::Le(_) => "le",
            Condition::All(_) => "all",
            Condition::Any(_) => "any",
        }
    }
}

/// A one-key map both ways: serde_yaml_ng would otherwise write and expect YAML tags
/// (`!equals [...]`), which nobody writes by hand.
impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Condition::Equals(o)
            | Condition::Gt(o)
            | Condition::Ge(o)
            | Condition::Lt(o)
            | Condition::Le(o) => map.serialize_entry(self.name(), o)?,
            Condition::Not(inner) => map.serialize_entry(self.name(), inner)?,
            Condition::All(parts) | Condition::Any(parts) => {
                map.serialize_entry(self.name(), parts)?
            }
        }
        map.end()
    }
}

const CONDITION_NAMES: &str = "equals, not, gt, ge, lt, le, all, any";

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a condition: a map with one of {CONDITION_NAMES}")
            }
            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Condition, M::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format!(
                        "empty condition; give one of {CONDITION_NAMES}"
                    )));
                };
                let condition = match key.as_str() {
                    "equals" => Condition::Equals(map.next_value()?),
                    "not" => Condition::Not(map.next_value()?),
                    "gt" => Condition::Gt(map.next_value()?),
                    "ge" => Condition::Ge(map.next_value()?),
                    "lt" => Condition::Lt(map.next_value()?),
                    "le" => Condition::Le(map.next_value()?),
                    "all" => Condition::All(map.next_value()?),
                    "any" => Condition::Any(map.next_value()?),
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown condition `{other}`; one of {CONDITION_NAMES}"
                        )))
                    }
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a condition has one key, but this one has `{key}` and `{extra}`: combine them with `all` or `any`"
                    )));
                }
                Ok(condition)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Operand {
    Number(f64),
    Bool(bool),
    Text(Template),
}

/// One template or a list of them (SSM parameters are lists of strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates(pub Vec<Template>);

impl Serialize for Templates {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Templates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Templates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Templates, E> {
                Ok(Templates(vec![Template::new(v)]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Templates, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element::<Template>()? {
                    all.push(item);
                }
                Ok(Templates(all))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Templates {
    fn schema_name() -> Cow<'static, str> {
        "Templates".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<Template>();
        json_schema!({
            "anyOf": [one, { "type": "array", "items": one }],
            "description": "A template or a list of templates."
        })
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.id)?;
        match &self.action {
            Action::RunCommand(a) => map.serialize_entry("run_command", a)?,
            Action::Automation(a) => map.serialize_entry("automation", a)?,
            Action::Ec2Reboot(a) => map.serialize_entry("ec2.reboot", a)?,
            Action::Ec2Status(a) => map.serialize_entry("ec2.status", a)?,
            Action::AlarmState(a) => map.serialize_entry("alarm.state", a)?,
            Action::MetricQuery(a) => map.serialize_entry("metric.query", a)?,
            Action::Sleep(a) => map.serialize_entry("sleep", a)?,
            Action::Branch(a) => map.serialize_entry("branch", a)?,
            Action::Resolve(a) => map.serialize_entry("resolve", a)?,
            Action::Escalate(a) => map.serialize_entry("escalate", a)?,
            Action::Note(a) => map.serialize_entry("note", a)?,
        }
        map.end()
    }
}

/// Hand-written so that an unknown or doubled action gets a message naming the actions,
/// and so that errors inside an action keep their full path (`...[2].branch.then`):
/// values are read straight from the map, which `serde_path_to_error` tracks.
impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: `id` and one action")
            }
            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Step, M::Error> {
                let mut id: Option<String> = None;
                let mut action: Option<Action> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "id" {
                        if id.is_some() {
                            return Err(de::Error::custom("`id` is given twice"));
                        }
                        id = Some(map.next_value()?);
                        continue;
                    }
                    if let Some(first) = &action {
                        return Err(de::Error::custom(format!(
                            "a step does one thing, but this one has `{}` and `{key}`: split it in two steps",
                            first.name()
                        )));
                    }
                    action = Some(match key.as_str() {
                        "run_command" => Action::RunCommand(map.next_value()?),
                        "automation" => Action::Automation(map.next_value()?),
                        "ec2.reboot" => Action::Ec2Reboot(map.next_value()?),
                        "ec2.status" => Action::Ec2Status(map.next_value()?),
                        "alarm.state" => Action::AlarmState(map.next_value()?),
                        "metric.query" => Action::MetricQuery(map.next_value()?),
                        "sleep" => Action::Sleep(map.next_value()?),
                        "branch" => Action::Branch(map.next_value()?),
                        "resolve" => Action::Resolve(map.next_value()?),
                        "escalate" => Action::Escalate(map.next_value()?),
                        "note" => Action::Note(map.next_value()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown action `{other}`; a step has an `id` and one of: {}",
                                ACTION_NAMES.join(", ")
                            )))
                        }
                    });
                }
                let id = id.ok_or_else(|| de::Error::custom("the step has no `id`"))?;
                let action = action.ok_or_else(|| {
                    de::Error::custom(format!(
                        "step `{id}` has no action; give one of: {}",
                        ACTION_NAMES.join(", ")
                    ))
                })?;
                Ok(Step { id, action })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    /// The generated schema of [`Action`] is one object per action; each gets `id`.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = Action::json_schema(generator);
        let id = json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9_-]{1,64}$",
            "description": "Unique within the runbook; `resolve` and `escalate` are reserved."
        });
        if let Some(variants) = schema
            .get_mut("oneOf")
            .and_then(serde_json::Value::as_array_mut)
        {
            for variant in variants {
                if let Some(properties) = variant
                    .get_mut("properties")
                    .and_then(serde_json::Value::as_object_mut)
                {
                    properties.insert("id".into(), id.clone().to_value());
                }
                if let Some(required) = variant
                    .get_mut("required")
                    .and_then(serde_json::Value::as_array_mut)
                {
                    required.insert(0, "id".into());
                }
            }
        }
        schema.insert(
            "description".into(),
            "A step: an `id` and exactly one action.".into(),
        );
        schema
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes and the interpreter

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    TimedOut,
    /// Not executed: an input was refused (a param off its pattern, a missing variable).
    Refused,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputValue {
    /// `serde_json::Number` rather than `f64`: it cannot hold NaN, which JSON cannot carry.
    Number(serde_json::Number),
    Text(String),
}

impl fmt::Display for OutputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputValue::Number(n) => write!(f, "{n}"),
            OutputValue::Text(t) => f.write_str(t),
        }
    }
}

impl From<&str> for OutputValue {
    fn from(text: &str) -> Self {
        OutputValue::Text(text.to_string())
    }
}

impl From<String> for OutputValue {
    fn from(text: String) -> Self {
        OutputValue::Text(text)
    }
}

impl From<i64> for OutputValue {
    fn from(number: i64) -> Self {
        OutputValue::Number(number.into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, OutputValue>,
    /// One line for the timeline.
    #[serde(default)]
    pub summary: String,
}

impl StepOutcome {
    pub fn succeeded(summary: impl Into<String>) -> Self {
        StepOutcome {
            status: StepStatus::Succeeded,
            output: BTreeMap::new(),
            summary: summary.into(),
        }
    }

    pub fn with_status(status: StepStatus, summary: impl Into<String>) -> Self {
        StepOutcome {
            status,
            output: BTreeMap::new(),
            summary: summary.into(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<OutputValue>) -> Self {
        self.output.insert(key.to_string(), value.into());
        self
    }
}

/// The outcomes so far: the latest per step (a loop overwrites), and how many ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    #[serde(default)]
    pub steps: BTreeMap<String, StepOutcome>,
    #[serde(default)]
    pub runs: u32,
}

impl Outputs {
    pub fn record(&mut self, step: &str, outcome: StepOutcome) {
        self.steps.insert(step.to_string(), outcome);
        self.runs = self.runs.saturating_add(1);
    }
}

/// A step's input with every template rendered: what the adapter executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum RenderedAction {
    #[serde(rename = "run_command")]
    RunCommand {
        document: String,
        /// For the shell document: `commands` and `executionTimeout`.
        parameters: BTreeMap<String, Vec<String>>,
        targets: Vec<String>,
        timeout_seconds: u64,
        output_limit: u32,
    },
    #[serde(rename = "automation")]
    Automation {
        document: String,
        parameters: BTreeMap<String, Vec<String>>,
        timeout_seconds: u64,
    },
    #[serde(rename = "ec2.reboot")]
    Ec2Reboot { instance: String },
    #[serde(rename = "ec2.status")]
    Ec2Status { instance: String },
    #[serde(rename = "alarm.state")]
    AlarmState { alarm: String },
    #[serde(rename = "metric.query")]
    MetricQuery {
        namespace: String,
        metric: String,
        dimensions: BTreeMap<String, String>,
        stat: String,
        period_seconds: u64,
        minutes: u32,
    },
    #[serde(rename = "note")]
    Note { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Then,
    Else,
}

/// A branch the interpreter took, for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchTaken {
    pub step: String,
    pub arm: Arm,
    /// `None`: on to the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Goto>,
    /// Why the condition could not be evaluated, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unevaluable: Option<String>,
}

impl fmt::Display for BranchTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arm = match self.arm {
            Arm::Then => "then",
            Arm::Else => "else",
        };
        write!(f, "branch `{}`: ", self.step)?;
        if let Some(why) = &self.unevaluable {
            write!(f, "condition could not be evaluated ({why}); ")?;
        }
        match &self.to {
            Some(to) => write!(f, "took {arm} → {to}"),
            None => write!(f, "took {arm} → next step"),
        }
    }
}

/// Where the runbook goes after a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Next {
    /// Invoke the step Lambda for this step.
    Step { step: String },
    /// A Step Functions Wait of `seconds`, then invoke the step Lambda at `then`;
    /// `then: null` means the runbook ends after the wait: verify.
    Wait {
        seconds: u64,
        sleep: String,
        then: Option<String>,
    },
    /// Resolve the incident without paging.
    Resolve {
        step: Option<String>,
        reason: String,
    },
    /// Record `reason` and escalate: a runbook that fails never leaves an incident
    /// silently open.
    Escalate {
        step: Option<String>,
        reason: String,
    },
    /// The runbook ran to its end: resolve if the alarm is OK now, else escalate.
    Verify,
    /// A started command or automation is still running: wait, then ask again at the
    /// same step. Only the step Lambda says this; the interpreter never does.
    Poll { step: String },
    /// Nothing more for this run to do: the incident was resolved meanwhile (its alarm
    /// recovered) or reopened (a newer run owns it). Only the step Lambda says this.
    Stop { reason: String },
}

impl Next {
    /// The `kind` tag the state machine's Choice reads.
    pub fn kind(&self) -> &'static str {
        match self {
            Next::Step { .. } => "step",
            Next::Poll { .. } => "poll",
            Next::Wait { .. } => "wait",
            Next::Resolve { .. } => "resolve",
            Next::Escalate { .. } => "escalate",
            Next::Verify => "verify",
            Next::Stop { .. } => "stop",
        }
    }

    /// The end of a runbook, once the triggering alarm's state is known: a runbook that
    /// ran to its end resolves only if the alarm recovered; one that resolved by its own
    /// checks is believed unless the alarm still alarms. So nothing closes an incident
    /// whose alarm says the problem is there, and nothing pages for one that is gone.
    /// Other kinds pass through.
    pub fn concluded(self, alarm: &str, state: AlarmState, policy: InsufficientData) -> Next {
        let alarming = crate::incident::alarming(state, policy);
        match self {
            Next::Verify => match alarming {
                Some(false) => Next::Resolve {
                    step: None,
                    reason: format!("the runbook finished and {alarm} is {state}"),
                },
                _ => Next::Escalate {
                    step: None,
                    reason: format!("the runbook finished and {alarm} is still {state}"),
                },
            },
            Next::Resolve { step, reason } => match alarming {
                Some(true) => Next::Escalate {
                    step,
                    reason: format!("the runbook resolved ({reason}) but {alarm} is {state}"),
                },
                _ => Next::Resolve {
                    step,
                    reason: format!("{reason}; {alarm} is {state}"),
                },
            },
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub next: Next,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<BranchTaken>,
}

/// What to do at a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Planned {
    /// Execute `step` with this input, then ask [`after_step`].
    Execute {
        step: String,
        input: RenderedAction,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        branches: Vec<BranchTaken>,
    },
    /// The step's input was refused: record `outcome` (status `refused`, never executed)
    /// and ask [`after_step`] as for any outcome.
    Refused {
        step: String,
        error: TemplateError,
        outcome: StepOutcome,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        branches: Vec<BranchTaken>,
    },
    /// Nothing to execute: the control steps from this position lead here.
    Flow(Transition),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
}

enum Value {
    Number(f64),
    Text(String),
}

impl Operand {
    fn value(&self, scope: &Scope<'_>) -> Result<Value, ConditionError> {
        Ok(match self {
            Operand::Number(n) => Value::Number(*n),
            Operand::Bool(b) => Value::Text(b.to_string()),
            Operand::Text(t) => Value::Text(t.render(scope)?),
        })
    }
}

impl Value {
    fn number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(t) => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Number(n) => n.to_string(),
            Value::Text(t) => t.trim().to_string(),
        }
    }

    fn require_number(&self) -> Result<f64, ConditionError> {
        self.number()
            .ok_or_else(|| ConditionError::NotANumber(crate::template::preview(&self.text())))
    }
}

impl Condition {
    /// Every part is evaluated, so a part that cannot be is never hidden by a
    /// short-circuit: the same runbook either decides or says why it could not.
    pub fn evaluate(&self, scope: &Scope<'_>) -> Result<bool, ConditionError> {
        let pair = |[a, b]: &[Operand; 2]| -> Result<(Value, Value), ConditionError> {
            Ok((a.value(scope)?, b.value(scope)?))
        };
        let ordered = |operands: &[Operand; 2]| -> Result<(f64, f64), ConditionError> {
            let (a, b) = pair(operands)?;
            Ok((a.require_number()?, b.require_number()?))
        };
        match self {
            Condition::Equals(operands) => {
                let (a, b) = pair(operands)?;
                Ok(match (a.number(), b.number()) {
                    (Some(x), Some(y)) => x == y,
                    _ => a.text() == b.text(),
                })
            }
            Condition::Not(inner) => Ok(!inner.evaluate(scope)?),
            Condition::Gt(operands) => ordered(operands).map(|(a, b)| a > b),
            Condition::Ge(operands) => ordered(operands).map(|(a, b)| a >= b),
            Condition::Lt(operands) => ordered(operands).map(|(a, b)| a < b),
            Condition::Le(operands) => ordered(operands).map(|(a, b)| a <= b),
            Condition::All(parts) => {
                let results = parts
                    .iter()
                    .map(|c| c.evaluate(scope))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(results.into_iter().all(|r| r))
            }
            Condition::Any(parts) => {
                let results = parts
                    .iter()
                    .map(|c| c.evaluate(scope))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(results.into_iter().any(|r| r))
            }
        }
    }

    fn operands(&self) -> Vec<&Operand> {
        match self {
            Condition::Equals(o)
            | Condition::Gt(o)
            | Condition::Ge(o)
            | Condition::Lt(o)
            | Condition::Le(o) => o.iter().collect(),
            Condition::Not(inner) => inner.operands(),
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().flat_map(Condition::operands).collect()
            }
        }
    }
}

enum Stop {
    Execute(usize),
    Done(Next),
}

/// Follows control steps from `index` until a step to execute, a wait, or an end.
fn walk(
    runbook: &Runbook,
    mut index: usize,
    scope: &Scope<'_>,
    branches: &mut Vec<BranchTaken>,
) -> Stop {
    // Validation refuses loops of control steps alone; the bound keeps a config that
    // skipped validation from spinning a Lambda until its timeout.
    for _ in 0..=runbook.steps.len() {
        let Some(step) = runbook.steps.get(index) else {
            return Stop::Done(Next::Verify);
        };
        let id = &step.id;
        match &step.action {
            Action::Sleep(span) => {
                return Stop::Done(Next::Wait {
                    seconds: span.as_secs(),
                    sleep: id.clone(),
                    then: runbook.steps.get(index + 1).map(|s| s.id.clone()),
                })
            }
            Action::Resolve(reason) => {
                return Stop::Done(Next::Resolve {
                    step: Some(id.clone()),
                    reason: reason_text(reason.as_ref(), scope, id, "resolved"),
                })
            }
            Action::Escalate(reason) => {
                return Stop::Done(Next::Escalate {
                    step: Some(id.clone()),
                    reason: reason_text(reason.as_ref(), scope, id, "escalated"),
                })
            }
            Action::Branch(branch) => {
                let (arm, to, unevaluable) = match branch.condition.evaluate(scope) {
                    Ok(true) => (Arm::Then, Some(&branch.then), None),
                    Ok(false) => (Arm::Else, branch.otherwise.as_ref(), None),
                    Err(why) => (Arm::Else, branch.otherwise.as_ref(), Some(why.to_string())),
                };
                let because = {
                    let verdict = match (arm, &unevaluable) {
                        (Arm::Then, _) => "held".to_string(),
                        (Arm::Else, None) => "did not hold".to_string(),
                        (Arm::Else, Some(why)) => format!("could not be evaluated ({why})"),
                    };
                    move || format!("the condition of `{id}` {verdict}")
                };
                branches.push(BranchTaken {
                    step: id.clone(),
                    arm,
                    to: to.cloned(),
                    unevaluable,
                });
                match to {
                    None => index += 1,
                    Some(Goto::Resolve) => {
                        return Stop::Done(Next::Resolve {
                            step: Some(id.clone()),
                            reason: because(),
                        })
                    }
                    Some(Goto::Escalate) => {
                        return Stop::Done(Next::Escalate {
                            step: Some(id.clone()),
                            reason: because(),
                        })
                    }
                    Some(Goto::Step(target)) => match runbook.index_of(target) {
                        Some(found) => index = found,
                        None => {
                            return Stop::Done(Next::Escalate {
                                step: Some(id.clone()),
                                reason: format!("branch `{id}` goes to a missing step `{target}`"),
                            })
                        }
                    },
                }
            }
            _ => return Stop::Execute(index),
        }
    }
    Stop::Done(Next::Escalate {
        step: None,
        reason: "the runbook loops without running a step".into(),
    })
}

fn reason_text(reason: Option<&Template>, scope: &Scope<'_>, id: &str, verb: &str) -> String {
    match reason.map(|r| r.render(scope)) {
        None => format!("step `{id}` {verb} the incident"),
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            format!("step `{id}` {verb} the incident (its reason could not be rendered: {e})")
        }
    }
}

/// Where a run starts.
pub fn start(runbook: &Runbook, facts: &Facts, outputs: &Outputs) -> Planned {
    match runbook.steps.first() {
        Some(first) => next_action(runbook, &first.id, facts, outputs),
        None => Planned::Flow(Transition {
            next: Next::Verify,
            branches: Vec::new(),
        }),
    }
}

/// What to do at `position`: the step there (or the first step to execute after the
/// control steps from there), fully rendered.
pub fn next_action(runbook: &Runbook, position: &str, facts: &Facts, outputs: &Outputs) -> Planned {
    let Some(index) = runbook.index_of(position) else {
        return Planned::Flow(Transition {
            next: Next::Escalate {
                step: None,
                reason: format!(
                    "the runbook has no step `{position}` (was the config changed mid-run?)"
                ),
            },
            branches: Vec::new(),
        });
    };
    let scope = Scope::new(facts, outputs);
    let mut branches = Vec::new();
    let index = match walk(runbook, index, &scope, &mut branches) {
        Stop::Done(next) => return Planned::Flow(Transition { next, branches }),
        Stop::Execute(index) => index,
    };
    let Some(step) = runbook.steps.get(index) else {
        return Planned::Flow(Transition {
            next: Next::Verify,
            branches,
        });
    };
    match render(&step.action, &scope) {
        Ok(input) => Planned::Execute {
            step: step.id.clone(),
            input,
            branches,
        },
        Err(error) => Planned::Refused {
            step: step.id.clone(),
            outcome: StepOutcome::with_status(StepStatus::Refused, error.to_string()),
            error,
            branches,
        },
    }
}

/// Where to go once `step` has this outcome. `outputs` need not hold it yet.
pub fn after_step(
    runbook: &Runbook,
    step: &str,
    outcome: &StepOutcome,
    facts: &Facts,
    outputs: &Outputs,
) -> Transition {
    let done = |next| Transition {
        next,
        branches: Vec::new(),
    };
    let Some(index) = runbook.index_of(step) else {
        return done(Next::Escalate {
            step: None,
            reason: format!("the runbook has no step `{step}` (was the config changed mid-run?)"),
        });
    };
    if outputs.runs.saturating_add(1) >= MAX_STEP_RUNS {
        return done(Next::Escalate {
            step: Some(step.to_string()),
            reason: format!("the runbook ran {MAX_STEP_RUNS} steps without finishing"),
        });
    }
    let branch_follows = matches!(
        runbook.steps.get(index + 1).map(|s| &s.action),
        Some(Action::Branch(_))
    );
    if outcome.status != StepStatus::Succeeded && !branch_follows {
        let mut reason = format!("step `{step}` {}", outcome.status.as_str());
        if !outcome.summary.is_empty() {
            reason.push_str(": ");
            reason.push_str(&outcome.summary);
        }
        return done(Next::Escalate {
            step: Some(step.to_string()),
            reason,
        });
    }
    let scope = Scope {
        latest: Some((step, outcome)),
        ..Scope::new(facts, outputs)
    };
    let mut branches = Vec::new();
    let next = match walk(runbook, index + 1, &scope, &mut branches) {
        Stop::Done(next) => next,
        Stop::Execute(found) => match runbook.steps.get(found) {
            Some(s) => Next::Step { step: s.id.clone() },
            None => Next::Verify,
        },
    };
    Transition { next, branches }
}

fn render_all(
    templates: &Templates,
    scope: &Scope<'_>,
    field: &str,
) -> Result<Vec<String>, TemplateError> {
    templates
        .0
        .iter()
        .map(|t| render_nonempty(t, scope, field))
        .collect()
}

/// An empty instance id or alarm name would make the API call mean something else (or
/// everything), so an empty rendering is refused like a missing one.
fn render_nonempty(
    template: &Template,
    scope: &Scope<'_>,
    field: &str,
) -> Result<String, TemplateError> {
    let value = template.render(scope)?;
    if value.trim().is_empty() {
        return Err(TemplateError::Missing {
            name: template.as_str().to_string(),
            why: format!("`{field}` renders empty"),
        });
    }
    Ok(value)
}

fn render(action: &Action, scope: &Scope<'_>) -> Result<RenderedAction, TemplateError> {
    Ok(match action {
        Action::RunCommand(rc) => {
            let mut checked = BTreeMap::new();
            for (name, param) in &rc.params {
                checked.insert(name.clone(), check_param(name, param, scope)?);
            }
            let mut parameters = BTreeMap::new();
            if rc.is_shell() {
                let quoted: BTreeMap<String, String> = checked
                    .iter()
                    .map(|(k, v)| (k.clone(), shell_quote(v)))
                    .collect();
                let with_params = Scope {
                    params: Some(&quoted),
                    ..*scope
                };
                let commands = rc
                    .commands
                    .iter()
                    .map(|c| c.render(&with_params))
                    .collect::<Result<Vec<_>, _>>()?;
                parameters.insert("commands".to_string(), commands);
                parameters.insert(
                    "executionTimeout".to_string(),
                    vec![rc.timeout.as_secs().to_string()],
                );
            } else {
                let with_params = Scope {
                    params: Some(&checked),
                    ..*scope
                };
                for (name, values) in &rc.parameters {
                    let rendered = values
                        .0
                        .iter()
                        .map(|v| v.render(&with_params))
                        .collect::<Result<Vec<_>, _>>()?;
                    parameters.insert(name.clone(), rendered);
                }
            }
            RenderedAction::RunCommand {
                document: rc.document.clone(),
                parameters,
                targets: render_all(&rc.targets, scope, "targets")?,
                timeout_seconds: rc.timeout.as_secs(),
                output_limit: rc.output_limit,
            }
        }
        Action::Automation(a) => {
            let mut parameters = BTreeMap::new();
            for (name, values) in &a.parameters {
                parameters.insert(name.clone(), render_all(values, scope, name)?);
            }
            RenderedAction::Automation {
                document: a.document.clone(),
                parameters,
                timeout_seconds: a.timeout.as_secs(),
            }
        }
        Action::Ec2Reboot(i) => RenderedAction::Ec2Reboot {
            instance: render_nonempty(&i.instance, scope, "instance")?,
        },
        Action::Ec2Status(i) => RenderedAction::Ec2Status {
            instance: render_nonempty(&i.instance, scope, "instance")?,
        },
        Action::AlarmState(q) => RenderedAction::AlarmState {
            alarm: match &q.alarm {
                Some(t) => render_nonempty(t, scope, "alarm")?,
                None => scope.facts.alarm.name.clone(),
            },
        },
        Action::MetricQuery(q) => {
            let mut dimensions = BTreeMap::new();
            for (name, value) in &q.dimensions {
                dimensions.insert(name.clone(), render_nonempty(value, scope, name)?);
            }
            RenderedAction::MetricQuery {
                namespace: render_nonempty(&q.namespace, scope, "namespace")?,
                metric: render_nonempty(&q.metric, scope, "metric")?,
                dimensions,
                stat: q.stat.clone(),
                period_seconds: q.period.as_secs(),
                minutes: q.minutes,
            }
        }
        Action::Note(n) => RenderedAction::Note {
            text: n.text.render(scope)?,
        },
        Action::Sleep(_) | Action::Branch(_) | Action::Resolve(_) | Action::Escalate(_) => {
            return Err(TemplateError::Missing {
                name: action.name().to_string(),
                why: "a control step is decided by the interpreter, not executed".into(),
            })
        }
    })
}

// ---------------------------------------------------------------------------------------
// Validation

fn problem(errors: &mut Vec<ConfigError>, path: impl Into<String>, problem: impl Into<String>) {
    errors.push(crate::config::field(path, problem));
}

fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// SSM document names: letters, digits, `_ - .`, 3-128 long; ARNs add `: /`.
fn valid_document(name: &str) -> bool {
    (3..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

/// What a template at one place may name.
#[derive(Clone, Copy)]
enum Place<'a> {
    /// Anything but params.
    Anywhere,
    /// Shell commands and document parameters of `run_command`: params only.
    ParamsOnly {
        declared: &'a BTreeMap<String, Param>,
        what: &'a str,
        why: &'a str,
    },
}

struct Checker<'a> {
    name: &'a str,
    runbook: &'a Runbook,
    ids: BTreeMap<&'a str, usize>,
    errors: &'a mut Vec<ConfigError>,
}

impl Checker<'_> {
    fn at(&self, index: usize) -> String {
        format!("runbooks.{}[{index}]", self.name)
    }

    fn template(&mut self, path: &str, index: usize, template: &Template, place: Place<'_>) {
        let vars = match template.variables() {
            Ok(vars) => vars,
            Err(e) => return problem(self.errors, path, e.to_string()),
        };
        for var in vars {
            match (&var, place) {
                (Var::Param(name), Place::ParamsOnly { declared, .. }) => {
                    if !declared.contains_key(name) {
                        problem(
                            self.errors,
                            path,
                            format!("`{{{{ {var} }}}}` is not declared under `params`"),
                        );
                    }
                }
                (Var::Param(_), Place::Anywhere) => problem(
                    self.errors,
                    path,
                    format!("`{{{{ {var} }}}}`: params exist only in run_command `commands` and `parameters`"),
                ),
                (_, Place::ParamsOnly { what, why, .. }) => problem(
                    self.errors,
                    path,
                    format!(
                        "`{{{{ {var} }}}}` cannot be used in {what} directly ({why}): declare it under `params` with a `pattern` and write `{{{{ params.NAME }}}}`"
                    ),
                ),
                (_, Place::Anywhere) => self.step_reference(path, index, &var),
            }
        }
    }

    fn step_reference(&mut self, path: &str, index: usize, var: &Var) {
        let Some(step) = var.step() else { return };
        let Some(&at) = self.ids.get(step) else {
            return problem(
                self.errors,
                path,
                format!("`{{{{ {var} }}}}`: no step `{step}` in this runbook"),
            );
        };
        if at >= index {
            return problem(
                self.errors,
                path,
                format!("`{{{{ {var} }}}}`: step `{step}` does not come before this step"),
            );
        }
        let Some(action) = self.runbook.steps.get(at).map(|s| &s.action) else {
            return;
        };
        if !action.is_executed() {
            return problem(
                self.errors,
                path,
                format!(
                    "`{{{{ {var} }}}}`: step `{step}` is a `{}` and has no outcome",
                    action.name()
                ),
            );
        }
        if let (Var::StepOutput { key, .. }, Some(keys)) = (var, action.output_keys()) {
            if !keys.contains(&key.as_str()) {
                let known = if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                };
                problem(
                    self.errors,
                    path,
                    format!(
                        "`{{{{ {var} }}}}`: a `{}` step has no output `{key}` (its outputs: {known})",
                        action.name()
                    ),
                );
            }
        }
    }

    fn templates(&mut self, path: &str, index: usize, values: &Templates, place: Place<'_>) {
        if values.0.is_empty() {
            problem(self.errors, path, "give at least one value");
        }
        for (i, value) in values.0.iter().enumerate() {
            let at = if values.0.len() == 1 {
                path.to_string()
            } else {
                format!("{path}[{i}]")
            };
            self.template(&at, index, value, place);
        }
    }

    fn nonempty(&mut self, path: &str, index: usize, template: &Template) {
        if template.as_str().trim().is_empty() {
            problem(self.errors, path, "empty");
        }
        self.template(path, index, template, Place::Anywhere);
    }

    fn span(&mut self, path: &str, span: Span, max_secs: u64) {
        let max = Span::from_secs(max_secs);
        if span == Span::ZERO || span > max {
            problem(
                self.errors,
                path,
                format!("`{span}` is not between 1s and {max}"),
            );
        }
    }

    fn run_command(&mut self, at: &str, index: usize, rc: &RunCommand) {
        if !valid_document(&rc.document) {
            problem(
                self.errors,
                format!("{at}.document"),
                format!("`{}` is not an SSM document name or ARN", rc.document),
            );
        }
        for (name, param) in &rc.params {
            let path = format!("{at}.params.{name}");
            if name.is_empty() || !name.chars().all(is_param_char) {
                problem(
                    self.errors,
                    &path,
                    "param names use lowercase letters, digits and `_`",
                );
            }
            self.template(&format!("{path}.from"), index, &param.from, Place::Anywhere);
            if let Err(e) = compile_pattern(&param.pattern) {
                problem(
                    self.errors,
                    format!("{path}.pattern"),
                    format!("`{}` is not a valid pattern: {e}", param.pattern),
                );
            }
        }
        let mut used = BTreeSet::new();
        if rc.is_shell() {
            if rc.commands.is_empty() {
                problem(
                    self.errors,
                    format!("{at}.commands"),
                    format!("{SHELL_DOCUMENT} needs at least one command"),
                );
            }
            if !rc.parameters.is_empty() {
                problem(
                    self.errors,
                    format!("{at}.parameters"),
                    format!("{SHELL_DOCUMENT} takes `commands`, whose values are quoted; `parameters` would bypass that"),
                );
            }
            let place = Place::ParamsOnly {
                declared: &rc.params,
                what: "a shell command",
                why: "alarm data is untrusted",
            };
            for (i, command) in rc.commands.iter().enumerate() {
                let path = format!("{at}.commands[{i}]");
                self.template(&path, index, command, place);
                for quoted in quoted_placeholders(command.as_str()) {
                    problem(
                        self.errors,
                        &path,
                        format!("`{quoted}` is inside quotes, which would undo the quoting Quench adds: write it bare"),
                    );
                }
                collect_params(command, &mut used);
            }
        } else {
            if !rc.commands.is_empty() {
                problem(
                    self.errors,
                    format!("{at}.commands"),
                    format!(
                        "`commands` are for {SHELL_DOCUMENT}; give `{}` its `parameters`",
                        rc.document
                    ),
                );
            }
            let place = Place::ParamsOnly {
                declared: &rc.params,
                what: "document parameters",
                why: "a document may hand them to a shell",
            };
            for (name, values) in &rc.parameters {
                self.templates(&format!("{at}.parameters.{name}"), index, values, place);
                for value in &values.0 {
                    collect_params(value, &mut used);
                }
            }
        }
        for name in rc.params.keys() {
            if !used.contains(name) {
                problem(
                    self.errors,
                    format!("{at}.params.{name}"),
                    "declared but never used",
                );
            }
        }
        if rc.targets.0.len() > MAX_TARGETS {
            problem(
                self.errors,
                format!("{at}.targets"),
                format!("at most {MAX_TARGETS} instances"),
            );
        }
        self.templates(
            &format!("{at}.targets"),
            index,
            &rc.targets,
            Place::Anywhere,
        );
        self.span(
            &format!("{at}.timeout"),
            rc.timeout,
            MAX_COMMAND_TIMEOUT_SECS,
        );
        if rc.output_limit == 0 || rc.output_limit > MAX_OUTPUT_LIMIT {
            problem(
                self.errors,
                format!("{at}.output_limit"),
                format!(
                    "{} is not between 1 and {MAX_OUTPUT_LIMIT} bytes",
                    rc.output_limit
                ),
            );
        }
    }

    fn step(&mut self, index: usize, step: &Step) {
        let at = format!("{}.{}", self.at(index), step.action.name());
        match &step.action {
            Action::RunCommand(rc) => self.run_command(&at, index, rc),
            Action::Automation(a) => {
                if !valid_document(&a.document) {
                    problem(
                        self.errors,
                        format!("{at}.document"),
                        format!("`{}` is not an SSM document name or ARN", a.document),
                    );
                }
                for (name, values) in &a.parameters {
                    self.templates(
                        &format!("{at}.parameters.{name}"),
                        index,
                        values,
                        Place::Anywhere,
                    );
                }
                self.span(
                    &format!("{at}.timeout"),
                    a.timeout,
                    MAX_AUTOMATION_TIMEOUT_SECS,
                );
            }
            Action::Ec2Reboot(i) | Action::Ec2Status(i) => {
                self.nonempty(&format!("{at}.instance"), index, &i.instance);
            }
            Action::AlarmState(q) => {
                if let Some(alarm) = &q.alarm {
                    self.nonempty(&format!("{at}.alarm"), index, alarm);
                }
            }
            Action::MetricQuery(q) => {
                self.nonempty(&format!("{at}.namespace"), index, &q.namespace);
                self.nonempty(&format!("{at}.metric"), index, &q.metric);
                for (name, value) in &q.dimensions {
                    self.nonempty(&format!("{at}.dimensions.{name}"), index, value);
                }
                if q.stat.trim().is_empty() {
                    problem(self.errors, format!("{at}.stat"), "empty");
                }
                let period = q.period.as_secs();
                if !(matches!(period, 1 | 5 | 10 | 30) || (period > 0 && period % 60 == 0)) {
                    problem(
                        self.errors,
                        format!("{at}.period"),
                        format!(
                            "`{}` is not 1s, 5s, 10s, 30s or a whole number of minutes",
                            q.period
                        ),
                    );
                }
                if !(1..=1_440).contains(&q.minutes) {
                    problem(
                        self.errors,
                        format!("{at}.minutes"),
                        format!("{} is not between 1 and 1440", q.minutes),
                    );
                }
            }
            Action::Sleep(span) => self.span(&at, *span, MAX_SLEEP_SECS),
            Action::Branch(branch) => {
                self.condition(&format!("{at}.if"), index, &branch.condition);
                self.goto(&format!("{at}.then"), &branch.then);
                if let Some(otherwise) = &branch.otherwise {
                    self.goto(&format!("{at}.else"), otherwise);
                }
            }
            Action::Resolve(reason) | Action::Escalate(reason) => {
                if let Some(reason) = reason {
                    self.template(&at, index, reason, Place::Anywhere);
                }
            }
            Action::Note(note) => self.nonempty(&format!("{at}.text"), index, &note.text),
        }
    }

    fn condition(&mut self, path: &str, index: usize, condition: &Condition) {
        if let Condition::All(parts) | Condition::Any(parts) = condition {
            if parts.is_empty() {
                problem(
                    self.errors,
                    path,
                    "`all` and `any` need at least one condition",
                );
            }
        }
        for operand in condition.operands() {
            match operand {
                Operand::Number(n) if !n.is_finite() => {
                    problem(self.errors, path, format!("{n} is not a finite number"));
                }
                Operand::Text(t) => self.template(path, index, t, Place::Anywhere),
                _ => {}
            }
        }
    }

    fn goto(&mut self, path: &str, goto: &Goto) {
        if let Goto::Step(target) = goto {
            if !self.ids.contains_key(target.as_str()) {
                problem(
                    self.errors,
                    path,
                    format!("no step `{target}` in this runbook (or `resolve`, `escalate`)"),
                );
            }
        }
    }

    /// Every cycle of the step graph contains a jump back (`u → v`, `v <= u`), and is a
    /// path from `v` back to `u`; so checking, for each jump back, whether `v` reaches `u`
    /// while avoiding a kind of step finds every cycle without that kind of step.
    fn loops(&mut self) {
        let steps = &self.runbook.steps;
        for (u, step) in steps.iter().enumerate() {
            let Action::Branch(branch) = &step.action else {
                continue;
            };
            let arms = [
                ("then", Some(&branch.then)),
                ("else", branch.otherwise.as_ref()),
            ];
            for (arm, goto) in arms {
                let Some(Goto::Step(target)) = goto else {
                    continue;
                };
                let Some(&v) = self.ids.get(target.as_str()) else {
                    continue;
                };
                if v > u {
                    continue;
                }
                let path = format!("{}.branch.{arm}", self.at(u));
                if reaches(self.runbook, v, u, |a| matches!(a, Action::Sleep(_))) {
                    problem(
                        self.errors,
                        &path,
                        format!("a loop without a wait: steps `{target}`..`{}` can repeat with no `sleep` between turns", step.id),
                    );
                } else if reaches(self.runbook, v, u, Action::observes) {
                    problem(
                        self.errors,
                        &path,
                        format!("a loop that checks nothing: steps `{target}`..`{}` can repeat without running a step, so its outcome can never change", step.id),
                    );
                }
            }
        }
    }
}

fn collect_params(template: &Template, used: &mut BTreeSet<String>) {
    if let Ok(vars) = template.variables() {
        for var in vars {
            if let Var::Param(name) = var {
                used.insert(name);
            }
        }
    }
}

fn successors(runbook: &Runbook, index: usize) -> Vec<usize> {
    let next = index + 1;
    let fall_through = || {
        if next < runbook.steps.len() {
            vec![next]
        } else {
            Vec::new()
        }
    };
    match runbook.steps.get(index).map(|s| &s.action) {
        None | Some(Action::Resolve(_) | Action::Escalate(_)) => Vec::new(),
        Some(Action::Branch(branch)) => {
            let target = |goto: Option<&Goto>| match goto {
                None => fall_through(),
                Some(Goto::Step(id)) => runbook.index_of(id).into_iter().collect(),
                Some(Goto::Resolve | Goto::Escalate) => Vec::new(),
            };
            let mut all = target(Some(&branch.then));
            all.extend(target(branch.otherwise.as_ref()));
            all
        }
        Some(_) => fall_through(),
    }
}

/// Whether `to` can be reached from `from` through steps none of which is `avoided`.
fn reaches(runbook: &Runbook, from: usize, to: usize, avoided: impl Fn(&Action) -> bool) -> bool {
    let blocked = |i: usize| runbook.steps.get(i).is_none_or(|s| avoided(&s.action));
    if blocked(from) || blocked(to) {
        return false;
    }
    let mut seen = BTreeSet::from([from]);
    let mut queue = vec![from];
    while let Some(at) = queue.pop() {
        if at == to {
            return true;
        }
        for next in successors(runbook, at) {
            if !blocked(next) && seen.insert(next) {
                queue.push(next);
            }
        }
    }
    false
}

/// Checks what the types cannot: names, ids, references, loops, shell safety.
pub(crate) fn validate(name: &str, runbook: &Runbook, errors: &mut Vec<ConfigError>) {
    let at = format!("runbooks.{name}");
    if runbook.steps.is_empty() {
        return problem(errors, at, "a runbook needs at least one step");
    }
    if runbook.steps.len() > MAX_STEPS {
        problem(errors, &at, format!("at most {MAX_STEPS} steps"));
    }
    let mut ids = BTreeMap::new();
    for (index, step) in runbook.steps.iter().enumerate() {
        let path = format!("{at}[{index}].id");
        if !valid_step_id(&step.id) {
            problem(
                errors,
                &path,
                format!(
                    "`{}`: step ids use lowercase letters, digits, `-` and `_` (at most 64)",
                    step.id
                ),
            );
        } else if matches!(step.id.as_str(), "resolve" | "escalate") {
            problem(
                errors,
                &path,
                format!("`{}` is reserved for branch targets", step.id),
            );
        }
        if let Some(first) = ids.insert(step.id.as_str(), index) {
            problem(
                errors,
                &path,
                format!("`{}` is also the id of step {first}", step.id),
            );
            ids.insert(step.id.as_str(), first);
        }
    }
    let mut checker = Checker {
        name,
        runbook,
        ids,
        errors,
    };
    for (index, step) in runbook.steps.iter().enumerate() {
        checker.step(index, step);
    }
    checker.loops();
}
