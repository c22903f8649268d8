//! BuildKit's progress turned into `BuildStats`: Dockerfile steps are vertices named
//! `[<platform> <stage> i/n] …` (dockerfile2llb's naming, moby/buildkit
//! `frontend/dockerfile/dockerfile2llb/convert.go`), FROM and internal vertices excluded, so a
//! fully warm build reads 100 % (BuildKit's own history counters include internal vertices and
//! never do).

use std::sync::LazyLock;

use regex::Regex;

use super::progress::{Progress, VertexRecord};
use crate::stats::{
    BuildStats, CacheExport, CacheImport, FailedStep, ImportOutcome, StageStats, VertexCounts,
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

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn compute(progress: &Progress) -> BuildStats {
    let records = progress.vertices.records();
    let mut stages: Vec<StageStats> = Vec::new();
    let (mut total, mut cached, mut rebuilt, mut failed, mut not_run) = (0, 0, 0, 0, 0);
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut failed_step = None;
    for record in records {
        let seconds = record.seconds().unwrap_or(0.0);
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
    let hit_ratio = if total == 0 {
        0.0
    } else {
        round3(cached as f64 / total as f64)
    };
    BuildStats {
        total_steps: total,
        cached_steps: cached,
        rebuilt_steps: rebuilt,
        failed_steps: failed,
        not_run_steps: not_run,
        hit_ratio,
        // `Sum for f64` starts from -0.0, which would print as "-0.000" for no imports.
        import_seconds: round3(imports.iter().fold(0.0, |sum, i| sum + i.seconds)),
        export_seconds: round3(exports.iter().fold(0.0, |sum, e| sum + e.seconds)),
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
    }
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
