//! A local HTTP sink standing in for Slack (webhooks and the Web API), Teams, Chime and
//! generic webhooks: it records every request and answers as told. Binds 127.0.0.1 on a
//! free port; stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::StackError;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// The body as it arrived, byte for byte (what a signature covers).
    pub raw: Vec<u8>,
    /// The status the sink answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct Failure {
    path_prefix: String,
    /// `None`: for good.
    remaining: Option<u32>,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    failures: Vec<Failure>,
}

pub struct Sink {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    pub fn start() -> Result<Sink, StackError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| StackError::Spawn {
            what: "chat sink".into(),
            source: e,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StackError::Http(e.to_string()))?
            .port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            let ts = Arc::new(AtomicU64::new(1));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let (state, ts) = (state.clone(), ts.clone());
                        std::thread::spawn(move || serve(stream, &state, &ts));
                    }
                }
            })
        };
        Ok(Sink {
            port,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next `times` requests under `path_prefix` get `status` (with `Retry-After`).
    pub fn fail_next(&self, path_prefix: &str, times: u32, status: u16, retry_after: Option<u64>) {
        self.fail(path_prefix, Some(times), status, retry_after);
    }

    /// Every request under `path_prefix` gets 503 from now on.
    pub fn down(&self, path_prefix: &str) {
        self.fail(path_prefix, None, 503, None);
    }

    fn fail(
        &self,
        path_prefix: &str,
        remaining: Option<u32>,
        status: u16,
        retry_after: Option<u64>,
    ) {
        lock(&self.state).failures.push(Failure {
            path_prefix: path_prefix.into(),
            remaining,
            status,
            retry_after,
        });
    }

    /// What arrived under `path_prefix` and was answered 2xx, oldest first.
    pub fn delivered(&self, path_prefix: &str) -> Vec<Received> {
        lock(&self.state)
            .received
            .iter()
            .filter(|r| r.path.starts_with(path_prefix) && (200..300).contains(&r.status))
            .cloned()
            .collect()
    }

    /// Every request under `path_prefix`, failed ones included.
    pub fn requests(&self, path_prefix: &str) -> usize {
        lock(&self.state)
            .received
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, ts: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {
                if let Some((k, v)) = header.trim_end().split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let raw = body;
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    let (status, retry_after) = {
        let mut state = lock(state);
        let failure = state
            .failures
            .iter_mut()
            .find(|f| path.starts_with(&f.path_prefix) && f.remaining.is_none_or(|n| n > 0));
        match failure {
            Some(f) => {
                if let Some(n) = f.remaining.as_mut() {
                    *n -= 1;
                }
                (f.status, f.retry_after)
            }
            None => (200, None),
        }
    };
    let answer = if status != 200 {
        serde_json::json!({ "ok": false, "error": "sink told to fail" })
    } else if path.ends_with("/chat.postMessage") {
        let n = ts.fetch_add(1, Ordering::SeqCst);
        serde_json::json!({ "ok": true, "ts": format!("1764000000.{n:06}") })
    } else {
        serde_json::json!({ "ok": true })
    };
    lock(state).received.push(Received {
        path,
        headers,
        body,
        raw,
        status,
    });
    let text = answer.to_string();
    let retry = retry_after
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    let _ = write!(
        writer,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{text}",
        if status == 200 { "OK" } else { "Error" },
        text.len()
    );
    let _ = writer.flush();
}
