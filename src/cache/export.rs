//! Whether a build's cache export can add anything. BuildKit's exporter writes a new cache
//! manifest on every build that passes `--cache-to`, even when every step came from the cache
//! it read: time spent, a new digest on the tag (which registries with immutable tags refuse)
//! and an orphaned manifest left for the registry's collector. A build runs without
//! `--cache-to` only when a full hit is expected and the skip is certain once it is seen;
//! anything less exports, and a build that then misses a step exports afterwards. Pure.
//!
//! When is a step "served by the imported cache"? BuildKit's solver asks one combined cache
//! manager, the builder's own records first and then the imported ones
//! (`solver/combinedcache.go`, `NewCombinedCacheManager(cacheManagers, main)`), and progress
//! says `cached` whichever answered (`solver/jobs.go`, `vertexStream` / `Cached`). So a cached
//! step proves the imported cache holds it only on a builder with no records of its own: that
//! is checked before the build (`builder_records`), and a builder with any export as before.

use crate::record::BuildRecord;
use crate::record::explain::first_change;

/// What a build does about its own cache tag, decided before it starts.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportPlan {
    /// `--cache-to` passed as before: the export runs with the build.
    WithBuild { why: String },
    /// No `--cache-to` for the tag the build writes. A full hit leaves the tag as it is
    /// (`from` is that tag) or points it at the manifest of `from`, the fallback every step
    /// came from; a build that missed anything exports after it.
    IfMissed {
        from: String,
        copy: bool,
        /// The digest of the manifest `from` held when its record was read: what a copy
        /// gives the written tag.
        manifest: Option<String>,
    },
}

/// A cache of the read chain with what its build record says.
pub struct Stored<'a> {
    pub reference: &'a str,
    /// The digest of the manifest the tag held when its record was read.
    pub manifest: Option<&'a str>,
    /// The record describing the cache as stored now, or why there is none to trust.
    pub record: Result<&'a BuildRecord, String>,
}

/// What a build asks of its export, known before it starts.
pub struct Asked<'a> {
    /// The tag the build writes.
    pub write: &'a str,
    /// This build as planned (`Facts::planned`).
    pub planned: &'a BuildRecord,
    /// The export's options in stored form (`CacheEntry::stored_form`).
    pub export: &'a str,
    /// A reason the build must export whatever it reads (user cache-to entries, no-cache…).
    pub must_export: Option<String>,
}

/// The plan, from the caches the build reads first (the tag it writes, when it exists, then
/// the chain's source): the first whose record says it holds every step of this build.
pub fn plan(asked: &Asked<'_>, stored: &[Stored<'_>]) -> ExportPlan {
    if let Some(why) = &asked.must_export {
        return ExportPlan::WithBuild { why: why.clone() };
    }
    let mut reasons = Vec::new();
    for cache in stored {
        let why = match &cache.record {
            Err(why) => Some(why.clone()),
            Ok(record) if record.export.is_empty() => {
                Some("its record does not name the options it was exported with".into())
            }
            Ok(record) if record.export != asked.export => Some(format!(
                "it was exported with other options than this build's {}",
                asked.export
            )),
            Ok(record) => first_change(asked.planned, record),
        };
        match why {
            None => {
                return ExportPlan::IfMissed {
                    from: cache.reference.to_owned(),
                    copy: cache.reference != asked.write,
                    manifest: cache.manifest.map(str::to_owned),
                };
            }
            Some(why) => reasons.push(format!("{}: {why}", cache.reference)),
        }
    }
    ExportPlan::WithBuild {
        why: if reasons.is_empty() {
            "no cache to compare with".into()
        } else {
            reasons.join("; ")
        },
    }
}

/// The plan once the builder is asked how many cache records it holds: with any, a cached
/// step may be the builder's own, so the build exports.
pub fn confirm(plan: ExportPlan, builder_records: Result<usize, String>) -> ExportPlan {
    match (&plan, builder_records) {
        (ExportPlan::WithBuild { .. }, _) | (_, Ok(0)) => plan,
        (_, Ok(n)) => ExportPlan::WithBuild {
            why: format!(
                "the builder holds {n} cache record(s) of its own, so a cached step may not be in the registry's cache"
            ),
        },
        (_, Err(e)) => ExportPlan::WithBuild {
            why: format!("the builder's own cache could not be read ({e})"),
        },
    }
}

/// What follows a build run without `--cache-to`.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterBuild {
    /// A failed build, or a plan that exported with it: nothing more.
    Nothing,
    /// Every step came from the tag the build writes: left as it is.
    Keep,
    /// Every step came from `from`: the written tag gets its manifest, `manifest`.
    Copy {
        from: String,
        manifest: Option<String>,
    },
    /// A step missed: export now (a second solve, every step local by now).
    Export,
}

pub fn after(plan: &ExportPlan, succeeded: bool, full_hit: bool) -> AfterBuild {
    match plan {
        ExportPlan::WithBuild { .. } => AfterBuild::Nothing,
        ExportPlan::IfMissed { .. } if !succeeded => AfterBuild::Nothing,
        ExportPlan::IfMissed { .. } if !full_hit => AfterBuild::Export,
        ExportPlan::IfMissed { copy: false, .. } => AfterBuild::Keep,
        ExportPlan::IfMissed {
            from,
            copy: true,
            manifest,
        } => AfterBuild::Copy {
            from: from.clone(),
            manifest: manifest.clone(),
        },
    }
}

/// What the build did to its cache tag without exporting: `cache-exported` says it.
#[derive(Debug, Clone, PartialEq)]
pub enum Untouched {
    /// Every step came from the tag: same manifest, same digest.
    Kept,
    /// Every step came from `from`, whose manifest the tag now holds.
    Copied { from: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::record;
    use crate::record::{FileSet, StageFacts, StepFacts};

    const EXPORT: &str = "mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip";

    fn build(files: &str, run: &str) -> BuildRecord {
        let step = |ordinal: usize, line: u32, text: &str, files: Option<&str>| StepFacts {
            stage: "stage-0".into(),
            ordinal,
            line,
            instruction: text.into(),
            shaped_by: Vec::new(),
            cached: true,
            args: Vec::new(),
            copies_from: None,
            files: files.map(|d| FileSet {
                digest: d.into(),
                files: None,
                sources: [(".".to_owned(), d.to_owned())].into(),
            }),
        };
        let mut r = record(vec![
            step(0, 2, "COPY . .", Some(files)),
            step(1, 3, run, None),
        ]);
        r.export = EXPORT.into();
        r.stages = vec![StageFacts {
            label: "stage-0".into(),
            line: 1,
            from: "base".into(),
            base: "base".into(),
            base_digest: None,
            base_stage: None,
        }];
        r
    }

    fn asked<'a>(planned: &'a BuildRecord, export: &'a str) -> Asked<'a> {
        Asked {
            write: "r/app:buildcache-pr-1",
            planned,
            export,
            must_export: None,
        }
    }

    #[test]
    fn the_first_cache_describing_this_build_is_kept_or_copied() {
        let now = build("sha256:a", "RUN make");
        let same = build("sha256:a", "RUN make");
        let older = build("sha256:0", "RUN make");
        let own = |r| Stored {
            reference: "r/app:buildcache-pr-1",
            manifest: Some("sha256:1"),
            record: Ok(r),
        };
        let main = |r| Stored {
            reference: "r/app:buildcache-main",
            manifest: Some("sha256:2"),
            record: Ok(r),
        };
        assert_eq!(
            plan(&asked(&now, EXPORT), &[own(&same), main(&same)]),
            ExportPlan::IfMissed {
                from: "r/app:buildcache-pr-1".into(),
                copy: false,
                manifest: Some("sha256:1".into())
            }
        );
        assert_eq!(
            plan(&asked(&now, EXPORT), &[own(&older), main(&same)]),
            ExportPlan::IfMissed {
                from: "r/app:buildcache-main".into(),
                copy: true,
                manifest: Some("sha256:2".into())
            }
        );
        let ExportPlan::WithBuild { why } = plan(&asked(&now, EXPORT), &[own(&older)]) else {
            panic!("a changed file must export");
        };
        assert!(why.starts_with("r/app:buildcache-pr-1: COPY . . (line 2): file-changed"));
    }

    #[test]
    fn other_export_options_an_unread_record_or_a_must_export_reason_export() {
        let now = build("sha256:a", "RUN make");
        let same = build("sha256:a", "RUN make");
        let stored = [Stored {
            reference: "r/app:buildcache-pr-1",
            manifest: None,
            record: Ok(&same),
        }];
        let zstd = "mode=max,oci-mediatypes=true,image-manifest=true,compression=zstd";
        assert_eq!(
            plan(&asked(&now, zstd), &stored),
            ExportPlan::WithBuild {
                why: format!(
                    "r/app:buildcache-pr-1: it was exported with other options than this build's {zstd}"
                )
            }
        );
        let mut unnamed = same.clone();
        unnamed.export.clear();
        assert!(matches!(
            plan(&asked(&now, EXPORT), &[Stored { reference: "r/app:buildcache-pr-1", manifest: None, record: Ok(&unnamed) }]),
            ExportPlan::WithBuild { why } if why.contains("does not name the options")
        ));
        assert_eq!(
            plan(
                &asked(&now, EXPORT),
                &[Stored {
                    reference: "r/app:buildcache-pr-1",
                    manifest: None,
                    record: Err("it has none".into())
                }]
            ),
            ExportPlan::WithBuild {
                why: "r/app:buildcache-pr-1: it has none".into()
            }
        );
        let mut must = asked(&now, EXPORT);
        must.must_export = Some("cache-to entries are given".into());
        assert_eq!(
            plan(&must, &stored),
            ExportPlan::WithBuild {
                why: "cache-to entries are given".into()
            }
        );
        assert_eq!(
            plan(&asked(&now, EXPORT), &[]),
            ExportPlan::WithBuild {
                why: "no cache to compare with".into()
            }
        );
        let edited = build("sha256:a", "RUN make all");
        assert!(matches!(
            plan(&asked(&edited, EXPORT), &stored),
            ExportPlan::WithBuild { why } if why.contains("instruction-changed")
        ));
    }

    #[test]
    fn a_builder_with_records_of_its_own_exports() {
        let skip = ExportPlan::IfMissed {
            from: "r/app:c".into(),
            copy: false,
            manifest: None,
        };
        assert_eq!(confirm(skip.clone(), Ok(0)), skip);
        assert!(matches!(
            confirm(skip.clone(), Ok(3)),
            ExportPlan::WithBuild { why } if why.starts_with("the builder holds 3 cache record(s)")
        ));
        assert!(matches!(
            confirm(skip, Err("no answer".into())),
            ExportPlan::WithBuild { why } if why.contains("(no answer)")
        ));
        let export = ExportPlan::WithBuild { why: "x".into() };
        assert_eq!(confirm(export.clone(), Ok(0)), export);
    }

    #[test]
    fn after_the_build_a_full_hit_keeps_or_copies_and_a_miss_exports() {
        let keep = ExportPlan::IfMissed {
            from: "r/app:c".into(),
            copy: false,
            manifest: Some("sha256:1".into()),
        };
        let copy = ExportPlan::IfMissed {
            from: "r/app:main".into(),
            copy: true,
            manifest: Some("sha256:2".into()),
        };
        let with = ExportPlan::WithBuild { why: "x".into() };
        assert_eq!(after(&keep, true, true), AfterBuild::Keep);
        assert_eq!(
            after(&copy, true, true),
            AfterBuild::Copy {
                from: "r/app:main".into(),
                manifest: Some("sha256:2".into())
            }
        );
        assert_eq!(after(&keep, true, false), AfterBuild::Export);
        assert_eq!(after(&copy, true, false), AfterBuild::Export);
        assert_eq!(after(&keep, false, false), AfterBuild::Nothing);
        assert_eq!(after(&with, true, true), AfterBuild::Nothing);
    }
}
