//! How a step is written: `{ id, <action>: {...} }` as one map, read and written by hand
//! because serde cannot say "exactly one action key beside the optional id".

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::ser::SerializeMap;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::runbook::model::*;

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
