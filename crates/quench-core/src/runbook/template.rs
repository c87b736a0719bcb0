//! `{{ path }}` templates for runbook step inputs.
//!
//! A template is checked twice: at config load, where every variable must be one that
//! can exist at that place (so a typo fails the deploy, not an incident at 3 a.m.), and
//! at render time, where a variable with no value is an error, never an empty string: an
//! empty instance id or process name would make a step do something other than asked.
//!
//! Values that reach a shell only ever come through declared parameters, each checked
//! against its own pattern and then single-quoted; see [`check_param`](crate::runbook::scope::check_param) and [`shell_quote`].

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string with `{{ path }}` placeholders, e.g. `"{{ alarm.dimensions.InstanceId }}"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(
    description = "Text with `{{ path }}` placeholders: alarm.name, alarm.region, alarm.account, alarm.arn, alarm.namespace, alarm.metric, alarm.dimensions.NAME, alarm.tags.KEY, incident.id, incident.title, incident.impact, plan, steps.ID.status, steps.ID.summary, steps.ID.output.KEY, params.NAME (run_command and automation only)."
)]
pub struct Template(String);

impl Template {
    pub fn new(source: impl Into<String>) -> Self {
        Template(source.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text and the variables, in order; fails on an unclosed `{{` or an unknown path.
    pub fn pieces(&self) -> Result<Vec<Piece<'_>>, TemplateError> {
        parse(&self.0)
    }

    /// Every variable the template uses.
    pub fn variables(&self) -> Result<Vec<Var>, TemplateError> {
        Ok(self
            .pieces()?
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Var(var) => Some(var),
                Piece::Text(_) => None,
            })
            .collect())
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Var(Var),
}

/// A variable a template can name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Var {
    AlarmName,
    AlarmRegion,
    AlarmAccount,
    AlarmArn,
    AlarmNamespace,
    AlarmMetric,
    AlarmDimension(String),
    AlarmTag(String),
    IncidentId,
    IncidentTitle,
    IncidentImpact,
    Plan,
    StepStatus(String),
    StepSummary(String),
    StepOutput { step: String, key: String },
    Param(String),
}

const KNOWN: &str = "alarm.name, alarm.region, alarm.account, alarm.arn, alarm.namespace, alarm.metric, alarm.dimensions.NAME, alarm.tags.KEY, incident.id, incident.title, incident.impact, plan, steps.ID.status, steps.ID.summary, steps.ID.output.KEY, params.NAME";

impl Var {
    /// Dimension names, tag keys and output keys may contain dots (`aws:cloudformation:
    /// stack-name` is a real tag key), so everything after their prefix is the key.
    pub fn parse(path: &str) -> Result<Var, TemplateError> {
        let unknown = || TemplateError::UnknownVariable {
            name: path.to_string(),
        };
        let keyed = |prefix: &str| {
            path.strip_prefix(prefix)
                .filter(|key| !key.is_empty())
                .map(str::to_string)
        };
        let var = match path {
            "alarm.name" => Var::AlarmName,
            "alarm.region" => Var::AlarmRegion,
            "alarm.account" => Var::AlarmAccount,
            "alarm.arn" => Var::AlarmArn,
            "alarm.namespace" => Var::AlarmNamespace,
            "alarm.metric" => Var::AlarmMetric,
            "incident.id" => Var::IncidentId,
            "incident.title" => Var::IncidentTitle,
            "incident.impact" => Var::IncidentImpact,
            "plan" => Var::Plan,
            _ => {
                if let Some(name) = keyed("alarm.dimensions.") {
                    Var::AlarmDimension(name)
                } else if let Some(key) = keyed("alarm.tags.") {
                    Var::AlarmTag(key)
                } else if let Some(name) = keyed("params.") {
                    if !name.chars().all(is_param_char) {
                        return Err(unknown());
                    }
                    Var::Param(name)
                } else if let Some(rest) = path.strip_prefix("steps.") {
                    let (step, field) = rest.split_once('.').ok_or_else(unknown)?;
                    if step.is_empty() {
                        return Err(unknown());
                    }
                    let step = step.to_string();
                    match field {
                        "status" => Var::StepStatus(step),
                        "summary" => Var::StepSummary(step),
                        _ => match field.strip_prefix("output.").filter(|k| !k.is_empty()) {
                            Some(key) => Var::StepOutput {
                                step,
                                key: key.to_string(),
                            },
                            None => return Err(unknown()),
                        },
                    }
                } else {
                    return Err(unknown());
                }
            }
        };
        Ok(var)
    }

    /// The step whose outcome this variable reads, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Var::StepStatus(step) | Var::StepSummary(step) | Var::StepOutput { step, .. } => {
                Some(step)
            }
            _ => None,
        }
    }
}

pub(crate) fn is_param_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::AlarmName => f.write_str("alarm.name"),
            Var::AlarmRegion => f.write_str("alarm.region"),
            Var::AlarmAccount => f.write_str("alarm.account"),
            Var::AlarmArn => f.write_str("alarm.arn"),
            Var::AlarmNamespace => f.write_str("alarm.namespace"),
            Var::AlarmMetric => f.write_str("alarm.metric"),
            Var::AlarmDimension(name) => write!(f, "alarm.dimensions.{name}"),
            Var::AlarmTag(key) => write!(f, "alarm.tags.{key}"),
            Var::IncidentId => f.write_str("incident.id"),
            Var::IncidentTitle => f.write_str("incident.title"),
            Var::IncidentImpact => f.write_str("incident.impact"),
            Var::Plan => f.write_str("plan"),
            Var::StepStatus(step) => write!(f, "steps.{step}.status"),
            Var::StepSummary(step) => write!(f, "steps.{step}.summary"),
            Var::StepOutput { step, key } => write!(f, "steps.{step}.output.{key}"),
            Var::Param(name) => write!(f, "params.{name}"),
        }
    }
}

fn parse(source: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| TemplateError::Syntax {
            template: preview(source),
            problem: "`{{` is never closed by `}}`".into(),
        })?;
        let path = after[..close].trim();
        if path.is_empty() || path.contains("{{") || path.chars().any(char::is_whitespace) {
            return Err(TemplateError::Syntax {
                template: preview(source),
                problem: format!("`{{{{ {path} }}}}` is not a variable path"),
            });
        }
        pieces.push(Piece::Var(Var::parse(path)?));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// A value declared for use in shell commands: where it comes from and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Where the value comes from, e.g. `"{{ alarm.dimensions.exe }}"`.
    pub from: Template,
    /// A regular expression the whole value must match, e.g. `^[A-Za-z0-9._-]{1,64}$`.
    /// Anchors are implied; only the regex-lite syntax (ASCII classes) is accepted.
    pub pattern: String,
}

/// Patterns are config, not attacker input, but a bound keeps a careless `{1000}{1000}`
/// from costing seconds per render.
const PATTERN_SIZE_LIMIT: usize = 64 * 1024;

/// Compiles a param pattern so that only a match of the whole value counts.
pub fn compile_pattern(pattern: &str) -> Result<regex_lite::Regex, String> {
    if pattern.trim().is_empty() {
        return Err("an empty pattern accepts anything; say what a value looks like".into());
    }
    // Checked alone first: `a)|(b` is invalid, but wrapped it would compile into an
    // alternation whose anchors no longer cover the whole pattern.
    build_regex(pattern)?;
    anchored(pattern)
}

/// The pattern wrapped so that only a match of the whole value counts. Only for patterns
/// [`compile_pattern`] accepted (config validation checks every one).
pub(crate) fn anchored(pattern: &str) -> Result<regex_lite::Regex, String> {
    build_regex(&format!(r"\A(?:{pattern})\z"))
}

fn build_regex(source: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::RegexBuilder::new(source)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string().replace('\n', " "))
}

/// POSIX sh single quoting: nothing inside `'...'` is special, and a `'` is written as
/// `'\''` (close, escaped quote, reopen).
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

const PREVIEW_CHARS: usize = 64;

/// A bounded, escaped copy of untrusted text for error messages: a newline or an escape
/// sequence in a dimension must not reach a log line or a chat message as itself.
pub fn preview(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(PREVIEW_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(PREVIEW_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum TemplateError {
    #[error("template `{template}` is malformed: {problem}")]
    Syntax { template: String, problem: String },
    #[error("unknown variable `{name}`; known: {KNOWN}")]
    UnknownVariable { name: String },
    #[error("`{{{{ {name} }}}}` has no value: {why}")]
    Missing { name: String, why: String },
    #[error("refused parameter `{param}`: value \"{value_preview}\" does not match its pattern `{pattern}`, so it was not used")]
    Refused {
        param: String,
        value_preview: String,
        pattern: String,
    },
    #[error("parameter `{param}` has an invalid pattern `{pattern}`: {problem}")]
    BadPattern {
        param: String,
        pattern: String,
        problem: String,
    },
}

/// A `{{ ... }}` placeholder inside shell quotes, which would undo the quoting
/// [`shell_quote`] adds (`'{{ params.x }}'` becomes `''value''`: unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuotedPlaceholder {
    /// Byte offset of the placeholder in the script.
    pub at: usize,
    /// Byte offset of the quote it is inside.
    pub opened_at: usize,
    pub text: String,
}

/// The placeholders inside shell quotes in `script`, read as one script: a quote opened
/// on one line is still open on the next, as a shell reads it.
pub(crate) fn quoted_placeholders(script: &str) -> Vec<QuotedPlaceholder> {
    let mut found = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut chars = script.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match (quote, c) {
            (None, '\\') | (Some(('"', _)), '\\') => {
                chars.next();
            }
            (None, '\'' | '"') => quote = Some((c, index)),
            (Some((open, _)), _) if c == open => quote = None,
            (Some((_, opened_at)), '{') if script[index..].starts_with("{{") => {
                let end = script[index..]
                    .find("}}")
                    .map_or(script.len(), |e| index + e + 2);
                found.push(QuotedPlaceholder {
                    at: index,
                    opened_at,
                    text: script[index..end].to_string(),
                });
            }
            _ => {}
        }
    }
    found
}
