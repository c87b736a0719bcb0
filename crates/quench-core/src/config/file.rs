//! The whole configuration file: parsed strictly, then each section checks itself
//! against the names the others define.
//!
//! Loaded once per cold start. Parsing is strict (unknown fields are errors) and every
//! error names the field path, so a typo fails the deploy pipeline with a line a human
//! can act on instead of silently routing alarms to the default plan.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chat::channels::ChatConfig;
use crate::config::plan::{longest_quiet, Plan, Route};
use crate::config::vocabulary::{field, ConfigError, Names, Problems, Validate, Warning};
use crate::escalation::policy::{Contact, EscalationPolicy};
use crate::escalation::roster::Roster;
use crate::escalation::walk::check_wave_sizes;
use crate::oncall::schedule::Schedule;
use crate::runbook::model::Runbook;

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
        self.check().into_result()
    }

    /// What a valid config should still change, e.g. a channel kind past its end of
    /// support. Warnings never fail validation.
    pub fn warnings(&self) -> Vec<Warning> {
        self.check().into_warnings()
    }

    /// Every section checked against the names the others define.
    fn check(&self) -> Problems {
        let names = self.names();
        let mut problems = Problems::default();
        if self.version != 1 {
            problems.add(
                "version",
                format!("{} is not supported; use 1", self.version),
            );
        }
        if self.plans.is_empty() {
            problems.add("plans", "at least one plan is needed");
        }
        section(&mut problems, &names, "plan", "plans", &self.plans);
        self.chat.validate("chat", &names, &mut problems);
        section(&mut problems, &names, "contact", "contacts", &self.contacts);
        section(
            &mut problems,
            &names,
            "policy",
            "escalation_policies",
            &self.escalation_policies,
        );
        section(
            &mut problems,
            &names,
            "schedule",
            "schedules",
            &self.schedules,
        );
        for (index, route) in self.routes.iter().enumerate() {
            route.validate(&format!("routes[{index}]"), &names, &mut problems);
        }
        if let Some(default_plan) = &self.default_plan {
            if !names.plans.contains(default_plan.as_str()) {
                problems.add("default_plan", format!("no plan is named `{default_plan}`"));
            }
        }
        section(&mut problems, &names, "runbook", "runbooks", &self.runbooks);
        check_wave_sizes(&self.roster(), &mut problems);
        self.validate_safety_nets(&mut problems);
        problems
    }

    /// A plan's safety net must outlast its runbook's quiet stretches, or it would
    /// escalate an incident whose runbook is still at work.
    fn validate_safety_nets(&self, problems: &mut Problems) {
        for (name, plan) in &self.plans {
            let (Some(limit), Some(runbook)) = (plan.escalate_unhandled_after, &plan.runbook)
            else {
                continue;
            };
            let Some(quiet) = self.runbooks.get(runbook).map(longest_quiet) else {
                continue;
            };
            if limit <= quiet {
                problems.add(
                    format!("plans.{name}.escalate_unhandled_after"),
                    format!(
                        "`{limit}` is not longer than runbook `{runbook}` can go without a \
                         step finishing ({quiet}: its sleeps and its longest timeout), so the \
                         ticker would escalate incidents it is still working on"
                    ),
                );
            }
        }
    }

    /// Who can be paged and how: what an escalation reads of the file.
    pub fn roster(&self) -> Roster<'_> {
        Roster {
            contacts: &self.contacts,
            schedules: &self.schedules,
            policies: &self.escalation_policies,
        }
    }

    /// The names each section may refer to.
    fn names(&self) -> Names<'_> {
        Names {
            plans: self.plans.keys().map(String::as_str).collect(),
            runbooks: self.runbooks.keys().map(String::as_str).collect(),
            channels: self.chat.channels.keys().map(String::as_str).collect(),
            contacts: self.contacts.keys().map(String::as_str).collect(),
            schedules: self.schedules.keys().map(String::as_str).collect(),
            policies: self
                .escalation_policies
                .iter()
                .map(|(name, policy)| (name.as_str(), policy.first_stage_policies().collect()))
                .collect(),
        }
    }

    /// The JSON Schema of the file, generated from these types.
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::schema_for!(Config);
        serde_json::to_value(schema).unwrap_or_default()
    }
}

/// Checks every named item of a section: its name, then the item itself at
/// `<section>.<name>`.
fn section<T: Validate>(
    problems: &mut Problems,
    names: &Names<'_>,
    kind: &str,
    path: &str,
    items: &BTreeMap<String, T>,
) {
    for (name, item) in items {
        let at = format!("{path}.{name}");
        problems.check_name(kind, &at, name);
        item.validate(&at, names, problems);
    }
}

/// serde_yaml_ng appends "at line L column C" to messages; the path already locates the
/// problem, and keeping both reads twice.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}
