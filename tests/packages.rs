//! `regcache prune` for GHCR, through GitHub's Packages API, against a loopback server that
//! answers the documented shapes (tests/fixtures/github) and serves the manifests the
//! versions name, as ghcr.io's registry API would.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::registry::sha256;
use common::*;
use serde_json::{Value, json};

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("github/{name}"))).unwrap()
}

/// The package's manifests: caches, an image index with its child and an attestation of it.
fn manifests() -> BTreeMap<&'static str, Vec<u8>> {
    let cache = |seed: &str| {
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(seed.as_bytes()), "size": 10},
            {"mediaType": "application/vnd.buildkit.cacheconfig.v0", "digest": sha256(format!("config {seed}").as_bytes()), "size": 20}
        ]}))
        .unwrap()
    };
    let child = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"image config"), "size": 30},
        "layers": []}))
    .unwrap();
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&child), "size": child.len(), "platform": {"architecture": "amd64", "os": "linux"}}
    ]}))
    .unwrap();
    let attestation = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [], "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&child), "size": child.len()}}))
    .unwrap();
    BTreeMap::from([
        ("main", cache("main")),
        ("pr8", cache("pr8")),
        ("overwritten", cache("overwritten")),
        ("index", index),
        ("child", child),
        ("attestation", attestation),
        ("pr9", cache("pr9")),
        ("old", cache("old")),
    ])
}

/// How the fake GitHub answers a DELETE of a version id.
type Deletes = fn(u64) -> (&'static str, &'static str);

struct Fake {
    server: Server,
    digests: BTreeMap<&'static str, String>,
}

/// The fake GitHub and ghcr.io in one: the Packages API for `owner_path` (`orgs/acme` or
/// `users/solo`), two pages of versions joined by `Link`, the repository's branches and pulls,
/// and the manifests.
fn fake_github(owner_path: &'static str, deletes: Deletes) -> Fake {
    let manifests = manifests();
    let now = time::OffsetDateTime::now_utc();
    let mut versions = fixture_text("api-package-versions.json");
    let mut digests = BTreeMap::new();
    let mut by_digest = BTreeMap::new();
    for (key, bytes) in &manifests {
        let digest = sha256(bytes);
        let age = if *key == "old" { 30 } else { 1 };
        let updated = (now - time::Duration::days(age))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        versions = versions
            .replace(&format!("@{key}@"), &digest)
            .replace(&format!("@{key}-updated@"), &updated);
        digests.insert(*key, digest.clone());
        by_digest.insert(digest, bytes.clone());
    }
    let versions: Vec<Value> = serde_json::from_str(&versions).unwrap();
    let (first, second) = versions.split_at(4);
    let pages = [
        serde_json::to_vec(first).unwrap(),
        serde_json::to_vec(second).unwrap(),
    ];
    let base: Arc<Mutex<String>> = Arc::default();
    let url = base.clone();
    let server = Server::serve(move |request| {
        let base = url.lock().unwrap().clone();
        let path = request.path.as_str();
        let versions_path = format!("/{owner_path}/packages/container/app/versions");
        if let Some(rest) = path.strip_prefix(&format!("{versions_path}/")) {
            if request.method == "DELETE" {
                let (status, message) = deletes(rest.parse().unwrap());
                let body = if message.is_empty() {
                    Vec::new()
                } else {
                    serde_json::to_vec(&json!({"message": message, "documentation_url": "https://docs.github.com/rest/packages/packages"})).unwrap()
                };
                return Reply::json(status, body);
            }
        }
        if path.starts_with(&versions_path) && request.method == "GET" {
            return if path.contains("page=2") {
                Reply::json("200 OK", pages[1].clone())
            } else {
                Reply::json("200 OK", pages[0].clone()).with_header(
                    "Link",
                    &format!("<{base}{versions_path}?per_page=100&page=2>; rel=\"next\", <{base}{versions_path}?per_page=100&page=2>; rel=\"last\""),
                )
            };
        }
        if let Some(digest) = path.strip_prefix("/v2/acme/app/manifests/") {
            return match by_digest.get(digest) {
                Some(bytes) => {
                    let media_type = serde_json::from_slice::<Value>(bytes).unwrap()["mediaType"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    Reply::json("200 OK", bytes.clone())
                        .with_header("Docker-Content-Digest", digest)
                        .with_header("Content-Type", &media_type)
                }
                None => Reply::json(
                    "404 Not Found",
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
                ),
            };
        }
        if path.starts_with("/v2/solo/app/manifests/") {
            let digest = path.rsplit('/').next().unwrap();
            return match by_digest.get(digest) {
                Some(bytes) => Reply::json("200 OK", bytes.clone()),
                None => Reply::json("404 Not Found", ""),
            };
        }
        match path {
            "/repos/acme/app" => Reply::json("200 OK", fixture_text("api-repos-get.json")),
            p if p.starts_with("/repos/acme/app/branches") && p.contains("page=2") => {
                Reply::json("200 OK", fixture_text("api-branches-page2.json"))
            }
            p if p.starts_with("/repos/acme/app/branches") => {
                Reply::json("200 OK", fixture_text("api-branches-page1.json")).with_header(
                    "Link",
                    &format!("<{base}/repos/acme/app/branches?per_page=100&page=2>; rel=\"next\""),
                )
            }
            p if p.starts_with("/repos/acme/app/pulls") => {
                Reply::json("200 OK", fixture_text("api-pulls-open.json"))
            }
            _ => Reply::json(
                "404 Not Found",
                r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
            ),
        }
    });
    *base.lock().unwrap() = server.url.clone();
    Fake { server, digests }
}

fn run_prune(fake: &Fake, owner: &str, args: &[&str]) -> Run {
    let host = fake.server.url.trim_start_matches("http://");
    let repository = format!("{host}/{owner}/app");
    let home = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("HOME".to_owned(), home.path().display().to_string()),
        ("GITHUB_API_URL".to_owned(), fake.server.url.clone()),
        ("GITHUB_REPOSITORY".to_owned(), "acme/app".to_owned()),
        ("GITHUB_TOKEN".to_owned(), "ghs_prune_token".to_owned()),
        ("PATH".to_owned(), std::env::var("PATH").unwrap()),
    ]);
    let mut all = vec![
        "prune",
        repository.as_str(),
        "--backend",
        "github-packages",
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    regcache(&all, &env)
}

fn deleted_ids(fake: &Fake, owner_path: &str) -> Vec<u64> {
    let prefix = format!("/{owner_path}/packages/container/app/versions/");
    fake.server
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.strip_prefix(&prefix).unwrap().parse().unwrap())
        .collect()
}

/// Pull request 7 open, main the default branch, deleting.
const OPEN_7_DELETE: &[&str] = &[
    "--pull-requests",
    "7",
    "--default-branch",
    "main",
    "--delete",
];

fn accepted(_: u64) -> (&'static str, &'static str) {
    ("204 No Content", "")
}

#[test]
fn ghcr_versions_that_are_stale_or_left_untagged_go_and_what_kept_tags_need_stays() {
    // Version 107 is the kind GitHub keeps: its DELETE answers 400.
    let fake = fake_github("orgs/acme", |id| match id {
        107 => (
            "400 Bad Request",
            "You cannot delete the last tagged version of a package. You must delete the package instead.",
        ),
        _ => ("204 No Content", ""),
    });
    let run = run_prune(
        &fake,
        "acme",
        &["--live-from-github", "--older-than", "14d", "--delete"],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut ids = deleted_ids(&fake, "orgs/acme");
    ids.sort();
    // pr-8 (closed), the untagged cache, pr-9 (closed, refused), feature-live (30 days old).
    assert_eq!(ids, [102, 103, 107, 108], "{}", run.log());
    let deleted: Vec<&str> = outcome["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    for key in ["pr8", "overwritten", "old"] {
        assert!(
            deleted.contains(&fake.digests[key].as_str()),
            "{key}: {outcome:#}"
        );
    }
    let kept = outcome["kept"].as_array().unwrap();
    let reason = |digest: &str| {
        kept.iter()
            .find(|k| k["digest"] == digest)
            .unwrap_or_else(|| panic!("{digest} kept: {outcome:#}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason(&fake.digests["pr9"]).starts_with("GitHub refuses to delete it"));
    assert_eq!(
        reason(&fake.digests["child"]),
        "untagged, but kept tag v1 needs this manifest"
    );
    assert_eq!(
        reason(&fake.digests["attestation"]),
        "untagged, but kept tag v1 needs this manifest"
    );
    assert_eq!(reason(&fake.digests["main"]), "branch main exists");
    assert_eq!(outcome["failed"], json!([]));
    // Every API call carried the token; both pages of versions and branches were read.
    let requests = fake.server.requests();
    let api: Vec<&Request> = requests
        .iter()
        .filter(|r| !r.path.starts_with("/v2/"))
        .collect();
    assert!(
        api.iter()
            .all(|r| r.authorization == "Bearer ghs_prune_token"),
        "{api:#?}"
    );
    assert!(
        api.iter()
            .any(|r| r.path.ends_with("versions?per_page=100&page=2"))
    );
    assert!(
        api.iter()
            .any(|r| r.path.contains("/branches?per_page=100&page=2"))
    );
}

#[test]
fn a_dry_run_asks_github_nothing_but_lists() {
    let fake = fake_github("orgs/acme", accepted);
    let run = run_prune(
        &fake,
        "acme",
        &["--pull-requests", "7", "--default-branch", "main"],
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(deleted_ids(&fake, "orgs/acme").is_empty());
    let planned: Vec<&str> = outcome["would_delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    let mut expected = vec![
        fake.digests["pr8"].as_str(),
        fake.digests["overwritten"].as_str(),
        fake.digests["pr9"].as_str(),
    ];
    expected.sort();
    let mut planned = planned;
    planned.sort();
    assert_eq!(planned, expected);
}

#[test]
fn a_user_package_is_found_after_the_organization_answers_404() {
    let fake = fake_github("users/solo", accepted);
    let run = run_prune(&fake, "solo", OPEN_7_DELETE);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let mut ids = deleted_ids(&fake, "users/solo");
    ids.sort();
    assert_eq!(ids, [102, 103, 107]);
}

#[test]
fn a_token_without_the_scope_fails_each_deletion_with_the_scope_to_add() {
    let fake = fake_github("orgs/acme", |_| {
        ("403 Forbidden", "Must have admin rights to Repository.")
    });
    let run = run_prune(&fake, "acme", OPEN_7_DELETE);
    assert_eq!(run.code, Some(1), "{}", run.log());
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(outcome["failed"].as_array().unwrap().len(), 3);
    assert!(
        outcome["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("packages: write"),
        "{outcome:#}"
    );
    assert!(run.stderr.contains("3 deletions failed"), "{}", run.log());
}

#[test]
fn a_package_nobody_has_is_an_error_that_deletes_nothing() {
    let fake = fake_github("orgs/acme", accepted);
    let run = run_prune(&fake, "nobody", OPEN_7_DELETE);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stderr
            .contains("no container package app under the organization or user nobody"),
        "{}",
        run.log()
    );
    assert!(deleted_ids(&fake, "orgs/acme").is_empty());
}

/// A registry that speaks the distribution token protocol (docs/spec/auth/token.md): a 401
/// with a Bearer challenge, tokens per scope from its realm, tag lists in pages of two joined
/// by `Link`, and a 429 with `Retry-After` on the first DELETE. Tokens for `pull` do not
/// allow DELETE; only a `delete` scope does.
#[test]
fn the_registry_api_pages_tags_asks_a_delete_token_and_waits_when_told() {
    let manifests = manifests();
    let tags: Vec<(&str, String)> = vec![
        ("buildcache-main", sha256(&manifests["main"])),
        ("buildcache-pr-7", sha256(&manifests["pr8"])),
        ("buildcache-pr-8", sha256(&manifests["pr9"])),
        ("buildcache-pr-9", sha256(&manifests["old"])),
        ("v1", sha256(&manifests["index"])),
    ];
    let by_digest: BTreeMap<String, Vec<u8>> =
        manifests.values().map(|b| (sha256(b), b.clone())).collect();
    let base: Arc<Mutex<String>> = Arc::default();
    let url = base.clone();
    let throttled = Arc::new(Mutex::new(false));
    let server = Server::serve(move |request| {
        let base = url.lock().unwrap().clone();
        let path = request.path.as_str();
        if let Some(query) = path.strip_prefix("/token?") {
            // The scope asked for becomes the token, so the registry can check it.
            let scope = query
                .split('&')
                .find_map(|p| p.strip_prefix("scope="))
                .unwrap_or("")
                .replace("%3A", ":")
                .replace("%2F", "/");
            return Reply::json(
                "200 OK",
                serde_json::to_vec(&json!({"token": scope})).unwrap(),
            );
        }
        let needed = if request.method == "DELETE" {
            "delete"
        } else {
            "pull"
        };
        if request.authorization != format!("Bearer repository:acme/app:{needed}") {
            return Reply::json("401 Unauthorized", r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#).with_header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="{base}/token",service="fake-registry",scope="repository:acme/app:{needed}""#),
            );
        }
        if path.starts_with("/v2/acme/app/tags/list") {
            let last = path
                .split("last=")
                .nth(1)
                .map(|l| l.split('&').next().unwrap().to_owned());
            let start = last.map_or(0, |l| tags.iter().position(|(t, _)| *t == l).unwrap() + 1);
            let page: Vec<&str> = tags.iter().skip(start).take(2).map(|(t, _)| *t).collect();
            let mut reply = Reply::json(
                "200 OK",
                serde_json::to_vec(&json!({"name": "acme/app", "tags": page})).unwrap(),
            );
            if start + 2 < tags.len() {
                reply = reply.with_header(
                    "Link",
                    &format!(
                        "</v2/acme/app/tags/list?last={}&n=2>; rel=\"next\"",
                        page[1]
                    ),
                );
            }
            return reply;
        }
        if let Some(reference) = path.strip_prefix("/v2/acme/app/manifests/") {
            let digest = tags
                .iter()
                .find(|(t, _)| *t == reference)
                .map_or(reference.to_owned(), |(_, d)| d.clone());
            if request.method == "DELETE" {
                let mut throttled = throttled.lock().unwrap();
                if !*throttled {
                    *throttled = true;
                    return Reply::json(
                        "429 Too Many Requests",
                        r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#,
                    )
                    .with_header("Retry-After", "1");
                }
                return Reply::json("202 Accepted", "");
            }
            return match by_digest.get(&digest) {
                Some(bytes) => Reply::json("200 OK", bytes.clone())
                    .with_header("Docker-Content-Digest", &digest),
                None => Reply::json(
                    "404 Not Found",
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
                ),
            };
        }
        Reply::json("404 Not Found", "")
    });
    *base.lock().unwrap() = server.url.clone();
    let host = server.url.trim_start_matches("http://");
    let home = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("HOME".to_owned(), home.path().display().to_string()),
        ("PATH".to_owned(), std::env::var("PATH").unwrap()),
    ]);
    let repository = format!("{host}/acme/app");
    let started = std::time::Instant::now();
    let run = regcache(
        &[
            "prune",
            &repository,
            "--pull-requests",
            "7",
            "--default-branch",
            "main",
            "--delete",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<String> = outcome["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
        })
        .collect();
    deleted.sort();
    // Both pages past the first were read: pr-8 and pr-9 come from them.
    assert_eq!(
        deleted,
        ["buildcache-pr-8", "buildcache-pr-9"],
        "{outcome:#}"
    );
    let requests = server.requests();
    let deletes: Vec<&Request> = requests.iter().filter(|r| r.method == "DELETE").collect();
    // The first DELETE meets the challenge; then two deletions and one retry of the throttled
    // one, each with the delete scope.
    assert_eq!(deletes.len(), 4, "{deletes:#?}");
    assert_eq!(deletes[0].authorization, "");
    assert!(
        deletes[1..]
            .iter()
            .all(|r| r.authorization == "Bearer repository:acme/app:delete")
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/token?") && r.path.contains("delete"))
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let pages = requests
        .iter()
        .filter(|r| {
            r.path.starts_with("/v2/acme/app/tags/list") && r.authorization.starts_with("Bearer")
        })
        .count();
    assert_eq!(pages, 3, "three pages of two tags");
}
