//! The deployed ASL, executed by moto's Step Functions interpreter, its Lambda tasks served
//! by `cargo lambda watch` running the real handlers, on the seed scenario: one EC2
//! instance and its three alarms in moto. Runbook waits are capped so a `sleep: 5m` takes
//! no time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_core::incident::{IncidentRecord, IncidentStatus, TimelineEvent, TimelineKind};
use quench_core::ports::{IncidentLog, PageStore};
use quench_core::runbook::limits;
use quench_local_stack::incident_response::{
    seed_alarms, seed_event, set_alarm_state, Execution, IncidentResponse, CPU_HIGH,
    INSTANCE_CHECK, PROCESS_GONE,
};

use quench_local_stack::{
    function_actions, iam_actions, repo_root, sam_template_properties, sample_event,
    state_machine_definition, Fault,
};

async fn stack(table: &str, max_wait_seconds: u64) -> IncidentResponse {
    IncidentResponse::start(table, max_wait_seconds)
        .await
        .expect("local stack")
}

async fn run(stack: &IncidentResponse, sample: &str, rewrite: &[(&str, &str)]) -> Execution {
    let input = seed_event(sample, &stack.instance, rewrite).expect("sample");
    let execution = stack.run(&input).await.expect("execution");
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{sample}: {execution:#?}"
    );
    execution
}

async fn set_alarm(stack: &IncidentResponse, alarm: usize, state: StateValue) {
    set_alarm_state(&stack.cloudwatch, seed_alarms()[alarm].name, state)
        .await
        .expect("alarm state set");
}

async fn incident(
    stack: &IncidentResponse,
    execution: &Execution,
) -> (IncidentRecord, Vec<TimelineEvent>) {
    let id = execution.output["incident"]["decision"]["incident_id"]
        .as_str()
        .expect("incident id")
        .to_string();
    let store = DynamoStore::new(stack.dynamodb.clone(), &stack.table);
    let record = store.incident(&id).await.expect("read").expect("incident");
    let timeline = store.timeline(&id).await.expect("timeline");
    (record, timeline)
}

fn decision(execution: &Execution, at: &str) -> String {
    execution.output[at]["decision"]["decision"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// How many task attempts in an execution's history failed (and were retried or caught).
fn failed_attempts(history: &[HistoryEvent]) -> usize {
    history
        .iter()
        .filter(|e| {
            matches!(
                e.r#type,
                HistoryEventType::TaskFailed | HistoryEventType::LambdaFunctionFailed
            )
        })
        .count()
}

fn summaries(timeline: &[TimelineEvent]) -> Vec<String> {
    timeline
        .iter()
        .map(|e| format!("{}: {}", e.kind.as_str(), e.summary))
        .collect()
}

/// The incident's story without its pages (who they reach depends on the example
/// schedule and the hour the test runs at; crates/quench-e2e/tests/escalation.rs tests them).
fn story(timeline: &[TimelineEvent]) -> Vec<TimelineEvent> {
    timeline
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                TimelineKind::Paged | TimelineKind::PageFailed | TimelineKind::Paging
            )
        })
        .cloned()
        .collect()
}

#[test]
fn every_placeholder_in_the_asl_has_a_substitution() {
    let error = state_machine_definition("incident-response.asl.json", &[])
        .expect_err("placeholders must be substituted");
    assert!(error.to_string().contains("FunctionArn}"), "{error}");
}

#[test]
fn the_template_deploys_the_executed_file_with_every_substitution() {
    let properties =
        sam_template_properties("IncidentResponseStateMachine").expect("state machine");
    assert_eq!(
        properties["DefinitionUri"].as_str(),
        Some("statemachines/incident-response.asl.json")
    );
    let deployed: std::collections::BTreeSet<String> = properties["DefinitionSubstitutions"]
        .as_mapping()
        .expect("substitutions")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let text =
        std::fs::read_to_string(repo_root().join("infra/statemachines/incident-response.asl.json"))
            .expect("asl");
    let placeholders: std::collections::BTreeSet<String> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect();
    assert_eq!(deployed, placeholders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_incidents_run_their_runbooks_and_resolve_or_escalate_as_their_alarms_say() {
    let stack = stack("quench-seed", 0).await;
    let instance = stack.instance.clone();

    // CPU high: diagnostics, then the alarm is still in ALARM, so people are engaged.
    set_alarm(&stack, CPU_HIGH, StateValue::Alarm).await;
    let cpu = run(&stack, seed_alarms()[CPU_HIGH].alarm_event, &[]).await;
    assert_eq!(decision(&cpu, "incident"), "opened");
    assert_eq!(decision(&cpu, "outcome"), "escalated", "{:#}", cpu.output);
    let commands = stack.commands_sent().await.expect("commands");
    assert_eq!(
        commands,
        vec![(
            "AWS-RunShellScript".to_string(),
            vec![
                "vmstat 1 5".to_string(),
                "top -b -n 1 | head -20".to_string()
            ]
        )]
    );
    let (record, full_timeline) = incident(&stack, &cpu).await;
    assert_eq!(record.status, IncidentStatus::Open);
    assert!(record.escalated_at.is_some());
    // The escalation paged the first stage at once (the state machine's PageNow).
    let paging = record.paging.as_ref().expect("paging started");
    assert_eq!((paging.round, paging.stage), (0, 0));
    assert!(
        full_timeline.iter().any(|e| e.kind == TimelineKind::Paged),
        "{:#?}",
        summaries(&full_timeline)
    );
    let timeline = story(&full_timeline);
    let lines = summaries(&timeline);
    let kinds: Vec<TimelineKind> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Step,
            TimelineKind::Step,
            TimelineKind::Step,
            TimelineKind::Escalated
        ],
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("run_command `snapshot` succeeded"),
        "{lines:#?}"
    );
    assert!(
        lines[2].contains(&format!("CPU snapshot of {instance}")),
        "{lines:#?}"
    );
    assert!(lines[3].contains("web-1-cpu-high is ALARM"), "{lines:#?}");
    assert!(
        lines[4].contains("the runbook finished and web-1-cpu-high is still ALARM"),
        "{lines:#?}"
    );
    // The alarm's OK then resolves it.
    let ok = run(&stack, seed_alarms()[CPU_HIGH].ok_event, &[]).await;
    assert_eq!(decision(&ok, "incident"), "resolved");

    // Instance check failed: reboot, wait, status ok; the alarm agrees: resolved, no page.
    set_alarm(&stack, INSTANCE_CHECK, StateValue::Ok).await;
    let check = run(&stack, seed_alarms()[INSTANCE_CHECK].alarm_event, &[]).await;
    assert_eq!(
        decision(&check, "outcome"),
        "resolved",
        "{:#}",
        check.output
    );
    let (record, timeline) = incident(&stack, &check).await;
    assert_eq!(record.status, IncidentStatus::Resolved);
    assert_eq!(record.escalated_at, None);
    let lines = summaries(&timeline);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("reboot of {instance} requested"))),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("running, instance status ok")),
        "{lines:#?}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("resolved: resolved by reboot-and-verify")),
        "{lines:#?}"
    );
    // Its OK arrives after: nothing left to resolve.
    let late_ok = run(&stack, seed_alarms()[INSTANCE_CHECK].ok_event, &[]).await;
    assert_eq!(decision(&late_ok, "incident"), "ignored");

    // Process gone: restart, count (the instance reports one), resolved.
    stack
        .moto
        .agent_reports("pgrep", "Success", 0, "1\n")
        .expect("agent");
    set_alarm(&stack, PROCESS_GONE, StateValue::Ok).await;
    let process = run(&stack, seed_alarms()[PROCESS_GONE].alarm_event, &[]).await;
    assert_eq!(
        decision(&process, "outcome"),
        "resolved",
        "{:#}",
        process.output
    );
    let commands = stack.commands_sent().await.expect("commands");
    let process_commands: Vec<&Vec<String>> = commands.iter().skip(1).map(|(_, c)| c).collect();
    assert_eq!(
        process_commands,
        vec![
            &vec!["systemctl restart -- 'nginx'".to_string()],
            &vec!["pgrep -c -x -- 'nginx' || true".to_string()],
        ]
    );

    // Least privilege, as far as these runs reach: every AWS call each function made
    // (told apart by its SDK app name) is an action its role in the template allows.
    let calls = stack.moto.aws_calls().expect("calls");
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for call in &calls {
        let Some(function) = call.app.as_deref().and_then(|a| a.strip_prefix("quench-")) else {
            continue;
        };
        seen.entry(function.to_string())
            .or_default()
            .extend(iam_actions(&call.operation));
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "alarm-to-incident",
            "chat-notifier",
            "escalation-ticker",
            "runbook-step"
        ],
        "every function called AWS in these runs"
    );
    for (function, actions) in &seen {
        let allowed = function_actions(function).expect("role");
        let missing: Vec<&String> = actions.iter().filter(|a| !allowed.contains(*a)).collect();
        assert!(
            missing.is_empty(),
            "{function} calls {missing:?}, which its role does not allow"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stays_gone_escalates_with_its_status_and_resolves_when_it_returns() {
    let stack = stack("quench-gone", 0).await;
    stack
        .moto
        .agent_reports("pgrep", "Success", 0, "0\n")
        .expect("agent");
    stack
        .moto
        .agent_reports(
            "systemctl status",
            "Success",
            0,
            "nginx.service: inactive (dead)",
        )
        .expect("agent");
    set_alarm(&stack, PROCESS_GONE, StateValue::Alarm).await;
    let gone = run(&stack, seed_alarms()[PROCESS_GONE].alarm_event, &[]).await;
    assert_eq!(decision(&gone, "outcome"), "escalated", "{:#}", gone.output);
    assert_eq!(stack.commands_sent().await.expect("commands").len(), 3);
    let (record, timeline) = incident(&stack, &gone).await;
    assert!(record.escalated_at.is_some());
    let lines = summaries(&story(&timeline));
    assert!(
        lines.iter().any(|l| l.contains("inactive (dead)")),
        "{lines:#?}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("the process did not come back")),
        "{lines:#?}"
    );
    let back = run(&stack, seed_alarms()[PROCESS_GONE].ok_event, &[]).await;
    assert_eq!(decision(&back, "incident"), "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_dimension_is_refused_recorded_and_escalated_without_a_command() {
    let stack = stack("quench-hostile", 0).await;
    for hostile in ["nginx; rm -rf /", "$(curl x)"] {
        let rewrite = [(
            r#""exe": "nginx""#,
            format!(r#""exe": {}"#, serde_json::json!(hostile)),
        )];
        let rewrite: Vec<(&str, &str)> = rewrite.iter().map(|(a, b)| (*a, b.as_str())).collect();
        // A distinct alarm per value, so each is its own incident.
        let name = format!("web-1-hostile-{}", hostile.len());
        let mut rewrite = rewrite;
        rewrite.push(("web-1-nginx-gone", &name));
        let execution = run(&stack, seed_alarms()[PROCESS_GONE].alarm_event, &rewrite).await;
        assert_eq!(
            decision(&execution, "outcome"),
            "escalated",
            "{:#}",
            execution.output
        );
        let (_, timeline) = incident(&stack, &execution).await;
        let lines = summaries(&timeline);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("run_command `restart` refused")),
            "{lines:#?}"
        );
    }
    assert!(
        stack.commands_sent().await.expect("commands").is_empty(),
        "nothing reached SSM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_send_fails_the_step_then_the_retry_sends_it_once() {
    let stack = stack("quench-throttle", 0).await;
    // SendCommand is sent once, without the SDK's retries (a retry after a lost answer
    // could run the command twice): each throttle fails the invocation Retryable, and
    // the state machine's Retry runs it again, until one sends.
    const THROTTLES: u32 = 2;
    stack
        .moto
        .inject_fault("AmazonSSM.SendCommand", "ThrottlingException", THROTTLES)
        .expect("fault");
    set_alarm(&stack, CPU_HIGH, StateValue::Ok).await;
    let cpu = run(&stack, seed_alarms()[CPU_HIGH].alarm_event, &[]).await;
    assert_eq!(
        stack
            .moto
            .faults_served("AmazonSSM.SendCommand")
            .expect("served"),
        u64::from(THROTTLES)
    );
    assert_eq!(stack.commands_sent().await.expect("commands").len(), 1);
    assert_eq!(decision(&cpu, "outcome"), "resolved", "{:#}", cpu.output);
    let history = stack.history(&cpu.arn).await.expect("history");
    let failed = failed_attempts(&history);
    assert_eq!(
        failed,
        usize::try_from(THROTTLES).expect("small"),
        "a failed attempt per throttle, then the retry that sends: {history:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_that_keeps_failing_is_recorded_and_escalates() {
    let stack = stack("quench-failing", 0).await;
    // Throttled for good: every attempt of every retry fails, until the Retry gives up.
    stack
        .moto
        .inject_fault("AmazonSSM.SendCommand", "ThrottlingException", 10_000)
        .expect("fault");
    set_alarm(&stack, CPU_HIGH, StateValue::Alarm).await;
    let cpu = run(&stack, seed_alarms()[CPU_HIGH].alarm_event, &[]).await;
    assert_eq!(decision(&cpu, "outcome"), "escalated", "{:#}", cpu.output);
    assert!(stack.commands_sent().await.expect("commands").is_empty());
    let reason = cpu.output["escalation"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("Retryable") && reason.contains("SendCommand"),
        "{reason}"
    );
    let (record, timeline) = incident(&stack, &cpu).await;
    assert!(record.escalated_at.is_some());
    let story = story(&timeline);
    let last = story.last().expect("events");
    assert_eq!(last.kind, TimelineKind::Escalated);
    assert!(last.summary.contains("Retryable"), "{}", last.summary);
    let history = stack.history(&cpu.arn).await.expect("history");
    let attempts = history
        .iter()
        .filter(|e| e.r#type == HistoryEventType::TaskFailed)
        .count();
    assert_eq!(attempts, 7, "the first try and six retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_that_recovers_mid_runbook_resolves_without_paging() {
    // Waits of a second, so the running command is polled at a human pace.
    let stack = stack("quench-recover", 1).await;
    stack
        .moto
        .agent_reports("systemctl restart", "InProgress", 0, "")
        .expect("agent");
    set_alarm(&stack, PROCESS_GONE, StateValue::Alarm).await;
    let input = seed_event(
        seed_alarms()[PROCESS_GONE].alarm_event,
        &stack.instance,
        &[],
    )
    .expect("sample");
    let started = Instant::now();
    let arn = stack.start_execution(&input).await.expect("started");
    let deadline = Instant::now() + Duration::from_secs(900);
    while stack.commands_sent().await.expect("commands").is_empty() {
        assert!(Instant::now() < deadline, "the restart was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The process comes back by itself while the restart is still running.
    set_alarm(&stack, PROCESS_GONE, StateValue::Ok).await;
    let ok = run(&stack, seed_alarms()[PROCESS_GONE].ok_event, &[]).await;
    assert_eq!(decision(&ok, "incident"), "resolved");
    stack
        .moto
        .agent_reports("systemctl restart", "Success", 0, "")
        .expect("agent");

    let execution = stack.finish(&arn, started).await.expect("finished");
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:#?}"
    );
    assert_eq!(execution.output["runbook"]["state"]["next"]["kind"], "stop");
    assert!(
        execution.output.get("outcome").is_none(),
        "no resolve or escalate call"
    );
    let (record, timeline) = incident(&stack, &execution).await;
    assert_eq!(record.status, IncidentStatus::Resolved);
    assert_eq!(record.escalated_at, None);
    assert!(timeline.iter().all(|e| e.kind != TimelineKind::Escalated));
    assert_eq!(
        stack.commands_sent().await.expect("commands").len(),
        1,
        "no count, no status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalated_incident_resolves_after_its_stable_period_and_bad_input_fails() {
    let stack = stack("quench-stable", 0).await;
    set_alarm(&stack, INSTANCE_CHECK, StateValue::Alarm).await;
    let check = run(&stack, seed_alarms()[INSTANCE_CHECK].alarm_event, &[]).await;
    assert_eq!(
        decision(&check, "outcome"),
        "escalated",
        "{:#}",
        check.output
    );
    // `resolve_on_ok: after 2m`: Wait until resolve_due_at, then confirm.
    let ok = run(&stack, seed_alarms()[INSTANCE_CHECK].ok_event, &[]).await;
    assert_eq!(
        decision(&ok, "incident"),
        "resolve_pending",
        "{:#}",
        ok.output
    );
    assert_eq!(decision(&ok, "confirmation"), "resolved", "{:#}", ok.output);

    let execution = stack
        .run(&sample_event("wrong-type.json").expect("sample"))
        .await
        .expect("execution");
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("InvalidEvent"));
}

/// alarm-to-incident's write lands and every answer to it is lost (as many times as the
/// SDK attempts), so the invocation fails and the state machine runs it again: the retry
/// hears what the lost write did, the runbook runs once and the escalation happens once.
/// Before, the retry answered `ignored: duplicate` and the execution ended with the
/// incident open and nobody engaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_still_runs_the_runbook_and_escalates_once() {
    let stack = stack("quench-lost-answer", 0).await;
    let write = "DynamoDB_20120810.TransactWriteItems";
    stack
        .moto
        .inject(&Fault::after_commit(write, "InternalServerError").times(5))
        .expect("fault");
    set_alarm(&stack, CPU_HIGH, StateValue::Alarm).await;
    let cpu = run(&stack, seed_alarms()[CPU_HIGH].alarm_event, &[]).await;
    assert_eq!(stack.moto.faults_served(write).expect("served"), 5);
    assert_eq!(decision(&cpu, "incident"), "opened", "{:#}", cpu.output);
    assert_eq!(
        cpu.output["incident"]["decision"]["redelivery"],
        serde_json::Value::Bool(true)
    );
    assert_eq!(decision(&cpu, "outcome"), "escalated", "{:#}", cpu.output);
    assert_eq!(stack.commands_sent().await.expect("commands").len(), 1);
    let (_, timeline) = incident(&stack, &cpu).await;
    let count = |kind: TimelineKind| timeline.iter().filter(|e| e.kind == kind).count();
    assert_eq!(
        count(TimelineKind::Opened),
        1,
        "{:#?}",
        summaries(&timeline)
    );
    assert_eq!(
        count(TimelineKind::Escalated),
        1,
        "{:#?}",
        summaries(&timeline)
    );
    // One wave of pages, each written once (its key is its contact and channel).
    let id = cpu.output["incident"]["decision"]["incident_id"]
        .as_str()
        .expect("incident id");
    let pages = DynamoStore::new(stack.dynamodb.clone(), &stack.table)
        .pages(id)
        .await
        .expect("pages");
    assert!(!pages.is_empty(), "{:#?}", summaries(&timeline));
    assert!(pages.iter().all(|p| p.wave == 1), "{pages:#?}");
    let history = stack.history(&cpu.arn).await.expect("history");
    let failed = failed_attempts(&history);
    assert_eq!(failed, 1, "the lost answer failed one attempt");
}

/// Step Functions' quota on a state's input or output, and on a task's result.
const STATE_QUOTA_BYTES: usize = 256 * 1024;

/// The largest input, output or task result an execution's history shows, with the
/// state it belongs to.
fn largest_state(history: &[HistoryEvent]) -> (usize, String) {
    let mut largest = (0, String::new());
    let mut state = String::new();
    for event in history {
        if let Some(entered) = event.state_entered_event_details() {
            state = entered.name().to_string();
        }
        let payloads = [
            event.state_entered_event_details().and_then(|d| d.input()),
            event.state_exited_event_details().and_then(|d| d.output()),
            event.task_scheduled_event_details().map(|d| d.parameters()),
            event
                .task_succeeded_event_details()
                .and_then(|d| d.output()),
        ];
        for payload in payloads.into_iter().flatten() {
            if payload.len() > largest.0 {
                largest = (payload.len(), state.clone());
            }
        }
    }
    largest
}

/// The example config with `runbook` in place of the CPU plan's runbook, written where the
/// functions read it (`QUENCH_CONFIG_FILE`).
fn config_with_cpu_runbook(name: &str, runbook: serde_json::Value) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("infra/quench.yaml")).expect("config");
    let mut config: serde_json::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    config["runbooks"]["cpu-diagnostics"] = runbook;
    let path = std::env::temp_dir().join(format!("quench-{name}-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).expect("config written");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_steps_of_maximal_output_keep_the_execution_state_small() {
    // Each step reports more than the most a step keeps of a stream, and each step after
    // the first renders the exit code of the one before it: the outputs must come back
    // from the table, since the state no longer carries them.
    const STEPS: usize = 16;
    const KEPT: u32 = 24_000;
    let mut steps: Vec<serde_json::Value> = (1..=STEPS)
        .map(|n| {
            let mut step = serde_json::json!({
                "id": format!("s{n:02}"),
                "run_command": { "commands": [format!("report {n}")], "output_limit": KEPT, "timeout": "1m" }
            });
            if n > 1 {
                step["run_command"] = serde_json::json!({
                    "commands": [format!("report {n} after {{{{ params.previous }}}}")],
                    "output_limit": KEPT,
                    "timeout": "1m",
                    "params": { "previous": {
                        "from": format!("{{{{ steps.s{:02}.output.exit_code }}}}", n - 1),
                        "pattern": "^[0-9]+$"
                    } }
                });
            }
            step
        })
        .collect();
    steps.push(serde_json::json!({
        "id": "first-said",
        "note": { "text": "s01 said {{ steps.s01.output.stdout }}" }
    }));
    let config = config_with_cpu_runbook("maximal-output", serde_json::Value::Array(steps));
    let stack = IncidentResponse::start_with_env(
        "quench-maximal",
        0,
        &[(
            "QUENCH_CONFIG_FILE".to_string(),
            config.display().to_string(),
        )],
    )
    .await
    .expect("local stack");
    let output = "x".repeat(30_000);
    stack
        .moto
        .agent_reports("report", "Success", 0, &output)
        .expect("agent");
    set_alarm(&stack, CPU_HIGH, StateValue::Alarm).await;
    let cpu = run(&stack, seed_alarms()[CPU_HIGH].alarm_event, &[]).await;
    assert_eq!(decision(&cpu, "outcome"), "escalated", "{:#}", cpu.output);

    let history = stack.history(&cpu.arn).await.expect("history");
    let (largest, state) = largest_state(&history);
    let text = std::fs::read_to_string(&config).expect("config");
    let runbook = &Config::parse(&text).expect("config").runbooks["cpu-diagnostics"];
    let worst = limits::worst_case_history(runbook);
    eprintln!(
        "{STEPS} steps of {KEPT} bytes of output each: the largest state in {} history events (validation's worst case: {worst}) is {largest} bytes, at {state}",
        history.len()
    );
    assert!(
        largest < STATE_QUOTA_BYTES,
        "{largest} bytes at {state}: over Step Functions' 256 KiB"
    );
    assert!(
        u64::try_from(history.len()).expect("count") <= worst,
        "{} events, more than the worst case validation computed ({worst})",
        history.len()
    );
    let commands = stack.commands_sent().await.expect("commands");
    assert_eq!(commands.len(), STEPS);
    for (n, (_, lines)) in commands.iter().enumerate().skip(1) {
        assert_eq!(lines, &vec![format!("report {} after '0'", n + 1)]);
    }
    let (_, timeline) = incident(&stack, &cpu).await;
    let lines = summaries(&timeline);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("note `first-said` succeeded: s01 said xxxx")),
        "{lines:#?}"
    );
}

fn asl() -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo_root().join("infra/statemachines/incident-response.asl.json"))
            .expect("asl");
    serde_json::from_str(&text).expect("asl is JSON")
}

/// Whether a Task tells alarm-to-incident to resolve or escalate: once it succeeds, the
/// incident is resolved or people are engaged.
fn settles_incident(state: &serde_json::Value) -> bool {
    matches!(
        state["Parameters"]["Payload"]["operation"]["action"].as_str(),
        Some("resolve" | "escalate")
    )
}

/// Whether a Task sends an incident's pages (the ticker, given the incident id).
fn pages(state: &serde_json::Value) -> bool {
    state["Parameters"]["FunctionName"] == "${EscalationTickerFunctionArn}"
        && state["Parameters"]["Payload"]["incident_id.$"].is_string()
}

/// Where a state goes on success, and where its errors go: (target, why). A Task whose
/// errors no `States.ALL` Catch takes fails the execution on them, written as `None`.
fn exits(name: &str, state: &serde_json::Value) -> Vec<(Option<String>, String)> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let mut out = Vec::new();
    if let Some(next) = text(&state["Next"]) {
        out.push((Some(next), format!("{name} succeeded")));
    }
    if state["End"] == true || matches!(state["Type"].as_str(), Some("Succeed" | "Fail")) {
        out.push((None, format!("{name} ends the execution")));
    }
    for (i, rule) in state["Choices"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.push((text(&rule["Next"]), format!("{name} choice {i}: {rule}")));
    }
    if let Some(default) = text(&state["Default"]) {
        out.push((Some(default), format!("{name} default")));
    }
    let catches = state["Catch"].as_array().cloned().unwrap_or_default();
    for catch in &catches {
        out.push((
            text(&catch["Next"]),
            format!("{name} caught {}", catch["ErrorEquals"]),
        ));
    }
    let catches_all = catches.iter().any(|c| {
        c["ErrorEquals"]
            .as_array()
            .is_some_and(|e| e.contains(&"States.ALL".into()))
    });
    if state["Type"] == "Task" && !catches_all {
        out.push((None, format!("{name} failed and nothing caught it")));
    }
    out
}

#[test]
fn every_path_after_an_incident_opens_resolves_it_or_pages() {
    let asl = asl();
    let states = asl["States"].as_object().expect("states");
    // An incident opened (or reopened) by this execution: Route sends it on from here.
    let route = &states["Route"];
    let starts: Vec<String> = route["Choices"]
        .as_array()
        .expect("choices")
        .iter()
        .filter(|rule| rule.to_string().contains(r#""StringEquals":"opened""#))
        .filter_map(|rule| rule["Next"].as_str().map(str::to_string))
        .collect();
    assert_eq!(starts, ["StartRunbook", "NoRunbook"]);
    // On the way to Route nothing ends the execution: chat is told and its failure caught.
    let notify = exits("NotifyChange", &states["NotifyChange"]);
    assert!(
        notify.iter().all(|(to, _)| to.as_deref() == Some("Route")),
        "{notify:?}"
    );

    // The one way out without a resolve or a page: the runbook found the incident
    // resolved or reopened meanwhile (`stop`), so another execution owns it.
    let superseded = |why: &str| why.starts_with("RunbookNext choice") && why.contains("\"stop\"");
    let mut seen = BTreeSet::new();
    let mut queue: Vec<(String, Vec<String>)> =
        starts.iter().map(|s| (s.clone(), vec![])).collect();
    let mut stranded = Vec::new();
    while let Some((name, path)) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let state = &states[&name];
        if pages(state) {
            continue;
        }
        for (to, why) in exits(&name, state) {
            let settled = settles_incident(state) && why == format!("{name} succeeded");
            if settled || superseded(&why) {
                continue;
            }
            let mut path = path.clone();
            path.push(why.clone());
            match to {
                Some(to) => queue.push((to, path)),
                None => stranded.push(path),
            }
        }
    }
    assert!(
        stranded.is_empty(),
        "paths that end with the incident open and nobody paged:\n{stranded:#?}"
    );
    for state in [
        "ResolveIncident",
        "EscalateIncident",
        "RunbookStep",
        "PageNow",
    ] {
        assert!(seen.contains(state), "{state} is not on the way: {seen:?}");
    }
}

#[test]
fn every_task_retries_transient_failures_and_catches_the_rest() {
    let asl = asl();
    let states = asl["States"].as_object().expect("states");
    for (name, state) in states {
        if state["Type"] != "Task" {
            continue;
        }
        let retried: BTreeSet<&str> = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
            .filter_map(|e| e.as_str())
            .collect();
        for transient in [
            "Lambda.ServiceException",
            "Lambda.TooManyRequestsException",
            "Sandbox.Timedout",
            "States.Timeout",
        ] {
            assert!(
                retried.contains(transient),
                "{name} does not retry {transient}"
            );
        }
        // Before the incident exists, a failure fails the execution (and the
        // executions-failed alarm tells the operators); after, every Task catches.
        if name != "AlarmToIncident" {
            assert!(
                exits(name, state).iter().all(|(to, _)| to.is_some()),
                "{name} can fail the execution: {:?}",
                exits(name, state)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_that_fails_beyond_its_retries_still_pages() {
    let stack = stack("quench-escalate-fails", 0).await;
    // The snapshot runs until the fault is in place, so the fault meets the escalation,
    // not the incident's opening (the only other transaction on the way).
    stack
        .moto
        .agent_reports("vmstat", "InProgress", 0, "")
        .expect("agent");
    set_alarm(&stack, CPU_HIGH, StateValue::Alarm).await;
    let input =
        seed_event(seed_alarms()[CPU_HIGH].alarm_event, &stack.instance, &[]).expect("sample");
    let started = Instant::now();
    let arn = stack.start_execution(&input).await.expect("started");
    let deadline = Instant::now() + Duration::from_secs(900);
    while stack.commands_sent().await.expect("commands").is_empty() {
        assert!(Instant::now() < deadline, "the snapshot was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every attempt of EscalateIncident is throttled: the SDK's five tries within each of
    // the state's seven (the first and six retries).
    const THROTTLED: u32 = 5 * 7;
    const TRANSACTIONS: &str = "DynamoDB_20120810.TransactWriteItems";
    stack
        .moto
        .inject_fault(TRANSACTIONS, "ThrottlingException", THROTTLED)
        .expect("fault");
    stack
        .moto
        .agent_reports("vmstat", "Success", 0, "procs")
        .expect("agent");

    let execution = stack.finish(&arn, started).await.expect("finished");
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:#?}"
    );
    assert_eq!(
        stack.moto.faults_served(TRANSACTIONS).expect("served"),
        u64::from(THROTTLED)
    );
    assert_eq!(
        decision(&execution, "outcome"),
        "escalated",
        "{:#}",
        execution.output
    );
    let (record, timeline) = incident(&stack, &execution).await;
    assert!(record.escalated_at.is_some());
    assert!(
        timeline.iter().any(|e| e.kind == TimelineKind::Paged),
        "{:#?}",
        summaries(&timeline)
    );
    let escalated = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Escalated)
        .expect("escalated");
    assert!(
        escalated.summary.contains("the first escalation failed"),
        "{}",
        escalated.summary
    );
}
