//! `regcache bake` on the real engine and registry, with the bundled bake example: two
//! targets sharing a base stage. Cold then warm on a wiped builder, each target's own tag;
//! a pull request reads `main`'s tag per target and writes only its own; a fork writes
//! nothing; and the inputs refused before anything is built.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

const TARGETS: [&str; 2] = ["api", "worker"];

/// The manifest digest of a cache tag, or None when it does not exist.
fn digest(reference: &str) -> Option<String> {
    stored_manifest(reference).map(|m| m.digest)
}

/// A copy of the bake example in a workspace of its own.
fn bake_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("example/two-images"), dir.path());
    dir
}

/// `regcache bake` as a GitHub step of `event` on `git_ref`, the images tagged under
/// `registry` (the bake file's `REGISTRY`), its outputs read back.
fn bake_on_github(
    workspace: &Path,
    registry: &str,
    event: (&str, &str, &Path),
    extra: &[&str],
) -> (Run, Value) {
    let work = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = engine_env().clone();
    let (name, git_ref, payload) = event;
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", name),
        ("GITHUB_REF", git_ref),
        ("GITHUB_EVENT_PATH", payload.to_str().unwrap()),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_WORKSPACE", workspace.to_str().unwrap()),
        ("RUNNER_TEMP", work.path().to_str().unwrap()),
        ("REGISTRY", registry),
    ] {
        env.insert(k.into(), v.into());
    }
    let out = work.path().join("outputs.json");
    let mut args = vec![
        "bake",
        "--source",
        ".",
        "--output-format",
        "json",
        "--output-file",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let run = regcache_in(workspace, &args, &env);
    let outputs = if out.exists() {
        outputs(&out)
    } else {
        Value::Null
    };
    (run, outputs)
}

fn target<'a>(outputs: &'a Value, name: &str) -> &'a Value {
    &outputs["targets"][name]
}

fn refs(outputs: &Value, key: &str) -> Vec<String> {
    TARGETS
        .iter()
        .map(|t| {
            target(outputs, t)[key]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn each_target_keeps_its_own_cache_per_branch_and_pull_request() {
    let _turn = engine_lock();
    let workspace = bake_example();
    let registry = fresh_repo("bake");
    let fixtures = fixture("github");
    let push = fixtures.join("push-branch.json");
    let main = ("push", "refs/heads/main", push.as_path());

    // Cold: every step built, each target exports to its own tag.
    wipe_builder();
    let (run, cold) = bake_on_github(workspace.path(), &registry, main, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let main_refs = refs(&cold, "cache-ref");
    assert_ne!(main_refs[0], main_refs[1], "one tag per target");
    for (name, cache_ref) in TARGETS.iter().zip(&main_refs) {
        let t = target(&cold, name);
        assert_eq!(
            (t["total-steps"].as_u64(), t["cached-steps"].as_u64()),
            (Some(5), Some(0)),
            "{name}: the base stage's three steps and its own two, built: {}",
            run.log()
        );
        assert_eq!(t["cache-exported"], true, "{name}");
        assert!(
            cache_ref.starts_with(&format!("{registry}/{name}:buildcache-main--{name}")),
            "{cache_ref}"
        );
    }
    let main_digests: Vec<Option<String>> = main_refs.iter().map(|r| digest(r)).collect();
    assert!(
        main_digests.iter().all(Option::is_some),
        "both tags written"
    );

    // Warm on a wiped builder: every target 100 % from its own tag, which stays as it was.
    wipe_builder();
    let (run, warm) = bake_on_github(workspace.path(), &registry, main, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    for (name, cache_ref) in TARGETS.iter().zip(&main_refs) {
        let t = target(&warm, name);
        assert_eq!(
            (
                t["cached-steps"].as_u64(),
                t["total-steps"].as_u64(),
                &t["cache-hit"]
            ),
            (Some(5), Some(5), &Value::Bool(true)),
            "{name}: {}",
            run.log()
        );
        assert_eq!(t["cache-source"], cache_ref.as_str());
        assert_eq!(t["cache-exported"], "kept", "{name}");
    }
    assert_eq!(
        (warm["cached-steps"].as_str(), warm["cache-hit"].as_bool()),
        (Some("10"), Some(true))
    );
    assert!(
        !run.stdout.contains("exporting cache to registry"),
        "a full hit exports nothing: {}",
        run.log()
    );
    let after: Vec<Option<String>> = main_refs.iter().map(|r| digest(r)).collect();
    assert_eq!(after, main_digests, "a full hit leaves the tags untouched");

    // One target's file changed: that target misses and its cache is exported after the run,
    // the other's tag stays as it was; the next wiped build is warm from the new export.
    std::fs::write(workspace.path().join("api.txt"), "api, changed\n").unwrap();
    wipe_builder();
    let (run, changed) = bake_on_github(workspace.path(), &registry, main, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let api = target(&changed, "api");
    assert_eq!(
        (api["cached-steps"].as_u64(), api["cache-exported"].clone()),
        (Some(3), Value::Bool(true)),
        "{}",
        run.log()
    );
    assert_eq!(target(&changed, "worker")["cache-exported"], "kept");
    assert!(
        run.stdout
            .contains("exporting now the cache of each target that missed a step: api\n"),
        "{}",
        run.log()
    );
    let main_digests: Vec<Option<String>> = main_refs.iter().map(|r| digest(r)).collect();
    assert_ne!(main_digests[0], after[0], "api's tag was exported again");
    assert_eq!(main_digests[1], after[1], "worker's tag was left as it was");
    wipe_builder();
    let (run, again) = bake_on_github(workspace.path(), &registry, main, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(
        target(&again, "api")["cached-steps"].as_u64(),
        Some(5),
        "the export after the run holds every step: {}",
        run.log()
    );

    // A pull request into main: reads main's tag per target, writes only its own.
    wipe_builder();
    let work = tempfile::tempdir().unwrap();
    let mut payload: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("pull_request-opened.json")).unwrap())
            .unwrap();
    payload["pull_request"]["base"]["ref"] = "main".into();
    let pr_payload = work.path().join("pr.json");
    std::fs::write(&pr_payload, payload.to_string()).unwrap();
    let (run, pr) = bake_on_github(
        workspace.path(),
        &registry,
        ("pull_request", "refs/pull/2/merge", &pr_payload),
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(
        refs(&pr, "cache-source"),
        main_refs,
        "main's tag per target"
    );
    for (name, pr_ref) in TARGETS.iter().zip(refs(&pr, "cache-ref")) {
        assert!(
            pr_ref.starts_with(&format!("{registry}/{name}:buildcache-pr-2--{name}")),
            "{pr_ref}"
        );
        assert_eq!(
            target(&pr, name)["cached-steps"].as_u64(),
            Some(5),
            "{name}"
        );
        assert!(
            digest(&pr_ref).is_some(),
            "the request wrote its own tag: {pr_ref}"
        );
    }
    let after: Vec<Option<String>> = main_refs.iter().map(|r| digest(r)).collect();
    assert_eq!(after, main_digests, "the request did not touch main's tags");

    // A fork's pull request: reads, writes nothing, succeeds.
    wipe_builder();
    let fork = fixtures.join("pull_request-fork.json");
    let (run, forked) = bake_on_github(
        workspace.path(),
        &registry,
        ("pull_request", "refs/pull/3/merge", &fork),
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(refs(&forked, "cache-ref"), ["", ""], "{}", run.log());
    assert_eq!(refs(&forked, "cache-source"), main_refs);
    assert!(
        !run.stdout.contains("exporting cache to registry"),
        "{}",
        run.log()
    );
    for (name, pr2) in TARGETS.iter().zip(refs(&pr, "cache-ref")) {
        let pr3 = pr2.replace("buildcache-pr-2--", "buildcache-pr-3--");
        assert_ne!(pr3, pr2);
        assert_eq!(digest(&pr3), None, "the fork wrote no cache: {pr3}");
        assert_eq!(target(&forked, name)["cache-exported"], false);
    }
    let after: Vec<Option<String>> = main_refs.iter().map(|r| digest(r)).collect();
    assert_eq!(after, main_digests, "the fork did not touch main's tags");
}

#[test]
fn refused_inputs_stop_before_anything_is_built() {
    let workspace = bake_example();
    let registry = fresh_repo("bake-refused");
    let push = fixture("github/push-branch.json");
    let main = ("push", "refs/heads/main", push.as_path());
    for (args, input, says) in [
        (vec!["nope"], "targets", "failed to find target nope"),
        (
            vec!["--set", "*.cache-to=type=registry,ref=elsewhere/x:c"],
            "set",
            "sets `cache-to`, which regcache writes for every target",
        ),
        (
            vec!["--file", "../regcache-outside.hcl"],
            "files",
            "is outside the workspace",
        ),
        (
            vec!["--cache-policy", "sometimes"],
            "cache-policy",
            "branch, shared, read-only, off",
        ),
    ] {
        let (run, outputs) = bake_on_github(workspace.path(), &registry, main, &args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.log());
        let errors: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("::error"))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: one line: {}", run.log());
        assert!(
            errors[0].contains(&format!("input `{input}`")) && errors[0].contains(says),
            "{args:?}: {}",
            run.log()
        );
        assert!(
            !run.stdout.contains("regcache setup"),
            "{args:?}: nothing ran: {}",
            run.log()
        );
        assert_eq!(outputs, Value::Null, "{args:?}: no outputs written");
    }
    assert_eq!(
        digest(&format!("{registry}/api:dev")),
        None,
        "no image was pushed or cache written"
    );
}

#[test]
fn a_failed_step_is_annotated_with_its_target_and_the_run_fails() {
    let _turn = engine_lock();
    let workspace = bake_example();
    let dockerfile = workspace.path().join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        text.replace("cat /shared.txt worker.txt > /worker.txt", "exit 3"),
    )
    .unwrap();
    let push = fixture("github/push-branch.json");
    let (run, outputs) = bake_on_github(
        workspace.path(),
        &fresh_repo("bake-failed"),
        ("push", "refs/heads/main", &push),
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.log());
    assert!(
        errors[0].starts_with("::error title=target worker%3A [worker 2/2] RUN"),
        "{}",
        errors[0]
    );
    assert_eq!(
        outputs["cache-hit"], false,
        "the outputs are written for a failed run too"
    );
    assert_eq!(target(&outputs, "worker")["cache-hit"], false);
}
