//! Helpers for tests that run the real engine and registry. The engine is started through the
//! project's own script; if that fails the test fails with the script's output, never skips.

#![allow(dead_code)] // each test binary uses its own share of these helpers

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
        String::from_utf8(env.stdout)
            .expect("utf-8")
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect()
    })
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

/// Builds share one builder, and wiping it between steps is part of what is tested, so the
/// engine tests of one binary take turns.
pub fn engine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env_clear()
        .envs(engine_env())
        .output()
        .expect("docker runs")
}

/// What an ephemeral runner starts with: no build cache and no images, the base included.
pub fn wipe_builder() {
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

fn copy_dir(from: &Path, to: &Path) {
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
    let output = Command::new(env!("CARGO_BIN_EXE_regcache"))
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("regcache runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The outputs `--output-format json` wrote.
pub fn outputs(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap()
}
