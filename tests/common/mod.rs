//! Helpers for tests that run the real engine and registry. The engine is started through the
//! project's own script; if that fails the test fails with the script's output, never skips.

#![allow(dead_code)] // each test binary uses its own share of these helpers

pub mod hostile;
pub mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file by its path under `tests/fixtures/` (`github/push-branch.json`).
pub fn fixture(path: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(path)
}

/// The variables `scripts/engine.sh env` prints: PATH, DOCKER_HOST, DOCKER_CONFIG, REGCACHE_*.
pub fn engine_env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let script = repo_root().join("scripts/engine.sh");
        let start = Command::new("bash").arg(&script).arg("start").output().expect("bash runs");
        assert!(
            start.status.success(),
            "scripts/engine.sh start failed; the end-to-end tests need the engine.\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&start.stdout),
            String::from_utf8_lossy(&start.stderr)
        );
        let env = Command::new("bash").arg(&script).arg("env").output().expect("bash runs");
        let env = exports(&String::from_utf8(env.stdout).expect("utf-8"));
        check_engine(&env["DOCKER_HOST"]);
        env
    })
}

/// The default socket, which act's host mode and the container image's jobs reach, checked
/// once to be the engine `scripts/engine.sh` started; its path.
pub fn default_socket() -> &'static str {
    static CHECKED: OnceLock<()> = OnceLock::new();
    engine_env();
    CHECKED.get_or_init(|| check_engine(DEFAULT_SOCKET));
    DEFAULT_SOCKET.trim_start_matches("unix://")
}

const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// Stops the test, with `scripts/engine.sh check`'s one line, when `host` reaches any engine
/// but the one the project's script started: no test runs against another engine.
fn check_engine(host: &str) {
    let check = Command::new("bash")
        .arg(repo_root().join("scripts/engine.sh"))
        .args(["check", host])
        .output()
        .expect("bash runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr).trim()
    );
}

pub fn registry() -> &'static str {
    &engine_env()["REGCACHE_REGISTRY"]
}

/// A repository no earlier run has written, so "cold" really is cold.
pub fn fresh_repo(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}/e2e/{name}-{nanos}", registry())
}

/// Run `scripts/engine.sh` with `args` (extra registries, the classic-store daemon); fails loudly.
pub fn engine_script(args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/engine.sh"))
        .args(args)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "engine.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `git init` on branch main, then one commit of everything in `dir`, as a project's repository.
pub fn commit_all(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    commit_changes(dir, "test repository");
}

/// One more commit of everything changed in `dir`.
pub fn commit_changes(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds share one builder, and wiping it between steps is part of what is tested, so the
/// engine tests of one binary take turns.
pub fn engine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn docker(args: &[&str]) -> Output {
    docker_at(args, engine_env())
}

/// `docker` with the environment `env` (another engine's `DOCKER_HOST`).
pub fn docker_at(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    Command::new("docker")
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("docker runs")
}

/// What an ephemeral runner starts with: no build cache and no images, the base included.
pub fn wipe_builder() {
    wipe_builder_at(engine_env())
}

/// `wipe_builder` of the engine `env` reaches.
pub fn wipe_builder_at(env: &BTreeMap<String, String>) {
    let docker = |args: &[&str]| docker_at(args, env);
    assert!(
        docker(&["buildx", "prune", "-af"]).status.success(),
        "buildx prune"
    );
    let ids = String::from_utf8(docker(&["images", "-aq"]).stdout).unwrap();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["image", "rm", "-f"];
        args.extend(&ids);
        docker(&args);
    }
    docker(&["image", "prune", "-af"]);
    let left = String::from_utf8(docker(&["images", "-aq"]).stdout).unwrap();
    assert!(left.trim().is_empty(), "images left after the wipe: {left}");
}

/// A copy of the bundled example in a fresh directory, so tests can change files.
pub fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("example"), dir.path());
    dir
}

/// `from`'s files and folders copied into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn log(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run the regcache binary with exactly `env` (plus nothing from the test process).
pub fn regcache(args: &[&str], env: &BTreeMap<String, String>) -> Run {
    regcache_in(Path::new("."), args, env)
}

/// `regcache` in the working directory `dir` (where a GitLab build writes its reports).
pub fn regcache_in(dir: &Path, args: &[&str], env: &BTreeMap<String, String>) -> Run {
    Command::new(env!("CARGO_BIN_EXE_regcache"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("regcache runs")
        .into()
}

/// The outputs `--output-format json` wrote.
pub fn outputs(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap()
}

/// The variables `scripts/tools.sh env` prints (act, zizmor, actionlint), after installing
/// them through the project's own script; fails loudly when that fails.
pub fn tools_env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let script = repo_root().join("scripts/tools.sh");
        let install = Command::new("bash")
            .arg(&script)
            .arg("install")
            .output()
            .expect("bash runs");
        assert!(
            install.status.success(),
            "scripts/tools.sh install failed; these tests need act, zizmor and actionlint.\n{}",
            String::from_utf8_lossy(&install.stderr)
        );
        let env = Command::new("bash")
            .arg(&script)
            .arg("env")
            .output()
            .expect("bash runs");
        exports(&String::from_utf8(env.stdout).expect("utf-8"))
    })
}

fn exports(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// The YAML block under the README's "GitHub quick start" heading, as a user copies it.
pub fn readme_quick_start() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme
        .split_once("## GitHub quick start")
        .expect("README has a GitHub quick start")
        .1;
    let block = section
        .split_once("```yaml\n")
        .expect("the quick start has a yaml block")
        .1;
    block.split_once("```").unwrap().0.to_owned()
}

/// A request a `Server` answered: its method, path and Authorization header.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: String,
}

/// A `Server`'s answer: status line, extra headers, body.
pub struct Reply {
    pub status: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A loopback HTTP server answering each request with `reply`, recording every request, so a
/// test can tell what was asked.
pub struct Server {
    pub url: String,
    requests: std::sync::Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// GETs answered from `answer` (path → body; None is a 404 with `not_found` as its body).
    pub fn start(
        answer: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static,
        not_found: &'static str,
    ) -> Self {
        Self::serve(move |request| match answer(&request.path) {
            Some(body) => Reply::json("200 OK", body),
            None => Reply::json("404 Not Found", not_found),
        })
    }

    pub fn serve(reply: impl Fn(&Request) -> Reply + Send + 'static) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut authorization = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if lower.starts_with("authorization: ") {
                        authorization = line["authorization: ".len()..].trim().to_owned();
                    }
                    if let Some(value) = lower.strip_prefix("content-length: ") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut words = request_line.split_whitespace();
                let request = Request {
                    method: words.next().unwrap_or("").to_owned(),
                    path: words.next().unwrap_or("").to_owned(),
                    authorization,
                };
                let answer = reply(&request);
                seen.lock().unwrap().push(request.clone());
                let mut head = format!(
                    "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    answer.status,
                    answer.body.len()
                );
                for (name, value) in &answer.headers {
                    head += &format!("{name}: {value}\r\n");
                }
                head += "\r\n";
                let body: &[u8] = if request.method == "HEAD" {
                    &[]
                } else {
                    &answer.body
                };
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|()| stream.write_all(body));
            }
        });
        Self { url, requests }
    }

    /// Serves the files of `dir` by name (release archives).
    pub fn files(dir: &Path) -> Self {
        let dir = dir.to_owned();
        Self::start(
            move |path| {
                let name = path.trim_start_matches('/');
                (!name.contains('/') && !name.contains(".."))
                    .then(|| std::fs::read(dir.join(name)).ok())
                    .flatten()
            },
            "",
        )
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }
}

/// Release archives of the binary under test, made by `scripts/release.sh archive` exactly as a
/// release makes them (the debug binary, stripped, stands in for the release build).
pub fn release_archives() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("regcache-archives-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("regcache");
        std::fs::copy(env!("CARGO_BIN_EXE_regcache"), &binary).unwrap();
        let strip = Command::new("strip")
            .arg(&binary)
            .status()
            .expect("strip runs");
        assert!(strip.success(), "strip {}", binary.display());
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/release.sh"))
            .args([
                "archive".as_ref(),
                dir.join("assets").as_os_str(),
                binary.as_os_str(),
                "linux-x64".as_ref(),
            ])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "release.sh archive: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("assets")
    })
}

/// What a `FaultProxy` does to the requests it passes on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// `PUT …/manifests/…` is answered 500: blobs upload, the manifest does not.
    ManifestPut500,
    /// Every write (POST, PUT, PATCH, DELETE) is answered 403, as for pull-only credentials.
    PushForbidden,
    /// Every request waits this long before it is passed on.
    Slow(std::time::Duration),
    /// `PUT …/manifests/<tag>.regcache` is answered 500: the cache is written, its build
    /// record is not.
    RecordPut500,
    /// `GET …/manifests/sha256:…` from a client that names no engine in its `User-Agent`
    /// (regcache's own reads) is answered with a manifest whose bytes are not that digest's.
    ForgedManifestByDigest,
}

/// An HTTP proxy on loopback in front of a registry, injecting `fault`. Each request is read up
/// to its headers and passed on with `Connection: close`, so every connection carries one
/// request and every request is seen.
pub struct FaultProxy {
    pub addr: String,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, fault);
                });
            }
        });
        Self { addr }
    }
}

fn proxy_one(client: std::net::TcpStream, upstream: &str, fault: Fault) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(client.try_clone()?);
    // A TLS hello first (BuildKit tries HTTPS, then plain HTTP on an HTTP answer), as the
    // registry itself would answer it.
    if reader.fill_buf()?.first() == Some(&0x16) {
        return (&client).write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    }
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        let lower = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if !lower.starts_with("connection:") && !end {
            head.extend_from_slice(&line);
        }
        if end {
            break;
        }
    }
    let request_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let length: u64 = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0);
    // The request's body is read before the answer: a socket closed with unread data resets
    // the connection, and the client would see a broken connection instead of the status.
    let mut refuse = |mut client: &std::net::TcpStream, status: &str, body: &str| {
        std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
        write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        client.shutdown(std::net::Shutdown::Write)
    };
    match fault {
        Fault::ManifestPut500 if method == "PUT" && path.contains("/manifests/") => {
            return refuse(&client, "500 Internal Server Error", "");
        }
        Fault::PushForbidden if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") => {
            return refuse(
                &client,
                "403 Forbidden",
                r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
            );
        }
        Fault::RecordPut500 if method == "PUT" && path.ends_with(".regcache") => {
            return refuse(&client, "500 Internal Server Error", "");
        }
        Fault::ForgedManifestByDigest
            if method == "GET"
                && path.contains("/manifests/sha256:")
                && !String::from_utf8_lossy(&head)
                    .to_ascii_lowercase()
                    .lines()
                    .any(|l| {
                        l.starts_with("user-agent:")
                            && (l.contains("buildkit") || l.contains("containerd"))
                    }) =>
        {
            let digest = path.rsplit('/').next().unwrap_or("");
            let forged = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
            std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
            let mut client = &client;
            write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{forged}",
                forged.len()
            )?;
            return client.shutdown(std::net::Shutdown::Write);
        }
        Fault::Slow(delay) => std::thread::sleep(delay),
        _ => {}
    }
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(&head)?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(reader.buffer())?;
    let mut client_rest = reader.into_inner();
    let mut server_read = server.try_clone()?;
    let mut client_write = client.try_clone()?;
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_rest, &mut server);
        let _ = server.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = server_read.read(&mut buf)?;
        if n == 0 {
            break;
        }
        client_write.write_all(&buf[..n])?;
    }
    let _ = client_write.shutdown(std::net::Shutdown::Both);
    let _ = upload.join();
    Ok(())
}

/// A manifest as stored in a loopback registry, read with the distribution API: its digest
/// (`Docker-Content-Digest`) and JSON. None when the tag does not exist.
pub struct StoredManifest {
    pub digest: String,
    pub json: serde_json::Value,
    /// The manifest byte for byte, as the registry stores it.
    pub raw: String,
}

pub fn stored_manifest(reference: &str) -> Option<StoredManifest> {
    let (name, tag) = reference.rsplit_once(':').unwrap();
    let (registry, repository) = name.split_once('/').unwrap();
    let out = Command::new("curl")
        .args(["-si", "-H"])
        .arg("Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
        .arg(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_lowercase();
    if head.starts_with("http/1.1 404") {
        return None;
    }
    assert!(
        head.starts_with("http/1.1 200"),
        "reading {reference}: {head}"
    );
    let digest = head
        .lines()
        .find_map(|l| l.strip_prefix("docker-content-digest: "))
        .expect("the registry names the digest")
        .trim()
        .to_owned();
    Some(StoredManifest {
        digest,
        json: serde_json::from_str(body).unwrap(),
        raw: body.to_owned(),
    })
}

/// What GitHub shows for a job summary: cmark-gfm (GitHub's Markdown) with GitHub's extensions,
/// raw HTML let through as GitHub lets `<img>`, `<a>` and `<details>` through. cmark-gfm comes
/// from `scripts/tools.sh`.
pub fn render_summary(markdown: &str) -> String {
    use std::io::Write;
    let program = tools_env()
        .get("REGCACHE_CMARK_GFM")
        .cloned()
        .unwrap_or_else(|| "cmark-gfm".to_owned());
    let mut child = Command::new(&program)
        .args([
            "--unsafe",
            "-e",
            "table",
            "-e",
            "autolink",
            "-e",
            "strikethrough",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/tools.sh installs it): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(markdown.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// One build reading and writing `cache_ref` (a pinned tag), its outputs as JSON.
pub fn build_pinned(dir: &Path, cache_ref: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    build_pinned_with(dir, cache_ref, extra, engine_env())
}

/// `build_pinned` with the environment `env` (another engine's `DOCKER_HOST`).
pub fn build_pinned_with(
    dir: &Path,
    cache_ref: &str,
    extra: &[&str],
    env: &BTreeMap<String, String>,
) -> (Run, serde_json::Value) {
    let out = dir.join("outputs.json");
    let _ = std::fs::remove_file(&out);
    let tag = format!("{}:dev", cache_ref.rsplit_once(':').unwrap().0);
    let mut args = vec![
        "build",
        "--tag",
        &tag,
        "--cache-ref",
        cache_ref,
        "--network",
        "none",
        "--output-format",
        "json",
        "--output-file",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let run = regcache(&args, env);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let outputs = outputs(&out);
    (run, outputs)
}

/// A fresh directory holding `files` (path, text), folders made as needed.
pub fn project_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// An action's `getArgs` table (`tests/data/*-getargs.json`) as the runner runs it: a
/// recording `docker` first on `PATH`, and each case's environment.
pub struct GetArgsTable {
    pub table: serde_json::Value,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    payload: PathBuf,
}

impl GetArgsTable {
    /// The table at `tests/data/<name>`, with `docker` the script `fake_docker`.
    pub fn new(name: &str, fake_docker: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let table: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("tests/data").join(name)).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("docker"), fake_docker).unwrap();
        std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let payload = dir.path().join("event.json");
        std::fs::write(&payload, table["payload"].to_string()).unwrap();
        Self {
            table,
            dir,
            bin,
            payload,
        }
    }

    pub fn cases(&self) -> &Vec<serde_json::Value> {
        self.table["cases"].as_array().unwrap()
    }

    /// A case's own directory, and its environment: a push on GitHub with the table's run
    /// and payload, the case's variables, its inputs as `INPUT_*` (each through `fill`), and
    /// `FAKE_ARGV` where the recording docker writes the argv it was given.
    pub fn case_env(
        &self,
        case: &serde_json::Value,
        fill: impl Fn(&str) -> String,
    ) -> (PathBuf, BTreeMap<String, String>) {
        let number = case["case"].as_u64().unwrap();
        let temp = self.dir.path().join(format!("temp-{number}"));
        std::fs::create_dir(&temp).unwrap();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut env: BTreeMap<String, String> = BTreeMap::from([
            ("PATH".into(), format!("{}:/usr/bin:/bin", path(&self.bin))),
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_EVENT_NAME".into(), "push".into()),
            // Nothing here may leave the machine: the API is a closed loopback port.
            ("GITHUB_API_URL".into(), "http://127.0.0.1:9".into()),
            ("GITHUB_EVENT_PATH".into(), path(&self.payload)),
            ("GITHUB_OUTPUT".into(), path(&temp.join("output"))),
            ("RUNNER_TEMP".into(), path(&temp)),
            ("FAKE_ARGV".into(), path(&temp.join("argv"))),
            (
                "FAKE_BUILDX_VERSION".into(),
                case["buildx"].as_str().unwrap().into(),
            ),
        ]);
        for (name, value) in self.table["environment"]
            .as_object()
            .unwrap()
            .iter()
            .chain(case["env"].as_object().unwrap())
        {
            env.insert(name.clone(), value.as_str().unwrap().into());
        }
        for (name, value) in case["inputs"].as_object().unwrap() {
            env.insert(
                format!("INPUT_{}", name.to_uppercase()),
                fill(value.as_str().unwrap()),
            );
        }
        (temp, env)
    }
}

/// A file of NUL-separated words (what the recording docker writes), or none.
pub fn read_nul(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .map(|bytes| {
            String::from_utf8(bytes)
                .unwrap()
                .split_terminator('\0')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
