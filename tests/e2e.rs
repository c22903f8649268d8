//! End to end on the real engine (dockerd 26 + BuildKit 0.13, containerd image store) and a
//! real registry (distribution 2.8) on loopback, both started by `scripts/engine.sh`.
//! Every warm build runs on a wiped builder, as on an ephemeral runner.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use regcache::internals::{CacheInfo, Registry};

fn inspect(reference: &str) -> CacheInfo {
    Registry::new(&regcache::Env::default())
        .inspect(reference)
        .unwrap_or_else(|e| panic!("inspecting {reference}: {e}"))
}

fn build(context: &Path, repo: &str, extra: &[&str], outputs_file: &Path) -> Run {
    let tag = format!("{repo}:dev");
    let mut args = vec![
        "build",
        "--tag",
        &tag,
        "--network",
        "none",
        "--output-format",
        "json",
    ];
    let out = outputs_file.to_str().unwrap();
    args.extend(["--output-file", out]);
    args.extend_from_slice(extra);
    args.push(context.to_str().unwrap());
    regcache(&args, engine_env())
}

/// `name<<delimiter` … `delimiter` blocks of a GitHub file command.
fn parse_github_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let (name, delimiter) = header.split_once("<<").expect("name<<delimiter");
        let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
        outputs.insert(name.to_owned(), value.join("\n"));
    }
    outputs
}

#[test]
fn cold_then_warm_on_a_wiped_builder_then_one_file_changed() {
    let _turn = engine_lock();
    let example = example_copy();
    let repo = fresh_repo("flow");
    let cache_ref = format!("{repo}:buildcache");
    let work = tempfile::tempdir().unwrap();

    // Cold: the cache ref does not exist; the build succeeds with a warning and exports.
    wipe_builder();
    let cold_out = work.path().join("cold.json");
    let cold = build(example.path(), &repo, &[], &cold_out);
    assert_eq!(cold.code, Some(0), "{}", cold.log());
    assert!(
        cold.stdout.contains(&format!("warning: cache not found: no cache ref of the chain exists yet ({cache_ref}); this build runs cold")),
        "{}",
        cold.log()
    );
    assert!(
        !cold
            .stdout
            .contains("ERROR: failed to configure registry cache importer"),
        "a missing ref is not passed to buildx: {}",
        cold.log()
    );
    let o = outputs(&cold_out);
    assert_eq!(
        (
            o["cache-hit"].as_str(),
            o["cached-steps"].as_str(),
            o["total-steps"].as_str()
        ),
        (Some("false"), Some("0"), Some("6"))
    );
    assert_eq!(o["cache-refs-missing"], cache_ref.as_str());
    assert_eq!(o["cache-exported"], "true");
    let info = inspect(&cache_ref);
    assert_eq!(
        info.config_media_type,
        "application/vnd.buildkit.cacheconfig.v0"
    );
    assert_eq!(
        info.form, "image-manifest",
        "image-manifest=true is the default"
    );
    assert_eq!(o["stats"]["cache-manifest"]["size"], info.manifest_bytes);
    // The exported cache, read back after the build: what `regcache inspect` reads.
    assert_eq!(o["cache-size"], info.total_bytes.to_string().as_str());
    assert_eq!(o["cache-layers"], info.layers.to_string().as_str());
    // And counted independently: layers and config from the stored manifest (curl), the
    // manifest's own bytes from BuildKit's metadata.
    let stored = common::stored_manifest(&cache_ref).unwrap();
    let layers = stored.json["layers"].as_array().unwrap();
    let size = |d: &serde_json::Value| d["size"].as_u64().unwrap();
    let total: u64 = layers.iter().map(size).sum::<u64>()
        + size(&stored.json["config"])
        + size(&o["stats"]["cache-manifest"]);
    assert_eq!(o["cache-layers"], layers.len().to_string().as_str());
    assert_eq!(o["cache-size"], total.to_string().as_str());

    // Warm on a wiped builder, as a GitHub Actions step: every step comes from the registry.
    wipe_builder();
    let github_output = work.path().join("github_output");
    let summary = work.path().join("summary.md");
    let mut env = engine_env().clone();
    env.extend(
        [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_OUTPUT", github_output.to_str().unwrap().to_owned()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap().to_owned()),
            ("RUNNER_TEMP", work.path().to_str().unwrap().to_owned()),
            ("INPUT_TAGS", format!("{repo}:dev")),
            ("INPUT_NETWORK", "none".to_owned()),
            ("INPUT_CONTEXT", example.path().to_str().unwrap().to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let warm = regcache(&["action"], &env);
    assert_eq!(warm.code, Some(0), "{}", warm.log());
    // Setup and the cache decision are folded; the build log stays open, as in
    // build-push-action.
    let groups: Vec<&str> = warm
        .stdout
        .lines()
        .filter(|l| l.starts_with("::group::") || l.starts_with("::endgroup::"))
        .collect();
    assert_eq!(
        groups,
        [
            "::group::regcache setup",
            "::endgroup::",
            "::group::Cache decision",
            "::endgroup::"
        ],
        "{}",
        warm.log()
    );
    let build_log = warm.stdout.split("::group::Cache decision").nth(1).unwrap();
    assert!(
        build_log
            .split("::endgroup::")
            .nth(1)
            .unwrap()
            .contains("#1 "),
        "the build's progress comes after the last group\n{}",
        warm.log()
    );
    let o = parse_github_outputs(&std::fs::read_to_string(&github_output).unwrap());
    assert_eq!(o["cache-hit"], "true", "{}", warm.log());
    assert_eq!(o["cache-hit-ratio"], "1");
    assert_eq!(
        (o["cached-steps"].as_str(), o["total-steps"].as_str()),
        ("6", "6")
    );
    assert_eq!(o["cache-refs-found"], cache_ref);
    assert_eq!(o["cache-refs-missing"], "");
    assert!(
        o["imageid"].starts_with("sha256:") && o["digest"].starts_with("sha256:"),
        "{o:?}"
    );
    let stats: serde_json::Value = serde_json::from_str(&o["stats"]).unwrap();
    assert_eq!(stats["cached-steps"], 6);
    // Every step came from the cache tag: it is kept, so buildx exported no cache manifest.
    assert_eq!(o["cache-exported"], "kept", "{}", warm.log());
    let metadata: serde_json::Value = serde_json::from_str(&o["metadata"]).unwrap();
    assert!(metadata["cache.manifest"].is_null(), "{metadata:#}");
    assert!(
        metadata["containerimage.digest"].is_string(),
        "{metadata:#}"
    );
    // build-push-action sets `JSON.stringify(metadata, null, 2)`: node gives the same bytes.
    let node = std::process::Command::new("node")
        .args([
            "-e",
            "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0, 'utf8')), null, 2))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    std::io::Write::write_all(&mut node.stdin.as_ref().unwrap(), o["metadata"].as_bytes()).unwrap();
    let stringified = node.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(stringified.stdout).unwrap(),
        o["metadata"]
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with(&format!(
            "### regcache: {repo}:dev: 6/6 steps cached (100%)"
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "| `{cache_ref}` | source (buildcache: the shared tag) | found |"
        )),
        "{summary}"
    );
    assert!(
        summary.contains("| build | 3 | 3 |") && summary.contains("| stage-1 | 3 | 3 |"),
        "{summary}"
    );

    // One source file changed: the build stage stays cached, the two steps after the change rebuild.
    std::fs::write(example.path().join("config.txt"), "mode=staging\n").unwrap();
    wipe_builder();
    let partial_out = work.path().join("partial.json");
    let partial = build(example.path(), &repo, &[], &partial_out);
    assert_eq!(partial.code, Some(0), "{}", partial.log());
    let o = outputs(&partial_out);
    assert_eq!(
        (o["cached-steps"].as_str(), o["total-steps"].as_str()),
        (Some("4"), Some("6")),
        "{}",
        partial.log()
    );
    assert_eq!(
        (o["cache-hit"].as_str(), o["cache-hit-ratio"].as_str()),
        (Some("false"), Some("0.667"))
    );
    let stages = o["stats"]["stages"].as_array().unwrap();
    let stage = |name: &str| stages.iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(
        (
            stage("build")["steps"].as_u64(),
            stage("build")["cached"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(
        (
            stage("stage-1")["steps"].as_u64(),
            stage("stage-1")["cached"].as_u64()
        ),
        (Some(3), Some(1))
    );
}

#[test]
fn a_failing_step_becomes_an_error_annotation() {
    let _turn = engine_lock();
    let example = example_copy();
    std::fs::write(
        example.path().join("Dockerfile.error-variant"),
        std::fs::read_to_string(example.path().join("Dockerfile"))
            .unwrap()
            .replace(
                "COPY config.txt /etc/app/config.txt",
                "COPY missing.txt /etc/app/missing.txt",
            ),
    )
    .unwrap();
    let repo = fresh_repo("failing");
    let mut env = engine_env().clone();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    // The workspace holds the example as a folder, as a repository holds a service.
    let workspace = example.path().parent().unwrap();
    let folder = example.path().file_name().unwrap().to_str().unwrap();
    env.insert(
        "GITHUB_WORKSPACE".into(),
        workspace.to_str().unwrap().into(),
    );
    let tag = format!("{repo}:dev");
    let context = example.path().to_str().unwrap();
    let dockerfile = example.path().join("Dockerfile.error-variant");
    let run = regcache(
        &[
            "build",
            "-t",
            &tag,
            "--network",
            "none",
            "-f",
            dockerfile.to_str().unwrap(),
            context,
        ],
        &env,
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    let annotation = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no ::error line\n{}", run.log()));
    // The path in the repository, so the annotation attaches to the file in a diff.
    assert!(
        annotation.starts_with(&format!(
            "::error file={folder}/Dockerfile.error-variant,line="
        )),
        "{annotation}"
    );
    assert!(
        annotation.contains("title=[stage-1 3/4] COPY missing.txt /etc/app/missing.txt::"),
        "{annotation}"
    );
    assert!(annotation.contains("missing.txt"), "{annotation}");
}

/// A context whose one RUN step takes 3 s, so the registry can be stopped after the probe
/// and the import and before the export; NONCE keeps the step uncached.
fn slow_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}/base/busybox:1\nARG NONCE\nRUN echo \"$NONCE\" > /nonce && sleep 3\n",
            registry()
        ),
    )
    .unwrap();
    dir
}

/// Build while a registry on `port` holds the cache; stop that registry 1.5 s in.
fn build_while_registry_stops(port: &str, extra: &[&str], outputs_file: &Path) -> Run {
    engine_script(&["registry-start", "stopping", port]);
    let context = slow_context();
    let repo = fresh_repo("stopping");
    let cache_ref = format!("127.0.0.1:{port}/e2e/stopping:buildcache");
    let nonce = format!(
        "NONCE={}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut args = vec![
        "--cache-ref",
        cache_ref.as_str(),
        "--build-arg",
        nonce.as_str(),
    ];
    args.extend_from_slice(extra);
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        engine_script(&["registry-stop", "stopping"]);
    });
    let run = build(context.path(), &repo, &args, outputs_file);
    stopper.join().unwrap();
    run
}

#[test]
fn registry_stopped_before_export_warns_with_ignore_error_and_fails_without() {
    let _turn = engine_lock();
    let work = tempfile::tempdir().unwrap();
    let port = "5056";
    let cache_ref = format!("127.0.0.1:{port}/e2e/stopping:buildcache");

    let out = work.path().join("ignored.json");
    let ignored = build_while_registry_stops(port, &[], &out);
    assert_eq!(ignored.code, Some(0), "{}", ignored.log());
    assert!(
        ignored
            .stdout
            .contains(&format!("regcache: writing {cache_ref}")),
        "the probe saw the registry up: {}",
        ignored.log()
    );
    assert!(
        ignored.stdout.contains(&format!(
            "warning: cache export failed: exporting the cache to {cache_ref} failed"
        )),
        "{}",
        ignored.log()
    );
    assert_eq!(outputs(&out)["cache-exported"], "false");

    let strict = build_while_registry_stops(
        port,
        &["--ignore-error=false"],
        &work.path().join("strict.json"),
    );
    assert_eq!(strict.code, Some(1), "{}", strict.log());
    assert!(
        strict.stdout.contains(&format!(
            "error: cache export failed: exporting the cache to {cache_ref} failed"
        )),
        "{}",
        strict.log()
    );
    assert!(
        strict.stdout.contains("Set ignore-error: true"),
        "{}",
        strict.log()
    );
}

#[test]
fn an_unreachable_registry_means_a_cold_build_unless_ignore_error_is_false() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let cache_ref = "127.0.0.1:5057/e2e/unreachable:buildcache";
    let out = work.path().join("out.json");
    let strict = build(
        example.path(),
        &fresh_repo("unreachable"),
        &["--cache-ref", cache_ref, "--ignore-error=false"],
        &out,
    );
    assert_eq!(strict.code, Some(1), "{}", strict.log());
    assert!(
        strict
            .stdout
            .contains("the cache registry 127.0.0.1:5057 cannot be reached")
            && !strict.stdout.contains("docker buildx build"),
        "fails before building\n{}",
        strict.log()
    );
    assert!(!out.exists(), "no outputs for a build that did not run");
    let run = build(
        example.path(),
        &fresh_repo("unreachable"),
        &["--cache-ref", cache_ref],
        &out,
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout
            .contains("warning: registry unreachable: 127.0.0.1:5057 did not answer"),
        "{}",
        run.log()
    );
    assert!(
        run.stdout.contains("regcache: writing nothing"),
        "{}",
        run.log()
    );
    let o = outputs(&out);
    assert_eq!(
        (
            o["cache-exported"].as_str(),
            o["cache-source"].as_str(),
            o["cache-refs-missing"].as_str()
        ),
        (Some("false"), Some(""), Some(cache_ref))
    );
}

#[test]
fn each_compression_in_both_manifest_forms_has_the_right_media_types() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let repo = fresh_repo("compression");
    let cases = [
        (
            "gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "gzip",
        ),
        (
            "zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "zstd",
        ),
        (
            "uncompressed",
            "application/vnd.oci.image.layer.v1.tar",
            "uncompressed",
        ),
        (
            "estargz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "estargz",
        ),
    ];
    for (compression, layer_type, kind) in cases {
        for image_manifest in ["true", "false"] {
            let cache_ref = format!("{repo}:cache-{compression}-{image_manifest}");
            let run = build(
                example.path(),
                &repo,
                &[
                    "--cache-ref",
                    &cache_ref,
                    "--compression",
                    compression,
                    "--force-compression",
                    &format!("--image-manifest={image_manifest}"),
                ],
                &work.path().join("out.json"),
            );
            assert_eq!(
                run.code,
                Some(0),
                "{compression} {image_manifest}: {}",
                run.log()
            );
            let info = inspect(&cache_ref);
            let expected_manifest = if image_manifest == "true" {
                "application/vnd.oci.image.manifest.v1+json"
            } else {
                "application/vnd.oci.image.index.v1+json"
            };
            assert_eq!(
                info.media_type, expected_manifest,
                "{compression} {image_manifest}"
            );
            assert_eq!(
                info.config_media_type,
                "application/vnd.buildkit.cacheconfig.v0"
            );
            assert_eq!(
                info.layer_media_types.keys().collect::<Vec<_>>(),
                [layer_type],
                "{compression} {image_manifest}: {info:?}"
            );
            assert_eq!(
                info.compression.keys().collect::<Vec<_>>(),
                [kind],
                "{compression} {image_manifest}: {info:?}"
            );
        }
    }
}

#[test]
fn mode_min_exports_fewer_layers_than_max_for_a_multi_stage_build() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let repo = fresh_repo("mode");
    let mut layers = BTreeMap::new();
    for mode in ["max", "min"] {
        wipe_builder();
        let cache_ref = format!("{repo}:cache-{mode}");
        let run = build(
            example.path(),
            &repo,
            &["--cache-ref", &cache_ref, "--mode", mode],
            &work.path().join("out.json"),
        );
        assert_eq!(run.code, Some(0), "{mode}: {}", run.log());
        layers.insert(mode, inspect(&cache_ref).layers);
    }
    assert!(layers["min"] < layers["max"], "{layers:?}");
}

#[test]
fn a_docker_driver_without_the_containerd_store_is_explained_before_any_step_runs() {
    let _turn = engine_lock();
    engine_script(&["legacy-start"]);
    let mut env = engine_env().clone();
    env.insert(
        "DOCKER_HOST".into(),
        env["REGCACHE_LEGACY_DOCKER_HOST"].clone(),
    );
    let example = example_copy();
    let tag = format!("{}:dev", fresh_repo("legacy"));
    let run = regcache(
        &[
            "build",
            "--tag",
            &tag,
            "--network",
            "none",
            example.path().to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert!(
        run.stdout.contains("error: build setup: the current builder uses the `docker` driver without the containerd image store, which cannot export registry cache. Fix one of: enable the containerd image store"),
        "{}",
        run.log()
    );
    assert!(!run.stdout.contains("] RUN "), "no step ran: {}", run.log());
}

/// Whether `repository:tag` exists on the registry behind the proxy, and if so, that every
/// blob its manifest lists is there: a failed export must leave no tag pointing at nothing.
fn tag_is_whole(repository: &str, tag: &str) -> Option<bool> {
    let registry = registry();
    let manifest = stored_manifest(&format!("{registry}/{repository}:{tag}"))?.json;
    let blobs: Vec<String> = manifest["layers"]
        .as_array()
        .or(manifest["manifests"].as_array())
        .unwrap()
        .iter()
        .chain(manifest.get("config"))
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect();
    Some(blobs.iter().all(|digest| {
        let status = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-I", "-w", "%{http_code}"])
            .arg(format!("http://{registry}/v2/{repository}/blobs/{digest}"))
            .output()
            .unwrap();
        status.stdout == b"200"
    }))
}

#[test]
fn registry_faults_during_the_export_follow_ignore_error_and_leave_no_broken_tag() {
    let _turn = engine_lock();
    let example = example_copy();
    let work = tempfile::tempdir().unwrap();
    let cases = [
        (Fault::ManifestPut500, "500 Internal Server Error"),
        (Fault::PushForbidden, "403 Forbidden"),
        (Fault::Slow(std::time::Duration::from_millis(200)), ""),
    ];
    for (fault, status) in cases {
        let proxy = FaultProxy::start(registry(), fault);
        for ignore_error in [true, false] {
            let name = format!("e2e/fault-{}", fresh_repo("x").rsplit('-').next().unwrap());
            let cache_ref = format!("{}/{name}:buildcache", proxy.addr);
            let out = work.path().join("out.json");
            let flag = format!("--ignore-error={ignore_error}");
            let run = build(
                example.path(),
                &fresh_repo("fault"),
                &["--cache-ref", &cache_ref, &flag],
                &out,
            );
            let label = format!("{fault:?}, ignore-error {ignore_error}");
            match fault {
                Fault::Slow(_) => {
                    assert_eq!(run.code, Some(0), "{label}\n{}", run.log());
                    assert_eq!(outputs(&out)["cache-exported"], "true", "{label}");
                    assert_eq!(tag_is_whole(&name, "buildcache"), Some(true), "{label}");
                }
                _ => {
                    let (code, level) = if ignore_error {
                        (0, "warning")
                    } else {
                        (1, "error")
                    };
                    assert_eq!(run.code, Some(code), "{label}\n{}", run.log());
                    assert!(
                        run.stdout.contains(&format!("{level}: cache export failed: exporting the cache to {cache_ref} failed")),
                        "{label}\n{}",
                        run.log()
                    );
                    assert!(
                        run.stdout.contains(status),
                        "{label}: the registry's answer is shown\n{}",
                        run.log()
                    );
                    assert_eq!(outputs(&out)["cache-exported"], "false", "{label}");
                    assert_eq!(
                        tag_is_whole(&name, "buildcache"),
                        None,
                        "{label}: no tag was written"
                    );
                }
            }
        }
    }
}
