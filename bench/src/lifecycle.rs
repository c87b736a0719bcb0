//! Whole incident lifecycles through the deployed state machine on the local stack: state
//! transitions, Lambda invocations, AWS calls and DynamoDB capacity per seed scenario,
//! priced at AWS list prices, and the wall time with the share spent in Lambda tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sfn::types::HistoryEventType;
use quench_local_stack::incident_response::{
    happening_now, seed_alarms, seed_event, set_alarm_state, Execution, IncidentResponse, CPU_HIGH,
    INSTANCE_CHECK, PROCESS_GONE,
};
use quench_local_stack::AwsCall;

use crate::{failed, say, verdict, BenchError};

/// US East (N. Virginia) list prices.
mod price {
    /// Step Functions Standard, per state transition.
    pub const TRANSITION: f64 = 0.025 / 1_000.0;
    /// Lambda on arm64, per GB-second and per request.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
    /// DynamoDB on demand, per write and read request unit.
    pub const WRITE_UNIT: f64 = 0.625 / 1_000_000.0;
    pub const READ_UNIT: f64 = 0.125 / 1_000_000.0;
    /// CloudWatch API requests (DescribeAlarms; GetMetricData is billed per metric,
    /// the same rate for one metric).
    pub const CLOUDWATCH_REQUEST: f64 = 0.01 / 1_000.0;
}

/// The functions' memory in infra/template.yaml.
const LAMBDA_GB: f64 = 0.25;
const TARGET_DOLLARS: f64 = 0.001;

struct Scenario {
    label: &'static str,
    /// (seed alarm, its recovery event?) in order.
    beats: &'static [(usize, bool)],
    /// What CloudWatch says when the runbook ends.
    state_at_end: StateValue,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        label: "cpu-high: diagnostics, still ALARM -> escalate; OK -> resolve",
        beats: &[(CPU_HIGH, false), (CPU_HIGH, true)],
        state_at_end: StateValue::Alarm,
    },
    Scenario {
        label: "instance check: reboot, status ok, OK -> resolve (no page)",
        beats: &[(INSTANCE_CHECK, false)],
        state_at_end: StateValue::Ok,
    },
    Scenario {
        label: "process gone: restart, count 1, OK -> resolve (no page)",
        beats: &[(PROCESS_GONE, false)],
        state_at_end: StateValue::Ok,
    },
];

#[derive(Default)]
struct Measured {
    executions: usize,
    transitions: usize,
    invocations: usize,
    in_tasks: Duration,
    wall: Duration,
    calls: BTreeMap<String, usize>,
    wru: u64,
    rru: u64,
    cloudwatch_requests: usize,
}

impl Measured {
    fn lambda_gb_seconds(&self) -> f64 {
        // Billed per millisecond, rounded up per invocation; the sum rounds less, so add
        // one millisecond per invocation to stay on the safe side.
        (self.in_tasks.as_secs_f64() + self.invocations as f64 * 0.001) * LAMBDA_GB
    }

    fn dollars(&self) -> f64 {
        self.transitions as f64 * price::TRANSITION
            + self.invocations as f64 * price::LAMBDA_REQUEST
            + self.lambda_gb_seconds() * price::LAMBDA_GB_SECOND
            + self.wru as f64 * price::WRITE_UNIT
            + self.rru as f64 * price::READ_UNIT
            + self.cloudwatch_requests as f64 * price::CLOUDWATCH_REQUEST
    }

    async fn add_execution(
        &mut self,
        stack: &IncidentResponse,
        execution: &Execution,
    ) -> Result<(), BenchError> {
        self.executions += 1;
        self.wall += execution.wall;
        let mut scheduled = None;
        for event in stack.history(&execution.arn).await? {
            let at = event.timestamp().as_secs_f64();
            match event.r#type() {
                t if t.as_str().ends_with("StateEntered") => self.transitions += 1,
                HistoryEventType::TaskScheduled => {
                    self.invocations += 1;
                    scheduled = Some(at);
                }
                HistoryEventType::TaskSucceeded
                | HistoryEventType::TaskFailed
                | HistoryEventType::TaskTimedOut => {
                    if let Some(start) = scheduled.take() {
                        self.in_tasks += Duration::from_secs_f64((at - start).max(0.0));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn add_calls(&mut self, calls: &[AwsCall]) {
        for call in calls {
            // The benchmark's own Step Functions calls (start, describe, history).
            if call.operation.starts_with("AWSStepFunctions.") {
                continue;
            }
            *self.calls.entry(call.operation.clone()).or_default() += 1;
            self.wru += call.wru;
            self.rru += call.rru;
            if call.operation.starts_with("CloudWatch.") {
                self.cloudwatch_requests += 1;
            }
        }
    }
}

pub async fn bench_lifecycles() -> Result<(), BenchError> {
    say("\n6. Incident lifecycles through the deployed state machine (moto's interpreter, both");
    say("   functions under `cargo lambda watch` (debug builds), runbook waits capped to 0)");
    let stack = IncidentResponse::start("quench-bench-lifecycle", 0).await?;
    stack.moto.agent_reports("pgrep", "Success", 0, "1\n")?;
    let alarms = seed_alarms();
    // Builds both functions: a hostile process name is refused, so the runbook escalates.
    let warm_up = seed_event(
        alarms[PROCESS_GONE].alarm_event,
        &stack.instance,
        &[
            (r#""exe": "nginx""#, r#""exe": "nginx; true""#),
            ("web-1-nginx-gone", "web-1-warm-up"),
        ],
    )?;
    stack.run(&happening_now(&warm_up)?).await?;
    stack.moto.aws_calls()?;

    let (mut dollars, mut transitions, mut invocations) = (0.0, 0, 0);
    for scenario in &SCENARIOS {
        let mut measured = Measured::default();
        for &(alarm, recovery) in scenario.beats {
            let seed = &alarms[alarm];
            set_alarm_state(&stack.cloudwatch, seed.name, scenario.state_at_end.clone()).await?;
            stack.moto.aws_calls()?;
            let input = stack.seed_input(seed, recovery)?;
            let execution = stack.run(&input).await?;
            if execution.status != aws_sdk_sfn::types::ExecutionStatus::Succeeded {
                return Err(failed(format!("{}: {execution:?}", scenario.label)));
            }
            measured.add_calls(&stack.moto.aws_calls()?);
            measured.add_execution(&stack, &execution).await?;
        }
        report(scenario.label, &measured);
        dollars += measured.dollars();
        transitions += measured.transitions;
        invocations += measured.invocations;
    }
    say(format!(
        "   average per lifecycle: ${:.6} ({:.1} transitions, {:.1} invocations)",
        dollars / SCENARIOS.len() as f64,
        transitions as f64 / SCENARIOS.len() as f64,
        invocations as f64 / SCENARIOS.len() as f64,
    ));
    say(
        "   prices: Step Functions Standard $0.025/1k transitions; Lambda arm64 $0.0000133334/GB-s",
    );
    say("   at 256 MB (local task time, an overestimate) + $0.20/M requests; DynamoDB on demand");
    say("   $0.625/M WRU, $0.125/M RRU (units from JSON sizes, an overestimate); CloudWatch API");
    say("   $0.01/1k; SSM Run Command on EC2, EC2 API calls and EventBridge's AWS events: no charge.");
    Ok(())
}

fn report(label: &str, m: &Measured) {
    let dollars = m.dollars();
    let share = if m.wall.is_zero() {
        0.0
    } else {
        100.0 * m.in_tasks.as_secs_f64() / m.wall.as_secs_f64()
    };
    say(format!("   {label}"));
    say(format!(
        "      {} execution(s), {} state transitions, {} Lambda invocations",
        m.executions, m.transitions, m.invocations
    ));
    say(format!(
        "      {} AWS calls: {}",
        m.calls.values().sum::<usize>(),
        crate::tally(&m.calls)
    ));
    say(format!(
        "      DynamoDB {} WRU, {} RRU; wall {} ms, of which in Lambda tasks {} ms ({share:.0}%)",
        m.wru,
        m.rru,
        m.wall.as_millis(),
        m.in_tasks.as_millis()
    ));
    say(format!(
        "      cost ${dollars:.6} per lifecycle (target < ${TARGET_DOLLARS}: {})",
        verdict(dollars < TARGET_DOLLARS)
    ));
}
