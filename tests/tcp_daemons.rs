//! Engines reached over TCP, as GitLab's `docker:dind` service is: the project's second dockerd
//! on plain TCP on loopback (`scripts/engine.sh legacy-start`) and a third that listens only on
//! TCP on loopback with TLS and client verification (`scripts/engine.sh tls-start`, its
//! certificates made with openssl when it starts), regcache run with `DOCKER_HOST`,
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` as dind's jobs set them. A build over TLS works
//! cold and warm. A wrong certificate path, a client certificate from another CA, a CA file that
//! does not sign the daemon's certificate, TLS spoken to a plain daemon, a plain request to the
//! TLS daemon and a host where nothing listens each stop the build with one line naming the
//! variable to fix, exit 1, before the cache decision is printed and before any build starts.

mod common;

use std::collections::BTreeMap;

use common::*;

/// The engine's environment with `vars` on top.
fn env_with(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = engine_env().clone();
    for (k, v) in vars {
        env.insert((*k).into(), (*v).into());
    }
    env
}

/// `regcache build` of the example with `env`.
fn build_with(env: &BTreeMap<String, String>) -> Run {
    let example = example_copy();
    let tag = format!("{}:dev", fresh_repo("tcp"));
    regcache(
        &[
            "build",
            "--tag",
            &tag,
            "--network",
            "none",
            example.path().to_str().unwrap(),
        ],
        env,
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

#[test]
fn a_host_where_nothing_listens_names_docker_host() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let run = build_with(&env_with(&[("DOCKER_HOST", &host)]));
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
    let run = build_with(&env_with(&[
        ("DOCKER_HOST", &host),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", missing.to_str().unwrap()),
    ]));
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
    // The TLS daemon's client certificates, made by `scripts/engine.sh tls-start`.
    let mut env = tls_env(Some("REGCACHE_TLS_CERT_PATH"));
    env.insert("DOCKER_HOST".into(), host);
    let run = build_with(&env);
    assert_stopped(&run, "DOCKER_TLS_VERIFY", "does not speak TLS");
}

#[test]
fn the_plain_tcp_daemon_without_tls_passes_the_preflight() {
    let _turn = engine_lock();
    let host = legacy_tcp();
    let run = build_with(&env_with(&[("DOCKER_HOST", &host)]));
    // Past the preflight: the cache decision is printed, and that daemon's classic store
    // then refuses the registry cache, as `e2e.rs` tests on its socket.
    assert!(run.stdout.contains("Cache decision"), "{}", run.log());
    assert!(
        !run.stdout.contains("error: regcache: DOCKER_"),
        "{}",
        run.log()
    );
}

/// The engine's environment pointed at the TLS daemon with the client certificates in
/// `cert_path` (None: TLS left off).
fn tls_env(cert_path: Option<&str>) -> BTreeMap<String, String> {
    engine_script(&["tls-start"]);
    let engine = engine_env();
    let mut vars = vec![("DOCKER_HOST", engine["REGCACHE_TLS_DOCKER_HOST"].as_str())];
    if let Some(path) = cert_path {
        vars.push(("DOCKER_TLS_VERIFY", "1"));
        vars.push(("DOCKER_CERT_PATH", engine[path].as_str()));
    }
    env_with(&vars)
}

#[test]
fn cold_then_warm_over_tls_with_the_daemons_build_cache_pruned_between() {
    let _turn = engine_lock();
    let env = tls_env(Some("REGCACHE_TLS_CERT_PATH"));
    let project = example_copy();
    let cache = format!("{}:buildcache", fresh_repo("tls-cache"));
    wipe_builder_at(&env);
    let (cold_run, cold) = build_pinned_with(project.path(), &cache, &[], &env);
    assert_eq!(cold["cache-hit"], "false", "{}", cold_run.log());
    assert_eq!(cold["cache-exported"], "true", "{}", cold_run.log());
    assert_eq!(cold["cached-steps"], "0", "{}", cold_run.log());
    wipe_builder_at(&env);
    let (warm_run, warm) = build_pinned_with(project.path(), &cache, &[], &env);
    assert_eq!(warm["cache-hit"], "true", "{}", warm_run.log());
    assert_eq!(warm["cache-exported"], "kept", "{}", warm_run.log());
    assert_eq!(
        warm["cached-steps"],
        warm["total-steps"],
        "{}",
        warm_run.log()
    );
    assert_eq!(warm["total-steps"], cold["total-steps"]);
    // Built by the TLS daemon: the image is in its store, not in the socket's engine's.
    let image = format!("{}:dev", cache.rsplit_once(':').unwrap().0);
    assert!(
        docker_at(&["image", "inspect", &image], &env)
            .status
            .success()
    );
    wipe_builder();
    assert!(!docker(&["image", "inspect", &image]).status.success());
    // The same cache read on the socket's engine gives the same outputs.
    let (socket_run, socket) = build_pinned(project.path(), &cache, &[]);
    for key in [
        "cache-hit",
        "cache-exported",
        "cached-steps",
        "total-steps",
        "cache-ref",
        "cache-source",
    ] {
        assert_eq!(socket[key], warm[key], "{key}: {}", socket_run.log());
    }
}

#[test]
fn a_client_certificate_from_another_ca_names_docker_cert_path() {
    let _turn = engine_lock();
    let run = build_with(&tls_env(Some("REGCACHE_TLS_OTHER_CERT_PATH")));
    assert_stopped(&run, "DOCKER_CERT_PATH", "refused the client certificate");
}

#[test]
fn a_plain_request_to_the_tls_daemon_names_docker_tls_verify() {
    let _turn = engine_lock();
    let run = build_with(&tls_env(None));
    assert_stopped(
        &run,
        "DOCKER_TLS_VERIFY",
        "serves TLS and DOCKER_TLS_VERIFY is not set",
    );
}

#[test]
fn a_daemon_certificate_the_ca_file_does_not_sign_names_docker_cert_path() {
    let _turn = engine_lock();
    let mut env = tls_env(Some("REGCACHE_TLS_CERT_PATH"));
    // The job's own client certificate, but a ca.pem from another CA: the daemon's certificate
    // is not trusted.
    let certs = tempfile::tempdir().unwrap();
    let client = std::path::PathBuf::from(&env["DOCKER_CERT_PATH"]);
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(client.join(file), certs.path().join(file)).unwrap();
    }
    std::fs::copy(
        client.parent().unwrap().join("other-ca.pem"),
        certs.path().join("ca.pem"),
    )
    .unwrap();
    env.insert(
        "DOCKER_CERT_PATH".into(),
        certs.path().to_str().unwrap().into(),
    );
    let run = build_with(&env);
    assert_stopped(&run, "DOCKER_CERT_PATH", "is not trusted with");
}

#[test]
fn an_endless_answer_to_the_ping_is_cut_short() {
    // Not a Docker engine: a 400 whose body never ends. The preflight reads only its start and
    // stops at once, rather than at the deadline or out of memory.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).is_ok() {}
        }
    });
    let started = std::time::Instant::now();
    let run = build_with(&env_with(&[(
        "DOCKER_HOST",
        &format!("tcp://127.0.0.1:{port}"),
    )]));
    assert_stopped(
        &run,
        "DOCKER_HOST",
        "answered GET /_ping with 400 Bad Request",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "cut short, not at the 10 s deadline: {:?}",
        started.elapsed()
    );
    assert!(!run.stdout.contains("xxxx"), "the body is never shown");
}
