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
//!
//! Layout: `model` (the runbook as written), `syntax` (a step's hand-written serde),
//! `template` (the `{{ }}` step inputs), `scope` (what they render with), `outcome` (what crosses the state machine),
//! `interpreter` (what to do next), `validate` (the config-load checks), `graph` (where
//! steps lead), `limits` (polls and the execution history a run can cost), `reads` (the
//! earlier outcomes a turn of the interpreter reads).

pub(crate) mod graph;
pub(crate) mod interpreter;
pub mod limits;
pub(crate) mod model;
pub(crate) mod outcome;
pub(crate) mod reads;
pub mod scope;
pub(crate) mod syntax;
pub mod template;
#[cfg(test)]
mod tests;
pub(crate) mod validate;

pub use interpreter::{after_step, next_action, start};
pub use model::{
    Action, AlarmQuery, Automation, Branch, Condition, Goto, Instance, MetricQuery, Note, Operand,
    RunCommand, Runbook, Step, Templates, ACTION_NAMES, MAX_STEP_RUNS, SHELL_DOCUMENT,
};
pub use outcome::{
    bounded_reason, Arm, BranchTaken, ConditionError, Next, OutputValue, Outputs, Planned,
    RenderedAction, StepOutcome, StepStatus, Transition, MAX_REASON_BYTES,
};
pub use reads::{read_after, read_at};
