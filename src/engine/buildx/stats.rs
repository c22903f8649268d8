//! BuildKit's progress turned into `BuildStats`: Dockerfile steps are vertices named
//! `[<platform> <stage> i/n] …` (dockerfile2llb's naming, moby/buildkit
//! `frontend/dockerfile/dockerfile2llb/convert.go`), FROM and internal vertices excluded, so a
//! fully warm build reads 100 % (BuildKit's own history counters include internal vertices and
//! never do).

use std::sync::LazyLock;

use regex::Regex;

use super::progress::{Progress, VertexRecord};
use crate::stats::{
    BuildStats, CacheExport, CacheImport, FailedStep, ImportOutcome, StageStats, StepResult,
    VertexCounts, hit_ratio, round3, total_seconds,
};

static STEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(?:([^\]]*) )?\s*(\d+)/(\d+)\] (.*)$").unwrap());
const IMPORT_PREFIX: &str = "importing cache manifest from ";

#[derive(Debug, Clone, PartialEq)]
enum VertexKind<'a> {
    Step { stage: &'a str },
    From,
    CacheImport { reference: &'a str },
    CacheExport,
    ImageExport,
    Internal,
}

fn classify(name: &str) -> VertexKind<'_> {
    if let Some(c) = STEP.captures(name) {
        let instruction = c.get(4).map_or("", |m| m.as_str());
        if instruction.starts_with("FROM ") {
            return VertexKind::From;
        }
        // `[linux/amd64 stage-1 1/5]`: platform and stage name the row; an unnamed single stage prints `[1/5]`.
        let prefix = c.get(1).map_or("", |m| m.as_str()).trim();
        let stage = if prefix.is_empty() { "default" } else { prefix };
        return VertexKind::Step { stage };
    }
    if let Some(reference) = name.strip_prefix(IMPORT_PREFIX) {
        return VertexKind::CacheImport { reference };
    }
    // `exporting cache to registry` since BuildKit v0.12, `exporting cache` before, plus the
    // other cache exporters' names.
    if name.starts_with("exporting cache")
        || name == "exporting to GitHub Actions Cache"
        || name == "preparing layers for inline cache"
    {
        return VertexKind::CacheExport;
    }
    if name.starts_with("exporting to ") {
        return VertexKind::ImageExport;
    }
    VertexKind::Internal
}

pub fn compute(progress: &Progress) -> BuildStats {
    let records = progress.vertices.records();
    let mut stages: Vec<StageStats> = Vec::new();
    let (mut total, mut cached, mut rebuilt, mut failed, mut not_run) = (0, 0, 0, 0, 0);
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut failed_step = None;
    let mut steps = Vec::new();
    let mut bases = Vec::new();
    for record in records {
        let seconds = record.seconds().unwrap_or(0.0);
        if let Some(step) = step_result(record) {
            if let Some(base) = step.name.strip_prefix("FROM ") {
                bases.push(base.to_owned());
            } else {
                steps.push(step);
            }
        }
        match classify(&record.name) {
            VertexKind::Step { stage } => {
                total += 1;
                let index = match stages.iter().position(|s| s.name == stage) {
                    Some(i) => i,
                    None => {
                        stages.push(StageStats {
                            name: stage.to_owned(),
                            steps: 0,
                            cached: 0,
                            seconds: 0.0,
                        });
                        stages.len() - 1
                    }
                };
                let entry = &mut stages[index];
                entry.steps += 1;
                entry.seconds = round3(entry.seconds + seconds);
                if record.cached {
                    cached += 1;
                    entry.cached += 1;
                } else if let Some(error) = &record.error {
                    failed += 1;
                    failed_step.get_or_insert_with(|| FailedStep {
                        name: record.name.clone(),
                        error: error.clone(),
                    });
                } else if record.started {
                    rebuilt += 1;
                } else {
                    not_run += 1;
                }
            }
            VertexKind::CacheImport { reference } => imports.push(CacheImport {
                reference: reference.to_owned(),
                outcome: import_outcome(record),
                seconds: round3(seconds),
            }),
            VertexKind::CacheExport => exports.push(CacheExport {
                name: record.name.clone(),
                ok: record.completed && record.error.is_none(),
                error: record.error.clone(),
                seconds: round3(seconds),
            }),
            VertexKind::From | VertexKind::ImageExport | VertexKind::Internal => {}
        }
    }
    BuildStats {
        total_steps: total,
        cached_steps: cached,
        rebuilt_steps: rebuilt,
        failed_steps: failed,
        not_run_steps: not_run,
        hit_ratio: hit_ratio(cached, total),
        import_seconds: total_seconds(imports.iter().map(|i| i.seconds)),
        export_seconds: total_seconds(exports.iter().map(|e| e.seconds)),
        stages,
        imports,
        exports,
        failed_step,
        final_error: progress.final_error.clone(),
        error_location: progress.error_location.clone(),
        vertices: VertexCounts {
            total: records.len(),
            cached: records.iter().filter(|r| r.cached).count(),
            completed: records.iter().filter(|r| r.completed).count(),
        },
        steps,
        bases,
    }
}

/// A step's place and result from its name: the prefix's last word is the stage's label
/// unless it is a platform (stage names hold no `/`).
fn step_result(record: &VertexRecord) -> Option<StepResult> {
    let c = STEP.captures(&record.name)?;
    let prefix = c.get(1).map_or("", |m| m.as_str()).trim();
    let (platform, stage) = match prefix.rsplit_once(' ') {
        Some((platform, stage)) => (Some(platform), stage),
        None if prefix.contains('/') => (Some(prefix), ""),
        None => (None, prefix),
    };
    Some(StepResult {
        stage: stage.to_owned(),
        platform: platform.map(str::to_owned),
        index: c[2].parse().ok()?,
        of: c[3].parse().ok()?,
        name: c[4].to_owned(),
        cached: record.cached,
    })
}

fn import_outcome(record: &VertexRecord) -> ImportOutcome {
    match &record.error {
        // `failed to configure registry cache importer: <ref>: not found` (v0.11+), `<ref>: not found` before.
        Some(e) if e.ends_with(": not found") => ImportOutcome::Missing,
        Some(e) => ImportOutcome::Failed(e.clone()),
        None if record.completed => ImportOutcome::Found,
        None => ImportOutcome::Failed("the import did not finish".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain progress written for the cases no fixture has: an import refused (401), an
    /// import that never finished, the other cache exporters, per-stage and summed times.
    const LOG: &str = "\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s

#2 importing cache manifest from r/app:main
#2 ERROR: failed to configure registry cache importer: r/app:main: not found

#3 importing cache manifest from r/app:other
#3 ERROR: unexpected status: 401 Unauthorized

#4 importing cache manifest from r/app:slow

#5 [build 1/3] RUN a
#5 CACHED

#6 [build 2/3] RUN b
#6 DONE 1.5s

#7 [build 3/3] RUN c
#7 DONE 0.25s

#8 [stage-1 1/1] COPY x y
#8 DONE 0.125s

#9 exporting to GitHub Actions Cache
#9 DONE 0.5s

#10 preparing layers for inline cache
#10 DONE 0.25s

#11 importing cache manifest from r/app:found
#11 DONE 0.375s

#12 importing cache manifest from r/app:also-found
#12 DONE 0.125s
";

    #[test]
    fn imports_exports_stages_and_times() {
        let s = compute(&super::super::progress::read_log(LOG.as_bytes()).unwrap());
        assert_eq!(
            (
                s.total_steps,
                s.cached_steps,
                s.rebuilt_steps,
                s.failed_steps
            ),
            (4, 1, 3, 0)
        );
        assert_eq!(s.hit_ratio, 0.25);
        let stages: Vec<(&str, usize, usize, f64)> = s
            .stages
            .iter()
            .map(|st| (st.name.as_str(), st.steps, st.cached, st.seconds))
            .collect();
        assert_eq!(stages, [("build", 3, 1, 1.75), ("stage-1", 1, 0, 0.125)]);
        let imports: Vec<(&str, &ImportOutcome)> = s
            .imports
            .iter()
            .map(|i| (i.reference.as_str(), &i.outcome))
            .collect();
        assert_eq!(
            imports,
            [
                ("r/app:main", &ImportOutcome::Missing),
                (
                    "r/app:other",
                    &ImportOutcome::Failed("unexpected status: 401 Unauthorized".into())
                ),
                (
                    "r/app:slow",
                    &ImportOutcome::Failed("the import did not finish".into())
                ),
                ("r/app:found", &ImportOutcome::Found),
                ("r/app:also-found", &ImportOutcome::Found),
            ]
        );
        assert_eq!(s.import_seconds, 0.5);
        let exports: Vec<(&str, bool, f64)> = s
            .exports
            .iter()
            .map(|e| (e.name.as_str(), e.ok, e.seconds))
            .collect();
        assert_eq!(
            exports,
            [
                ("exporting to GitHub Actions Cache", true, 0.5),
                ("preparing layers for inline cache", true, 0.25)
            ]
        );
        assert_eq!(s.export_seconds, 0.75);
        assert!(s.cache_exported());
        let steps: Vec<(&str, usize, &str, bool)> = s
            .steps
            .iter()
            .map(|st| (st.stage.as_str(), st.index, st.name.as_str(), st.cached))
            .collect();
        assert_eq!(
            steps,
            [
                ("build", 1, "RUN a", true),
                ("build", 2, "RUN b", false),
                ("build", 3, "RUN c", false),
                ("stage-1", 1, "COPY x y", false)
            ]
        );
    }

    #[test]
    fn steps_name_their_stage_platform_and_base() {
        let log = "#1 [linux/amd64 deps 1/2] FROM r/base:1@sha256:aa\n#1 DONE 0.1s\n\n#2 [linux/arm64 2/2] RUN x\n#2 CACHED\n";
        let s = compute(&super::super::progress::read_log(log.as_bytes()).unwrap());
        assert_eq!(s.bases, ["r/base:1@sha256:aa"]);
        assert_eq!(
            s.steps,
            [StepResult {
                stage: String::new(),
                platform: Some("linux/arm64".into()),
                index: 2,
                of: 2,
                name: "RUN x".into(),
                cached: true
            }]
        );
    }

    #[test]
    fn a_failed_export_is_not_exported() {
        let log = "#1 exporting cache to registry\n#1 ERROR: failed to push r/app:main: 500 Internal Server Error\n";
        let s = compute(&super::super::progress::read_log(log.as_bytes()).unwrap());
        assert_eq!(s.exports.len(), 1);
        assert!(!s.exports[0].ok);
        assert_eq!(
            s.exports[0].error.as_deref(),
            Some("failed to push r/app:main: 500 Internal Server Error")
        );
        assert!(!s.cache_exported());
    }

    #[test]
    fn classifies_vertex_names() {
        assert_eq!(
            classify("[build 2/4] WORKDIR /src"),
            VertexKind::Step { stage: "build" }
        );
        assert_eq!(
            classify("[ 3/11] RUN make"),
            VertexKind::Step { stage: "default" }
        );
        assert_eq!(
            classify("[linux/amd64 stage-1 1/5] COPY . ."),
            VertexKind::Step {
                stage: "linux/amd64 stage-1"
            }
        );
        assert_eq!(
            classify("[build 1/4] FROM 127.0.0.1:5055/base/busybox:1@sha256:aa"),
            VertexKind::From
        );
        assert_eq!(
            classify("importing cache manifest from r/app:buildcache"),
            VertexKind::CacheImport {
                reference: "r/app:buildcache"
            }
        );
        assert_eq!(
            classify("exporting cache to registry"),
            VertexKind::CacheExport
        );
        assert_eq!(classify("exporting cache"), VertexKind::CacheExport);
        assert_eq!(classify("exporting to image"), VertexKind::ImageExport);
        assert_eq!(
            classify("[internal] load build context"),
            VertexKind::Internal
        );
        assert_eq!(
            classify("[auth] fixture/app:pull token for 127.0.0.1:5055"),
            VertexKind::Internal
        );
    }
}
