//! Prune carried out: the registry read into an inventory (tags resolved, manifests read, or
//! GHCR's package versions listed), the plan decided (`super::plan`), then the deletes,
//! paced, through the registry's policy client. Two backends: the registry API (tags listed
//! and manifests deleted by digest) and, for GHCR, GitHub's Packages API (versions listed and
//! deleted; manifests still read through the registry).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;

use super::outcome::{Failed, Outcome};
use super::request::{Backend, Request};
use super::{Cleanup, Deletion, Inventory, Kept, Liveness};
use crate::error::Error;
use crate::registry::packages::{Package, Refusal};
use crate::registry::{Distribution, Registry};

/// Requests in flight at once while reading a repository.
const CONCURRENCY: usize = 8;
/// The pause between two deletions. GitHub's secondary rate limit allows about 180 package
/// deletions a minute (5 of 900 points each, docs.github.com "Rate limits for the REST API").
const REGISTRY_DELETE_INTERVAL: Duration = Duration::from_millis(50);
const PACKAGES_DELETE_INTERVAL: Duration = Duration::from_millis(350);

/// Read every manifest the digests lead to (children, subjects), `CONCURRENCY` at a time. A
/// subject the registry answers 404 for is absent, not unreadable: a referrer may outlive it
/// (a build record of a cache since overwritten), and a deletion cannot break what is gone.
/// A tagged manifest or an index's child that cannot be read stays unreadable.
async fn read_manifests(
    registry: &Distribution<'_>,
    inventory: &mut Inventory,
    start: Vec<String>,
) {
    // Each digest to read, and whether it is only known as a subject.
    let mut queue: BTreeMap<String, bool> = start.into_iter().map(|d| (d, false)).collect();
    while !queue.is_empty() {
        let batch: Vec<(String, bool)> = std::mem::take(&mut queue).into_iter().collect();
        let answers: Vec<(String, bool, Result<Vec<u8>, crate::registry::Failure>)> =
            futures::stream::iter(batch.into_iter().map(|(digest, subject)| async move {
                let answer = registry.manifest(&digest).await;
                (digest, subject, answer)
            }))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (digest, subject_only, answer) in answers {
            let answer = match answer {
                Err(e) if subject_only && e.answered_404() => {
                    inventory.absent.insert(digest);
                    continue;
                }
                other => other.map_err(|e| e.to_string()),
            };
            match answer.and_then(|bytes| crate::registry::prune_view(&bytes)) {
                Ok(manifest) => {
                    let next = manifest
                        .children
                        .iter()
                        .map(|c| (c, false))
                        .chain(manifest.subject.iter().map(|s| (s, true)));
                    for (next, as_subject) in next {
                        if !inventory.manifests.contains_key(next)
                            && !inventory.unreadable.contains_key(next)
                            && *next != digest
                        {
                            let entry = queue.entry(next.clone()).or_insert(as_subject);
                            *entry &= as_subject;
                        }
                    }
                    inventory.manifests.insert(digest, manifest);
                }
                Err(problem) => {
                    inventory.unreadable.insert(digest, problem);
                }
            }
        }
    }
}

/// The registry backend's inventory: every tag resolved with HEAD, then the manifests.
async fn registry_inventory(registry: &Distribution<'_>) -> Result<Inventory, String> {
    let tags = registry
        .tags()
        .await
        .map_err(|e| format!("listing the tags of {}: {e}", registry.name()))?;
    let resolved: Vec<(String, Result<String, String>)> =
        futures::stream::iter(tags.into_iter().map(|tag| async move {
            let digest = registry.resolve(&tag).await.map_err(|e| e.to_string());
            (tag, digest)
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut inventory = Inventory::default();
    for (tag, digest) in resolved {
        match digest {
            Ok(digest) => inventory.tags.push((tag, digest)),
            Err(problem) => {
                // Known by its tag alone: kept if stale, and blocking if a kept tag.
                let unresolved = format!("(unresolved tag {tag})");
                inventory.unreadable.insert(unresolved.clone(), problem);
                inventory.tags.push((tag, unresolved));
            }
        }
    }
    inventory.tags.sort();
    let digests = inventory
        .tags
        .iter()
        .map(|(_, d)| d.clone())
        .filter(|d| !inventory.unreadable.contains_key(d))
        .collect();
    read_manifests(registry, &mut inventory, digests).await;
    Ok(inventory)
}

/// The Packages backend's inventory: versions and their tags from the API, GitHub's own
/// update time as each one's age, the manifests from the registry.
async fn packages_inventory(
    registry: &Distribution<'_>,
    package: &mut Package<'_>,
) -> Result<(Inventory, BTreeMap<String, u64>), String> {
    let versions = package.versions().await?;
    if let Some(bad) = versions
        .iter()
        .find(|v| !crate::registry::is_digest(&v.digest))
    {
        return Err(format!(
            "package version {} is named `{}`, which is not a sha256/sha512 digest; prune acts only on a complete, valid listing",
            bad.id,
            bad.digest.escape_default()
        ));
    }
    let mut inventory = Inventory::default();
    let mut ids = BTreeMap::new();
    for version in &versions {
        ids.insert(version.digest.clone(), version.id);
        if version.tags.is_empty() {
            inventory.untagged.push(version.digest.clone());
        }
        for tag in &version.tags {
            inventory.tags.push((tag.clone(), version.digest.clone()));
        }
    }
    inventory.tags.sort();
    read_manifests(
        registry,
        &mut inventory,
        versions.iter().map(|v| v.digest.clone()).collect(),
    )
    .await;
    for version in &versions {
        if let Some(manifest) = inventory.manifests.get_mut(&version.digest) {
            manifest.written = Some(version.updated);
        }
    }
    Ok((inventory, ids))
}

/// The explanation for a registry that refuses deletes.
fn deletes_refused(status: Option<reqwest::StatusCode>, codes: &[String]) -> bool {
    status == Some(reqwest::StatusCode::METHOD_NOT_ALLOWED)
        || codes.iter().any(|c| c == "UNSUPPORTED")
}

const DELETES_DISABLED: &str = "the registry does not allow deletes (405/UNSUPPORTED): a distribution registry needs `storage: delete: enabled: true` in its configuration; GHCR refuses registry deletes and is pruned through GitHub's Packages API (regcache uses it for ghcr.io, or give --backend github-packages); nothing more was tried";

/// Prune `request.repository` as the request says: credentials in the order a user expects
/// (explicit ones, then the docker config; on GHCR the GitHub token as the password).
pub fn prune(registry: &Registry<'_>, request: &Request) -> Result<Outcome, Error> {
    let token_as_password = match &request.backend {
        Backend::GitHubPackages { token, .. } => Some(token.as_str()),
        Backend::Registry => None,
    };
    let mut outcome = registry.with_repository(
        &request.repository,
        request.credentials.clone(),
        token_as_password,
        async |client| {
            prune_repository(client, &request.backend, &request.live, request.delete).await
        },
    )?;
    outcome.repository = request.repository.clone();
    Ok(outcome)
}

/// The inventory, the plan, and (with `delete`) the deletions.
async fn prune_repository(
    registry: &Distribution<'_>,
    backend: &Backend,
    live: &Liveness,
    delete: bool,
) -> Result<Outcome, String> {
    let client = match backend {
        Backend::GitHubPackages { api_url, token } => Some(
            crate::platform::github_api::build_client(api_url, Some(token))?,
        ),
        Backend::Registry => None,
    };
    let mut package = client.as_ref().map(|client| {
        let (owner, name) = registry
            .name()
            .split_once('/')
            .unwrap_or((registry.name(), ""));
        Package::new(client, owner, name)
    });
    let (inventory, ids) = match &mut package {
        Some(package) => packages_inventory(registry, package).await?,
        None => (registry_inventory(registry).await?, BTreeMap::new()),
    };
    let Cleanup {
        delete: planned,
        keep,
        blocked,
    } = super::cleanup(&inventory, live);
    let mut outcome = Outcome {
        repository: registry.name().to_owned(),
        dry_run: !delete,
        deleted: Vec::new(),
        would_delete: Vec::new(),
        kept: keep,
        failed: Vec::new(),
        blocked,
    };
    if delete {
        delete_planned(registry, package.as_ref(), &ids, planned, &mut outcome).await;
    } else {
        outcome.would_delete = planned;
    }
    Ok(outcome)
}

/// The planned deletions, paced, each one's result in `outcome`; after a registry says it
/// refuses deletes, the rest are failed with its reason rather than tried.
async fn delete_planned(
    registry: &Distribution<'_>,
    package: Option<&Package<'_>>,
    ids: &BTreeMap<String, u64>,
    planned: Vec<Deletion>,
    outcome: &mut Outcome,
) {
    let interval = if package.is_some() {
        PACKAGES_DELETE_INTERVAL
    } else {
        REGISTRY_DELETE_INTERVAL
    };
    let mut refused: Option<&str> = None;
    for (i, deletion) in planned.into_iter().enumerate() {
        if let Some(why) = refused {
            outcome.failed.push(Failed {
                deletion,
                error: why.to_owned(),
            });
            continue;
        }
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        let result = match package {
            Some(package) => match ids.get(&deletion.digest) {
                Some(id) => match package.delete(*id).await {
                    Ok(()) => Ok(()),
                    Err(Refusal::Kept(reason)) => {
                        outcome.kept.extend(kept_by_github(&deletion, &reason));
                        continue;
                    }
                    Err(Refusal::Failed(error)) => Err(error),
                },
                None => Err("no package version has this digest".to_owned()),
            },
            None => registry.delete(&deletion.digest).await.map_err(|e| {
                if deletes_refused(e.status, &e.codes) {
                    refused = Some(DELETES_DISABLED);
                    format!("{e}; {DELETES_DISABLED}")
                } else {
                    e.to_string()
                }
            }),
        };
        match result {
            Ok(()) => outcome.deleted.push(deletion),
            Err(error) => outcome.failed.push(Failed { deletion, error }),
        }
    }
}

fn kept_by_github(deletion: &Deletion, reason: &str) -> Vec<Kept> {
    let kept = |tag: Option<String>| Kept {
        tag,
        digest: deletion.digest.clone(),
        reason: reason.to_owned(),
    };
    if deletion.tags.is_empty() {
        vec![kept(None)]
    } else {
        deletion.tags.iter().cloned().map(Some).map(kept).collect()
    }
}
