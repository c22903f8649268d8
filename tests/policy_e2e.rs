//! The branch policy on the real engine and registry, each build on a wiped builder: a new
//! branch's first build is warm from the default branch's cache, a pull request does not change
//! the branch caches, and a fork's pull request writes nothing and still succeeds.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use regcache::internals::slug;

/// The manifest digest of a cache tag, or None when it does not exist.
fn digest(reference: &str) -> Option<String> {
    stored_manifest(reference).map(|m| m.digest)
}

struct Step<'a> {
    event: &'a str,
    git_ref: &'a str,
    payload: &'a Path,
}

fn build_on_github(
    repo: &str,
    context: &Path,
    step: Step<'_>,
    work: &Path,
) -> (Run, serde_json::Value) {
    let mut env: BTreeMap<String, String> = engine_env().clone();
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", step.event),
        ("GITHUB_REF", step.git_ref),
        ("GITHUB_EVENT_PATH", step.payload.to_str().unwrap()),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("RUNNER_TEMP", work.to_str().unwrap()),
    ] {
        env.insert(k.into(), v.into());
    }
    let out = work.join(format!("{}.json", slug(step.git_ref, 60)));
    let tag = format!("{repo}:dev");
    let args = [
        "build",
        "--cache-ref",
        repo,
        "--tag",
        &tag,
        "--network",
        "none",
        "--output-format",
        "json",
        "--output-file",
        out.to_str().unwrap(),
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(context.to_str().unwrap());
    let run = regcache(&args, &env);
    let o = if out.exists() {
        outputs(&out)
    } else {
        serde_json::Value::Null
    };
    (run, o)
}

/// A fixture payload with the base branch of its pull request changed.
fn payload_with_base(name: &str, base: &str, dir: &Path) -> std::path::PathBuf {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("github/{name}"))).unwrap())
            .unwrap();
    payload["pull_request"]["base"]["ref"] = base.into();
    let path = dir.join(name);
    std::fs::write(&path, payload.to_string()).unwrap();
    path
}

#[test]
fn branches_fall_back_to_main_and_requests_never_touch_branch_caches() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let repo = fresh_repo("policy");
    let fixtures = fixture("github");
    let main_ref = format!("{repo}:buildcache-main");
    let feature_ref = format!("{repo}:buildcache-{}", slug("feature/x", 100));

    // The default branch builds first and writes its own cache.
    wipe_builder();
    let push = fixtures.join("push-branch.json");
    let (run, o) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "push",
            git_ref: "refs/heads/main",
            payload: &push,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(o["cache-ref"], main_ref.as_str());
    let main_digest = digest(&main_ref).expect("main's cache was written");

    // A new branch's first build: its own tag does not exist, main's does: warm.
    wipe_builder();
    let (run, o) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "push",
            git_ref: "refs/heads/feature/x",
            payload: &push,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout.contains(&format!(
            "regcache: reading {feature_ref} (feature/x: this branch; not found), {main_ref} (main: the default branch; found)"
        )),
        "{}",
        run.log()
    );
    assert!(
        !run.stdout
            .contains("failed to configure registry cache importer"),
        "only existing refs reach buildx: {}",
        run.log()
    );
    assert_eq!(
        (
            o["cache-source"].as_str(),
            o["cache-hit"].as_str(),
            o["cached-steps"].as_str()
        ),
        (Some(main_ref.as_str()), Some("true"), Some("6")),
        "{}",
        run.log()
    );
    assert_eq!(o["cache-ref"], feature_ref.as_str());
    // Every step came from main's cache: the branch's tag is given main's manifest by a
    // registry-side copy, and BuildKit's exporter never ran.
    assert_eq!(o["cache-exported"], "copied", "{}", run.log());
    assert!(
        !run.stdout.contains("exporting cache to registry"),
        "{}",
        run.log()
    );
    let feature_digest = digest(&feature_ref).expect("the branch wrote its own cache");
    assert_eq!(feature_digest, main_digest);
    assert_eq!(
        digest(&main_ref).as_ref(),
        Some(&main_digest),
        "the branch build left main's cache alone"
    );

    // A pull request into main from the same repository: warm from main, writes only pr-2.
    wipe_builder();
    let pr = payload_with_base("pull_request-opened.json", "main", work.path());
    let (run, o) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "pull_request",
            git_ref: "refs/pull/2/merge",
            payload: &pr,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(
        (o["cache-source"].as_str(), o["cache-hit"].as_str()),
        (Some(main_ref.as_str()), Some("true")),
        "{}",
        run.log()
    );
    assert_eq!(o["cache-ref"], format!("{repo}:buildcache-pr-2").as_str());
    assert_eq!(o["cache-exported"], "copied", "{}", run.log());
    assert_eq!(
        digest(&format!("{repo}:buildcache-pr-2")).as_ref(),
        Some(&main_digest)
    );
    assert_eq!(
        digest(&main_ref).as_ref(),
        Some(&main_digest),
        "the PR did not change main's cache"
    );
    assert_eq!(
        digest(&feature_ref).as_ref(),
        Some(&feature_digest),
        "the PR did not change the branch's cache"
    );

    // A fork's pull request: reads, writes nothing, succeeds.
    wipe_builder();
    let fork = fixtures.join("pull_request-fork.json");
    let (run, o) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "pull_request",
            git_ref: "refs/pull/3/merge",
            payload: &fork,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout.contains("regcache: writing nothing"),
        "{}",
        run.log()
    );
    assert!(
        !run.stdout.contains("exporting cache to registry"),
        "no export vertex: {}",
        run.log()
    );
    assert_eq!(
        (
            o["cache-ref"].as_str(),
            o["cache-exported"].as_str(),
            o["cache-hit"].as_str()
        ),
        (Some(""), Some("false"), Some("true"))
    );
    assert_eq!(
        digest(&format!("{repo}:buildcache-pr-3")),
        None,
        "the fork wrote no cache"
    );
    assert_eq!(digest(&main_ref).as_ref(), Some(&main_digest));
    assert_eq!(digest(&feature_ref).as_ref(), Some(&feature_digest));
}

/// A docker config of its own (with the buildx plugin linked in), logged in or not.
fn docker_config(dir: &Path, login: Option<(&str, &str, &str)>) -> BTreeMap<String, String> {
    let plugins = dir.join("cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let engine_plugins =
        Path::new(&engine_env()["DOCKER_CONFIG"]).join("cli-plugins/docker-buildx");
    std::os::unix::fs::symlink(engine_plugins, plugins.join("docker-buildx")).unwrap();
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    let mut env = engine_env().clone();
    env.insert("DOCKER_CONFIG".into(), dir.to_str().unwrap().into());
    if let Some((registry, user, password)) = login {
        let out = std::process::Command::new("docker")
            .args(["login", registry, "-u", user, "--password-stdin"])
            .env_clear()
            .envs(&env)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(password.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "docker login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env
}

#[test]
fn probing_uses_the_users_docker_credentials() {
    let _turn = engine_lock();
    let work = tempfile::tempdir().unwrap();
    let htpasswd = work.path().join("htpasswd");
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "ci", "s3cret"])
        .output()
        .expect("htpasswd (apache2-utils) runs");
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let port = "5058";
    let registry_host = format!("127.0.0.1:{port}");
    // One left by an aborted run would serve a deleted htpasswd: start afresh.
    engine_script(&["registry-stop", "auth"]);
    engine_script(&["registry-start", "auth", port, htpasswd.to_str().unwrap()]);

    let example = example_copy();
    let repo = format!(
        "{registry_host}/e2e/auth-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cache_ref = format!("{repo}:buildcache");
    let logged_in = docker_config(
        &work.path().join("logged-in"),
        Some((&registry_host, "ci", "s3cret")),
    );
    let anonymous = docker_config(&work.path().join("anonymous"), None);
    let build = |env: &BTreeMap<String, String>, name: &str| {
        let out = work.path().join(format!("{name}.json"));
        let tag = format!("{}/e2e/auth:dev", registry());
        let args = [
            "build",
            "--cache-ref",
            repo.as_str(),
            "--tag",
            &tag,
            "--network",
            "none",
            "--output-format",
            "json",
            "--output-file",
            out.to_str().unwrap(),
            example.path().to_str().unwrap(),
        ];
        let run = regcache(&args, env);
        let o = if out.exists() {
            outputs(&out)
        } else {
            serde_json::Value::Null
        };
        (run, o)
    };

    wipe_builder();
    let (run, o) = build(&logged_in, "cold");
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(
        o["cache-exported"],
        "true",
        "buildx pushed with the login: {}",
        run.log()
    );

    // Warm: the probe reads the cache with the same credentials docker uses.
    wipe_builder();
    let (run, o) = build(&logged_in, "warm");
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout.contains(&format!(
            "regcache: reading {cache_ref} (buildcache: the shared tag; found)"
        )),
        "{}",
        run.log()
    );
    assert_eq!(
        (o["cache-source"].as_str(), o["cache-hit"].as_str()),
        (Some(cache_ref.as_str()), Some("true"))
    );

    // Without credentials the registry answers 401: a warning, a cold build, no failure.
    wipe_builder();
    let (run, o) = build(&anonymous, "anonymous");
    engine_script(&["registry-stop", "auth"]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout
            .contains(&format!("warning: cache ref unreadable: {cache_ref}")),
        "{}",
        run.log()
    );
    assert_eq!(
        (o["cache-source"].as_str(), o["cached-steps"].as_str()),
        (Some(""), Some("0"))
    );
}

/// A registry (a proxy or mirror) that answers regcache's copy with a manifest that is not the
/// digest asked for: nothing forged reaches the pull request's tag; the copy is refused with a
/// warning and the cache is exported instead.
#[test]
fn a_forged_manifest_is_never_copied() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(registry(), Fault::ForgedManifestByDigest);
    let name = fresh_repo("forged-copy");
    let repo = format!("{}/{}", proxy.addr, name.split_once('/').unwrap().1);
    let push = fixture("github").join("push-branch.json");
    wipe_builder();
    let (run, _) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "push",
            git_ref: "refs/heads/main",
            payload: &push,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    wipe_builder();
    let pr = payload_with_base("pull_request-opened.json", "main", work.path());
    let (run, o) = build_on_github(
        &repo,
        example.path(),
        Step {
            event: "pull_request",
            git_ref: "refs/pull/2/merge",
            payload: &pr,
        },
        work.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout.contains("::warning title=cache not copied::")
            && run.stdout.contains("not sha256:")
            && run.stdout.contains("exporting the cache instead"),
        "{}",
        run.log()
    );
    assert_eq!(
        (o["cache-hit"].as_str(), o["cache-exported"].as_str()),
        (Some("true"), Some("true")),
        "{}",
        run.log()
    );
    let stored = stored_manifest(&format!("{name}:buildcache-pr-2")).expect("the PR's cache");
    assert!(
        !stored.json["layers"].as_array().unwrap().is_empty(),
        "the PR's tag holds the exported cache, not the forged manifest: {}",
        stored.raw
    );
}
