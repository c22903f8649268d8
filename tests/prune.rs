//! `regcache prune` against the real registry (Debian's distribution 2.8, delete enabled, and
//! the variants: delete disabled, basic auth). Caches are real buildx exports; the variants of
//! a manifest (other digests over the same blobs), image indexes and referrers are pushed
//! with curl, as any client would.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::registry::*;
use common::*;
use serde_json::{Value, json};

fn prune(args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut env: BTreeMap<String, String> = engine_env().clone();
    let home = tempfile::tempdir().unwrap();
    env.insert("HOME".into(), home.path().display().to_string());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    regcache(&all, &env)
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.log()))
}

fn tags_of(entries: &Value) -> Vec<String> {
    let mut tags: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["tags"].as_array().unwrap().clone())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags
}

fn kept_reason(outcome: &Value, tag: &str) -> String {
    outcome["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["tag"] == tag)
        .unwrap_or_else(|| panic!("{tag} is kept: {outcome:#}"))["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A repository with a real cache on `buildcache-main`, stale and live tags around it, an
/// image index that needs one stale tag's manifest, and a stale referrer of that index.
fn seed_repository() -> (Remote, String, BTreeMap<&'static str, String>) {
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    let full = fresh_repo("prune");
    let repo = full.split_once('/').unwrap().1.to_owned();
    let example = example_copy();
    let out = docker(&[
        "buildx",
        "build",
        "--cache-to",
        &format!("type=registry,ref={full}:buildcache-main,mode=max"),
        example.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let main = remote.get_manifest(&repo, "buildcache-main");
    let mut digests = BTreeMap::new();
    digests.insert("main", sha256(&serde_json::to_vec(&main).unwrap()));
    // Tags that share main's digest, a gone branch, open and closed pull requests.
    digests.insert(
        "old-copy",
        remote.put_manifest(&repo, "buildcache-old-copy", &main),
    );
    digests.insert(
        "feature-a",
        remote.put_manifest(&repo, "buildcache-feature-a", &variant(&main, "a")),
    );
    digests.insert(
        "gone",
        remote.put_manifest(&repo, "buildcache-gone", &variant(&main, "gone")),
    );
    digests.insert(
        "pr-7",
        remote.put_manifest(&repo, "buildcache-pr-7", &variant(&main, "7")),
    );
    let closed = variant(&main, "closed");
    digests.insert(
        "pr-8",
        remote.put_manifest(&repo, "buildcache-pr-8", &closed),
    );
    digests.insert(
        "pr-9",
        remote.put_manifest(&repo, "buildcache-pr-9", &closed),
    );
    // An image index `v1` that lists pr-10's manifest as its child.
    let child = variant(&main, "child");
    let child_digest = remote.put_manifest(&repo, "buildcache-pr-10", &child);
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": INDEX, "digest": child_digest, "size": serde_json::to_vec(&child).unwrap().len()}
    ]});
    digests.insert("v1", remote.put_manifest(&repo, "v1", &index));
    // A cache in the image-manifest form whose subject is v1: a referrer of a kept tag.
    let config = main["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mediaType"] == "application/vnd.buildkit.cacheconfig.v0")
        .unwrap()
        .clone();
    let layers: Vec<Value> = main["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mediaType"] != "application/vnd.buildkit.cacheconfig.v0")
        .cloned()
        .collect();
    let referrer = json!({"schemaVersion": 2, "mediaType": IMAGE, "config": config, "layers": layers,
        "subject": {"mediaType": INDEX, "digest": digests["v1"], "size": serde_json::to_vec(&index).unwrap().len()}});
    digests.insert(
        "pr-11",
        remote.put_manifest(&repo, "buildcache-pr-11", &referrer),
    );
    digests.insert("pr-10", child_digest);
    (remote, full, digests)
}

const LIVE: &[&str] = &[
    "--branches",
    "main,feature/a",
    "--pull-requests",
    "7",
    "--default-branch",
    "main",
    "--format",
    "json",
];

#[test]
fn prune_deletes_exactly_the_stale_tags_and_nothing_a_kept_tag_needs() {
    let _turn = engine_lock();
    let (remote, full, digests) = seed_repository();
    let repo = full.split_once('/').unwrap().1;
    // `feature/a` has a hash in its tag; this test names it as the policy does.
    let feature_a = regcache::internals::tag(
        &regcache::internals::PolicySettings::default(),
        regcache::internals::Key::Branch("feature/a"),
    );
    let main = remote.get_manifest(repo, "buildcache-main");
    remote.put_manifest(repo, &feature_a, &variant(&main, "feature/a"));
    let before = remote.tags(repo);

    // A dry run: the plan, and no change.
    let mut args = vec![full.as_str()];
    args.extend_from_slice(LIVE);
    let dry = prune(&args, &[]);
    assert_eq!(dry.code, Some(0), "{}", dry.log());
    let plan = json_of(&dry);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        tags_of(&plan["would_delete"]),
        [
            "buildcache-feature-a",
            "buildcache-gone",
            "buildcache-pr-8",
            "buildcache-pr-9"
        ],
        "{plan:#}"
    );
    assert_eq!(plan["deleted"], json!([]));
    assert_eq!(remote.tags(repo), before, "a dry run deletes nothing");
    assert_eq!(
        kept_reason(&plan, "buildcache-old-copy"),
        "stale, but its digest is also tagged buildcache-main, which is kept"
    );
    assert_eq!(
        kept_reason(&plan, "buildcache-pr-10"),
        "stale, but kept tag v1 needs this manifest"
    );
    assert_eq!(
        kept_reason(&plan, "buildcache-pr-11"),
        "stale, but kept tag v1 needs this manifest"
    );
    assert_eq!(
        kept_reason(&plan, "buildcache-pr-7"),
        "pull request #7 is open"
    );
    assert_eq!(kept_reason(&plan, &feature_a), "branch feature/a exists");
    // pr-8 and pr-9 share one digest: one deletion carrying both tags.
    let shared = plan["would_delete"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["digest"] == digests["pr-8"])
        .unwrap();
    assert_eq!(
        shared["tags"],
        json!(["buildcache-pr-8", "buildcache-pr-9"])
    );

    // The same plan, carried out.
    args.push("--delete");
    let run = prune(&args, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let done = json_of(&run);
    assert_eq!(tags_of(&done["deleted"]), tags_of(&plan["would_delete"]));
    assert_eq!(done["failed"], json!([]));
    let mut expected: Vec<String> = before
        .iter()
        .filter(|t| !tags_of(&plan["would_delete"]).contains(t))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(remote.tags(repo), expected);
    // What stays is whole: the kept index's child and main's cache still read.
    remote.get_manifest(repo, "buildcache-pr-10");
    let inspect = prune_inspect(&format!("{full}:buildcache-main"));
    assert_eq!(inspect.code, Some(0), "{}", inspect.log());
    // Nothing stale is left, so a second run deletes nothing.
    let again = prune(&args, &[]);
    assert_eq!(json_of(&again)["deleted"], json!([]), "{}", again.log());
}

fn prune_inspect(reference: &str) -> Run {
    regcache(&["inspect", reference], engine_env())
}

#[test]
fn a_kept_tag_that_cannot_be_read_stops_every_deletion() {
    let _turn = engine_lock();
    let (remote, full, digests) = seed_repository();
    let repo = full.split_once('/').unwrap().1;
    // Take v1's manifest out of the registry's storage: the tag remains, its manifest does not
    // read.
    let hex = digests["v1"].trim_start_matches("sha256:");
    let data = std::path::Path::new(&engine_env()["REGCACHE_ENGINE_DIR"])
        .join("registries/main/data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    std::fs::remove_file(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    let before = remote.tags(repo);
    let mut args = vec![full.as_str()];
    args.extend_from_slice(LIVE);
    args.push("--delete");
    let run = prune(&args, &[]);
    assert_eq!(run.code, Some(1), "{}", run.log());
    let outcome = json_of(&run);
    assert_eq!(outcome["deleted"], json!([]));
    let blocked = outcome["blocked"].as_str().unwrap();
    assert!(
        blocked.contains(&digests["v1"]) || blocked.contains("unresolved tag v1"),
        "{blocked}"
    );
    assert!(
        run.stderr.contains("nothing is deleted in this repository"),
        "{}",
        run.log()
    );
    assert_eq!(remote.tags(repo), before);
}

#[test]
fn a_registry_that_refuses_deletes_is_explained_and_loses_nothing() {
    let _turn = engine_lock();
    let port = "5061";
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/engine.sh"))
        .args(["registry-start", "nodelete", port])
        .env("REGISTRY_DELETE", "false")
        .envs(engine_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let remote = Remote {
        base: format!("http://127.0.0.1:{port}"),
        user: None,
    };
    let repo = fresh_repo("nodelete");
    let repo = repo.split_once('/').unwrap().1.to_owned();
    let cache = synthetic_cache(&remote, &repo, "a");
    remote.put_manifest(&repo, "buildcache-pr-1", &cache);
    remote.put_manifest(&repo, "buildcache-pr-2", &variant(&cache, "2"));
    let full = format!("127.0.0.1:{port}/{repo}");
    let run = prune(
        &[
            &full,
            "--pull-requests",
            "none",
            "--default-branch",
            "main",
            "--delete",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stdout.contains("storage: delete: enabled: true"),
        "{}",
        run.log()
    );
    assert!(run.stdout.contains("2 failed"), "{}", run.log());
    assert_eq!(remote.tags(&repo), ["buildcache-pr-1", "buildcache-pr-2"]);
}

#[test]
fn basic_auth_comes_from_the_flags_or_the_docker_config_and_wrong_credentials_delete_nothing() {
    let _turn = engine_lock();
    // In the engine's directory, as the registry outlives this test and reads it again.
    let htpasswd =
        std::path::Path::new(&engine_env()["REGCACHE_ENGINE_DIR"]).join("prune-auth.htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "pruner", "s3cret"])
        .output()
        .expect("htpasswd (apache2-utils) runs");
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let port = "5062";
    engine_script(&[
        "registry-start",
        "prune-auth",
        port,
        htpasswd.to_str().unwrap(),
    ]);
    let remote = Remote {
        base: format!("http://127.0.0.1:{port}"),
        user: Some(("pruner", "s3cret")),
    };
    let repo = fresh_repo("auth");
    let repo = repo.split_once('/').unwrap().1.to_owned();
    let cache = synthetic_cache(&remote, &repo, "auth");
    remote.put_manifest(&repo, "buildcache-main", &cache);
    remote.put_manifest(&repo, "buildcache-pr-3", &variant(&cache, "3"));
    let full = format!("127.0.0.1:{port}/{repo}");
    let args = [
        full.as_str(),
        "--pull-requests",
        "1",
        "--default-branch",
        "main",
        "--delete",
        "--username",
        "pruner",
    ];

    let wrong = prune(&args, &[("REGCACHE_PASSWORD", "wrong")]);
    assert_eq!(wrong.code, Some(1), "{}", wrong.log());
    assert!(wrong.log().contains("401"), "{}", wrong.log());
    assert!(
        !wrong.log().contains("wrong"),
        "the password is never shown: {}",
        wrong.log()
    );
    assert_eq!(remote.tags(&repo), ["buildcache-main", "buildcache-pr-3"]);

    let anonymous = prune(&args[..6], &[]);
    assert_eq!(anonymous.code, Some(1), "{}", anonymous.log());
    assert!(
        anonymous.log().contains("none were found"),
        "{}",
        anonymous.log()
    );

    let right = prune(&args, &[("REGCACHE_PASSWORD", "s3cret")]);
    assert_eq!(right.code, Some(0), "{}", right.log());
    assert_eq!(remote.tags(&repo), ["buildcache-main"]);
    assert!(!right.log().contains("s3cret"));
}

#[test]
fn bad_flags_exit_2_and_touch_nothing() {
    // Port 9 on loopback: nothing listens, and nothing may be asked anyway.
    // (flags, the line expected, extra variables)
    type Case<'a> = (&'a [&'a str], &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            &[
                "127.0.0.1:9/app:buildcache",
                "--older-than",
                "14d",
                "--default-branch",
                "main",
            ],
            "input `repository`: `127.0.0.1:9/app:buildcache` names a tag or digest",
            &[],
        ),
        (
            &[
                "127.0.0.1:9/App",
                "--older-than",
                "14d",
                "--default-branch",
                "main",
            ],
            "input `repository`: `127.0.0.1:9/App` is not a repository",
            &[],
        ),
        (
            &[
                "127.0.0.1:9/app",
                "--older-than",
                "-3d",
                "--default-branch",
                "main",
            ],
            "input `older-than`: `-3d` is not an age",
            &[],
        ),
        (
            &[
                "127.0.0.1:9/app",
                "--older-than",
                "fortnight",
                "--default-branch",
                "main",
            ],
            "input `older-than`: `fortnight` is not an age",
            &[],
        ),
        (
            &[
                "127.0.0.1:9/app",
                "--pull-requests",
                "12,x",
                "--default-branch",
                "main",
            ],
            "input `pull-requests`: `x` is not a pull request number",
            &[],
        ),
        (
            &["127.0.0.1:9/app", "--default-branch", "main"],
            "nothing says which caches are stale",
            &[],
        ),
        // Empty variables are inputs not given (the prune action passes them all).
        (
            &["127.0.0.1:9/app", "--default-branch", "main"],
            "nothing says which caches are stale",
            &[("REGCACHE_OLDER_THAN", ""), ("REGCACHE_BRANCHES", " ")],
        ),
        (
            &["127.0.0.1:9/app", "--older-than", "14d"],
            "input `default-branch`: is not known",
            &[],
        ),
        (
            &[
                "127.0.0.1:9/app",
                "--older-than",
                "14d",
                "--default-branch",
                "main",
                "--username",
                "u",
            ],
            "input `username`: is given but REGCACHE_PASSWORD is not set",
            &[],
        ),
        (
            &[
                "ghcr.io/acme/app",
                "--older-than",
                "14d",
                "--default-branch",
                "main",
            ],
            "input `backend`: GHCR is pruned through GitHub's Packages API, which needs a token",
            &[],
        ),
        (
            &["127.0.0.1:9/app", "--live-from-github"],
            "input `live-from-github`: needs GITHUB_REPOSITORY",
            &[],
        ),
    ];
    for (args, expected, env) in cases {
        let run = prune(args, env);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.log());
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.log());
    }
    // An unreachable registry is a clear error, not a plan.
    let run = prune(
        &[
            "127.0.0.1:9/app",
            "--older-than",
            "14d",
            "--default-branch",
            "main",
            "--delete",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stderr.contains("listing the tags of app"),
        "{}",
        run.log()
    );
    assert!(run.stdout.is_empty(), "{}", run.log());
}

#[test]
fn a_build_record_is_kept_and_deleted_with_its_cache_and_an_orphaned_one_goes() {
    let _turn = engine_lock();
    let example = example_copy();
    let full = fresh_repo("records");
    let repo = full.split_once('/').unwrap().1;
    // Three real builds of three commits, each writing its own cache and the record beside it.
    for tag in ["buildcache-main", "buildcache-pr-8", "buildcache-gone"] {
        std::fs::write(example.path().join("src/greeting.txt"), tag).unwrap();
        let cache_ref = format!("{full}:{tag}");
        let image = format!("{full}:dev");
        let run = regcache(
            &[
                "build",
                "--tag",
                &image,
                "--cache-ref",
                &cache_ref,
                "--network",
                "none",
                example.path().to_str().unwrap(),
            ],
            engine_env(),
        );
        assert_eq!(run.code, Some(0), "{}", run.log());
    }
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    // The cache of `gone` removed by hand: its record is left without a cache tag, and its
    // subject is gone from the registry (prune must not take that for a view it cannot read).
    let gone = common::stored_manifest(&format!("{full}:buildcache-gone")).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
        ])
        .arg(format!(
            "{}/v2/{repo}/manifests/{}",
            remote.base, gone.digest
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "202");
    let live = [
        full.as_str(),
        "--branches",
        "main",
        "--pull-requests",
        "none",
        "--default-branch",
        "main",
        "--format",
        "json",
        "--delete",
    ];
    let run = prune(&live, &[]);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let done = json_of(&run);
    assert_eq!(
        tags_of(&done["deleted"]),
        [
            "buildcache-gone.regcache",
            "buildcache-pr-8",
            "buildcache-pr-8.regcache"
        ],
        "{done:#}"
    );
    assert_eq!(
        kept_reason(&done, "buildcache-main.regcache"),
        "the build record of buildcache-main, which is kept"
    );
    assert_eq!(
        remote.tags(repo),
        ["buildcache-main", "buildcache-main.regcache"]
    );
    // What stays reads: the record still describes its cache.
    let verified = regcache(
        &["verify", &format!("{full}:buildcache-main")],
        engine_env(),
    );
    assert!(
        verified
            .stdout
            .contains("build record: ok, 6 steps, 1 build in its history"),
        "{}",
        verified.log()
    );
}
