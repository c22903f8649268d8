//! One bake run's progress, split per target. buildx runs every target in one session and, when
//! there is more than one, prefixes each vertex's name with its target (`[api stage 2/3] RUN …`,
//! `[api] importing cache manifest from …`; buildx `util/progress/multiwriter.go` `addPrefix`,
//! `build/build.go` `multiTarget`). A stage two targets share is one vertex digest reported by
//! each target's solve, so each target gets its own table, keyed as for a single build.

use std::collections::BTreeMap;

use super::model::SolveStatus;
use super::{Event, Progress};

#[derive(Debug, Default)]
pub struct ByTarget {
    /// Everything as buildx printed it: the live log, and the text after the objects.
    pub whole: Progress,
    /// Each target's vertices, their names without the prefix.
    pub targets: BTreeMap<String, Progress>,
}

impl ByTarget {
    pub fn new(names: &[String]) -> Self {
        Self {
            whole: Progress::default(),
            targets: names
                .iter()
                .map(|n| (n.clone(), Progress::default()))
                .collect(),
        }
    }

    /// The target a vertex name belongs to and the name a single build would show.
    fn split<'a>(&'a self, name: &str) -> Option<(&'a str, String)> {
        if self.targets.len() == 1 {
            let only = self.targets.keys().next()?;
            return Some((only, name.to_owned()));
        }
        self.targets.keys().find_map(|target| {
            let rest = name.strip_prefix('[')?.strip_prefix(target.as_str())?;
            if let Some(rest) = rest.strip_prefix("] ") {
                Some((target.as_str(), rest.to_owned()))
            } else {
                rest.strip_prefix(' ')
                    .map(|rest| (target.as_str(), format!("[{rest}")))
            }
        })
    }

    pub fn apply_status(&mut self, status: &SolveStatus, emit: &mut impl FnMut(Event)) {
        self.whole.apply_status(status, emit);
        let mut split: BTreeMap<String, SolveStatus> = BTreeMap::new();
        for update in &status.vertexes {
            let Some((target, name)) = self.split(&update.name) else {
                continue;
            };
            let mut update = update.clone();
            update.name = name;
            split
                .entry(target.to_owned())
                .or_default()
                .vertexes
                .push(update);
        }
        for (target, status) in split {
            if let Some(progress) = self.targets.get_mut(&target) {
                progress.apply_status(&status, &mut |_| {});
            }
        }
    }

    pub fn apply_text(&mut self, line: &str, emit: &mut impl FnMut(Event)) {
        self.whole.apply_text(line, emit);
    }

    /// Each target's vertices with every step once. When targets share a stage, BuildKit can
    /// report one of its steps in a target's stream under two digests: the target's own
    /// vertex and the one another target's solve ran, marked cached (seen on BuildKit 0.13
    /// with two targets on a cold builder). A step counts as cached only when every vertex
    /// reported for it was, so a cold run reads cold.
    pub fn per_target(&self) -> impl Iterator<Item = (&String, Progress)> {
        self.targets.iter().map(|(name, progress)| {
            let mut folded = Progress::default();
            for record in progress.vertices.records() {
                let (into, new) = folded.vertices.entry(&record.name);
                if new {
                    *into = record.clone();
                    continue;
                }
                into.cached &= record.cached;
                into.started |= record.started;
                into.completed |= record.completed;
                if into.error.is_none() {
                    into.error.clone_from(&record.error);
                }
                into.first_started = match (into.first_started, record.first_started) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                into.last_completed = into.last_completed.max(record.last_completed);
            }
            (name, folded)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::VertexUpdate;
    use super::*;

    fn vertex(digest: &str, name: &str, cached: bool) -> VertexUpdate {
        VertexUpdate {
            digest: digest.into(),
            name: name.into(),
            started: Some("2026-12-06T07:00:00Z".into()),
            completed: Some("2026-12-06T07:00:01Z".into()),
            cached,
            error: String::new(),
        }
    }

    #[test]
    fn a_shared_vertex_counts_for_each_target_that_reported_it() {
        let names = ["api".to_owned(), "api-worker".to_owned()];
        let mut by = ByTarget::new(&names);
        let status = |vertexes| SolveStatus {
            vertexes,
            ..SolveStatus::default()
        };
        by.apply_status(
            &status(vec![
                vertex("sha256:base", "[api base 2/2] RUN make", true),
                vertex(
                    "sha256:imp",
                    "[api] importing cache manifest from r/a:c",
                    false,
                ),
            ]),
            &mut |_| {},
        );
        by.apply_status(
            &status(vec![
                vertex("sha256:base", "[api-worker base 2/2] RUN make", true),
                vertex("sha256:own", "[api-worker stage-1 1/1] RUN w", false),
                vertex("sha256:other", "[web stage 1/1] RUN x", false),
            ]),
            &mut |_| {},
        );
        let api = by.targets["api"].vertices.records();
        assert_eq!(
            api.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["[base 2/2] RUN make", "importing cache manifest from r/a:c"]
        );
        let worker = by.targets["api-worker"].vertices.records();
        assert_eq!(
            worker
                .iter()
                .map(|r| (r.name.as_str(), r.cached))
                .collect::<Vec<_>>(),
            [
                ("[base 2/2] RUN make", true),
                ("[stage-1 1/1] RUN w", false)
            ],
            "the shared step is the worker's too; a name of no target is nobody's"
        );
        assert_eq!(by.whole.vertices.records().len(), 4);
    }

    #[test]
    fn a_step_reported_twice_is_cached_only_when_both_were() {
        let mut by = ByTarget::new(&["api".to_owned(), "worker".to_owned()]);
        by.apply_status(
            &SolveStatus {
                vertexes: vec![
                    vertex("sha256:mine", "[api base 3/4] COPY a ./", false),
                    vertex("sha256:theirs", "[api base 3/4] COPY a ./", true),
                    vertex("sha256:warm1", "[api base 4/4] RUN x", true),
                    vertex("sha256:warm2", "[api base 4/4] RUN x", true),
                    VertexUpdate {
                        started: None,
                        completed: None,
                        ..vertex("sha256:waiting", "[api stage 1/1] RUN y", false)
                    },
                    vertex("sha256:ran", "[api stage 1/1] RUN y", false),
                ],
                ..SolveStatus::default()
            },
            &mut |_| {},
        );
        let folded: Vec<(String, Progress)> =
            by.per_target().map(|(n, p)| (n.clone(), p)).collect();
        let api: Vec<(&str, bool)> = folded[0]
            .1
            .vertices
            .records()
            .iter()
            .map(|r| (r.name.as_str(), r.cached))
            .collect();
        assert_eq!(
            api,
            [
                ("[base 3/4] COPY a ./", false),
                ("[base 4/4] RUN x", true),
                ("[stage 1/1] RUN y", false)
            ]
        );
        let ran = &folded[0].1.vertices.records()[2];
        assert!(
            ran.started && ran.completed,
            "started and completed by either report"
        );
        by.apply_text("ERROR: failed to solve: x", &mut |_| {});
        assert_eq!(by.whole.final_error.as_deref(), Some("failed to solve: x"));
    }

    #[test]
    fn a_single_target_has_no_prefix() {
        let mut by = ByTarget::new(&["app".to_owned()]);
        by.apply_status(
            &SolveStatus {
                vertexes: vec![vertex("sha256:a", "[stage 1/1] RUN x", true)],
                ..SolveStatus::default()
            },
            &mut |_| {},
        );
        assert_eq!(
            by.targets["app"].vertices.records()[0].name,
            "[stage 1/1] RUN x"
        );
    }
}
