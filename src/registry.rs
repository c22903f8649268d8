//! The registry client: what a cache ref holds, read with `oci-client` (manifest bytes as
//! stored, the cache config blob). The arithmetic is a pure function over those bytes.

use std::collections::BTreeMap;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::platform::Env;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.buildkit.cacheconfig.v0";
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// BuildKit refuses to import a manifest or config larger than this (`cache/remotecache/import.go`).
pub const IMPORT_LIMIT: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("`{0}` is not an image ref: {1}")]
    Reference(String, String),
    #[error("reading {reference} from the registry failed: {source}")]
    Registry {
        reference: String,
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{reference} is not a BuildKit cache: {problem}")]
    NotACache { reference: String, problem: String },
}

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

/// The manifest's layer descriptors and its cache config descriptor.
fn split_manifest(manifest: &Value) -> Result<(&'static str, Vec<&Value>, &Value), String> {
    let media_type = manifest["mediaType"].as_str().unwrap_or("");
    if let Some(entries) = manifest["manifests"].as_array() {
        let config = entries
            .iter()
            .find(|e| e["mediaType"] == CACHE_CONFIG_MEDIA_TYPE)
            .ok_or_else(|| format!("the index has no {CACHE_CONFIG_MEDIA_TYPE} entry"))?;
        let layers = entries
            .iter()
            .filter(|e| e["mediaType"] != CACHE_CONFIG_MEDIA_TYPE)
            .collect();
        return Ok(("index", layers, config));
    }
    if manifest["config"]["mediaType"] == CACHE_CONFIG_MEDIA_TYPE {
        let layers = manifest["layers"]
            .as_array()
            .map(|l| l.iter().collect())
            .unwrap_or_default();
        return Ok(("image-manifest", layers, &manifest["config"]));
    }
    Err(format!(
        "{media_type} without a {CACHE_CONFIG_MEDIA_TYPE} config (an image, or inline cache)"
    ))
}

fn compression_of(layer: &Value) -> &'static str {
    let media_type = layer["mediaType"].as_str().unwrap_or("");
    if layer["annotations"]["containerd.io/snapshot/stargz/toc.digest"].is_string() {
        "estargz"
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        "zstd"
    } else if media_type.ends_with("+gzip")
        || media_type.ends_with(".gzip")
        || media_type.ends_with("tar.gzip")
    {
        "gzip"
    } else {
        "uncompressed"
    }
}

/// Statistics from the manifest bytes and the config blob (buildkit.md §7).
pub fn summarize(manifest_bytes: &[u8], config_bytes: &[u8]) -> Result<CacheInfo, String> {
    let manifest: Value = serde_json::from_slice(manifest_bytes)
        .map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let (form, layers, config) = split_manifest(&manifest)?;
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&Value> = layers
        .into_iter()
        .filter(|l| seen.insert(l["digest"].as_str().unwrap_or("")))
        .collect();
    let mut layer_media_types = BTreeMap::new();
    let mut compression = BTreeMap::new();
    let mut newest: Option<(OffsetDateTime, String)> = None;
    for layer in &distinct {
        *layer_media_types
            .entry(layer["mediaType"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
        *compression
            .entry(compression_of(layer).to_owned())
            .or_insert(0) += 1;
        if let Some(text) = layer["annotations"]["buildkit/createdat"].as_str() {
            if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
                if newest.as_ref().is_none_or(|(n, _)| at > *n) {
                    newest = Some((at, text.to_owned()));
                }
            }
        }
    }
    let layer_bytes: u64 = distinct.iter().filter_map(|l| l["size"].as_u64()).sum();
    let config_json: Value = serde_json::from_slice(config_bytes)
        .map_err(|e| format!("the cache config is not JSON: {e}"))?;
    let records = config_json["records"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let config_size = config["size"].as_u64().unwrap_or(config_bytes.len() as u64);
    let mut warnings = Vec::new();
    for (what, size) in [
        ("manifest", manifest_bytes.len()),
        ("cache config", config_bytes.len()),
    ] {
        if size > IMPORT_LIMIT {
            warnings.push(format!("the {what} is {size} bytes; BuildKit imports at most {IMPORT_LIMIT}, so this cache exports but never imports (try mode=min or fewer stages)"));
        }
    }
    Ok(CacheInfo {
        media_type: manifest["mediaType"].as_str().unwrap_or("").to_owned(),
        form,
        manifest_bytes: manifest_bytes.len(),
        layers: distinct.len(),
        layer_bytes,
        config_digest: config["digest"].as_str().unwrap_or("").to_owned(),
        config_media_type: config["mediaType"].as_str().unwrap_or("").to_owned(),
        config_bytes: config_size,
        total_bytes: layer_bytes + config_size + manifest_bytes.len() as u64,
        layer_media_types,
        compression,
        records: records.len(),
        records_with_results: records
            .iter()
            .filter(|r| r["layers"].as_array().is_some_and(|l| !l.is_empty()))
            .count(),
        newest_layer: newest.map(|(_, text)| text),
        warnings,
    })
}

/// Plain HTTP for loopback registries, as dockerd treats 127.0.0.0/8 as insecure by default.
pub fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(h, port)| !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

pub fn client_for<'a>(registries: impl IntoIterator<Item = &'a str>) -> Client {
    let loopback: Vec<String> = registries
        .into_iter()
        .filter(|r| is_loopback(r))
        .map(str::to_owned)
        .collect();
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(loopback),
        ..Default::default()
    })
}

/// The user's docker credentials for the registry (`$DOCKER_CONFIG/config.json`, credential
/// helpers included), or anonymous access.
pub fn auth_for(reference: &Reference, env: &Env) -> RegistryAuth {
    let dir = env
        .get("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env.get("HOME")
                .map(|h| std::path::Path::new(h).join(".docker"))
        });
    let Some(file) = dir.and_then(|d| std::fs::File::open(d.join("config.json")).ok()) else {
        return RegistryAuth::Anonymous;
    };
    // Docker Hub's credentials are stored under its v1 address.
    let server = match reference.registry() {
        "docker.io" => "https://index.docker.io/v1/",
        other => other,
    };
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), server) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// Whether a cache ref exists, asked with a HEAD request before the build.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Exists {
        digest: String,
    },
    Missing,
    /// The registry did not answer (connection refused, DNS, TLS, timeout).
    Unreachable(String),
    /// It answered with an error other than "not found" (401, 403, 5xx).
    Failed(String),
}

impl Probe {
    /// How the log and `regcache plan` show it.
    pub fn label(&self) -> &'static str {
        match self {
            Probe::Exists { .. } => "found",
            Probe::Missing => "not found",
            Probe::Unreachable(_) | Probe::Failed(_) => "unreadable",
        }
    }
}

pub async fn probe(client: &Client, reference: &Reference, auth: &RegistryAuth) -> Probe {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match client.fetch_manifest_digest(reference, auth).await {
        Ok(digest) => Probe::Exists { digest },
        Err(E::ImageManifestNotFoundError(_)) => Probe::Missing,
        Err(E::ServerError { code: 404, .. }) => Probe::Missing,
        Err(E::RegistryError { envelope, .. })
            if envelope.errors.iter().all(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
                )
            }) =>
        {
            Probe::Missing
        }
        Err(E::RequestError(e)) => Probe::Unreachable(error_chain(&e)),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Probe every ref at once on a small runtime; credentials per registry.
pub fn probe_all(references: &[Reference], env: &Env) -> Vec<Probe> {
    let client = client_for(references.iter().map(|r| r.registry()));
    let auths: Vec<RegistryAuth> = references.iter().map(|r| auth_for(r, env)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    runtime.block_on(async {
        let probes = references.iter().zip(&auths).map(|(reference, auth)| {
            let client = &client;
            async move {
                match tokio::time::timeout(PROBE_TIMEOUT, probe(client, reference, auth)).await {
                    Ok(result) => result,
                    Err(_) => {
                        Probe::Unreachable(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
                    }
                }
            }
        });
        futures::future::join_all(probes).await
    })
}

const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn inspect(
    client: &Client,
    reference: &Reference,
    auth: &RegistryAuth,
) -> Result<CacheInfo, RegistryError> {
    let whole = reference.whole();
    let registry_error = |source| RegistryError::Registry {
        reference: whole.clone(),
        source,
    };
    let (manifest_bytes, _digest) = client
        .pull_manifest_raw(reference, auth, MANIFEST_MEDIA_TYPES)
        .await
        .map_err(registry_error)?;
    let manifest: Value =
        serde_json::from_slice(&manifest_bytes).map_err(|e| RegistryError::NotACache {
            reference: whole.clone(),
            problem: e.to_string(),
        })?;
    let (_, _, config) = split_manifest(&manifest).map_err(|problem| RegistryError::NotACache {
        reference: whole.clone(),
        problem,
    })?;
    let config_digest = config["digest"].as_str().unwrap_or("").to_owned();
    let mut config_bytes = Vec::new();
    client
        .pull_blob(reference, config_digest.as_str(), &mut config_bytes)
        .await
        .map_err(registry_error)?;
    summarize(&manifest_bytes, &config_bytes).map_err(|problem| RegistryError::NotACache {
        reference: whole,
        problem,
    })
}

/// `regcache inspect`: one lookup on a small runtime, credentials from the docker config.
pub fn inspect_blocking(text: &str, env: &Env) -> Result<CacheInfo, RegistryError> {
    let reference = crate::reference::parse(text)
        .map_err(|e| RegistryError::Reference(text.to_owned(), e.to_string()))?;
    let auth = auth_for(&reference, env);
    let client = client_for([reference.registry()]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    runtime.block_on(inspect(&client, &reference, &auth))
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
}
