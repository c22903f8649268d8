//! The preflight against engines reached over TCP, as GitLab's `docker:dind` is: a wrong
//! certificate path, TLS spoken to a plain daemon and a host where nothing listens each stop
//! the build with one line naming the variable to fix, exit 1, before the cache decision is
//! printed and before any build starts. The plain daemon is the project's second dockerd
//! (`scripts/engine.sh legacy-start`), which also listens on plain TCP on loopback.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Run, engine_env, engine_lock, engine_script, example_copy, fresh_repo, regcache};

/// `regcache build` of the example with the engine's environment and `vars` on top.
fn build_with(vars: &[(&str, &str)]) -> Run {
    let mut env: BTreeMap<String, String> = engine_env().clone();
    for (k, v) in vars {
        env.insert((*k).into(), (*v).into());
    }
    let example = example_copy();
    let tag = format!("{}:dev", fresh_repo("preflight"));
    regcache(
        &[
            "build",
            "--tag",
            &tag,
            "--network",
            "none",
            example.path().to_str().unwrap(),
        ],
        &env,
    )
}

/// The run stopped at the preflight: exit 1, one error line naming `variable`, and nothing of
/// the cache decision or the build printed.
fn assert_stopped(run: &Run, variable: &str, says: &str) {
    assert_eq!(run.code, Some(1), "{}", run.log());
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", run.log());
    assert!(
        errors[0].starts_with(&format!("error: regcache: {variable}: "))
            && errors[0].contains(says),
        "{}",
        run.log()
    );
    assert!(
        !run.stdout.contains("Cache decision") && !run.stdout.contains("cache-policy"),
        "nothing decided: {}",
        run.log()
    );
    assert!(
        !run.stdout.contains("#1 "),
        "no build started: {}",
        run.log()
    );
}

fn legacy_tcp() -> String {
    engine_script(&["legacy-start"]);
    engine_env()["REGCACHE_LEGACY_TCP_HOST"].clone()
}

/// A CA certificate made here, as a `DOCKER_CERT_PATH` holds one.
fn cert_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=regcache-test-ca", "-keyout"])
        .arg(dir.path().join("ca-key.pem"))
        .arg("-out")
        .arg(dir.path().join("ca.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn a_host_where_nothing_listens_names_docker_host() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let run = build_with(&[("DOCKER_HOST", &host)]);
    assert_stopped(
        &run,
        "DOCKER_HOST",
        &format!("nothing answers at 127.0.0.1:{port}"),
    );
}

#[test]
fn a_wrong_certificate_path_names_docker_cert_path() {
    let _turn = engine_lock();
    let host = legacy_tcp();
    let missing = tempfile::tempdir().unwrap().path().join("certs/client");
    let run = build_with(&[
        ("DOCKER_HOST", &host),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", missing.to_str().unwrap()),
    ]);
    assert_stopped(
        &run,
        "DOCKER_CERT_PATH",
        &format!("{}/ca.pem", missing.display()),
    );
}

#[test]
fn tls_spoken_to_a_plain_tcp_daemon_names_docker_tls_verify() {
    let _turn = engine_lock();
    let host = legacy_tcp();
    let certs = cert_dir();
    let run = build_with(&[
        ("DOCKER_HOST", &host),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", certs.path().to_str().unwrap()),
    ]);
    assert_stopped(&run, "DOCKER_TLS_VERIFY", "does not speak TLS");
}

#[test]
fn the_plain_tcp_daemon_without_tls_passes_the_preflight() {
    let _turn = engine_lock();
    let host = legacy_tcp();
    let run = build_with(&[("DOCKER_HOST", &host)]);
    // Past the preflight: the cache decision is printed, and that daemon's classic store
    // then refuses the registry cache, as `e2e.rs` tests on its socket.
    assert!(run.stdout.contains("Cache decision"), "{}", run.log());
    assert!(
        !run.stdout.contains("error: regcache: DOCKER_"),
        "{}",
        run.log()
    );
}
