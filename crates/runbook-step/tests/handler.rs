//! The handler over in-memory fakes of its ports: the paths the local stack cannot show
//! (SSM Automation, throttling, a claim left by a dead attempt, a command that never
//! finishes).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use quench_aws::fake::{lock, FakeActions, MemoryStore};
use quench_core::config::Config;
use quench_core::incident::IncidentRecord;
use quench_core::ports::{
    ActionError, AutomationFinished, AutomationResult, CommandResult, StepClaim,
};
use quench_core::runbook::{Next, StepOutcome, StepStatus};
use runbook_step::{
    Handler, HandlerError, IncidentRef, PendingHandle, Request, Response, BUNDLED_CONFIG,
};

fn incident() -> IncidentRecord {
    serde_json::from_value(serde_json::json!({
        "id": "inc-1",
        "dedup_key": "dims:InstanceId=i-1",
        "plan": "ec2-instance-health",
        "impact": 2,
        "title": "Instance status check failed",
        "status": "OPEN",
        "created_at": "2026-11-20T10:00:00Z",
        "series": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-status"],
        "trigger": {
            "alarm_name": "web-1-status",
            "alarm_arn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-status",
            "account": "123456789012",
            "region": "eu-west-1",
            "namespace": "AWS/EC2",
            "metric": "StatusCheckFailed_Instance",
            "dimensions": { "InstanceId": "i-1" },
            "reason": "Threshold Crossed",
            "tags": { "team": "web" }
        },
        "version": 1
    }))
    .expect("incident")
}

fn handler() -> Handler<MemoryStore, FakeActions> {
    Handler {
        config: Config::parse(BUNDLED_CONFIG).expect("config"),
        store: MemoryStore::new().with_incident(incident()),
        actions: FakeActions::default(),
        max_wait_seconds: None,
    }
}

fn begin(runbook: &str) -> Request {
    Request {
        incident: IncidentRef {
            incident_id: "inc-1".into(),
            dedup_key: None,
            plan: None,
            episode: None,
        },
        runbook: runbook.into(),
        position: None,
        outputs: Default::default(),
        pending: None,
        next: None,
    }
}

/// The outcome of `step`'s latest run, as recorded in the table.
fn recorded(h: &Handler<MemoryStore, FakeActions>, step: &str) -> StepOutcome {
    h.store
        .outcomes()
        .into_iter()
        .filter(|(run, _)| run.step == step)
        .max_by_key(|(run, _)| run.run)
        .map(|(_, outcome)| outcome)
        .expect("an outcome is recorded")
}

fn again(response: &Response) -> Request {
    serde_json::from_value(serde_json::to_value(response).expect("json")).expect("request")
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:05:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn automation_starts_once_with_a_client_token_and_is_polled_to_its_outputs() {
    let h = handler();
    let first = begin("im-automation");
    let started = h
        .handle_request(first.clone(), t0())
        .await
        .expect("started");
    let retried = h.handle_request(first, t0()).await.expect("retried");
    assert_eq!(started, retried);
    let acted = h.actions.acted();
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert!(acted[0].starts_with("start AWS-RestartEC2Instance {\"InstanceId\": [\"i-1\"]} token="));
    assert_eq!(
        started.next,
        Next::Poll {
            step: "restart".into()
        }
    );
    assert_eq!(started.wait_seconds, 5);
    assert!(matches!(
        started.pending.as_ref().map(|p| &p.handle),
        Some(PendingHandle::Automation { execution_id }) if execution_id == "exec-1"
    ));

    // Still running: poll again later, waiting longer.
    let polled = h
        .handle_request(again(&started), t0() + Duration::seconds(10))
        .await
        .expect("poll");
    assert_eq!(polled.next.kind(), "poll");
    assert_eq!(polled.pending.as_ref().map(|p| p.polls), Some(1));
    assert_eq!(polled.wait_seconds, 10);
    let polled = h
        .handle_request(again(&polled), t0() + Duration::seconds(20))
        .await
        .expect("poll");
    assert_eq!(polled.wait_seconds, 20);
    // A 15-minute automation is polled until its timeout and two minutes more: 1,020 s
    // are covered by the waits of 5, 10, 20, 40, 80, 160 s and three of 300 s.
    assert_eq!(polled.pending.as_ref().map(|p| p.max_polls), Some(9));

    lock(&h.actions.automations).push_back(AutomationResult::Finished(AutomationFinished {
        status: StepStatus::Succeeded,
        detail: "Success".into(),
        outputs: BTreeMap::from([(
            "startInstances.InstanceStates".to_string(),
            vec!["running".to_string()],
        )]),
        failure: None,
    }));
    let done = h
        .handle_request(again(&polled), t0() + Duration::seconds(60))
        .await
        .expect("done");
    let outcome = done.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::Succeeded);
    // The outputs are in the table, where the next step's templates read them.
    assert_eq!(done.outputs.steps.get("restart"), Some(&0));
    let recorded = recorded(&h, "restart");
    assert_eq!(recorded.output["execution_id"].to_string(), "exec-1");
    assert_eq!(
        recorded.output["startInstances.InstanceStates"].to_string(),
        "running"
    );
    assert_eq!(
        done.next,
        Next::Step {
            step: "status".into()
        }
    );
    assert_eq!(done.pending, None);
    assert_eq!(h.store.events("inc-1").len(), 1);
}

#[tokio::test]
async fn a_retried_reboot_reboots_once() {
    let h = handler();
    let first = begin("reboot-and-verify");
    let a = h.handle_request(first.clone(), t0()).await.expect("first");
    let b = h.handle_request(first, t0()).await.expect("retry");
    assert_eq!(a, b);
    assert_eq!(h.actions.acted(), vec!["reboot i-1".to_string()]);
    assert_eq!(h.store.events("inc-1").len(), 1);
}

#[tokio::test]
async fn a_reboot_claimed_without_a_result_counts_as_requested_and_is_not_repeated() {
    let h = handler();
    // An earlier attempt claimed the reboot and died before recording what happened.
    h.store.put_claim(StepClaim {
        incident_id: "inc-1".into(),
        episode: 0,
        run: 0,
        step: "reboot".into(),
        claimed_at: t0(),
        handle: None,
    });
    let response = h
        .handle_request(begin("reboot-and-verify"), t0())
        .await
        .expect("handled");
    assert!(h.actions.acted().is_empty());
    let outcome = response.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::Succeeded);
    assert!(
        outcome.summary.contains("counts as requested")
            && outcome.summary.contains("now running, instance status ok"),
        "{}",
        outcome.summary
    );
    assert!(
        matches!(response.next, Next::Wait { .. }),
        "{:?}",
        response.next
    );
    let handles: Vec<Option<String>> = h.store.claims().into_iter().map(|c| c.handle).collect();
    assert_eq!(handles, vec![Some("unconfirmed".to_string())]);
}

#[tokio::test]
async fn a_reboot_whose_answer_was_lost_is_retried_without_rebooting_again() {
    let h = handler();
    *lock(&h.actions.lost_answers) = 1;
    let first = begin("reboot-and-verify");
    let error = h
        .handle_request(first.clone(), t0())
        .await
        .expect_err("answer lost");
    assert_eq!(error.error_type(), "Retryable");
    let retried = h.handle_request(first, t0()).await.expect("retried");
    assert_eq!(h.actions.acted(), vec!["reboot i-1".to_string()]);
    let outcome = retried.outcome.as_ref().expect("outcome");
    assert!(
        outcome
            .summary
            .contains("answer to an earlier request was lost"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_throttled_send_is_a_retryable_error_and_the_retry_sends() {
    let h = handler();
    lock(&h.actions.send_errors).push_back(ActionError::Throttled("Rate exceeded".into()));
    let mut request = begin("cpu-diagnostics");
    request.incident.incident_id = "inc-1".into();
    let error = h
        .handle_request(request.clone(), t0())
        .await
        .expect_err("throttled");
    assert!(matches!(error, HandlerError::Retryable(_)));
    assert_eq!(error.error_type(), "Retryable");
    assert!(h.store.claims().is_empty(), "claim released");
    let sent = h.handle_request(request, t0()).await.expect("sent");
    assert_eq!(sent.next.kind(), "poll");
    assert_eq!(
        h.actions.acted(),
        vec!["send AWS-RunShellScript".to_string()]
    );
}

#[tokio::test]
async fn a_command_that_never_finishes_times_out_and_escalates() {
    let h = handler();
    let started = h
        .handle_request(begin("cpu-diagnostics"), t0())
        .await
        .expect("sent");
    let deadline = started.pending.as_ref().expect("pending").deadline;
    let late = h
        .handle_request(again(&started), deadline)
        .await
        .expect("late");
    let outcome = late.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::TimedOut);
    assert!(
        matches!(late.next, Next::Escalate { .. }),
        "{:?}",
        late.next
    );
}

#[tokio::test]
async fn an_unknown_runbook_is_an_invalid_event() {
    let h = handler();
    let error = h
        .handle_request(begin("nope"), t0())
        .await
        .expect_err("unknown");
    assert_eq!(error.error_type(), "InvalidEvent");
    let error = h
        .handle("{\"runbook\": 1}", t0())
        .await
        .expect_err("bad json");
    assert_eq!(error.error_type(), "InvalidEvent");
}

#[tokio::test]
async fn max_wait_caps_sleeps_and_polls() {
    let mut h = handler();
    h.max_wait_seconds = Some(2);
    let reboot = h
        .handle_request(begin("reboot-and-verify"), t0())
        .await
        .expect("reboot");
    assert!(matches!(reboot.next, Next::Wait { seconds: 300, .. }));
    assert_eq!(reboot.wait_seconds, 2);
}

/// Runs the handler the way the state machine does until the runbook ends.
async fn drive(h: &Handler<MemoryStore, FakeActions>, first: Request) -> Vec<Response> {
    let mut request = first;
    let mut responses = Vec::new();
    for _ in 0..50 {
        let response = h
            .handle_request(request.clone(), t0())
            .await
            .expect("handled");
        let done = !matches!(
            response.next,
            Next::Step { .. } | Next::Poll { .. } | Next::Wait { .. }
        );
        request = again(&response);
        responses.push(response);
        if done {
            return responses;
        }
    }
    panic!("the runbook did not end");
}

#[tokio::test]
async fn a_runbook_resolve_is_believed_only_when_the_alarm_no_longer_alarms() {
    let h = handler();
    *lock(&h.actions.alarm) = Some("OK".into());
    let responses = drive(&h, begin("reboot-and-verify")).await;
    let last = responses.last().expect("end");
    assert!(
        matches!(&last.next, Next::Resolve { step: Some(s), reason, .. } if s == "healthy"
            && reason.ends_with("web-1-status is OK")),
        "{:?}",
        last.next
    );
    let verified = last.verified.as_ref().expect("alarm read at the end");
    assert_eq!(verified.summary, "web-1-status is OK: r");

    let h = handler();
    let responses = drive(&h, begin("reboot-and-verify")).await;
    let last = responses.last().expect("end");
    assert!(
        matches!(&last.next, Next::Escalate { reason, .. }
            if reason.contains("the runbook resolved") && reason.ends_with("web-1-status is ALARM")),
        "{:?}",
        last.next
    );
    let timeline = h.store.events("inc-1");
    assert!(
        timeline.iter().any(|e| e
            .summary
            .starts_with("alarm.state at the end of the runbook succeeded: web-1-status is ALARM")),
        "{timeline:#?}"
    );
}

#[tokio::test]
async fn a_runbook_that_ends_resolves_or_escalates_as_the_alarm_says() {
    for (state, kind) in [
        ("OK", "resolve"),
        ("ALARM", "escalate"),
        ("INSUFFICIENT_DATA", "escalate"),
    ] {
        let h = handler();
        *lock(&h.actions.alarm) = Some(state.into());
        lock(&h.actions.commands).push_back(CommandResult::Finished(
            quench_core::ports::CommandFinished {
                status: StepStatus::Succeeded,
                detail: "Success".into(),
                exit_code: 0,
                stdout: "procs".into(),
                stderr: String::new(),
            },
        ));
        let responses = drive(&h, begin("cpu-diagnostics")).await;
        let last = responses.last().expect("end");
        assert_eq!(last.next.kind(), kind, "{state}: {:?}", last.next);
        assert_eq!(last.step.as_deref(), Some("record"));
    }
}

#[tokio::test]
async fn a_final_sleep_is_waited_out_by_the_state_machine_and_then_verified() {
    let mut h = handler();
    h.config = Config::parse(
        "version: 1\nplans:\n  p: { impact: 3, runbook: settle }\ndefault_plan: p\n\
         runbooks:\n  settle:\n    - { id: look, note: { text: looking } }\n    - { id: wait, sleep: 2m }\n",
    )
    .expect("config");
    *lock(&h.actions.alarm) = Some("OK".into());
    let noted = h.handle_request(begin("settle"), t0()).await.expect("note");
    assert!(matches!(
        &noted.next,
        Next::Wait {
            seconds: 120,
            then: None,
            ..
        }
    ));
    assert_eq!(noted.position, None);
    // After the Wait the state machine sends the response back: verify, not a restart.
    let verified = h.handle_request(again(&noted), t0()).await.expect("verify");
    assert_eq!(verified.next.kind(), "resolve", "{:?}", verified.next);
    assert_eq!(verified.outputs.runs, 1, "`look` did not run again");
}

#[tokio::test]
async fn a_run_stops_when_its_incident_was_resolved_or_reopened_meanwhile() {
    let h = handler();
    let reboot = h
        .handle_request(begin("reboot-and-verify"), t0())
        .await
        .expect("reboot");
    assert_eq!(reboot.incident.episode, Some(0));

    h.store.update_incident("inc-1", |i| i.reopen_count = 1);
    let stopped = h
        .handle_request(again(&reboot), t0())
        .await
        .expect("stopped");
    assert!(
        matches!(&stopped.next, Next::Stop { reason } if reason.contains("reopened")),
        "{:?}",
        stopped.next
    );
    // The reopened incident's own run reboots again: its claims are its own.
    let rerun = h
        .handle_request(begin("reboot-and-verify"), t0())
        .await
        .expect("reopened run");
    assert_eq!(rerun.incident.episode, Some(1));
    assert_eq!(h.actions.acted().len(), 2, "{:?}", h.actions.acted());

    h.store.update_incident("inc-1", |i| {
        i.status = quench_core::incident::IncidentStatus::Resolved
    });
    let stopped = h
        .handle_request(again(&rerun), t0())
        .await
        .expect("stopped");
    assert!(
        matches!(&stopped.next, Next::Stop { reason } if reason.contains("resolved")),
        "{:?}",
        stopped.next
    );
    assert_eq!(
        h.actions.acted().len(),
        2,
        "nothing acted after the resolve"
    );
}

#[tokio::test]
async fn templates_read_the_tags_the_alarm_had_when_it_opened_the_incident() {
    let mut h = handler();
    h.config = Config::parse(
        "version: 1\nplans:\n  p: { impact: 3, runbook: tell }\ndefault_plan: p\n\
         runbooks:\n  tell:\n    - { id: who, note: { text: \"owned by {{ alarm.tags.team }}\" } }\n",
    )
    .expect("config");
    let noted = h.handle_request(begin("tell"), t0()).await.expect("note");
    let outcome = noted.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.summary, "owned by web");
}

/// A claim an earlier attempt of `step` left at `claimed_at`.
fn earlier_claim(step: &str, claimed_at: DateTime<Utc>, handle: Option<&str>) -> StepClaim {
    StepClaim {
        incident_id: "inc-1".into(),
        episode: 0,
        run: 0,
        step: step.into(),
        claimed_at,
        handle: handle.map(str::to_string),
    }
}

#[tokio::test]
async fn a_retried_command_polls_the_command_its_first_attempt_sent() {
    let h = handler();
    let claimed_at = t0() - Duration::seconds(30);
    h.store
        .put_claim(earlier_claim("snapshot", claimed_at, Some("cmd-0")));
    let response = h
        .handle_request(begin("cpu-diagnostics"), t0())
        .await
        .expect("handled");
    assert!(h.actions.acted().is_empty());
    assert_eq!(
        response.next,
        Next::Poll {
            step: "snapshot".into()
        }
    );
    let pending = response.pending.as_ref().expect("pending");
    assert!(matches!(
        &pending.handle,
        PendingHandle::RunCommand { command_id, .. } if command_id == "cmd-0"
    ));
    assert_eq!(pending.started_at, claimed_at);
    assert_eq!(pending.deadline, claimed_at + Duration::seconds(60 + 120));
}

#[tokio::test]
async fn a_command_whose_answer_was_lost_is_polled_not_sent_again() {
    let h = handler();
    *lock(&h.actions.lost_answers) = 1;
    let first = begin("cpu-diagnostics");
    let error = h
        .handle_request(first.clone(), t0())
        .await
        .expect_err("answer lost");
    assert_eq!(error.error_type(), "Retryable");
    let claims = h.store.claims();
    assert_eq!(claims.len(), 1, "the claim is kept");
    assert_eq!(claims[0].handle, None);
    // The retry finds the command by its marker and polls it.
    let retried = h
        .handle_request(first, t0() + Duration::seconds(4))
        .await
        .expect("retried");
    assert_eq!(
        h.actions.acted(),
        vec!["send AWS-RunShellScript".to_string()]
    );
    let pending = retried.pending.as_ref().expect("pending");
    assert!(matches!(
        &pending.handle,
        PendingHandle::RunCommand { command_id, .. } if command_id == "cmd-1"
    ));
    assert_eq!(pending.started_at, t0(), "dated from the claim");
    let handles: Vec<Option<String>> = h.store.claims().into_iter().map(|c| c.handle).collect();
    assert_eq!(handles, vec![Some("cmd-1".to_string())]);
}

#[tokio::test]
async fn a_command_claimed_without_a_result_that_ssm_does_not_list_is_sent() {
    let h = handler();
    // The earlier attempt died after claiming, before SendCommand reached SSM.
    h.store.put_claim(earlier_claim("snapshot", t0(), None));
    let response = h
        .handle_request(begin("cpu-diagnostics"), t0())
        .await
        .expect("handled");
    assert_eq!(
        h.actions.acted(),
        vec!["send AWS-RunShellScript".to_string()]
    );
    assert_eq!(response.next.kind(), "poll");
}

#[tokio::test]
async fn an_automation_whose_answer_was_lost_starts_again_with_the_same_token() {
    let h = handler();
    *lock(&h.actions.lost_answers) = 1;
    let first = begin("im-automation");
    let error = h
        .handle_request(first.clone(), t0())
        .await
        .expect_err("answer lost");
    assert_eq!(error.error_type(), "Retryable");
    let retried = h.handle_request(first, t0()).await.expect("retried");
    let acted = h.actions.acted();
    assert_eq!(acted.len(), 2, "{acted:?}");
    assert_eq!(acted[0], acted[1], "the same start, with the same token");
    assert_eq!(lock(&h.actions.started).len(), 1, "one execution");
    assert!(matches!(
        retried.pending.as_ref().map(|p| &p.handle),
        Some(PendingHandle::Automation { execution_id }) if execution_id == "exec-1"
    ));
}

#[tokio::test]
async fn an_automation_start_that_was_not_recorded_starts_again_dated_from_the_claim() {
    let h = handler();
    let claimed_at = t0() - Duration::seconds(30);
    // With the same ClientToken, SSM returns the execution the earlier start made.
    h.store
        .put_claim(earlier_claim("restart", claimed_at, None));
    let response = h
        .handle_request(begin("im-automation"), t0())
        .await
        .expect("started");
    let acted = h.actions.acted();
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert!(acted[0].starts_with("start AWS-RestartEC2Instance"));
    let pending = response.pending.as_ref().expect("pending");
    assert!(matches!(
        &pending.handle,
        PendingHandle::Automation { execution_id } if execution_id == "exec-1"
    ));
    assert_eq!(pending.started_at, claimed_at);
    assert_eq!(
        pending.deadline,
        claimed_at + Duration::seconds(15 * 60 + 120)
    );
    let handles: Vec<Option<String>> = h.store.claims().into_iter().map(|c| c.handle).collect();
    assert_eq!(handles, vec![Some("exec-1".to_string())]);
}

/// The handler as the state machine drives it, on `config`, from `first` until the
/// runbook ends; each invocation `wait_seconds` after the one before. Returns every
/// response and when the last one was.
async fn drive_in_time(
    h: &Handler<MemoryStore, FakeActions>,
    first: Request,
    limit: usize,
) -> (Vec<Response>, DateTime<Utc>) {
    let mut now = t0();
    let mut request = first;
    let mut responses: Vec<Response> = Vec::new();
    for _ in 0..limit {
        let response = h
            .handle_request(request.clone(), now)
            .await
            .expect("handled");
        let done = !matches!(
            response.next,
            Next::Step { .. } | Next::Poll { .. } | Next::Wait { .. }
        );
        now += Duration::seconds(i64::try_from(response.wait_seconds).expect("seconds"));
        request = again(&response);
        responses.push(response);
        if done {
            return (responses, now);
        }
    }
    panic!("the runbook did not end in {limit} invocations");
}

#[tokio::test]
async fn a_long_command_is_polled_until_its_own_timeout() {
    let mut h = handler();
    h.config = Config::parse(
        "version: 1\nplans:\n  p: { impact: 3, runbook: long }\ndefault_plan: p\n\
         runbooks:\n  long:\n    - { id: rebuild, run_command: { commands: [rebuild-index], timeout: 48h } }\n",
    )
    .expect("config");
    let (responses, ended) = drive_in_time(&h, begin("long"), 5_000).await;
    let last = responses.last().expect("end");
    let outcome = last.outcome.as_ref().expect("outcome");
    assert_eq!(outcome.status, StepStatus::TimedOut, "{outcome:?}");
    let waited = ended - t0();
    eprintln!(
        "a 48-hour command never finishing: {} invocations, timed out after {waited}",
        responses.len()
    );
    assert!(
        waited >= Duration::hours(48),
        "timed out after {waited}, before its 48-hour timeout"
    );
    assert!(waited <= Duration::hours(49), "polled {waited}");
}

/// An id of the longest length validation allows.
fn long_id(prefix: &str) -> String {
    format!("{prefix:-<64}")
}

#[tokio::test]
async fn the_largest_runbook_keeps_every_response_within_the_state_budget() {
    const BUDGET: usize = runbook_step::MAX_STATE_BYTES;
    // The most steps, the longest ids, the most targets, every output at its limit, and a
    // branch after each command that cannot read its stdout as a number.
    let targets: Vec<String> = (0..50).map(|n| format!("i-0123456789abcd{n:03}")).collect();
    let mut steps = Vec::new();
    for n in 0..49 {
        let id = long_id(&format!("command-{n}"));
        steps.push(serde_json::json!({
            "id": id,
            "run_command": { "commands": ["report"], "targets": targets, "output_limit": 24_000 }
        }));
        steps.push(serde_json::json!({
            "id": long_id(&format!("branch-{n}")),
            "branch": { "if": { "gt": [format!("{{{{ steps.{id}.output.stdout }}}}"), 0] }, "then": "escalate" }
        }));
    }
    steps.push(serde_json::json!({ "id": long_id("note"), "note": { "text": "done" } }));
    steps.push(serde_json::json!({ "id": long_id("end"), "escalate": "y".repeat(4_000) }));
    let config = serde_json::json!({
        "version": 1,
        "plans": { "p": { "impact": 3, "runbook": "largest" } },
        "runbooks": { "largest": steps },
    });
    let mut h = handler();
    h.config = Config::parse(&config.to_string()).expect("the largest runbook is valid");
    let output = "x".repeat(1_000);
    for _ in 0..49 * targets.len() {
        lock(&h.actions.commands).push_back(CommandResult::Finished(
            quench_core::ports::CommandFinished {
                status: StepStatus::Succeeded,
                detail: "Success".into(),
                exit_code: 0,
                stdout: output.clone(),
                stderr: output.clone(),
            },
        ));
    }
    let (responses, _) = drive_in_time(&h, begin("largest"), 500).await;
    assert_eq!(responses.last().map(|r| r.next.kind()), Some("escalate"));
    let sizes: Vec<usize> = responses
        .iter()
        .map(|r| serde_json::to_string(r).expect("json").len())
        .collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    eprintln!(
        "the largest runbook: {} responses, the largest {largest} bytes",
        responses.len()
    );
    assert!(
        largest <= BUDGET,
        "a response of {largest} bytes: over the {BUDGET}-byte budget"
    );
}
