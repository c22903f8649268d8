//! `regcache bake`'s pure parts: the definition buildx prints (`definition`), bake-action's
//! arguments with regcache's per-target cache overrides (`argv`), each target's cache
//! overrides and whether its export waits for the build (here), and the report (`report`).
//! `commands::bake` chains them with the effects.

pub mod argv;
pub mod definition;
pub mod report;

use crate::plan::CacheEntries;
use crate::probe::Selection;
use definition::Target;

/// Whether a target builds without regcache's `--cache-to`, exporting only if a step misses:
/// the tag it writes is the first of its chain that exists, so a full hit would export what
/// the tag already holds. Never with `no-cache`, or when the target writes a cache of its own.
pub fn defers_export(target: &Target, selection: &Selection, no_cache: bool) -> bool {
    let write = selection.refs.write.as_deref();
    write.is_some() && selection.source() == write && !no_cache && target.cache_to.is_empty()
}

/// The `--set`s that give a target regcache's cache entries: regcache's first, then the
/// target's own from the bake file (a `--set` replaces the file's list, so they are given
/// again). A key regcache has nothing for is left to the file; `export: false` leaves out
/// regcache's `cache-to`.
pub fn cache_sets(target: &Target, entries: &CacheEntries, export: bool) -> Vec<String> {
    let mut sets = Vec::new();
    let ours_to = if export { entries.to.as_slice() } else { &[] };
    for (key, ours, own) in [
        ("cache-from", entries.from.as_slice(), &target.cache_from),
        ("cache-to", ours_to, &target.cache_to),
    ] {
        if ours.is_empty() {
            continue;
        }
        sets.extend(
            ours.iter()
                .map(|entry| entry.to_csv())
                .chain(own.iter().cloned())
                .map(|entry| format!("{}.{key}={entry}", target.name)),
        );
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entries::CacheEntry;
    use crate::plan::CacheRefs;
    use crate::probe::Candidate;
    use crate::registry::Probe;

    fn target(cache_from: &[&str], cache_to: &[&str]) -> Target {
        Target {
            name: "api".into(),
            cache_from: cache_from.iter().map(|s| s.to_string()).collect(),
            cache_to: cache_to.iter().map(|s| s.to_string()).collect(),
            ..Target::default()
        }
    }

    fn entries() -> CacheEntries {
        CacheEntries {
            from: vec![
                CacheEntry::registry_import("r/a:buildcache-pr-1--api"),
                CacheEntry::registry_import("r/a:buildcache-main--api"),
            ],
            to: vec![CacheEntry::registry_export(
                "r/a:buildcache-pr-1--api",
                &crate::config::validate(&crate::inputs::RawInputs::default())
                    .unwrap()
                    .cache,
            )],
        }
    }

    #[test]
    fn a_targets_own_entries_are_kept_after_regcaches() {
        let sets = cache_sets(&target(&["type=gha"], &[]), &entries(), true);
        assert_eq!(
            sets[0],
            "api.cache-from=type=registry,ref=r/a:buildcache-pr-1--api"
        );
        assert_eq!(
            sets[1],
            "api.cache-from=type=registry,ref=r/a:buildcache-main--api"
        );
        assert_eq!(sets[2], "api.cache-from=type=gha");
        assert!(
            sets[3].starts_with("api.cache-to=type=registry,ref=r/a:buildcache-pr-1--api,"),
            "{}",
            sets[3]
        );
        assert_eq!(sets.len(), 4);
        let own_to = cache_sets(&target(&[], &["type=inline"]), &entries(), true);
        assert_eq!(own_to.last().unwrap(), "api.cache-to=type=inline");
        let deferred = cache_sets(&target(&[], &["type=inline"]), &entries(), false);
        assert!(
            deferred.iter().all(|s| !s.contains("cache-to")),
            "{deferred:?}"
        );
        assert_eq!(
            cache_sets(&target(&["type=gha"], &[]), &CacheEntries::default(), true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn only_a_write_tag_that_is_the_source_defers_its_export() {
        let selection = |probes: [Probe; 2]| Selection {
            candidates: ["r/a:c-pr-1", "r/a:c-main"]
                .iter()
                .zip(probes)
                .map(|(r, p)| Candidate {
                    reference: r.to_string(),
                    probe: Some(p),
                    why: String::new(),
                })
                .collect(),
            refs: CacheRefs {
                read: Vec::new(),
                write: Some("r/a:c-pr-1".into()),
            },
            warnings: Vec::new(),
        };
        let plain = target(&[], &[]);
        assert!(defers_export(
            &plain,
            &selection([Probe::Exists, Probe::Exists]),
            false
        ));
        assert!(!defers_export(
            &plain,
            &selection([Probe::Missing, Probe::Exists]),
            false
        ));
        assert!(!defers_export(
            &plain,
            &selection([Probe::Exists, Probe::Exists]),
            true
        ));
        assert!(!defers_export(
            &target(&[], &["type=inline"]),
            &selection([Probe::Exists, Probe::Missing]),
            false
        ));
    }
}
