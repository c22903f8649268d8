//! Reporting: the step outputs, the job summary, and the JSON / dotenv renderings used
//! outside GitHub. `OUTPUTS` is the one list of output names; a test keeps action.yml in step.

use serde_json::{Value, json};

use crate::registry::Probe;
use crate::stats::{BuildStats, ImportOutcome};

pub const OUTPUTS: &[(&str, &str)] = &[
    (
        "cache-hit",
        "true when every cacheable Dockerfile step was cached.",
    ),
    (
        "cache-hit-ratio",
        "Cached steps divided by cacheable steps (0 to 1).",
    ),
    (
        "cached-steps",
        "Dockerfile steps served from cache (FROM and internal steps excluded).",
    ),
    (
        "total-steps",
        "Cacheable Dockerfile steps (FROM and internal steps excluded).",
    ),
    (
        "cache-ref",
        "The cache ref this build wrote (empty when it wrote none).",
    ),
    (
        "cache-source",
        "The first cache ref of the fallback chain that existed.",
    ),
    (
        "cache-refs-found",
        "Cache refs that were imported, comma-separated.",
    ),
    (
        "cache-refs-missing",
        "Cache refs of the chain that did not exist or could not be read, comma-separated.",
    ),
    (
        "cache-import-seconds",
        "Time spent importing cache manifests.",
    ),
    ("cache-export-seconds", "Time spent exporting the cache."),
    ("cache-exported", "true when the cache export succeeded."),
    ("build-seconds", "Wall time of the build."),
    ("stats", "Everything above and per-stage counts, as JSON."),
    ("imageid", "Image ID."),
    ("digest", "Image digest."),
    (
        "metadata",
        "Build result metadata (buildx --metadata-file), as JSON.",
    ),
];

#[derive(Debug, Clone)]
pub struct RunReport {
    pub stats: BuildStats,
    /// The ref written, empty when none.
    pub cache_ref: String,
    /// The read chain with what the probe found (None: not probed).
    pub candidates: Vec<(String, Option<Probe>)>,
    pub build_seconds: f64,
    pub succeeded: bool,
    pub image_id: Option<String>,
    pub metadata: Option<Value>,
}

fn joined(refs: Vec<&str>) -> String {
    refs.join(",")
}

fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

impl RunReport {
    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// `cache.manifest` is a string holding JSON (buildkit.md §5): parsed twice.
    fn cache_manifest(&self) -> Option<Value> {
        serde_json::from_str(self.metadata_str("cache.manifest")?).ok()
    }

    fn found(&self) -> Vec<&str> {
        self.stats.refs(|o| *o == ImportOutcome::Found)
    }

    /// Refs of the chain the probe did not find, then imports that failed.
    fn missing(&self) -> Vec<&str> {
        let mut missing: Vec<&str> = self
            .candidates
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    Some(Probe::Missing | Probe::Failed(_) | Probe::Unreachable(_))
                )
            })
            .map(|(r, _)| r.as_str())
            .collect();
        for r in self.stats.refs(|o| *o != ImportOutcome::Found) {
            if !missing.contains(&r) {
                missing.push(r);
            }
        }
        missing
    }

    /// The first ref of the chain that existed (probed), or else the first imported.
    fn source(&self) -> String {
        let probed = self
            .candidates
            .iter()
            .find(|(_, p)| matches!(p, Some(Probe::Exists { .. })))
            .map(|(r, _)| r.as_str());
        probed
            .or_else(|| self.found().first().copied())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn cache_hit(&self) -> bool {
        self.succeeded && self.stats.cache_hit
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
            "cache-ref": self.cache_ref,
            "cache-source": self.source(),
            "cache-refs-found": self.found(),
            "cache-refs-missing": self.missing(),
            "cache-import-seconds": s.import_seconds,
            "cache-export-seconds": s.export_seconds,
            "cache-exported": s.cache_exported(),
            "cache-manifest": self.cache_manifest(),
            "build-seconds": self.build_seconds,
            "succeeded": self.succeeded,
            "stages": s.stages,
            "imports": s.imports,
            "exports": s.exports,
            "failed-step": s.failed_step,
            "vertices": s.vertices,
        })
    }

    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        let s = &self.stats;
        let value = |name: &str| -> String {
            match name {
                "cache-hit" => self.cache_hit().to_string(),
                "cache-hit-ratio" => s.hit_ratio.to_string(),
                "cached-steps" => s.cached_steps.to_string(),
                "total-steps" => s.total_steps.to_string(),
                "cache-ref" => self.cache_ref.clone(),
                "cache-source" => self.source(),
                "cache-refs-found" => joined(self.found()),
                "cache-refs-missing" => joined(self.missing()),
                "cache-import-seconds" => seconds(s.import_seconds),
                "cache-export-seconds" => seconds(s.export_seconds),
                "cache-exported" => s.cache_exported().to_string(),
                "build-seconds" => seconds(self.build_seconds),
                "stats" => self.stats_json().to_string(),
                "imageid" => self.image_id.clone().unwrap_or_default(),
                "digest" => self
                    .metadata_str("containerimage.digest")
                    .unwrap_or_default()
                    .to_owned(),
                "metadata" => self
                    .metadata
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default(),
                other => unreachable!("output {other} has no value"),
            }
        };
        OUTPUTS
            .iter()
            .map(|(name, _)| (*name, value(name)))
            .collect()
    }

    /// One line for the log.
    pub fn headline(&self) -> String {
        let s = &self.stats;
        format!(
            "regcache: {}/{} steps cached ({:.1}%), cache-hit={}, import {:.2}s, export {:.2}s ({}), build {:.2}s",
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0,
            self.cache_hit(),
            s.import_seconds,
            s.export_seconds,
            if s.cache_exported() {
                "exported"
            } else {
                "not exported"
            },
            self.build_seconds
        )
    }

    /// The job summary (GitHub-flavoured Markdown).
    pub fn summary_markdown(&self) -> String {
        let s = &self.stats;
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut md = format!(
            "### regcache: {}/{} steps cached ({:.0}%)\n\n| | |\n|---|---|\n",
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0
        );
        md += &format!(
            "| cache hit | {} |\n",
            if self.cache_hit() { "yes" } else { "no" }
        );
        md += &format!(
            "| build | {} in {:.2} s |\n",
            if self.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            self.build_seconds
        );
        md += &format!(
            "| cache import | {:.2} s |\n| cache export | {:.2} s |\n",
            s.import_seconds, s.export_seconds
        );
        md += "\n| cache ref | used as | result |\n|---|---|---|\n";
        for import in &s.imports {
            let result = match &import.outcome {
                ImportOutcome::Found => "found".to_owned(),
                ImportOutcome::Missing => "not found".to_owned(),
                ImportOutcome::Failed(e) => format!("failed: {}", cell(e)),
            };
            md += &format!("| `{}` | source | {result} |\n", cell(&import.reference));
        }
        let export = match s.exports.iter().find(|e| !e.ok) {
            None if s.cache_exported() => "exported".to_owned(),
            None => "not exported".to_owned(),
            Some(e) => format!(
                "failed: {}",
                cell(e.error.as_deref().unwrap_or("did not finish"))
            ),
        };
        for (reference, probe) in &self.candidates {
            if matches!(
                probe,
                Some(Probe::Missing | Probe::Failed(_) | Probe::Unreachable(_))
            ) {
                md += &format!(
                    "| `{}` | source | not found (not passed to buildx) |\n",
                    cell(reference)
                );
            }
        }
        if self.cache_ref.is_empty() {
            md += "| (none) | destination | read-only: nothing written |\n";
        } else {
            md += &format!("| `{}` | destination | {export} |\n", cell(&self.cache_ref));
        }
        md += "\n| stage | steps | cached | time |\n|---|---|---|---|\n";
        for stage in &s.stages {
            md += &format!(
                "| {} | {} | {} | {:.2} s |\n",
                cell(&stage.name),
                stage.steps,
                stage.cached,
                stage.seconds
            );
        }
        if let Some(failed) = &s.failed_step {
            md += &format!(
                "\n**Failed step:** `{}`: {}\n",
                cell(&failed.name),
                cell(&failed.error)
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::read_log;
    use crate::stats::compute;

    fn fixture_report(name: &str) -> RunReport {
        let path = format!(
            "{}/tests/fixtures/buildkit/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let progress =
            read_log(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
        RunReport {
            stats: compute(&progress),
            cache_ref: "127.0.0.1:5055/fixture/app:cache-feature-x".into(),
            candidates: vec![],
            build_seconds: 1.5,
            succeeded: true,
            image_id: Some("sha256:abc".into()),
            metadata: Some(
                json!({"containerimage.digest": "sha256:def", "cache.manifest": "{\"digest\":\"sha256:0f\",\"size\":1549}"}),
            ),
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
        assert_eq!(OUTPUTS.len(), outputs.len());
    }

    #[test]
    fn the_dotenv_report_fits_gitlabs_limit() {
        // The largest fixture build: two stages, two imports, the export, full metadata.
        let report = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        );
        let outputs: Vec<_> = report
            .outputs()
            .into_iter()
            .filter(|(n, _)| *n != "metadata")
            .collect();
        let text = crate::platform::gitlab::dotenv(&outputs);
        assert!(
            text.len() < crate::platform::gitlab::DOTENV_LIMIT / 2,
            "{} bytes",
            text.len()
        );
        assert!(text.lines().all(|l| l.starts_with("REGCACHE_")));
    }

    #[test]
    fn summary_has_stage_rows_and_refs() {
        let md = fixture_report(
            "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        )
        .summary_markdown();
        assert!(
            md.starts_with("### regcache: 4/6 steps cached (67%)"),
            "{md}"
        );
        assert!(md.contains("| build | 3 | 3 |"), "{md}");
        assert!(md.contains("| stage-1 | 3 | 1 |"), "{md}");
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
