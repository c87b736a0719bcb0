//! A started process in its own process group, stopped with its children when its guard
//! drops.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{repo_root, venv_tool, StackError};

/// A child process in its own process group, killed with its descendants on drop.
pub struct Guarded {
    child: Child,
    what: String,
}

impl Guarded {
    /// Runs `command` under tools/supervise.py, which stops it if this process dies
    /// without dropping the guard (a test run killed by a timeout, say).
    pub(crate) fn spawn(command: Command, what: &str) -> Result<Self, StackError> {
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
