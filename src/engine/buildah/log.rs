//! buildah's build log turned into `BuildStats`. buildah prints no structured progress; its
//! lines come from `imagebuildah/stage_executor.go` (buildah v1.28):
//!
//! - `[i/n] STEP k/m: INSTRUCTION` (`STEP k/m: …` for a single stage), where `i/n` counts
//!   stages and `k/m` steps of the stage; a stage's first step is its `FROM`;
//! - `--> Using cache <id>`: the step's layer was in local storage (perhaps just pulled);
//! - `--> Cache pulled from remote <repo>:<key>`: pulled from a `--cache-from` repository;
//! - `--> Pushing cache <repo>:<key>`: the step's layer goes to the `--cache-to` repository;
//! - `Error: failed pushing cache to …`, `Error: building at STEP "…": …`: the run's end;
//! - `time="…" level=warning msg="Failed, retrying … Error: initializing source
//!   docker://<repo>:<key>: …"`: a cache source that cannot be read (containers/common
//!   `pkg/retry`).
//!
//! `FROM` steps are not counted, as with buildx, so a fully warm build reads 100 %.

use std::sync::LazyLock;

use regex::Regex;

use crate::stats::{
    BuildStats, CacheExport, CacheImport, FailedStep, ImportOutcome, StageStats, VertexCounts,
    hit_ratio, round3, total_seconds,
};

static STEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$").expect("valid"));
static FROM_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^FROM\s+\S+\s+AS\s+(\S+)\s*$").expect("valid"));
static SOURCE_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"Failed, retrying.*Error: initializing source docker://([^:@\s]+(?::\d+)?/[^:@\s]+):[0-9a-f]{64}: (.*?)"?$"#)
        .expect("valid")
});
const USING_CACHE: &str = "--> Using cache ";
const PULLED: &str = "--> Cache pulled from remote ";
const PUSHING: &str = "--> Pushing cache ";
const PUSH_FAILED: &str = "Error: failed pushing cache to ";
const STEP_FAILED: &str = "Error: building at STEP ";

#[derive(Debug, Clone, Default)]
struct Step {
    stage: usize,
    instruction: String,
    cached: bool,
    pulled_from: Option<String>,
    started_at: f64,
    pull_seconds: f64,
}

/// What the log said so far; `feed` one line at a time (with the seconds since the build
/// started, 0 for a saved log), then `stats`.
#[derive(Debug, Default)]
pub struct BuildahLog {
    /// Per stage (index from 1): its name and how many steps it has, `FROM` included.
    stages: Vec<(String, usize)>,
    steps: Vec<Step>,
    pushes: Vec<(String, f64)>,
    push_error: Option<String>,
    failure: Option<String>,
    /// Cache sources that could not be read, with buildah's reason.
    unreadable: Vec<(String, String)>,
    /// When the last step started or the last push began, to time it by the next line.
    last_push_at: Option<f64>,
    pushing_seconds: f64,
}

/// `repo:key` → `repo` (the key is a content hash, the tag of one step's layer).
fn repository(keyed: &str) -> &str {
    keyed.rsplit_once(':').map_or(keyed, |(repo, _)| repo)
}

impl BuildahLog {
    pub fn feed(&mut self, line: &str, at: f64) {
        let line = line.trim_end();
        if let Some(started) = self.last_push_at.take() {
            self.pushing_seconds += at - started;
        }
        // buildah's own lines after an `Error:` line mean the build went on: that line was a
        // RUN step's output, not buildah's closing error.
        if line.starts_with("--> ") || line.contains("STEP ") || line.contains("COMMIT") {
            self.failure = None;
        }
        if let Some(c) = STEP.captures(line) {
            let number = |i: usize| c.get(i).map_or(1, |m| m.as_str().parse().unwrap_or(1));
            let stage = number(1);
            let instruction = c[5].to_owned();
            if self.stages.len() < stage {
                self.stages.resize(stage, (String::new(), 0));
            }
            let entry = &mut self.stages[stage - 1];
            entry.1 = number(4);
            if number(3) == 1 {
                entry.0 = FROM_NAME
                    .captures(&instruction)
                    .map(|m| m[1].to_owned())
                    .unwrap_or_default();
            }
            self.steps.push(Step {
                stage,
                instruction,
                started_at: at,
                ..Step::default()
            });
        } else if let Some(keyed) = line.strip_prefix(PULLED) {
            if let Some(step) = self.steps.last_mut() {
                step.pulled_from = Some(repository(keyed.trim()).to_owned());
                step.pull_seconds = at - step.started_at;
            }
        } else if line.starts_with(USING_CACHE) {
            if let Some(step) = self.steps.last_mut() {
                step.cached = true;
            }
        } else if let Some(keyed) = line.strip_prefix(PUSHING) {
            self.pushes.push((repository(keyed.trim()).to_owned(), at));
            self.last_push_at = Some(at);
        } else if let Some(rest) = line.strip_prefix(PUSH_FAILED) {
            self.push_error = Some(rest.to_owned());
        } else if line.starts_with(STEP_FAILED) {
            self.failure = Some(line.trim_start_matches("Error: ").to_owned());
        } else if let Some(c) = SOURCE_FAILED.captures(line) {
            let repo = c[1].to_owned();
            if !self.unreadable.iter().any(|(r, _)| *r == repo) {
                self.unreadable.push((repo, c[2].replace("\\\"", "\"")));
            }
        } else if let Some(error) = line.strip_prefix("Error: ") {
            self.failure.get_or_insert_with(|| error.to_owned());
        }
    }

    /// A stage's name as the tables show it: its own, else BuildKit's names for unnamed
    /// stages, so both engines' tables read alike.
    fn stage_name(&self, index: usize) -> String {
        match self.stages.get(index - 1) {
            Some((name, _)) if !name.is_empty() => name.clone(),
            _ if self.stages.len() <= 1 => "default".to_owned(),
            _ => format!("stage-{}", index - 1),
        }
    }

    /// Steps and cached steps per stage, in first-seen order.
    fn stage_table(&self, counted: &[&Step]) -> Vec<StageStats> {
        let mut stages: Vec<StageStats> = Vec::new();
        for step in counted {
            let name = self.stage_name(step.stage);
            let index = match stages.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    stages.push(StageStats {
                        name,
                        steps: 0,
                        cached: 0,
                        seconds: 0.0,
                    });
                    stages.len() - 1
                }
            };
            stages[index].steps += 1;
            stages[index].cached += usize::from(step.cached);
        }
        stages
    }

    /// What each cache source gave: found (a repository is read a step at a time; one that
    /// exists and held no step of this build was still read), or why it could not be read.
    fn imports(&self, sources: &[String], counted: &[&Step]) -> Vec<CacheImport> {
        sources
            .iter()
            .map(|source| {
                let pulled: Vec<&&Step> = counted
                    .iter()
                    .filter(|s| s.pulled_from.as_deref() == Some(source))
                    .collect();
                let unreadable = self.unreadable.iter().find(|(r, _)| r == source);
                CacheImport {
                    reference: source.clone(),
                    outcome: match unreadable {
                        Some((_, error)) if pulled.is_empty() => {
                            ImportOutcome::Failed(error.clone())
                        }
                        _ => ImportOutcome::Found,
                    },
                    seconds: total_seconds(pulled.iter().map(|s| s.pull_seconds)),
                }
            })
            .collect()
    }

    /// The statistics; `sources` are the `--cache-from` repositories the build was given and
    /// `pushed_to` its `--cache-to` repository, which buildah's log alone does not name when
    /// nothing was pulled or pushed.
    pub fn stats(&self, sources: &[String], pushed_to: Option<&str>) -> BuildStats {
        let counted: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| !s.instruction.to_ascii_uppercase().starts_with("FROM "))
            .collect();
        let failed_at = self.failure.as_ref().and_then(|_| self.steps.last());
        let total = counted.len();
        let cached = counted.iter().filter(|s| s.cached).count();
        let failed = usize::from(failed_at.is_some_and(|s| !s.cached));
        // Steps of the failing stage that never started (later stages' sizes are unknown).
        let not_run = failed_at.map_or(0, |last| {
            let (_, size) = &self.stages[last.stage - 1];
            let seen = self.steps.iter().filter(|s| s.stage == last.stage).count();
            size.saturating_sub(seen)
        });
        let imports = self.imports(sources, &counted);
        // buildah pushes each step's layer as it builds it, and only those: a build that built
        // nothing pushed nothing, and its `--cache-to` repository is as it was.
        let pushed_anything = !self.pushes.is_empty() || self.push_error.is_some();
        let exports: Vec<CacheExport> = pushed_to
            .filter(|_| pushed_anything || self.failure.is_some())
            .map(|repo| CacheExport {
                name: format!("pushing cache to {repo}"),
                ok: self.push_error.is_none() && self.failure.is_none(),
                error: self.push_error.clone(),
                seconds: round3(self.pushing_seconds),
            })
            .into_iter()
            .collect();
        let failed_step = failed_at
            .filter(|_| self.push_error.is_none())
            .map(|step| FailedStep {
                name: format!("[{}] {}", self.stage_name(step.stage), step.instruction),
                error: self.failure.clone().unwrap_or_default(),
            });
        BuildStats {
            total_steps: total,
            cached_steps: cached,
            rebuilt_steps: total - cached - failed,
            failed_steps: failed,
            not_run_steps: not_run,
            hit_ratio: hit_ratio(cached, total),
            import_seconds: total_seconds(imports.iter().map(|i| i.seconds)),
            export_seconds: total_seconds(exports.iter().map(|e| e.seconds)),
            stages: self.stage_table(&counted),
            imports,
            exports,
            failed_step,
            final_error: self.failure.clone().or_else(|| self.push_error.clone()),
            error_location: None,
            vertices: VertexCounts {
                total: self.steps.len(),
                cached,
                completed: self.steps.len() - failed,
            },
            // buildah's log names steps without the facts an explanation needs.
            steps: Vec::new(),
            bases: Vec::new(),
        }
    }

    /// The repository the log pushed to, and those it pulled from, in first-seen order: what
    /// a saved log tells of the flags the build was given.
    pub fn repositories(&self) -> (Vec<String>, Option<String>) {
        let mut sources: Vec<String> = Vec::new();
        for repo in self
            .steps
            .iter()
            .filter_map(|s| s.pulled_from.clone())
            .chain(self.unreadable.iter().map(|(r, _)| r.clone()))
        {
            if !sources.contains(&repo) {
                sources.push(repo);
            }
        }
        (sources, self.pushes.first().map(|(r, _)| r.clone()))
    }

    /// Whether the build failed only because its cache could not be pushed.
    pub fn only_the_push_failed(&self) -> bool {
        self.push_error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> BuildahLog {
        let mut log = BuildahLog::default();
        for (i, line) in text.lines().enumerate() {
            log.feed(line, i as f64);
        }
        log
    }

    fn fixture(name: &str) -> BuildahLog {
        let path = format!(
            "{}/tests/fixtures/buildah/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        read(&std::fs::read_to_string(path).unwrap())
    }

    const MAIN: &str = "127.0.0.1:5055/fx/buildcache-main";

    #[test]
    fn a_cold_build_rebuilds_every_step_and_pushes_each() {
        let log = fixture("cold.log");
        let s = log.stats(&[MAIN.into()], Some(MAIN));
        assert_eq!(
            (
                s.total_steps,
                s.cached_steps,
                s.rebuilt_steps,
                s.failed_steps
            ),
            (6, 0, 6, 0)
        );
        let stages: Vec<_> = s
            .stages
            .iter()
            .map(|st| (st.name.as_str(), st.steps, st.cached))
            .collect();
        assert_eq!(stages, [("build", 3, 0), ("stage-1", 3, 0)]);
        assert_eq!(log.pushes.len(), 6);
        assert!(s.cache_exported());
        assert_eq!(s.exports[0].name, format!("pushing cache to {MAIN}"));
        assert_eq!(log.repositories(), (vec![], Some(MAIN.to_owned())));
        assert!(!s.cache_hit(false), "a failed build is never a hit");
    }

    #[test]
    fn a_warm_build_on_empty_storage_pulls_every_step() {
        let log = fixture("warm-remote.log");
        let s = log.stats(&[MAIN.into()], Some(MAIN));
        assert_eq!((s.total_steps, s.cached_steps, s.hit_ratio), (6, 6, 1.0));
        assert!(s.cache_hit(true));
        assert_eq!(s.imports.len(), 1);
        assert_eq!(s.imports[0].outcome, ImportOutcome::Found);
        assert!(
            log.steps
                .iter()
                .filter(|st| !st.instruction.starts_with("FROM"))
                .all(|st| st.pulled_from.as_deref() == Some(MAIN))
        );
        // Each pull is timed from its STEP line to the line saying it was pulled.
        assert!(s.import_seconds > 0.0);
        assert!(log.pushes.is_empty(), "a pulled step is not pushed again");
        assert!(
            s.exports.is_empty(),
            "nothing pushed: the repository is as it was"
        );
        assert_eq!(log.repositories(), (vec![MAIN.to_owned()], None));
    }

    #[test]
    fn local_layers_count_as_cached() {
        let s = fixture("warm-local.log").stats(&[], None);
        assert_eq!((s.cached_steps, s.total_steps), (6, 6));
        assert!(s.imports.is_empty() && s.exports.is_empty());
    }

    #[test]
    fn a_refused_push_fails_the_export_not_a_step() {
        let log = fixture("push-refused.log");
        let refused = "127.0.0.1:5999/fx/buildcache-main";
        let s = log.stats(&[refused.into()], Some(refused));
        assert!(log.only_the_push_failed());
        assert!(!s.exports[0].ok);
        assert!(
            s.exports[0]
                .error
                .as_deref()
                .unwrap()
                .contains("connection refused"),
            "{:?}",
            s.exports
        );
        assert_eq!(s.failed_step, None);
        match &s.imports[0].outcome {
            ImportOutcome::Failed(e) => assert!(e.contains("connection refused"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.rebuilt_steps, 1,
            "the first step was built before the push"
        );
    }

    #[test]
    fn a_failing_step_is_named_with_its_stage_and_the_rest_did_not_run() {
        let log = fixture("run-failed.log");
        let s = log.stats(&[], None);
        assert!(!log.only_the_push_failed());
        let step = s.failed_step.clone().unwrap();
        assert_eq!(step.name, "[default] RUN false");
        assert_eq!(step.error, "building at STEP \"RUN false\": exit status 1");
        assert_eq!((s.total_steps, s.failed_steps, s.rebuilt_steps), (2, 1, 1));
        assert!(!s.log_succeeded());
    }

    #[test]
    fn a_step_printing_error_is_no_failure_when_the_build_goes_on() {
        let log = read(
            "STEP 1/3: FROM a\nSTEP 2/3: RUN ./check\nError: not configured (expected)\n--> 1a2b3c\nSTEP 3/3: RUN echo\nCOMMIT app\n--> 4d5e6f\n",
        );
        let s = log.stats(&[], None);
        assert_eq!((s.failed_steps, s.rebuilt_steps), (0, 2));
        assert!(s.log_succeeded());
    }

    #[test]
    fn steps_left_in_the_failing_stage_did_not_run() {
        let log = read(
            "[1/2] STEP 1/3: FROM a AS deps\n[1/2] STEP 2/3: RUN x\nError: building at STEP \"RUN x\": exit status 2\n",
        );
        let s = log.stats(&[], None);
        assert_eq!((s.failed_steps, s.not_run_steps), (1, 1));
        assert_eq!(s.failed_step.unwrap().name, "[deps] RUN x");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Lines in buildah's grammar and out of it.
        fn line() -> impl Strategy<Value = String> {
            prop_oneof![
                "STEP [0-9]{1,3}/[0-9]{1,3}: (FROM|RUN|COPY) [ -~]{0,20}",
                "--> (Using cache|Pushing cache|Cache pulled from remote) [ -~]{0,30}",
                "(Error|error|COMMIT|Getting image source signatures)[ -~]{0,30}",
                "\\PC{0,60}",
            ]
        }

        proptest! {
            /// Any log reads to an end, and its counts add up.
            #[test]
            fn any_log_reads(lines in proptest::collection::vec(line(), 0..40)) {
                let mut log = BuildahLog::default();
                for (i, line) in lines.iter().enumerate() {
                    log.feed(line, i as f64);
                }
                let stats = log.stats(&["r.io/app/buildcache-main".to_owned()], None);
                prop_assert!(stats.cached_steps <= stats.total_steps);
                prop_assert!(stats.total_steps <= lines.len());
                prop_assert!((0.0..=1.0).contains(&stats.hit_ratio));
            }
        }
    }
}
