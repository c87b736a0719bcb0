//! `cargo lambda watch` serving the workspace's functions, started without the variables
//! cargo set for the test that starts it.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Guarded;
use crate::{free_port, repo_root, venv_tool, wait_for_port, StackError};

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
    pub(crate) fn command(program: &Path, port: u16, env: &[(String, String)]) -> Command {
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
pub(crate) fn set_by_cargo(name: &str) -> bool {
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
pub(crate) fn without_cargo_variables(command: &mut Command) {
    for name in cargo_variables(std::env::vars_os().map(|(name, _)| name)) {
        command.env_remove(name);
    }
}

/// A minimal HTTP/1.1 POST, enough for the local Lambda invoke API.
pub(crate) fn http_post(
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
    stream.read_to_end(&mut response).map_err(|e| {
        // A read timeout surfaces as EAGAIN ("Resource temporarily unavailable"), which
        // names neither the request nor the wait.
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            StackError::Http(format!("{path}: no answer within {timeout:?}"))
        } else {
            http(e)
        }
    })?;
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

pub(crate) fn dechunk(mut rest: &str) -> String {
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
