//! The deployed ASL, executed by moto's Step Functions interpreter, its Lambda tasks served
//! by `cargo lambda watch` running the real handlers.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use quench_e2e::{
    create_table, free_port, function_arn, sample_event, state_machine_definition, LambdaWatch,
    Moto,
};
use serde_json::Value;

const TABLE: &str = "quench-sfn";

struct Stack {
    sfn: aws_sdk_sfn::Client,
    machine: String,
    runs: std::sync::atomic::AtomicUsize,
    _watch: LambdaWatch,
    _moto: Moto,
}

async fn stack() -> Stack {
    let lambda_port = free_port().expect("port");
    let moto = Moto::start_forwarding_lambda(lambda_port).expect("moto starts");
    let sdk = moto.sdk_config().await;
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), TABLE)
        .await
        .expect("table");
    let watch = LambdaWatch::start_on(lambda_port, &moto.function_env(TABLE)).expect("watch");
    let definition = state_machine_definition(
        "incident-response.asl.json",
        &[(
            "AlarmToIncidentFunctionArn",
            function_arn("alarm-to-incident"),
        )],
    )
    .expect("definition");
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = sfn
        .create_state_machine()
        .name("incident-response")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/quench-state-machine")
        .send()
        .await
        .expect("state machine created")
        .state_machine_arn;
    Stack {
        sfn,
        machine,
        runs: Default::default(),
        _watch: watch,
        _moto: moto,
    }
}

impl Stack {
    async fn run(&self, input: &str) -> (ExecutionStatus, Value, Option<String>) {
        let execution = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.machine)
            // moto names unnamed executions "None", so a second one would collide.
            .name(format!(
                "run-{}",
                self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
            .input(input)
            .send()
            .await
            .expect("started")
            .execution_arn;
        // The first task waits for `cargo lambda watch` to build the function.
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&execution)
                .send()
                .await
                .expect("described");
            if described.status != ExecutionStatus::Running {
                let output = described
                    .output
                    .as_deref()
                    .map(|o| serde_json::from_str(o).expect("output is JSON"))
                    .unwrap_or(Value::Null);
                return (described.status, output, described.error);
            }
            assert!(Instant::now() < deadline, "execution did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[test]
fn every_placeholder_in_the_asl_has_a_substitution() {
    let error = state_machine_definition("incident-response.asl.json", &[])
        .expect_err("placeholders must be substituted");
    assert!(
        error.to_string().contains("${AlarmToIncidentFunctionArn}"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_changes_run_through_the_deployed_state_machine() {
    let stack = stack().await;

    let (status, output, _) = stack
        .run(&sample_event("cpu-high-alarm.json").expect("sample"))
        .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{output}");
    assert_eq!(
        output["incident"]["decision"]["decision"], "opened",
        "{output}"
    );

    let (status, output, _) = stack
        .run(&sample_event("cpu-high-ok.json").expect("sample"))
        .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{output}");
    assert_eq!(
        output["incident"]["decision"]["decision"], "resolved",
        "{output}"
    );

    // resolve after a stable period: Wait until resolve_due_at, then confirm
    stack
        .run(&sample_event("instance-check-failed-alarm.json").expect("sample"))
        .await;
    let (status, output, _) = stack
        .run(&sample_event("instance-check-failed-ok.json").expect("sample"))
        .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{output}");
    assert_eq!(
        output["incident"]["decision"]["decision"], "resolve_pending",
        "{output}"
    );
    assert_eq!(
        output["confirmation"]["decision"]["decision"], "resolved",
        "{output}"
    );

    let (status, _, error) = stack
        .run(&sample_event("wrong-type.json").expect("sample"))
        .await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("InvalidEvent"));
}
