//! The local stack: moto in server mode for AWS, `cargo lambda watch` for the functions.
//! Every process is started on a free 127.0.0.1 port in its own process group and
//! stopped, with its children, when its guard drops.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod incident_response;
mod infra;
mod moto;
mod process;
pub mod sink;
#[cfg(test)]
mod tests;
mod watch;

pub use infra::*;
pub use moto::*;
pub use process::*;
pub use watch::*;

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

pub(crate) fn venv_tool(name: &str) -> Result<PathBuf, StackError> {
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

pub(crate) fn wait_for_port(port: u16, what: &str, timeout: Duration) -> Result<(), StackError> {
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

/// A sample event from events/alarm-to-incident.
pub fn sample_event(name: &str) -> Result<String, StackError> {
    let path = repo_root().join("events/alarm-to-incident").join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))
}
