//! What a template renders with: the incident's facts, the outcomes of the steps run
//! so far, and the checked parameters of a shell command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::incident::record::IncidentRecord;
use crate::runbook::outcome::{OutputValue, Outputs, StepOutcome};
use crate::runbook::template::{anchored, preview, Param, Piece, Template, TemplateError, Var};

/// What a template can read: the incident's facts, the outcomes of the steps run so far,
/// and (inside `run_command`) the checked parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub alarm: AlarmFacts,
    pub incident: IncidentFacts,
    pub plan: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmFacts {
    pub name: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub id: String,
    pub title: String,
    pub impact: u8,
}

impl Facts {
    /// The facts of the alarm that opened the incident, as its trigger recorded them.
    pub fn of_incident(incident: &IncidentRecord) -> Self {
        let trigger = &incident.trigger;
        Facts {
            alarm: AlarmFacts {
                name: trigger.alarm_name.clone(),
                arn: trigger.alarm_arn.clone(),
                account: trigger.account.clone(),
                region: trigger.region.clone(),
                namespace: trigger.namespace.clone(),
                metric: trigger.metric.clone(),
                dimensions: trigger.dimensions.clone(),
                tags: trigger.tags.clone(),
            },
            incident: IncidentFacts {
                id: incident.id.clone(),
                title: incident.title.clone(),
                impact: incident.impact,
            },
            plan: incident.plan.clone(),
        }
    }
}

/// Everything a render can see. `latest` is an outcome not yet recorded in `outputs`
/// (the one being decided on), so deciding needs no copy of the outputs.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub facts: &'a Facts,
    pub outputs: &'a Outputs,
    pub latest: Option<(&'a str, &'a StepOutcome)>,
    pub params: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Scope<'a> {
    pub fn new(facts: &'a Facts, outputs: &'a Outputs) -> Self {
        Scope {
            facts,
            outputs,
            latest: None,
            params: None,
        }
    }

    fn step(&self, id: &str) -> Option<&'a StepOutcome> {
        match self.latest {
            Some((latest, outcome)) if latest == id => Some(outcome),
            _ => self.outputs.steps.get(id),
        }
    }

    pub fn value(&self, var: &Var) -> Result<String, TemplateError> {
        let missing = |why: String| TemplateError::Missing {
            name: var.to_string(),
            why,
        };
        let alarm = &self.facts.alarm;
        let value = match var {
            Var::AlarmName => alarm.name.clone(),
            Var::AlarmRegion => alarm.region.clone(),
            Var::AlarmAccount => alarm.account.clone(),
            Var::AlarmArn => alarm.arn.clone(),
            Var::AlarmNamespace => alarm.namespace.clone().ok_or_else(|| {
                missing("the alarm watches no single metric (composite or math alarm)".into())
            })?,
            Var::AlarmMetric => alarm.metric.clone().ok_or_else(|| {
                missing("the alarm watches no single metric (composite or math alarm)".into())
            })?,
            Var::AlarmDimension(name) => alarm
                .dimensions
                .get(name)
                .cloned()
                .ok_or_else(|| missing(format!("the alarm has no dimension `{name}`")))?,
            Var::AlarmTag(key) => alarm
                .tags
                .get(key)
                .cloned()
                .ok_or_else(|| missing(format!("the alarm has no tag `{key}`")))?,
            Var::IncidentId => self.facts.incident.id.clone(),
            Var::IncidentTitle => self.facts.incident.title.clone(),
            Var::IncidentImpact => self.facts.incident.impact.to_string(),
            Var::Plan => self.facts.plan.clone(),
            Var::StepStatus(step) => self.ran(step, &missing)?.status.as_str().to_string(),
            Var::StepSummary(step) => self.ran(step, &missing)?.summary.clone(),
            Var::StepOutput { step, key } => self
                .ran(step, &missing)?
                .output
                .get(key)
                .map(OutputValue::to_string)
                .ok_or_else(|| missing(format!("step `{step}` has no output `{key}`")))?,
            Var::Param(name) => self
                .params
                .and_then(|params| params.get(name))
                .cloned()
                .ok_or_else(|| missing(format!("no parameter `{name}` is declared here")))?,
        };
        Ok(value)
    }

    fn ran(
        &self,
        step: &str,
        missing: &dyn Fn(String) -> TemplateError,
    ) -> Result<&'a StepOutcome, TemplateError> {
        self.step(step)
            .ok_or_else(|| missing(format!("step `{step}` has not run")))
    }
}

/// Renders `param.from` and refuses it unless the whole value matches the pattern. The
/// value returned is raw; quote it with [`shell_quote`](crate::runbook::template::shell_quote) before it meets a shell.
pub fn check_param(name: &str, param: &Param, scope: &Scope<'_>) -> Result<String, TemplateError> {
    let unparameterised = Scope {
        params: None,
        ..*scope
    };
    let value = param.from.render(&unparameterised)?;
    let regex = anchored(&param.pattern).map_err(|problem| TemplateError::BadPattern {
        param: name.to_string(),
        pattern: param.pattern.clone(),
        problem,
    })?;
    if regex.is_match(&value) {
        Ok(value)
    } else {
        Err(TemplateError::Refused {
            param: name.to_string(),
            value_preview: preview(&value),
            pattern: param.pattern.clone(),
        })
    }
}

// Rendering lives with the scope it reads, so the template syntax needs no outcomes.
impl Template {
    pub fn render(&self, scope: &Scope<'_>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.as_str().len());
        for piece in self.pieces()? {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var(var) => out.push_str(&scope.value(&var)?),
            }
        }
        Ok(out)
    }
}
