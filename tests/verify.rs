//! `regcache verify` and `inspect` on caches that real buildx exports wrote (gzip and zstd,
//! index and image-manifest forms), then with a layer taken out of the registry's storage and
//! with one tampered with. Each cache holds a layer no other test has (a nonce and random
//! bytes), so changing its blob breaks nothing else in the shared registry.

mod common;

use std::path::PathBuf;

use common::registry::Remote;
use common::*;
use serde_json::Value;

/// Export a cache of a unique build to `reference` with `cache_options` added to cache-to.
fn export(reference: &str, cache_options: &str) {
    let dir = tempfile::tempdir().unwrap();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}/base/busybox:1\nRUN echo {nonce} > /nonce && head -c 3000000 /dev/urandom > /random\nRUN echo second > /second\n",
            registry()
        ),
    )
    .unwrap();
    let out = docker(&[
        "buildx",
        "build",
        "--cache-to",
        &format!("type=registry,ref={reference},mode=max{cache_options}"),
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify(args: &[&str]) -> (Run, Value) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = regcache(&all, engine_env());
    let result = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.log()));
    (run, result)
}

/// The largest layer of the cache at `reference`: the random bytes, this test's own.
fn own_layer(reference: &str) -> (String, PathBuf) {
    let stored = stored_manifest(reference).expect("the cache is stored");
    let entries = stored.json["manifests"]
        .as_array()
        .or(stored.json["layers"].as_array())
        .unwrap()
        .clone();
    let layer = entries
        .iter()
        .filter(|e| e["mediaType"] != "application/vnd.buildkit.cacheconfig.v0")
        .max_by_key(|e| e["size"].as_u64().unwrap())
        .unwrap();
    let digest = layer["digest"].as_str().unwrap().to_owned();
    let hex = digest.trim_start_matches("sha256:").to_owned();
    let data = std::path::Path::new(&engine_env()["REGCACHE_ENGINE_DIR"])
        .join("registries/main/data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    assert!(data.exists(), "{}", data.display());
    (digest, data)
}

fn status_of(result: &Value, digest: &str) -> String {
    result["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["digest"] == digest)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn whole_caches_verify_in_every_form_and_compression() {
    let _turn = engine_lock();
    let repo = fresh_repo("verify");
    for (tag, options, compression) in [
        ("gzip", "", "gzip"),
        ("zstd", ",compression=zstd,force-compression=true", "zstd"),
        (
            "image-manifest",
            ",image-manifest=true,oci-mediatypes=true",
            "gzip",
        ),
    ] {
        let reference = format!("{repo}:{tag}");
        export(&reference, options);
        let (run, shallow) = verify(&[&reference]);
        assert_eq!(run.code, Some(0), "{tag}: {}", run.log());
        assert_eq!(
            (shallow["missing"].as_u64(), shallow["corrupt"].as_u64()),
            (Some(0), Some(0))
        );
        let (run, deep) = verify(&[&reference, "--deep"]);
        assert_eq!(run.code, Some(0), "{tag}: {}", run.log());
        // Every layer was decompressed and hashed: at least the 3,000,000 random bytes.
        assert!(
            deep["uncompressed_bytes"].as_u64().unwrap() >= 3_000_000,
            "{tag}: {deep:#}"
        );
        // inspect reads the same form and compression.
        let inspect = regcache(&["inspect", &reference], engine_env());
        assert_eq!(inspect.code, Some(0), "{}", inspect.log());
        let info: Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(
            info["form"],
            if tag == "image-manifest" {
                "image-manifest"
            } else {
                "index"
            }
        );
        assert!(
            info["compression"][compression].as_u64().unwrap() >= 2,
            "{tag}: {info:#}"
        );
        assert_eq!(info["warnings"], serde_json::json!([]));
    }
}

#[test]
fn a_missing_layer_and_a_tampered_one_are_found_and_named() {
    let _turn = engine_lock();
    let repo = fresh_repo("verify-broken");
    let tampered = format!("{repo}:tampered");
    let missing = format!("{repo}:missing");
    export(&tampered, "");
    export(&missing, "");

    // A layer removed from the registry's storage: shallow and deep both find it.
    let (digest, data) = own_layer(&missing);
    std::fs::remove_file(&data).unwrap();
    for deep in [false, true] {
        let args: Vec<&str> = if deep {
            vec![&missing, "--deep"]
        } else {
            vec![&missing]
        };
        let (run, result) = verify(&args);
        assert_eq!(run.code, Some(1), "{}", run.log());
        assert_eq!(status_of(&result, &digest), "missing", "{result:#}");
        assert_eq!(result["missing"], 1);
        assert!(run.stderr.contains("Re-export it"), "{}", run.log());
    }

    // A layer whose bytes changed (same length): it exists, so only --deep can tell.
    let (digest, data) = own_layer(&tampered);
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let (run, _) = verify(&[&tampered]);
    assert_eq!(run.code, Some(0), "existence only: {}", run.log());
    let (run, result) = verify(&[&tampered, "--deep"]);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert_eq!(status_of(&result, &digest), "corrupt", "{result:#}");
    assert_eq!(result["corrupt"], 1);
    assert_eq!(result["missing"], 0);
}

#[test]
fn a_layer_that_does_not_decompress_to_its_annotation_is_corrupt() {
    let _turn = engine_lock();
    let repo = fresh_repo("verify-annotation");
    let reference = format!("{repo}:cache");
    export(&reference, "");
    // The same cache, one layer's uncompressed digest annotation changed, pushed by a client.
    let stored = stored_manifest(&reference).unwrap();
    let mut manifest = stored.json.clone();
    let (digest, _) = own_layer(&reference);
    for entry in manifest["manifests"].as_array_mut().unwrap() {
        if entry["digest"] == digest.as_str() {
            entry["annotations"]["containerd.io/uncompressed"] =
                Value::from(format!("sha256:{}", "0".repeat(64)));
        }
    }
    let remote = Remote {
        base: format!("http://{}", registry()),
        user: None,
    };
    remote.put_manifest(repo.split_once('/').unwrap().1, "relabelled", &manifest);
    let (run, result) = verify(&[&format!("{repo}:relabelled"), "--deep"]);
    assert_eq!(run.code, Some(1), "{}", run.log());
    assert_eq!(status_of(&result, &digest), "corrupt");
    let problem = result["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["digest"] == digest.as_str())
        .unwrap()["problem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(problem.contains("containerd.io/uncompressed"), "{problem}");
}
