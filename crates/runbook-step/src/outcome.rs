//! What acting on or polling a step came to, and how text becomes a summary.

use quench_aws::handler::HandlerError;
use quench_core::ports::ActionError;
use quench_core::runbook::{StepOutcome, StepStatus};
use quench_core::text::sanitize_output;

use crate::Pending;

/// Timeline summaries are at most this many bytes.
const SUMMARY_LIMIT: u32 = 1_024;

/// What executing or polling a step came to.
pub(crate) enum Progress {
    Finished(StepOutcome),
    Running(Pending),
}

pub(crate) fn summary(text: &str) -> String {
    sanitize_output(text, SUMMARY_LIMIT)
}

/// A failed call: retryable ones become the invocation's error (the state machine
/// retries the whole step), the others the step's failed outcome.
pub(crate) fn failed(error: ActionError) -> Result<Progress, HandlerError> {
    if error.is_retryable() {
        Err(HandlerError::Retryable(error.to_string()))
    } else {
        Ok(Progress::Finished(StepOutcome::with_status(
            StepStatus::Failed,
            summary(&error.to_string()),
        )))
    }
}
