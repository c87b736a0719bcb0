//! What every config section speaks when it checks itself: the error type, warnings,
//! the field paths that locate a problem, name rules, and the names the rest of the file
//! defines.
//! It imports nothing of the domain, so any section can use it without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("config field `{path}`: {problem}")]
    Field { path: String, problem: String },
    #[error("config is invalid:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// Something a valid config should change (a deprecated channel kind), at a field path.
/// It never fails validation; `quench-config validate` prints it, the functions log it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config field `{path}`: {message}")]
pub struct Warning {
    pub path: String,
    pub message: String,
}

/// A problem at a field path (`plans.web.impact`, `runbooks.fix.steps[2].run_command`).
pub fn field(path: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Names of plans, runbooks, channels, contacts, schedules and policies: what a field
/// path and an ARN can carry unescaped.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The problems and warnings found so far, in the order the file is checked.
#[derive(Debug, Default)]
pub struct Problems {
    errors: Vec<ConfigError>,
    warnings: Vec<Warning>,
}

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(field(path, problem));
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }

    /// A name problem at `at` when `name` breaks [`valid_name`]; `kind` is the plural
    /// noun of the section (`plan`, `schedule`, ...).
    pub fn check_name(&mut self, kind: &str, at: &str, name: &str) {
        if !valid_name(name) {
            self.add(
                at,
                format!("{kind} names use letters, digits, `-` and `_` only (at most 64)"),
            );
        }
    }

    /// A problem at `at` when `value` is more than the `max` its field allows.
    pub fn check_at_most<T: PartialOrd + Display>(
        &mut self,
        at: impl Into<String>,
        value: T,
        max: T,
    ) {
        if value > max {
            self.add(
                at,
                format!("`{value}` is more than this allows: at most {max}"),
            );
        }
    }

    /// Whether no problem was found (warnings aside).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// None, one problem as itself, or several as [`ConfigError::Invalid`].
    pub fn into_result(mut self) -> Result<(), ConfigError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(self.errors.remove(0)),
            _ => Err(ConfigError::Invalid(self.errors)),
        }
    }

    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
    }
}

/// What a section may refer to: the names the file defines, and which policies the first
/// stage of each policy hands over to (to find cycles between policies).
#[derive(Debug, Default)]
pub struct Names<'a> {
    pub plans: BTreeSet<&'a str>,
    pub runbooks: BTreeSet<&'a str>,
    pub channels: BTreeSet<&'a str>,
    pub contacts: BTreeSet<&'a str>,
    pub schedules: BTreeSet<&'a str>,
    pub policies: BTreeMap<&'a str, Vec<&'a str>>,
}

/// How every config section checks itself: `at` is its field path, problems are added
/// in the order the section's fields are written.
pub trait Validate {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems);
}
