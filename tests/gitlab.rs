//! The GitLab template and example pipeline (`gitlab/`) run by a real GitLab pipeline runner,
//! gitlab-ci-local (`scripts/tools.sh`), in shell-executor mode against the real engine and
//! registry: a branch pipeline, then a merge-request pipeline, each with the `report` job
//! reading the build job's dotenv variables; and the branch pipeline against a dockerd served
//! as `docker:dind` serves it, over TCP with TLS and client certificates.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A Git repository holding the bundled example, the template and the example pipeline as
/// its `.gitlab-ci.yml`, as a GitLab project would.
fn project() -> tempfile::TempDir {
    let dir = example_copy();
    let root = dir.path();
    std::fs::create_dir(root.join("gitlab")).unwrap();
    std::fs::copy(
        repo_root().join("gitlab/regcache.yml"),
        root.join("gitlab/regcache.yml"),
    )
    .unwrap();
    // The example as written, but for its docker:dind service, which would be pulled from
    // Docker Hub: the jobs reach the engine's socket instead (DOCKER_HOST, below).
    let example =
        std::fs::read_to_string(repo_root().join("gitlab/example.gitlab-ci.yml")).unwrap();
    let mut pipeline: yaml_serde::Value = yaml_serde::from_str(&example).unwrap();
    let build = pipeline["build"].as_mapping_mut().unwrap();
    assert!(
        build.remove("services").is_some(),
        "the example has a dind service"
    );
    std::fs::write(
        root.join(".gitlab-ci.yml"),
        yaml_serde::to_string(&pipeline).unwrap(),
    )
    .unwrap();
    commit_all(root);
    let remote = [
        "remote",
        "add",
        "origin",
        "https://gitlab.example.com/group/app.git",
    ];
    let out = Command::new("git")
        .args(remote)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {remote:?}: {out:?}");
    dir
}

/// One pipeline: gitlab-ci-local with GitLab's variables for the event, the engine's
/// variables, and the regcache under test first on PATH.
fn pipeline(project: &Path, repo: &str, variables: &[(&str, &str)]) -> Run {
    let engine = engine_env();
    let bin = Path::new(env!("CARGO_BIN_EXE_regcache")).parent().unwrap();
    let args = format!(
        "--tag {repo}:dev --network none --build-arg BASE={}",
        engine["REGCACHE_BASE_IMAGE"]
    );
    let mut command = Command::new(&tools_env()["REGCACHE_GITLAB_CI_LOCAL"]);
    command
        .current_dir(project)
        .args(["--force-shell-executor", "--shell-isolation", "--no-color"])
        .env_clear()
        .envs(engine)
        .env("HOME", project.join(".home"))
        .env("PATH", format!("{}:{}", bin.display(), engine["PATH"]));
    let mut all: Vec<(String, String)> = vec![
        // gitlab-ci-local sets GITLAB_CI=false; a real runner sets true.
        ("GITLAB_CI".into(), "true".into()),
        ("REGCACHE_ARGS".into(), args),
        // The example's dind service is not there: the job reaches the engine's socket.
        ("DOCKER_HOST".into(), engine["DOCKER_HOST"].clone()),
        ("DOCKER_TLS_VERIFY".into(), String::new()),
        ("DOCKER_CERT_PATH".into(), String::new()),
        ("CI_DEFAULT_BRANCH".into(), "main".into()),
    ];
    for (name, value) in variables {
        all.retain(|(k, _)| k != name);
        all.push((name.to_string(), value.to_string()));
    }
    for (name, value) in &all {
        command.args(["--variable", &format!("{name}={value}")]);
    }
    command.output().expect("gitlab-ci-local runs").into()
}

/// The line the `report` job printed from the build job's dotenv variables.
fn reported(run: &Run) -> String {
    run.stdout
        .lines()
        .find(|l| l.contains("report") && l.contains("cache hit ") && !l.contains("echo"))
        .unwrap_or_else(|| panic!("no report line\n{}", run.log()))
        .to_owned()
}

#[test]
fn branch_then_merge_request_pipelines_build_and_pass_the_dotenv_on() {
    let _turn = engine_lock();
    let project = project();
    let repo = fresh_repo("gitlab");

    wipe_builder();
    let branch = pipeline(
        project.path(),
        &repo,
        &[("CI_COMMIT_BRANCH", "main"), ("CI_PIPELINE_SOURCE", "push")],
    );
    assert_eq!(branch.code, Some(0), "{}", branch.log());
    assert!(
        reported(&branch).ends_with("cache hit false, 0 of 6 steps from "),
        "{}",
        branch.log()
    );
    assert!(
        branch
            .stdout
            .contains(&format!("regcache: writing {repo}:buildcache-main")),
        "{}",
        branch.log()
    );
    // The summary is in the log, and the stats JSON is kept as an artifact.
    assert!(branch.stdout.contains("### regcache: "), "{}", branch.log());
    let json = project
        .path()
        .join(".gitlab-ci-local/artifacts/build/regcache.json");
    let stats: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", json.display(), branch.log())),
    )
    .unwrap();
    assert_eq!(stats["stats"]["stages"].as_array().unwrap().len(), 2);

    // A merge request from `login` into main, on a wiped builder: its own cache and the
    // source branch's do not exist, so the default branch's is read; it writes mr-7.
    wipe_builder();
    let request = pipeline(
        project.path(),
        &repo,
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "login"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_PROJECT_ID", "42"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "42"),
        ],
    );
    assert_eq!(request.code, Some(0), "{}", request.log());
    assert_eq!(
        reported(&request).split_once("cache hit ").unwrap().1,
        format!("true, 6 of 6 steps from {repo}:buildcache-main"),
        "{}",
        request.log()
    );
    assert!(
        request
            .stdout
            .contains(&format!("regcache: writing {repo}:buildcache-mr-7")),
        "{}",
        request.log()
    );

    // The same request from a fork: read-only.
    let fork = pipeline(
        project.path(),
        &repo,
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_IID", "8"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_PROJECT_ID", "42"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "99"),
        ],
    );
    assert_eq!(fork.code, Some(0), "{}", fork.log());
    assert!(
        fork.stdout.contains("regcache: writing nothing"),
        "{}",
        fork.log()
    );

    // One file changed on main: the build explains its first miss in its log section and
    // passes it on in the dotenv report.
    let greeting = project.path().join("src/greeting.txt");
    let mut text = std::fs::read_to_string(&greeting).unwrap();
    text.push_str("changed\n");
    std::fs::write(&greeting, text).unwrap();
    commit_changes(project.path(), "one file changed");
    wipe_builder();
    let changed = pipeline(
        project.path(),
        &repo,
        &[("CI_COMMIT_BRANCH", "main"), ("CI_PIPELINE_SOURCE", "push")],
    );
    assert_eq!(changed.code, Some(0), "{}", changed.log());
    let first_miss = "COPY src/ ./ (Dockerfile:6): file-changed src/greeting.txt";
    let passed_on = changed
        .stdout
        .lines()
        .find(|l| l.contains("report") && l.contains("first miss ") && !l.contains("echo"))
        .unwrap_or_else(|| panic!("no first-miss line\n{}", changed.log()));
    assert!(
        passed_on.ends_with(&format!("first miss {first_miss}")),
        "{passed_on}"
    );
    assert!(
        changed
            .stdout
            .contains(&format!("regcache: first miss: {first_miss}")),
        "{}",
        changed.log()
    );
    assert!(
        changed
            .stdout
            .contains("cache history (2 builds, hit ratio oldest → newest): ▁▂"),
        "the log section's sparkline: {}",
        changed.log()
    );
}

#[test]
fn the_template_job_builds_through_a_tls_daemon_with_dinds_variables() {
    let _turn = engine_lock();
    engine_script(&["tls-start"]);
    let engine = engine_env();
    let (host, certs) = (
        engine["REGCACHE_TLS_DOCKER_HOST"].as_str(),
        engine["REGCACHE_TLS_CERT_PATH"].as_str(),
    );
    let mut tls = engine.clone();
    tls.insert("DOCKER_HOST".into(), host.into());
    tls.insert("DOCKER_TLS_VERIFY".into(), "1".into());
    tls.insert("DOCKER_CERT_PATH".into(), certs.into());
    wipe_builder_at(&tls);
    let project = project();
    let repo = fresh_repo("gitlab-tls");
    let branch = pipeline(
        project.path(),
        &repo,
        &[
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("DOCKER_HOST", host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs),
        ],
    );
    assert_eq!(branch.code, Some(0), "{}", branch.log());
    assert!(
        reported(&branch).ends_with("cache hit false, 0 of 6 steps from "),
        "{}",
        branch.log()
    );
    // The TLS daemon built it: the image is in its store.
    assert!(
        docker_at(&["image", "inspect", &format!("{repo}:dev")], &tls)
            .status
            .success(),
        "{}",
        branch.log()
    );
}
