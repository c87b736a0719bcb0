//! What a runbook may cost the state machine: the polls of a running step, and the
//! execution history of a whole run, which validation keeps under Step Functions' quota.

use super::*;

#[test]
fn a_runbook_that_could_outgrow_the_execution_history_is_refused() {
    // A 48-hour command in a loop: each turn may poll it for two days.
    let text = with_runbook(
        "    - id: check\n      run_command: { commands: [check], timeout: 48h }\n\
         \x20   - id: pause\n      sleep: 1m\n\
         \x20   - id: again\n      branch: { if: { equals: [\"{{ steps.check.output.exit_code }}\", 1] }, then: check }\n",
    );
    let error = error_of(&text);
    assert!(
        error.contains("`runbooks.r`") && error.contains("history events"),
        "{error}"
    );
}
