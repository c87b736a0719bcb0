//! moto in server mode (through tools/local_aws.py) and the AWS calls it served.

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use crate::process::Guarded;
use crate::watch::http_post;
use crate::{free_port, repo_root, venv_tool, wait_for_port, StackError, REGION};

/// One AWS request the local stack served, with DynamoDB capacity units estimated from
/// its JSON sizes (an overestimate: DynamoDB bills attribute bytes, not JSON).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AwsCall {
    /// `Service.Operation`, e.g. `DynamoDB.GetItem`, `CloudWatch.DescribeAlarms`.
    pub operation: String,
    pub status: u16,
    /// Write request units.
    pub wru: u64,
    /// Read request units.
    pub rru: u64,
    /// The caller's SDK app name (`quench-<function>`), when it set one.
    #[serde(default)]
    pub app: Option<String>,
}

/// What the local stack does to the next `count` requests of one operation instead of
/// answering them plainly (tools/local_aws.py, POST /_quench/faults).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fault {
    /// The X-Amz-Target (`DynamoDB_20120810.PutItem`), or `Service.Action` for the query
    /// protocol (`SNS.Publish`).
    pub target: String,
    /// The error answered; `None` keeps moto's own answer (a held one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub count: u32,
    /// moto applies the request before the error is answered: the write lands, the
    /// caller hears it failed.
    pub after: bool,
    /// Seconds the answer is held, after moto applied the request unless it was refused
    /// before: longer than the caller's timeout, the write lands and the caller times out.
    pub delay_seconds: u64,
}

impl Fault {
    /// The request is refused with `code` and never reaches moto.
    pub fn before(target: &str, code: &str) -> Fault {
        Fault {
            target: target.to_string(),
            code: Some(code.to_string()),
            count: 1,
            after: false,
            delay_seconds: 0,
        }
    }

    /// The request is applied, then answered with the error `code`.
    pub fn after_commit(target: &str, code: &str) -> Fault {
        Fault {
            after: true,
            ..Fault::before(target, code)
        }
    }

    /// The request is applied and its answer held `seconds`.
    pub fn held(target: &str, seconds: u64) -> Fault {
        Fault {
            code: None,
            delay_seconds: seconds,
            ..Fault::before(target, "")
        }
    }

    /// For the next `count` requests instead of one.
    pub fn times(self, count: u32) -> Fault {
        Fault { count, ..self }
    }
}

/// moto in server mode on a free port.
pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    _process: Guarded,
}

impl Moto {
    /// moto alone.
    pub fn start() -> Result<Self, StackError> {
        Self::launch(None)
    }

    /// moto whose Lambda invocations (the state machine's included) go to the
    /// `cargo lambda watch` that will listen on `lambda_port`.
    pub fn start_forwarding_lambda(lambda_port: u16) -> Result<Self, StackError> {
        Self::launch(Some(lambda_port))
    }

    fn launch(lambda_port: Option<u16>) -> Result<Self, StackError> {
        let port = free_port()?;
        let mut command = Command::new(venv_tool("python")?);
        command
            .arg(repo_root().join("tools/local_aws.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(lambda_port) = lambda_port {
            command.args([
                "--lambda-endpoint",
                &format!("http://127.0.0.1:{lambda_port}"),
            ]);
        }
        let process = Guarded::spawn(command, "local AWS (moto)")?;
        wait_for_port(port, "local AWS (moto)", Duration::from_secs(60))?;
        Ok(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _process: process,
        })
    }

    /// SDK config for the local stack: fixed region, dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(quench_aws::sdk::https_client())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "local"))
            .load()
            .await
    }

    /// The next `count` requests whose X-Amz-Target is `target` (e.g.
    /// `AmazonSSM.SendCommand`) fail with the error `code`.
    pub fn inject_fault(&self, target: &str, code: &str, count: u32) -> Result<(), StackError> {
        self.inject(&Fault::before(target, code).times(count))
    }

    /// Serves `fault` to the next requests it names.
    pub fn inject(&self, fault: &Fault) -> Result<(), StackError> {
        let body = serde_json::to_value(fault)
            .map_err(|e| StackError::Http(format!("/_quench/faults: {e}")))?;
        self.control("/_quench/faults", &body).map(|_| ())
    }

    /// How many injected faults were served, per target.
    pub fn faults_served(&self, target: &str) -> Result<u64, StackError> {
        let answer = self.control("/_quench/faults/served", &serde_json::json!({}))?;
        Ok(answer["served"][target].as_u64().unwrap_or(0))
    }

    /// What Run Command reports for commands whose text contains `matching`: `status`
    /// (`Success`, `Failed`, `InProgress`...), exit code, stdout. Nothing is executed.
    pub fn agent_reports(
        &self,
        matching: &str,
        status: &str,
        exit_code: i64,
        stdout: &str,
    ) -> Result<(), StackError> {
        let body = serde_json::json!({
            "match": matching, "status": status, "exit_code": exit_code, "stdout": stdout,
        });
        self.control("/_quench/agent", &body).map(|_| ())
    }

    /// Every SMS moto's SNS accepted, as (phone, message).
    pub fn sms_sent(&self) -> Result<Vec<(String, String)>, StackError> {
        let answer = self.control("/_quench/sms", &serde_json::json!({}))?;
        serde_json::from_value(answer["sms"].clone())
            .map_err(|e| StackError::Http(format!("/_quench/sms: {e}")))
    }

    /// The AWS requests moto served since the last call (Lambda invokes excluded).
    pub fn aws_calls(&self) -> Result<Vec<AwsCall>, StackError> {
        let answer = self.control("/_quench/calls", &serde_json::json!({}))?;
        serde_json::from_value(answer["calls"].clone())
            .map_err(|e| StackError::Http(format!("/_quench/calls: {e}")))
    }

    fn control(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, StackError> {
        // Generous: on a loaded two-core runner the emulator can be starved for seconds
        // while functions build and run beside it.
        let (status, answer) =
            http_post(self.port, path, &body.to_string(), Duration::from_secs(60))?;
        if status != 200 {
            return Err(StackError::Http(format!("{path}: {status} {answer}")));
        }
        serde_json::from_str(&answer).map_err(|e| StackError::Http(format!("{path}: {e}")))
    }

    /// Environment that points a function at this moto.
    pub fn function_env(&self, table: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("QUENCH_TABLE", table),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// Counts every request the SDK sends (retries included) and names its operation, so
/// "AWS calls per alarm transition" is measured, not estimated.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CallCounter {
    pub fn take(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| "unknown".to_string());
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(operation);
        }
        Ok(())
    }
}

/// A DynamoDB client for the local stack whose requests `counter` sees.
pub fn counted_dynamodb(sdk: &SdkConfig, counter: &CallCounter) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
