//! A build's record, the effects around the pure `record` room: the Dockerfile read before the
//! engine starts, the context hashed and the records read while it runs, then the misses
//! explained, the record written after the cache, and the report told. A record that cannot be
//! read or written is a warning, never a failed build.

use std::collections::BTreeSet;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Context;
use crate::cache::entries::CacheEntry;
use crate::cache::export::Stored;
use crate::config::Config;
use crate::dockerfile::{self, Dockerfile, Stage};
use crate::engine::Finished;
use crate::error::Error;
use crate::platform::{Level, Log};
use crate::probe::Selection;
use crate::record::context::{self, Hashed};
use crate::record::explain::{self, Read};
use crate::record::facts::{self, Facts};
use crate::record::{BuildRecord, Run, history, last_runs};
use crate::registry::{CacheLayout, Registry};
use crate::report::Report;
use crate::stats::ImportOutcome;

/// The most of a Dockerfile regcache reads.
const DOCKERFILE_LIMIT: u64 = 1 << 20;

/// The Dockerfile as the build will read it, and the local context its COPY steps take from.
pub(super) struct Before {
    pub dockerfile: Dockerfile,
    /// Its path as the record and the first miss name it.
    pub path: String,
    /// The local context directory (None for a remote context: nothing is hashed).
    pub context: Option<PathBuf>,
}

/// The Dockerfile read from `file` (else `<context>/Dockerfile`), when it can be: a remote
/// context's Dockerfile is not on this machine.
pub(super) fn before(file: Option<&str>, context: &str, shown: Option<String>) -> Option<Before> {
    let remote = context.contains("://") || context.starts_with("git@") || context == "-";
    let path = match file {
        Some(file) => PathBuf::from(file),
        None if remote => return None,
        None => Path::new(context).join("Dockerfile"),
    };
    let mut text = String::new();
    std::fs::File::open(&path)
        .ok()?
        .take(DOCKERFILE_LIMIT)
        .read_to_string(&mut text)
        .ok()?;
    Some(Before {
        dockerfile: dockerfile::parse(&text),
        path: shown.unwrap_or_else(|| path.display().to_string()),
        context: (!remote).then(|| PathBuf::from(context)),
    })
}

/// A build record read beside a cache and decoded, and whether it describes the cache as
/// stored now.
pub(super) struct ReadRecord {
    pub record: BuildRecord,
    pub current: bool,
    /// The cache manifest its tag held when read.
    pub cache_digest: Option<String>,
}

/// The record beside the cache `reference`, read and decoded; None when it has none.
pub(super) fn read_record(
    registry: &Registry<'_>,
    reference: &str,
) -> Result<Option<ReadRecord>, Error> {
    let Some(stored) = registry.read_record(reference)? else {
        return Ok(None);
    };
    let record = BuildRecord::decode(&stored.bytes).map_err(|problem| Error::Registry {
        reference: reference.to_owned(),
        message: format!("its build record: {problem}"),
    })?;
    Ok(Some(ReadRecord {
        record,
        current: stored.current,
        cache_digest: stored.cache_digest,
    }))
}

/// What is gathered while the engine runs.
pub struct Gathered {
    hashed: Option<Hashed>,
    /// The record of the cache read first, and of the tag this build writes.
    source: Option<Result<Option<ReadRecord>, Error>>,
    own: Option<Result<Option<ReadRecord>, Error>>,
}

impl Before {
    /// The files each of the Dockerfile's context COPY steps takes, hashed (None for a remote
    /// context).
    pub(super) fn hash_context(&self) -> Option<Hashed> {
        let copies: Vec<Vec<String>> = facts::context_copies(&self.dockerfile)
            .into_iter()
            .map(|(_, _, sources)| sources)
            .collect();
        self.context
            .as_deref()
            .map(|dir| context::hash(dir, &copies))
    }
}

/// The context hashed and the records read (run beside the engine).
pub fn gather(ctx: &Context, selection: &Selection, before: &Before) -> Gathered {
    let hashed = before.hash_context();
    let registry = Registry::new(&ctx.env);
    let source = selection.source();
    let write = selection.refs.write.as_deref();
    let source_record = source.map(|s| read_record(&registry, s));
    let own = match write {
        Some(w) if Some(w) == source => None,
        Some(w) => Some(read_record(&registry, w)),
        None => None,
    };
    Gathered {
        hashed,
        source: source_record,
        own,
    }
}

impl Gathered {
    /// The caches a full hit of this build can come from, each with its record (or why it has
    /// none to trust): the tag the build writes when it exists, then the chain's source.
    pub fn stored<'a>(&'a self, selection: &'a Selection) -> Vec<Stored<'a>> {
        let write = selection.refs.write.as_deref();
        let source = selection.source();
        let exists = |reference: &str| selection.refs.read.iter().any(|r| r == reference);
        let own = match &self.own {
            None => &self.source,
            own => own,
        };
        let entry =
            |reference: &'a str, read: &'a Option<Result<Option<ReadRecord>, Error>>| Stored {
                reference,
                manifest: match read {
                    Some(Ok(Some(stored))) => stored.cache_digest.as_deref(),
                    _ => None,
                },
                record: usable(read),
            };
        let mut caches = Vec::new();
        if let Some(write) = write.filter(|w| exists(w)) {
            caches.push(entry(write, own));
        }
        if let Some(source) = source.filter(|s| Some(*s) != write) {
            caches.push(entry(source, &self.source));
        }
        caches
    }
}

/// This build's facts: its Dockerfile, inputs and (when hashed) context.
fn facts<'a>(
    config: &'a Config,
    before: &'a Before,
    export: &'a str,
    hashed: Option<&'a Hashed>,
) -> Facts<'a> {
    let b = &config.build;
    Facts {
        dockerfile: &before.dockerfile,
        dockerfile_path: &before.path,
        build_args: &b.build_args,
        target: b.target.as_deref(),
        platforms: &b.platforms,
        no_cache: b.no_cache,
        no_cache_filters: &b.no_cache_filters,
        mode: config.cache.mode.as_str(),
        export,
        hashed: hashed
            .filter(|h| h.skipped.is_none())
            .map(|h| h.sets.as_slice()),
    }
}

/// This build as planned, before it runs (`Facts::planned`).
pub(super) fn planned(config: &Config, before: &Before, gathered: &Gathered) -> BuildRecord {
    let export = CacheEntry::stored_form(&config.cache);
    facts(config, before, &export, gathered.hashed.as_ref()).planned()
}

/// Why a read record is not used, or the record.
fn usable(read: &Option<Result<Option<ReadRecord>, Error>>) -> Result<&BuildRecord, String> {
    match read {
        Some(Ok(Some(stored))) if stored.current => Ok(&stored.record),
        Some(Ok(Some(_))) => Err(
            "its record describes an earlier cache: the tag was written again without one".into(),
        ),
        Some(Ok(None)) | None => Err(
            "it was written without one, by buildx alone or a regcache before build records".into(),
        ),
        Some(Err(e)) => Err(format!("the record could not be read: {e}")),
    }
}

/// This build's run, as its history keeps it.
fn run_of(ctx: &Context, report: &Report, now: OffsetDateTime) -> Run {
    let env = &ctx.env;
    let commit = env
        .get("GITHUB_SHA")
        .or(env.get("CI_COMMIT_SHA"))
        .filter(|c| c.len() >= 12 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|c| c[..12].to_ascii_lowercase());
    let event: String = env
        .get("GITHUB_EVENT_NAME")
        .or(env.get("CI_PIPELINE_SOURCE"))
        .unwrap_or("local")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    Run {
        time: now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&Rfc3339)
            .unwrap_or_default(),
        commit,
        event,
        hit_ratio: report.stats.hit_ratio,
        cached_steps: report.stats.cached_steps,
        total_steps: report.stats.total_steps,
        build_seconds: crate::stats::round3(report.build_seconds.unwrap_or_default()),
        cache_size: report.exported_cache.as_ref().map(|c| c.total_bytes),
    }
}

/// The misses explained, the record written after the cache, the report told; the log says
/// the first miss, the count by cause and the history.
pub fn finish<W: Write>(
    ctx: &Context,
    config: &Config,
    finished: &Finished,
    report: &mut Report,
    before: &Before,
    gathered: Gathered,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let hashed = gathered.hashed.as_ref().filter(|h| h.skipped.is_none());
    if let Some(h) = hashed {
        log.debug(&format!(
            "context: {} files, {} bytes hashed for the record",
            h.files, h.bytes
        ))?;
    }
    if let Some(skipped) = gathered.hashed.as_ref().and_then(|h| h.skipped.as_deref()) {
        log.line(&format!("regcache: the context was not hashed: {skipped}"))?;
    }
    let export = CacheEntry::stored_form(&config.cache);
    let facts = facts(config, before, &export, gathered.hashed.as_ref());
    let current = facts.record(&report.stats);
    let source = report.selection.source().map(str::to_owned);
    let import_error = report.stats.imports.iter().find_map(|i| match &i.outcome {
        ImportOutcome::Failed(e) if Some(&i.reference) == source.as_ref() => Some(e.as_str()),
        _ => None,
    });
    let source_record = usable(&gathered.source);
    if let (Err(why), Some(source)) = (&source_record, &source) {
        log.debug(&format!("build record of {source}: {why}"))?;
    }
    let read = Read {
        source: source.as_deref(),
        record: source_record.as_ref().ok().copied(),
        no_record: source_record.as_ref().err().cloned(),
        import_error,
    };
    let explanation = explain::explain(&current, &read);
    let run = run_of(ctx, report, OffsetDateTime::now_utc());
    // The tag's own history goes on; a build that reads another tag's cache starts its own.
    let own_history = match &gathered.own {
        None => source_record.as_ref().ok().map(|r| r.history.clone()),
        own => usable(own).ok().map(|r| r.history.clone()),
    }
    .unwrap_or_default();
    let record = current.with_history(&own_history, run.clone());
    let started = std::time::Instant::now();
    let written = write(ctx, config, finished, report, &record, log)?;
    log.debug(&format!(
        "build record: written in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    ))?;
    report.history = if written.is_some() {
        record.history.clone()
    } else {
        let earlier = source_record.map(|r| r.history.clone()).unwrap_or_default();
        last_runs(&earlier, run)
    };
    report.record_note = written;
    report.dockerfile = before.path.clone();
    report.stage_order = before.dockerfile.stages.iter().map(Stage::label).collect();
    report.explanation = Some(explanation);
    tell(report, log)
}

/// The record written beside the cache this build exported: what the summary says of it.
fn write<W: Write>(
    ctx: &Context,
    config: &Config,
    finished: &Finished,
    report: &Report,
    record: &BuildRecord,
    log: &mut Log<W>,
) -> Result<Option<String>, Error> {
    let Some(cache) = report.selection.refs.write.as_deref() else {
        return Ok(None);
    };
    if !finished.succeeded
        || !report.cache_written()
        || config.engine.cache_layout() != CacheLayout::Tag
    {
        return Ok(None);
    }
    let created = record.run().map(|r| r.time.clone()).unwrap_or_default();
    let stored = match record.encode() {
        Ok(stored) => stored,
        Err(e) => {
            log.annotate(Level::Warning, "build record not written", &e, None)?;
            return Ok(None);
        }
    };
    match Registry::new(&ctx.env).write_record(cache, &stored, &created, report.exported_manifest())
    {
        Ok(tag) => {
            let note = format!("{tag} ({})", history::human_bytes(stored.len() as u64));
            log.line(&format!("regcache: build record written to {note}"))?;
            Ok(Some(note))
        }
        Err(e) => {
            log.annotate(
                Level::Warning,
                "build record not written",
                &format!("{e}. The build and its cache are fine; the next build cannot explain its misses against this one"),
                None,
            )?;
            Ok(None)
        }
    }
}

/// The log's account: the first miss and the count by cause (or why nothing is explained),
/// and the history as a sparkline.
fn tell<W: Write>(report: &Report, log: &mut Log<W>) -> Result<(), Error> {
    if let Some(explanation) = &report.explanation {
        if let Some(note) = &explanation.note {
            log.line(&format!("regcache: why it missed: {note}"))?;
        } else if !explanation.misses.is_empty() {
            log.line(&format!("regcache: first miss: {}", report.first_miss()))?;
            let stages: BTreeSet<&str> = explanation
                .misses
                .iter()
                .map(|m| m.stage.as_str())
                .collect();
            log.line(&format!(
                "regcache: {} missed step(s) in {} stage(s), by cause: {}",
                explanation.misses.len(),
                stages.len(),
                report.miss_counts()
            ))?;
        }
    }
    if let Some(line) = history::log_line(&report.history) {
        log.line(&format!("regcache: {line}"))?;
    }
    Ok(())
}
