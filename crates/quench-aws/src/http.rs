//! Plain HTTPS POSTs for chat webhooks and the Slack Web API, over the same connector as
//! the SDK clients (rustls + ring, compiled-in roots, proxy settings from the
//! environment; see [`crate::sdk`]).
//!
//! URLs are secrets (a webhook URL is its own credential), so no error or log line here
//! contains one.

use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use crate::secrets::Secret;

/// Responses are small JSON or text; more is not read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after: Option<Duration>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the endpoint URL is not a valid http(s) URL")]
    BadUrl,
    #[error("request could not be built: {0}")]
    Request(String),
    /// Connection refused or reset, DNS, TLS, timeout: the message is the transport's
    /// description without the URL.
    #[error("no response: {0}")]
    Transport(String),
}

pub struct HttpSender {
    connector: Connector,
    timeout: Duration,
}

impl HttpSender {
    /// `timeout` bounds each request, connect to last byte.
    pub fn new(timeout: Duration) -> Self {
        let connector = crate::sdk::connector(
            Some(
                HttpConnectorSettings::builder()
                    .connect_timeout(timeout)
                    .read_timeout(timeout)
                    .build(),
            ),
            aws_smithy_async::rt::sleep::default_async_sleep(),
        );
        HttpSender { connector, timeout }
    }

    pub async fn post(
        &self,
        url: &Secret,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer, HttpError> {
        let target = url.expose();
        if !(target.starts_with("https://") || target.starts_with("http://")) {
            return Err(HttpError::BadUrl);
        }
        let mut request = HttpRequest::new(SdkBody::from(body));
        request.set_uri(target).map_err(|_| HttpError::BadUrl)?;
        request
            .set_method("POST")
            .map_err(|e| HttpError::Request(e.to_string()))?;
        for (name, value) in headers {
            request
                .headers_mut()
                .try_insert((*name).to_string(), value.clone())
                .map_err(|_| HttpError::Request(format!("header `{name}` is not valid")))?;
        }
        let call = self.connector.call(request);
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| HttpError::Transport(format!("timed out after {:?}", self.timeout)))?
            .map_err(|e| HttpError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = tokio::time::timeout(self.timeout, read_at_most(response.into_body()))
            .await
            .map_err(|_| HttpError::Transport("timed out reading the response".into()))??;
        Ok(HttpAnswer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// The first [`MAX_RESPONSE_BYTES`] of a body; the rest is never read, so an endpoint
/// that answers with megabytes (or never stops) costs neither memory nor the time budget.
async fn read_at_most(body: SdkBody) -> Result<Vec<u8>, HttpError> {
    let mut stream = ByteStream::new(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HttpError::Transport(e.to_string()))?;
        let room = MAX_RESPONSE_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(bytes)
}

/// The connector's error kind, not its text: hyper's messages can include the URI.
fn describe(error: &aws_smithy_runtime_api::client::result::ConnectorError) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_io() {
        "connection failed".into()
    } else {
        "transport error".into()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A server that answers 200 with a chunked body that never ends.
    fn endless_server() -> (u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let serve = std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
            // Until the client hangs up, or half a minute at most: a client that keeps
            // the connection open must not keep the test running.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(30)
                && stream.write_all(chunk.as_bytes()).is_ok()
            {}
        });
        (port, serve)
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit_without_waiting_for_its_end() {
        let (port, serve) = endless_server();
        let sender = HttpSender::new(Duration::from_secs(20));
        let url = Secret::new(format!("http://127.0.0.1:{port}/hook"));
        let answer = sender
            .post(&url, &[], b"{}".to_vec())
            .await
            .expect("an answer, cut");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.len(), MAX_RESPONSE_BYTES);
        drop(sender);
        serve.join().expect("server thread");
    }
}
