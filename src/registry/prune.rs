//! `regcache prune`: gather what a cache repository holds, let `crate::prune` decide, then
//! delete (or, in a dry run, only say what would go). Two backends: the registry API
//! (tags listed and manifests deleted by digest) and, for GHCR, GitHub's Packages API
//! (versions listed and deleted; manifests still read through the registry).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use super::distribution::Distribution;
use super::packages::{Package, Refusal};
use crate::prune::{Deletion, Inventory, Kept, Liveness, Plan};

/// Requests in flight at once while reading a repository.
const CONCURRENCY: usize = 8;
/// The pause between two deletions. GitHub's secondary rate limit allows about 180 package
/// deletions a minute (5 of 900 points each, docs.github.com "Rate limits for the REST API").
const REGISTRY_DELETE_INTERVAL: Duration = Duration::from_millis(50);
const PACKAGES_DELETE_INTERVAL: Duration = Duration::from_millis(350);

/// Where deletions go.
#[derive(Debug, Clone)]
pub enum Backend {
    Registry,
    /// GHCR: the Packages API at `api_url` (GitHub Enterprise keeps its `/api/v3`).
    GitHubPackages {
        api_url: String,
        token: String,
    },
}

/// A deletion that was tried and failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(flatten)]
    pub deletion: Deletion,
    pub error: String,
}

/// What prune did (or, in a dry run, would do) in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub repository: String,
    pub dry_run: bool,
    pub deleted: Vec<Deletion>,
    /// In a dry run: what `--delete` would delete.
    pub would_delete: Vec<Deletion>,
    pub kept: Vec<Kept>,
    pub failed: Vec<Failed>,
    /// Why nothing was deleted, when something stopped it.
    pub blocked: Option<String>,
}

/// Read every manifest the digests lead to (children, subjects), `CONCURRENCY` at a time.
async fn read_manifests(
    registry: &Distribution<'_>,
    inventory: &mut Inventory,
    start: Vec<String>,
) {
    let mut queue: BTreeSet<String> = start.into_iter().collect();
    while !queue.is_empty() {
        let batch: Vec<String> = std::mem::take(&mut queue).into_iter().collect();
        let answers: Vec<(String, Result<Vec<u8>, String>)> =
            futures::stream::iter(batch.into_iter().map(|digest| async move {
                let answer = registry.manifest(&digest).await.map_err(|e| e.to_string());
                (digest, answer)
            }))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (digest, answer) in answers {
            match answer.and_then(|bytes| super::cache::prune_view(&bytes)) {
                Ok(manifest) => {
                    for next in manifest.children.iter().chain(&manifest.subject) {
                        if !inventory.manifests.contains_key(next)
                            && !inventory.unreadable.contains_key(next)
                            && *next != digest
                        {
                            queue.insert(next.clone());
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
    if let Some(bad) = versions.iter().find(|v| !super::is_digest(&v.digest)) {
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

pub async fn prune(
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
    let Plan {
        delete: planned,
        keep,
        blocked,
    } = crate::prune::plan(&inventory, live);
    let mut outcome = Outcome {
        repository: registry.name().to_owned(),
        dry_run: !delete,
        deleted: Vec::new(),
        would_delete: Vec::new(),
        kept: keep,
        failed: Vec::new(),
        blocked,
    };
    if !delete {
        outcome.would_delete = planned;
        return Ok(outcome);
    }
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
        let result = match &package {
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
    Ok(outcome)
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

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn tags_text(tags: &[String]) -> String {
    if tags.is_empty() {
        "(untagged)".to_owned()
    } else {
        tags.join(", ")
    }
}

/// A line of the plan as printed: the registry's words (errors, tags) are outside text.
fn line(text: String) -> String {
    format!("{}\n", crate::escape::one_line(&text))
}

fn age_text(days: Option<i64>) -> String {
    days.map_or("age unknown".to_owned(), |d| format!("{d} days old"))
}

impl Outcome {
    /// The plan and what happened, a line per digest or tag, for the log; each line is one
    /// line whatever the registry said.
    pub fn human(&self) -> String {
        let mut text = line(format!(
            "prune {}{}",
            self.repository,
            if self.dry_run {
                " (dry run: nothing is deleted; --delete deletes)"
            } else {
                ""
            }
        ));
        let deletion = |verb: &str, d: &Deletion| {
            line(format!(
                "{verb:<13} {}  {}  {}: {}",
                short(&d.digest),
                tags_text(&d.tags),
                age_text(d.age_days),
                d.why
            ))
        };
        for d in &self.would_delete {
            text += &deletion("would delete", d);
        }
        for d in &self.deleted {
            text += &deletion("deleted", d);
        }
        for f in &self.failed {
            text += &line(format!(
                "{:<13} {}  {}: {}",
                "FAILED",
                short(&f.deletion.digest),
                tags_text(&f.deletion.tags),
                f.error
            ));
        }
        for k in &self.kept {
            text += &line(format!(
                "{:<13} {}  {}: {}",
                "keep",
                short(&k.digest),
                k.tag.as_deref().unwrap_or("(untagged)"),
                k.reason
            ));
        }
        if let Some(why) = &self.blocked {
            text += &line(format!("BLOCKED: {why}"));
        }
        text += &format!(
            "{} {}, {} kept, {} failed\n",
            if self.dry_run {
                self.would_delete.len()
            } else {
                self.deleted.len()
            },
            if self.dry_run {
                "would be deleted"
            } else {
                "deleted"
            },
            self.kept.len(),
            self.failed.len()
        );
        text
    }

    /// Step outputs: counts, and the whole outcome as JSON.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("deleted", self.deleted.len().to_string()),
            ("would-delete", self.would_delete.len().to_string()),
            ("kept", self.kept.len().to_string()),
            ("failed", self.failed.len().to_string()),
            (
                "result",
                serde_json::to_string(self).expect("the outcome serialises"),
            ),
        ]
    }

    /// The job summary: what went (or would go), what failed, and how many stayed.
    pub fn summary_markdown(&self) -> String {
        use crate::escape::{code, code_in_table, markdown};
        let mut md = format!("### regcache prune {}\n\n", code(&self.repository));
        let rows: Vec<(&str, &Deletion, &str)> = self
            .deleted
            .iter()
            .map(|d| ("deleted", d, d.why.as_str()))
            .chain(
                self.would_delete
                    .iter()
                    .map(|d| ("would delete", d, d.why.as_str())),
            )
            .chain(
                self.failed
                    .iter()
                    .map(|f| ("failed", &f.deletion, f.error.as_str())),
            )
            .collect();
        if !rows.is_empty() {
            md += "| result | tags | digest | age | why |\n|---|---|---|---|---|\n";
            for (result, d, why) in rows {
                md += &format!(
                    "| {result} | {} | {} | {} | {} |\n",
                    markdown(&tags_text(&d.tags)),
                    code_in_table(short(&d.digest)),
                    age_text(d.age_days),
                    markdown(why)
                );
            }
        }
        if let Some(why) = &self.blocked {
            md += &format!("\n**Nothing deleted:** {}\n", markdown(why));
        }
        md += &format!("\n{} tags kept.\n", self.kept.len());
        md
    }
}
