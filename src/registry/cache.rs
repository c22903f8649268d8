//! What a cache ref holds, from the manifest bytes as stored and the cache config blob: the
//! form, layers, sizes, compression and records. Pure; `Registry::inspect` fetches the bytes.
//!
//! The two forms BuildKit exports (moby/buildkit `cache/remotecache/export.go`): an image index
//! whose last entry is the `application/vnd.buildkit.cacheconfig.v0` config, or, with
//! `image-manifest=true`, an image manifest with that config as its `config`.

use std::collections::{BTreeMap, HashSet};

use oci_client::manifest::{OciDescriptor, OciImageIndex, OciImageManifest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cache::entries::Compression;
use time::format_description::well_known::Rfc3339;

pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.buildkit.cacheconfig.v0";
/// The media types of a regcache build record's manifest (an OCI artifact whose `subject` is
/// the cache manifest it describes, `record.rs`) and of its one layer, the record itself.
pub const RECORD_ARTIFACT_TYPE: &str = "application/vnd.regcache.build-record.v1";
pub const RECORD_LAYER_MEDIA_TYPE: &str = "application/vnd.regcache.build-record.v1+json+gzip";
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// BuildKit refuses to import a manifest or config larger than this (moby/buildkit
/// `cache/remotecache/import.go`; moby/buildkit#4916).
const IMPORT_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheInfo {
    pub media_type: String,
    /// `index` (a layer list with the config as its last entry) or `image-manifest`.
    pub form: &'static str,
    pub manifest_bytes: usize,
    pub layers: usize,
    pub layer_bytes: u64,
    pub config_digest: String,
    pub config_media_type: String,
    pub config_bytes: u64,
    pub total_bytes: u64,
    pub layer_media_types: BTreeMap<String, usize>,
    pub compression: BTreeMap<String, usize>,
    pub records: usize,
    pub records_with_results: usize,
    pub newest_layer: Option<String>,
    pub warnings: Vec<String>,
}

/// A stored manifest, either form; an index has `manifests`, an image manifest `config`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Index(OciImageIndex),
    Image(Box<OciImageManifest>),
}

/// One blob the manifest lists: what the statistics read of an index entry or a descriptor.
struct Blob<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    annotations: Option<&'a BTreeMap<String, String>>,
}

impl<'a> From<&'a OciDescriptor> for Blob<'a> {
    fn from(d: &'a OciDescriptor) -> Self {
        Blob {
            media_type: &d.media_type,
            digest: &d.digest,
            size: u64::try_from(d.size).unwrap_or(0),
            annotations: d.annotations.as_ref(),
        }
    }
}

/// The cache config's records; only their number and whether they hold layers are read.
#[derive(Deserialize)]
struct CacheConfig {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    layers: Vec<serde::de::IgnoredAny>,
}

/// The form, the layer blobs and the config blob of a cache manifest, every digest checked to
/// be one before anything uses it.
fn split_manifest(stored: &Stored) -> Result<(&'static str, Vec<Blob<'_>>, Blob<'_>), String> {
    let (form, layers, config) = split_unchecked(stored)?;
    if let Some(bad) = layers
        .iter()
        .chain(std::iter::once(&config))
        .find(|b| !super::is_digest(b.digest))
    {
        return Err(format!(
            "it lists `{}`, which is not a sha256/sha512 digest",
            bad.digest.escape_default()
        ));
    }
    Ok((form, layers, config))
}

fn split_unchecked(stored: &Stored) -> Result<(&'static str, Vec<Blob<'_>>, Blob<'_>), String> {
    match stored {
        Stored::Index(index) => {
            let blobs = index.manifests.iter().map(|e| Blob {
                media_type: &e.media_type,
                digest: &e.digest,
                size: u64::try_from(e.size).unwrap_or(0),
                annotations: e.annotations.as_ref(),
            });
            let (config, layers): (Vec<Blob>, Vec<Blob>) =
                blobs.partition(|b| b.media_type == CACHE_CONFIG_MEDIA_TYPE);
            let config = config
                .into_iter()
                .next()
                .ok_or_else(|| format!("the index has no {CACHE_CONFIG_MEDIA_TYPE} entry"))?;
            Ok(("index", layers, config))
        }
        Stored::Image(image) if image.config.media_type == CACHE_CONFIG_MEDIA_TYPE => Ok((
            "image-manifest",
            image.layers.iter().map(Blob::from).collect(),
            Blob::from(&image.config),
        )),
        Stored::Image(image) => Err(format!(
            "{} without a {CACHE_CONFIG_MEDIA_TYPE} config (an image, or inline cache)",
            image.media_type.as_deref().unwrap_or("an image manifest")
        )),
    }
}

fn parse(manifest_bytes: &[u8]) -> Result<Stored, String> {
    serde_json::from_slice(manifest_bytes)
        .map_err(|e| format!("the manifest is neither an image index nor an image manifest: {e}"))
}

/// The digest and size of the cache config blob a manifest lists.
pub fn config_descriptor(manifest_bytes: &[u8]) -> Result<(String, u64), String> {
    let stored = parse(manifest_bytes)?;
    let (_, _, config) = split_manifest(&stored)?;
    Ok((config.digest.to_owned(), config.size))
}

fn compression_of(blob: &Blob<'_>) -> Compression {
    let media_type = blob.media_type;
    let annotated = |key: &str| blob.annotations.is_some_and(|a| a.contains_key(key));
    if annotated("containerd.io/snapshot/stargz/toc.digest") {
        Compression::Estargz
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        Compression::Zstd
    } else if media_type.ends_with("+gzip")
        || media_type.ends_with(".gzip")
        || media_type.ends_with("tar.gzip")
    {
        Compression::Gzip
    } else {
        Compression::Uncompressed
    }
}

/// The newest `buildkit/createdat` among the layers: when the build last produced one.
fn newest_created(layers: &[&Blob<'_>]) -> Option<(OffsetDateTime, String)> {
    layers
        .iter()
        .filter_map(|l| l.annotations?.get("buildkit/createdat"))
        .filter_map(|text| Some((OffsetDateTime::parse(text, &Rfc3339).ok()?, text.clone())))
        .max_by_key(|(at, _)| *at)
}

/// One blob a cache lists, as verify reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobRef {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub compression: Compression,
    /// `containerd.io/uncompressed`: the digest of the layer's content (None for the config).
    pub uncompressed: Option<String>,
}

/// Every distinct blob of a cache manifest, layers first, then the config.
pub fn blobs(manifest_bytes: &[u8]) -> Result<Vec<BlobRef>, String> {
    let stored = parse(manifest_bytes)?;
    let (_, layers, config) = split_manifest(&stored)?;
    let mut seen = HashSet::new();
    Ok(layers
        .iter()
        .map(|l| (l, true))
        .chain(std::iter::once((&config, false)))
        .filter(|(b, _)| seen.insert(b.digest))
        .map(|(b, is_layer)| BlobRef {
            digest: b.digest.to_owned(),
            media_type: b.media_type.to_owned(),
            size: b.size,
            compression: compression_of(b),
            uncompressed: is_layer
                .then(|| b.annotations?.get("containerd.io/uncompressed").cloned())
                .flatten(),
        })
        .collect())
}

/// A manifest as prune needs it: what it is and what it links to.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// A BuildKit cache (an index with a cache config entry, or an image manifest with a
    /// cache config): the only kind prune deletes.
    pub is_cache: bool,
    /// A regcache build record (an OCI artifact describing a cache): prune deletes it with
    /// its cache.
    pub is_record: bool,
    /// The manifests an image index lists (a cache index lists blobs, not manifests).
    pub children: Vec<String>,
    /// The manifest this one refers to (OCI 1.1 `subject`: attestations, signatures).
    pub subject: Option<String>,
    /// When it was last written: the registry's time where it keeps one (GHCR), else the
    /// newest `buildkit/createdat` of its layers.
    pub written: Option<OffsetDateTime>,
}

/// Any manifest as prune sees it: a cache (either form) or not, the manifests an image index
/// lists, its `subject`, and when a cache last changed.
pub fn prune_view(manifest_bytes: &[u8]) -> Result<Manifest, String> {
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
        #[serde(rename = "mediaType", default)]
        media_type: String,
    }
    #[derive(Deserialize)]
    struct Any {
        #[serde(default)]
        manifests: Vec<Descriptor>,
        config: Option<Descriptor>,
        subject: Option<Descriptor>,
        #[serde(rename = "artifactType", default)]
        artifact_type: String,
    }
    let any: Any =
        serde_json::from_slice(manifest_bytes).map_err(|e| format!("not a manifest: {e}"))?;
    // Children and subjects are followed and kept by digest: one that is not a digest makes
    // the view incomplete.
    if let Some(bad) = any
        .manifests
        .iter()
        .chain(&any.subject)
        .find(|d| !super::is_digest(&d.digest))
    {
        return Err(format!(
            "it refers to `{}`, which is not a sha256/sha512 digest",
            bad.digest.escape_default()
        ));
    }
    let is_cache = any.config.as_ref().map(|c| c.media_type.as_str())
        == Some(CACHE_CONFIG_MEDIA_TYPE)
        || any
            .manifests
            .iter()
            .any(|m| m.media_type == CACHE_CONFIG_MEDIA_TYPE);
    let written = if is_cache {
        let stored = parse(manifest_bytes)?;
        let (_, layers, _) = split_manifest(&stored)?;
        newest_created(&layers.iter().collect::<Vec<_>>()).map(|(at, _)| at)
    } else {
        None
    };
    Ok(Manifest {
        is_cache,
        is_record: any.artifact_type == RECORD_ARTIFACT_TYPE,
        // A cache index lists blobs; any other index lists manifests, all of them needed.
        children: if is_cache {
            Vec::new()
        } else {
            any.manifests.into_iter().map(|m| m.digest).collect()
        },
        subject: any.subject.map(|s| s.digest),
        written,
    })
}

/// What a cache costs in the registry and whether BuildKit will import it, from the manifest
/// alone (the config's size is in its descriptor): what a build reads back after its export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSize {
    /// Distinct layers, the config and the manifest, in bytes.
    pub total_bytes: u64,
    pub layers: usize,
    pub warnings: Vec<String>,
}

pub fn stored_size(manifest_bytes: &[u8]) -> Result<StoredSize, String> {
    let stored = parse(manifest_bytes)?;
    let (_, layers, config) = split_manifest(&stored)?;
    let mut seen = HashSet::new();
    let distinct: Vec<&Blob> = layers.iter().filter(|l| seen.insert(l.digest)).collect();
    let layer_bytes = distinct
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.size));
    Ok(StoredSize {
        total_bytes: layer_bytes
            .saturating_add(config.size)
            .saturating_add(manifest_bytes.len() as u64),
        layers: distinct.len(),
        warnings: import_limit_warnings(manifest_bytes.len() as u64, config.size),
    })
}

/// The manifest and the config against BuildKit's import limit.
fn import_limit_warnings(manifest_bytes: u64, config_bytes: u64) -> Vec<String> {
    [("manifest", manifest_bytes), ("cache config", config_bytes)]
        .into_iter()
        .filter(|(_, size)| *size > IMPORT_LIMIT as u64)
        .map(|(what, size)| format!("the {what} is {size} bytes; BuildKit imports at most {IMPORT_LIMIT}, so this cache exports but never imports (try mode=min or fewer stages)"))
        .collect()
}

/// Statistics from the manifest bytes and the config blob.
pub fn summarize(manifest_bytes: &[u8], config_bytes: &[u8]) -> Result<CacheInfo, String> {
    let stored = parse(manifest_bytes)?;
    let media_type = match &stored {
        Stored::Index(index) => index.media_type.clone(),
        Stored::Image(image) => image.media_type.clone(),
    }
    .unwrap_or_default();
    let (form, layers, config) = split_manifest(&stored)?;
    let mut seen = HashSet::new();
    let distinct: Vec<&Blob> = layers.iter().filter(|l| seen.insert(l.digest)).collect();
    let mut layer_media_types = BTreeMap::new();
    let mut compression = BTreeMap::new();
    for layer in &distinct {
        *layer_media_types
            .entry(layer.media_type.to_owned())
            .or_insert(0) += 1;
        *compression
            .entry(compression_of(layer).to_string())
            .or_insert(0) += 1;
    }
    let newest = newest_created(&distinct);
    // Saturating: a hostile manifest's sizes must not wrap around to a small total.
    let layer_bytes = distinct
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.size));
    let records: CacheConfig = serde_json::from_slice(config_bytes)
        .map_err(|e| format!("the cache config is not JSON of the cache config's shape: {e}"))?;
    let config_size = if config.size > 0 {
        config.size
    } else {
        config_bytes.len() as u64
    };
    let warnings = import_limit_warnings(manifest_bytes.len() as u64, config_bytes.len() as u64);
    Ok(CacheInfo {
        media_type,
        form,
        manifest_bytes: manifest_bytes.len(),
        layers: distinct.len(),
        layer_bytes,
        config_digest: config.digest.to_owned(),
        config_media_type: config.media_type.to_owned(),
        config_bytes: config_size,
        total_bytes: layer_bytes
            .saturating_add(config_size)
            .saturating_add(manifest_bytes.len() as u64),
        layer_media_types,
        compression,
        records: records.records.len(),
        records_with_results: records
            .records
            .iter()
            .filter(|r| !r.layers.is_empty())
            .count(),
        newest_layer: newest.map(|(_, text)| text),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/buildkit/buildx-0.13.1_buildkit-0.13__{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The expected statistics table of `tests/fixtures/buildkit/SOURCES.md`.
    #[test]
    fn statistics_of_every_fixture_cache() {
        let cases = [
            (
                "registry_cache-main_after-a.index.manifest.json",
                "8db2b1d7",
                "index",
                2527,
                7,
                1_065_692,
                2487,
                1_070_706,
                "gzip=7",
                11,
                6,
                "2026-11-22T06:27:26.63693465Z",
            ),
            (
                "registry_cache-main_after-b.index.manifest.json",
                "8db2b1d7",
                "index",
                3087,
                7,
                1_065_692,
                2487,
                1_071_266,
                "gzip=7",
                11,
                6,
                "2026-11-22T06:27:26.63693465Z",
            ),
            (
                "registry_cache-main_after-c.index.manifest.json",
                "246e1cf1",
                "index",
                2680,
                6,
                1_065_449,
                2325,
                1_070_454,
                "gzip=6",
                11,
                5,
                "2026-11-22T06:27:26.63693465Z",
            ),
            (
                "registry_cache-feature-x_after-d.index.manifest.json",
                "15b326cd",
                "index",
                1549,
                4,
                1_065_163,
                2012,
                1_068_724,
                "gzip=4",
                11,
                3,
                "2026-11-22T06:27:30.564269396Z",
            ),
            (
                "registry_cache-image-manifest_after-f.image-manifest.json",
                "246e1cf1",
                "image-manifest",
                2689,
                6,
                1_065_449,
                2325,
                1_070_463,
                "gzip=6",
                11,
                5,
                "2026-11-22T06:27:26.63693465Z",
            ),
            (
                "registry_cache-zstd_after-g.index.manifest.json",
                "436253a1",
                "index",
                2529,
                7,
                1_065_699,
                2486,
                1_070_714,
                "gzip=4,zstd=3",
                11,
                6,
                "2026-11-22T06:27:33.461786995Z",
            ),
        ];
        for (
            manifest,
            config,
            form,
            manifest_bytes,
            layers,
            layer_bytes,
            config_bytes,
            total,
            mix,
            records,
            with_results,
            newest,
        ) in cases
        {
            let info = summarize(
                &fixture(manifest),
                &fixture(&format!("registry_cacheconfig_sha256-{config}.json")),
            )
            .unwrap();
            let mix_text: Vec<String> = info
                .compression
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            assert_eq!(
                (
                    info.form,
                    info.manifest_bytes,
                    info.layers,
                    info.layer_bytes,
                    info.config_bytes,
                    info.total_bytes
                ),
                (
                    form,
                    manifest_bytes,
                    layers,
                    layer_bytes,
                    config_bytes,
                    total
                ),
                "{manifest}"
            );
            assert_eq!(
                (mix_text.join(","), info.records, info.records_with_results),
                (mix.to_owned(), records, with_results),
                "{manifest}"
            );
            assert_eq!(info.newest_layer.as_deref(), Some(newest), "{manifest}");
            assert!(info.config_digest.contains(config));
            assert!(info.warnings.is_empty());
        }
    }

    #[test]
    fn sizes_saturate_instead_of_wrapping() {
        let layer = |n: u8| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{}","size":{}}}"#,
                format!("{n:02x}").repeat(32),
                i64::MAX
            )
        };
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"{CACHE_CONFIG_MEDIA_TYPE}","digest":"sha256:{}","size":2}},"layers":[{},{},{}]}}"#,
            "c".repeat(64),
            layer(1),
            layer(2),
            layer(3)
        );
        let info = summarize(manifest.as_bytes(), b"{}").unwrap();
        assert_eq!(info.layers, 3);
        assert_eq!((info.layer_bytes, info.total_bytes), (u64::MAX, u64::MAX));
    }

    #[test]
    fn a_config_over_the_import_limit_is_a_warning() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"{CACHE_CONFIG_MEDIA_TYPE}","digest":"sha256:{}","size":0}},"layers":[]}}"#,
            "c".repeat(64)
        );
        // A cache config of the right shape, padded past 1 MiB with records' keys.
        let records: Vec<String> = (0..20_000)
            .map(|i| format!(r#"{{"digest":"sha256:{i:064x}"}}"#))
            .collect();
        let config = format!(r#"{{"layers":[],"records":[{}]}}"#, records.join(","));
        assert!(config.len() > IMPORT_LIMIT);
        let info = summarize(manifest.as_bytes(), config.as_bytes()).unwrap();
        assert_eq!(
            info.warnings,
            [format!(
                "the cache config is {} bytes; BuildKit imports at most 1048576, so this cache exports but never imports (try mode=min or fewer stages)",
                config.len()
            )]
        );
        let small = summarize(manifest.as_bytes(), br#"{"layers":[],"records":[]}"#).unwrap();
        assert!(small.warnings.is_empty());
        // From the manifest alone, the config's descriptor gives its size.
        let described = manifest.replace(r#""size":0"#, r#""size":2097152"#);
        let size = stored_size(described.as_bytes()).unwrap();
        assert_eq!(
            size.warnings,
            [
                "the cache config is 2097152 bytes; BuildKit imports at most 1048576, so this cache exports but never imports (try mode=min or fewer stages)"
            ]
        );
        assert_eq!(
            (size.layers, size.total_bytes),
            (0, 2_097_152 + described.len() as u64)
        );
    }

    #[test]
    fn an_image_is_not_a_cache() {
        let manifest = std::fs::read(format!(
            "{}/tests/fixtures/buildkit/local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__inline-cache-image.manifest.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(
            summarize(&manifest, b"{}")
                .unwrap_err()
                .contains("inline cache")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A manifest-shaped JSON document with arbitrary digests, sizes and media types.
        fn manifest() -> impl Strategy<Value = String> {
            let entry = (
                prop_oneof![Just(CACHE_CONFIG_MEDIA_TYPE.to_owned()), "[a-z./+]{0,30}"],
                prop_oneof![
                    "sha256:[0-9a-f]{64}",
                    "[ -~]{0,70}",
                    Just("sha256:../../x".to_owned())
                ],
                any::<i64>(),
            );
            (proptest::collection::vec(entry, 0..6), any::<bool>()).prop_map(|(entries, index)| {
                let entries: Vec<serde_json::Value> = entries
                    .into_iter()
                    .map(|(media_type, digest, size)| {
                        serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
                    })
                    .collect();
                if index {
                    serde_json::json!({"schemaVersion": 2, "manifests": entries}).to_string()
                } else {
                    serde_json::json!({"schemaVersion": 2, "config": entries.first(), "layers": entries, "subject": entries.last()}).to_string()
                }
            })
        }

        proptest! {
            /// Any bytes a registry sends as a manifest or config read to an end or an error.
            #[test]
            fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = summarize(&bytes, &bytes);
                let _ = stored_size(&bytes);
                let _ = blobs(&bytes);
                let _ = prune_view(&bytes);
                let _ = config_descriptor(&bytes);
            }

            /// What the readers hand on (digests to fetch, keep or delete) is only ever a
            /// digest, and never more entries than the manifest held.
            #[test]
            fn only_valid_digests_are_handed_on(text in manifest()) {
                let bytes = text.as_bytes();
                if let Ok(found) = blobs(bytes) {
                    prop_assert!(found.iter().all(|b| crate::registry::is_digest(&b.digest)));
                    prop_assert!(found.len() <= text.matches("digest").count());
                }
                if let Ok(view) = prune_view(bytes) {
                    prop_assert!(view.children.iter().chain(&view.subject).all(|d| crate::registry::is_digest(d)));
                }
                if let Ok((digest, _)) = config_descriptor(bytes) {
                    prop_assert!(crate::registry::is_digest(&digest));
                }
                let _ = summarize(bytes, br#"{"records":[]}"#);
            }
        }
    }
}
