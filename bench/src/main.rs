//! `make bench`: what Quench costs. Each function's cold init against a stub Runtime
//! API and its release zip size (the artifacts cargo lambda builds for deploy), beside a
//! hello-world function; alarm-to-incident's peak RSS of one real invocation, core decision throughput, the AWS
//! calls each alarm transition makes, and what whole incident lifecycles through the
//! state machine cost. Everything runs on 127.0.0.1; nothing is asserted,
//! the figures are printed next to their targets.

mod backlog;
mod chat;
mod config_cost;
mod lifecycle;
mod oncall;
mod stub;
mod throughput;
mod ticker;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use alarm_to_incident::{Handler, BUNDLED_CONFIG};
use chrono::Utc;
use quench_aws::mirror::AwsMirror;
use quench_aws::store::DynamoStore;
use quench_core::config::Config;
use quench_local_stack::{
    counted_dynamodb, create_table, sample_event, CallCounter, Moto, StackError, FUNCTIONS,
};

use crate::stub::{RuntimeApi, Seen};

const USAGE: &str = "usage: quench-bench --lambdas DIR [--runs N] [--iterations N] [--only SECTION]...\n(--lambdas, cargo lambda's output directory holding NAME/bootstrap and NAME/bootstrap.zip\nfor every function and hello-lambda, is needed by the init section only)";
const HELLO: &str = "hello-lambda";
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);
const RSS_EVENT: &str = "cpu-high-alarm.json";
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("{0}")]
    Failed(String),
}

fn failed(message: impl Into<String>) -> BenchError {
    BenchError::Failed(message.into())
}

#[allow(
    clippy::print_stdout,
    reason = "the benchmark's figures are its output"
)]
fn say(line: impl Display) {
    println!("{line}");
}

struct Args {
    lambdas: PathBuf,
    runs: usize,
    iterations: usize,
    /// `--only NAME`: just these sections.
    only: Vec<String>,
}

/// Sections by name, for `--only`.
const SECTIONS: [&str; 9] = [
    "init",
    "throughput",
    "calls",
    "lifecycles",
    "chat",
    "delivery",
    "ticker",
    "backlog",
    "oncall",
];

impl Args {
    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

impl Args {
    fn parse() -> Result<Self, BenchError> {
        let mut lambdas = None;
        let mut runs = 20;
        let mut iterations = 200_000;
        let mut only = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value")))
            };
            let number = |text: String| {
                text.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| BenchError::Usage(format!("{flag}: `{text}` is not a count")))
            };
            match flag.as_str() {
                "--lambdas" => lambdas = Some(PathBuf::from(value()?)),
                "--runs" => runs = number(value()?)?,
                "--iterations" => iterations = number(value()?)?,
                "--only" => {
                    let section = value()?;
                    if !SECTIONS.contains(&section.as_str()) {
                        return Err(BenchError::Usage(format!(
                            "--only {section}: sections are {}",
                            SECTIONS.join(", ")
                        )));
                    }
                    only.push(section);
                }
                other => return Err(BenchError::Usage(format!("unknown argument `{other}`"))),
            }
        }
        // The binaries are needed only by the init section.
        let needs_binaries = only.is_empty() || only.iter().any(|s| s == "init");
        let lambdas = match lambdas {
            Some(dir) if needs_binaries => {
                for name in FUNCTIONS.iter().chain([&HELLO]) {
                    for file in ["bootstrap", "bootstrap.zip"] {
                        let path = dir.join(name).join(file);
                        if !path.is_file() {
                            return Err(BenchError::Usage(format!(
                                "--lambdas {}: no {}",
                                dir.display(),
                                path.display()
                            )));
                        }
                    }
                }
                dir
            }
            None if needs_binaries => {
                return Err(BenchError::Usage("--lambdas is required".into()))
            }
            other => other.unwrap_or_default(),
        };
        Ok(Args {
            lambdas,
            runs,
            iterations,
            only,
        })
    }
}

/// A function process under test, killed (and reaped) on drop. It stays in our process
/// group, so an interrupted bench takes it down too.
struct Function {
    child: Child,
}

impl Function {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One of the two binaries compared, with the environment a Lambda would give it.
struct Subject {
    name: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    stderr_log: PathBuf,
}

impl Subject {
    fn new(name: &'static str, binary: &Path, moto: &Moto, table: &str) -> Self {
        let mut env = moto.function_env(table);
        let lambda = [
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/20/[$LATEST]bench".to_string(),
            ),
            // Nothing from this host's AWS setup, and no instance metadata lookups.
            (
                "AWS_CONFIG_FILE",
                "/nonexistent/quench-bench/config".to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/quench-bench/credentials".to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ];
        env.extend(lambda.into_iter().map(|(k, v)| (k.to_string(), v)));
        Subject {
            name,
            binary: binary.to_path_buf(),
            env,
            stderr_log: std::env::temp_dir().join(format!("quench-bench-{name}.stderr")),
        }
    }

    /// Starts the binary against `api`; returns the process and the instant just before
    /// the spawn.
    fn start(&self, api: &RuntimeApi) -> Result<(Function, Instant), BenchError> {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&self.stderr_log)?);
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", self.binary.display())))?;
        Ok((Function { child }, started))
    }

    fn died(&self, status: &str) -> BenchError {
        let stderr = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        failed(format!(
            "{} exited ({status}) before it was done; its stderr:\n{stderr}",
            self.name
        ))
    }

    /// Waits for the next thing the stub sees, watching that the process stays up.
    fn expect(
        &self,
        api: &RuntimeApi,
        function: &mut Function,
        what: &str,
    ) -> Result<Seen, BenchError> {
        let deadline = Instant::now() + FUNCTION_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(seen) = api.wait(Duration::from_millis(20)) {
                return match seen {
                    Seen::Error(path, body) => {
                        Err(failed(format!("{} posted {path}: {body}", self.name)))
                    }
                    seen => Ok(seen),
                };
            }
            if let Some(status) = function.exited() {
                return Err(self.died(&status));
            }
        }
        Err(failed(format!(
            "{}: no {what} within {FUNCTION_TIMEOUT:?}",
            self.name
        )))
    }

    /// Process start until the first `next` poll, which is never answered.
    fn cold_init(&self) -> Result<Duration, BenchError> {
        let api = RuntimeApi::start(None)?;
        let (mut function, started) = self.start(&api)?;
        match self.expect(&api, &mut function, "next poll")? {
            Seen::Next(at) => Ok(at.saturating_duration_since(started)),
            other => Err(failed(format!(
                "{}: expected a next poll, saw {other:?}",
                self.name
            ))),
        }
    }

    /// Serves `event` once; returns the posted response and VmHWM / VmRSS in KiB, read
    /// once the function is back polling `next`.
    fn one_invocation(&self, event: &str) -> Result<(String, u64, u64), BenchError> {
        let api = RuntimeApi::start(Some(event.to_string()))?;
        let (mut function, _) = self.start(&api)?;
        let mut response = None;
        let mut polls = 0;
        while polls < 2 {
            match self.expect(&api, &mut function, "response")? {
                Seen::Next(_) => polls += 1,
                Seen::Response(body) => response = Some(body),
                Seen::Error(..) => {}
            }
        }
        let response = response
            .ok_or_else(|| failed(format!("{}: polled again without responding", self.name)))?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", function.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or_else(|| failed(format!("no {name} in /proc/{}/status", function.pid())))
        };
        Ok((response, field("VmHWM:")?, field("VmRSS:")?))
    }
}

struct Spread {
    min: Duration,
    median: Duration,
    p90: Duration,
}

fn spread(samples: &[Duration]) -> Spread {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |i: usize| sorted.get(i).copied().unwrap_or_default();
    let n = sorted.len();
    // The middle element, or the mean of the middle two.
    let median = (at(n.saturating_sub(1) / 2) + at(n / 2)) / 2;
    // Nearest rank.
    let p90 = at((n * 9).div_ceil(10).saturating_sub(1));
    Spread {
        min: at(0),
        median,
        p90,
    }
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "within target"
    } else {
        "OVER TARGET"
    }
}

/// Cold init of every function and of hello-world, `runs` times each. Each run starts
/// them all in a rotated order, so no subject always follows the same one.
fn bench_cold_init(functions: &[Subject], hello: &Subject, runs: usize) -> Result<(), BenchError> {
    say(format!(
        "\n1. Cold init: process start -> first GET /2018-06-01/runtime/invocation/next\n   \
         {runs} runs each, rotating the order, after one discarded warm-up run of each"
    ));
    let subjects: Vec<&Subject> = functions.iter().chain([hello]).collect();
    for subject in &subjects {
        subject.cold_init()?;
    }
    let mut timings: Vec<Vec<Duration>> = vec![Vec::new(); subjects.len()];
    for run in 0..runs {
        for offset in 0..subjects.len() {
            let which = (run + offset) % subjects.len();
            if let (Some(subject), Some(list)) = (subjects.get(which), timings.get_mut(which)) {
                list.push(subject.cold_init()?);
            }
        }
    }
    let spreads: Vec<Spread> = timings.iter().map(|t| spread(t)).collect();
    let hello_spread = spreads.last().map_or(Duration::ZERO, |s| s.median);
    say(format!(
        "   {:<20} {:>11} {:>11} {:>11}   median vs hello (target <= 1.5x)",
        "", "min", "median", "p90"
    ));
    for (subject, s) in subjects.iter().zip(&spreads) {
        let line = format!(
            "   {:<20} {} {} {}",
            subject.name,
            ms(s.min),
            ms(s.median),
            ms(s.p90)
        );
        if subject.name == HELLO {
            say(line);
        } else {
            let median_ratio = ratio(s.median.as_secs_f64(), hello_spread.as_secs_f64());
            say(format!(
                "{line}   {median_ratio:.2}x {}",
                verdict(median_ratio <= 1.5)
            ));
        }
    }
    Ok(())
}

/// What reading the bundled config costs every cold start: parsing it, and the
/// validation inside that.
fn bench_config_load() -> Result<(), BenchError> {
    const ROUNDS: u32 = 200;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(Config::parse(black_box(BUNDLED_CONFIG)).map_err(|e| failed(e.to_string()))?);
    }
    let parse = started.elapsed() / ROUNDS;
    let config = Config::parse(BUNDLED_CONFIG).map_err(|e| failed(e.to_string()))?;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(
            black_box(&config)
                .validate()
                .map_err(|e| failed(e.to_string()))?,
        );
    }
    let validate = started.elapsed() / ROUNDS;
    say(format!(
        "\n3b. The bundled config at a cold start (in-process, mean of {ROUNDS}): parse and \
         validate {:.1} µs, of which validation {:.1} µs",
        parse.as_secs_f64() * 1e6,
        validate.as_secs_f64() * 1e6
    ));
    Ok(())
}

/// The deployed artifact (cargo lambda's bootstrap.zip) and the binary in it.
fn bench_size(functions: &[Subject], hello: &Subject) -> Result<(), BenchError> {
    say("\n2. Release size: the zip Lambda is given, and the bootstrap binary in it");
    let sizes = |subject: &Subject| -> Result<(u64, u64), BenchError> {
        let zip = subject.binary.with_file_name("bootstrap.zip");
        Ok((
            std::fs::metadata(&zip)?.len(),
            std::fs::metadata(&subject.binary)?.len(),
        ))
    };
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let (hello_zip, _) = sizes(hello)?;
    say(format!(
        "   {:<20} {:>10} {:>14}   zip vs hello",
        "", "zip", "binary"
    ));
    for subject in functions.iter().chain([hello]) {
        let (zip, binary) = sizes(subject)?;
        say(format!(
            "   {:<20} {:>6.2} MiB {:>10.2} MiB   {:.2}x",
            subject.name,
            mib(zip),
            mib(binary),
            ratio(zip as f64, hello_zip as f64)
        ));
    }
    say(format!(
        "   (from {})",
        hello
            .binary
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
            .display()
    ));
    Ok(())
}

fn bench_rss(handler: &Subject, hello: &Subject) -> Result<(), BenchError> {
    say(format!(
        "\n3. Peak RSS of one invocation ({RSS_EVENT} served by the stub; the handler writes to moto)"
    ));
    let event = sample_event(RSS_EVENT)?;
    let mut peaks = Vec::new();
    for subject in [handler, hello] {
        let (response, hwm, rss) = subject.one_invocation(&event)?;
        let shown = if response.len() > 400 {
            format!(
                "{}... ({} bytes)",
                response.get(..400).unwrap_or(""),
                response.len()
            )
        } else {
            response
        };
        say(format!(
            "   {:<20} VmHWM {:>7} KiB ({:.1} MiB)   VmRSS after {:>7} KiB",
            subject.name,
            hwm,
            hwm as f64 / 1024.0,
            rss
        ));
        say(format!("   {:<20} response: {shown}", ""));
        peaks.push(hwm as f64);
    }
    if let [a, b] = peaks.as_slice() {
        say(format!("   ratio (VmHWM)        {:.2}x", ratio(*a, *b)));
    }
    Ok(())
}

/// Counts by name, as `name xN, ...`.
fn tally(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(name, n)| format!("{name} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn bench_calls(moto: &Moto) -> Result<(), BenchError> {
    say("\n5. AWS API calls per alarm transition (in-process handler against moto, mirrors off)");
    let sdk = moto.sdk_config().await;
    let counter = CallCounter::default();
    let client = counted_dynamodb(&sdk, &counter);
    let table = "quench-bench-calls";
    create_table(&client, table).await?;
    counter.take();
    let handler: Handler<DynamoStore, AwsMirror> = Handler {
        config: Config::parse(BUNDLED_CONFIG)
            .map_err(|e| failed(format!("bundled config: {e}")))?,
        store: DynamoStore::new(client, table),
        mirror: None,
    };
    let steps: [(&str, &str, Option<usize>); 5] = [
        ("open", "cpu-high-alarm.json", Some(2)),
        ("redelivery", "cpu-high-alarm.json", None),
        ("resolve", "cpu-high-ok.json", Some(2)),
        ("open", "instance-check-failed-alarm.json", Some(2)),
        ("resolve_pending", "instance-check-failed-ok.json", None),
    ];
    let mut pending = None;
    for (label, sample, target) in steps {
        let raw = sample_event(sample)?;
        let response = handler
            .handle(&raw, Utc::now())
            .await
            .map_err(|e| failed(format!("{sample}: {e}")))?;
        let calls = counter.take();
        report_calls(
            label,
            sample,
            response.decision.decision.as_str(),
            &calls,
            target,
        );
        if response.decision.resolve_due_at.is_some() {
            pending = Some(response.decision);
        }
    }
    let pending = pending
        .ok_or_else(|| failed("instance-check-failed-ok.json did not leave a pending resolve"))?;
    let due = pending
        .resolve_due_at
        .ok_or_else(|| failed("pending resolve has no due time"))?;
    let confirm = serde_json::json!({
        "confirm_resolve": {
            "dedup_key": pending.dedup_key,
            "incident_id": pending.incident_id,
        }
    })
    .to_string();
    let response = handler
        .handle(&confirm, due)
        .await
        .map_err(|e| failed(format!("confirm_resolve: {e}")))?;
    let calls = counter.take();
    report_calls(
        "confirm (at due)",
        "confirm_resolve",
        response.decision.decision.as_str(),
        &calls,
        Some(2),
    );
    Ok(())
}

fn report_calls(
    label: &str,
    sample: &str,
    decision: &str,
    calls: &[String],
    target: Option<usize>,
) {
    let target = match target {
        Some(max) => format!("  (target <= {max}: {})", verdict(calls.len() <= max)),
        None => String::new(),
    };
    say(format!(
        "   {label:<17} {sample:<33} -> {decision:<16} {} call(s): {}{target}",
        calls.len(),
        calls.join(", ")
    ));
}

fn run() -> Result<(), BenchError> {
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    say("quench bench: release functions vs a hello-world lambda_runtime function");
    let moto = Moto::start()?;
    say(format!("moto at {}", moto.endpoint));
    let table = "quench-bench";
    runtime.block_on(async {
        let client = counted_dynamodb(&moto.sdk_config().await, &CallCounter::default());
        create_table(&client, table).await
    })?;
    if args.wants("init") {
        let subject = |name: &'static str| {
            Subject::new(
                name,
                &args.lambdas.join(name).join("bootstrap"),
                &moto,
                table,
            )
        };
        let functions: Vec<Subject> = FUNCTIONS.into_iter().map(subject).collect();
        let hello = subject(HELLO);
        bench_cold_init(&functions, &hello, args.runs)?;
        bench_size(&functions, &hello)?;
        if let Some(handler) = functions.first() {
            bench_rss(handler, &hello)?;
        }
        bench_config_load()?;
        config_cost::run()?;
    }
    if args.wants("throughput") {
        throughput::bench_throughput(args.iterations)?;
    }
    if args.wants("calls") {
        runtime.block_on(bench_calls(&moto))?;
    }
    if args.wants("lifecycles") {
        runtime.block_on(lifecycle::bench_lifecycles())?;
    }
    if args.wants("chat") {
        chat::bench_render()?;
    }
    if args.wants("delivery") {
        runtime.block_on(chat::bench_delivery(&moto))?;
    }
    if args.wants("ticker") {
        runtime.block_on(ticker::bench_ticker(&moto))?;
    }
    if args.wants("backlog") {
        runtime.block_on(backlog::bench_backlog(&moto))?;
    }
    if args.wants("oncall") {
        oncall::run()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quench-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
