//! What the cache did, in engine-neutral terms: Dockerfile steps cached out of cacheable
//! steps, per stage, per cache ref imported, and the export. Each engine (`engine::*`) fills a
//! `BuildStats` from its own progress; outputs, the summary and `regcache stats` read it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result", content = "error")]
pub enum ImportOutcome {
    Found,
    /// The ref does not exist yet: a first build, not a fault.
    Missing,
    /// 401, 403, connection refused, too large…: worth a warning.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheImport {
    pub reference: String,
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheExport {
    pub name: String,
    pub ok: bool,
    pub error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStats {
    pub name: String,
    pub steps: usize,
    pub cached: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedStep {
    pub name: String,
    pub error: String,
}

/// BuildKit's build-history counters (`NumTotalSteps`, `NumCachedSteps`, `NumCompletedSteps`),
/// kept for comparison with `buildx history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VertexCounts {
    pub total: usize,
    pub cached: usize,
    pub completed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildStats {
    pub total_steps: usize,
    pub cached_steps: usize,
    pub rebuilt_steps: usize,
    pub failed_steps: usize,
    pub not_run_steps: usize,
    pub hit_ratio: f64,
    pub stages: Vec<StageStats>,
    pub imports: Vec<CacheImport>,
    pub exports: Vec<CacheExport>,
    pub import_seconds: f64,
    pub export_seconds: f64,
    pub failed_step: Option<FailedStep>,
    /// The engine's closing error line (`ERROR: failed to solve: …`).
    #[serde(skip)]
    pub final_error: Option<String>,
    /// Where the failing build points in the Dockerfile.
    #[serde(skip)]
    pub error_location: Option<Location>,
    pub vertices: VertexCounts,
    /// Each Dockerfile step the progress named, in the order first seen (BuildKit's progress
    /// only; empty for buildah and podman).
    #[serde(skip)]
    pub steps: Vec<StepResult>,
    /// The bases the build resolved, `ref@digest` as FROM steps name them.
    #[serde(skip)]
    pub bases: Vec<String>,
}

/// One Dockerfile step as the progress told it: `[<platform> <stage> i/n] <instruction>`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The stage's label in step names (`deps`, `stage-2`; empty in a one-stage file).
    pub stage: String,
    pub platform: Option<String>,
    /// i and n of `i/n`: n counts the stage's steps, and its FROM when the base is an image.
    pub index: usize,
    pub of: usize,
    /// The instruction as BuildKit named it (ARGs expanded: never stored or shown by regcache).
    pub name: String,
    pub cached: bool,
}

/// A place in a file (the Dockerfile line a failing step comes from).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

/// Seconds and ratios are reported to the millisecond.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Cached steps over cacheable steps, 0 when there were none.
pub fn hit_ratio(cached: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        round3(cached as f64 / total as f64)
    }
}

/// A sum of seconds, rounded; 0.0 for none (`Sum for f64` starts from -0.0, which would print
/// as "-0.000").
pub fn total_seconds(seconds: impl IntoIterator<Item = f64>) -> f64 {
    round3(seconds.into_iter().fold(0.0, |sum, s| sum + s))
}

impl BuildStats {
    pub fn refs(&self, wanted: fn(&ImportOutcome) -> bool) -> Vec<&str> {
        self.imports
            .iter()
            .filter(|i| wanted(&i.outcome))
            .map(|i| i.reference.as_str())
            .collect()
    }

    pub fn cache_exported(&self) -> bool {
        !self.exports.is_empty() && self.exports.iter().all(|e| e.ok)
    }

    /// `cache-hit`, the one meaning everywhere: the build succeeded and every cacheable step
    /// came from the cache.
    pub fn cache_hit(&self, succeeded: bool) -> bool {
        succeeded && self.total_steps > 0 && self.cached_steps == self.total_steps
    }

    /// Success as a saved log tells it: no step failed and no closing error.
    pub fn log_succeeded(&self) -> bool {
        self.failed_steps == 0 && self.final_error.is_none()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A build that named nothing: the start of a test's own statistics.
    pub fn empty() -> BuildStats {
        BuildStats {
            total_steps: 0,
            cached_steps: 0,
            rebuilt_steps: 0,
            failed_steps: 0,
            not_run_steps: 0,
            hit_ratio: 0.0,
            stages: Vec::new(),
            imports: Vec::new(),
            exports: Vec::new(),
            import_seconds: 0.0,
            export_seconds: 0.0,
            failed_step: None,
            final_error: None,
            error_location: None,
            vertices: VertexCounts {
                total: 0,
                cached: 0,
                completed: 0,
            },
            steps: Vec::new(),
            bases: Vec::new(),
        }
    }
}
