//! regcache's container image (`image/Dockerfile`, target `docker`), built on the real engine
//! from local stand-ins for its public bases (`scripts/image.sh`), and run for real with
//! `docker run`: the engine's socket mounted, the bundled example built cold, then warm on a
//! wiped builder; and without the socket, the one line that says what to mount.

mod common;

use std::process::Command;

use common::*;

/// The image, built once for this test binary.
fn image() -> &'static str {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let tag = format!("{}/regcache/image:test-{}", registry(), std::process::id());
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/image.sh"))
            .args(["build", &tag, env!("CARGO_BIN_EXE_regcache")])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "image.sh build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tag
    })
}

fn socket() -> String {
    engine_env()["DOCKER_HOST"]
        .strip_prefix("unix://")
        .unwrap()
        .to_owned()
}

/// `docker run` of the image on the host's network (the registry is on loopback).
fn run_image(mounts: &[String], args: &[&str]) -> Run {
    let mut argv: Vec<String> = ["run", "--rm", "--network", "host"]
        .map(String::from)
        .to_vec();
    for mount in mounts {
        argv.extend(["-v".into(), mount.clone()]);
    }
    argv.extend(["-w".into(), "/src".into(), image().to_owned()]);
    argv.extend(args.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    docker(&argv).into()
}

/// Build cache and images gone, as on a new runner, but for the image under test.
fn wipe_all_but_the_image(built: &str) {
    assert!(docker(&["buildx", "prune", "-af"]).status.success());
    docker(&[
        "image",
        "rm",
        "-f",
        built,
        &engine_env()["REGCACHE_BASE_IMAGE"],
    ]);
}

#[test]
fn the_image_builds_the_example_cold_then_warm_with_the_socket_mounted() {
    let _turn = engine_lock();
    let example = example_copy();
    let repo = fresh_repo("image");
    let built = format!("{repo}:dev");
    let base = format!("BASE={}", engine_env()["REGCACHE_BASE_IMAGE"]);
    let mounts = [
        format!("{}:/var/run/docker.sock", socket()),
        format!("{}:/src", example.path().display()),
    ];
    let build = |out: &str| {
        run_image(
            &mounts,
            &[
                "build",
                "--tag",
                &built,
                "--network",
                "none",
                "--build-arg",
                &base,
                "--output-format",
                "json",
                "--output-file",
                out,
                ".",
            ],
        )
    };
    image();
    wipe_all_but_the_image(&built);
    let cold = build("/src/cold.json");
    assert_eq!(cold.code, Some(0), "{}", cold.log());
    let o = outputs(&example.path().join("cold.json"));
    assert_eq!(
        (o["cached-steps"].as_str(), o["total-steps"].as_str()),
        (Some("0"), Some("6"))
    );
    assert_eq!(o["cache-exported"], "true");
    assert_eq!(o["cache-ref"], format!("{repo}:buildcache").as_str());

    wipe_all_but_the_image(&built);
    let warm = build("/src/warm.json");
    assert_eq!(warm.code, Some(0), "{}", warm.log());
    let o = outputs(&example.path().join("warm.json"));
    assert_eq!(
        (
            o["cached-steps"].as_str(),
            o["total-steps"].as_str(),
            o["cache-hit"].as_str()
        ),
        (Some("6"), Some("6"), Some("true"))
    );
    assert!(
        warm.stdout
            .contains("regcache: 6/6 steps cached (100.0%), cache-hit=true"),
        "{}",
        warm.log()
    );
}

#[test]
fn without_the_socket_one_line_says_what_to_mount() {
    let example = example_copy();
    let run = run_image(
        &[format!("{}:/src", example.path().display())],
        &["build", "--tag", "127.0.0.1:9/app:dev", "."],
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.log());
    assert!(
        errors[0].contains("no Docker engine at unix:///var/run/docker.sock")
            && errors[0].contains("-v /var/run/docker.sock:/var/run/docker.sock"),
        "{}",
        run.log()
    );
}
