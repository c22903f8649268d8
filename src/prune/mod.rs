//! Which cache tags are stale and which manifests may go: pure, over what the registry said.
//! The request (`request`: flags checked into a typed request), the run (`run`: the registry
//! read into an inventory, then the deletes) and the outcome with its renderings (`outcome`)
//! are the other rooms here; this file only decides.
//!
//! The safety rule (the one cleanup tools have broken, snok/container-retention-policy#43,
//! actions/delete-package-versions#90): every manifest a kept tag reaches is kept, through
//! image-index children and `subject` referrers in both directions, and when any of those
//! manifests cannot be read nothing is deleted. Deleting a digest removes every tag on it
//! (OCI distribution spec, "Deleting Manifests"), so a digest goes only when all its tags
//! are stale. Only BuildKit cache manifests are ever deleted.

mod outcome;
mod request;
mod run;

pub use outcome::Outcome;
pub use request::{Flags, FromEnv, Request, command};
pub use run::prune;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::cache::tags::{TagOwner, branch_key, read_tag};
pub use crate::registry::Manifest;

/// What makes a cache tag live: the lists of live branches and open requests (when known),
/// the default branch (always live) and an age limit.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub prefix: String,
    pub default_branch: String,
    pub branches: Option<Vec<String>>,
    pub requests: Option<Vec<u64>>,
    pub older_than: Option<Duration>,
    pub now: OffsetDateTime,
}

/// Everything the registry said about one repository.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every tag and the digest it resolves to.
    pub tags: Vec<(String, String)>,
    /// Digests without a tag that the registry lists (GHCR's versions left by overwrites).
    pub untagged: Vec<String>,
    pub manifests: BTreeMap<String, Manifest>,
    /// Digests whose manifest could not be read, with why.
    pub unreadable: BTreeMap<String, String>,
    /// Subjects the registry does not hold (a referrer's subject already deleted, such as the
    /// earlier cache a build record described): nothing a deletion can break.
    pub absent: BTreeSet<String>,
}

/// One digest to delete, with every tag it carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deletion {
    pub digest: String,
    pub tags: Vec<String>,
    pub age_days: Option<i64>,
    pub why: String,
}

/// One tag (or untagged digest) that stays, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub tag: Option<String>,
    pub digest: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Cleanup {
    pub delete: Vec<Deletion>,
    pub keep: Vec<Kept>,
    /// Set when nothing may be deleted in this repository, with why.
    pub blocked: Option<String>,
}

/// Whether one tag is stale, judged by its name and age alone.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Keep(String),
    Stale(String),
}

fn age_days(written: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<i64> {
    written.map(|w| (now - w).whole_days())
}

fn describe_age(age: Duration) -> String {
    if age.whole_hours() % 24 == 0 {
        format!("{} days", age.whole_days())
    } else {
        format!("{} hours", age.whole_hours())
    }
}

fn judge(live: &Liveness, tag: &str, written: Option<OffsetDateTime>) -> Verdict {
    let Some((owner, scope)) = read_tag(&live.prefix, tag) else {
        return Verdict::Keep(format!("not a cache tag (no `{}` prefix)", live.prefix));
    };
    let branch_key = |branch: &str| branch_key(branch, &live.prefix, scope);
    let owner_is_live = match &owner {
        TagOwner::Shared => return Verdict::Keep("the shared cache".into()),
        TagOwner::Branch { slug } if *slug == branch_key(&live.default_branch) => {
            return Verdict::Keep(format!(
                "the default branch ({})'s cache",
                live.default_branch
            ));
        }
        TagOwner::Branch { slug } => match &live.branches {
            Some(branches) => match branches.iter().find(|b| branch_key(b) == *slug) {
                Some(branch) => Some(format!("branch {branch} exists")),
                None => {
                    return Verdict::Stale(format!(
                        "its branch is gone (not among {} live branches)",
                        branches.len()
                    ));
                }
            },
            None => None,
        },
        TagOwner::Request { kind, number } => match &live.requests {
            Some(open) if open.contains(number) => Some(format!("{} is open", kind.name(*number))),
            Some(_) => {
                return Verdict::Stale(format!("{} is closed", kind.name(*number)));
            }
            None => None,
        },
    };
    if let (Some(limit), Some(written)) = (live.older_than, written) {
        if live.now - written > limit {
            return Verdict::Stale(format!(
                "not written for {} days (older than {})",
                (live.now - written).whole_days(),
                describe_age(limit)
            ));
        }
    }
    Verdict::Keep(
        owner_is_live.unwrap_or_else(|| match (live.older_than, written) {
            (Some(_), Some(_)) => "written recently".into(),
            (Some(_), None) => "its age is unknown".into(),
            (None, _) => "nothing says it is stale".into(),
        }),
    )
}

/// Every manifest the kept digests need, each with the kept tag that reaches it; or the
/// first needed manifest that could not be read.
fn reachable(
    inventory: &Inventory,
    roots: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, (String, String)> {
    let mut reached: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: Vec<(String, String)> =
        roots.iter().map(|(d, t)| (d.clone(), t.clone())).collect();
    loop {
        while let Some((digest, root)) = queue.pop() {
            if reached.contains_key(&digest) || inventory.absent.contains(&digest) {
                continue;
            }
            if let Some(problem) = inventory.unreadable.get(&digest) {
                return Err((digest, problem.clone()));
            }
            let Some(manifest) = inventory.manifests.get(&digest) else {
                return Err((digest, "its manifest was not read".into()));
            };
            queue.extend(manifest.children.iter().map(|c| (c.clone(), root.clone())));
            queue.extend(manifest.subject.iter().map(|s| (s.clone(), root.clone())));
            reached.insert(digest, root);
        }
        // Referrers of a reached manifest (its attestations and signatures) are needed too.
        for (digest, manifest) in &inventory.manifests {
            if let Some(subject) = &manifest.subject {
                if !reached.contains_key(digest) {
                    if let Some(root) = reached.get(subject) {
                        queue.push((digest.clone(), root.clone()));
                    }
                }
            }
        }
        if queue.is_empty() {
            return Ok(reached);
        }
    }
}

/// A build record's verdict is its cache's: kept together, stale together; a record whose
/// cache tag is gone is stale.
fn judge_record(record: &str, cache_verdicts: &BTreeMap<String, (&str, &Verdict)>) -> Verdict {
    match cache_verdicts.get(record) {
        Some((cache, Verdict::Keep(_))) => {
            Verdict::Keep(format!("the build record of {cache}, which is kept"))
        }
        Some((cache, Verdict::Stale(why))) => Verdict::Stale(format!(
            "the build record of {cache}, which is stale: {why}"
        )),
        None => Verdict::Stale("a build record whose cache tag is gone".into()),
    }
}

/// What prune does in one repository: every tag judged, what kept tags reach kept with them,
/// the rest of the stale caches (and their records) deleted; nothing at all when the view is
/// incomplete.
pub fn cleanup(inventory: &Inventory, live: &Liveness) -> Cleanup {
    let written = |digest: &str| inventory.manifests.get(digest).and_then(|m| m.written);
    let is_record = |tag: &str| tag.ends_with(crate::cache::tags::RECORD_SUFFIX);
    let cache_verdicts: Vec<(&str, &str, Verdict)> = inventory
        .tags
        .iter()
        .filter(|(tag, _)| !is_record(tag))
        .map(|(tag, digest)| {
            (
                tag.as_str(),
                digest.as_str(),
                judge(live, tag, written(digest)),
            )
        })
        .collect();
    let by_record_tag: BTreeMap<String, (&str, &Verdict)> = cache_verdicts
        .iter()
        .map(|(tag, _, verdict)| (crate::cache::tags::record_tag(tag), (*tag, verdict)))
        .collect();
    let record_verdicts: Vec<(&str, &str, Verdict)> = inventory
        .tags
        .iter()
        .filter(|(tag, _)| is_record(tag))
        .map(|(tag, digest)| {
            (
                tag.as_str(),
                digest.as_str(),
                judge_record(tag, &by_record_tag),
            )
        })
        .collect();
    let mut verdicts = cache_verdicts.clone();
    verdicts.extend(record_verdicts);
    let mut roots: BTreeMap<String, String> = BTreeMap::new();
    for (tag, digest, verdict) in &verdicts {
        if matches!(verdict, Verdict::Keep(_)) {
            roots
                .entry((*digest).to_owned())
                .or_insert_with(|| (*tag).to_owned());
        }
    }
    let blocked = |why: String| Cleanup {
        delete: Vec::new(),
        keep: verdicts
            .iter()
            .map(|(tag, digest, _)| kept(Some(tag), digest, why.clone()))
            .collect(),
        blocked: Some(why),
    };
    // Prune acts only on a complete view: a manifest it could not read may be the index or
    // referrer that a deletion would break, whether or not a kept tag reaches it.
    if let Some((digest, problem)) = inventory.unreadable.iter().next() {
        return blocked(format!(
            "nothing is deleted in this repository: {digest} could not be read ({problem}), and prune deletes only when it has read every tag and manifest; fix access to it and run again"
        ));
    }
    let reached = match reachable(inventory, &roots) {
        Ok(reached) => reached,
        Err((digest, problem)) => {
            return blocked(format!(
                "nothing is deleted in this repository: {digest}, which a kept tag needs, could not be read ({problem}); fix access to it and run again"
            ));
        }
    };
    let protection = Protection {
        inventory,
        roots: &roots,
        reached: &reached,
    };
    sort_stale(&protection, &verdicts, live)
}

fn kept(tag: Option<&str>, digest: &str, reason: String) -> Kept {
    Kept {
        tag: tag.map(str::to_owned),
        digest: digest.to_owned(),
        reason,
    }
}

/// What keeps a stale digest: a kept tag on it or reaching it, or its not being a cache.
struct Protection<'a> {
    inventory: &'a Inventory,
    roots: &'a BTreeMap<String, String>,
    reached: &'a BTreeMap<String, String>,
}

impl Protection<'_> {
    fn deletable(&self, digest: &str) -> Result<(), String> {
        if let Some(root) = self.reached.get(digest) {
            return Err(if self.roots.contains_key(digest) {
                format!("stale, but its digest is also tagged {root}, which is kept")
            } else {
                format!("stale, but kept tag {root} needs this manifest")
            });
        }
        match self.inventory.manifests.get(digest) {
            Some(manifest) if manifest.is_cache || manifest.is_record => Ok(()),
            Some(_) => {
                Err("stale, but neither a BuildKit cache manifest nor a build record".into())
            }
            None => Err(format!(
                "stale, but its manifest could not be read ({})",
                self.inventory
                    .unreadable
                    .get(digest)
                    .map_or("not read", String::as_str)
            )),
        }
    }
}

/// The verdicts sorted: kept tags kept, each stale digest (with all its tags) and each
/// untagged cache deleted unless something protects it.
fn sort_stale(
    protection: &Protection<'_>,
    verdicts: &[(&str, &str, Verdict)],
    live: &Liveness,
) -> Cleanup {
    let inventory = protection.inventory;
    let written = |digest: &str| inventory.manifests.get(digest).and_then(|m| m.written);
    let mut cleanup = Cleanup::default();
    let mut stale: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (tag, digest, verdict) in verdicts {
        match verdict {
            Verdict::Keep(reason) => cleanup.keep.push(kept(Some(tag), digest, reason.clone())),
            Verdict::Stale(why) => stale.entry(digest).or_default().push((tag, why)),
        }
    }
    for (digest, tags) in stale {
        match protection.deletable(digest) {
            Ok(()) => cleanup.delete.push(Deletion {
                digest: digest.to_owned(),
                tags: tags.iter().map(|(t, _)| (*t).to_owned()).collect(),
                age_days: age_days(written(digest), live.now),
                why: tags
                    .iter()
                    .map(|(_, why)| *why)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Err(reason) => cleanup.keep.extend(
                tags.iter()
                    .map(|(tag, _)| kept(Some(tag), digest, reason.clone())),
            ),
        }
    }
    for digest in &inventory.untagged {
        match protection.deletable(digest) {
            Ok(()) => cleanup.delete.push(Deletion {
                digest: digest.clone(),
                tags: Vec::new(),
                age_days: age_days(written(digest), live.now),
                why: if inventory.manifests.get(digest).is_some_and(|m| m.is_record) {
                    "an untagged build record, left when its tag was overwritten".into()
                } else {
                    "an untagged cache, left when its tag was overwritten".into()
                },
            }),
            Err(reason) => cleanup.keep.push(kept(
                None,
                digest,
                reason.replacen("stale, but ", "untagged, but ", 1),
            )),
        }
    }
    cleanup
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Liveness {
        Liveness {
            prefix: "buildcache".into(),
            default_branch: "main".into(),
            branches: Some(vec!["main".into(), "feature/a".into()]),
            requests: Some(vec![7]),
            older_than: None,
            now: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    fn cache(written_days_ago: i64) -> Manifest {
        Manifest {
            is_cache: true,
            written: Some(live().now - Duration::days(written_days_ago)),
            ..Manifest::default()
        }
    }

    fn inventory(tags: &[(&str, &str)], manifests: &[(&str, Manifest)]) -> Inventory {
        Inventory {
            tags: tags
                .iter()
                .map(|(t, d)| ((*t).to_owned(), (*d).to_owned()))
                .collect(),
            manifests: manifests
                .iter()
                .map(|(d, m)| ((*d).to_owned(), m.clone()))
                .collect(),
            ..Inventory::default()
        }
    }

    fn deleted_tags(plan: &Cleanup) -> Vec<String> {
        plan.delete.iter().flat_map(|d| d.tags.clone()).collect()
    }

    fn reason_of<'p>(plan: &'p Cleanup, tag: &str) -> &'p str {
        &plan
            .keep
            .iter()
            .find(|k| k.tag.as_deref() == Some(tag))
            .unwrap_or_else(|| panic!("{tag} kept"))
            .reason
    }

    fn record_of(cache_digest: &str) -> Manifest {
        Manifest {
            is_record: true,
            subject: Some(cache_digest.to_owned()),
            ..Manifest::default()
        }
    }

    #[test]
    fn a_record_goes_with_its_cache_and_an_orphaned_record_is_stale() {
        let inv = inventory(
            &[
                ("buildcache-main", "d1"),
                ("buildcache-main.regcache", "r1"),
                ("buildcache-pr-8", "d2"),
                ("buildcache-pr-8.regcache", "r2"),
                ("buildcache-pr-9.regcache", "r3"),
                ("latest.regcache", "r4"),
            ],
            &[
                ("d1", cache(1)),
                ("r1", record_of("d1")),
                ("d2", cache(1)),
                ("r2", record_of("d2")),
                ("r3", record_of("gone")),
                ("r4", Manifest::default()),
            ],
        );
        let plan = cleanup(&inv, &live());
        assert_eq!(
            deleted_tags(&plan),
            [
                "buildcache-pr-8",
                "buildcache-pr-8.regcache",
                "buildcache-pr-9.regcache"
            ]
        );
        assert_eq!(
            reason_of(&plan, "buildcache-main.regcache"),
            "the build record of buildcache-main, which is kept"
        );
        let orphan = plan.delete.iter().find(|d| d.digest == "r3").unwrap();
        assert_eq!(orphan.why, "a build record whose cache tag is gone");
        // A tag that only looks like a record is never deleted: its manifest is no record.
        assert!(
            reason_of(&plan, "latest.regcache")
                .contains("neither a BuildKit cache manifest nor a build record")
        );
    }

    #[test]
    fn a_kept_record_whose_subject_is_absent_blocks_nothing() {
        let mut inv = inventory(
            &[
                ("buildcache-main", "d1"),
                ("buildcache-main.regcache", "r1"),
                ("buildcache-pr-8", "d2"),
            ],
            &[
                ("d1", cache(1)),
                ("r1", record_of("earlier")),
                ("d2", cache(1)),
            ],
        );
        inv.absent.insert("earlier".into());
        let plan = cleanup(&inv, &live());
        assert_eq!(plan.blocked, None);
        assert_eq!(deleted_tags(&plan), ["buildcache-pr-8"]);
        // Without the registry's word that it is gone, the same view stops every deletion.
        inv.absent.clear();
        assert!(cleanup(&inv, &live()).blocked.is_some());
    }

    #[test]
    fn gone_branches_and_closed_requests_are_stale_live_ones_and_the_default_stay() {
        // `feature/a` is not a tag part as it is: its tag carries a hash.
        let feature_a = format!("buildcache-{}", branch_key("feature/a", "buildcache", None));
        assert_ne!(feature_a, "buildcache-feature-a");
        let inv = inventory(
            &[
                ("buildcache-main", "d1"),
                (feature_a.as_str(), "d2"),
                ("buildcache-feature-gone", "d3"),
                ("buildcache-pr-7", "d4"),
                ("buildcache-pr-8", "d5"),
                ("buildcache", "d6"),
                ("latest", "d7"),
                ("buildcache-pr-8--api", "d8"),
            ],
            &[
                ("d1", cache(1)),
                ("d2", cache(1)),
                ("d3", cache(1)),
                ("d4", cache(1)),
                ("d5", cache(1)),
                ("d6", cache(1)),
                ("d7", Manifest::default()),
                ("d8", cache(1)),
            ],
        );
        let plan = cleanup(&inv, &live());
        assert_eq!(
            deleted_tags(&plan),
            [
                "buildcache-feature-gone",
                "buildcache-pr-8",
                "buildcache-pr-8--api"
            ]
        );
        assert_eq!(plan.delete[1].why, "pull request #8 is closed");
        assert_eq!(
            plan.delete[0].why,
            "its branch is gone (not among 2 live branches)"
        );
        assert_eq!(
            reason_of(&plan, "buildcache-main"),
            "the default branch (main)'s cache"
        );
        assert_eq!(reason_of(&plan, &feature_a), "branch feature/a exists");
        assert_eq!(
            reason_of(&plan, "buildcache-pr-7"),
            "pull request #7 is open"
        );
        assert_eq!(reason_of(&plan, "buildcache"), "the shared cache");
        assert_eq!(
            reason_of(&plan, "latest"),
            "not a cache tag (no `buildcache` prefix)"
        );
        assert!(plan.blocked.is_none());
    }

    #[test]
    fn age_makes_any_but_the_default_and_shared_caches_stale() {
        let inv = inventory(
            &[
                ("buildcache-main", "d1"),
                ("buildcache-feature-a", "d2"),
                ("buildcache-pr-7", "d3"),
                ("buildcache-mr-9", "d4"),
                ("buildcache", "d5"),
            ],
            &[
                ("d1", cache(30)),
                ("d2", cache(20)),
                ("d3", cache(3)),
                (
                    "d4",
                    Manifest {
                        written: None,
                        ..cache(0)
                    },
                ),
                ("d5", cache(40)),
            ],
        );
        let live = Liveness {
            branches: None,
            requests: None,
            older_than: Some(Duration::days(14)),
            ..live()
        };
        let plan = cleanup(&inv, &live);
        assert_eq!(deleted_tags(&plan), ["buildcache-feature-a"]);
        assert_eq!(plan.delete[0].age_days, Some(20));
        assert_eq!(
            plan.delete[0].why,
            "not written for 20 days (older than 14 days)"
        );
        assert_eq!(reason_of(&plan, "buildcache-pr-7"), "written recently");
        assert_eq!(reason_of(&plan, "buildcache-mr-9"), "its age is unknown");
        // The limit is "older than": exactly 14 days is kept.
        let edge = inventory(&[("buildcache-x", "d")], &[("d", cache(14))]);
        assert!(cleanup_of(&edge, &live).delete.is_empty());
    }

    fn cleanup_of(inv: &Inventory, live: &Liveness) -> Cleanup {
        cleanup(inv, live)
    }

    #[test]
    fn a_digest_shared_with_a_kept_tag_stays_and_one_shared_by_stale_tags_goes_once() {
        let inv = inventory(
            &[
                ("buildcache-main", "shared"),
                ("buildcache-gone", "shared"),
                ("buildcache-pr-1", "both-stale"),
                ("buildcache-pr-2", "both-stale"),
            ],
            &[("shared", cache(1)), ("both-stale", cache(1))],
        );
        let plan = cleanup(&inv, &live());
        assert_eq!(plan.delete.len(), 1);
        assert_eq!(plan.delete[0].digest, "both-stale");
        assert_eq!(plan.delete[0].tags, ["buildcache-pr-1", "buildcache-pr-2"]);
        assert_eq!(
            reason_of(&plan, "buildcache-gone"),
            "stale, but its digest is also tagged buildcache-main, which is kept"
        );
    }

    #[test]
    fn children_and_referrers_of_kept_tags_are_never_deleted() {
        let index = Manifest {
            children: vec!["child".into()],
            ..Manifest::default()
        };
        let attestation = Manifest {
            is_cache: true,
            subject: Some("child".into()),
            ..Manifest::default()
        };
        let mut inv = inventory(
            &[
                ("v1", "index"),
                ("buildcache-pr-1", "child"),
                ("buildcache-pr-2", "attestation"),
            ],
            &[
                ("index", index),
                ("child", cache(1)),
                ("attestation", attestation),
                ("orphan", cache(1)),
            ],
        );
        inv.untagged = vec!["attestation".into(), "orphan".into()];
        let plan = cleanup(&inv, &live());
        assert_eq!(
            plan.delete
                .iter()
                .map(|d| d.digest.as_str())
                .collect::<Vec<_>>(),
            ["orphan"]
        );
        assert_eq!(
            reason_of(&plan, "buildcache-pr-1"),
            "stale, but kept tag v1 needs this manifest"
        );
        assert_eq!(
            reason_of(&plan, "buildcache-pr-2"),
            "stale, but kept tag v1 needs this manifest"
        );
        assert!(
            plan.keep
                .iter()
                .any(|k| k.tag.is_none() && k.digest == "attestation")
        );
    }

    #[test]
    fn a_kept_tag_that_cannot_be_read_blocks_every_deletion() {
        let mut inv = inventory(
            &[("buildcache-main", "d1"), ("buildcache-pr-8", "d2")],
            &[("d2", cache(1))],
        );
        inv.unreadable
            .insert("d1".into(), "401 Unauthorized".into());
        let plan = cleanup(&inv, &live());
        assert!(plan.delete.is_empty());
        assert_eq!(plan.keep.len(), 2);
        let blocked = plan.blocked.unwrap();
        assert!(
            blocked.contains("d1") && blocked.contains("401 Unauthorized"),
            "{blocked}"
        );
        // A child a kept index lists but nobody could read blocks too.
        let index = Manifest {
            children: vec!["missing".into()],
            ..Manifest::default()
        };
        let inv = inventory(
            &[("v1", "index"), ("buildcache-pr-8", "d2")],
            &[("index", index), ("d2", cache(1))],
        );
        assert!(cleanup_of(&inv, &live()).blocked.is_some());
    }

    #[test]
    fn only_cache_manifests_are_deleted() {
        let inv = inventory(
            &[("buildcache-pr-8", "image"), ("buildcache-pr-9", "unread")],
            &[("image", Manifest::default())],
        );
        let plan = cleanup(&inv, &live());
        assert!(plan.delete.is_empty());
        assert_eq!(
            reason_of(&plan, "buildcache-pr-8"),
            "stale, but neither a BuildKit cache manifest nor a build record"
        );
        assert_eq!(
            reason_of(&plan, "buildcache-pr-9"),
            "stale, but its manifest could not be read (not read)"
        );
    }

    #[test]
    fn long_branch_names_match_their_hashed_slugs_in_any_scope() {
        let long = "feature/".to_owned() + &"x".repeat(200);
        let settings = crate::cache::settings::PolicySettings {
            scope: vec!["api".into()],
            ..Default::default()
        };
        let tag = crate::cache::tags::tag(&settings, crate::cache::tags::Key::Branch(&long));
        let inv = inventory(&[(tag.as_str(), "d")], &[("d", cache(1))]);
        let with_branch = Liveness {
            branches: Some(vec![long.clone()]),
            ..live()
        };
        assert!(cleanup(&inv, &with_branch).delete.is_empty());
        assert_eq!(deleted_tags(&cleanup(&inv, &live())), [tag]);
    }
}
