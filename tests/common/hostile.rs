//! A registry an attacker runs: a loopback HTTP server whose every answer a test writes, with
//! bodies that can trickle or never end. Each connection has its own thread and carries one
//! request (`Connection: close`); every request is recorded with its Authorization header.
//! Everything it sends is bounded (`Body::Endless` stops at `ENDLESS_CAP`, a trickle at its
//! count), so a test that goes wrong still ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;

/// The most an endless body sends before the server gives up on its own.
pub const ENDLESS_CAP: usize = 256 << 20;

/// A request as the hostile server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: String,
}

pub enum Body {
    Bytes(Vec<u8>),
    /// `count` bytes of `byte`, one every `every`, after a `Content-Length` of `declared`.
    Trickle {
        declared: usize,
        count: usize,
        every: Duration,
    },
    /// Zeros in 64 KiB chunks until the client goes away (or `ENDLESS_CAP`), with no length.
    Endless,
    /// A `Content-Length` that claims this much, then a few bytes and the end.
    Claims(u64),
}

pub struct Answer {
    pub status: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Answer {
    pub fn new(status: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
        }
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A manifest answer with its true `Docker-Content-Digest`.
    pub fn manifest(bytes: &[u8]) -> Self {
        Answer::new("200 OK", bytes.to_vec())
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .header("Docker-Content-Digest", &sha256(bytes))
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

pub struct Hostile {
    /// `http://127.0.0.1:port`
    pub url: String,
    /// `127.0.0.1:port`, as a registry host.
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    /// On `ip` (a loopback address: 127.0.0.1, or 127.0.0.2 as "another host").
    pub fn on(ip: &str, answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let answer = answer.clone();
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, answer.as_ref(), &record);
                });
            }
        });
        Hostile {
            url: format!("http://{host}"),
            host,
            seen,
        }
    }

    pub fn start(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        Self::on("127.0.0.1", answer)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    answer: &(dyn Fn(&Seen) -> Answer + Send + Sync),
    record: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("authorization: ") {
            authorization = line["authorization: ".len()..].trim().to_owned();
        }
        if let Some(value) = lower.strip_prefix("content-length: ") {
            length = value.trim().parse().unwrap_or(0).min(1 << 20);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut words = request_line.split_whitespace();
    let seen = Seen {
        method: words.next().unwrap_or("").to_owned(),
        path: words.next().unwrap_or("").to_owned(),
        authorization,
    };
    record.lock().unwrap().push(seen.clone());
    let reply = answer(&seen);
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {}\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head += &format!("{name}: {value}\r\n");
    }
    let head_only = seen.method == "HEAD";
    match &reply.body {
        Body::Bytes(bytes) => head += &format!("Content-Length: {}\r\n", bytes.len()),
        Body::Trickle { declared, .. } => head += &format!("Content-Length: {declared}\r\n"),
        Body::Claims(n) => head += &format!("Content-Length: {n}\r\n"),
        Body::Endless => {}
    }
    head += "\r\n";
    out.write_all(head.as_bytes())?;
    if head_only {
        return Ok(());
    }
    match reply.body {
        Body::Bytes(bytes) => out.write_all(&bytes)?,
        Body::Trickle { count, every, .. } => {
            for _ in 0..count {
                out.write_all(b"{")?;
                out.flush()?;
                std::thread::sleep(every);
            }
        }
        Body::Claims(_) => out.write_all(b"{\"a\":1}")?,
        Body::Endless => {
            let chunk = vec![b' '; 64 << 10];
            let mut sent = 0;
            while sent < ENDLESS_CAP {
                out.write_all(&chunk)?;
                sent += chunk.len();
            }
        }
    }
    Ok(())
}
