//! What a runbook may cost the state machine: the polls of a running step, and the
//! execution history of a whole run, which validation keeps under Step Functions' quota.

use quench_core::runbook::limits;

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

#[test]
fn polls_wait_five_seconds_then_twice_as_long_each_time_up_to_five_minutes() {
    let waits: Vec<u64> = (0..9).map(limits::poll_wait).collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(limits::poll_wait(u32::MAX), 300);
}

#[test]
fn a_step_is_polled_until_its_timeout_and_the_grace_after_it() {
    // The waits add up to 5, 15, 35, 75, 155, 315, then 300 more each.
    for (timeout, polls) in [
        // 60 s + 120 s of grace: covered by the sixth wait (315 s).
        (60, 6),
        // 720 s: six waits (315 s) and two of five minutes (915 s).
        (600, 8),
        // 172,920 s: six waits and 576 of five minutes.
        (48 * 3_600, 582),
    ] {
        assert_eq!(limits::poll_budget(timeout), polls, "{timeout} s");
    }
    assert_eq!(limits::poll_budget(u64::MAX), u32::MAX);
}

/// Three 48-hour commands and a fourth of `timeout`, one after the other.
fn three_long_commands_and(timeout: &str) -> String {
    let mut steps = String::new();
    for (id, timeout) in [("a", "48h"), ("b", "48h"), ("c", "48h"), ("d", timeout)] {
        steps.push_str(&format!(
            "    - id: {id}\n      run_command: {{ commands: [work], timeout: {timeout} }}\n"
        ));
    }
    with_runbook(&steps)
}

#[test]
fn the_history_budget_holds_to_the_event() {
    // A 48-hour command: sent, then polled 582 times, the last poll finding it timed
    // out: 582 turns of the poll loop (11 events each) and 14 for the finish, 6,416.
    // Three of them and the 100 around the runbook: 19,348. A fourth command of
    // 15,795 s is polled 58 times (six waits, then 52 of five minutes cover 15,915 s):
    // 652 more, which makes 20,000.
    let at_budget = Config::parse(&three_long_commands_and("15795s")).expect("at the budget");
    assert_eq!(
        limits::worst_case_history(&at_budget.runbooks["r"]),
        limits::HISTORY_BUDGET
    );
    // One second more needs a 59th poll: 11 events over.
    let error = error_of(&three_long_commands_and("15796s"));
    assert!(
        error.contains("`runbooks.r`") && error.contains("20011 Step Functions history events"),
        "{error}"
    );
}

#[test]
fn the_example_runbooks_cost_a_fraction_of_the_history_quota() {
    for (name, runbook) in &example().runbooks {
        let events = limits::worst_case_history(runbook);
        assert!(
            events < limits::HISTORY_BUDGET / 10,
            "{name}: {events} events at worst"
        );
    }
}

#[test]
fn a_wait_loop_counts_every_turn() {
    // status (14) and a sleep (11) in a loop: 100 runs of the status check and 101
    // passes of the sleep, and the 100 around the runbook.
    let runbook = parse_runbook(
        "    - id: status\n      ec2.status: { instance: i-1 }\n\
         \x20   - id: pause\n      sleep: 30s\n\
         \x20   - id: again\n      branch: { if: { equals: [\"{{ steps.status.output.instance_state }}\", pending] }, then: status }\n",
    );
    assert_eq!(
        limits::worst_case_history(&runbook),
        100 + 100 * 14 + 101 * 11
    );
}
