//! A runbook as written in `runbooks.<name>`: its steps, their actions, conditions and
//! limits.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::ser::SerializeMap;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::Span;
use crate::runbook::template::{Param, Template};

/// The SSM document that runs `commands` with `/bin/sh`; the only one whose input Quench
/// quotes, because it is the only one whose shell Quench knows.
pub const SHELL_DOCUMENT: &str = "AWS-RunShellScript";

/// A runbook that has run this many steps without finishing escalates: a loop that
/// waits is still a loop, and an incident must not sit in it for days.
pub const MAX_STEP_RUNS: u32 = 100;

pub(super) const MAX_STEPS: usize = 100;
pub(super) const MAX_SLEEP_SECS: u64 = 86_400;
/// AWS-RunShellScript's `executionTimeout` allows at most 48 hours.
pub(super) const MAX_COMMAND_TIMEOUT_SECS: u64 = 172_800;
pub(super) const MAX_AUTOMATION_TIMEOUT_SECS: u64 = 43_200;
/// GetCommandInvocation returns at most 24,000 characters of each stream.
pub(super) const MAX_OUTPUT_LIMIT: u32 = 24_000;
/// A metric query looks back at most 1440 minutes, so no longer period means anything.
pub(super) const MAX_PERIOD_SECS: u64 = 86_400;
/// SendCommand takes at most 50 instance ids.
pub(super) const MAX_TARGETS: usize = 50;

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
    pub(super) fn observes(&self) -> bool {
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

pub(super) fn default_document() -> String {
    SHELL_DOCUMENT.to_string()
}

pub(super) fn default_targets() -> Templates {
    Templates(vec![Template::new("{{ alarm.dimensions.InstanceId }}")])
}

pub(super) fn default_command_timeout() -> Span {
    Span::from_secs(600)
}

pub(super) fn default_automation_timeout() -> Span {
    Span::from_secs(1_800)
}

pub(super) fn default_output_limit() -> u32 {
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
    /// Document parameters; values may use only `{{ params.NAME }}` (checked, not
    /// quoted: the document decides how it uses them, a shell or an API call included).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Templates>,
    /// How long the execution may take before the step counts as timed out.
    #[serde(default = "default_automation_timeout")]
    pub timeout: Span,
    /// Values from the alarm or earlier steps that parameters may use, each with the
    /// pattern its whole value must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Param>,
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

pub(super) fn default_stat() -> String {
    "Average".to_string()
}

pub(super) fn default_period() -> Span {
    Span::from_secs(60)
}

pub(super) fn default_minutes() -> u32 {
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

pub(super) const CONDITION_NAMES: &str = "equals, not, gt, ge, lt, le, all, any";

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
