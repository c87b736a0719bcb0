//! The interpreter: from (runbook, position, facts, outputs) to the next action, with
//! conditions evaluated and step inputs rendered.

use std::collections::BTreeMap;

use crate::runbook::model::*;
use crate::runbook::outcome::*;
use crate::runbook::scope::{check_param, Facts, Scope};
use crate::runbook::template::{shell_quote, Param, Template, TemplateError};

pub(super) enum Value {
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
        self.number().ok_or_else(|| {
            ConditionError::NotANumber(crate::runbook::template::preview(&self.text()))
        })
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

    pub(super) fn operands(&self) -> Vec<&Operand> {
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

pub(super) enum Stop {
    Execute(usize),
    Done(Next),
}

/// Follows control steps from `index` until a step to execute, a wait, or an end.
pub(super) fn walk(
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
                    checked_at: None,
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
                            checked_at: None,
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

pub(super) fn reason_text(
    reason: Option<&Template>,
    scope: &Scope<'_>,
    id: &str,
    verb: &str,
) -> String {
    match reason.map(|r| r.render(scope)) {
        None => format!("step `{id}` {verb} the incident"),
        Some(Ok(text)) => bounded_reason(&text),
        Some(Err(e)) => bounded_reason(&format!(
            "step `{id}` {verb} the incident (its reason could not be rendered: {e})"
        )),
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
            reason: bounded_reason(&reason),
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

pub(super) fn render_all(
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
pub(super) fn render_nonempty(
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

/// Every declared param, each refused unless its whole value matches its pattern.
fn checked_params(
    params: &BTreeMap<String, Param>,
    scope: &Scope<'_>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    params
        .iter()
        .map(|(name, param)| Ok((name.clone(), check_param(name, param, scope)?)))
        .collect()
}

pub(super) fn render(action: &Action, scope: &Scope<'_>) -> Result<RenderedAction, TemplateError> {
    Ok(match action {
        Action::RunCommand(rc) => {
            let checked = checked_params(&rc.params, scope)?;
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
            let checked = checked_params(&a.params, scope)?;
            let with_params = Scope {
                params: Some(&checked),
                ..*scope
            };
            let mut parameters = BTreeMap::new();
            for (name, values) in &a.parameters {
                parameters.insert(name.clone(), render_all(values, &with_params, name)?);
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
