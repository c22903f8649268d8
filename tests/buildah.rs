//! End to end with Debian's buildah 1.28 (vfs storage, chroot isolation, no daemon) against
//! the real registry on loopback (`scripts/engine.sh` installs buildah and starts the
//! registry). "Wiped storage" is a new storage directory, as on an ephemeral runner.

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
    storage: &Storage,
    branch: &str,
    context: &Path,
    cache_ref: &str,
    extra: &[&str],
    out: &Path,
) -> Run {
    let base = format!("BASE={}", engine_env()["REGCACHE_BASE_IMAGE"]);
    let mut args = vec![
        "build",
        "--engine",
        "buildah",
        "--cache-ref",
        cache_ref,
        "--tag",
        "regcache-e2e/app:dev",
        "--build-arg",
        &base,
        "--output-format",
        "json",
        "--output-file",
        out.to_str().unwrap(),
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
fn cold_then_warm_from_the_registry_then_a_new_branch_warm_from_main() {
    let example = example_copy();
    let repo = fresh_repo("buildah");
    let work = tempfile::tempdir().unwrap();
    let main_cache = format!("{repo}/buildcache-main");
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    let path_of = |full: &str| full.split_once('/').unwrap().1.to_owned();

    let cold_out = work.path().join("cold.json");
    let cold = build(
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

    // A branch's first build, on new storage: its own repository does not exist yet, so the
    // chain's next one, the default branch's, is read.
    let branch_out = work.path().join("branch.json");
    let branch = build(
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

    // One changed file: the steps before it come from the cache, the rest are rebuilt and
    // pushed to the branch's own repository.
    std::fs::write(example.path().join("config.txt"), "changed\n").unwrap();
    let changed_out = work.path().join("changed.json");
    let changed = build(
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

    // Now both repositories exist; buildah 1.28 takes one `--cache-from`, so the chain is cut
    // to its first ref, and the log says so.
    let third_out = work.path().join("third.json");
    let third = build(
        &Storage::new(),
        "login",
        example.path(),
        &repo,
        &[],
        &third_out,
    );
    assert_eq!(third.code, Some(0), "{}", third.log());
    let login_cache = format!("{repo}/buildcache-login");
    assert!(
        third.stdout.contains(&format!(
            "regcache: buildah 1.28 reads one cache repository (1.29 and later read several): reading {login_cache}\n"
        )),
        "{}",
        third.log()
    );
    assert_eq!(outputs(&third_out)["cache-source"], login_cache.as_str());
}

#[test]
fn a_registry_failing_the_push_follows_ignore_error() {
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(registry(), Fault::ManifestPut500);
    let repo = format!("{}/e2e/buildah-push-{}", proxy.addr, std::process::id());

    let lenient_out = work.path().join("lenient.json");
    let lenient = build(
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
    let storage = Storage::new();
    let run = regcache_in(
        storage.dir.path(),
        &[
            "build",
            "--engine",
            "buildah",
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
        "buildah never started"
    );
}
