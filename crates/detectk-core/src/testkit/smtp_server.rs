//! A real SMTP server on `127.0.0.1` for testing the email alerter: it speaks enough
//! ESMTP for a real client (EHLO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT), records every message, and answers each finished DATA with the next
//! scripted [`SmtpReply`] (accept, a transient 4xx, a permanent 5xx).
//!
//! `STARTTLS` is refused (`454`), so a client that requires TLS fails as it would
//! against a server without it. Like [`super::webhook_server`] it runs on its own
//! thread with its own Tokio runtime.
//!
//! ```no_run
//! use detectk_core::testkit::smtp_server::{SmtpReply, SmtpServer};
//! let server = SmtpServer::with_replies([SmtpReply::Code(451, "try again later".into())]);
//! let port = server.addr().port();
//! // ... send mail to 127.0.0.1:port ...
//! let mails = server.wait_for_mails(1, std::time::Duration::from_secs(5));
//! assert_eq!(mails[0].to, ["ops@example.com"]);
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::server_thread::ServerThread;

/// How the server answers the end of one message's DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpReply {
    /// `250`: the message is accepted (and recorded as delivered).
    Accept,
    /// This code and text, e.g. `451` (transient) or `550` (permanent).
    Code(u16, String),
}

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMail {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// The message (headers and body) after dot-unstuffing, lines joined by CRLF.
    pub data: String,
    /// The user name the client authenticated as, if it did.
    pub user: Option<String>,
    /// Whether the server accepted it (the reply was [`SmtpReply::Accept`]).
    pub accepted: bool,
}

impl RecordedMail {
    /// The first header named `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.trim().eq_ignore_ascii_case(name)
            {
                found = Some(v.trim().to_string());
            }
        }
        found
    }
}

#[derive(Debug)]
struct Shared {
    mails: Mutex<Vec<RecordedMail>>,
    script: Mutex<VecDeque<SmtpReply>>,
    credentials: Option<(String, String)>,
    failed_logins: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recording SMTP server on `127.0.0.1` (an ephemeral port). Stops when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    shared: Arc<Shared>,
    server: ServerThread,
}

impl SmtpServer {
    /// A server accepting every message, without authentication.
    pub fn start() -> Self {
        Self::build([], None)
    }

    /// A server answering messages with `replies` in order, then accepting.
    pub fn with_replies(replies: impl IntoIterator<Item = SmtpReply>) -> Self {
        Self::build(replies, None)
    }

    /// A server that advertises `AUTH PLAIN LOGIN` and requires these credentials
    /// before `MAIL FROM` (`535` for wrong ones).
    pub fn with_auth(user: &str, password: &str) -> Self {
        Self::build([], Some((user.to_string(), password.to_string())))
    }

    fn build(
        replies: impl IntoIterator<Item = SmtpReply>,
        credentials: Option<(String, String)>,
    ) -> Self {
        let shared = Arc::new(Shared {
            mails: Mutex::new(Vec::new()),
            script: Mutex::new(replies.into_iter().collect()),
            credentials,
            failed_logins: Mutex::new(Vec::new()),
        });
        let state = Arc::clone(&shared);
        let server = ServerThread::start("SMTP test server", move |stream, stop| {
            let shared = Arc::clone(&state);
            async move {
                let mut stop = stop;
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = session(stream, shared) => {}
                }
            }
        });
        Self { shared, server }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Every message received so far (accepted or not), in order.
    pub fn mails(&self) -> Vec<RecordedMail> {
        lock(&self.shared.mails).clone()
    }

    /// User names of refused logins, in order.
    pub fn failed_logins(&self) -> Vec<String> {
        lock(&self.shared.failed_logins).clone()
    }

    /// Waits (blocking) until at least `n` messages arrived or `timeout` passed.
    pub fn wait_for_mails(&self, n: usize, timeout: Duration) -> Vec<RecordedMail> {
        let deadline = Instant::now() + timeout;
        while lock(&self.shared.mails).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.mails()
    }
}

/// Decodes standard base64 (padding optional); `None` on invalid input.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn decode_text(text: &str) -> String {
    String::from_utf8_lossy(&base64_decode(text).unwrap_or_default()).into_owned()
}

/// The address inside `MAIL FROM:<a@b>` / `RCPT TO:<a@b>` (parameters dropped).
fn address(argument: &str) -> String {
    let argument = argument.trim();
    match (argument.find('<'), argument.find('>')) {
        (Some(open), Some(close)) if open < close => argument[open + 1..close].to_string(),
        _ => argument
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

struct Session {
    reader: BufReader<TcpStream>,
}

impl Session {
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    async fn say(&mut self, text: &str) -> bool {
        self.reader
            .get_mut()
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .is_ok()
    }
}

/// Serves one SMTP session until QUIT or the connection closes.
async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let mut s = Session {
        reader: BufReader::new(stream),
    };
    if !s.say("220 localhost ESMTP detectk-test").await {
        return;
    }
    let mut user: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = s.line().await {
        let (verb, argument) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" => {
                let auth = if shared.credentials.is_some() {
                    "250-AUTH PLAIN LOGIN\r\n"
                } else {
                    ""
                };
                s.say(&format!(
                    "250-localhost greets {argument}\r\n{auth}250-8BITMIME\r\n250 SIZE 10485760"
                ))
                .await
            }
            "HELO" => s.say("250 localhost").await,
            "STARTTLS" => s.say("454 4.7.0 TLS not available").await,
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let login = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let encoded = if initial.is_empty() {
                            if !s.say("334 ").await {
                                return;
                            }
                            s.line().await.unwrap_or_default()
                        } else {
                            initial.to_string()
                        };
                        let decoded = decode_text(&encoded);
                        let mut parts = decoded.split('\0').skip(1);
                        let u = parts.next().unwrap_or_default().to_string();
                        let p = parts.next().unwrap_or_default().to_string();
                        Some((u, p))
                    }
                    "LOGIN" => {
                        let u = if initial.is_empty() {
                            if !s.say("334 VXNlcm5hbWU6").await {
                                return;
                            }
                            decode_text(&s.line().await.unwrap_or_default())
                        } else {
                            decode_text(initial)
                        };
                        if !s.say("334 UGFzc3dvcmQ6").await {
                            return;
                        }
                        let p = decode_text(&s.line().await.unwrap_or_default());
                        Some((u, p))
                    }
                    _ => None,
                };
                match (login, &shared.credentials) {
                    (Some((u, p)), Some((eu, ep))) if u == *eu && p == *ep => {
                        user = Some(u);
                        s.say("235 2.7.0 Authentication successful").await
                    }
                    (Some((u, _)), _) => {
                        lock(&shared.failed_logins).push(u);
                        s.say("535 5.7.8 Authentication credentials invalid").await
                    }
                    (None, _) => s.say("504 5.5.4 Unrecognized authentication type").await,
                }
            }
            "MAIL" => {
                if shared.credentials.is_some() && user.is_none() {
                    s.say("530 5.7.0 Authentication required").await
                } else {
                    from = Some(address(argument.split_once(':').map_or("", |x| x.1)));
                    to.clear();
                    s.say("250 2.1.0 Ok").await
                }
            }
            "RCPT" => {
                to.push(address(argument.split_once(':').map_or("", |x| x.1)));
                s.say("250 2.1.5 Ok").await
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    s.say("503 5.5.1 Bad sequence of commands").await
                } else {
                    if !s.say("354 End data with <CR><LF>.<CR><LF>").await {
                        return;
                    }
                    let mut lines = Vec::new();
                    loop {
                        let Some(l) = s.line().await else { return };
                        if l == "." {
                            break;
                        }
                        lines.push(l.strip_prefix('.').map_or(l.clone(), str::to_string));
                    }
                    let reply = lock(&shared.script)
                        .pop_front()
                        .unwrap_or(SmtpReply::Accept);
                    let accepted = reply == SmtpReply::Accept;
                    lock(&shared.mails).push(RecordedMail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data: lines.join("\r\n"),
                        user: user.clone(),
                        accepted,
                    });
                    match reply {
                        SmtpReply::Accept => s.say("250 2.0.0 Ok: queued").await,
                        SmtpReply::Code(code, text) => s.say(&format!("{code} {text}")).await,
                    }
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                s.say("250 2.0.0 Ok").await
            }
            "NOOP" => s.say("250 2.0.0 Ok").await,
            "QUIT" => {
                let _ = s.say("221 2.0.0 Bye").await;
                return;
            }
            _ => s.say("502 5.5.2 Command not recognized").await,
        };
        if !ok {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader as StdReader, Write};

    fn talk(server: &SmtpServer, commands: &[&str]) -> Vec<String> {
        let stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = StdReader::new(stream);
        let read_reply = |reader: &mut StdReader<std::net::TcpStream>| {
            let mut reply = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                reply.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
            reply
        };
        let mut replies = vec![read_reply(&mut reader)];
        for c in commands {
            writer.write_all(format!("{c}\r\n").as_bytes()).unwrap();
            if c.starts_with("Subject") || c.is_empty() || *c == "hello" || c.starts_with("..") {
                continue;
            }
            replies.push(read_reply(&mut reader));
        }
        replies
    }

    #[test]
    fn records_a_message_after_plain_auth() {
        let server = SmtpServer::with_auth("bot", "pw");
        // "\0bot\0pw" in base64.
        let replies = talk(
            &server,
            &[
                "EHLO client",
                "MAIL FROM:<a@x>",
                "AUTH PLAIN AGJvdABwdw==",
                "MAIL FROM:<a@x> BODY=8BITMIME",
                "RCPT TO:<b@y>",
                "RCPT TO:<c@y>",
                "DATA",
                "Subject: hi",
                "",
                "hello",
                "..dot",
                ".",
                "QUIT",
            ],
        );
        assert!(replies[1].contains("AUTH PLAIN LOGIN"), "{replies:?}");
        assert!(replies[2].starts_with("530"), "{replies:?}");
        assert!(replies[3].starts_with("235"), "{replies:?}");
        let mails = server.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].from, "a@x");
        assert_eq!(mails[0].to, ["b@y", "c@y"]);
        assert_eq!(mails[0].user.as_deref(), Some("bot"));
        assert_eq!(mails[0].data, "Subject: hi\r\n\r\nhello\r\n.dot");
        assert_eq!(mails[0].header("subject").as_deref(), Some("hi"));
    }

    #[test]
    fn scripted_replies_and_no_starttls() {
        let server = SmtpServer::with_replies([SmtpReply::Code(451, "later".into())]);
        let replies = talk(
            &server,
            &[
                "HELO c",
                "MAIL FROM:<a@x>",
                "RCPT TO:<b@y>",
                "DATA",
                ".",
                "STARTTLS",
            ],
        );
        assert!(replies[5].starts_with("451 later"), "{replies:?}");
        assert!(replies[6].starts_with("454"), "{replies:?}");
        assert!(!server.mails()[0].accepted);
        assert_eq!(base64_decode("AGJvdABwdw==").unwrap(), b"\0bot\0pw");
    }
}
