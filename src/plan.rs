//! The plan: which cache entries a build reads and writes, and the files the engine writes into
//! or reads from. Pure: the pipeline creates the files, the engine turns the plan into argv.

use std::path::PathBuf;

use crate::cache::decision::Decision;
use crate::cache::entries::CacheEntry;
use crate::config::{Config, InputError, InvalidInputs, SecretSource};
use crate::reference;

/// Files the pipeline creates for the engine to write into or read from.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFiles {
    pub metadata: PathBuf,
    pub iidfile: PathBuf,
    /// Secret id and where buildx reads it (a value is in a 0600 file by now).
    pub secrets: Vec<(String, SecretSource)>,
}

/// The cache refs a build reads (in order, only those that exist when probed) and writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CacheRefs {
    pub read: Vec<String>,
    pub write: Option<String>,
}

/// The `--cache-from` and `--cache-to` entries, in the order the engine gets them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CacheEntries {
    pub from: Vec<CacheEntry>,
    pub to: Vec<CacheEntry>,
}

/// The decided refs first, then the user's own entries.
pub fn cache_entries(config: &Config, refs: &CacheRefs) -> CacheEntries {
    let mut from: Vec<CacheEntry> = refs
        .read
        .iter()
        .map(|r| CacheEntry::registry_import(r))
        .collect();
    from.extend(config.extra_cache_from.iter().cloned());
    let mut to: Vec<CacheEntry> = refs
        .write
        .iter()
        .map(|r| CacheEntry::registry_export(r, &config.cache))
        .collect();
    to.extend(config.extra_cache_to.iter().cloned());
    CacheEntries { from, to }
}

/// A decided cache tag must not be an image tag (a prefix like `latest` could make one):
/// exporting the cache there would replace the image.
pub fn check_cache_tags(config: &Config, decision: &Decision) -> Result<(), InvalidInputs> {
    let images: Vec<_> = config
        .build
        .tags
        .iter()
        .filter_map(|t| reference::parse(t).ok())
        .collect();
    let record_tags = decision
        .read
        .iter()
        .chain(decision.write.iter())
        .filter(|tag| tag.ends_with(crate::cache::tags::RECORD_SUFFIX))
        .map(|tag| InputError {
            input: "cache-ref",
            problem: format!(
                "the cache tag `{tag}` ends in `{}`, which regcache keeps for build records; choose a tag that does not",
                crate::cache::tags::RECORD_SUFFIX
            ),
        });
    let errors: Vec<InputError> = decision
        .read
        .iter()
        .chain(decision.write.iter())
        .filter_map(|tag| {
            let cache = config.cache_ref(tag)?;
            let image = images.iter().find(|t| reference::same_tag(t, &cache))?;
            Some(InputError {
                input: "cache-prefix",
                problem: format!(
                    "the cache tag `{}` is also an image tag (`{}`); choose another cache-prefix",
                    cache.whole(),
                    image.whole()
                ),
            })
        })
        .chain(record_tags)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidInputs(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate;
    use crate::inputs::RawInputs;

    #[test]
    fn a_decided_cache_tag_cannot_be_an_image_tag() {
        let mut raw = RawInputs::default();
        raw.set("tags", "r/app:buildcache");
        let config = validate(&raw).unwrap();
        let decision = |tag: &str| Decision {
            read: vec![tag.into()],
            why: vec![String::new()],
            write: Some(tag.into()),
            reason: String::new(),
        };
        let err = check_cache_tags(&config, &decision("buildcache"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "input `cache-prefix`: the cache tag `docker.io/r/app:buildcache` is also an image tag (`docker.io/r/app:buildcache`); choose another cache-prefix\n\
             input `cache-prefix`: the cache tag `docker.io/r/app:buildcache` is also an image tag (`docker.io/r/app:buildcache`); choose another cache-prefix"
        );
        assert_eq!(
            check_cache_tags(&config, &decision("buildcache-main")),
            Ok(())
        );
        let err = check_cache_tags(&config, &decision("main.regcache"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("input `cache-ref`: the cache tag `main.regcache` ends in `.regcache`, which regcache keeps for build records"),
            "{err}"
        );
    }
}
