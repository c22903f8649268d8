//! End to end without a daemon, each test run with Debian's buildah 1.28 and with Debian's
//! podman 4.3.1 (`podman build` is buildah's build code, 1.28 in that podman), vfs storage and
//! chroot isolation, against the real registry on loopback (`scripts/engine.sh` installs both
//! and starts the registry). "Wiped storage" is a new storage directory, as on an ephemeral
//! runner. podman reads the same `CONTAINERS_STORAGE_CONF` and `BUILDAH_ISOLATION`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::registry::Remote;
use common::*;

/// buildah's storage for one "runner": its own directory, vfs, chroot isolation.
struct Storage {
    dir: tempfile::TempDir,
}

impl Storage {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("storage.conf"), conf).unwrap();
        Self { dir }
    }

    fn env(&self, branch: &str) -> BTreeMap<String, String> {
        let mut env = engine_env().clone();
        env.insert(
            "CONTAINERS_STORAGE_CONF".into(),
            self.dir.path().join("storage.conf").display().to_string(),
        );
        env.insert("BUILDAH_ISOLATION".into(), "chroot".into());
        // A GitLab branch pipeline: the policy reads the branch's cache, then the default's.
        env.insert("GITLAB_CI".into(), "true".into());
        env.insert("CI_COMMIT_BRANCH".into(), branch.into());
        env.insert("CI_DEFAULT_BRANCH".into(), "main".into());
        env
    }
}

fn build(
    engine: &str,
    storage: &Storage,
    branch: &str,
    context: &Path,
    cache_ref: &str,
    extra: &[&str],
    out: &Path,
) -> Run {
    let built = Built {
        engine,
        tag: "regcache-e2e/app:dev",
        out,
    };
    build_tagged(&built, storage, branch, context, cache_ref, extra)
}

/// What a build is run with and where its outputs go.
struct Built<'a> {
    engine: &'a str,
    tag: &'a str,
    out: &'a Path,
}

fn build_tagged(
    built: &Built,
    storage: &Storage,
    branch: &str,
    context: &Path,
    cache_ref: &str,
    extra: &[&str],
) -> Run {
    let base = format!("BASE={}", engine_env()["REGCACHE_BASE_IMAGE"]);
    let mut args = vec![
        "build",
        "--engine",
        built.engine,
        "--cache-ref",
        cache_ref,
        "--tag",
        built.tag,
        "--build-arg",
        &base,
        "--output-format",
        "json",
        "--output-file",
        built.out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(context.to_str().unwrap());
    regcache_in(storage.dir.path(), &args, &storage.env(branch))
}

fn steps(o: &serde_json::Value) -> (String, String, String) {
    (
        o["cached-steps"].as_str().unwrap().to_owned(),
        o["total-steps"].as_str().unwrap().to_owned(),
        o["cache-hit"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn buildah_cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main() {
    cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main("buildah");
}

#[test]
fn podman_cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main() {
    cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main("podman");
}

fn cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main(engine: &str) {
    let example = example_copy();
    let repo = fresh_repo(engine);
    let work = tempfile::tempdir().unwrap();
    let main_cache = format!("{repo}/buildcache-main");
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    let path_of = |full: &str| full.split_once('/').unwrap().1.to_owned();

    let cold_out = work.path().join("cold.json");
    let cold = build(
        engine,
        &Storage::new(),
        "main",
        example.path(),
        &repo,
        &[],
        &cold_out,
    );
    assert_eq!(cold.code, Some(0), "{}", cold.log());
    let o = outputs(&cold_out);
    assert_eq!(steps(&o), ("0".into(), "6".into(), "false".into()));
    assert_eq!(o["cache-ref"], main_cache.as_str());
    assert_eq!(o["cache-exported"], "true");
    assert!(
        cold.stdout
            .contains(&format!("--> Pushing cache {main_cache}:")),
        "{}",
        cold.log()
    );
    // One tag per step's layer, named by buildah's cache key.
    let tags = remote.tags(&path_of(&main_cache));
    assert_eq!(tags.len(), 6, "{tags:?}");
    assert!(tags.iter().all(|t| t.len() == 64), "{tags:?}");
    let stages: Vec<(String, u64)> = o["stats"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["steps"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stages, [("build".to_owned(), 3), ("stage-1".to_owned(), 3)]);

    // Warm on new storage: every step comes from the registry.
    let warm_out = work.path().join("warm.json");
    let warm = build(
        engine,
        &Storage::new(),
        "main",
        example.path(),
        &repo,
        &[],
        &warm_out,
    );
    assert_eq!(warm.code, Some(0), "{}", warm.log());
    let o = outputs(&warm_out);
    assert_eq!(steps(&o), ("6".into(), "6".into(), "true".into()));
    assert_eq!(o["cache-source"], main_cache.as_str());
    assert_eq!(
        warm.stdout
            .matches(&format!("--> Cache pulled from remote {main_cache}:"))
            .count(),
        6,
        "{}",
        warm.log()
    );
    assert!(
        !warm.stdout.contains("--> Pushing cache"),
        "nothing new to push"
    );
    // Every step came from the repository this build writes, which it left as it was.
    assert_eq!(o["cache-exported"], "kept", "{}", warm.log());
    assert!(
        warm.stdout.contains("(kept: nothing to export)"),
        "{}",
        warm.log()
    );

    // A branch's first build, on new storage: its own repository does not exist yet, so the
    // chain's next one, the default branch's, is read.
    let branch_out = work.path().join("branch.json");
    let branch = build(
        engine,
        &Storage::new(),
        "login",
        example.path(),
        &repo,
        &[],
        &branch_out,
    );
    assert_eq!(branch.code, Some(0), "{}", branch.log());
    let o = outputs(&branch_out);
    assert_eq!(steps(&o), ("6".into(), "6".into(), "true".into()));
    assert_eq!(o["cache-ref"], format!("{repo}/buildcache-login").as_str());
    assert_eq!(o["cache-source"], main_cache.as_str());
    assert_eq!(
        o["cache-refs-missing"],
        format!("{repo}/buildcache-login").as_str()
    );
    // Every step came from main's repository: nothing was built, so nothing was pushed to
    // the branch's, which still does not exist.
    assert_eq!(o["cache-exported"], "false", "{}", branch.log());
    let listed = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!(
            "http://{}/v2/{}/buildcache-login/tags/list",
            registry(),
            path_of(&repo)
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "404",
        "no such repository"
    );

    // One changed file: the steps before it come from the cache, the rest are rebuilt and
    // pushed to the branch's own repository.
    std::fs::write(example.path().join("config.txt"), "changed\n").unwrap();
    let changed_out = work.path().join("changed.json");
    let changed = build(
        engine,
        &Storage::new(),
        "login",
        example.path(),
        &repo,
        &[],
        &changed_out,
    );
    assert_eq!(changed.code, Some(0), "{}", changed.log());
    assert_eq!(
        steps(&outputs(&changed_out)),
        ("4".into(), "6".into(), "false".into())
    );
    assert_eq!(
        remote
            .tags(&format!("{}/buildcache-login", path_of(&repo)))
            .len(),
        2
    );

    // Now both repositories exist; buildah 1.28 (and podman 4.3, its build code) takes one
    // `--cache-from`, so the chain is cut to its first ref, and the log says so.
    let third_out = work.path().join("third.json");
    let third = build(
        engine,
        &Storage::new(),
        "login",
        example.path(),
        &repo,
        &[],
        &third_out,
    );
    assert_eq!(third.code, Some(0), "{}", third.log());
    let login_cache = format!("{repo}/buildcache-login");
    let reader = match engine {
        "podman" => {
            "podman's build code (buildah 1.28) reads one cache repository (podman 4.4 and later read several)"
        }
        _ => "buildah 1.28 reads one cache repository (1.29 and later read several)",
    };
    assert!(
        third
            .stdout
            .contains(&format!("regcache: {reader}: reading {login_cache}\n")),
        "{}",
        third.log()
    );
    assert_eq!(outputs(&third_out)["cache-source"], login_cache.as_str());
}

#[test]
fn buildah_follows_ignore_error_when_the_registry_fails_the_push() {
    a_registry_failing_the_push_follows_ignore_error("buildah");
}

#[test]
fn podman_follows_ignore_error_when_the_registry_fails_the_push() {
    a_registry_failing_the_push_follows_ignore_error("podman");
}

fn a_registry_failing_the_push_follows_ignore_error(engine: &str) {
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(registry(), Fault::ManifestPut500);
    let repo = format!("{}/e2e/{engine}-push-{}", proxy.addr, std::process::id());

    let lenient_out = work.path().join("lenient.json");
    let lenient = build(
        engine,
        &Storage::new(),
        "main",
        example.path(),
        &repo,
        &[],
        &lenient_out,
    );
    assert_eq!(lenient.code, Some(0), "{}", lenient.log());
    assert!(
        lenient.stdout.contains("building again without --cache-to"),
        "{}",
        lenient.log()
    );
    assert!(
        lenient.stdout.contains("warning: cache export failed"),
        "{}",
        lenient.log()
    );
    let o = outputs(&lenient_out);
    assert_eq!(o["cache-exported"], "false");
    assert_eq!(o["total-steps"], "6", "the retry built every step");
    assert!(o["imageid"].as_str().unwrap().starts_with("sha256:"), "{o}");

    let strict_out = work.path().join("strict.json");
    let strict = build(
        engine,
        &Storage::new(),
        "main",
        example.path(),
        &repo,
        &["--ignore-error=false"],
        &strict_out,
    );
    assert_eq!(strict.code, Some(1), "{}", strict.log());
    assert!(
        strict.stdout.contains("error: cache export failed"),
        "{}",
        strict.log()
    );
    assert!(
        !strict.stdout.contains("building again"),
        "{}",
        strict.log()
    );
    assert_eq!(outputs(&strict_out)["cache-exported"], "false");
}

#[test]
fn inputs_buildah_cannot_honour_are_refused_before_anything_runs() {
    inputs_the_engine_cannot_honour_are_refused_before_anything_runs("buildah");
}

#[test]
fn inputs_podman_cannot_honour_are_refused_before_anything_runs() {
    inputs_the_engine_cannot_honour_are_refused_before_anything_runs("podman");
}

fn inputs_the_engine_cannot_honour_are_refused_before_anything_runs(engine: &str) {
    let storage = Storage::new();
    let run = regcache_in(
        storage.dir.path(),
        &[
            "build",
            "--engine",
            engine,
            "--tag",
            "127.0.0.1:9/app:dev",
            "--mode",
            "min",
            "--compression",
            "zstd",
            "--image-manifest=true",
            "--load=true",
            "--platforms",
            "linux/amd64,linux/arm64",
            ".",
        ],
        &storage.env("main"),
    );
    assert_eq!(run.code, Some(2), "{}", run.log());
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("input `"))
        .collect();
    let named: Vec<&str> = lines.iter().map(|l| l.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        named,
        ["mode", "compression", "image-manifest", "load", "platforms"],
        "{}",
        run.log()
    );
    assert!(
        lines[0].contains("remove it, or use engine: buildx"),
        "{}",
        run.log()
    );
    assert!(
        !storage.dir.path().join("root").exists(),
        "{engine} never started"
    );
}

#[test]
fn buildah_pushes_the_image_and_reports_its_digest() {
    pushes_the_image_and_reports_its_digest("buildah");
}

#[test]
fn podman_pushes_the_image_and_reports_its_digest() {
    pushes_the_image_and_reports_its_digest("podman");
}

fn pushes_the_image_and_reports_its_digest(engine: &str) {
    let example = example_copy();
    let repo = fresh_repo(&format!("{engine}-pushed"));
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pushed.json");
    let tag = format!("{repo}/app:dev");
    let built = Built {
        engine,
        tag: &tag,
        out: &out,
    };
    let run = build_tagged(
        &built,
        &Storage::new(),
        "main",
        example.path(),
        &repo,
        &["--push=true"],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let digest = outputs(&out)["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{}", run.log());
    // The registry holds the tag, and it names the digest the output gave.
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    let path = tag.split_once('/').unwrap().1.rsplit_once(':').unwrap().0;
    assert_eq!(remote.tags(path), ["dev"], "{}", run.log());
    let head = std::process::Command::new("curl")
        .args(["-sI", "-H", "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"])
        .arg(format!("http://{}/v2/{path}/manifests/dev", registry()))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).to_lowercase();
    assert!(
        head.contains(&format!("docker-content-digest: {digest}")),
        "{head}\n{}",
        run.log()
    );
}
