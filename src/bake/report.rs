//! What a bake run did, per target and in total: the outputs (`Output::BAKE`), the job summary
//! with a row per target, and the JSON / dotenv renderings. Each target's own figures are a
//! build's `Report`, so a name means the same for a target as for a build. Pure.

use serde_json::{Value, json};

use crate::error::Error;
use crate::escape;
use crate::platform::gitlab;
use crate::report::{Output, OutputFormat, Report};

#[derive(Debug, Clone)]
pub struct BakeReport {
    /// Each target's report, in the definition's order.
    pub targets: Vec<(String, Report)>,
    /// buildx's metadata file, keyed by target, as bake-action gives it.
    pub metadata: Option<Value>,
    pub succeeded: bool,
    pub seconds: f64,
}

impl BakeReport {
    fn sum(&self, of: impl Fn(&Report) -> f64) -> f64 {
        self.targets.iter().map(|(_, r)| of(r)).sum()
    }

    fn steps(&self) -> (usize, usize) {
        self.targets.iter().fold((0, 0), |(cached, total), (_, r)| {
            (cached + r.stats.cached_steps, total + r.stats.total_steps)
        })
    }

    /// Every target's every cacheable step came from the cache, and the run succeeded.
    pub fn cache_hit(&self) -> bool {
        self.succeeded && self.targets.iter().all(|(_, r)| r.cache_hit())
    }

    fn hit_ratio(&self) -> f64 {
        let (cached, total) = self.steps();
        crate::stats::hit_ratio(cached, total)
    }

    fn targets_json(&self) -> Value {
        Value::Object(
            self.targets
                .iter()
                .map(|(name, r)| (name.clone(), r.target_json()))
                .collect(),
        )
    }

    fn metadata_text(&self) -> String {
        self.metadata
            .as_ref()
            .filter(|m| !m.is_null())
            .and_then(|m| serde_json::to_string_pretty(m).ok())
            .unwrap_or_default()
    }

    fn value(&self, output: Output) -> String {
        let (cached, total) = self.steps();
        match output {
            Output::Targets => self.targets_json().to_string(),
            Output::CacheHit => self.cache_hit().to_string(),
            Output::CacheHitRatio => self.hit_ratio().to_string(),
            Output::CachedSteps => cached.to_string(),
            Output::TotalSteps => total.to_string(),
            Output::CacheImportSeconds => format!("{:.3}", self.sum(|r| r.stats.import_seconds)),
            Output::CacheExportSeconds => format!("{:.3}", self.sum(|r| r.stats.export_seconds)),
            Output::BuildSeconds => format!("{:.3}", self.seconds),
            Output::Metadata => self.metadata_text(),
            other => unreachable!("{} is not a bake output", other.name()),
        }
    }

    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        Output::BAKE
            .iter()
            .map(|output| (output.name(), self.value(*output)))
            .collect()
    }

    pub fn render(&self, format: OutputFormat) -> Result<String, Error> {
        match format {
            OutputFormat::Json => {
                let mut object = serde_json::Map::new();
                for output in Output::BAKE {
                    let value = match output {
                        Output::Targets => self.targets_json(),
                        Output::Metadata => self.metadata.clone().unwrap_or(Value::Null),
                        Output::CacheHit => json!(self.cache_hit()),
                        other => Value::String(self.value(other)),
                    };
                    object.insert(output.name().to_owned(), value);
                }
                Ok(format!("{:#}\n", Value::Object(object)))
            }
            OutputFormat::Dotenv => {
                let outputs: Vec<(&str, String)> = Output::BAKE
                    .iter()
                    .filter(|o| !o.is_json())
                    .map(|o| (o.name(), self.value(*o)))
                    .collect();
                gitlab::dotenv_report(&outputs)
            }
        }
    }

    /// One line per target, then the totals.
    pub fn headlines(&self) -> Vec<String> {
        let (cached, total) = self.steps();
        let mut lines: Vec<String> = self
            .targets
            .iter()
            .map(|(name, r)| format!("{name}: {}", r.headline()))
            .collect();
        lines.push(format!(
            "regcache: bake: {cached}/{total} steps cached over {} target(s) ({:.1}%), cache-hit={}, bake {:.2}s",
            self.targets.len(),
            self.hit_ratio() * 100.0,
            self.cache_hit(),
            self.seconds
        ));
        lines
    }

    /// The job summary: a row per target.
    pub fn summary_markdown(&self) -> String {
        let (cached, total) = self.steps();
        let mut md = format!(
            "### regcache bake: {cached}/{total} steps cached over {} target(s)\n\n| target | steps | cached | | read from | wrote | export |\n|---|---|---|---|---|---|---|\n",
            self.targets.len()
        );
        for (name, r) in &self.targets {
            let source = r.target_json()[Output::CacheSource.name()]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let written = r.selection.refs.write.clone().unwrap_or_default();
            let exported = match r.cache_exported() {
                Value::String(words) => words,
                other => other.to_string(),
            };
            let cell = |text: &str| {
                if text.is_empty() {
                    "–".to_owned()
                } else {
                    escape::code_in_table(text)
                }
            };
            md += &format!(
                "| {} | {} | {} | `{}` | {} | {} | {} |\n",
                escape::markdown(name),
                r.stats.total_steps,
                r.stats.cached_steps,
                crate::report::bar(r.stats.cached_steps, r.stats.total_steps),
                cell(&source),
                cell(&written),
                escape::markdown(&exported),
            );
        }
        for (name, r) in &self.targets {
            if let Some(failed) = &r.stats.failed_step {
                md += &format!(
                    "\n**{} failed at** {}: {}\n",
                    escape::markdown(name),
                    escape::code(&failed.name),
                    escape::markdown(&failed.error)
                );
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::BuildStats;

    fn report(cached: usize, total: usize) -> Report {
        let mut stats: BuildStats = crate::config::Engine::Buildx.read_log(&b""[..]).unwrap();
        stats.cached_steps = cached;
        stats.total_steps = total;
        stats.hit_ratio = crate::stats::hit_ratio(cached, total);
        Report::from_log(stats)
    }

    #[test]
    fn totals_sum_the_targets_and_a_hit_needs_every_target() {
        let mut bake = BakeReport {
            targets: vec![("api".into(), report(3, 3)), ("web".into(), report(1, 4))],
            metadata: Some(json!({"api": {"containerimage.digest": "sha256:a"}})),
            succeeded: true,
            seconds: 2.5,
        };
        for (i, (_, r)) in bake.targets.iter_mut().enumerate() {
            r.succeeded = true;
            r.stats.import_seconds = 1.5 / (i + 1) as f64;
            r.stats.export_seconds = 0.25;
        }
        let outputs: std::collections::BTreeMap<_, _> = bake.outputs().into_iter().collect();
        assert_eq!(outputs["cached-steps"], "4");
        assert_eq!(outputs["total-steps"], "7");
        assert_eq!(outputs["cache-hit"], "false");
        assert_eq!(outputs["cache-hit-ratio"], "0.571");
        assert_eq!(outputs["cache-import-seconds"], "2.250");
        assert_eq!(outputs["cache-export-seconds"], "0.500");
        assert_eq!(outputs["build-seconds"], "2.500");
        let targets: Value = serde_json::from_str(&outputs["targets"]).unwrap();
        assert_eq!(targets["api"]["cache-hit"], json!(true));
        assert_eq!(targets["web"]["cached-steps"], json!(1));
        assert_eq!(targets["web"]["cache-hit-ratio"], json!(0.25));
        assert!(outputs["metadata"].contains("\"containerimage.digest\": \"sha256:a\""));
        let dotenv = bake.render(OutputFormat::Dotenv).unwrap();
        assert!(dotenv.contains("REGCACHE_CACHED_STEPS=4\n"), "{dotenv}");
        assert!(
            !dotenv.contains("REGCACHE_TARGETS") && !dotenv.contains("REGCACHE_METADATA"),
            "the JSON outputs stay out of dotenv: {dotenv}"
        );
        let json: Value = serde_json::from_str(&bake.render(OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["targets"]["web"]["total-steps"], json!(4));
        assert_eq!(json["cache-hit"], json!(false));
        assert_eq!(json["metadata"]["api"]["containerimage.digest"], "sha256:a");
        let headlines = bake.headlines();
        assert!(
            headlines[1].starts_with("web: regcache: 1/4 steps cached"),
            "{headlines:?}"
        );
        assert_eq!(
            headlines[2],
            "regcache: bake: 4/7 steps cached over 2 target(s) (57.1%), cache-hit=false, bake 2.50s"
        );
        bake.targets.truncate(1);
        assert_eq!(bake.outputs()[1], ("cache-hit", "true".to_owned()));
        bake.succeeded = false;
        assert_eq!(bake.outputs()[1], ("cache-hit", "false".to_owned()));
        let md = bake.summary_markdown();
        assert!(md.contains("| api | 3 | 3 | `██████████` |"), "{md}");
    }
}
