//! Why a step missed, on the real engine and registry (`scripts/engine.sh`): each scenario
//! builds a four-stage Dockerfile and exports its cache with a build record, wipes the builder
//! (an ephemeral runner), changes one thing and builds again reading that cache. The first
//! miss must name the right cause and detail; a changed file never named, or a file named that
//! did not change, fails.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const DOCKERFILE: &str = r#"ARG BASE
FROM ${BASE} AS deps
WORKDIR /app
COPY deps.txt ./
ARG FLAVOUR=plain
RUN echo "$FLAVOUR" > flavour && cat deps.txt > deps.out

FROM ${BASE} AS tools
RUN echo tools > /tools.txt

FROM deps AS build
COPY src/ ./src/
RUN cat src/* > /app/built.txt

FROM ${BASE}
COPY --from=build /app/built.txt /built.txt
COPY --from=tools /tools.txt /tools.txt
COPY late.txt /late.txt
RUN cat /built.txt /late.txt > /final.txt
"#;

/// The project: the Dockerfile, its files, and a `.dockerignore` whose files never count.
fn project(base: &str) -> tempfile::TempDir {
    project_of(&[
        (
            "Dockerfile",
            &DOCKERFILE.replace("ARG BASE", &format!("ARG BASE={base}")),
        ),
        ("deps.txt", "left-pad 1.0\n"),
        ("src/a.txt", "a\n"),
        ("src/b.txt", "b\n"),
        ("late.txt", "late\n"),
        (".dockerignore", "notes.md\n"),
        ("notes.md", "not in the context\n"),
    ])
}

/// Build and export, wipe, change one thing, build again: the second build's run and outputs.
fn scenario(
    name: &str,
    base: &str,
    first: &[&str],
    change: impl FnOnce(&Path),
    second: &[&str],
) -> (Run, Value, String, tempfile::TempDir) {
    let dir = project(base);
    let cache_ref = format!("{}:cache", fresh_repo(name));
    wipe_builder();
    let (_, cold) = build_pinned(dir.path(), &cache_ref, first);
    assert_eq!(cold["cache-exported"], "true");
    wipe_builder();
    change(dir.path());
    let (run, warm) = build_pinned(dir.path(), &cache_ref, second);
    (run, warm, cache_ref, dir)
}

fn misses(outputs: &Value) -> Vec<(String, String, String)> {
    outputs["miss-reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("miss-reasons is a list: {outputs:#}"))
        .iter()
        .map(|m| {
            (
                m["step"].as_str().unwrap().to_owned(),
                m["cause"].as_str().unwrap().to_owned(),
                m["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn append(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    let mut old = std::fs::read_to_string(&path).unwrap();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

fn base() -> String {
    engine_env()["REGCACHE_BASE_IMAGE"].clone()
}

#[test]
fn a_file_copied_late_is_named_and_nothing_else() {
    let _turn = engine_lock();
    let (run, o, cache_ref, dir) = scenario(
        "late",
        &base(),
        &[],
        |dir| {
            append(dir, "late.txt", "changed\n");
            // Not in the context: never named.
            append(dir, "notes.md", "changed\n");
        },
        &[],
    );
    assert_eq!(
        o["first-miss"],
        "COPY late.txt /late.txt (Dockerfile:18): file-changed late.txt",
        "{}",
        run.log()
    );
    assert_eq!(
        misses(&o),
        [
            (
                "COPY late.txt /late.txt".to_owned(),
                "file-changed".to_owned(),
                "late.txt".to_owned()
            ),
            (
                "RUN cat /built.txt /late.txt > /final.txt".to_owned(),
                "after-a-miss".to_owned(),
                "`COPY late.txt /late.txt` (line 18) missed first".to_owned()
            )
        ]
    );
    assert!(
        run.stdout.contains(
            "regcache: first miss: COPY late.txt /late.txt (Dockerfile:18): file-changed late.txt"
        ),
        "{}",
        run.log()
    );
    assert!(
        run.stdout
            .contains("by cause: file-changed 1, after-a-miss 1"),
        "{}",
        run.log()
    );
    // The history: two builds wrote this tag, and `regcache history` reads the same record.
    let history = o["cache-history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{o:#}");
    assert_eq!(history[0]["hit_ratio"], 0.0);
    assert_eq!(
        history[1]["cached_steps"].as_u64().unwrap().to_string(),
        o["cached-steps"].as_str().unwrap()
    );
    let stored = regcache(&["history", &cache_ref, "--format", "json"], engine_env());
    assert_eq!(stored.code, Some(0), "{}", stored.log());
    let stored: Value = serde_json::from_str(&stored.stdout).unwrap();
    assert_eq!(&stored, &o["cache-history"]);
    let human = regcache(&["history", &cache_ref], engine_env());
    assert!(
        human.stdout.starts_with(&format!(
            "{cache_ref}: cache history (2 builds, hit ratio oldest → newest): ▁"
        )),
        "{}",
        human.log()
    );
    assert_eq!(human.stdout.lines().count(), 4, "{}", human.log());
    // `regcache explain` says the same for a build log saved from bare buildx that read the
    // cache after one more change.
    let dir = dir.path();
    append(dir, "late.txt", "again\n");
    wipe_builder();
    let log = dir.join("build.rawjson");
    let bare = docker(&[
        "buildx",
        "build",
        "--progress=rawjson",
        "--network",
        "none",
        "--cache-from",
        &format!("type=registry,ref={cache_ref}"),
        dir.to_str().unwrap(),
    ]);
    assert!(
        bare.status.success(),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
    std::fs::write(&log, &bare.stderr).unwrap();
    let explained = regcache(
        &[
            "explain",
            &cache_ref,
            "--log",
            log.to_str().unwrap(),
            "--context",
            dir.to_str().unwrap(),
        ],
        engine_env(),
    );
    assert_eq!(explained.code, Some(0), "{}", explained.log());
    assert_eq!(
        explained.stdout.lines().next(),
        Some("COPY late.txt /late.txt (Dockerfile:18): file-changed late.txt"),
        "{}",
        explained.log()
    );
    assert!(
        explained
            .stdout
            .ends_with("2 missed steps, by cause: file-changed 1, after-a-miss 1\n"),
        "{}",
        explained.log()
    );
    // verify checks the record beside the cache.
    let verified = regcache(&["verify", &cache_ref], engine_env());
    assert_eq!(verified.code, Some(0), "{}", verified.log());
    assert!(
        verified
            .stdout
            .contains("build record: ok, 10 steps, 2 builds in its history"),
        "{}",
        verified.log()
    );
}

#[test]
fn a_file_copied_early_is_named_and_the_later_steps_follow_it() {
    let _turn = engine_lock();
    let (run, o, _, _dir) = scenario(
        "early",
        &base(),
        &[],
        |dir| append(dir, "deps.txt", "right-pad 2.0\n"),
        &[],
    );
    assert_eq!(
        o["first-miss"],
        "COPY deps.txt ./ (Dockerfile:4): file-changed deps.txt",
        "{}",
        run.log()
    );
    let got = misses(&o);
    assert_eq!(got[1].1, "after-a-miss", "{got:?}");
    assert_eq!(got[1].2, "`COPY deps.txt ./` (line 4) missed first");
    // build stands on deps; the final stage copies from build.
    let build_first = got.iter().find(|m| m.0 == "COPY src/ ./src/").unwrap();
    assert_eq!(
        (build_first.1.as_str(), build_first.2.as_str()),
        (
            "after-a-miss",
            "stage deps: `COPY deps.txt ./` (line 4) missed first"
        )
    );
    assert!(
        got.iter()
            .all(|m| m.1 == "file-changed" && m.2 == "deps.txt" || m.1 == "after-a-miss"),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|m| m.0.contains("tools")),
        "tools changed nothing and stayed cached: {got:?}"
    );
}

#[test]
fn a_build_arg_value_is_named_never_quoted() {
    let _turn = engine_lock();
    let (run, o, _, _dir) = scenario(
        "arg",
        &base(),
        &["--build-arg", "FLAVOUR=first-value"],
        |_| {},
        &["--build-arg", "FLAVOUR=second-value"],
    );
    assert_eq!(
        o["first-miss"],
        "RUN echo \"$FLAVOUR\" > flavour && cat deps.txt > deps.out (Dockerfile:6): build-arg-changed FLAVOUR",
        "{}",
        run.log()
    );
    let text = o.to_string();
    assert!(
        !text.contains("first-value") && !text.contains("second-value"),
        "{text}"
    );
}

#[test]
fn a_base_image_pushed_anew_under_the_same_tag_names_both_digests() {
    let _turn = engine_lock();
    let base = format!("{}:1", fresh_repo("base"));
    let push_base = |label: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!(
                "FROM {}\nCOPY version /version\n",
                engine_env()["REGCACHE_BASE_IMAGE"]
            ),
        )
        .unwrap();
        // A new layer, not only a new label: BuildKit keys an image by its layers.
        std::fs::write(dir.path().join("version"), label).unwrap();
        let out = docker(&[
            "buildx",
            "build",
            "--output",
            &format!("type=image,name={base},push=true"),
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        common::stored_manifest(&base).unwrap().digest
    };
    let old = push_base("1");
    let mut new = String::new();
    let (run, o, _, _dir) = scenario("base-moved", &base, &[], |_| new = push_base("2"), &[]);
    assert_ne!(old, new);
    let got = misses(&o);
    assert!(!got.is_empty(), "{o:#}\n{}", run.log());
    assert_eq!(got[0].0, "WORKDIR /app", "{}", run.log());
    assert_eq!(got[0].1, "base-image-changed");
    assert_eq!(
        got[0].2,
        format!("FROM {base}: {} → {}", &old[..19], &new[..19])
    );
}

#[test]
fn an_edited_run_line_shows_the_old_and_the_new_text() {
    let _turn = engine_lock();
    let (run, o, _, _dir) = scenario(
        "edited",
        &base(),
        &[],
        |dir| {
            let path = dir.join("Dockerfile");
            let text = std::fs::read_to_string(&path).unwrap().replace(
                "RUN cat src/* > /app/built.txt",
                "RUN cat src/* | sort > /app/built.txt",
            );
            std::fs::write(path, text).unwrap();
        },
        &[],
    );
    assert_eq!(
        o["first-miss"],
        "RUN cat src/* | sort > /app/built.txt (Dockerfile:13): instruction-changed line 13: `RUN cat src/* > /app/built.txt` → `RUN cat src/* | sort > /app/built.txt`",
        "{}",
        run.log()
    );
}

#[test]
fn no_cache_filters_on_one_stage() {
    let _turn = engine_lock();
    let (run, o, _, _dir) = scenario(
        "filters",
        &base(),
        &[],
        |_| {},
        &["--no-cache-filters", "tools"],
    );
    // The rebuilt step made the same file, and BuildKit keys `COPY --from` by content: the
    // final stage's copy of it is a hit, and only the filtered step missed.
    assert_eq!(
        misses(&o),
        [(
            "RUN echo tools > /tools.txt".to_owned(),
            "no-cache".to_owned(),
            "no-cache-filters names stage tools".to_owned()
        )],
        "{}",
        run.log()
    );
}

#[test]
fn a_mode_min_cache_read_by_a_build_of_an_intermediate_stage() {
    let _turn = engine_lock();
    let (run, o, _, _dir) = scenario(
        "min",
        &base(),
        &["--mode", "min"],
        |_| {},
        &["--target", "tools", "--mode", "min"],
    );
    let got = misses(&o);
    assert_eq!(got.len(), 1, "{got:?}\n{}", run.log());
    assert_eq!(got[0].0, "RUN echo tools > /tools.txt");
    assert_eq!(got[0].1, "not-in-cache");
    assert!(
        got[0].2.starts_with("the cache was written with mode=min")
            && got[0].2.ends_with("stage tools is not among them"),
        "{}",
        got[0].2
    );
}

#[test]
fn a_cache_without_a_record_is_said_once_and_nothing_is_guessed() {
    let _turn = engine_lock();
    let dir = project(&base());
    let cache_ref = format!("{}:cache", fresh_repo("bare"));
    wipe_builder();
    let bare = docker(&[
        "buildx",
        "build",
        "--network",
        "none",
        "--cache-to",
        &format!("type=registry,ref={cache_ref},mode=max,image-manifest=true,oci-mediatypes=true"),
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        bare.status.success(),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
    wipe_builder();
    append(dir.path(), "late.txt", "changed\n");
    let (run, o) = build_pinned(dir.path(), &cache_ref, &[]);
    assert_eq!(o["first-miss"], "");
    assert_eq!(o["miss-reasons"], serde_json::json!([]));
    let said: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("has no build record"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "regcache: why it missed: the cache read, {cache_ref}, has no build record (it was written without one, by buildx alone or a regcache before build records): its misses are not explained"
        )]
    );
    // This build wrote one: the next reads it.
    let verified = regcache(&["verify", &cache_ref], engine_env());
    assert!(
        verified.stdout.contains("build record: ok"),
        "{}",
        verified.log()
    );
}

#[test]
fn no_secret_build_arg_or_environment_value_reaches_any_output() {
    let _turn = engine_lock();
    const PLANTED: [&str; 3] = [
        "planted-build-arg-9f3c1",
        "planted-secret-7d2e4",
        "planted-environment-5b8a0",
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nARG TOKEN\nRUN env | grep -c TOKEN > /count\nRUN --mount=type=secret,id=key wc -c /run/secrets/key > /key-size\nCOPY a.txt /a.txt\n",
            base()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("a.txt"), "1\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let summary = work.path().join("summary.md");
    let github_output = work.path().join("github_output");
    let cache_ref = format!("{}:cache", fresh_repo("planted"));
    let mut env = engine_env().clone();
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", github_output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("RUNNER_TEMP", work.path().to_str().unwrap()),
        ("REGCACHE_PLANTED", PLANTED[2]),
    ] {
        env.insert(k.into(), v.into());
    }
    let secret = format!("key={}", PLANTED[1]);
    // The action's `secrets` form: the value itself, written to a 0600 file by regcache.
    let arg = format!("TOKEN={}", PLANTED[0]);
    let tag = format!("{}:dev", cache_ref.rsplit_once(':').unwrap().0);
    let run_build = || {
        let run = regcache(
            &[
                "build",
                "--tag",
                &tag,
                "--cache-ref",
                &cache_ref,
                "--network",
                "none",
                "--build-arg",
                &arg,
                "--secrets",
                &secret,
                "--output-format",
                "json",
                "--output-file",
                work.path().join("outputs.json").to_str().unwrap(),
                dir.path().to_str().unwrap(),
            ],
            &env,
        );
        assert_eq!(run.code, Some(0), "{}", run.log());
        run
    };
    wipe_builder();
    let first = run_build();
    wipe_builder();
    std::fs::write(dir.path().join("a.txt"), "2\n").unwrap();
    let second = run_build();
    let outputs = std::fs::read_to_string(work.path().join("outputs.json")).unwrap();
    assert!(
        outputs.contains("file-changed a.txt"),
        "the build explained its miss: {outputs}"
    );
    let record = regcache(&["explain", &cache_ref, "--format", "json"], engine_env());
    assert_eq!(record.code, Some(0), "{}", record.log());
    let sinks = [
        ("first build's log", first.stdout + &first.stderr),
        ("second build's log", second.stdout + &second.stderr),
        ("outputs", outputs),
        (
            "step outputs",
            std::fs::read_to_string(&github_output).unwrap(),
        ),
        ("summary", std::fs::read_to_string(&summary).unwrap()),
        ("stored record", record.stdout),
    ];
    for (sink, text) in &sinks {
        // `::add-mask::` is how a value is hidden: the runner takes the line, never shows it.
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            for planted in PLANTED {
                assert!(!line.contains(planted), "{sink} holds {planted}: {line}");
            }
        }
    }
    // The record keeps the argument's name and a hash, no more.
    let stored: Value = serde_json::from_str(&sinks[5].1).unwrap();
    assert!(
        stored["build_args"]["TOKEN"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn a_record_that_cannot_be_written_is_a_warning_and_the_build_succeeds() {
    let _turn = engine_lock();
    let dir = project(&base());
    let proxy = FaultProxy::start(registry(), Fault::RecordPut500);
    let repo = fresh_repo("record-refused");
    let name = repo.split_once('/').unwrap().1;
    let cache_ref = format!("{}/{name}:cache", proxy.addr);
    wipe_builder();
    let (run, o) = build_pinned(dir.path(), &cache_ref, &[]);
    assert_eq!(o["cache-exported"], "true", "{}", run.log());
    assert!(
        run.stdout.contains("warning: build record not written: ")
            && run.stdout.contains("500 Internal Server Error"),
        "{}",
        run.log()
    );
    let verified = regcache(&["verify", &format!("{repo}:cache")], engine_env());
    assert_eq!(verified.code, Some(0), "{}", verified.log());
    assert!(
        verified.stdout.contains("build record: none"),
        "{}",
        verified.log()
    );
}
