//! A real HTTP/1.1 server on `127.0.0.1` for testing webhook alerters: it records
//! every request and answers each with the next scripted [`Reply`] (200, 400, 429
//! with `Retry-After`, 500, or no answer at all).
//!
//! The server runs on its own thread with its own Tokio runtime, so it serves both
//! async tests and blocking ones (for example a test that runs the `dtk` binary).
//!
//! ```no_run
//! use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
//! let server = WebhookServer::with_replies([Reply::Status(500), Reply::Status(200)]);
//! let url = server.url(); // http://127.0.0.1:PORT/hooks/test
//! // ... send alerts to `url` ...
//! let requests = server.wait_for_requests(2, std::time::Duration::from_secs(5));
//! assert_eq!(requests[1].json()["text"], "hello");
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::server_thread::ServerThread;

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This status with a short plain-text body (`ok` for 200).
    Status(u16),
    /// This status with this body.
    Body(u16, String),
    /// 429 with this `Retry-After` header value (seconds or an HTTP date).
    RateLimited {
        /// The `Retry-After` value.
        retry_after: String,
    },
    /// Wait this long, then answer with this status (a slow endpoint).
    Delayed(Duration, u16),
    /// Read the request, record it, and never answer (the connection stays open).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request target, e.g. `/hooks/test`.
    pub path: String,
    /// Headers in the order received (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
}

impl Shared {
    fn next_reply(&self) -> Reply {
        let scripted = lock(&self.script).pop_front();
        scripted.unwrap_or_else(|| lock(&self.fallback).clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recording webhook endpoint on `127.0.0.1` (an ephemeral port). Stops when dropped.
#[derive(Debug)]
pub struct WebhookServer {
    shared: Arc<Shared>,
    server: ServerThread,
}

impl WebhookServer {
    /// A server answering every request with 200 `ok`.
    pub fn start() -> Self {
        Self::with_replies([])
    }

    /// A server answering requests with `replies` in order, then with 200 `ok`.
    pub fn with_replies(replies: impl IntoIterator<Item = Reply>) -> Self {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(replies.into_iter().collect()),
            fallback: Mutex::new(Reply::Status(200)),
        });
        let state = Arc::clone(&shared);
        let server = ServerThread::start("webhook test server", move |stream, stop| {
            connection(stream, Arc::clone(&state), stop)
        });
        Self { shared, server }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// A webhook URL on this server: `http://127.0.0.1:PORT/hooks/test`.
    pub fn url(&self) -> String {
        self.url_with_path("/hooks/test")
    }

    /// A URL on this server with `path` (starting with `/`).
    pub fn url_with_path(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Appends replies to the script.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Sets the reply used once the script is exhausted (default 200 `ok`).
    pub fn set_fallback(&self, reply: Reply) {
        *lock(&self.shared.fallback) = reply;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Waits (blocking) until at least `n` requests arrived or `timeout` passed, and
    /// returns the requests received by then.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        while self.request_count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.requests()
    }
}

/// Serves requests on one (keep-alive) connection until it closes.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut buffer = Vec::new();
    loop {
        let request = tokio::select! {
            _ = stop.changed() => return,
            r = read_request(&mut stream, &mut buffer) => r,
        };
        let Some(request) = request else { return };
        let reply = shared.next_reply();
        lock(&shared.requests).push(request);
        let (status, body, retry_after) = match reply {
            Reply::Hang => {
                let _ = stop.changed().await;
                return;
            }
            Reply::Delayed(wait, status) => {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                (status, default_body(status).to_string(), None)
            }
            Reply::Status(status) => (status, default_body(status).to_string(), None),
            Reply::Body(status, body) => (status, body, None),
            Reply::RateLimited { retry_after } => {
                (429, "rate_limited".to_string(), Some(retry_after))
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n",
            reason(status),
            body.len()
        );
        if let Some(value) = retry_after {
            head.push_str(&format!("retry-after: {value}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

fn default_body(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        400 => "invalid_payload",
        403 => "invalid_token",
        404 => "no_service",
        429 => "rate_limited",
        500..=599 => "internal_error",
        _ => "error",
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads more bytes into `buffer`; false at end of stream.
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Reads one request (head and body); `None` when the connection closed.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<RecordedRequest> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if !fill(stream, buffer).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(stream, buffer).await?
    } else {
        let length: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < length {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        buffer.drain(..length).collect()
    };
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
    })
}

async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buffer.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if !fill(stream, buffer).await {
                return None;
            }
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        buffer.drain(..line_end + 2);
        while buffer.len() < size + 2 {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        body.extend(buffer.drain(..size));
        buffer.drain(..2);
        if size == 0 {
            return Some(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn exchange(server: &WebhookServer, raw: &str) -> String {
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn answers_by_script_and_records_requests() {
        let server = WebhookServer::with_replies([
            Reply::RateLimited {
                retry_after: "2".into(),
            },
            Reply::Status(500),
        ]);
        let post = "POST /hooks/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"text\":1}\n";
        let first = exchange(&server, post);
        assert!(
            first.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{first}"
        );
        assert!(first.contains("retry-after: 2\r\n"), "{first}");
        assert!(exchange(&server, post).starts_with("HTTP/1.1 500 "));
        assert!(exchange(&server, post).starts_with("HTTP/1.1 200 OK"));
        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/hooks/x");
        assert_eq!(requests[0].header("Content-Type"), Some("application/json"));
        assert_eq!(requests[0].json(), serde_json::json!({"text": 1}));
    }

    #[test]
    fn decodes_chunked_bodies_and_hangs_on_request() {
        let server = WebhookServer::with_replies([Reply::Hang]);
        let post = "POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let answer = exchange(&server, post);
        assert_eq!(answer, "", "a hanging reply sends nothing");
        let requests = server.wait_for_requests(1, Duration::from_secs(2));
        assert_eq!(requests[0].text(), "abcde");
    }
}
