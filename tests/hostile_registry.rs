//! A registry is often a proxy, a CDN or a mirror, and a compromised one holds every CI job that
//! talks to it. These tests run regcache against registries an attacker writes (loopback
//! servers of their own, `common::hostile`) and check the promises of the README's security
//! section: credentials only to the registry's own origin, listings complete or an error,
//! deletes only on a complete and valid view, a deadline on every read, a cap on every body,
//! and the registry's words printed as one escaped line.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Run;
use common::hostile::{Answer, Body, Hostile, Seen, sha256};

const PASSWORD: &str = "s3cret-registry-password";

fn env() -> BTreeMap<String, String> {
    let home = std::env::temp_dir().join(format!("regcache-hostile-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    BTreeMap::from([
        ("HOME".to_owned(), home.display().to_string()),
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("REGCACHE_PASSWORD".to_owned(), PASSWORD.to_owned()),
    ])
}

/// `regcache prune HOST/app` as a dry run or with `--delete`, every live list given.
fn prune(host: &str, delete: bool) -> Run {
    let live = [
        "--branches=main",
        "--pull-requests=none",
        "--default-branch=main",
    ];
    let delete: &[&str] = if delete { &["--delete"] } else { &[] };
    prune_with(host, &[&live[..], delete].concat(), &env())
}

/// `regcache prune HOST/app --username=ci FLAGS…` with `env`.
fn prune_with(host: &str, flags: &[&str], env: &BTreeMap<String, String>) -> Run {
    let repository = format!("{host}/app");
    let mut args = vec!["prune", repository.as_str(), "--username=ci"];
    args.extend_from_slice(flags);
    common::regcache(&args, env)
}

/// A cache manifest in BuildKit's index form (valid digests, one layer written `when`).
fn cache_manifest(seed: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": sha256(format!("layer {seed}").as_bytes()), "size": 8,
             "annotations": {"buildkit/createdat": "2026-01-01T00:00:00Z",
                             "containerd.io/uncompressed": sha256(seed.as_bytes())}},
            {"mediaType": "application/vnd.buildkit.cacheconfig.v0",
             "digest": sha256(format!("config {seed}").as_bytes()), "size": 26}
        ]
    }))
    .unwrap()
}

fn basic() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ci:{PASSWORD}"))
    )
}

/// A registry that asks for Basic credentials and holds `buildcache-main` (kept) and
/// `buildcache-pr-1` (stale: no request is open); `tags` answers the tag list (page path →
/// answer), `manifest` may replace a manifest answer.
fn registry(
    tags: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    manifest: impl Fn(&str) -> Option<Answer> + Send + Sync + 'static,
) -> Hostile {
    let main = cache_manifest("main");
    let pr = cache_manifest("pr-1");
    Hostile::start(move |seen| {
        if seen.authorization != basic() {
            return Answer::new("401 Unauthorized", "")
                .header("WWW-Authenticate", r#"Basic realm="registry""#);
        }
        if seen.path.starts_with("/v2/app/tags/list") {
            return tags(seen);
        }
        let Some(reference) = seen.path.strip_prefix("/v2/app/manifests/") else {
            return Answer::new("404 Not Found", r#"{"errors":[{"code":"NOT_FOUND"}]}"#);
        };
        if seen.method == "DELETE" {
            return Answer::new("202 Accepted", "");
        }
        if let Some(answer) = manifest(reference) {
            return answer;
        }
        match reference {
            r if r == "buildcache-main" || r == sha256(&main) => Answer::manifest(&main),
            r if r == "buildcache-pr-1" || r == sha256(&pr) => Answer::manifest(&pr),
            _ => Answer::new(
                "404 Not Found",
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
            ),
        }
    })
}

fn page(tags: &[&str]) -> Answer {
    Answer::new(
        "200 OK",
        serde_json::to_vec(&serde_json::json!({"name": "app", "tags": tags})).unwrap(),
    )
}

/// DELETE requests that carried the credentials (a first, unauthorized try is answered 401).
fn deletes(server: &Hostile) -> usize {
    server
        .seen()
        .iter()
        .filter(|s| s.method == "DELETE" && s.authorization == basic())
        .count()
}

/// The fixed registry deletes pr-1 when its listing is whole: the fixture is one a broken
/// prune would have acted on.
#[test]
fn a_complete_listing_deletes_the_stale_tag() {
    let server = registry(|_| page(&["buildcache-main", "buildcache-pr-1"]), |_| None);
    let run = prune(&server.host, true);
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(deletes(&server), 1, "{}", run.log());
    assert!(!run.log().contains(PASSWORD));
}

/// The next link a page gives, from the registry's own host.
type NextLink = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[test]
fn credentials_never_follow_a_link_to_another_origin() {
    let elsewhere = Hostile::on("127.0.0.2", |_| page(&["buildcache-x"]));
    let other_port = Hostile::start(|_| page(&["buildcache-x"]));
    let other_host = elsewhere.host.clone();
    let other_port_host = other_port.host.clone();
    let variants: Vec<NextLink> = vec![
        Arc::new(move |_| format!("http://{other_host}/v2/app/tags/list?last=a")),
        Arc::new(move |_| format!("http://{other_port_host}/v2/app/tags/list?last=a")),
        Arc::new(|own: &str| format!("https://{own}/v2/app/tags/list?last=a")),
        Arc::new({
            let host = elsewhere.host.clone();
            move |_| format!("//{host}/v2/app/tags/list?last=a")
        }),
    ];
    for variant in variants {
        let own = Arc::new(std::sync::Mutex::new(String::new()));
        let own_for_server = own.clone();
        let server = registry(
            move |seen| {
                let next = variant(&own_for_server.lock().unwrap());
                if seen.path.contains("last=") {
                    page(&["buildcache-pr-2"])
                } else {
                    page(&["buildcache-main", "buildcache-pr-1"])
                        .header("Link", &format!("<{next}>; rel=\"next\""))
                }
            },
            |_| None,
        );
        *own.lock().unwrap() = server.host.clone();
        let run = prune(&server.host, true);
        assert_eq!(run.code, Some(1), "{}", run.log());
        assert!(run.stderr.contains("another origin"), "{}", run.log());
        assert_eq!(deletes(&server), 0, "nothing is deleted\n{}", run.log());
        assert!(!run.log().contains(PASSWORD), "{}", run.log());
    }
    for server in [&elsewhere, &other_port] {
        assert_eq!(
            server.seen(),
            [],
            "no request (and no credential) reached another origin"
        );
    }
}

#[test]
fn a_bearer_token_stays_with_its_registry() {
    let elsewhere = Hostile::on("127.0.0.2", |_| page(&["buildcache-x"]));
    let link = format!("<{}/v2/app/tags/list?last=z>; rel=\"next\"", elsewhere.url);
    let tokens = Hostile::start(|seen| {
        if seen.authorization == basic() {
            Answer::new("200 OK", r#"{"token":"delete-capable-token"}"#)
        } else {
            Answer::new("401 Unauthorized", "")
        }
    });
    let realm = format!("{}/token", tokens.url);
    let server = Hostile::start(move |seen| {
        if seen.authorization != "Bearer delete-capable-token" {
            return Answer::new("401 Unauthorized", "").header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="{realm}",service="registry""#),
            );
        }
        page(&["buildcache-main"]).header("Link", &link)
    });
    let run = prune(&server.host, true);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(run.stderr.contains("another origin"), "{}", run.log());
    assert_eq!(elsewhere.seen(), []);
    assert!(
        tokens
            .seen()
            .iter()
            .any(|s| s.path.contains("scope=repository")),
        "the token came from the realm the registry named"
    );
}

#[test]
fn endless_or_circular_paging_is_an_error_and_deletes_nothing() {
    // A page that links to itself, and two pages that link to each other (each server stops
    // linking after 3000 answers, so a client without the check still ends).
    let bounded = |link: fn(&Seen) -> String| {
        let answered = AtomicUsize::new(0);
        registry(
            move |seen| {
                let answer = page(&["buildcache-pr-1"]);
                if answered.fetch_add(1, Ordering::SeqCst) >= 3000 {
                    return answer;
                }
                answer.header("Link", &link(seen))
            },
            |_| None,
        )
    };
    let same = bounded(|_| r#"</v2/app/tags/list?n=100>; rel="next""#.to_owned());
    let circle = bounded(|seen| {
        let next = if seen.path.contains("last=b") {
            "a"
        } else {
            "b"
        };
        format!(r#"</v2/app/tags/list?last={next}>; rel="next""#)
    });
    for server in [&same, &circle] {
        let run = prune(&server.host, true);
        assert_eq!(run.code, Some(1), "{}", run.log());
        assert!(
            run.stderr.contains("links back to a page already read"),
            "{}",
            run.log()
        );
        assert_eq!(deletes(server), 0);
    }
    // Pages that go on and on: a new link every time (the server itself stops after 3000, so
    // a client without a bound still ends, having read them all).
    let pages = Arc::new(AtomicUsize::new(0));
    let counted = pages.clone();
    let endless = registry(
        move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let answer = page(&["buildcache-pr-1"]);
            if n >= 3000 {
                return answer;
            }
            answer.header(
                "Link",
                &format!(r#"</v2/app/tags/list?last=t{n}>; rel="next""#),
            )
        },
        |_| None,
    );
    let started = Instant::now();
    let run = prune(&endless.host, true);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(run.stderr.contains("runs past 1000 pages"), "{}", run.log());
    assert_eq!(pages.load(Ordering::SeqCst), 1000, "stops at the bound");
    assert_eq!(deletes(&endless), 0);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_page_that_fails_after_the_first_deletes_nothing() {
    let later_pages: Vec<(&str, Answer)> = vec![
        (
            "404",
            Answer::new("404 Not Found", r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#),
        ),
        ("500", Answer::new("500 Internal Server Error", "")),
        (
            "garbage",
            Answer::new("200 OK", "<html>not a tag list</html>"),
        ),
        ("a path as a tag", page(&["../../v2/other/manifests/x"])),
    ];
    for (what, answer) in later_pages {
        let answer = std::sync::Mutex::new(Some(answer));
        let server = registry(
            move |seen| {
                if seen.path.contains("last=") {
                    answer
                        .lock()
                        .unwrap()
                        .take()
                        .unwrap_or_else(|| Answer::new("500 Internal Server Error", ""))
                } else {
                    // The default branch's cache is on the page that fails.
                    page(&["buildcache-pr-1"]).header(
                        "Link",
                        r#"</v2/app/tags/list?last=buildcache-pr-1>; rel="next""#,
                    )
                }
            },
            |_| None,
        );
        let run = prune(&server.host, true);
        assert_eq!(run.code, Some(1), "{what}: {}", run.log());
        assert!(run.stderr.contains("page 2"), "{what}: {}", run.log());
        assert_eq!(deletes(&server), 0, "{what}: nothing is deleted");
    }
}

#[test]
fn anything_unread_or_invalid_in_the_inventory_deletes_nothing() {
    type Fault = fn(&str) -> Option<Answer>;
    let faults: [(&str, Fault, &str); 4] = [
        (
            "a digest that is a path",
            |r| {
                (r == "buildcache-main").then(|| {
                    Answer::new("200 OK", "{}").header("Docker-Content-Digest", "sha256:../../x")
                })
            },
            "not a sha256/sha512 digest",
        ),
        (
            "the kept tag's manifest unreadable",
            |r| (r == "buildcache-main").then(|| Answer::new("500 Internal Server Error", "")),
            "nothing is deleted",
        ),
        (
            "a manifest whose bytes are not its digest",
            |r| {
                (r.starts_with("sha256:") && r == sha256(&cache_manifest("main")))
                    .then(|| Answer::new("200 OK", cache_manifest("other")))
            },
            "nothing is deleted",
        ),
        (
            "a child that is not a digest",
            |r| {
                (r.starts_with("sha256:") && r == sha256(&cache_manifest("main"))).then(|| {
                    Answer::new(
                        "200 OK",
                        br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"../x","size":1}]}"#.to_vec(),
                    )
                })
            },
            "nothing is deleted",
        ),
    ];
    for (what, fault, expected) in faults {
        let server = registry(|_| page(&["buildcache-main", "buildcache-pr-1"]), fault);
        let run = prune(&server.host, true);
        assert_eq!(run.code, Some(1), "{what}: {}", run.log());
        assert!(run.log().contains(expected), "{what}: {}", run.log());
        assert_eq!(deletes(&server), 0, "{what}: nothing is deleted");
        assert!(
            server.seen().iter().all(|s| !s.path.contains("..")),
            "{what}: a registry's text never became a path"
        );
    }
}

/// Max RSS (KiB) and the run, through GNU time.
fn measured(args: &[&str]) -> (u64, Run) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M"])
        .arg(env!("CARGO_BIN_EXE_regcache"))
        .args(args)
        .env_clear()
        .envs(env())
        .output()
        .expect("GNU time runs (scripts/tools.sh installs it)");
    let run = Run::from(out);
    let rss = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss line\n{}", run.log()));
    (rss, run)
}

#[test]
fn every_body_is_capped() {
    // Each answer is huge or never ends; regcache reads at most its cap and says so.
    let cases: Vec<(&str, Body, &str)> = vec![
        (
            "a manifest that claims 4 GiB",
            Body::Claims(4 << 30),
            "larger than 4194304 bytes",
        ),
        (
            "a manifest that never ends",
            Body::Endless,
            "larger than 4194304 bytes",
        ),
    ];
    for (what, body, expected) in cases {
        let body = std::sync::Mutex::new(Some(body));
        let server = Hostile::start(move |_| {
            Answer::new("200 OK", "").body(
                body.lock()
                    .unwrap()
                    .take()
                    .unwrap_or(Body::Bytes(Vec::new())),
            )
        });
        let reference = format!("{}/app:buildcache-main", server.host);
        let started = Instant::now();
        let (rss, run) = measured(&["inspect", &reference]);
        assert_eq!(run.code, Some(1), "{what}: {}", run.log());
        assert!(run.stderr.contains(expected), "{what}: {}", run.log());
        assert!(rss < 100 * 1024, "{what}: peak RSS {rss} KiB");
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
    }
    // A tag page, a token answer and an error body that never end.
    let tokens = Hostile::start(|_| Answer::new("200 OK", "").body(Body::Endless));
    let realm = format!("{}/token", tokens.url);
    let token_server = Hostile::start(move |_| {
        Answer::new("401 Unauthorized", "").header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{realm}",service="registry""#),
        )
    });
    let page_server = registry(|_| Answer::new("200 OK", "").body(Body::Endless), |_| None);
    let error_server = Hostile::start(|_| Answer::new("404 Not Found", "").body(Body::Endless));
    for (what, args, expected) in [
        (
            "an endless token answer",
            vec!["inspect".to_owned(), format!("{}/app:x", token_server.host)],
            "the token service's answer is larger than",
        ),
        (
            "an endless tag page",
            vec![
                "prune".to_owned(),
                format!("{}/app", page_server.host),
                "--username=ci".to_owned(),
                "--default-branch=main".to_owned(),
                "--branches=main".to_owned(),
                "--pull-requests=none".to_owned(),
            ],
            "a page of the tag list is larger than",
        ),
        (
            "an endless error body",
            vec!["inspect".to_owned(), format!("{}/app:x", error_server.host)],
            "404 Not Found",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let (rss, run) = measured(&args);
        assert_eq!(run.code, Some(1), "{what}: {}", run.log());
        assert!(run.stderr.contains(expected), "{what}: {}", run.log());
        assert!(rss < 100 * 1024, "{what}: peak RSS {rss} KiB");
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
    }
}

#[test]
fn every_read_has_a_deadline() {
    // A manifest trickled a byte every two seconds: 40 bytes would take 80 s.
    let trickle = || Body::Trickle {
        declared: 100,
        count: 40,
        every: Duration::from_secs(2),
    };
    let manifest_server = Hostile::start(move |_| Answer::new("200 OK", "").body(trickle()));
    let runs: Vec<std::thread::JoinHandle<(Duration, Run)>> = ["inspect", "verify"]
        .into_iter()
        .map(|command| {
            let reference = format!("{}/app:buildcache-main", manifest_server.host);
            std::thread::spawn(move || {
                let started = Instant::now();
                let run = common::regcache(&[command, &reference], &env());
                (started.elapsed(), run)
            })
        })
        .collect();
    for handle in runs {
        let (elapsed, run) = handle.join().unwrap();
        assert_eq!(run.code, Some(1), "{}", run.log());
        assert!(
            run.stderr.contains("within the deadline (60s)"),
            "{}",
            run.log()
        );
        assert!(
            elapsed >= Duration::from_secs(55) && elapsed < Duration::from_secs(75),
            "ended after {elapsed:?}"
        );
    }
}

/// The lines the Actions runner would act on as workflow commands (it trims leading white
/// space, actions/runner `ActionCommand.TryParseV2`, and ends a line at `\n` or a lone `\r`).
fn command_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .flat_map(|l| l.split('\r'))
        .filter(|l| l.trim_start().starts_with("::"))
        .collect()
}

#[test]
fn the_registrys_words_are_one_escaped_line_in_every_sink() {
    let evil = "denied\n::add-mask::ci\n::error title=x::forged\r::warning::y <img src=x> [Re-run with secrets](https://evil.example) </details> `";
    let error =
        serde_json::to_vec(&serde_json::json!({"errors": [{"code": "DENIED", "message": evil}]}))
            .unwrap();
    let delete_error = error.clone();
    let refusing = Hostile::start(move |seen| {
        if seen.authorization != basic() {
            return Answer::new("401 Unauthorized", "")
                .header("WWW-Authenticate", r#"Basic realm="registry""#);
        }
        if seen.method == "DELETE" {
            return Answer::new("403 Forbidden", delete_error.clone());
        }
        let main = cache_manifest("main");
        let pr = cache_manifest("pr-1");
        match seen.path.as_str() {
            p if p.starts_with("/v2/app/tags/list") => {
                page(&["buildcache-main", "buildcache-pr-1"])
            }
            p if p.ends_with("buildcache-main") || p.ends_with(&sha256(&main)) => {
                Answer::manifest(&main)
            }
            _ => Answer::manifest(&pr),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let summary = dir.path().join("summary");
    std::fs::write(&outputs, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    let mut github = env();
    github.insert("GITHUB_ACTIONS".into(), "true".into());
    github.insert("GITHUB_OUTPUT".into(), outputs.display().to_string());
    github.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
    let run = prune_with(
        &refusing.host,
        &[
            "--branches=main",
            "--pull-requests=none",
            "--default-branch=main",
            "--delete",
        ],
        &github,
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(run.stdout.contains("FAILED"), "{}", run.log());
    // regcache's own command (masking the password it was given) and nothing else.
    let own = format!("::add-mask::{PASSWORD}");
    assert_eq!(
        command_lines(&run.stdout),
        Vec::<&str>::new(),
        "{}",
        run.log()
    );
    assert_eq!(command_lines(&run.stderr), [own.as_str()], "{}", run.log());
    assert!(run.stdout.contains("\\n::add-mask::ci\\n"), "{}", run.log());

    // Verify, with a blob check the registry answers with the same words.
    let blob_error = error.clone();
    let verify_server = Hostile::start(move |seen| {
        if seen.path.contains("/blobs/") {
            Answer::new("500 Internal Server Error", blob_error.clone())
        } else {
            Answer::manifest(&cache_manifest("main"))
        }
    });
    let reference = format!("{}/app:buildcache-main", verify_server.host);
    for deep in [false, true] {
        let mut args = vec!["verify", reference.as_str()];
        if deep {
            args.push("--deep");
        }
        let run = common::regcache(&args, &github);
        assert_eq!(run.code, Some(1), "{}", run.log());
        // A HEAD answer has no body: only the deep check's GET carries the words.
        assert_eq!(
            run.stdout.contains("\\n::add-mask::ci\\n"),
            deep,
            "the words are shown, escaped\n{}",
            run.log()
        );
        assert_eq!(
            command_lines(&run.stdout),
            Vec::<&str>::new(),
            "{}",
            run.log()
        );
        assert_eq!(
            command_lines(&run.stderr),
            Vec::<&str>::new(),
            "{}",
            run.log()
        );
    }

    // Prune's job summary, as GitHub renders it (cmark-gfm, raw HTML let through as GitHub
    // would let <img>, <a> and <details> through).
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("regcache prune"), "{markdown}");
    let html = common::render_summary(&markdown);
    for markup in ["<img", "<a ", "</details>"] {
        assert!(!html.contains(markup), "{markup} rendered:\n{html}");
    }
    assert!(
        html.contains("&lt;img src=x&gt;"),
        "the text is shown as text:\n{html}"
    );
}

/// The GitHub token goes to the API host only: when a listing's next page is on another host,
/// it is asked for without the token (octocrab drops it across hosts).
#[test]
fn the_github_token_stays_with_the_api_host() {
    const TOKEN: &str = "ghs_api_token_for_this_test";
    let elsewhere = Hostile::on("127.0.0.2", |_| Answer::new("200 OK", "[]"));
    let next = format!(
        "<{}/repos/o/r/branches?per_page=100&page=2>; rel=\"next\"",
        elsewhere.url
    );
    let api = Hostile::start(move |seen| match seen.path.as_str() {
        "/repos/o/r" => Answer::new("200 OK", r#"{"full_name":"o/r","default_branch":"main"}"#),
        p if p.starts_with("/repos/o/r/branches") => {
            Answer::new("200 OK", r#"[{"name":"main"}]"#).header("Link", &next)
        }
        p if p.starts_with("/repos/o/r/pulls") => Answer::new("200 OK", "[]"),
        _ => Answer::new("404 Not Found", r#"{"message":"Not Found"}"#),
    });
    let server = registry(|_| page(&["buildcache-main", "buildcache-pr-1"]), |_| None);
    let mut env = env();
    env.insert("GITHUB_REPOSITORY".into(), "o/r".into());
    env.insert("GITHUB_TOKEN".into(), TOKEN.into());
    env.insert("GITHUB_API_URL".into(), api.url.clone());
    let run = prune_with(&server.host, &["--live-from-github", "--delete"], &env);
    assert!(
        api.seen().iter().any(|s| s.authorization.contains(TOKEN)),
        "the API host was asked with the token\n{}",
        run.log()
    );
    let asked_elsewhere = elsewhere.seen();
    assert!(
        !asked_elsewhere.is_empty(),
        "the next page on the other host was asked for\n{}",
        run.log()
    );
    assert!(
        asked_elsewhere.iter().all(|s| s.authorization.is_empty()),
        "credentials went to another host: {asked_elsewhere:?}\n{}",
        run.log()
    );
}

/// A docker config holding the registry's Basic credentials, as `docker login` writes it.
fn logged_in(host: &str) -> tempfile::TempDir {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("ci:{PASSWORD}"));
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    dir
}

#[test]
fn a_record_upload_never_follows_a_location_to_another_origin() {
    let elsewhere = Hostile::on("127.0.0.2", |_| Answer::new("201 Created", ""));
    let location = format!("{}/v2/app/blobs/uploads/stolen?state=x", elsewhere.url);
    let server = Hostile::start(move |seen| {
        if seen.authorization != basic() {
            return Answer::new("401 Unauthorized", "")
                .header("WWW-Authenticate", r#"Basic realm="registry""#);
        }
        match seen.method.as_str() {
            "POST" => Answer::new("202 Accepted", "").header("Location", &location),
            _ => Answer::new("404 Not Found", r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#),
        }
    });
    let config = logged_in(&server.host);
    let env: regcache::Env = [("DOCKER_CONFIG", config.path().to_str().unwrap())]
        .into_iter()
        .collect();
    let subject = regcache::internals::Subject {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: sha256(b"cache"),
        size: 5,
    };
    let written = regcache::internals::Registry::new(&env).write_record(
        &format!("{}/app:buildcache-main", server.host),
        b"a record",
        "2026-12-05T00:00:00Z",
        Some(subject),
    );
    let error = written.expect_err("the upload went elsewhere").to_string();
    assert!(error.contains("another origin"), "{error}");
    assert!(
        elsewhere.seen().is_empty(),
        "nothing reached another origin: {:?}",
        elsewhere.seen()
    );
    assert!(
        server.seen().iter().all(|s| s.method != "PUT"),
        "no record was written: {:?}",
        server.seen()
    );
}

/// A registry holding `buildcache-main` and beside it the record `answer` gives (manifest and
/// layer), for `regcache history`.
fn record_registry(layer: Vec<u8>, claimed: Option<u64>) -> Hostile {
    let cache = cache_manifest("main");
    let size = claimed.unwrap_or(layer.len() as u64);
    let record = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.regcache.build-record.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.regcache.build-record.v1+json+gzip", "digest": sha256(&layer), "size": size}],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(&cache), "size": cache.len()},
    }))
    .unwrap();
    let layer_path = format!("/v2/app/blobs/{}", sha256(&layer));
    Hostile::start(move |seen| match seen.path.as_str() {
        "/v2/app/manifests/buildcache-main" => Answer::manifest(&cache),
        "/v2/app/manifests/buildcache-main.regcache" => Answer::manifest(&record),
        p if p == layer_path => match claimed {
            Some(claimed) => Answer::new("200 OK", "").body(Body::Claims(claimed)),
            None => Answer::new("200 OK", layer.clone()),
        },
        _ => Answer::new("404 Not Found", r#"{"errors":[{"code":"NOT_FOUND"}]}"#),
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_hostile_build_record_is_capped_and_its_words_are_text() {
    let history = |server: &Hostile| {
        common::regcache(
            &["history", &format!("{}/app:buildcache-main", server.host)],
            &env(),
        )
    };
    // A layer that claims 4 GiB: refused from its descriptor, nothing read.
    let claims = record_registry(b"x".to_vec(), Some(4 << 30));
    let run = history(&claims);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stderr.contains("more than the 262144 regcache reads"),
        "{}",
        run.log()
    );
    // A gzip bomb under the stored limit: refused past 4 MiB of JSON.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 256 << 10);
    let run = history(&record_registry(bomb, None));
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(run.stderr.contains("decompresses past"), "{}", run.log());
    // A record whose words would be workflow commands and markup: one escaped line each.
    let hostile_run = serde_json::json!({
        "time": "2026-12-05T00:00:00Z\n::error::forged",
        "commit": "<b>x</b>\n::add-mask::ci",
        "event": "push\r::warning::forged",
        "hit_ratio": 1.0, "cached_steps": 1, "total_steps": 1, "build_seconds": 1.0,
    });
    let record = serde_json::json!({
        "schema": 1, "dockerfile": "Dockerfile", "no_cache": false, "mode": "max",
        "image_stages": [], "build_args": {}, "stages": [], "steps": [],
        "context_hashed": false, "history": [hostile_run],
    });
    let run = history(&record_registry(gzip(record.to_string().as_bytes()), None));
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert_eq!(
        command_lines(&run.stdout),
        Vec::<&str>::new(),
        "{}",
        run.log()
    );
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.log());
}

#[test]
fn a_referrers_subject_that_is_gone_blocks_nothing_and_one_unread_blocks_all() {
    let gone = sha256(b"an earlier cache");
    let record = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.regcache.build-record.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": gone, "size": 10},
    }))
    .unwrap();
    for (status, deleted, code) in [("404 Not Found", 1, 0), ("500 Internal Server Error", 0, 1)] {
        let (record, gone) = (record.clone(), gone.clone());
        let server = registry(
            |_| {
                page(&[
                    "buildcache-main",
                    "buildcache-main.regcache",
                    "buildcache-pr-1",
                ])
            },
            move |r| {
                if r == "buildcache-main.regcache" || r == sha256(&record) {
                    Some(Answer::manifest(&record))
                } else if r == gone {
                    Some(Answer::new(
                        status,
                        r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
                    ))
                } else {
                    None
                }
            },
        );
        let run = prune(&server.host, true);
        assert_eq!(run.code, Some(code), "{status}: {}", run.log());
        assert_eq!(deletes(&server), deleted, "{status}: {}", run.log());
    }
}
