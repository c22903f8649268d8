//! A build record in the registry: an OCI artifact (image-spec v1.1 "Guidelines for Artifact
//! Usage": `artifactType`, the empty config `application/vnd.oci.empty.v1+json`, one layer)
//! whose `subject` is the cache manifest it describes, stored under the cache tag's record tag
//! (`record::record_tag`). A tag of its own rather than the referrers API: Docker's
//! distribution 2.x, many mirrors and older Harbor and ECR releases have no referrers
//! endpoint, and prune lists tags anyway; the `subject` still tells a reader whether the record
//! describes the cache as it is stored now, and lets registries that index referrers show it.

use serde::Deserialize;
use serde_json::json;

use super::cache::{RECORD_ARTIFACT_TYPE, RECORD_LAYER_MEDIA_TYPE};
use super::distribution::{Distribution, Failure, sha256_digest};

/// The most a stored record weighs; a larger one is neither written nor read.
pub const RECORD_LIMIT: usize = 256 << 10;
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A cache's record as stored (its layer's bytes, for `crate::record` to decode), and whether
/// it describes the cache as stored now.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub bytes: Vec<u8>,
    /// False when the cache tag was written again without a record (bare buildx, an older
    /// regcache) after this record was: it then describes another cache.
    pub current: bool,
    /// The digest of the cache manifest its tag held when the record was read.
    pub cache_digest: Option<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(rename = "artifactType", default)]
    artifact_type: String,
    #[serde(default)]
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
}

/// The record stored at `record_tag`, its manifest checked and its layer read within
/// `RECORD_LIMIT`; None when there is none.
pub async fn read(
    client: &Distribution<'_>,
    cache_tag: &str,
    record_tag: &str,
) -> Result<Option<StoredRecord>, String> {
    let (cache, manifest) = futures::join!(client.resolve(cache_tag), client.manifest(record_tag));
    let manifest = match manifest {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("the build record {record_tag}: {e}")),
    };
    let artifact: ArtifactManifest = serde_json::from_slice(&manifest)
        .map_err(|e| format!("{record_tag} is not a build record: {e}"))?;
    let layer = match artifact.layers.as_slice() {
        [layer]
            if artifact.artifact_type == RECORD_ARTIFACT_TYPE
                && layer.media_type == RECORD_LAYER_MEDIA_TYPE =>
        {
            layer
        }
        _ => return Err(format!("{record_tag} is not a regcache build record")),
    };
    let bytes = client
        .small_blob(&layer.digest, layer.size, RECORD_LIMIT)
        .await
        .map_err(|e| format!("the build record {record_tag}: {e}"))?;
    let cache = cache.ok();
    Ok(Some(StoredRecord {
        current: artifact.subject.map(|s| s.digest) == cache && cache.is_some(),
        cache_digest: cache,
        bytes,
    }))
}

/// The media type a manifest names itself (an OCI image manifest when it names none).
pub fn media_type_of(manifest: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_owned())
}

/// The cache manifest a record describes: its OCI descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// `stored` (an encoded record) written at `record_tag`, its subject the cache manifest the
/// build exported (from buildx's metadata), else the one `cache_tag` holds now. The record's
/// manifest digest.
pub async fn write(
    client: &Distribution<'_>,
    cache_tag: &str,
    record_tag: &str,
    stored: &[u8],
    created: &str,
    subject: Option<Subject>,
) -> Result<String, Failure> {
    let subject = match subject {
        Some(subject) => subject,
        None => {
            let cache = client.manifest(cache_tag).await?;
            Subject {
                media_type: media_type_of(&cache),
                digest: sha256_digest(&cache),
                size: cache.len() as u64,
            }
        }
    };
    if stored.len() > RECORD_LIMIT {
        return Err(Failure::refused(format!(
            "the record is {} bytes, over the {RECORD_LIMIT} a record may weigh",
            stored.len()
        )));
    }
    // The two blobs at once: one round trip less on the build's critical path.
    let (config, layer) =
        futures::join!(client.push_blob(EMPTY_CONFIG), client.upload_blob(stored));
    let (config, layer) = (config?, layer?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": RECORD_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config, "size": EMPTY_CONFIG.len()},
        "layers": [{"mediaType": RECORD_LAYER_MEDIA_TYPE, "digest": layer, "size": stored.len()}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.opencontainers.image.created": created},
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Failure::refused(e.to_string()))?;
    client
        .put_manifest(record_tag, MANIFEST_MEDIA_TYPE, &bytes)
        .await
}
