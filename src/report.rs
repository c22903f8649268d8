//! Reporting: the step outputs, the job summary, and the JSON / dotenv renderings used
//! outside GitHub. `Output` is the one list of outputs; a test keeps action.yml in step.

use serde_json::{Value, json};

use crate::cache::export::Untouched;
use crate::error::Error;
use crate::escape;
use crate::platform::gitlab;
use crate::probe::Selection;
use crate::record::Run;
use crate::record::explain::Explanation;
use crate::record::history;
use crate::registry::Probe;
use crate::registry::StoredSize;
use crate::stats::{BuildStats, ImportOutcome};

/// Each output a build gives, named the same everywhere: the step outputs, the JSON and dotenv
/// files, `action.yml` and the README (a test keeps the last two in step with `Output::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    CacheHit,
    CacheHitRatio,
    CachedSteps,
    TotalSteps,
    CacheRef,
    CacheSource,
    CacheRefsFound,
    CacheRefsMissing,
    CacheImportSeconds,
    CacheExportSeconds,
    CacheExported,
    BuildSeconds,
    CacheSize,
    CacheLayers,
    Stats,
    ImageId,
    Digest,
    Metadata,
    MissReasons,
    FirstMiss,
    CacheHistory,
    /// Bake only: each target's own outputs.
    Targets,
}

impl Output {
    pub const ALL: [Output; 21] = [
        Output::CacheHit,
        Output::CacheHitRatio,
        Output::CachedSteps,
        Output::TotalSteps,
        Output::CacheRef,
        Output::CacheSource,
        Output::CacheRefsFound,
        Output::CacheRefsMissing,
        Output::CacheImportSeconds,
        Output::CacheExportSeconds,
        Output::CacheExported,
        Output::BuildSeconds,
        Output::CacheSize,
        Output::CacheLayers,
        Output::Stats,
        Output::ImageId,
        Output::Digest,
        Output::Metadata,
        Output::MissReasons,
        Output::FirstMiss,
        Output::CacheHistory,
    ];

    /// The outputs of `regcache bake` and the bake sub-action: per target, then the totals
    /// over all targets under the build's names, then bake-action's own.
    pub const BAKE: [Output; 9] = [
        Output::Targets,
        Output::CacheHit,
        Output::CacheHitRatio,
        Output::CachedSteps,
        Output::TotalSteps,
        Output::CacheImportSeconds,
        Output::CacheExportSeconds,
        Output::BuildSeconds,
        Output::Metadata,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Output::Targets => "targets",
            Output::CacheHit => "cache-hit",
            Output::CacheHitRatio => "cache-hit-ratio",
            Output::CachedSteps => "cached-steps",
            Output::TotalSteps => "total-steps",
            Output::CacheRef => "cache-ref",
            Output::CacheSource => "cache-source",
            Output::CacheRefsFound => "cache-refs-found",
            Output::CacheRefsMissing => "cache-refs-missing",
            Output::CacheImportSeconds => "cache-import-seconds",
            Output::CacheExportSeconds => "cache-export-seconds",
            Output::CacheExported => "cache-exported",
            Output::BuildSeconds => "build-seconds",
            Output::CacheSize => "cache-size",
            Output::CacheLayers => "cache-layers",
            Output::Stats => "stats",
            Output::ImageId => "imageid",
            Output::Digest => "digest",
            Output::Metadata => "metadata",
            Output::MissReasons => "miss-reasons",
            Output::FirstMiss => "first-miss",
            Output::CacheHistory => "cache-history",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Output::Targets => {
                "Bake: each target's cache, as JSON: {target: {cache-hit, cache-hit-ratio, cached-steps, total-steps, cache-ref, cache-source, cache-exported}}."
            }
            Output::CacheHit => "true when every cacheable Dockerfile step was cached.",
            Output::CacheHitRatio => "Cached steps divided by cacheable steps (0 to 1).",
            Output::CachedSteps => {
                "Dockerfile steps served from cache (FROM and internal steps excluded)."
            }
            Output::TotalSteps => "Cacheable Dockerfile steps (FROM and internal steps excluded).",
            Output::CacheRef => "The cache ref this build wrote (empty when it wrote none).",
            Output::CacheSource => "The first cache ref of the fallback chain that existed.",
            Output::CacheRefsFound => "Cache refs that were imported, comma-separated.",
            Output::CacheRefsMissing => {
                "Cache refs of the chain that did not exist or could not be read, comma-separated."
            }
            Output::CacheImportSeconds => "Time spent importing cache manifests.",
            Output::CacheExportSeconds => "Time spent exporting the cache.",
            Output::CacheExported => {
                "What the build did to its cache tag: `true` exported, `kept` left as it was (every step came from it), `copied` given the manifest of the fallback every step came from, `false` nothing written."
            }
            Output::BuildSeconds => "Wall time of the build.",
            Output::CacheSize => {
                "Bytes of the cache this build exported, as stored: distinct layers, config and manifest (empty when it exported none)."
            }
            Output::CacheLayers => {
                "Distinct layers of the cache this build exported (empty when it exported none)."
            }
            Output::Stats => "Everything above and per-stage counts, as JSON.",
            Output::ImageId => "Image ID.",
            Output::Digest => "Image digest.",
            Output::Metadata => "Build result metadata (buildx --metadata-file), as JSON.",
            Output::MissReasons => {
                "Each missed step and why, as JSON: a list of {step, stage, line, cause, detail} (empty when nothing missed or nothing can be explained)."
            }
            Output::FirstMiss => {
                "The first missed step and its cause on one line, e.g. `COPY package.json . (Dockerfile:6): file-changed package.json`."
            }
            Output::CacheHistory => {
                "The last builds of this cache (up to 30, this one last), as JSON: time, commit, event, hit ratio, steps, build seconds, cache size."
            }
        }
    }

    /// Whether the value is a JSON document (kept out of GitLab's dotenv, nested in JSON).
    pub fn is_json(self) -> bool {
        matches!(
            self,
            Output::Stats
                | Output::Metadata
                | Output::MissReasons
                | Output::CacheHistory
                | Output::Targets
        )
    }
}

/// What one build did: the statistics, the cache refs chosen, and the engine's results.
/// `regcache stats` makes one from a saved log alone (no refs, no build time).
#[derive(Debug, Clone)]
pub struct Report {
    /// What was built, as the summary names it (`image_name`).
    pub image: String,
    pub stats: BuildStats,
    pub selection: Selection,
    pub build_seconds: Option<f64>,
    pub succeeded: bool,
    pub image_id: Option<String>,
    pub metadata: Option<Value>,
    /// The exported cache as the registry holds it, read after the export.
    pub exported_cache: Option<StoredSize>,
    /// The refs regcache passed to the engine to read (None for a saved log). The engine's log
    /// names refs in vertex names, which a `# syntax=` frontend sets freely, so a ref the log
    /// names reaches an output only when it is one of these (or, for a saved log, when it is
    /// a valid image reference).
    pub passed_refs: Option<Vec<String>>,
    /// Why steps missed; None when the build keeps no record (buildah, `build-record: false`).
    pub explanation: Option<Explanation>,
    /// The Dockerfile's path, as the first miss names its line.
    pub dockerfile: String,
    /// The last builds of this cache, this one last.
    pub history: Vec<Run>,
    /// The Dockerfile's stage labels in file order: the summary lists stages so.
    pub stage_order: Vec<String>,
    /// What became of the build record, for the log and the summary.
    pub record_note: Option<String>,
    /// The cache tag left as it was, or given the manifest of the cache every step came from,
    /// instead of an export that would add nothing.
    pub untouched: Option<Untouched>,
}

/// The image a build makes, so that several builds in one job can be told apart: its tags,
/// else its target stage, else the Dockerfile's last stage.
pub fn image_name(tags: &[String], target: Option<&str>) -> String {
    match (tags, target) {
        ([], Some(target)) => format!("target {target}"),
        ([], None) => "untagged image".to_owned(),
        (tags, Some(target)) => format!("{} (target {target})", tags.join(", ")),
        (tags, None) => tags.join(", "),
    }
}

/// Cached steps out of all as ten cells (rounded), for the summary's stage table.
pub fn bar(cached: usize, steps: usize) -> String {
    let full = (cached * 10 + steps / 2)
        .checked_div(steps)
        .unwrap_or(0)
        .min(10);
    format!("{}{}", "█".repeat(full), "░".repeat(10 - full))
}

fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    Dotenv,
}

impl Report {
    /// The statistics of a saved progress log, which says nothing of refs or build time.
    pub fn from_log(stats: BuildStats) -> Self {
        Self {
            image: String::new(),
            succeeded: stats.log_succeeded(),
            stats,
            selection: Selection::default(),
            build_seconds: None,
            image_id: None,
            metadata: None,
            exported_cache: None,
            passed_refs: None,
            explanation: None,
            dockerfile: String::new(),
            history: Vec::new(),
            stage_order: Vec::new(),
            record_note: None,
            untouched: None,
        }
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// `cache.manifest` is a string holding JSON (moby/buildkit `exporter/containerimage/exptypes`).
    fn cache_manifest(&self) -> Option<Value> {
        serde_json::from_str(self.metadata_str("cache.manifest")?).ok()
    }

    /// The cache manifest the build exported, as buildx's metadata describes it.
    pub fn exported_manifest(&self) -> Option<crate::registry::Subject> {
        let manifest = self.cache_manifest()?;
        let digest = manifest.get("digest")?.as_str()?;
        Some(crate::registry::Subject {
            media_type: manifest.get("mediaType")?.as_str()?.to_owned(),
            digest: crate::registry::is_digest(digest).then(|| digest.to_owned())?,
            size: manifest.get("size")?.as_u64()?,
        })
    }

    /// `cache-exported`, one value everywhere: `true`, `kept`, `copied` or `false`.
    pub fn cache_exported(&self) -> Value {
        match &self.untouched {
            Some(Untouched::Kept) => "kept".into(),
            Some(Untouched::Copied { .. }) => "copied".into(),
            None => self.stats.cache_exported().into(),
        }
    }

    /// Whether the tag the build writes holds this build's cache now: exported, kept or copied.
    pub fn cache_written(&self) -> bool {
        self.untouched.is_some() || self.stats.cache_exported()
    }

    /// What became of the cache tag, in words (the log's headline and the summary).
    fn export_words(&self) -> String {
        match &self.untouched {
            Some(Untouched::Kept) => "kept: every step came from it, nothing to export".into(),
            Some(Untouched::Copied { from }) => format!(
                "copied from {}: every step came from it",
                escape::code_in_table(from)
            ),
            None if self.stats.cache_exported() => "exported".into(),
            None => "not exported".into(),
        }
    }

    fn cache_ref(&self) -> &str {
        self.selection.refs.write.as_deref().unwrap_or_default()
    }

    /// Whether a ref the engine's log names may be reported (see `passed_refs`).
    fn is_trusted_ref(&self, reference: &str) -> bool {
        match &self.passed_refs {
            Some(passed) => passed.iter().any(|p| p == reference),
            None => crate::reference::parse(reference).is_ok(),
        }
    }

    fn found(&self) -> Vec<&str> {
        self.stats
            .refs(|o| *o == ImportOutcome::Found)
            .into_iter()
            .filter(|r| self.is_trusted_ref(r))
            .collect()
    }

    /// Refs of the chain the probe did not find or could not read, then imports that failed.
    fn missing(&self) -> Vec<&str> {
        let mut missing: Vec<&str> = self.selection.missing().collect();
        for r in self
            .stats
            .refs(|o| *o != ImportOutcome::Found)
            .into_iter()
            .filter(|r| self.is_trusted_ref(r))
        {
            if !missing.contains(&r) {
                missing.push(r);
            }
        }
        missing
    }

    /// The first ref of the chain that existed (probed), or else the first imported.
    fn source(&self) -> &str {
        self.selection
            .source()
            .or_else(|| self.found().first().copied())
            .unwrap_or_default()
    }

    /// How the summary names a source: with the policy's reason when it gave one.
    fn used_as(&self, reference: &str) -> String {
        self.selection
            .candidates
            .iter()
            .find(|c| c.reference == reference && !c.why.is_empty())
            .map_or_else(|| "source".to_owned(), |c| format!("source ({})", c.why))
    }

    pub fn cache_hit(&self) -> bool {
        self.stats.cache_hit(self.succeeded)
    }

    fn misses(&self) -> &[crate::record::explain::Miss] {
        self.explanation
            .as_ref()
            .map_or(&[], |e| e.misses.as_slice())
    }

    /// The first miss on one line, at most 500 characters (it goes into dotenv reports).
    pub fn first_miss(&self) -> String {
        let line = self
            .misses()
            .first()
            .map(|m| escape::one_line(&m.one_line(&self.dockerfile)))
            .unwrap_or_default();
        line.chars().take(500).collect()
    }

    /// The misses counted by cause: `file-changed 1, after-a-miss 3`.
    pub fn miss_counts(&self) -> String {
        self.explanation
            .as_ref()
            .map(|e| {
                e.counts()
                    .into_iter()
                    .map(|(cause, n)| format!("{} {n}", cause.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }

    pub fn stats_json(&self) -> Value {
        let s = &self.stats;
        json!({
            "cache-hit": self.cache_hit(),
            "cache-hit-ratio": s.hit_ratio,
            "cached-steps": s.cached_steps,
            "total-steps": s.total_steps,
            "rebuilt-steps": s.rebuilt_steps,
            "failed-steps": s.failed_steps,
            "not-run-steps": s.not_run_steps,
            "cache-ref": self.cache_ref(),
            "cache-source": self.source(),
            "cache-refs-found": self.found(),
            "cache-refs-missing": self.missing(),
            "cache-import-seconds": s.import_seconds,
            "cache-export-seconds": s.export_seconds,
            "cache-exported": self.cache_exported(),
            "cache-manifest": self.cache_manifest(),
            "build-seconds": self.build_seconds,
            "cache-size": self.exported_cache.as_ref().map(|c| c.total_bytes),
            "cache-layers": self.exported_cache.as_ref().map(|c| c.layers),
            "succeeded": self.succeeded,
            "stages": s.stages,
            "imports": s.imports,
            "exports": s.exports,
            "failed-step": s.failed_step,
            "vertices": s.vertices,
        })
    }

    /// What bake's `targets` output holds for this build (one target's).
    pub fn target_json(&self) -> Value {
        let all = self.stats_json();
        let keys = [
            Output::CacheHit,
            Output::CacheHitRatio,
            Output::CachedSteps,
            Output::TotalSteps,
            Output::CacheRef,
            Output::CacheSource,
            Output::CacheExported,
        ];
        Value::Object(
            keys.iter()
                .map(|k| (k.name().to_owned(), all[k.name()].clone()))
                .collect(),
        )
    }

    /// One output's value, as a step output holds it.
    fn value(&self, output: Output) -> String {
        let s = &self.stats;
        let exported = self.exported_cache.as_ref();
        match output {
            Output::CacheHit => self.cache_hit().to_string(),
            Output::CacheHitRatio => s.hit_ratio.to_string(),
            Output::CachedSteps => s.cached_steps.to_string(),
            Output::TotalSteps => s.total_steps.to_string(),
            Output::CacheRef => self.cache_ref().to_owned(),
            Output::CacheSource => self.source().to_owned(),
            Output::CacheRefsFound => self.found().join(","),
            Output::CacheRefsMissing => self.missing().join(","),
            Output::CacheImportSeconds => seconds(s.import_seconds),
            Output::CacheExportSeconds => seconds(s.export_seconds),
            Output::CacheExported => match self.cache_exported() {
                Value::String(words) => words,
                other => other.to_string(),
            },
            Output::BuildSeconds => self.build_seconds.map(seconds).unwrap_or_default(),
            Output::CacheSize => exported
                .map(|c| c.total_bytes.to_string())
                .unwrap_or_default(),
            Output::CacheLayers => exported.map(|c| c.layers.to_string()).unwrap_or_default(),
            Output::Stats => self.stats_json().to_string(),
            Output::ImageId => self.image_id.clone().unwrap_or_default(),
            Output::Digest => self
                .metadata_str("containerimage.digest")
                .unwrap_or_default()
                .to_owned(),
            Output::MissReasons => json!(self.misses()).to_string(),
            Output::FirstMiss => self.first_miss(),
            Output::CacheHistory => json!(self.history).to_string(),
            Output::Targets => self.target_json().to_string(),
            // build-push-action's `JSON.stringify(metadata, null, 2)`, keys in file order.
            Output::Metadata => self
                .metadata()
                .and_then(|m| serde_json::to_string_pretty(m).ok())
                .unwrap_or_default(),
        }
    }

    fn metadata(&self) -> Option<&Value> {
        self.metadata.as_ref().filter(|m| !m.is_null())
    }

    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        Output::ALL
            .iter()
            .map(|output| (output.name(), self.value(*output)))
            .collect()
    }

    /// The outputs as a JSON object; `stats` and `metadata` nested as JSON rather than strings.
    pub fn outputs_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for output in Output::ALL {
            let value = match output {
                Output::Stats => self.stats_json(),
                Output::Metadata => self
                    .metadata()
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new())),
                Output::MissReasons => json!(self.misses()),
                Output::CacheHistory => json!(self.history),
                Output::Targets => self.target_json(),
                other => Value::String(self.value(other)),
            };
            object.insert(output.name().to_owned(), value);
        }
        Value::Object(object)
    }

    /// The outputs in `format`, for a file or stdout. GitLab refuses dotenv reports over
    /// 5,120 bytes or (self-managed, by default) 20 variables, so the JSON outputs
    /// (`metadata`, `stats`) stay in the JSON format.
    pub fn render(&self, format: OutputFormat) -> Result<String, Error> {
        match format {
            OutputFormat::Json => Ok(format!("{:#}\n", self.outputs_json())),
            OutputFormat::Dotenv => {
                let outputs: Vec<(&str, String)> = Output::ALL
                    .iter()
                    .filter(|output| !output.is_json())
                    .map(|output| (output.name(), self.value(*output)))
                    .collect();
                gitlab::dotenv_report(&outputs)
            }
        }
    }

    /// One line for the log.
    pub fn headline(&self) -> String {
        let s = &self.stats;
        let build = self
            .build_seconds
            .map(|b| format!(", build {b:.2}s"))
            .unwrap_or_default();
        format!(
            "regcache: {}/{} steps cached ({:.1}%), cache-hit={}, import {:.2}s, export {:.2}s ({}){build}",
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0,
            self.cache_hit(),
            s.import_seconds,
            s.export_seconds,
            match &self.untouched {
                Some(Untouched::Kept) => "kept: nothing to export".to_owned(),
                Some(Untouched::Copied { from }) => format!("copied from {from}"),
                None if s.cache_exported() => "exported".to_owned(),
                None => "not exported".to_owned(),
            },
        )
    }

    /// `regcache stats` without `--output-format`: every count of a saved log on one line.
    pub fn stats_line(&self) -> String {
        let s = &self.stats;
        format!(
            "{}/{} steps cached ({:.1}%), {} rebuilt, {} failed, {} not run; cache import {:.3}s, export {:.3}s; vertices {} ({} cached, {} completed)\n",
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0,
            s.rebuilt_steps,
            s.failed_steps,
            s.not_run_steps,
            s.import_seconds,
            s.export_seconds,
            s.vertices.total,
            s.vertices.cached,
            s.vertices.completed
        )
    }

    /// The job summary (GitHub-flavoured Markdown), the history drawn as charts.
    pub fn summary_markdown(&self) -> String {
        self.summary(true)
    }

    /// The summary as a log shows it (GitLab's job log): the history as a sparkline.
    pub fn summary_for_log(&self) -> String {
        self.summary(false)
    }

    fn summary(&self, charts: bool) -> String {
        // Outside text (the build's step names and errors, registry answers, branch names in
        // the policy's reasons) is escaped where it enters the Markdown.
        let s = &self.stats;
        let mut md = self.summary_facts();
        md += &self.summary_refs();
        md += "\n| stage | steps | cached | | time |\n|---|---|---|---|---|\n";
        for stage in self.stages_in_file_order() {
            md += &format!(
                "| {} | {} | {} | `{}` | {:.2} s |\n",
                escape::markdown(&stage.name),
                stage.steps,
                stage.cached,
                bar(stage.cached, stage.steps),
                stage.seconds
            );
        }
        if let Some(failed) = &s.failed_step {
            md += &format!(
                "\n**Failed step:** {}: {}\n",
                escape::code(&failed.name),
                escape::markdown(&failed.error)
            );
        }
        md += &self.summary_misses();
        if charts {
            md += &history::markdown(&self.history);
        } else if let Some(line) = history::log_line(&self.history) {
            md += &format!("\n{line}\n");
        }
        md
    }

    /// The stages as the Dockerfile orders them (the progress lists them as they ran).
    fn stages_in_file_order(&self) -> Vec<&crate::stats::StageStats> {
        let position = |name: &str| {
            let label = name.rsplit(' ').next().unwrap_or(name);
            self.stage_order
                .iter()
                .position(|s| s == label)
                .unwrap_or(usize::MAX)
        };
        let mut stages: Vec<_> = self.stats.stages.iter().collect();
        stages.sort_by_key(|stage| position(&stage.name));
        stages
    }

    /// Why the steps missed: a table, or the one note that says why it cannot be told.
    fn summary_misses(&self) -> String {
        let Some(explanation) = &self.explanation else {
            return String::new();
        };
        if let Some(note) = &explanation.note {
            return format!("\n**Why it missed:** {}\n", escape::markdown(note));
        }
        if explanation.misses.is_empty() {
            return String::new();
        }
        let mut md =
            "\n#### Why it missed\n\n| step | line | cause | detail |\n|---|---|---|---|\n"
                .to_owned();
        const ROWS: usize = 50;
        for miss in explanation.misses.iter().take(ROWS) {
            md += &format!(
                "| {} | {} | `{}` | {} |\n",
                escape::code_in_table(&miss.step),
                miss.line,
                miss.cause.name(),
                escape::markdown(&miss.detail)
            );
        }
        if explanation.misses.len() > ROWS {
            md += &format!(
                "\n{} more in the `miss-reasons` output.\n",
                explanation.misses.len() - ROWS
            );
        }
        md
    }

    /// The summary's heading and its table of facts: hit, build, import, export, size.
    fn summary_facts(&self) -> String {
        let s = &self.stats;
        let mut md = format!(
            "### regcache: {}: {}/{} steps cached ({:.0}%)\n\n| | |\n|---|---|\n",
            escape::markdown(&self.image),
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0
        );
        md += &format!(
            "| cache hit | {} |\n",
            if self.cache_hit() { "yes" } else { "no" }
        );
        md += &format!(
            "| build | {}{} |\n",
            if self.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            self.build_seconds
                .map(|b| format!(" in {b:.2} s"))
                .unwrap_or_default()
        );
        md += &format!(
            "| cache import | {:.2} s |\n| cache export | {:.2} s |\n",
            s.import_seconds, s.export_seconds
        );
        if let Some(cache) = &self.exported_cache {
            md += &format!(
                "| cache size | {} in {} layers |\n",
                history::human_bytes(cache.total_bytes),
                cache.layers
            );
            for warning in &cache.warnings {
                md += &format!("| cache warning | {} |\n", escape::markdown(warning));
            }
        }
        if let Some(note) = &self.record_note {
            md += &format!("| build record | {} |\n", escape::markdown(note));
        }
        md
    }

    /// The summary's table of refs: what was read (imported, or not found by the probe) and
    /// where the cache was written.
    fn summary_refs(&self) -> String {
        let s = &self.stats;
        let cell = escape::markdown;
        let code = escape::code_in_table;
        let mut md = "\n| cache ref | used as | result |\n|---|---|---|\n".to_owned();
        for import in &s.imports {
            let result = match &import.outcome {
                ImportOutcome::Found => "found".to_owned(),
                ImportOutcome::Missing => "not found".to_owned(),
                ImportOutcome::Failed(e) => format!("failed: {}", cell(e)),
            };
            md += &format!(
                "| {} | {} | {result} |\n",
                code(&import.reference),
                cell(&self.used_as(&import.reference))
            );
        }
        for candidate in self.selection.candidates.iter().filter(|c| c.is_missing()) {
            let label = candidate.probe.as_ref().map_or("", Probe::label);
            md += &format!(
                "| {} | {} | {label} (not passed to the engine) |\n",
                code(&candidate.reference),
                cell(&self.used_as(&candidate.reference))
            );
        }
        let export = match s.exports.iter().find(|e| !e.ok) {
            None => self.export_words(),
            Some(e) => format!(
                "failed: {}",
                cell(e.error.as_deref().unwrap_or("did not finish"))
            ),
        };
        if self.cache_ref().is_empty() {
            md += "| (none) | destination | read-only: nothing written |\n";
        } else {
            md += &format!("| {} | destination | {export} |\n", code(self.cache_ref()));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Engine;
    use crate::plan::CacheRefs;

    fn fixture_report(name: &str) -> Report {
        let path = format!(
            "{}/tests/fixtures/buildkit/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let stats = Engine::Buildx
            .read_log(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
            .unwrap();
        Report {
            image: "r/app:dev".into(),
            stats,
            selection: Selection {
                refs: CacheRefs {
                    read: vec![],
                    write: Some("127.0.0.1:5055/fixture/app:cache-feature-x".into()),
                },
                ..Selection::default()
            },
            build_seconds: Some(1.5),
            succeeded: true,
            image_id: Some("sha256:abc".into()),
            metadata: Some(
                json!({"containerimage.digest": "sha256:def", "cache.manifest": "{\"digest\":\"sha256:0f\",\"size\":1549}"}),
            ),
            exported_cache: None,
            passed_refs: None,
            explanation: None,
            dockerfile: "Dockerfile".into(),
            history: Vec::new(),
            stage_order: Vec::new(),
            record_note: None,
            untouched: None,
        }
    }

    #[test]
    fn outputs_of_a_partial_hit() {
        let report = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        );
        let outputs: std::collections::BTreeMap<_, _> = report.outputs().into_iter().collect();
        assert_eq!(outputs["cache-hit"], "false");
        assert_eq!(outputs["cached-steps"], "4");
        assert_eq!(outputs["total-steps"], "6");
        assert_eq!(outputs["cache-hit-ratio"], "0.667");
        assert_eq!(
            outputs["cache-refs-found"],
            "127.0.0.1:5055/fixture/app:cache-main"
        );
        assert_eq!(
            outputs["cache-refs-missing"],
            "127.0.0.1:5055/fixture/app:cache-feature-x"
        );
        assert_eq!(outputs["cache-export-seconds"], "0.094");
        assert_eq!(outputs["cache-exported"], "true");
        assert_eq!(outputs["digest"], "sha256:def");
        let stats: Value = serde_json::from_str(&outputs["stats"]).unwrap();
        assert_eq!(stats["cache-manifest"]["size"], 1549);
        let stage_1 = stats["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "stage-1")
            .unwrap();
        assert_eq!(
            (stage_1["steps"].as_u64(), stage_1["cached"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(
            outputs["cache-ref"],
            "127.0.0.1:5055/fixture/app:cache-feature-x"
        );
        // Not probed: the source is the first ref the engine imported.
        assert_eq!(
            outputs["cache-source"],
            "127.0.0.1:5055/fixture/app:cache-main"
        );
        assert_eq!(outputs["build-seconds"], "1.500");
        assert_eq!(outputs["imageid"], "sha256:abc");
        assert_eq!(
            serde_json::from_str::<Value>(&outputs["metadata"]).unwrap()["containerimage.digest"],
            "sha256:def"
        );
    }

    #[test]
    fn cache_hit_means_every_step_cached_and_the_build_succeeded() {
        let mut report =
            fixture_report("buildx-0.13.1_buildkit-0.13__b-warm-ephemeral.rawjson.stderr.txt");
        assert_eq!(
            (report.stats.cached_steps, report.stats.total_steps),
            (6, 6)
        );
        assert!(report.cache_hit());
        report.succeeded = false;
        assert!(!report.cache_hit(), "a failed build is never a hit");
        assert_eq!(report.stats_json()["cache-hit"], false);
        // A saved log of the same build: success read from the log itself.
        assert!(Report::from_log(report.stats.clone()).cache_hit());
    }

    #[test]
    fn the_dotenv_report_fits_gitlabs_limit() {
        // The largest fixture build: two stages, two imports, the export, full metadata.
        let report = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        );
        let text = report.render(OutputFormat::Dotenv).unwrap();
        assert!(
            text.len() < gitlab::DOTENV_LIMIT / 2,
            "{} bytes",
            text.len()
        );
        assert!(text.lines().all(|l| l.starts_with("REGCACHE_")));
        assert!(text.contains("REGCACHE_CACHED_STEPS=4\n"), "{text}");
        for json_output in ["REGCACHE_METADATA=", "REGCACHE_STATS="] {
            assert!(
                !text.contains(json_output),
                "{json_output} stays in the JSON format"
            );
        }
        assert!(text.lines().count() <= gitlab::DOTENV_MAX_VARIABLES);
        let name = regex::Regex::new(r"^[A-Za-z0-9_]+=[^\n]*$").unwrap();
        assert!(text.lines().all(|l| name.is_match(l)), "{text}");
        let json: Value =
            serde_json::from_str(&report.render(OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["metadata"]["containerimage.digest"], "sha256:def");
        assert_eq!(json["stats"]["cached-steps"], 4);
    }

    #[test]
    fn the_summary_lists_stages_in_file_order_sizes_in_units_and_why_steps_missed() {
        use crate::record::explain::{Cause, Explanation, Miss};
        let mut report = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        );
        // The progress ran build before stage-1; a file listing stage-1 first lists it first.
        report.stage_order = vec!["stage-1".into(), "build".into()];
        report.exported_cache = Some(StoredSize {
            total_bytes: 1_077_985,
            layers: 7,
            warnings: Vec::new(),
        });
        report.explanation = Some(Explanation {
            misses: vec![Miss {
                step: "COPY package.json .".into(),
                stage: "stage-1".into(),
                line: 6,
                cause: Cause::FileChanged,
                detail: "package.json, <b>x</b>.json".into(),
            }],
            note: None,
        });
        let md = report.summary_markdown();
        let (first, second) = (
            md.find("| stage-1 | 3 |").unwrap(),
            md.find("| build | 3 |").unwrap(),
        );
        assert!(first < second, "{md}");
        assert!(md.contains("| cache size | 1.0 MiB in 7 layers |"), "{md}");
        assert!(
            md.contains("| `COPY package.json .` | 6 | `file-changed` | package.json, \\<b\\>x\\</b\\>.json |"),
            "{md}"
        );
        let outputs: std::collections::BTreeMap<_, _> = report.outputs().into_iter().collect();
        assert_eq!(
            outputs["first-miss"],
            "COPY package.json . (Dockerfile:6): file-changed package.json, <b>x</b>.json"
        );
        let reasons: Value = serde_json::from_str(&outputs["miss-reasons"]).unwrap();
        assert_eq!(reasons[0]["cause"], "file-changed");
        assert_eq!(reasons[0]["line"], 6);
        let dotenv = report.render(OutputFormat::Dotenv).unwrap();
        assert!(dotenv.contains("REGCACHE_FIRST_MISS="), "{dotenv}");
        assert!(
            !dotenv.contains("REGCACHE_MISS_REASONS"),
            "JSON stays out of dotenv"
        );
    }

    #[test]
    fn summary_has_stage_rows_and_refs() {
        let md = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        )
        .summary_markdown();
        assert!(
            md.starts_with("### regcache: r/app:dev: 4/6 steps cached (67%)"),
            "{md}"
        );
        assert!(md.contains("| build | 3 | 3 | `██████████` |"), "{md}");
        assert!(md.contains("| stage-1 | 3 | 1 | `███░░░░░░░` |"), "{md}");
        assert!(
            md.contains("| `127.0.0.1:5055/fixture/app:cache-feature-x` | source | not found |"),
            "{md}"
        );
        assert!(
            md.contains("| `127.0.0.1:5055/fixture/app:cache-main` | source | found |"),
            "{md}"
        );
    }
}
