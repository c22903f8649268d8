//! The action as the GitHub Actions runner runs it: committed workflows (the README's quick
//! start, the examples in `workflows/`) executed by act (nektos/act) in host mode, against the
//! real engine and registry, with the action installed by its own launcher (`dist/launch.sh`)
//! from release archives served on loopback.
//!
//! What a hosted runner has that act here cannot fetch is swapped out, and each swap is
//! asserted to have happened, so a README or example that drifts fails here:
//! - `uses: regcache/regcache@…` becomes `uses: ./` with `download-url` set to the loopback
//!   server (the launcher's documented override for mirrors);
//! - `docker/setup-buildx-action` and `docker/login-action` steps are dropped: the engine's
//!   default builder (containerd image store) exports registry cache, and the loopback
//!   registry needs no login;
//! - `ghcr.io/${{ github.repository }}` becomes a fresh repository on the loopback registry.
//!
//! act's host mode empties DOCKER_HOST; the engine is reached at the default socket, which
//! `scripts/engine.sh start` links, exactly as on a hosted runner. When that socket leads to
//! another engine, every act test stops with `scripts/engine.sh check`'s line naming it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, Server};
use yaml_serde::{Mapping, Value};

const ARCHIVE: &str = "/regcache-0.1.0-linux-x64.tar.gz";

/// A workflow with the swaps described at the top of this file; panics when one finds nothing.
fn localize(workflow: &str, download_url: &str, replace: &[(&str, &str)]) -> String {
    let mut text = workflow.to_owned();
    for (from, to) in replace {
        assert!(
            text.contains(from),
            "the workflow no longer contains `{from}`:\n{workflow}"
        );
        text = text.replace(from, to);
    }
    let mut doc: Value = yaml_serde::from_str(&text).unwrap();
    let (mut dropped, mut swapped) = (0, 0);
    for (_, job) in doc["jobs"].as_mapping_mut().unwrap().iter_mut() {
        let Some(steps) = job.get_mut("steps").and_then(Value::as_sequence_mut) else {
            continue;
        };
        steps.retain(|step| {
            let uses = step.get("uses").and_then(Value::as_str).unwrap_or("");
            let keep = !uses.starts_with("docker/setup-buildx-action@")
                && !uses.starts_with("docker/login-action@");
            dropped += usize::from(!keep);
            keep
        });
        for step in steps.iter_mut() {
            let uses = step.get("uses").and_then(Value::as_str).unwrap_or("");
            let local = if uses.starts_with("regcache/regcache@") {
                Some("./")
            } else if uses.starts_with("regcache/regcache/bake@") {
                Some("./bake")
            } else {
                None
            };
            if let Some(local) = local {
                swapped += 1;
                step["uses"] = Value::from(local);
                let with = step
                    .as_mapping_mut()
                    .unwrap()
                    .entry(Value::from("with"))
                    .or_insert_with(|| Value::Mapping(Mapping::new()));
                with["download-url"] = Value::from(download_url);
            }
        }
    }
    assert!(
        swapped > 0,
        "no `uses: regcache/regcache@…` step in:\n{workflow}"
    );
    assert!(
        dropped > 0,
        "no setup-buildx or login step to drop in:\n{workflow}"
    );
    yaml_serde::to_string(&doc).unwrap()
}

/// `dist` recording the test archives, as a release's tagged commit records its own.
fn record_release(dist: &Path) {
    let record = Command::new("bash")
        .arg(common::repo_root().join("scripts/release.sh"))
        .arg("record")
        .arg(dist)
        .args(["0.1.0", "regcache/regcache"])
        .arg(common::release_archives().join("SHA256SUMS"))
        .output()
        .unwrap();
    assert!(
        record.status.success(),
        "{}",
        String::from_utf8_lossy(&record.stderr)
    );
}

/// A git repository holding this action (action.yml, dist/ recording the test archives), the
/// bundled example as the build context, and `files`.
fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = common::example_copy();
    let root = common::repo_root();
    std::fs::copy(root.join("action.yml"), dir.path().join("action.yml")).unwrap();
    std::fs::create_dir_all(dir.path().join("bake")).unwrap();
    std::fs::copy(
        root.join("bake/action.yml"),
        dir.path().join("bake/action.yml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::copy(
        root.join("dist/launch.sh"),
        dir.path().join("dist/launch.sh"),
    )
    .unwrap();
    record_release(&dir.path().join("dist"));
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    common::commit_all(dir.path());
    dir
}

/// One runner machine: its own HOME and tool cache, kept across the jobs it runs.
struct Machine {
    home: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn tool_cache(&self) -> PathBuf {
        // act puts RUNNER_TOOL_CACHE under its cache directory.
        self.home.path().join("cache/act/tool_cache")
    }

    /// `act push` of one workflow of `repo`, with a push payload for the default branch.
    fn run(&self, repo: &Path, workflow: &str) -> Run {
        let event = self.home.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"ref": "refs/heads/main", "created": false, "deleted": false,
                "repository": {"full_name": "octo/app", "name": "app", "default_branch": "main"}}"#,
        )
        .unwrap();
        let engine = common::engine_env();
        // act's host mode empties DOCKER_HOST: the steps reach the default socket, which must
        // be the engine the project's script started.
        common::default_socket();
        let mut env: BTreeMap<&str, &str> = BTreeMap::new();
        env.insert("PATH", &engine["PATH"]);
        env.insert("DOCKER_CONFIG", &engine["DOCKER_CONFIG"]);
        env.insert("HOME", self.home.path().to_str().unwrap());
        let home_cache = self.home.path().join("cache");
        env.insert("XDG_CACHE_HOME", home_cache.to_str().unwrap());
        Command::new(&common::tools_env()["REGCACHE_ACT"])
            .args([
                "push",
                "-P",
                "ubuntu-latest=-self-hosted",
                "-W",
                workflow,
                "-e",
            ])
            .arg(&event)
            .current_dir(repo)
            .env_clear()
            .envs(env)
            .output()
            .expect("act runs")
            .into()
    }
}

/// Whether the registry holds `repository` at all (a build that never ran pushed nothing).
fn registry_has(repository: &str) -> bool {
    let (registry, name) = repository.split_once('/').unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{registry}/v2/{name}/tags/list"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout) == "200"
}

/// The README's quick start as `.github/workflows/image.yml`, building into `image`.
fn quick_start_repository(server: &Server, image: &str) -> tempfile::TempDir {
    let workflow = localize(
        &common::readme_quick_start(),
        &server.url,
        &[("ghcr.io/${{ github.repository }}", image)],
    );
    repository(&[(".github/workflows/image.yml", &workflow)])
}

fn assert_logged(run: &Run, text: &str) {
    assert!(
        run.stdout.contains(text),
        "expected `{text}` in the log\n{}",
        run.log()
    );
}

fn assert_succeeded(run: &Run) {
    assert!(
        run.code == Some(0) && run.stdout.contains("Job succeeded"),
        "{}",
        run.log()
    );
}

#[test]
fn readme_quick_start_builds_cold_then_warm_with_outputs_and_summary() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("quickstart");
    let repo = quick_start_repository(&server, &image);
    let machine = Machine::new();

    common::wipe_builder();
    let cold = machine.run(repo.path(), ".github/workflows/image.yml");
    assert_succeeded(&cold);
    assert_logged(&cold, "cache-hit=false, 0 of 6 steps cached");
    assert_eq!(
        server.paths(),
        [ARCHIVE],
        "the first job downloads the archive once"
    );
    assert!(
        machine
            .tool_cache()
            .join("regcache/0.1.0/linux-x64/regcache")
            .is_file()
    );

    common::wipe_builder();
    let warm = machine.run(repo.path(), ".github/workflows/image.yml");
    assert_succeeded(&warm);
    assert_logged(&warm, "cache-hit=true, 6 of 6 steps cached");
    assert!(
        warm.stdout.contains(":latest: 6/6 steps cached (100%)"),
        "job summary\n{}",
        warm.log()
    );
    assert_logged(
        &warm,
        &format!("regcache: reading {image}:buildcache-main (main: this branch; found)"),
    );
    assert_eq!(
        server.paths(),
        [ARCHIVE],
        "the second job uses the tool cache"
    );
}

/// The job summary the runner collected from the step's summary file: act reads the file after
/// the step, prints it after `Summary - ` and its continuation lines after `| `… as the log
/// shows it; this takes the text from the `Summary - ` line to the next step's marker.
fn collected_summary(run: &Run) -> String {
    let start = run
        .stdout
        .find("Summary - ")
        .unwrap_or_else(|| panic!("no summary collected\n{}", run.log()));
    let text = &run.stdout[start + "Summary - ".len()..];
    let end = text.find("⭐").unwrap_or(text.len());
    text[..end].to_owned()
}

#[test]
fn the_summary_charts_the_last_builds_and_says_why_a_step_missed() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("history");
    let repo = quick_start_repository(&server, &image);
    let machine = Machine::new();
    // The trace: cold, one file changed, then warm; each job on a wiped builder.
    common::wipe_builder();
    assert_succeeded(&machine.run(repo.path(), ".github/workflows/image.yml"));
    let greeting = repo.path().join("src/greeting.txt");
    let mut text = std::fs::read_to_string(&greeting).unwrap();
    text.push_str("changed\n");
    std::fs::write(&greeting, text).unwrap();
    common::wipe_builder();
    let changed = machine.run(repo.path(), ".github/workflows/image.yml");
    assert_succeeded(&changed);
    assert_logged(
        &changed,
        "regcache: first miss: COPY src/ ./ (Dockerfile:6): file-changed src/greeting.txt",
    );
    let summary = collected_summary(&changed);
    assert!(summary.contains("#### Why it missed"), "{summary}");
    assert!(
        summary.contains("| `COPY src/ ./` | 6 | `file-changed` | src/greeting.txt |"),
        "{summary}"
    );
    // The cache tag the changed build exported, as its summary names it.
    let written = summary
        .lines()
        .find(|l| l.contains(" | destination | exported |"))
        .and_then(|l| l.split('`').nth(1))
        .unwrap_or_else(|| panic!("{summary}"))
        .to_owned();
    let exported = common::stored_manifest(&written).unwrap().digest;
    common::wipe_builder();
    let warm = machine.run(repo.path(), ".github/workflows/image.yml");
    assert_succeeded(&warm);
    assert_logged(&warm, "cache-hit=true, 6 of 6 steps cached");
    let summary = collected_summary(&warm);
    // Every step came from that tag: it is kept, same digest, and the summary says so.
    assert!(
        summary.contains(&format!(
            "| `{written}` | destination | kept: every step came from it, nothing to export |"
        )),
        "{summary}"
    );
    assert_eq!(common::stored_manifest(&written).unwrap().digest, exported);
    assert!(summary.contains("```mermaid"), "{summary}");
    assert!(summary.contains("xychart-beta"), "{summary}");
    // The three builds of the trace, oldest first: cold, one file changed, warm.
    assert!(summary.contains("bar [0, 17, 100]"), "{summary}");
    let axis = summary
        .lines()
        .find(|l| l.contains("x-axis ["))
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(
        axis.matches('"').count(),
        6,
        "three runs on the axis: {axis}"
    );
    assert!(
        summary.contains("Cache history: the last 3 builds of this cache"),
        "{summary}"
    );
}

#[test]
fn a_policy_file_is_honoured_and_an_input_written_in_the_workflow_overrides_it() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("policy");
    let workflow = format!(
        r#"on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - id: from-file
        uses: ./
        with:
          context: .
          tags: {image}:dev
          download-url: {url}
      - id: written
        uses: ./
        with:
          context: .
          tags: {image}:dev
          cache-policy: branch
          download-url: {url}
      - env:
          FROM_FILE: ${{{{ steps.from-file.outputs.cache-ref }}}}
          WRITTEN: ${{{{ steps.written.outputs.cache-ref }}}}
        run: echo "from file wrote [$FROM_FILE], written input wrote [$WRITTEN]"
"#,
        url = server.url
    );
    let repo = repository(&[
        (".github/workflows/policy.yml", &workflow),
        (
            ".github/regcache.yml",
            "policy: read-only\nprefix: team-cache\n",
        ),
    ]);
    let run = Machine::new().run(repo.path(), ".github/workflows/policy.yml");
    assert_succeeded(&run);
    assert!(
        run.stdout.contains("regcache: cache-policy read-only"),
        "the file's policy applies when the workflow writes none\n{}",
        run.log()
    );
    assert!(
        run.stdout.contains(&format!(
            "from file wrote [], written input wrote [{image}:team-cache-main]"
        )),
        "read-only writes nothing; the written policy wins, the file's prefix stays\n{}",
        run.log()
    );
}

#[test]
fn a_tampered_or_missing_archive_stops_the_job_before_anything_runs() {
    let _engine = common::engine_lock();
    let tampered = tempfile::tempdir().unwrap();
    let name = ARCHIVE.trim_start_matches('/');
    let mut bytes = std::fs::read(common::release_archives().join(name)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(tampered.path().join(name), bytes).unwrap();
    let empty = tempfile::tempdir().unwrap();

    for (served, expected) in [
        (tampered.path(), "checksum mismatch for"),
        (
            empty.path(),
            "(HTTP 404): the release has no regcache-0.1.0-linux-x64.tar.gz",
        ),
    ] {
        let server = Server::files(served);
        let image = common::fresh_repo("tampered");
        let repo = quick_start_repository(&server, &image);
        let machine = Machine::new();
        let run = machine.run(repo.path(), ".github/workflows/image.yml");
        assert_ne!(run.code, Some(0), "{}", run.log());
        assert_logged(&run, "::error title=regcache setup::");
        assert_logged(&run, expected);
        assert!(
            !run.stdout.contains("regcache: cache-policy"),
            "regcache ran\n{}",
            run.log()
        );
        assert!(!registry_has(&image), "something was pushed to {image}");
        assert!(
            !machine
                .tool_cache()
                .join("regcache/0.1.0/linux-x64")
                .exists(),
            "nothing is left in the tool cache"
        );
        assert_eq!(server.paths(), [ARCHIVE]);
    }
}

#[test]
fn the_single_image_example_runs() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("example-single");
    let example =
        std::fs::read_to_string(common::repo_root().join("workflows/single-image.yml")).unwrap();
    let workflow = localize(
        &example,
        &server.url,
        &[("ghcr.io/${{ github.repository }}", &image)],
    );
    let repo = repository(&[(".github/workflows/image.yml", &workflow)]);
    common::wipe_builder();
    let run = Machine::new().run(repo.path(), ".github/workflows/image.yml");
    assert_succeeded(&run);
    assert!(
        run.stdout
            .contains("cached 0 of 6 steps, read from no cache"),
        "{}",
        run.log()
    );
    assert!(
        registry_has(&image),
        "push: true on a push event pushed the image"
    );
}

/// The bake sub-action through the runner, as `workflows/bake.yml` uses it: cold, then warm
/// on a wiped builder, with a later step reading each target's figures from its `targets`
/// output.
#[test]
fn the_bake_example_runs_cold_then_warm_and_a_later_step_reads_its_targets() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("example-bake");
    let example = std::fs::read_to_string(common::repo_root().join("workflows/bake.yml")).unwrap();
    let workflow = localize(
        &example,
        &server.url,
        &[
            ("ghcr.io/${{ github.repository }}", &image),
            // The example's files are at the root of the test repository.
            ("source: ./example/two-images", "source: ./two-images"),
        ],
    );
    let repo = repository(&[(".github/workflows/bake.yml", &workflow)]);
    let machine = Machine::new();
    common::wipe_builder();
    let cold = machine.run(repo.path(), ".github/workflows/bake.yml");
    assert_succeeded(&cold);
    assert_logged(&cold, "api: cached 0 of 5 steps, cache true");
    assert_logged(&cold, "worker: cached 0 of 5 steps, cache true");
    assert!(registry_has(&format!("{image}/api")) && registry_has(&format!("{image}/worker")));
    common::wipe_builder();
    let warm = machine.run(repo.path(), ".github/workflows/bake.yml");
    assert_succeeded(&warm);
    assert_logged(&warm, "api: cached 5 of 5 steps, cache kept");
    assert_logged(&warm, "worker: cached 5 of 5 steps, cache kept");
}

#[test]
fn the_reusable_example_runs_and_its_outputs_reach_the_caller() {
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo("example-reusable");
    let example =
        std::fs::read_to_string(common::repo_root().join("workflows/reusable.yml")).unwrap();
    let reusable = localize(&example, &server.url, &[]);
    let caller = format!(
        r#"on: push
jobs:
  image:
    uses: ./.github/workflows/reusable.yml
    with:
      image: {image}
      push: true
  report:
    needs: image
    runs-on: ubuntu-latest
    steps:
      - env:
          CACHED: ${{{{ needs.image.outputs.cached-steps }}}}
          TOTAL: ${{{{ needs.image.outputs.total-steps }}}}
        run: echo "the caller sees $CACHED of $TOTAL steps cached"
"#
    );
    let repo = repository(&[
        (".github/workflows/reusable.yml", &reusable),
        (".github/workflows/caller.yml", &caller),
    ]);
    common::wipe_builder();
    let run = Machine::new().run(repo.path(), ".github/workflows/caller.yml");
    assert_succeeded(&run);
    assert_logged(&run, "the caller sees 0 of 6 steps cached");
    assert!(registry_has(&image));
}

/// The launcher's own refusals, run as the action's step runs it: one error line, exit 2.
#[test]
fn the_launcher_refuses_an_unsupported_runner_and_a_bad_binary_path() {
    let launch = |env: &[(&str, &str)]| {
        let out = Command::new("bash")
            .arg(common::repo_root().join("dist/launch.sh"))
            .arg("--version")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", std::env::temp_dir())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = launch(&[("RUNNER_OS", "Windows"), ("RUNNER_ARCH", "X64")]);
    assert_eq!(code, Some(2), "{stdout}");
    assert_eq!(
        stdout,
        "::error title=regcache setup::regcache has no release binary for RUNNER_OS=Windows RUNNER_ARCH=X64; supported: Linux X64, Linux ARM64, macOS ARM64. Set binary-path to a regcache built for this runner\n"
    );
    let not_executable = tempfile::NamedTempFile::new().unwrap();
    let path = not_executable.path().to_str().unwrap();
    let (code, stdout) = launch(&[("REGCACHE_BINARY_PATH", path)]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "::error title=regcache setup::input `binary-path`: {path} is not an executable file"
        )),
        "{stdout}"
    );
    let (code, stdout) = launch(&[("REGCACHE_BINARY_PATH", env!("CARGO_BIN_EXE_regcache"))]);
    assert_eq!(
        (code, stdout.trim()),
        (Some(0), concat!("regcache ", env!("CARGO_PKG_VERSION")))
    );
    let (code, stdout) = launch(&[
        ("RUNNER_OS", "Linux"),
        ("RUNNER_ARCH", "X64"),
        ("REGCACHE_DOWNLOAD_URL", "ftp://mirror/x"),
    ]);
    assert_eq!(
        code,
        Some(1),
        "the committed dist/ records no binary before the first release: {stdout}"
    );
    assert!(
        stdout.contains("records no release binary for linux-x64"),
        "{stdout}"
    );
}

/// The launcher as a self-hosted runner meets it: its tool cache outlives jobs, so an earlier
/// job can leave any file there, a marker included. Only a binary whose own bytes hash to the
/// committed value runs; anything else is replaced by a verified download, or nothing runs.
#[test]
fn the_launcher_runs_only_a_binary_whose_hash_is_committed() {
    let server = Server::files(common::release_archives());
    let action = tempfile::tempdir().unwrap();
    let dist = action.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::copy(
        common::repo_root().join("dist/launch.sh"),
        dist.join("launch.sh"),
    )
    .unwrap();
    record_release(&dist);
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("  regcache-0.1.0-linux-x64/regcache\n"),
        "the binary's hash is recorded: {sums}"
    );
    let tool_cache = tempfile::tempdir().unwrap();
    let home = tool_cache.path().join("regcache/0.1.0/linux-x64");
    let launch = |download: &str| {
        let out = Command::new("bash")
            .arg(dist.join("launch.sh"))
            .arg("--version")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", tool_cache.path())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", tool_cache.path())
            .env("REGCACHE_DOWNLOAD_URL", download)
            .output()
            .unwrap();
        Run::from(out)
    };
    let genuine = concat!("regcache ", env!("CARGO_PKG_VERSION"));
    let first = launch(&server.url);
    assert_eq!(
        (first.code, first.stdout.trim()),
        (Some(0), genuine),
        "{}",
        first.log()
    );
    let again = launch(&server.url);
    assert_eq!(again.stdout.trim(), genuine, "{}", again.log());
    assert_eq!(
        server.paths(),
        [ARCHIVE],
        "a verified binary runs from the tool cache"
    );

    // A planted binary, with the marker an older launcher trusted.
    let plant = || {
        std::fs::write(home.join("regcache"), "#!/bin/sh\necho planted\n").unwrap();
        std::fs::write(
            home.join(".sha256"),
            sums.split_whitespace().next().unwrap(),
        )
        .unwrap();
    };
    plant();
    let replaced = launch(&server.url);
    assert_eq!(replaced.stdout.trim(), genuine, "{}", replaced.log());
    assert_eq!(server.paths(), [ARCHIVE, ARCHIVE], "downloaded again");
    assert_ne!(
        std::fs::read(home.join("regcache")).unwrap(),
        b"#!/bin/sh\necho planted\n"
    );

    // Planted again, with the download gone: nothing runs.
    plant();
    let missing = Server::start(|_| None, "");
    let refused = launch(&missing.url);
    assert_eq!(refused.code, Some(1), "{}", refused.log());
    assert!(!refused.log().contains("planted"), "{}", refused.log());
    assert!(refused.stdout.contains("HTTP 404"), "{}", refused.log());

    // A record without the binary's hash (an older release's): nothing runs.
    let archives_only: String = sums
        .lines()
        .filter(|l| l.ends_with(".tar.gz"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dist.join("SHA256SUMS"), archives_only).unwrap();
    let unrecorded = launch(&server.url);
    assert_eq!(unrecorded.code, Some(1), "{}", unrecorded.log());
    assert!(
        unrecorded.stdout.contains("not the hash of its binary"),
        "{}",
        unrecorded.log()
    );
}

/// The prune sub-action, through the runner: its inputs reach regcache as the action passes
/// them (every default a real value, empty ones included), the default branch comes from the
/// event, and its outputs reach the next step.
#[test]
fn the_prune_action_deletes_a_closed_pull_requests_cache_through_the_runner() {
    use common::registry::{Remote, synthetic_cache, variant};
    let _engine = common::engine_lock();
    let server = Server::files(common::release_archives());
    let remote = Remote {
        base: format!("http://{}", common::registry()),
        user: None,
    };
    let full = common::fresh_repo("prune-action");
    let name = full.split_once('/').unwrap().1;
    let cache = synthetic_cache(&remote, name, "prune-action");
    remote.put_manifest(name, "buildcache-main", &cache);
    remote.put_manifest(name, "buildcache-pr-7", &variant(&cache, "7"));
    remote.put_manifest(name, "buildcache-pr-8", &variant(&cache, "8"));
    let workflow = format!(
        r#"on: push
permissions: {{}}
jobs:
  prune:
    runs-on: ubuntu-latest
    steps:
      # act copies the repository (and so ./prune) into the workspace at checkout.
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - id: prune
        uses: ./prune
        with:
          cache-repository: {full}
          branches: main
          pull-requests: "7"
          live-from-github: false
          download-url: {url}
      - env:
          DELETED: ${{{{ steps.prune.outputs.deleted }}}}
          KEPT: ${{{{ steps.prune.outputs.kept }}}}
        run: echo "prune deleted $DELETED and kept $KEPT"
"#,
        url = server.url
    );
    let action = std::fs::read_to_string(common::repo_root().join("prune/action.yml")).unwrap();
    let repo = repository(&[
        ("prune/action.yml", &action),
        (".github/workflows/prune.yml", &workflow),
    ]);
    let run = Machine::new().run(repo.path(), ".github/workflows/prune.yml");
    assert_succeeded(&run);
    assert_logged(&run, "prune deleted 1 and kept 2");
    assert_logged(&run, "pull request #8 is closed");
    assert_eq!(remote.tags(name), ["buildcache-main", "buildcache-pr-7"]);
}

/// `engine: buildah` through the runner, which passes every `action.yml` default as written:
/// none of them may be refused. Each job makes its own buildah storage (vfs, chroot
/// isolation), so the second job starts as empty as the first and pulls every step.
#[test]
fn the_action_builds_with_buildah_cold_then_warm_from_the_registry() {
    daemonless_cold_then_warm_through_the_runner("buildah");
}

#[test]
fn the_action_builds_with_podman_cold_then_warm_from_the_registry() {
    daemonless_cold_then_warm_through_the_runner("podman");
}

/// `engine` (buildah or podman) through act: a job with its own vfs storage builds cold, and
/// the next job, on new storage, warm from the registry.
fn daemonless_cold_then_warm_through_the_runner(engine: &str) {
    let server = Server::files(common::release_archives());
    let image = common::fresh_repo(&format!("act-{engine}"));
    let workflow = format!(
        r#"on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - name: {engine} storage of this job
        run: |
          store="$RUNNER_TEMP/{engine}-$GITHUB_RUN_ID-$RANDOM"
          printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' "$store" "$store" > "$RUNNER_TEMP/storage.conf"
          echo "CONTAINERS_STORAGE_CONF=$RUNNER_TEMP/storage.conf" >> "$GITHUB_ENV"
          echo "BUILDAH_ISOLATION=chroot" >> "$GITHUB_ENV"
      - id: build
        uses: ./
        with:
          engine: {engine}
          tags: {image}:dev
          build-args: BASE={base}
          download-url: {url}
      - env:
          HIT: ${{{{ steps.build.outputs.cache-hit }}}}
          CACHED: ${{{{ steps.build.outputs.cached-steps }}}}
          REF: ${{{{ steps.build.outputs.cache-ref }}}}
        run: echo "{engine} cache-hit=$HIT, $CACHED steps cached, wrote [$REF]"
"#,
        base = common::engine_env()["REGCACHE_BASE_IMAGE"],
        url = server.url
    );
    let file = format!(".github/workflows/{engine}.yml");
    let repo = repository(&[(&file, &workflow)]);
    let machine = Machine::new();
    let cold = machine.run(repo.path(), &file);
    assert_succeeded(&cold);
    assert_logged(
        &cold,
        &format!("{engine} cache-hit=false, 0 steps cached, wrote [{image}/buildcache-main]"),
    );
    let warm = machine.run(repo.path(), &file);
    assert_succeeded(&warm);
    assert_logged(&warm, &format!("{engine} cache-hit=true, 6 steps cached"));
    assert_logged(
        &warm,
        &format!("--> Cache pulled from remote {image}/buildcache-main:"),
    );
}
