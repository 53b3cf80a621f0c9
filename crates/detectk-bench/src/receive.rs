//! `fleet-bench receive`: the HTTP endpoint a fleet's webhook alerters post to while
//! the fleet is measured (`generate --alerter webhook` points them at
//! `http://127.0.0.1:18099/fleet-bench` by default). It answers every request `200 OK`
//! at once, so a tick measures DetectK's alert step and not a slow or refusing channel,
//! and appends each request body as one line to `--out` (to count alerts afterwards, and
//! to see that none was sent twice).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::error::BenchError;

/// The largest request body kept (a DetectK alert is a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// Listens on `addr` (`127.0.0.1:0` picks a free port), prints `listening on
/// http://ADDR` on stdout, and serves until the process is stopped; bodies go to `out`.
pub async fn receive(addr: &str, out: Option<&Path>) -> Result<(), BenchError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| BenchError::Usage(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| BenchError::Usage(format!("the address of {addr}: {e}")))?;
    let sink = match out {
        Some(path) => Some(Arc::new(Sink::open(path)?)),
        None => None,
    };
    println!("listening on http://{local}");
    std::io::stdout()
        .flush()
        .map_err(|e| BenchError::io(Path::new("stdout"), e))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sink = sink.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, sink.as_deref()).await {
                eprintln!("fleet-bench receive: {e}");
            }
        });
    }
}

/// The file the bodies are appended to.
struct Sink {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Sink {
    fn open(path: &Path) -> Result<Self, BenchError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| BenchError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    fn append(&self, body: &[u8]) -> Result<(), BenchError> {
        let mut line = body.to_vec();
        line.push(b'\n');
        self.file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(&line)
            .map_err(|e| BenchError::io(&self.path, e))
    }
}

/// Answers the requests of one keep-alive connection until the client closes it.
async fn serve(stream: TcpStream, sink: Option<&Sink>) -> Result<(), BenchError> {
    let io = |e| BenchError::Usage(format!("a webhook connection: {e}"));
    let mut stream = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut close = false;
        let mut line = String::new();
        if stream.read_line(&mut line).await.map_err(io)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            if stream.read_line(&mut line).await.map_err(io)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length.min(MAX_BODY)];
        stream.read_exact(&mut body).await.map_err(io)?;
        if let Some(sink) = sink {
            sink.append(&body)?;
        }
        stream
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .map_err(io)?;
        if close || length > MAX_BODY {
            return Ok(());
        }
    }
}
