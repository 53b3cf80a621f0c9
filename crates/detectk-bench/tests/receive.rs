//! `fleet-bench receive` answers webhook posts on one keep-alive connection with 200
//! and appends each body, as one line, to its `--out` file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// Kills the receiver when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn post(stream: &mut TcpStream, body: &str) -> String {
    let request = format!(
        "POST /fleet-bench HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // The answer is a status line, one header and an empty line, with no body.
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        answer.push(byte[0]);
    }
    String::from_utf8(answer).unwrap()
}

#[test]
fn posts_are_answered_and_recorded_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_fleet-bench"))
        .args(["receive", "--addr", "127.0.0.1:0", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("fleet-bench starts");
    let mut running = Running(child);
    let mut first = String::new();
    BufReader::new(running.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let mut stream = TcpStream::connect(addr).unwrap();
    // An unanswered post fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let bodies = [
        r#"{"text":"ANOMALY: fleet_00001"}"#,
        r#"{"text":"ANOMALY: fleet_00002"}"#,
    ];
    for body in bodies {
        let answer = post(&mut stream, body);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    }
    drop(stream);
    // The second answer was written after its body: both lines are in the file.
    let recorded = std::fs::read_to_string(&out).unwrap();
    assert_eq!(recorded.lines().collect::<Vec<_>>(), bodies);
    drop(running);
}
