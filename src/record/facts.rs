//! The record of this build, from what regcache can see for certain: the Dockerfile as
//! written, the steps BuildKit's progress named (and whether each was cached), the digests its
//! FROM steps resolved, the build-args' hashes and the context's file hashes. Pure.

use std::collections::BTreeMap;

use super::{BuildRecord, FileSet, SCHEMA, StageFacts, StepFacts};
use crate::dockerfile::{Dockerfile, Instruction, Stage};
use crate::stats::{BuildStats, StepResult};

/// The COPY and ADD instructions that take files from the context, in file order: what
/// `context::hash` is asked about, and the order `Facts::hashed` answers in.
pub fn context_copies(file: &Dockerfile) -> Vec<(usize, usize, Vec<String>)> {
    let mut copies = Vec::new();
    for stage in &file.stages {
        for (i, instruction) in stage.instructions.iter().enumerate() {
            let sources = instruction.sources();
            if !sources.is_empty() && instruction.copies_from().is_none() {
                copies.push((stage.index, i, sources));
            }
        }
    }
    copies
}

/// What this build was, besides its progress.
pub struct Facts<'a> {
    pub dockerfile: &'a Dockerfile,
    pub dockerfile_path: &'a str,
    /// Build-args as given (`NAME=value`): only their hashes are kept.
    pub build_args: &'a [String],
    pub target: Option<&'a str>,
    pub platforms: &'a [String],
    pub no_cache: bool,
    pub no_cache_filters: &'a [String],
    pub mode: &'a str,
    /// The cache-to options, as `BuildRecord::export` keeps them.
    pub export: &'a str,
    /// One entry per `context_copies` item, or None when the context was not hashed.
    pub hashed: Option<&'a [Option<FileSet>]>,
}

fn given_args(build_args: &[String]) -> BTreeMap<String, String> {
    build_args
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `sha256:<hex>` of a value, or `unset`.
fn value_hash(value: Option<&String>) -> String {
    value.map_or_else(
        || "unset".to_owned(),
        |v| crate::registry::sha256_digest(v.as_bytes()),
    )
}

impl Facts<'_> {
    /// The record of this build (its history empty: the caller adds the runs).
    pub fn record(&self, stats: &BuildStats) -> BuildRecord {
        self.record_of(&stats.steps, &stats.bases)
    }

    /// This build's record before it runs: every step of every stage as the Dockerfile has
    /// them, each taken as cached, and no base digests (known only once the build resolves
    /// them). What a stored record is compared with to tell whether the build can miss.
    pub fn planned(&self) -> BuildRecord {
        let steps: Vec<StepResult> = self
            .dockerfile
            .stages
            .iter()
            .flat_map(|stage| {
                let of = stage.instructions.iter().filter(|i| i.is_step()).count();
                (1..=of).map(move |index| StepResult {
                    stage: stage.label(),
                    platform: None,
                    index,
                    of,
                    name: String::new(),
                    cached: true,
                })
            })
            .collect();
        self.record_of(&steps, &[])
    }

    fn record_of(&self, results: &[StepResult], resolved: &[String]) -> BuildRecord {
        let given = given_args(self.build_args);
        let file = self.dockerfile;
        let mut build_args = BTreeMap::new();
        for (name, default) in file.global_args.iter().chain(
            file.stages
                .iter()
                .flat_map(|s| &s.instructions)
                .flat_map(Instruction::declared_args)
                .collect::<Vec<_>>()
                .iter(),
        ) {
            let value = given.get(name).or(default.as_ref());
            build_args
                .entry(name.clone())
                .or_insert_with(|| value_hash(value));
        }
        let bases: BTreeMap<String, String> = resolved
            .iter()
            .filter_map(|b| b.rsplit_once('@'))
            .map(|(r, d)| (normalize(r), d.to_owned()))
            .collect();
        let stages: Vec<StageFacts> = file
            .stages
            .iter()
            .map(|stage| {
                let base = file.expanded_base(stage, &given);
                let base_stage = file.stage_named(&base).map(Stage::label);
                StageFacts {
                    label: stage.label(),
                    line: stage.line,
                    from: stage.base.clone(),
                    base_digest: base_stage
                        .is_none()
                        .then(|| bases.get(&normalize(&base)).cloned())
                        .flatten(),
                    base,
                    base_stage,
                }
            })
            .collect();
        let mut steps: Vec<StepFacts> = Vec::new();
        for result in results {
            let Some(stage) = file.stage_labelled(&result.stage) else {
                continue;
            };
            let stage_steps: Vec<usize> = (0..stage.instructions.len())
                .filter(|i| stage.instructions[*i].is_step())
                .collect();
            // n counts the FROM too when the base is an image.
            let offset = result.of.saturating_sub(stage_steps.len());
            let Some(ordinal) = result.index.checked_sub(1 + offset) else {
                continue;
            };
            let Some(&at) = stage_steps.get(ordinal) else {
                continue;
            };
            // A multi-platform build runs each step once per platform: cached only if every
            // platform's was.
            if let Some(seen) = steps
                .iter_mut()
                .find(|s| s.stage == stage.label() && s.ordinal == ordinal)
            {
                seen.cached &= result.cached;
                continue;
            }
            steps.push(self.step(stage, at, ordinal, result.cached));
        }
        steps.sort_by_key(|s| (file.stage_labelled(&s.stage).map(|st| st.index), s.ordinal));
        BuildRecord {
            schema: SCHEMA,
            dockerfile: self.dockerfile_path.to_owned(),
            target: self.target.map(str::to_owned),
            platforms: self.platforms.to_vec(),
            no_cache: self.no_cache,
            no_cache_filters: self.no_cache_filters.to_vec(),
            mode: self.mode.to_owned(),
            export: self.export.to_owned(),
            image_stages: image_stages(file, self.target, &stages),
            build_args,
            stages,
            steps,
            context_hashed: self.hashed.is_some(),
            history: Vec::new(),
        }
    }

    /// One step: its text, what shapes it, the args and files its key depends on.
    fn step(&self, stage: &Stage, at: usize, ordinal: usize, cached: bool) -> StepFacts {
        let instruction = &stage.instructions[at];
        let mut shaped_by = Vec::new();
        for earlier in stage.instructions[..at].iter().rev() {
            if earlier.is_step() {
                break;
            }
            if earlier.shapes_later_steps() {
                shaped_by.insert(0, (earlier.line, earlier.text.clone()));
            }
        }
        let declared: Vec<String> = stage.instructions[..at]
            .iter()
            .flat_map(Instruction::declared_args)
            .map(|(name, _)| name)
            .collect();
        // RUN sees every declared arg in its environment; other steps only the ones they name.
        let mut args: Vec<String> = declared
            .into_iter()
            .filter(|name| instruction.keyword == "RUN" || instruction.mentions(name))
            .collect();
        args.sort();
        args.dedup();
        let copies_from = instruction.copies_from().map(|from| {
            self.dockerfile
                .stage_named(from)
                .map_or_else(|| from.to_owned(), Stage::label)
        });
        let files = self.hashed.and_then(|hashed| {
            let position = context_copies(self.dockerfile)
                .iter()
                .position(|(s, i, _)| *s == stage.index && *i == at)?;
            hashed.get(position).cloned().flatten()
        });
        StepFacts {
            stage: stage.label(),
            ordinal,
            line: instruction.line,
            instruction: instruction.text.clone(),
            shaped_by,
            cached,
            args,
            copies_from,
            files,
        }
    }
}

/// The target stage (else the last) and the stages it is built on.
fn image_stages(file: &Dockerfile, target: Option<&str>, stages: &[StageFacts]) -> Vec<String> {
    let last = file.stages.last().map(Stage::label);
    let mut at = target
        .and_then(|t| file.stage_named(t).map(Stage::label))
        .or(last);
    let mut chain = Vec::new();
    while let Some(label) = at {
        if chain.contains(&label) {
            break;
        }
        at = stages
            .iter()
            .find(|s| s.label == label)
            .and_then(|s| s.base_stage.clone());
        chain.push(label);
    }
    chain
}

/// An image name as BuildKit's progress prints it (`docker.io/library/alpine:3`), for matching
/// a FROM to the digest its step names.
fn normalize(name: &str) -> String {
    crate::reference::parse(name).map_or_else(|_| name.to_owned(), |r| r.whole())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    const FILE: &str = "\
ARG BASE=r.example/base:1
FROM $BASE AS deps
ARG V=1
WORKDIR /src
COPY package.json ./
RUN install $V
FROM deps AS build
COPY src/ ./src/
RUN make
FROM r.example/base:1
COPY --from=build /out /out
";

    fn result(stage: &str, index: usize, of: usize, cached: bool) -> StepResult {
        StepResult {
            stage: stage.into(),
            platform: None,
            index,
            of,
            name: String::new(),
            cached,
        }
    }

    #[test]
    fn steps_map_to_their_lines_args_files_and_bases() {
        let file = parse(FILE);
        let copies = context_copies(&file);
        assert_eq!(
            copies
                .iter()
                .map(|(_, _, s)| s.join(" "))
                .collect::<Vec<_>>(),
            ["package.json", "src/"]
        );
        let set = |d: &str| {
            Some(FileSet {
                digest: d.into(),
                files: None,
                sources: BTreeMap::new(),
            })
        };
        let hashed = [set("sha256:p"), set("sha256:s")];
        let stats = BuildStats {
            steps: vec![
                result("deps", 2, 4, true),
                result("deps", 3, 4, true),
                result("deps", 4, 4, false),
                result("build", 1, 2, false),
                result("build", 2, 2, false),
                result("stage-2", 2, 2, false),
            ],
            bases: vec!["r.example/base:1@sha256:b1".into()],
            ..crate::stats::tests::empty()
        };
        let build_args = ["V=secret-value".to_owned()];
        let facts = Facts {
            dockerfile: &file,
            dockerfile_path: "Dockerfile",
            build_args: &build_args,
            target: None,
            platforms: &[],
            no_cache: false,
            no_cache_filters: &[],
            mode: "max",
            export: "",
            hashed: Some(&hashed),
        };
        let record = facts.record(&stats);
        let steps: Vec<(&str, usize, u32, &str, bool)> = record
            .steps
            .iter()
            .map(|s| {
                (
                    s.stage.as_str(),
                    s.ordinal,
                    s.line,
                    s.first_line(),
                    s.cached,
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("deps", 0, 4, "WORKDIR /src", true),
                ("deps", 1, 5, "COPY package.json ./", true),
                ("deps", 2, 6, "RUN install $V", false),
                ("build", 0, 8, "COPY src/ ./src/", false),
                ("build", 1, 9, "RUN make", false),
                ("stage-2", 0, 11, "COPY --from=build /out /out", false),
            ]
        );
        assert_eq!(record.steps[0].shaped_by, [(3, "ARG V=1".to_owned())]);
        assert_eq!(record.steps[2].args, ["V"]);
        assert!(record.steps[1].args.is_empty(), "a COPY that names no arg");
        assert_eq!(record.steps[1].files.as_ref().unwrap().digest, "sha256:p");
        assert_eq!(record.steps[3].files.as_ref().unwrap().digest, "sha256:s");
        assert_eq!(record.steps[5].copies_from.as_deref(), Some("build"));
        assert_eq!(
            record.build_args["V"],
            crate::registry::sha256_digest(b"secret-value")
        );
        assert_eq!(
            record.build_args["BASE"],
            crate::registry::sha256_digest(b"r.example/base:1")
        );
        assert!(
            !serde_json::to_string(&record)
                .unwrap()
                .contains("secret-value")
        );
        let bases: Vec<(&str, Option<&str>, Option<&str>)> = record
            .stages
            .iter()
            .map(|s| {
                (
                    s.label.as_str(),
                    s.base_digest.as_deref(),
                    s.base_stage.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            bases,
            [
                ("deps", Some("sha256:b1"), None),
                ("build", None, Some("deps")),
                ("stage-2", Some("sha256:b1"), None)
            ]
        );
        assert_eq!(record.image_stages, ["stage-2"]);
        let targeted = Facts {
            target: Some("build"),
            ..facts
        }
        .record(&stats);
        assert_eq!(targeted.image_stages, ["build", "deps"]);
    }
}
