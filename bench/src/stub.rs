//! A stub Lambda Runtime API: just enough HTTP/1.1 on 127.0.0.1 for lambda_runtime's
//! client to poll `next`, receive one event and post its response.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::BenchError;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const REQUEST_ID: &str = "bench-request-1";

/// What the stub saw, in the order it saw it.
#[derive(Debug)]
pub enum Seen {
    /// A `next` poll; the instant is taken as soon as its request line is read.
    Next(Instant),
    /// The body posted to `/invocation/<id>/response`.
    Response(String),
    /// The path and body of any `/error` post (invocation or init).
    Error(String, String),
}

pub struct RuntimeApi {
    pub port: u16,
    seen: Receiver<Seen>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    /// The one event to hand out; `None`: never answer `next`.
    event: Mutex<Option<String>>,
    seen: Sender<Seen>,
}

impl RuntimeApi {
    /// `event`: the payload for the first `next`; every other `next` is held open,
    /// unanswered, until the function process goes away.
    pub fn start(event: Option<String>) -> Result<Self, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (sender, seen) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            event: Mutex::new(event),
            seen: sender,
        });
        let accept = std::thread::spawn({
            let stop = stop.clone();
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    // Detached: a held `next` ends when the function process dies.
                    std::thread::spawn(move || serve(stream, &shared));
                }
            }
        });
        Ok(RuntimeApi {
            port,
            seen,
            stop,
            accept: Some(accept),
        })
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The next thing seen, or `None` after `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Seen> {
        self.seen.recv_timeout(timeout).ok()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Serves one keep-alive connection until the peer closes it.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = writer;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        let Some(request) = read_request(&line, &mut reader) else {
            return;
        };
        let ok = match (request.method.as_str(), request.path.as_str()) {
            ("GET", NEXT) => {
                let _ = shared.seen.send(Seen::Next(at));
                let event = shared.event.lock().ok().and_then(|mut e| e.take());
                match event {
                    Some(event) => respond_event(&mut writer, &event),
                    None => {
                        // Hold: never answer; wait for the process to go away.
                        let _ = std::io::copy(&mut reader, &mut std::io::sink());
                        return;
                    }
                }
            }
            ("POST", path)
                if path.starts_with(INVOCATION_PREFIX) && path.ends_with("/response") =>
            {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let _ = shared.seen.send(Seen::Response(body));
                respond(&mut writer, "202 Accepted", r#"{"status":"OK"}"#)
            }
            ("POST", path) if path.ends_with("/error") => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let _ = shared.seen.send(Seen::Error(path.to_string(), body));
                respond(&mut writer, "202 Accepted", r#"{"status":"OK"}"#)
            }
            _ => respond(&mut writer, "404 Not Found", r#"{"errorType":"NotFound"}"#),
        };
        if ok.is_err() {
            return;
        }
    }
}

fn read_request(line: &str, reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Request { method, path, body })
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = size.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            // Trailers, then the blank line that ends the message.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim_end().is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(body.get_mut(start..)?).ok()?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
}

fn respond(writer: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    writer.flush()
}

fn respond_event(writer: &mut TcpStream, event: &str) -> std::io::Result<()> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let deadline = now_ms + 60_000;
    write!(
        writer,
        "HTTP/1.1 200 OK\r\n\
         Content-Type: application/json\r\n\
         Lambda-Runtime-Aws-Request-Id: {REQUEST_ID}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:123456789012:function:bench\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
         Content-Length: {}\r\n\r\n{event}",
        event.len()
    )?;
    writer.flush()
}
