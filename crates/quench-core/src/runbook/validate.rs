//! The checks a runbook passes at config load: step ids, documents, limits, that every
//! variable can exist where it is used, and that every loop waits and works.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::vocabulary::{Names, Problems, Validate};
use crate::duration::Span;
use crate::runbook::graph::reaches;
use crate::runbook::limits::{worst_case_history, HISTORY_BUDGET, HISTORY_QUOTA};
use crate::runbook::model::*;
use crate::runbook::template::{
    compile_pattern, is_param_char, quoted_placeholders, Param, Template, Var,
};

pub(super) fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// SSM document names: letters, digits, `_ - .`, 3-128 long; ARNs add `: /`.
pub(super) fn valid_document(name: &str) -> bool {
    (3..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

/// What a template at one place may name.
#[derive(Clone, Copy)]
pub(super) enum Place<'a> {
    /// Anything but params.
    Anywhere,
    /// Shell commands and document parameters (`run_command`, `automation`): params only.
    ParamsOnly {
        declared: &'a BTreeMap<String, Param>,
        what: &'a str,
        why: &'a str,
    },
}

pub(super) struct Checker<'a> {
    pub(super) at: &'a str,
    pub(super) runbook: &'a Runbook,
    pub(super) ids: BTreeMap<&'a str, usize>,
    pub(super) problems: &'a mut Problems,
}

impl Checker<'_> {
    fn at(&self, index: usize) -> String {
        format!("{}[{index}]", self.at)
    }

    fn template(&mut self, path: &str, index: usize, template: &Template, place: Place<'_>) {
        let vars = match template.variables() {
            Ok(vars) => vars,
            Err(e) => return self.problems.add(path, e.to_string()),
        };
        for var in vars {
            match (&var, place) {
                (Var::Param(name), Place::ParamsOnly { declared, .. }) => {
                    if !declared.contains_key(name) {
                        self.problems.add(path,
                            format!("`{{{{ {var} }}}}` is not declared under `params`"),
                        );
                    }
                }
                (Var::Param(_), Place::Anywhere) => self.problems.add(path,
                    format!("`{{{{ {var} }}}}`: params exist only in run_command and automation `commands` and `parameters`"),
                ),
                (_, Place::ParamsOnly { what, why, .. }) => self.problems.add(path,
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
            return self.problems.add(
                path,
                format!("`{{{{ {var} }}}}`: no step `{step}` in this runbook"),
            );
        };
        if at >= index {
            return self.problems.add(
                path,
                format!("`{{{{ {var} }}}}`: step `{step}` does not come before this step"),
            );
        }
        let Some(action) = self.runbook.steps.get(at).map(|s| &s.action) else {
            return;
        };
        if !action.is_executed() {
            return self.problems.add(
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
                self.problems.add(path,
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
            self.problems.add(path, "give at least one value");
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
            self.problems.add(path, "empty");
        }
        self.template(path, index, template, Place::Anywhere);
    }

    fn span(&mut self, path: &str, span: Span, max_secs: u64) {
        let max = Span::from_secs(max_secs);
        if span == Span::ZERO || span > max {
            self.problems
                .add(path, format!("`{span}` is not between 1s and {max}"));
        }
    }

    /// AWS-RunShellScript runs `commands` as one script, a line each: a quote opened in
    /// one command and closed in a later one still holds the placeholders between.
    fn quoting(&mut self, at: &str, commands: &[Template]) {
        let mut starts = Vec::with_capacity(commands.len());
        let mut script = String::new();
        for command in commands {
            if !starts.is_empty() {
                script.push('\n');
            }
            starts.push(script.len());
            script.push_str(command.as_str());
        }
        let command_at = |offset: usize| starts.partition_point(|s| *s <= offset).saturating_sub(1);
        for quoted in quoted_placeholders(&script) {
            let (i, opened) = (command_at(quoted.at), command_at(quoted.opened_at));
            let text = &quoted.text;
            let problem = if opened == i {
                format!("`{text}` is inside quotes, which would undo the quoting Quench adds: write it bare")
            } else {
                format!(
                    "`{text}` is inside a quote opened in commands[{opened}] (the commands run as one script), which would undo the quoting Quench adds: close the quote on its own line and write the placeholder bare"
                )
            };
            self.problems.add(format!("{at}.commands[{i}]"), problem);
        }
    }

    /// A step's declared `params`: names, sources and patterns, and that each is used
    /// (`used`: the params its templates name).
    fn params(
        &mut self,
        at: &str,
        index: usize,
        params: &BTreeMap<String, Param>,
        used: &BTreeSet<String>,
    ) {
        for (name, param) in params {
            let path = format!("{at}.params.{name}");
            if name.is_empty() || !name.chars().all(is_param_char) {
                self.problems
                    .add(&path, "param names use lowercase letters, digits and `_`");
            }
            self.template(&format!("{path}.from"), index, &param.from, Place::Anywhere);
            if let Err(e) = compile_pattern(&param.pattern) {
                self.problems.add(
                    format!("{path}.pattern"),
                    format!("`{}` is not a valid pattern: {e}", param.pattern),
                );
            }
            if !used.contains(name) {
                self.problems.add(&path, "declared but never used");
            }
        }
    }

    /// A document's parameters, which take alarm data only through checked `params`:
    /// the document may hand them to a shell, and anyone who can create an alarm
    /// chooses its dimensions. Adds the params they name to `used`.
    fn document_parameters(
        &mut self,
        at: &str,
        index: usize,
        parameters: &BTreeMap<String, Templates>,
        place: Place<'_>,
        used: &mut BTreeSet<String>,
    ) {
        for (name, values) in parameters {
            self.templates(&format!("{at}.parameters.{name}"), index, values, place);
            for value in &values.0 {
                collect_params(value, used);
            }
        }
    }

    fn run_command(&mut self, at: &str, index: usize, rc: &RunCommand) {
        if !valid_document(&rc.document) {
            self.problems.add(
                format!("{at}.document"),
                format!("`{}` is not an SSM document name or ARN", rc.document),
            );
        }
        let mut used = BTreeSet::new();
        if rc.is_shell() {
            if rc.commands.is_empty() {
                self.problems.add(
                    format!("{at}.commands"),
                    format!("{SHELL_DOCUMENT} needs at least one command"),
                );
            }
            if !rc.parameters.is_empty() {
                self.problems.add(format!("{at}.parameters"),
                    format!("{SHELL_DOCUMENT} takes `commands`, whose values are quoted; `parameters` would bypass that"),
                );
            }
            let place = Place::ParamsOnly {
                declared: &rc.params,
                what: "a shell command",
                why: "alarm data is untrusted",
            };
            for (i, command) in rc.commands.iter().enumerate() {
                self.template(&format!("{at}.commands[{i}]"), index, command, place);
                collect_params(command, &mut used);
            }
            self.quoting(at, &rc.commands);
        } else {
            if !rc.commands.is_empty() {
                self.problems.add(
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
            self.document_parameters(at, index, &rc.parameters, place, &mut used);
        }
        self.params(at, index, &rc.params, &used);
        if rc.targets.0.len() > MAX_TARGETS {
            self.problems.add(
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
            self.problems.add(
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
                    self.problems.add(
                        format!("{at}.document"),
                        format!("`{}` is not an SSM document name or ARN", a.document),
                    );
                }
                let place = Place::ParamsOnly {
                    declared: &a.params,
                    what: "automation parameters",
                    why: "an automation document may hand them to a shell or an API call",
                };
                let mut used = BTreeSet::new();
                self.document_parameters(&at, index, &a.parameters, place, &mut used);
                self.params(&at, index, &a.params, &used);
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
                    self.problems.add(format!("{at}.stat"), "empty");
                }
                let period = q.period.as_secs();
                if !(matches!(period, 1 | 5 | 10 | 30)
                    || (period > 0 && period % 60 == 0 && period <= MAX_PERIOD_SECS))
                {
                    self.problems.add(
                        format!("{at}.period"),
                        format!(
                            "`{}` is not 1s, 5s, 10s, 30s or a whole number of minutes, at most 1d",
                            q.period
                        ),
                    );
                }
                if !(1..=1_440).contains(&q.minutes) {
                    self.problems.add(
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
                self.problems
                    .add(path, "`all` and `any` need at least one condition");
            }
        }
        for operand in condition.operands() {
            match operand {
                Operand::Number(n) if !n.is_finite() => {
                    self.problems
                        .add(path, format!("{n} is not a finite number"));
                }
                Operand::Text(t) => self.template(path, index, t, Place::Anywhere),
                _ => {}
            }
        }
    }

    fn goto(&mut self, path: &str, goto: &Goto) {
        if let Goto::Step(target) = goto {
            if !self.ids.contains_key(target.as_str()) {
                self.problems.add(
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
                    self.problems.add(&path,
                        format!("a loop without a wait: steps `{target}`..`{}` can repeat with no `sleep` between turns", step.id),
                    );
                } else if reaches(self.runbook, v, u, Action::observes) {
                    self.problems.add(&path,
                        format!("a loop that checks nothing: steps `{target}`..`{}` can repeat without running a step, so its outcome can never change", step.id),
                    );
                }
            }
        }
    }
}

pub(super) fn collect_params(template: &Template, used: &mut BTreeSet<String>) {
    if let Ok(vars) = template.variables() {
        for var in vars {
            if let Var::Param(name) = var {
                used.insert(name);
            }
        }
    }
}

/// Checks what the types cannot: names, ids, references, loops, shell safety.
impl Validate for Runbook {
    fn validate(&self, at: &str, _names: &Names<'_>, problems: &mut Problems) {
        check(at, self, problems);
    }
}

fn check(at: &str, runbook: &Runbook, problems: &mut Problems) {
    if runbook.steps.is_empty() {
        return problems.add(at, "a runbook needs at least one step");
    }
    if runbook.steps.len() > MAX_STEPS {
        problems.add(at, format!("at most {MAX_STEPS} steps"));
    }
    let mut ids = BTreeMap::new();
    for (index, step) in runbook.steps.iter().enumerate() {
        let path = format!("{at}[{index}].id");
        if !valid_step_id(&step.id) {
            problems.add(
                &path,
                format!(
                    "`{}`: step ids use lowercase letters, digits, `-` and `_` (at most 64)",
                    step.id
                ),
            );
        } else if matches!(step.id.as_str(), "resolve" | "escalate") {
            problems.add(
                &path,
                format!("`{}` is reserved for branch targets", step.id),
            );
        }
        if let Some(first) = ids.insert(step.id.as_str(), index) {
            problems.add(
                &path,
                format!("`{}` is also the id of step {first}", step.id),
            );
            ids.insert(step.id.as_str(), first);
        }
    }
    let mut checker = Checker {
        at,
        runbook,
        ids,
        problems,
    };
    for (index, step) in runbook.steps.iter().enumerate() {
        checker.step(index, step);
    }
    checker.loops();
    let events = worst_case_history(runbook);
    if events > HISTORY_BUDGET {
        problems.add(
            at,
            format!(
                "at worst a run adds {events} Step Functions history events (each command and automation polled until its timeout, each loop run {MAX_STEP_RUNS} times), over the {HISTORY_BUDGET} allowed of the execution's {HISTORY_QUOTA}: shorten timeouts or take long steps out of loops"
            ),
        );
    }
}
