//! Input an attacker controls in a pull-request job (the build's output, the event, the
//! repository's files) must not leak, forge or poison anything. The engine here is a fake
//! `docker` on PATH that prints a crafted progress stream, so no engine is needed.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;

/// A `docker` that records its arguments (one a line, in `argv`), prints `stderr` as its
/// progress and exits with `code`.
fn fake_docker(dir: &Path, stderr: &str, code: i32) {
    std::fs::write(dir.join("progress"), stderr).unwrap();
    let script = dir.join("docker");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >'{}'\ncat '{}' >&2\nexit {code}\n",
            dir.join("argv").display(),
            dir.join("progress").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// DOCKER_HOST naming a path that exists, so regcache's check for the engine's socket passes
/// and the fake `docker` runs.
fn fake_engine_socket(dir: &Path) -> (String, String) {
    (
        "DOCKER_HOST".to_owned(),
        format!("unix://{}", dir.display()),
    )
}

/// The log as the Actions runner reads it: a line ends at `\n` or at a lone `\r`.
fn runner_lines(stdout: &str) -> Vec<&str> {
    stdout
        .split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
        .collect()
}

/// The lines the runner would act on as commands: outside `::stop-commands::T` … `::T::`.
fn active_commands(stdout: &str) -> Vec<&str> {
    let mut stopped: Option<String> = None;
    let mut commands = Vec::new();
    for line in runner_lines(stdout) {
        match &stopped {
            Some(token) if line == format!("::{token}::") => stopped = None,
            Some(_) => {}
            None => {
                if let Some(token) = line.strip_prefix("::stop-commands::") {
                    stopped = Some(token.to_owned());
                } else if line.starts_with("::") {
                    commands.push(line);
                }
            }
        }
    }
    commands
}

#[test]
fn build_output_cannot_issue_workflow_commands() {
    let dir = tempfile::tempdir().unwrap();
    let log = base64::engine::general_purpose::STANDARD.encode("50%\r::add-mask::main\n");
    let progress = format!(
        r#"{{"vertexes":[{{"digest":"sha256:a","name":"[build 1/1] RUN make","started":"2026-01-01T00:00:00Z"}}]}}
{{"logs":[{{"vertex":"sha256:a","stream":1,"data":"{log}","timestamp":"2026-01-01T00:00:01Z"}}]}}
{{"vertexes":[{{"digest":"sha256:a","name":"[build 1/1] RUN make","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:02Z","error":"make failed\n::stop-commands::x"}}]}}
ERROR: failed to solve: make failed
"#
    );
    fake_docker(dir.path(), &progress, 1);
    let outputs = dir.path().join("outputs");
    std::fs::write(&outputs, "").unwrap();
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.path().display()),
        ),
        ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
        ("GITHUB_OUTPUT".to_owned(), outputs.display().to_string()),
        ("RUNNER_TEMP".to_owned(), dir.path().display().to_string()),
        fake_engine_socket(dir.path()),
    ]);
    // Nothing listens on port 1: the probe warns and the build runs without cache.
    let run = common::regcache(&["build", "--cache-ref", "127.0.0.1:1/app", "."], &env);
    assert_eq!(run.code, Some(1), "{}", run.log());
    let commands = active_commands(&run.stdout);
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("::add-mask::") || c.starts_with("::stop-commands::x")),
        "build output acted as a command: {commands:?}\n{}",
        run.log()
    );
    // regcache's own commands still work after the build output: the failed step's
    // annotation, with the injected newline escaped.
    assert!(
        commands.contains(&"::error title=[build 1/1] RUN make::make failed%0A::stop-commands::x"),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.starts_with("::group::")),
        "{commands:?}"
    );
}

/// A GitLab job without a docker config gets one holding the job's registry login, readable by
/// its owner only; the password never reaches the log. A config that exists is left alone.
#[test]
fn a_gitlab_job_without_docker_config_logs_in_with_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(dir.path(), "", 0);
    let home = dir.path().join("home");
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.path().display()),
        ),
        ("GITLAB_CI".to_owned(), "true".to_owned()),
        ("HOME".to_owned(), home.display().to_string()),
        ("CI_REGISTRY".to_owned(), "127.0.0.1:1".to_owned()),
        ("CI_REGISTRY_USER".to_owned(), "gitlab-ci-token".to_owned()),
        (
            "CI_REGISTRY_PASSWORD".to_owned(),
            "job-password-9f3".to_owned(),
        ),
        fake_engine_socket(dir.path()),
    ]);
    let build = ["build", "--cache-ref", "127.0.0.1:1/app", "."];
    let run = common::regcache_in(dir.path(), &build, &env);
    let config = home.join(".docker/config.json");
    let written: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&config).unwrap_or_else(|e| panic!("{e}\n{}", run.log())),
    )
    .unwrap();
    let auth = base64::engine::general_purpose::STANDARD
        .decode(written["auths"]["127.0.0.1:1"]["auth"].as_str().unwrap())
        .unwrap();
    assert_eq!(auth, b"gitlab-ci-token:job-password-9f3");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        run.stdout
            .contains("regcache: logged in to 127.0.0.1:1 as gitlab-ci-token (CI_REGISTRY_USER)"),
        "{}",
        run.log()
    );
    assert!(!run.log().contains("job-password-9f3"), "{}", run.log());

    std::fs::write(&config, "{}").unwrap();
    let again = common::regcache_in(dir.path(), &build, &env);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "{}",
        "{}",
        again.log()
    );
    assert!(!again.stdout.contains("logged in"), "{}", again.log());
}

#[test]
fn plain_logs_keep_build_text_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let progress = r#"{"vertexes":[{"digest":"sha256:a","name":"[build 1/1] RUN make","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:02Z","error":"failed\nerror: injected: line"}]}
"#;
    fake_docker(dir.path(), progress, 1);
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.path().display()),
        ),
        ("GITLAB_CI".to_owned(), "true".to_owned()),
        ("RUNNER_TEMP".to_owned(), dir.path().display().to_string()),
        (
            "CI_PROJECT_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        fake_engine_socket(dir.path()),
    ]);
    let run = common::regcache_in(
        dir.path(),
        &["build", "--cache-ref", "127.0.0.1:1/app", "."],
        &env,
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    let annotation = run
        .stdout
        .lines()
        .find(|l| l.starts_with("error: [build 1/1] RUN make"))
        .unwrap_or_else(|| panic!("{}", run.log()));
    assert_eq!(
        annotation,
        "error: [build 1/1] RUN make: failed\\nerror: injected: line"
    );
}

/// `regcache plan` in a workspace holding `files` (path, content) and `links` (path → target).
fn plan_in_workspace(
    files: &[(&str, &[u8])],
    links: &[(&str, &Path)],
    args: &[&str],
) -> common::Run {
    let workspace = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = workspace.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    for (path, target) in links {
        let path = workspace.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }
    let env = BTreeMap::from([(
        "GITHUB_WORKSPACE".to_owned(),
        workspace.path().display().to_string(),
    )]);
    let mut all = vec!["plan", "--tag", "r.io/app:dev"];
    all.extend(args);
    common::regcache(&all, &env)
}

#[test]
fn the_policy_file_cannot_disclose_or_exhaust() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join(".git-credentials");
    std::fs::write(&secret, "https://me:ghp_secret_token_value@github.com\n").unwrap();
    for target in [secret.as_path(), Path::new("/dev/zero")] {
        let run = plan_in_workspace(&[], &[(".github/regcache.yml", target)], &[]);
        assert_eq!(run.code, Some(2), "{}", run.log());
        assert!(
            run.stderr.contains(
                "input `policy-file`: .github/regcache.yml: it leads outside the workspace"
            ),
            "{}",
            run.log()
        );
        assert!(
            !run.log().contains("ghp_secret_token_value"),
            "{}",
            run.log()
        );
    }
    // Inside the workspace, a file that is no policy is refused without echoing it.
    let run = plan_in_workspace(
        &[(
            ".github/regcache.yml",
            b"https://me:ghp_secret_token_value@github.com\n",
        )],
        &[],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.log());
    assert!(
        !run.log().contains("ghp_secret_token_value"),
        "{}",
        run.log()
    );
    // Size and depth are capped before parsing.
    let big = vec![b'#'; 200 * 1024];
    let run = plan_in_workspace(&[(".github/regcache.yml", &big)], &[], &[]);
    assert!(run.stderr.contains("larger than 64 KiB"), "{}", run.log());
    let deep = format!("scope: {}\n", "[".repeat(50_000));
    let started = std::time::Instant::now();
    let run = plan_in_workspace(&[(".github/regcache.yml", deep.as_bytes())], &[], &[]);
    assert!(
        run.stderr.contains(":1: nested deeper than 16 brackets"),
        "{}",
        run.log()
    );
    assert!(started.elapsed().as_secs() < 5, "refused before parsing");
    // A link within the workspace is fine.
    let run = plan_in_workspace(
        &[("config/regcache.yml", b"prefix: team\n")],
        &[(".github/regcache.yml", Path::new("../config/regcache.yml"))],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(run.stdout.contains("write: r.io/app:team"), "{}", run.log());
}

#[test]
fn inputs_that_would_bypass_validation_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--buildx-args=--progress=plain"],
            "input `buildx-args`: `--progress` is set by regcache itself",
        ),
        (
            &["--buildx-args=--metadata-file /tmp/x"],
            "input `buildx-args`: `--metadata-file` is set by regcache itself",
        ),
        (
            &["--buildx-args=--cache-to type=registry,ref=r.io/app:c,mode=maxx"],
            "input `buildx-args`: --cache-to `type=registry,ref=r.io/app:c,mode=maxx`: ",
        ),
        (
            &[
                "--cache-to=type=registry,ref=index.docker.io/library/app:dev",
                "--tag=app:dev",
            ],
            "input `cache-to`: the cache destination `type=registry,ref=index.docker.io/library/app:dev` is the image tag `docker.io/library/app:dev`",
        ),
        (
            &[
                "--cache-ref=docker.io/r/app:latest",
                "--tag=index.docker.io/r/app:latest",
            ],
            "input `cache-ref`: `docker.io/r/app:latest` is also an image tag",
        ),
        (
            &[
                "--tag=r.io/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            "has a digest",
        ),
        (
            &["--network=bridge"],
            "input `network`: `bridge` is not accepted; accepted values: default, none, host",
        ),
        (
            &["--secrets=npm=a", "--secrets=npm=b"],
            "input `secrets`: the id `npm` is given twice",
        ),
        (
            &["--secret=id=npm,src=/a", "--secrets=npm=b"],
            "the id `npm` is given twice",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["plan"];
        all.extend(*args);
        if !args
            .iter()
            .any(|a| a.starts_with("--tag") || a.starts_with("--cache-ref"))
        {
            all.push("--cache-ref=r.io/app");
        }
        let run = common::regcache(&all, &BTreeMap::new());
        assert_eq!(run.code, Some(2), "{args:?}\n{}", run.log());
        assert!(run.stderr.contains(expected), "{args:?}\n{}", run.log());
    }
}

#[test]
fn a_context_that_looks_like_a_flag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(dir.path(), "", 0);
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.path().display()),
        ),
        ("INPUT_TAGS".to_owned(), "r.io/app:dev".to_owned()),
        (
            "INPUT_CONTEXT".to_owned(),
            "--output=type=local,dest=/tmp/pwn".to_owned(),
        ),
    ]);
    let run = common::regcache(&["action"], &env);
    assert_eq!(run.code, Some(2), "{}", run.log());
    assert!(
        run.stdout
            .contains("input `context`: `--output=type=local,dest=/tmp/pwn` starts with `-`"),
        "{}",
        run.log()
    );
}

#[test]
fn an_input_that_is_not_utf8_is_an_error_not_a_default() {
    use std::os::unix::ffi::OsStrExt;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_regcache"))
        .arg("action")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("INPUT_TAGS", "r.io/app:dev")
        .env("INPUT_MODE", std::ffi::OsStr::from_bytes(b"m\xe9x"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("input `mode`: the value is not valid UTF-8"),
        "{stdout}"
    );
}

#[test]
fn ignore_error_false_fails_before_building_when_the_cache_registry_is_down() {
    let dir = tempfile::tempdir().unwrap();
    // A docker that leaves a mark: it must never run.
    let script = dir.path().join("docker");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}/invoked'\n", dir.path().display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.path().display()),
        ),
        fake_engine_socket(dir.path()),
    ]);
    let run = common::regcache(
        &[
            "build",
            "--cache-ref",
            "127.0.0.1:1/app",
            "--ignore-error=false",
            ".",
        ],
        &env,
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stdout
            .contains("the cache registry 127.0.0.1:1 cannot be reached")
            && run.stdout.contains("ignore-error is false"),
        "{}",
        run.log()
    );
    assert!(!dir.path().join("invoked").exists(), "the engine ran");
}

#[test]
fn stats_reads_any_bytes_and_says_when_a_file_is_not_progress() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.log");
    let mut plain = std::fs::read(common::fixture(
        "buildkit/buildx-0.13.1_buildkit-0.13__c-warm-ephemeral.plain.stderr.txt",
    ))
    .unwrap();
    plain.extend_from_slice(b"#99 [internal] caf\xe9 au lait\n#99 DONE 0.0s\n");
    std::fs::write(&latin1, plain).unwrap();
    let run = common::regcache(&["stats", latin1.to_str().unwrap()], &BTreeMap::new());
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(run.stdout.starts_with("6/6 steps cached"), "{}", run.log());

    for (name, content) in [
        ("empty.log", &b""[..]),
        (
            "garbage.log",
            &b"\x00\x01 not a build log at all\nhello\n"[..],
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let run = common::regcache(&["stats", path.to_str().unwrap()], &BTreeMap::new());
        assert_eq!(run.code, Some(1), "{name}: {}", run.log());
        assert!(
            run.stderr.contains("holds no build progress"),
            "{name}: {}",
            run.log()
        );
    }
}

/// A rawjson progress stream of `vertices` (name, cached, error), each started and completed.
fn progress_of(vertices: &[(&str, bool, Option<&str>)]) -> String {
    let mut text = String::new();
    for (i, (name, cached, error)) in vertices.iter().enumerate() {
        let mut vertex = serde_json::json!({
            "digest": format!("sha256:{i:064x}"),
            "name": name,
            "cached": cached,
            "started": "2026-01-01T00:00:00Z",
            "completed": "2026-01-01T00:00:01Z",
        });
        if let Some(error) = error {
            vertex["error"] = serde_json::Value::from(*error);
        }
        text += &serde_json::json!({ "vertexes": [vertex] }).to_string();
        text.push('\n');
    }
    text
}

/// A build on GitHub with the fake docker: its outputs (JSON) and job summary.
fn github_build(dir: &Path, args: &[&str]) -> (common::Run, serde_json::Value, String) {
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "").unwrap();
    let outputs = dir.join("outputs.json");
    let github_output = dir.join("github-output");
    std::fs::write(&github_output, "").unwrap();
    let env = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", dir.display()),
        ),
        ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
        (
            "GITHUB_OUTPUT".to_owned(),
            github_output.display().to_string(),
        ),
        (
            "GITHUB_STEP_SUMMARY".to_owned(),
            summary.display().to_string(),
        ),
        ("RUNNER_TEMP".to_owned(), dir.display().to_string()),
        fake_engine_socket(dir),
    ]);
    let mut all = vec!["build"];
    all.extend(args);
    let output_file = outputs.display().to_string();
    all.extend([
        "--output-format",
        "json",
        "--output-file",
        &output_file,
        ".",
    ]);
    let run = common::regcache(&all, &env);
    let json = serde_json::from_slice(&std::fs::read(&outputs).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null);
    (run, json, std::fs::read_to_string(&summary).unwrap())
}

/// A fork's pull request controls its failing step's command and error, which BuildKit quotes,
/// and its stage names: in the base repository's job summary they are text, never markup.
#[test]
fn build_text_in_the_job_summary_is_text_not_markup() {
    let dir = tempfile::tempdir().unwrap();
    let markup = [
        "<img src=https://evil.example/x.png>",
        "[Re-run with secrets](https://evil.example/rerun)",
        "</details><details open>",
        "`` ` ``",
        "| forged | cell |",
        "https://evil.example/bare",
        "**bold** _em_ ~~gone~~",
    ]
    .join(" ");
    let step = format!("[build 1/1] RUN echo {markup}");
    let stage = "[<b>stage</b> 1/1] RUN true".to_owned();
    let error =
        format!("process \"/bin/sh -c echo {markup}\" did not complete successfully\n</details>");
    let progress = progress_of(&[
        (stage.as_str(), true, None),
        (step.as_str(), false, Some(error.as_str())),
    ]) + "ERROR: failed to solve\n";
    fake_docker(dir.path(), &progress, 1);
    let (run, _, summary) = github_build(dir.path(), &["--cache-ref", "127.0.0.1:1/app"]);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(summary.contains("Failed step"), "{summary}");
    let html = common::render_summary(&summary);
    for forbidden in [
        "<img",
        "<a ",
        "<details",
        "</details>",
        "<b>",
        "<em>",
        "<del>",
    ] {
        assert!(
            !html.contains(forbidden),
            "{forbidden} rendered:\n{summary}\n{html}"
        );
    }
    // regcache's own emphasis, and none from the build.
    assert_eq!(html.matches("<strong>").count(), 1, "{html}");
    // Every row has as many cells as its header: no forged cell.
    for table in html.split("<table>").skip(1) {
        let table = table.split("</table>").next().unwrap();
        let header = table
            .split("</tr>")
            .next()
            .unwrap()
            .matches("</th>")
            .count();
        for row in table.split("<tr>").skip(2) {
            assert_eq!(row.matches("</td>").count(), header, "{row}");
        }
    }
    assert!(
        html.contains("&lt;img src=https://evil.example/x.png&gt;"),
        "{html}"
    );
}

/// Vertex names are the build's to choose (`# syntax=` picks the frontend): the ref outputs
/// hold only refs regcache passed to the engine, whatever the log says was imported.
#[test]
fn ref_outputs_hold_only_refs_regcache_passed() {
    use common::hostile::{Answer, Hostile, sha256};
    let registry = Hostile::start(|seen| {
        if seen.path.ends_with("/manifests/buildcache") {
            Answer::new("200 OK", "").header("Docker-Content-Digest", &sha256(b"x"))
        } else {
            Answer::new("404 Not Found", "")
        }
    });
    let ours = format!("{}/app:buildcache", registry.host);
    let dir = tempfile::tempdir().unwrap();
    let injected = "importing cache manifest from $(touch /tmp/regcache-pwned)";
    let spoofed = "importing cache manifest from r.io/app:spoofed";
    let legit = format!("importing cache manifest from {ours}");
    let progress = progress_of(&[
        (legit.as_str(), false, None),
        (injected, false, Some("not found")),
        (spoofed, false, None),
        ("[build 1/1] RUN true", true, None),
    ]);
    fake_docker(dir.path(), &progress, 0);
    let cache_ref = format!("{}/app", registry.host);
    let (run, outputs, _) = github_build(dir.path(), &["--cache-ref", &cache_ref]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(outputs["cache-refs-found"], ours.as_str(), "{outputs:#}");
    assert_eq!(outputs["cache-source"], ours.as_str(), "{outputs:#}");
    assert_eq!(outputs["cache-refs-missing"], "", "{outputs:#}");
    // The same log read back by `regcache stats`: no decision known, so refs must parse.
    let log = dir.path().join("log.json");
    std::fs::write(&log, &progress).unwrap();
    let stats = common::regcache(
        &["stats", log.to_str().unwrap(), "--output-format", "json"],
        &BTreeMap::new(),
    );
    let stats: serde_json::Value =
        serde_json::from_str(&stats.stdout).unwrap_or_else(|e| panic!("{e}: {}", stats.log()));
    assert_eq!(
        stats["cache-refs-missing"], "",
        "a vertex name that is no image reference is never reported: {stats:#}"
    );
    assert_eq!(
        stats["cache-refs-found"],
        format!("{ours},r.io/app:spoofed")
    );
}

/// The CLI's `--secret` is buildx's flag and reads as buildx reads it: a file or a variable
/// by reference, never a value made of the rest of the text.
#[test]
fn the_cli_secret_flag_takes_buildx_syntax() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(
        dir.path(),
        &progress_of(&[("[build 1/1] RUN true", true, None)]),
        0,
    );
    let token = dir.path().join("token");
    std::fs::write(&token, "tok").unwrap();
    let file_secret = format!("id=tok,src={}", token.display());
    let (run, _, _) = github_build(
        dir.path(),
        &[
            "--cache-ref",
            "127.0.0.1:1/app",
            "--secret",
            &file_secret,
            "--secret",
            "type=env,id=gh,src=GH_TOKEN",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let secrets: Vec<&str> = argv
        .lines()
        .zip(argv.lines().skip(1))
        .filter(|(flag, _)| *flag == "--secret")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(
        secrets,
        ["id=gh,env=GH_TOKEN", file_secret.as_str()],
        "{argv}"
    );
}

/// An output file that is a symlink (planted in the workspace by the build's own repository)
/// is replaced, never written through: the file it points to stays as it was.
#[test]
fn a_symlinked_output_file_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("build.log");
    std::fs::write(&log, progress_of(&[("[build 1/1] RUN true", true, None)])).unwrap();
    let target = dir.path().join("precious");
    std::fs::write(&target, "keep me").unwrap();
    let output = dir.path().join("regcache.json");
    std::os::unix::fs::symlink(&target, &output).unwrap();
    let run = common::regcache(
        &[
            "stats",
            log.to_str().unwrap(),
            "--output-format",
            "json",
            "--output-file",
            output.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(
        !std::fs::symlink_metadata(&output)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(written["cached-steps"], "1");
}
