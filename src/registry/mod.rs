//! The registry client: one policy for every request (`distribution`: where credentials go,
//! deadlines, size caps, complete listings, validated digests), one runtime
//! (`crate::runtime::block_on`), one auth path (the user's docker credentials), one rule for plain HTTP
//! (real loopback addresses, and hosts the user names insecure). The commands that talk to a
//! registry are methods here; what they compute from the answers is pure (`cache`).

mod cache;
mod distribution;
pub mod packages;
mod record;
mod verify;

use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;

use oci_client::Reference;

pub use cache::{CacheInfo, Manifest, StoredSize, prune_view, summarize};
pub use distribution::{Distribution, Failure, is_digest, sha256_digest};
pub use record::{RECORD_LIMIT, StoredRecord, Subject};
use verify::BlobStatus;
pub use verify::{RecordCheck, Verification};

use crate::env::Env;
use crate::error::Error;
use crate::reference;
use distribution::{Credentials, MANIFEST_LIMIT};

/// What the registry said about one cache ref, asked with a HEAD request before the build.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Exists,
    Missing,
    /// The registry did not answer (connection refused, DNS, TLS, timeout).
    Unreachable(String),
    /// It answered with an error other than "not found" (401, 403, 5xx).
    Failed(String),
}

impl Probe {
    /// How the log, `regcache plan` and the job summary show it.
    pub fn label(&self) -> &'static str {
        match self {
            Probe::Exists => "found",
            Probe::Missing => "not found",
            Probe::Unreachable(_) | Probe::Failed(_) => "unreadable",
        }
    }
}

/// Where a cache lives: BuildKit's is one manifest under a tag; buildah's is a repository,
/// a tag per step's layer keyed by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLayout {
    Tag,
    Repository,
}

/// A self-signed root made for this (`openssl req -x509`, its private key destroyed): the
/// only root a client trusts when it speaks no TLS at all.
const PLAIN_HTTP_ROOT: &[u8] = include_bytes!("plain-http-root.pem");

/// How long a probe waits for the registry before calling it unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a build that already finished waits to read its exported cache back.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(15);

/// A host served over plain HTTP without being asked: a real loopback address (127.0.0.0/8,
/// `::1`, `localhost`), as dockerd treats them as insecure by default. `127.example.com` is not.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) =>
        {
            host
        }
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub struct Registry<'a> {
    env: &'a Env,
    /// Hosts the user named as plain HTTP (`inspect --insecure`).
    insecure: Vec<String>,
}

impl<'a> Registry<'a> {
    pub fn new(env: &'a Env) -> Self {
        Self {
            env,
            insecure: Vec::new(),
        }
    }

    /// Also use plain HTTP for `host`.
    pub fn with_insecure(mut self, host: &str) -> Self {
        self.insecure.push(host.to_owned());
        self
    }

    fn is_plain(&self, registry: &str) -> bool {
        is_loopback(registry) || self.insecure.iter().any(|i| i == registry)
    }

    /// One HTTP client for the registries about to be asked. Loading the system's trust roots
    /// is most of a client's start-up (about 11 ms of a 14 ms probe on loopback); when every
    /// registry is plain HTTP none is loaded.
    fn http<'r>(
        &self,
        registries: impl IntoIterator<Item = &'r str>,
    ) -> Result<reqwest::Client, Error> {
        let registries: Vec<&str> = registries.into_iter().collect();
        let plain_only = registries.iter().all(|r| self.is_plain(r));
        distribution::http_client(plain_only).map_err(|message| Error::Registry {
            reference: registries.join(", "),
            message,
        })
    }

    /// The user's docker credentials for the registry (`$DOCKER_CONFIG/config.json`, per
    /// registry credential helpers included), or anonymous access.
    fn auth(&self, reference: &Reference) -> Credentials {
        let dir = self.env.docker_config_dir();
        let Some(file) = dir.and_then(|d| std::fs::File::open(d.join("config.json")).ok()) else {
            return Credentials::default();
        };
        // Docker Hub's credentials are stored under its v1 address.
        let server = match reference.registry() {
            "docker.io" => "https://index.docker.io/v1/",
            other => other,
        };
        match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), server) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                Credentials {
                    basic: Some((user, password)),
                    bearer: None,
                }
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => Credentials {
                basic: None,
                bearer: Some(token),
            },
            // The error can hold a helper's output: never shown.
            Err(_) => Credentials::default(),
        }
    }

    /// The policy client for `reference`'s repository.
    fn distribution<'c>(
        &self,
        http: &'c reqwest::Client,
        reference: &Reference,
        credentials: Credentials,
    ) -> Result<Distribution<'c>, Error> {
        Distribution::new(
            http,
            self.is_plain(reference.registry()),
            reference.resolve_registry(),
            reference.repository(),
            credentials,
        )
        .map_err(|message| Error::Registry {
            reference: reference.whole(),
            message,
        })
    }

    fn parse(text: &str) -> Result<Reference, Error> {
        reference::parse(text).map_err(|e| Error::Registry {
            reference: text.to_owned(),
            message: e.to_string(),
        })
    }

    /// Whether each ref exists, all asked at once, credentials per registry: a tag by HEAD, or
    /// with `CacheLayout::Repository` a whole repository by listing one tag.
    pub fn probe_all(
        &self,
        references: &[String],
        layout: CacheLayout,
    ) -> Result<Vec<Probe>, Error> {
        let references: Vec<Reference> = references
            .iter()
            .map(|r| Self::parse(r))
            .collect::<Result<_, _>>()?;
        let http = self.http(references.iter().map(|r| r.registry()))?;
        let clients: Vec<Distribution> = references
            .iter()
            .map(|r| self.distribution(&http, r, self.auth(r)))
            .collect::<Result<_, _>>()?;
        let probes = references
            .iter()
            .zip(&clients)
            .map(|(reference, client)| async move {
                match tokio::time::timeout(PROBE_TIMEOUT, probe(client, reference, layout)).await {
                    Ok(result) => result,
                    Err(_) => {
                        Probe::Unreachable(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
                    }
                }
            });
        Ok(crate::runtime::block_on(futures::future::join_all(probes)))
    }

    /// Read the manifest stored at `text` and go on with `then`, all within `deadline` when one
    /// is given; any problem becomes one error naming the ref.
    fn with_manifest<T>(
        &self,
        text: &str,
        deadline: Option<Duration>,
        then: impl AsyncFnOnce(&Distribution<'_>, Vec<u8>) -> Result<T, String>,
    ) -> Result<T, Error> {
        let reference = Self::parse(text)?;
        let http = self.http([reference.registry()])?;
        let client = self.distribution(&http, &reference, self.auth(&reference))?;
        let work = async {
            let manifest_bytes = client
                .manifest(&manifest_key(&reference))
                .await
                .map_err(|e| e.to_string())?;
            then(&client, manifest_bytes).await
        };
        crate::runtime::block_on(async {
            match deadline {
                Some(deadline) => tokio::time::timeout(deadline, work)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("no complete answer within {}s", deadline.as_secs()))
                    }),
                None => work.await,
            }
        })
        .map_err(|message| Error::Registry {
            reference: reference.whole(),
            message,
        })
    }

    /// The policy client for `reference`'s repository, with `then` run on it within `deadline`.
    fn on_repository<T>(
        &self,
        reference: &Reference,
        deadline: Duration,
        then: impl AsyncFnOnce(&Distribution<'_>) -> Result<T, String>,
    ) -> Result<T, Error> {
        let http = self.http([reference.registry()])?;
        let client = self.distribution(&http, reference, self.auth(reference))?;
        crate::runtime::block_on(async {
            tokio::time::timeout(deadline, then(&client))
                .await
                .unwrap_or_else(|_| {
                    Err(format!("no complete answer within {}s", deadline.as_secs()))
                })
        })
        .map_err(|message| Error::Registry {
            reference: reference.whole(),
            message,
        })
    }

    /// The build record stored beside the cache at `text` (a tag), if it has one.
    pub fn read_record(&self, text: &str) -> Result<Option<StoredRecord>, Error> {
        let reference = Self::parse(text)?;
        let tag = manifest_key(&reference);
        let record_tag = crate::cache::tags::record_tag(&tag);
        self.on_repository(&reference, READ_BACK_TIMEOUT, async |client| {
            record::read(client, &tag, &record_tag).await
        })
    }

    /// `stored` (an encoded record) written beside the cache at `text`, after the cache: its
    /// subject is the cache manifest stored now. The record's tag.
    pub fn write_record(
        &self,
        text: &str,
        stored: &[u8],
        created: &str,
        subject: Option<Subject>,
    ) -> Result<String, Error> {
        let reference = Self::parse(text)?;
        let tag = manifest_key(&reference);
        let record_tag = crate::cache::tags::record_tag(&tag);
        self.on_repository(&reference, READ_BACK_TIMEOUT, async |client| {
            record::write(client, &tag, &record_tag, stored, created, subject)
                .await
                .map_err(|e| e.to_string())
        })?;
        Ok(record_tag)
    }

    /// The cache tag `to` given the manifest `digest`, which the tag `from` held when its
    /// record was read: a registry-side copy. Every tag of a BuildKit cache lives in the one
    /// repository `cache-ref` names (`Engine::cache_location`), so the blobs are there already
    /// and nothing is uploaded; tags of two repositories are refused rather than half-copied.
    pub fn copy_tag(&self, from: &str, digest: &str, to: &str) -> Result<(), Error> {
        let (source, target) = (Self::parse(from)?, Self::parse(to)?);
        if (source.registry(), source.repository()) != (target.registry(), target.repository()) {
            return Err(Error::Registry {
                reference: to.to_owned(),
                message: format!("{from} is in another repository; a copy would upload its blobs"),
            });
        }
        let tag = manifest_key(&target);
        self.on_repository(&target, READ_BACK_TIMEOUT, async |client| {
            let bytes = client.manifest(digest).await.map_err(|e| e.to_string())?;
            client
                .put_manifest(&tag, &record::media_type_of(&bytes), &bytes)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    /// What a cache ref holds: the manifest as stored and the cache config blob.
    pub fn inspect(&self, text: &str) -> Result<CacheInfo, Error> {
        self.with_manifest(text, None, async |client, manifest_bytes| {
            let (config, size) = cache::config_descriptor(&manifest_bytes).map_err(not_a_cache)?;
            let config_bytes = client
                .small_blob(&config, size, MANIFEST_LIMIT)
                .await
                .map_err(|e| format!("the cache config {config}: {e}"))?;
            summarize(&manifest_bytes, &config_bytes).map_err(not_a_cache)
        })
    }

    /// The size of the cache at `text`, from its manifest alone (one request).
    pub fn stored_size(&self, text: &str) -> Result<StoredSize, Error> {
        self.with_manifest(text, Some(READ_BACK_TIMEOUT), async |_, manifest_bytes| {
            cache::stored_size(&manifest_bytes).map_err(not_a_cache)
        })
    }

    /// The policy client for `repository` (`host/name`, no tag), with `explicit` credentials
    /// or else the docker config's, or `token_as_password` (GHCR takes a GitHub token as a
    /// password, with any user name); `then` runs on it to the end.
    pub fn with_repository<T>(
        &self,
        repository: &str,
        explicit: Option<(String, String)>,
        token_as_password: Option<&str>,
        then: impl AsyncFnOnce(&Distribution<'_>) -> Result<T, String>,
    ) -> Result<T, Error> {
        let reference = Self::parse(repository)?;
        let mut credentials = match explicit {
            Some(basic) => Credentials {
                basic: Some(basic),
                bearer: None,
            },
            None => self.auth(&reference),
        };
        if let (Some(token), None) = (token_as_password, &credentials.basic) {
            credentials.basic = Some(("regcache".to_owned(), token.to_owned()));
        }
        let http = self.http([reference.registry()])?;
        let client = self.distribution(&http, &reference, credentials)?;
        crate::runtime::block_on(then(&client)).map_err(|message| Error::Registry {
            reference: repository.to_owned(),
            message,
        })
    }

    /// Whether every blob `text`'s cache lists is there (HEAD), and with `deep` whether each
    /// layer's content is what its annotations say.
    pub fn verify(&self, text: &str, deep: bool) -> Result<Verification, Error> {
        let whole = Self::parse(text)?.whole();
        self.with_manifest(text, None, async |client, manifest_bytes| {
            let blobs = cache::blobs(&manifest_bytes).map_err(not_a_cache)?;
            let checks: Vec<verify::BlobCheck> = if deep {
                let mut checks = Vec::new();
                for blob in &blobs {
                    checks.push(deep_check(client, blob).await);
                }
                checks
            } else {
                futures::stream::iter(blobs.iter().map(|blob| async move {
                    let (status, problem) = match client.blob_exists(&blob.digest).await {
                        Ok(true) => (BlobStatus::Ok, None),
                        Ok(false) => (
                            BlobStatus::Missing,
                            Some("the registry has no such blob".to_owned()),
                        ),
                        Err(e) => (
                            BlobStatus::Missing,
                            Some(format!("could not be checked: {e}")),
                        ),
                    };
                    verify::BlobCheck::of(blob, status, problem, None)
                }))
                .buffered(8)
                .collect()
                .await
            };
            Ok(Verification::new(&whole, deep, checks))
        })
    }
}

/// What a manifest is asked for by: the ref's digest, else its tag (`latest` when it has none,
/// as distribution reads a bare name).
fn manifest_key(reference: &Reference) -> String {
    reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_owned()
}

/// Stream one blob through the checks: its digest and size as it arrives, and for a layer its
/// decompressed content against its annotation.
async fn deep_check(client: &Distribution<'_>, blob: &cache::BlobRef) -> verify::BlobCheck {
    let result = async {
        let mut layer = match &blob.uncompressed {
            Some(expected) => Some(
                verify::LayerCheck::new(blob.compression, expected)
                    .map_err(|p| (BlobStatus::Corrupt, p))?,
            ),
            None => None,
        };
        client
            .blob(&blob.digest, blob.size, |chunk| match &mut layer {
                Some(layer) => layer.update(chunk),
                None => Ok(()),
            })
            .await
            .map_err(|e: Failure| {
                if e.is_not_found() {
                    (BlobStatus::Missing, e.to_string())
                } else {
                    (BlobStatus::Corrupt, e.to_string())
                }
            })?;
        match layer {
            Some(layer) => layer
                .finish()
                .map(Some)
                .map_err(|p| (BlobStatus::Corrupt, p)),
            None => Ok(None),
        }
    }
    .await;
    let (status, problem, uncompressed_bytes) = match result {
        Ok(bytes) => (BlobStatus::Ok, None, bytes),
        Err((status, problem)) => (status, Some(problem), None),
    };
    verify::BlobCheck::of(blob, status, problem, uncompressed_bytes)
}

fn not_a_cache(problem: String) -> String {
    format!("not a BuildKit cache: {problem}")
}

async fn probe(client: &Distribution<'_>, reference: &Reference, layout: CacheLayout) -> Probe {
    let asked = if layout == CacheLayout::Repository {
        client.has_tags().await
    } else {
        client.exists(&manifest_key(reference)).await
    };
    match asked {
        Ok(true) => Probe::Exists,
        Ok(false) => Probe::Missing,
        Err(e) if e.unreachable => Probe::Unreachable(e.message),
        Err(e) => Probe::Failed(e.message),
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_loopback_hosts_get_plain_http_unasked() {
        for host in [
            "127.0.0.1:5055",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.attacker.example",
            "127.example.com:443",
            "ghcr.io",
            "10.0.0.1:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
