//! Runbooks: parsing, validation, templating (hostile values included) and the
//! interpreter's transitions, one module each; the shared config and facts are here.

use std::collections::BTreeMap;

use quench_core::config::Config;
use quench_core::duration::Span;
use quench_core::runbook::scope::{AlarmFacts, Facts, IncidentFacts, Scope};
use quench_core::runbook::template::{shell_quote, Param, Template, TemplateError};
use quench_core::runbook::{
    after_step, next_action, start, Action, Arm, Condition, Goto, Next, Outputs, Planned,
    RenderedAction, Runbook, StepOutcome, StepStatus, Transition, MAX_STEP_RUNS,
};

const EXAMPLE: &str = include_str!("../../../../infra/quench.yaml");

fn facts_with(dimensions: &[(&str, &str)]) -> Facts {
    Facts {
        alarm: AlarmFacts {
            name: "web-1-proc-gone".into(),
            arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-proc-gone".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            namespace: Some("CWAgent".into()),
            metric: Some("procstat_lookup_pid_count".into()),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: BTreeMap::from([("aws:cloudformation:stack-name".into(), "web".into())]),
        },
        incident: IncidentFacts {
            id: "inc-20260101T000000000Z-0123456789abcdef".into(),
            title: "Process gone: web-1-proc-gone".into(),
            impact: 2,
        },
        plan: "agent-process-gone".into(),
    }
}

fn facts() -> Facts {
    facts_with(&[("InstanceId", "i-0abc1234def567890"), ("exe", "nginx")])
}

fn example() -> Config {
    Config::parse(EXAMPLE).expect("example config is valid")
}

fn runbook(name: &str) -> Runbook {
    example().runbooks[name].clone()
}

/// A config with plan `p` running runbook `r`, whose steps are `steps` (YAML, indented
/// by four spaces).
fn with_runbook(steps: &str) -> String {
    format!("version: 1\nplans:\n  p: {{ impact: 3, runbook: r }}\nrunbooks:\n  r:\n{steps}")
}

fn parse_runbook(steps: &str) -> Runbook {
    Config::parse(&with_runbook(steps))
        .expect("valid runbook")
        .runbooks["r"]
        .clone()
}

fn error_of(text: &str) -> String {
    Config::parse(text)
        .expect_err("config must be refused")
        .to_string()
}

fn ok(output: &[(&str, &str)]) -> StepOutcome {
    output
        .iter()
        .fold(StepOutcome::succeeded("done"), |o, (k, v)| o.with(k, *v))
}

fn next_of(transition: Transition) -> Next {
    transition.next
}

fn plan_restart(exe: &str) -> Planned {
    let facts = facts_with(&[("InstanceId", "i-0abc1234def567890"), ("exe", exe)]);
    start(&runbook("restart-process"), &facts, &Outputs::default())
}

mod interpreter;
mod limits;
mod parsing;
mod reads;
mod templating;
mod validation;
