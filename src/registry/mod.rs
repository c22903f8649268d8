//! The registry client: one runtime (`crate::block_on`), one auth path (the user's docker
//! credentials), one rule for plain HTTP (real loopback addresses, and hosts the user names
//! insecure). The commands that talk to a registry are methods here; what they compute from
//! the answers is pure (`cache`).

mod cache;
mod distribution;
mod packages;
mod prune;
mod verify;

use std::net::IpAddr;

use futures::StreamExt;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

pub use cache::{CacheInfo, StoredSize, summarize};
pub use prune::{Backend, Outcome};
pub use verify::Verification;

use crate::error::Error;
use crate::platform::Env;
use crate::probe::Probe;
use crate::reference;

/// A self-signed root made for this (`openssl req -x509`, its private key destroyed): the
/// only root a client trusts when it speaks no TLS at all.
const PLAIN_HTTP_ROOT: &[u8] = include_bytes!("plain-http-root.pem");

/// How long a probe waits for the registry before calling it unreachable.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

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

    fn client<'r>(&self, registries: impl IntoIterator<Item = &'r str>) -> Result<Client, Error> {
        let registries: Vec<&str> = registries.into_iter().collect();
        let plain: Vec<String> = registries
            .iter()
            .filter(|r| is_loopback(r) || self.insecure.iter().any(|i| i == *r))
            .map(|r| (*r).to_owned())
            .collect();
        // Loading the system's trust roots is most of the client's start-up (about 11 ms of
        // a 14 ms probe on loopback); when every registry is plain HTTP no TLS is spoken, so
        // the client trusts one placeholder root whose key was destroyed when it was made.
        let tls_certs_only = if plain.len() == registries.len() {
            vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: PLAIN_HTTP_ROOT.to_vec(),
            }]
        } else {
            Vec::new()
        };
        let names = registries.join(", ");
        // `Client::new` would fall back to a default client, which panics where the system has
        // no CA certificates (a slim container image without ca-certificates).
        Client::try_from(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            tls_certs_only,
            ..Default::default()
        })
        .map_err(|e| Error::Registry {
            reference: names,
            message: format!("cannot set up the registry client: {e}. Install the system's CA certificates (Debian/Ubuntu: ca-certificates)"),
        })
    }

    /// The user's docker credentials for the registry (`$DOCKER_CONFIG/config.json`, per
    /// registry credential helpers included), or anonymous access.
    fn auth(&self, reference: &Reference) -> RegistryAuth {
        let dir = self.env.docker_config_dir();
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
            // The error can hold a helper's output: never shown.
            Err(_) => RegistryAuth::Anonymous,
        }
    }

    fn parse(text: &str) -> Result<Reference, Error> {
        reference::parse(text).map_err(|e| Error::Registry {
            reference: text.to_owned(),
            message: e.to_string(),
        })
    }

    /// Whether each ref exists, all asked at once (HEAD), credentials per registry. With
    /// `repositories`, each names a whole repository (buildah's cache), which exists when it
    /// lists a tag.
    pub fn probe_all(
        &self,
        references: &[String],
        repositories: bool,
    ) -> Result<Vec<Probe>, Error> {
        let references: Vec<Reference> = references
            .iter()
            .map(|r| Self::parse(r))
            .collect::<Result<_, _>>()?;
        let client = self.client(references.iter().map(|r| r.registry()))?;
        let auths: Vec<RegistryAuth> = references.iter().map(|r| self.auth(r)).collect();
        let probes = references.iter().zip(&auths).map(|(reference, auth)| {
            let client = &client;
            async move {
                match tokio::time::timeout(
                    PROBE_TIMEOUT,
                    probe(client, reference, auth, repositories),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => {
                        Probe::Unreachable(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
                    }
                }
            }
        });
        Ok(crate::block_on(futures::future::join_all(probes)))
    }

    /// A cache ref, its client and the credentials for it.
    fn open(&self, text: &str) -> Result<(Reference, Client, RegistryAuth), Error> {
        let reference = Self::parse(text)?;
        let client = self.client([reference.registry()])?;
        let auth = self.auth(&reference);
        Ok((reference, client, auth))
    }

    /// Read the manifest stored at `text` and go on with `then`; any problem becomes one
    /// error naming the ref.
    fn with_manifest<T>(
        &self,
        text: &str,
        then: impl AsyncFnOnce(&Client, &Reference, Vec<u8>) -> Result<T, String>,
    ) -> Result<T, Error> {
        let (reference, client, auth) = self.open(text)?;
        crate::block_on(async {
            let manifest_bytes = stored_manifest(&client, &reference, &auth).await?;
            then(&client, &reference, manifest_bytes).await
        })
        .map_err(|message| Error::Registry {
            reference: reference.whole(),
            message,
        })
    }

    /// What a cache ref holds: the manifest as stored and the cache config blob.
    pub fn inspect(&self, text: &str) -> Result<CacheInfo, Error> {
        self.with_manifest(text, async |client, reference, manifest_bytes| {
            let config = cache::config_digest(&manifest_bytes).map_err(not_a_cache)?;
            let mut config_bytes = Vec::new();
            client
                .pull_blob(reference, config.as_str(), &mut config_bytes)
                .await
                .map_err(|e| e.to_string())?;
            summarize(&manifest_bytes, &config_bytes).map_err(not_a_cache)
        })
    }
}

impl Registry<'_> {
    /// The size of the cache at `text`, from its manifest alone (one request).
    pub fn stored_size(&self, text: &str) -> Result<StoredSize, Error> {
        self.with_manifest(text, async |_, _, manifest_bytes| {
            cache::stored_size(&manifest_bytes).map_err(not_a_cache)
        })
    }
}

impl Registry<'_> {
    /// Prune the cache tags of `repository` (`host/name`, no tag) that `live` calls stale.
    pub fn prune(
        &self,
        repository: &str,
        backend: &Backend,
        live: &crate::prune::Liveness,
        delete: bool,
        explicit: Option<(String, String)>,
    ) -> Result<Outcome, Error> {
        let failed = |message: String| Error::Registry {
            reference: repository.to_owned(),
            message,
        };
        let reference = Self::parse(repository)?;
        let registry_host = reference.resolve_registry().to_owned();
        let plain = is_loopback(reference.registry())
            || self.insecure.iter().any(|i| i == reference.registry());
        let mut credentials = prune::credentials(explicit, self.auth(&reference));
        if let (Backend::GitHubPackages { token, .. }, None) = (backend, &credentials.basic) {
            // GHCR takes the GitHub token as a password, with any user name.
            credentials.basic = Some(("regcache".to_owned(), token.clone()));
        }
        let client = distribution::Distribution::new(
            plain,
            &registry_host,
            reference.repository(),
            credentials,
        );
        let mut outcome =
            crate::block_on(prune::prune(&client, backend, live, delete)).map_err(failed)?;
        outcome.repository = repository.to_owned();
        Ok(outcome)
    }
}

impl Registry<'_> {
    /// Whether every blob `text`'s cache lists is there (HEAD), and with `deep` whether each
    /// layer's content is what its annotations say.
    pub fn verify(&self, text: &str, deep: bool) -> Result<Verification, Error> {
        self.with_manifest(text, async |client, reference, manifest_bytes| {
            let blobs = cache::blobs(&manifest_bytes).map_err(not_a_cache)?;
            let checks: Vec<verify::BlobCheck> = if deep {
                let mut checks = Vec::new();
                for blob in &blobs {
                    checks.push(deep_check(client, reference, blob).await);
                }
                checks
            } else {
                futures::stream::iter(blobs.iter().map(|blob| async move {
                    let found = client.blob_exists(reference, &blob.digest).await;
                    let (status, problem) = match found {
                        Ok(true) => ("ok", None),
                        Ok(false) => ("missing", Some("the registry has no such blob".to_owned())),
                        Err(e) => ("missing", Some(format!("could not be checked: {e}"))),
                    };
                    verify::BlobCheck::of(blob, status, problem, None)
                }))
                .buffered(8)
                .collect()
                .await
            };
            Ok(Verification::new(&reference.whole(), deep, checks))
        })
    }
}

/// Stream one blob through the checks: oci-client verifies the compressed digest as the
/// stream ends; a layer is decompressed and hashed on the way.
async fn deep_check(
    client: &Client,
    reference: &Reference,
    blob: &cache::BlobRef,
) -> verify::BlobCheck {
    let result = async {
        let mut layer = match &blob.uncompressed {
            Some(expected) => Some(
                verify::LayerCheck::new(blob.compression, expected).map_err(|p| ("corrupt", p))?,
            ),
            None => None,
        };
        let mut stream = client
            .pull_blob_stream(reference, blob.digest.as_str())
            .await
            .map_err(|e| match e {
                OciDistributionError::ServerError { code: 404, .. } => ("missing", e.to_string()),
                OciDistributionError::RegistryError { ref envelope, .. }
                    if envelope
                        .errors
                        .iter()
                        .any(|e| e.code == OciErrorCode::BlobUnknown) =>
                {
                    ("missing", e.to_string())
                }
                other => ("corrupt", format!("could not be read: {other}")),
            })?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ("corrupt", format!("its bytes do not match its digest: {e}")))?;
            if let Some(layer) = &mut layer {
                layer.update(&chunk).map_err(|p| ("corrupt", p))?;
            }
        }
        match layer {
            Some(layer) => layer.finish().map(Some).map_err(|p| ("corrupt", p)),
            None => Ok(None),
        }
    }
    .await;
    let (status, problem, uncompressed_bytes) = match result {
        Ok(bytes) => ("ok", None, bytes),
        Err((status, problem)) => (status, Some(problem), None),
    };
    verify::BlobCheck::of(blob, status, problem, uncompressed_bytes)
}

fn not_a_cache(problem: String) -> String {
    format!("not a BuildKit cache: {problem}")
}

/// The manifest as the registry stores it, in either cache form.
async fn stored_manifest(
    client: &Client,
    reference: &Reference,
    auth: &RegistryAuth,
) -> Result<Vec<u8>, String> {
    client
        .pull_manifest_raw(reference, auth, cache::MANIFEST_MEDIA_TYPES)
        .await
        .map(|(bytes, _digest)| bytes.to_vec())
        .map_err(|e| e.to_string())
}

fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

async fn probe(
    client: &Client,
    reference: &Reference,
    auth: &RegistryAuth,
    repository: bool,
) -> Probe {
    use OciDistributionError as E;
    let asked = if repository {
        client
            .list_tags(reference, auth, Some(1), None)
            .await
            .map(|list| !list.tags.is_empty())
    } else {
        client
            .fetch_manifest_digest(reference, auth)
            .await
            .map(|_digest| true)
    };
    match asked {
        Ok(true) => Probe::Exists,
        Ok(false) => Probe::Missing,
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
