//! The export that adds nothing, on the real engine and registry (`scripts/engine.sh`): a
//! build whose every step came from the cache it writes leaves that tag as it is, and every
//! case where skipping is not certain exports: a step that missed, a builder holding results
//! of its own, other export options, a stored cache BuildKit left incomplete
//! (moby/buildkit#2822). After any export the next build on a wiped builder is a full hit.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const DOCKERFILE: &str = r#"ARG BASE
FROM ${BASE} AS deps
WORKDIR /app
COPY deps.txt ./
RUN cat deps.txt > deps.out

FROM deps AS build
COPY src/ ./src/
RUN cat src/* > /app/built.txt

FROM ${BASE}
COPY --from=build /app/built.txt /built.txt
COPY late.txt /late.txt
RUN cat /built.txt /late.txt > /final.txt
"#;

fn project() -> tempfile::TempDir {
    let base = format!("{}/base/busybox:1", registry());
    project_of(&[
        (
            "Dockerfile",
            &DOCKERFILE.replace("ARG BASE", &format!("ARG BASE={base}")),
        ),
        ("deps.txt", "left-pad 1.0\n"),
        ("src/a.txt", "a\n"),
        ("late.txt", "late\n"),
    ])
}

fn digest(reference: &str) -> String {
    stored_manifest(reference)
        .unwrap_or_else(|| panic!("{reference} exists"))
        .digest
}

/// What a build must say of its cache: hit, exported, and whether BuildKit's exporter ran.
fn expect(run: &Run, o: &Value, hit: &str, exported: &str, exporter: bool) {
    let said = (
        o["cache-hit"].as_str().unwrap(),
        o["cache-exported"].as_str().unwrap(),
        run.stdout.contains("exporting cache to registry"),
    );
    assert_eq!(said, (hit, exported, exporter), "{}", run.log());
}

fn history_length(o: &Value) -> usize {
    o["cache-history"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_full_hit_keeps_the_tag_and_a_build_that_missed_leaves_a_complete_cache() {
    let _turn = engine_lock();
    let dir = project();
    let cache_ref = format!("{}:cache", fresh_repo("export-keep"));
    wipe_builder();
    let (run, cold) = build_pinned(dir.path(), &cache_ref, &[]);
    expect(&run, &cold, "false", "true", true);
    let written = digest(&cache_ref);

    // Two warm builds on wiped builders: the tag is the same manifest, the record's history
    // goes on.
    for n in 2..=3 {
        wipe_builder();
        let (run, warm) = build_pinned(dir.path(), &cache_ref, &[]);
        expect(&run, &warm, "true", "kept", false);
        assert!(
            run.stdout.contains(&format!(
                "regcache: exporting only if a step misses: {cache_ref} holds every step of this build"
            )),
            "{}",
            run.log()
        );
        assert!(
            run.stdout.contains("(kept: nothing to export)"),
            "{}",
            run.log()
        );
        assert_eq!(
            digest(&cache_ref),
            written,
            "build {n} left the tag as it was"
        );
        assert_eq!(history_length(&warm), n, "{}", run.log());
    }

    // One file changed: a miss foreseen, so the export runs with the build, as before.
    std::fs::write(dir.path().join("src/a.txt"), "a, changed\n").unwrap();
    wipe_builder();
    let (run, changed) = build_pinned(dir.path(), &cache_ref, &[]);
    expect(&run, &changed, "false", "true", true);
    assert!(
        changed["first-miss"]
            .as_str()
            .unwrap()
            .contains("file-changed src/a.txt"),
        "{changed:#}"
    );
    assert_ne!(digest(&cache_ref), written);
    let rewritten = digest(&cache_ref);

    // The cache that build left is complete: the next build on a wiped builder is a full hit.
    wipe_builder();
    let (run, warm) = build_pinned(dir.path(), &cache_ref, &[]);
    expect(&run, &warm, "true", "kept", false);
    assert_eq!(warm["cached-steps"], warm["total-steps"]);
    assert_eq!(digest(&cache_ref), rewritten);
}

#[test]
fn a_builder_with_results_of_its_own_or_other_export_options_export() {
    let _turn = engine_lock();
    let dir = project();
    let cache_ref = format!("{}:cache", fresh_repo("export-local"));
    wipe_builder();
    build_pinned(dir.path(), &cache_ref, &[]);

    // The builder kept the cold build's results: a full hit, yet not certain to be the
    // registry's, so it exports (the exporter runs; what it writes can be byte for byte the
    // manifest already stored, so the digest is not what tells).
    let (run, local) = build_pinned(dir.path(), &cache_ref, &[]);
    expect(&run, &local, "true", "true", true);

    // zstd asked of a gzip cache: exported with the new options (BuildKit keeps the layers it
    // has as they are, without force-compression), then kept under them.
    wipe_builder();
    let (run, zstd) = build_pinned(dir.path(), &cache_ref, &["--compression", "zstd"]);
    expect(&run, &zstd, "true", "true", true);
    let zstd_digest = digest(&cache_ref);
    wipe_builder();
    let (run, again) = build_pinned(dir.path(), &cache_ref, &["--compression", "zstd"]);
    expect(&run, &again, "true", "kept", false);
    assert_eq!(digest(&cache_ref), zstd_digest);

    // no-cache keeps its meaning: every step built, and exported.
    wipe_builder();
    let (run, no_cache) = build_pinned(
        dir.path(),
        &cache_ref,
        &["--compression", "zstd", "--no-cache"],
    );
    expect(&run, &no_cache, "false", "true", true);
}

/// `PUT` of a manifest with `curl`, as a registry client would.
fn put_manifest(reference: &str, media_type: &str, body: &str) {
    let (name, tag) = reference.rsplit_once(':').unwrap();
    let (registry, repository) = name.split_once('/').unwrap();
    let out = Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .args(["--data-binary", body])
        .arg(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "PUT {reference}: {out:?}");
}

/// moby/buildkit#2822: a stored cache that lacks steps its record says it holds. Made here by
/// storing the cache of the `deps` stage alone under the tag and pointing the whole build's
/// record at it. A wiped builder foresees a full hit, misses, and exports after the build; a
/// builder that built the whole thing itself exports with the build. Either way the next
/// build on a wiped builder is a full hit.
#[test]
fn a_stored_cache_that_lacks_steps_is_exported_again() {
    let _turn = engine_lock();
    let dir = project();
    let repo = fresh_repo("export-incomplete");
    let (whole, partial) = (format!("{repo}:whole"), format!("{repo}:cache"));
    wipe_builder();
    build_pinned(dir.path(), &whole, &[]);
    wipe_builder();
    build_pinned(dir.path(), &partial, &["--target", "deps"]);
    // The deps stage's cache, under `tag` with the whole build's record pointing at it.
    let deps_only = stored_manifest(&partial).unwrap().raw;
    let deps_digest = digest(&partial);
    let media_type = stored_manifest(&partial).unwrap().json["mediaType"]
        .as_str()
        .unwrap()
        .to_owned();
    let incomplete = |tag: &str| {
        put_manifest(tag, &media_type, &deps_only);
        let mut record = stored_manifest(&format!("{whole}.regcache")).unwrap().json;
        record["subject"]["digest"] = deps_digest.clone().into();
        record["subject"]["size"] = deps_only.len().into();
        put_manifest(
            &format!("{tag}.regcache"),
            record["mediaType"].as_str().unwrap(),
            &record.to_string(),
        );
    };

    incomplete(&partial);
    wipe_builder();
    let (run, o) = build_pinned(dir.path(), &partial, &[]);
    assert!(
        run.stdout
            .contains("regcache: exporting only if a step misses"),
        "the record foretells a full hit: {}",
        run.log()
    );
    expect(&run, &o, "false", "true", true);
    assert!(
        run.stdout
            .contains("steps came from the cache, so this build's cache is exported now"),
        "{}",
        run.log()
    );
    wipe_builder();
    let (run, o) = build_pinned(dir.path(), &partial, &[]);
    expect(&run, &o, "true", "kept", false);

    // The same incomplete cache, read by a builder that holds every step itself (the last
    // build's, imported).
    let second = format!("{repo}:second");
    incomplete(&second);
    let (run, o) = build_pinned(dir.path(), &second, &[]);
    expect(&run, &o, "true", "true", true);
    wipe_builder();
    let (run, o) = build_pinned(dir.path(), &second, &[]);
    expect(&run, &o, "true", "kept", false);
}
