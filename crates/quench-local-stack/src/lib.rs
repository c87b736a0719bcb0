//! The local stack: moto in server mode for AWS, `cargo lambda watch` for the functions.
//! Every process is started on a free 127.0.0.1 port in its own process group and
//! stopped, with its children, when its guard drops.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde_yaml_ng::Value;

pub mod incident_response;
pub mod sink;

pub const REGION: &str = "eu-west-1";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0} not found; run `make setup` first")]
    MissingTool(String),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{0} did not become ready in time")]
    NotReady(String),
    #[error("template: {0}")]
    Template(String),
    #[error("AWS call failed: {0}")]
    Aws(String),
    #[error("http: {0}")]
    Http(String),
}

/// The repository root, wherever the tests run from: this crate is `crates/quench-local-stack`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn venv_tool(name: &str) -> Result<PathBuf, StackError> {
    let path = repo_root().join(".venv/bin").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(StackError::MissingTool(path.display().to_string()))
    }
}

pub fn free_port() -> Result<u16, StackError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| StackError::Spawn {
            what: "port probe".into(),
            source: e,
        })
}

fn wait_for_port(port: u16, what: &str, timeout: Duration) -> Result<(), StackError> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(StackError::NotReady(what.to_string()))
}

/// A child process in its own process group, killed with its descendants on drop.
pub struct Guarded {
    child: Child,
    what: String,
}

impl Guarded {
    /// Runs `command` under tools/supervise.py, which stops it if this process dies
    /// without dropping the guard (a test run killed by a timeout, say).
    fn spawn(command: Command, what: &str) -> Result<Self, StackError> {
        use std::os::unix::process::CommandExt;
        let mut supervised = Command::new(venv_tool("python")?);
        supervised
            .arg(repo_root().join("tools/supervise.py"))
            .arg(command.get_program())
            .args(command.get_args())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => supervised.env(key, value),
                None => supervised.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            supervised.current_dir(dir);
        }
        let child = supervised.spawn().map_err(|e| StackError::Spawn {
            what: what.to_string(),
            source: e,
        })?;
        Ok(Guarded {
            child,
            what: what.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Negative pid: the whole group, so `cargo lambda watch`'s function processes go too.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

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
        let body = serde_json::json!({ "target": target, "code": code, "count": count });
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
        let (status, answer) =
            http_post(self.port, path, &body.to_string(), Duration::from_secs(10))?;
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

/// The deployed functions, by binary name (each is `crates/<name>`).
pub const FUNCTIONS: [&str; 4] = [
    "alarm-to-incident",
    "runbook-step",
    "chat-notifier",
    "escalation-ticker",
];

/// infra/template.yaml, parsed (intrinsics such as `!Ref` stay tagged values).
pub fn sam_template() -> Result<Value, StackError> {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))?;
    serde_yaml_ng::from_str(&text).map_err(|e| StackError::Template(e.to_string()))
}

/// Every resource of infra/template.yaml, by logical id.
pub fn sam_template_resources() -> Result<serde_yaml_ng::Mapping, StackError> {
    sam_template()?
        .get("Resources")
        .and_then(Value::as_mapping)
        .cloned()
        .ok_or_else(|| StackError::Template("no Resources".into()))
}

/// Every IAM statement the template may give the function built from `binary`: its
/// inline statements and those of the managed policies it names, both branches of each
/// `!If` taken (a condition only ever removes statements).
pub fn function_statements(binary: &str) -> Result<Vec<Value>, StackError> {
    let resources = sam_template_resources()?;
    let function = resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .ok_or_else(|| StackError::Template(format!("no function builds `{binary}`")))?;
    let mut statements = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(if_branches)
    {
        let document = match &policy {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                let name = tagged.value.as_str().unwrap_or_default();
                let policy = resources.get(name).ok_or_else(|| {
                    StackError::Template(format!("{binary}'s policy `{name}` is not a resource"))
                })?;
                policy["Properties"]["PolicyDocument"].clone()
            }
            inline => inline.clone(),
        };
        statements.extend(
            document["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(if_branches),
        );
    }
    Ok(statements)
}

/// The values `!If [condition, a, b]` may take (`AWS::NoValue` dropped); any other value
/// is itself.
fn if_branches(value: &Value) -> Vec<Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged
            .value
            .as_sequence()
            .map(|parts| parts.iter().skip(1).flat_map(if_branches).collect())
            .unwrap_or_default(),
        Value::Tagged(tagged)
            if tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue") =>
        {
            vec![]
        }
        other => vec![other.clone()],
    }
}

/// The actions of one IAM statement.
pub fn statement_actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// The IAM actions the template allows the function built from `binary`.
pub fn function_actions(binary: &str) -> Result<std::collections::BTreeSet<String>, StackError> {
    Ok(function_statements(binary)?
        .iter()
        .flat_map(statement_actions)
        .collect())
}

/// The IAM actions an API call needs, for an operation as the local stack names it
/// (`DynamoDB.GetItem`). A transaction needs the actions of its items: Quench's are puts.
pub fn iam_actions(operation: &str) -> Vec<String> {
    let (service, name) = operation.split_once('.').unwrap_or(("?", operation));
    let prefix = match service {
        "DynamoDB" => "dynamodb",
        "SSM" => "ssm",
        "EC2" => "ec2",
        "CloudWatch" => "cloudwatch",
        "SNS" => "sns",
        "SQS" => "sqs",
        "SecretsManager" => "secretsmanager",
        "SSMIncidents" => "ssm-incidents",
        other => other,
    };
    match (prefix, name) {
        ("dynamodb", "TransactWriteItems") => vec!["dynamodb:PutItem".to_string()],
        _ => vec![format!("{prefix}:{name}")],
    }
}

/// The `IncidentTable` resource's Properties from infra/template.yaml.
pub fn table_definition() -> Result<Value, StackError> {
    sam_template_properties("IncidentTable")
}

/// A resource's Properties from infra/template.yaml.
pub fn sam_template_properties(resource: &str) -> Result<Value, StackError> {
    sam_template_resources()?
        .get(resource)
        .and_then(|r| r.get("Properties"))
        .cloned()
        .ok_or_else(|| StackError::Template(format!("no Resources.{resource}.Properties")))
}

fn text(value: &Value, key: &str) -> Result<String, StackError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StackError::Template(format!("missing {key}")))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Creates a table named `name` from the template's definition.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), StackError> {
    let definition = table_definition()?;
    let mut request = client.create_table().table_name(name);
    for attribute in list(&definition, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(attribute, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(
                    text(attribute, "AttributeType")?.as_str(),
                ))
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    for key in list(&definition, "KeySchema") {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(text(key, "AttributeName")?)
                .key_type(KeyType::from(text(key, "KeyType")?.as_str()))
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    for index in list(&definition, "GlobalSecondaryIndexes") {
        let mut gsi = GlobalSecondaryIndex::builder().index_name(text(index, "IndexName")?);
        for key in list(index, "KeySchema") {
            gsi = gsi.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(text(key, "AttributeName")?)
                    .key_type(KeyType::from(text(key, "KeyType")?.as_str()))
                    .build()
                    .map_err(|e| StackError::Template(e.to_string()))?,
            );
        }
        let projection = &index["Projection"];
        let mut built = Projection::builder().projection_type(ProjectionType::from(
            text(projection, "ProjectionType")?.as_str(),
        ));
        for attribute in list(projection, "NonKeyAttributes") {
            built = built.non_key_attributes(attribute.as_str().unwrap_or_default());
        }
        request = request.global_secondary_indexes(
            gsi.projection(built.build())
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    request = request.billing_mode(BillingMode::from(
        text(&definition, "BillingMode")?.as_str(),
    ));
    request.send().await.map_err(|e| {
        StackError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
    })?;
    Ok(())
}

/// `cargo lambda watch` serving the workspace's functions on a free port.
pub struct LambdaWatch {
    pub port: u16,
    _process: Guarded,
}

impl LambdaWatch {
    pub fn start(env: &[(String, String)]) -> Result<Self, StackError> {
        Self::start_on(free_port()?, env)
    }

    /// On a port chosen beforehand, e.g. the one moto forwards Lambda invocations to.
    pub fn start_on(port: u16, env: &[(String, String)]) -> Result<Self, StackError> {
        let command = Self::command(&venv_tool("cargo-lambda")?, port, env);
        let process = Guarded::spawn(command, "cargo lambda watch")?;
        wait_for_port(port, "cargo lambda watch", Duration::from_secs(60))?;
        Ok(LambdaWatch {
            port,
            _process: process,
        })
    }

    /// `cargo lambda watch` (`program`) serving on `port`, with `env` added to this
    /// process's environment less what cargo set in it.
    fn command(program: &Path, port: u16, env: &[(String, String)]) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(repo_root())
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        without_cargo_variables(&mut command);
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// Runs `cargo lambda invoke FUNCTION --data-file FILE` against this server: the
    /// command the README documents. Returns its stdout (the response) or its stderr.
    pub fn invoke_data_file(&self, function: &str, file: &Path) -> Result<String, StackError> {
        let mut command = Command::new(venv_tool("cargo-lambda")?);
        without_cargo_variables(&mut command);
        let output = command
            .args(["lambda", "invoke", function])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .arg("--data-file")
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| StackError::Spawn {
                what: "cargo lambda invoke".into(),
                source: e,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(StackError::Http(format!(
                "cargo lambda invoke failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }

    /// Invokes `function` with `payload` over the Lambda Invoke API. Patient: the first
    /// call waits for `cargo lambda watch` to build the function.
    pub fn invoke(&self, function: &str, payload: &str) -> Result<(u16, String), StackError> {
        http_post(
            self.port,
            &format!("/2015-03-31/functions/{function}/invocations"),
            payload,
            Duration::from_secs(900),
        )
    }
}

/// Whether cargo sets the variable `name` for a process it runs: a test, `cargo run`'s
/// program, a build script. Cargo's own configuration (`CARGO_HOME`, `CARGO_TARGET_DIR`,
/// `CARGO_BUILD_*`, `CARGO_ENCODED_RUSTFLAGS`, `RUSTC_WRAPPER`, ...), rustup's (`RUSTUP_*`)
/// and `PATH` are not among them.
fn set_by_cargo(name: &str) -> bool {
    const NAMES: [&str; 11] = [
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_MAKEFLAGS",
        "OUT_DIR",
    ];
    const PREFIXES: [&str; 5] = [
        "CARGO_PKG_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "__CARGO_",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// The variables among `names` that cargo set for the process that has them, to be
/// removed before that process starts cargo again. A build script's `rerun-if-env-changed`
/// makes cargo compare such a variable (ring's names `CARGO_MANIFEST_DIR` and
/// `CARGO_PKG_*`) with its value at the last build: a `cargo lambda watch` started from a
/// test with them set would rebuild ring and everything above it that the test's own
/// `cargo test` had just built.
pub fn cargo_variables(names: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    names
        .into_iter()
        .filter(|name| name.to_str().is_some_and(set_by_cargo))
        .collect()
}

/// `command` runs without the variables cargo set for this process.
fn without_cargo_variables(command: &mut Command) {
    for name in cargo_variables(std::env::vars_os().map(|(name, _)| name)) {
        command.env_remove(name);
    }
}

/// A minimal HTTP/1.1 POST, enough for the local Lambda invoke API.
fn http_post(
    port: u16,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), StackError> {
    let http = |e: std::io::Error| StackError::Http(e.to_string());
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(http)?;
    stream.set_read_timeout(Some(timeout)).map_err(http)?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(http)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(http)?;
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, rest) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| StackError::Http("no header end".into()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StackError::Http(format!("bad status line: {head}")))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let (Some(chunk), Some(next)) = (after.get(..size), after.get(size..)) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(chunk);
        rest = next.trim_start_matches("\r\n");
    }
    out
}

/// A sample event from events/alarm-to-incident.
pub fn sample_event(name: &str) -> Result<String, StackError> {
    let path = repo_root().join("events/alarm-to-incident").join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))
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

/// Account and ARNs the local stack uses for the functions the ASL names.
pub const ACCOUNT: &str = "123456789012";

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The ASL file from infra/statemachines with `${Name}` placeholders replaced, as SAM's
/// `DefinitionSubstitutions` does on deploy. A placeholder left unreplaced is an error.
pub fn state_machine_definition(
    file: &str,
    substitutions: &[(&str, String)],
) -> Result<String, StackError> {
    let path = repo_root().join("infra/statemachines").join(file);
    let mut text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))?;
    for (name, value) in substitutions {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    if let Some(start) = text.find("${") {
        let rest = &text[start..];
        let end = rest.find('}').map_or(rest.len(), |i| i + 1);
        return Err(StackError::Template(format!(
            "{file}: no substitution for {}",
            &rest[..end]
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The environment `command` would run with: this process's, changed as it says.
    fn environment(command: &Command) -> BTreeMap<OsString, OsString> {
        let mut environment: BTreeMap<_, _> = std::env::vars_os().collect();
        for (name, value) in command.get_envs() {
            match value {
                Some(value) => environment.insert(name.to_owned(), value.to_owned()),
                None => environment.remove(name),
            };
        }
        environment
    }

    #[test]
    fn the_watch_gets_none_of_the_variables_cargo_test_set() {
        // cargo sets both for every test it runs, this one included.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        let added = [("AWS_REGION".to_string(), REGION.to_string())];
        let environment = environment(&LambdaWatch::command(
            Path::new("cargo-lambda"),
            9000,
            &added,
        ));
        let left: Vec<_> = environment
            .keys()
            .filter_map(|name| name.to_str())
            .filter(|name| {
                [
                    "CARGO",
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                ]
                .contains(name)
                    || name.starts_with("CARGO_PKG_")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
        for kept in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ] {
            assert_eq!(
                environment.get(&OsString::from(kept)),
                std::env::var_os(kept).as_ref(),
                "{kept}"
            );
        }
        assert_eq!(
            environment.get(&OsString::from("AWS_REGION")),
            Some(&OsString::from(REGION))
        );
    }

    #[test]
    fn only_what_cargo_sets_for_a_test_or_build_script_is_removed() {
        let names = [
            "CARGO",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_BIN_EXE_quench-demo",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "CARGO_BUILD_JOBS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TERM_COLOR",
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
            "PATH",
            "QUENCH_TABLE",
        ];
        let removed = cargo_variables(names.map(OsString::from));
        assert_eq!(
            removed,
            [
                "CARGO",
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION_MAJOR",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_BIN_EXE_quench-demo",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .map(OsString::from)
        );
    }
}
