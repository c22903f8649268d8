//! Why each step missed: this build's record against the record of the cache it read. Each
//! missed step gets one cause, the first that holds in `Cause::ALL`'s order, from facts
//! regcache saw in both builds; when none holds it says `unknown`, never a guess. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{BuildRecord, FileSet, StepFacts};

/// At most this many paths are named for one step.
const NAMED_PATHS: usize = 10;
/// At most this many characters of a step or a detail: both can carry the record's text, which
/// is the registry's word.
const SHOWN_CHARS: usize = 400;

/// `text` cut to `SHOWN_CHARS` characters, marked with `…` when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    NoCache,
    BaseImageChanged,
    InstructionChanged,
    BuildArgChanged,
    FileChanged,
    AfterAMiss,
    NotInCache,
    Unknown,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::NoCache => "no-cache",
            Cause::BaseImageChanged => "base-image-changed",
            Cause::InstructionChanged => "instruction-changed",
            Cause::BuildArgChanged => "build-arg-changed",
            Cause::FileChanged => "file-changed",
            Cause::AfterAMiss => "after-a-miss",
            Cause::NotInCache => "not-in-cache",
            Cause::Unknown => "unknown",
        }
    }
}

/// One missed step and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    /// The instruction's first line, as written.
    pub step: String,
    pub stage: String,
    pub line: u32,
    pub cause: Cause,
    pub detail: String,
}

impl Miss {
    /// `COPY package.json . (Dockerfile:6): file-changed package.json`
    pub fn one_line(&self, dockerfile: &str) -> String {
        let name = dockerfile.rsplit('/').next().unwrap_or(dockerfile);
        format!(
            "{} ({name}:{}): {} {}",
            self.step,
            self.line,
            self.cause.name(),
            self.detail
        )
        .trim_end()
        .to_owned()
    }
}

/// What the build read, besides the record.
#[derive(Debug, Clone, Default)]
pub struct Read<'a> {
    /// The cache ref the build read first (the chain's source), if it read one.
    pub source: Option<&'a str>,
    /// The source's record, when it has one describing the cache as stored.
    pub record: Option<&'a BuildRecord>,
    /// Why the source has no usable record.
    pub no_record: Option<String>,
    /// The source's import error, when the engine could not import it.
    pub import_error: Option<&'a str>,
}

/// Every missed step with its cause, or a note saying why nothing can be explained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    pub misses: Vec<Miss>,
    pub note: Option<String>,
}

impl Explanation {
    /// How many misses each cause explains, in cause order.
    pub fn counts(&self) -> BTreeMap<Cause, usize> {
        let mut counts = BTreeMap::new();
        for miss in &self.misses {
            *counts.entry(miss.cause).or_insert(0) += 1;
        }
        counts
    }
}

/// Each missed step of `current` explained against what was read.
pub fn explain(current: &BuildRecord, read: &Read<'_>) -> Explanation {
    if !current.steps.iter().any(|s| !s.cached) {
        return Explanation::default();
    }
    let Some(source) = read.source else {
        return noted("no cache was read (none of the chain existed yet), so every step was built");
    };
    let Some(previous) = read.record else {
        return noted(&format!(
            "the cache read, {source}, has no build record{}: its misses are not explained",
            read.no_record
                .as_deref()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default()
        ));
    };
    let judge = Judge {
        current,
        previous,
        read,
    };
    let mut first_missed: BTreeMap<&str, &StepFacts> = BTreeMap::new();
    let mut misses = Vec::new();
    for step in current.steps.iter().filter(|s| !s.cached) {
        let (cause, detail) = judge.cause(step, &first_missed);
        first_missed.entry(step.stage.as_str()).or_insert(step);
        misses.push(Miss {
            step: cut(step.first_line()),
            stage: cut(&step.stage),
            line: step.line,
            cause,
            detail: cut(&detail),
        });
    }
    Explanation { misses, note: None }
}

/// The first thing that could make a step of the `planned` build (`Facts::planned`) miss the
/// cache `previous` describes, or None when every step the previous build ran is, for all
/// regcache can see, the same step now: its text and what shapes it, its build-args, its
/// files. A stage the previous build did not run is not asked about (a stage the target does
/// not need); a base image is (its digest is known only once the build resolves it). Pure.
pub fn first_change(planned: &BuildRecord, previous: &BuildRecord) -> Option<String> {
    // The record is the registry's word: what is said names this build's side only.
    if planned.no_cache || !planned.no_cache_filters.is_empty() {
        return Some("no-cache or no-cache-filters is set".into());
    }
    let differs = [
        ("Dockerfile path", planned.dockerfile != previous.dockerfile),
        ("target", planned.target != previous.target),
        ("platforms", planned.platforms != previous.platforms),
    ];
    if let Some((what, _)) = differs.iter().find(|(_, differ)| *differ) {
        return Some(format!("the {what} differs"));
    }
    if !planned.context_hashed || !previous.context_hashed {
        return Some("the context was not hashed in both builds".into());
    }
    let read = Read::default();
    let judge = Judge {
        current: planned,
        previous,
        read: &read,
    };
    let ran = |stage: &str| previous.steps.iter().any(|s| s.stage == stage);
    for stage in previous.stages.iter().filter(|s| ran(&s.label)) {
        let Some(now) = planned.stage(&stage.label) else {
            continue;
        };
        if (&now.from, &now.base, &now.base_stage) != (&stage.from, &stage.base, &stage.base_stage)
        {
            return Some(format!(
                "stage {}: FROM {} (line {}) is not what it was",
                now.label, now.from, now.line
            ));
        }
    }
    for step in planned.steps.iter().filter(|s| ran(&s.stage)) {
        let at = format!("{} (line {})", step.first_line(), step.line);
        let Some(then) = previous.step(&step.stage, step.ordinal) else {
            return Some(format!("{at}: a new step in stage {}", step.stage));
        };
        if let Some((cause, _)) = judge
            .instruction_changed(step)
            .or_else(|| judge.arg_changed(step))
            .or_else(|| judge.files_changed(step))
        {
            return Some(format!("{at}: {}", cause.name()));
        }
        if step.files.is_some() != then.files.is_some() {
            return Some(format!("{at}: its files were not hashed in both builds"));
        }
    }
    None
}

fn noted(note: &str) -> Explanation {
    Explanation {
        misses: Vec::new(),
        note: Some(note.to_owned()),
    }
}

struct Judge<'a> {
    current: &'a BuildRecord,
    previous: &'a BuildRecord,
    read: &'a Read<'a>,
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn code(text: &str) -> String {
    format!("`{}`", text.lines().next().unwrap_or_default())
}

impl Judge<'_> {
    fn cause(
        &self,
        step: &StepFacts,
        first_missed: &BTreeMap<&str, &StepFacts>,
    ) -> (Cause, String) {
        let checks: [&dyn Fn() -> Option<(Cause, String)>; 6] = [
            &|| self.no_cache(step),
            &|| self.base_changed(step),
            &|| self.instruction_changed(step),
            &|| self.arg_changed(step),
            &|| self.files_changed(step),
            &|| self.after_a_miss(step, first_missed),
        ];
        checks
            .iter()
            .find_map(|check| check())
            .unwrap_or_else(|| self.not_in_cache(step))
    }

    fn no_cache(&self, step: &StepFacts) -> Option<(Cause, String)> {
        if self.current.no_cache {
            return Some((Cause::NoCache, "no-cache is set".into()));
        }
        self.current
            .no_cache_filters
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&step.stage))
            .then(|| {
                (
                    Cause::NoCache,
                    format!("no-cache-filters names stage {}", step.stage),
                )
            })
    }

    fn base_changed(&self, step: &StepFacts) -> Option<(Cause, String)> {
        let now = self.current.stage(&step.stage)?;
        let then = self.previous.stage(&step.stage)?;
        if now.from != then.from {
            return None;
        }
        match (&then.base_digest, &now.base_digest) {
            (Some(old), Some(new)) if old != new => Some((
                Cause::BaseImageChanged,
                format!("FROM {}: {} → {}", now.base, short(old), short(new)),
            )),
            _ => None,
        }
    }

    fn instruction_changed(&self, step: &StepFacts) -> Option<(Cause, String)> {
        let changed = |line: u32, old: &str, new: &str| {
            Some((
                Cause::InstructionChanged,
                format!("line {line}: {} → {}", code(old), code(new)),
            ))
        };
        if let (Some(now), Some(then)) = (
            self.current.stage(&step.stage),
            self.previous.stage(&step.stage),
        ) {
            if now.from != then.from {
                return changed(
                    now.line,
                    &format!("FROM {}", then.from),
                    &format!("FROM {}", now.from),
                );
            }
        }
        let Some(then) = self.previous.step(&step.stage, step.ordinal) else {
            return Some((
                Cause::InstructionChanged,
                format!(
                    "line {}: a new step (the build that wrote the cache had no step {} in stage {})",
                    step.line,
                    step.ordinal + 1,
                    step.stage
                ),
            ));
        };
        if then.instruction != step.instruction {
            return changed(step.line, &then.instruction, &step.instruction);
        }
        let old: Vec<&String> = then.shaped_by.iter().map(|(_, t)| t).collect();
        let new: Vec<&String> = step.shaped_by.iter().map(|(_, t)| t).collect();
        if old != new {
            let at = (0..new.len().max(old.len()))
                .find(|i| old.get(*i) != new.get(*i))
                .unwrap_or(0);
            let line = step.shaped_by.get(at).map_or(step.line, |(l, _)| *l);
            let text =
                |list: &[&String]| list.get(at).map_or("(none)".to_owned(), |t| (*t).clone());
            return changed(line, &text(&old), &text(&new));
        }
        None
    }

    fn arg_changed(&self, step: &StepFacts) -> Option<(Cause, String)> {
        let changed: Vec<&str> = step
            .args
            .iter()
            .filter(|name| {
                self.previous.build_args.get(*name) != self.current.build_args.get(*name)
            })
            .map(String::as_str)
            .collect();
        (!changed.is_empty()).then(|| (Cause::BuildArgChanged, changed.join(", ")))
    }

    fn files_changed(&self, step: &StepFacts) -> Option<(Cause, String)> {
        let now = step.files.as_ref()?;
        let then = self
            .previous
            .step(&step.stage, step.ordinal)?
            .files
            .as_ref()?;
        (now.digest != then.digest).then(|| (Cause::FileChanged, changed_paths(then, now)))
    }

    fn after_a_miss(
        &self,
        step: &StepFacts,
        first_missed: &BTreeMap<&str, &StepFacts>,
    ) -> Option<(Cause, String)> {
        let named = |earlier: &StepFacts| {
            let stage = if earlier.stage == step.stage {
                String::new()
            } else {
                format!("stage {}: ", earlier.stage)
            };
            Some((
                Cause::AfterAMiss,
                format!(
                    "{stage}{} (line {}) missed first",
                    code(&earlier.instruction),
                    earlier.line
                ),
            ))
        };
        if let Some(earlier) = first_missed.get(step.stage.as_str()) {
            return named(earlier);
        }
        // The stages this one stands on: its base stage (for its first steps) and the stage
        // a COPY --from takes from.
        let base = self
            .current
            .stage(&step.stage)
            .and_then(|s| s.base_stage.as_deref());
        [base, step.copies_from.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|stage| first_missed.get(stage).copied())
            .and_then(named)
    }

    /// Nothing regcache sees changed and nothing before it missed: the cache did not hold it,
    /// said with the reason when one can be told, or `unknown` when a fact is missing.
    fn not_in_cache(&self, step: &StepFacts) -> (Cause, String) {
        let Some(then) = self.previous.step(&step.stage, step.ordinal) else {
            return (Cause::Unknown, "nothing regcache sees explains it".into());
        };
        let takes_context =
            step.instruction.starts_with("COPY") || step.instruction.starts_with("ADD");
        if takes_context
            && step.copies_from.is_none()
            && (step.files.is_none() || then.files.is_none())
        {
            return (
                Cause::Unknown,
                "its files were not hashed in both builds (a remote context, a URL, or a context over the hashing budget), so a changed file cannot be ruled out".into(),
            );
        }
        if let Some(from) = &step.copies_from {
            if self.current.stage(from).is_none() {
                return (
                    Cause::Unknown,
                    format!("it copies from the image {from}, which regcache does not resolve"),
                );
            }
        }
        if let Some(error) = self.read.import_error {
            let detail = if error.contains("too large") || error.contains("exceeds") {
                "the cache is past BuildKit's 1 MiB import limit, so it was not imported".to_owned()
            } else {
                format!("the cache could not be imported: {error}")
            };
            return (Cause::NotInCache, detail);
        }
        if self.previous.mode == "min" && !self.previous.image_stages.contains(&step.stage) {
            return (
                Cause::NotInCache,
                format!(
                    "the cache was written with mode=min, which keeps only the layers of the image that build made (stage {}); stage {} is not among them",
                    self.previous.image_stages.join(", "),
                    step.stage
                ),
            );
        }
        (
            Cause::NotInCache,
            "the build that wrote the cache ran this step as it is now, yet the cache did not hold it: BuildKit can leave steps out of an export (moby/buildkit#2822)".into(),
        )
    }
}

/// Up to `NAMED_PATHS` changed, added or removed paths, and how many more; or the sources
/// whose files changed when a record lists no paths.
fn changed_paths(then: &FileSet, now: &FileSet) -> String {
    let (Some(old), Some(new)) = (&then.files, &now.files) else {
        let sources: Vec<&str> = now
            .sources
            .iter()
            .filter(|(source, digest)| then.sources.get(*source) != Some(*digest))
            .map(|(source, _)| source.as_str())
            .collect();
        return format!(
            "files under {} (too many to list)",
            if sources.is_empty() {
                "its sources".to_owned()
            } else {
                sources.join(", ")
            }
        );
    };
    let mut paths: Vec<String> = Vec::new();
    for (path, hash) in new {
        match old.get(path) {
            Some(h) if h == hash => {}
            Some(_) => paths.push(path.clone()),
            None => paths.push(format!("{path} (added)")),
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        paths.push(format!("{path} (removed)"));
    }
    paths.sort();
    let more = paths.len().saturating_sub(NAMED_PATHS);
    paths.truncate(NAMED_PATHS);
    let mut detail = paths.join(", ");
    if more > 0 {
        detail += &format!(" (and {more} more)");
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StageFacts;
    use crate::record::tests::record;

    fn step(stage: &str, ordinal: usize, line: u32, text: &str, cached: bool) -> StepFacts {
        StepFacts {
            stage: stage.into(),
            ordinal,
            line,
            instruction: text.into(),
            shaped_by: Vec::new(),
            cached,
            args: Vec::new(),
            copies_from: None,
            files: None,
        }
    }

    fn files(list: &[(&str, &str)]) -> Option<FileSet> {
        let files: BTreeMap<String, String> = list
            .iter()
            .map(|(p, h)| ((*p).into(), (*h).into()))
            .collect();
        Some(FileSet {
            digest: format!("{files:?}"),
            files: Some(files),
            sources: BTreeMap::new(),
        })
    }

    fn stage(
        label: &str,
        base: &str,
        digest: Option<&str>,
        base_stage: Option<&str>,
    ) -> StageFacts {
        StageFacts {
            label: label.into(),
            line: 1,
            from: base.into(),
            base: base.into(),
            base_digest: digest.map(str::to_owned),
            base_stage: base_stage.map(str::to_owned),
        }
    }

    /// A two-stage build: deps (on an image) and app (on deps, copying from tools).
    fn build(cached: bool) -> BuildRecord {
        let mut r = record(vec![
            StepFacts {
                files: files(&[("package.json", "aa")]),
                ..step("deps", 0, 3, "COPY package.json .", cached)
            },
            StepFacts {
                args: vec!["V".into()],
                ..step("deps", 1, 5, "RUN install", cached)
            },
            step("tools", 0, 8, "RUN make-tools", cached),
            StepFacts {
                files: files(&[("src/a.rs", "01"), ("src/b.rs", "02")]),
                ..step("app", 0, 11, "COPY src/ src/", cached)
            },
            StepFacts {
                copies_from: Some("tools".into()),
                ..step("app", 1, 12, "COPY --from=tools /t /t", cached)
            },
            step("app", 2, 13, "RUN build", cached),
        ]);
        r.stages = vec![
            stage("deps", "base:1", Some("sha256:1111111111111111"), None),
            stage("tools", "base:1", Some("sha256:1111111111111111"), None),
            stage("app", "deps", None, Some("deps")),
        ];
        r.build_args.insert("V".into(), "sha256:v1".into());
        r.image_stages = vec!["app".into(), "deps".into()];
        r
    }

    fn causes(current: &BuildRecord, previous: &BuildRecord) -> Vec<(String, Cause, String)> {
        let read = Read {
            source: Some("r/app:cache-main"),
            record: Some(previous),
            ..Read::default()
        };
        explain(current, &read)
            .misses
            .into_iter()
            .map(|m| (m.step, m.cause, m.detail))
            .collect()
    }

    fn missed_from(current: &mut BuildRecord, first: usize) {
        for s in current.steps.iter_mut().skip(first) {
            s.cached = false;
        }
    }

    #[test]
    fn a_file_copied_early_names_the_file_and_the_later_steps_follow_it() {
        let previous = build(true);
        let mut current = build(false);
        current.steps[0].files = files(&[("package.json", "bb")]);
        let got = causes(&current, &previous);
        assert_eq!(
            got[0],
            (
                "COPY package.json .".into(),
                Cause::FileChanged,
                "package.json".into()
            )
        );
        assert_eq!(got[1].1, Cause::AfterAMiss);
        assert_eq!(got[1].2, "`COPY package.json .` (line 3) missed first");
        let read = Read {
            source: Some("r/app:cache-main"),
            record: Some(&previous),
            ..Read::default()
        };
        let counts: Vec<(Cause, usize)> = explain(&current, &read).counts().into_iter().collect();
        assert_eq!(
            counts,
            [
                (Cause::FileChanged, 1),
                (Cause::AfterAMiss, 4),
                (Cause::NotInCache, 1)
            ]
        );
        // tools stands on nothing that missed, and nothing changed in it.
        assert_eq!(got[2].1, Cause::NotInCache);
        // app stands on deps: its first step follows deps' first miss.
        assert_eq!(
            got[3].2,
            "stage deps: `COPY package.json .` (line 3) missed first"
        );
    }

    #[test]
    fn a_file_copied_late_names_changed_added_and_removed_paths_only() {
        let previous = build(true);
        let mut current = build(true);
        missed_from(&mut current, 3);
        current.steps[3].files =
            files(&[("src/a.rs", "01"), ("src/b.rs", "99"), ("src/c.rs", "03")]);
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::FileChanged);
        assert_eq!(got[0].2, "src/b.rs, src/c.rs (added)");
        assert!(
            !got[0].2.contains("a.rs"),
            "an unchanged file is never named"
        );
        assert_eq!(got[1].1, Cause::AfterAMiss);

        let mut many = build(true);
        missed_from(&mut many, 3);
        let list: Vec<(String, String)> = (0..14)
            .map(|i| (format!("src/n{i:02}.rs"), "x".into()))
            .collect();
        let refs: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        many.steps[3].files = files(&refs);
        let got = causes(&many, &previous);
        assert!(got[0].2.ends_with("(and 6 more)"), "{}", got[0].2);
        assert!(got[0].2.contains("src/a.rs (removed)"), "{}", got[0].2);
    }

    #[test]
    fn files_too_many_to_list_are_named_by_their_changed_source() {
        let sources = |b: &str| {
            Some(FileSet {
                digest: format!("all-{b}"),
                files: None,
                sources: BTreeMap::from([
                    ("src/".to_owned(), "sha256:a".to_owned()),
                    ("assets/".to_owned(), b.to_owned()),
                ]),
            })
        };
        let mut previous = build(true);
        previous.steps[3].files = sources("sha256:b1");
        let mut current = build(true);
        missed_from(&mut current, 3);
        current.steps[3].files = sources("sha256:b2");
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::FileChanged);
        assert_eq!(got[0].2, "files under assets/ (too many to list)");
    }

    #[test]
    fn each_cause_in_its_order() {
        let previous = build(true);
        // A base image pushed anew under the same tag.
        let mut current = build(true);
        current.stages[0].base_digest = Some("sha256:2222222222222222".into());
        missed_from(&mut current, 0);
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::BaseImageChanged);
        assert_eq!(
            got[0].2,
            "FROM base:1: sha256:111111111111 → sha256:222222222222"
        );
        // An edited RUN line.
        let mut current = build(true);
        current.steps[1].instruction = "RUN install --frozen".into();
        missed_from(&mut current, 1);
        current.steps[2].cached = true;
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::InstructionChanged);
        assert_eq!(got[0].2, "line 5: `RUN install` → `RUN install --frozen`");
        // A build-arg's value: named, never quoted.
        let mut current = build(true);
        current.build_args.insert("V".into(), "sha256:v2".into());
        current.steps[1].cached = false;
        let got = causes(&current, &previous);
        assert_eq!(
            got,
            [("RUN install".into(), Cause::BuildArgChanged, "V".into())]
        );
        // no-cache-filters beats everything else.
        let mut current = build(true);
        current.no_cache_filters = vec!["DEPS".into()];
        current.build_args.insert("V".into(), "sha256:v2".into());
        current.steps[1].cached = false;
        assert_eq!(causes(&current, &previous)[0].1, Cause::NoCache);
    }

    #[test]
    fn an_edited_from_or_env_line_is_an_instruction_change_at_that_line() {
        let previous = build(true);
        let mut current = build(true);
        current.stages[1].from = "base:2".into();
        current.stages[1].line = 7;
        current.steps[2].cached = false;
        assert_eq!(
            causes(&current, &previous),
            [(
                "RUN make-tools".to_owned(),
                Cause::InstructionChanged,
                "line 7: `FROM base:1` → `FROM base:2`".to_owned()
            )]
        );
        let mut previous = build(true);
        previous.steps[1].shaped_by = vec![(4, "ENV A=1".into())];
        let mut current = build(true);
        current.steps[1].shaped_by = vec![(4, "ENV A=2".into())];
        current.steps[1].cached = false;
        assert_eq!(
            causes(&current, &previous),
            [(
                "RUN install".to_owned(),
                Cause::InstructionChanged,
                "line 4: `ENV A=1` → `ENV A=2`".to_owned()
            )]
        );
        // Of two lines, the one that changed is named.
        let mut previous = build(true);
        previous.steps[1].shaped_by = vec![(3, "ENV A=1".into()), (4, "ENV B=1".into())];
        let mut current = build(true);
        current.steps[1].shaped_by = vec![(3, "ENV A=1".into()), (4, "ENV B=2".into())];
        current.steps[1].cached = false;
        assert_eq!(
            causes(&current, &previous)[0].2,
            "line 4: `ENV B=1` → `ENV B=2`"
        );
        // A new shaping line where there was none.
        let mut current = build(true);
        current.steps[1].shaped_by = vec![(4, "USER app".into())];
        current.steps[1].cached = false;
        assert_eq!(
            causes(&current, &build(true))[0].2,
            "line 4: `(none)` → `USER app`"
        );
    }

    #[test]
    fn mode_min_and_an_import_failure_are_told_apart() {
        let mut previous = build(true);
        previous.mode = "min".into();
        let mut current = build(true);
        current.steps[2].cached = false;
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::NotInCache);
        assert!(got[0].2.contains("mode=min"), "{}", got[0].2);
        assert!(
            got[0].2.contains("stage tools is not among them"),
            "{}",
            got[0].2
        );
        let read = Read {
            source: Some("r/app:cache-main"),
            record: Some(&previous),
            import_error: Some("failed to read cache config: blob is too large"),
            ..Read::default()
        };
        let got = explain(&current, &read);
        assert!(got.misses[0].detail.contains("1 MiB import limit"));
    }

    #[test]
    fn without_a_record_or_a_source_nothing_is_guessed() {
        let mut current = build(true);
        current.steps[0].cached = false;
        let read = Read {
            source: Some("r/app:cache-main"),
            no_record: Some("written without regcache".into()),
            ..Read::default()
        };
        let got = explain(&current, &read);
        assert!(got.misses.is_empty());
        assert_eq!(
            got.note.as_deref(),
            Some(
                "the cache read, r/app:cache-main, has no build record (written without regcache): its misses are not explained"
            )
        );
        assert!(
            explain(&current, &Read::default())
                .note
                .unwrap()
                .starts_with("no cache was read")
        );
        assert_eq!(
            explain(&build(true), &read),
            Explanation::default(),
            "a full hit needs no words"
        );
    }

    #[test]
    fn unhashed_files_are_unknown_not_not_in_cache() {
        let mut previous = build(true);
        previous.steps[0].files = None;
        let mut current = build(true);
        current.steps[0].cached = false;
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::Unknown);
    }

    #[test]
    fn a_records_long_text_is_cut_where_it_is_shown() {
        let mut previous = build(true);
        previous.steps[1].instruction = format!("RUN {}", "x".repeat(5000));
        let mut current = build(true);
        current.steps[1].cached = false;
        let got = causes(&current, &previous);
        assert_eq!(got[0].1, Cause::InstructionChanged);
        assert_eq!(got[0].2.chars().count(), SHOWN_CHARS + 1);
        assert!(got[0].2.ends_with('…'));
    }

    #[test]
    fn the_first_miss_reads_as_one_line() {
        let miss = Miss {
            step: "COPY package.json .".into(),
            stage: "deps".into(),
            line: 6,
            cause: Cause::FileChanged,
            detail: "package.json".into(),
        };
        assert_eq!(
            miss.one_line("docker/Dockerfile"),
            "COPY package.json . (Dockerfile:6): file-changed package.json"
        );
    }
}
