//! `regcache explain`: why a build's steps missed, from its saved log (and its Dockerfile,
//! context and build-args, as the build had them) against the build record stored beside the
//! cache it read; without a log, what the record holds.

use std::path::PathBuf;

use serde_json::json;

use super::history::stored_record;
use super::records;
use super::{Context, pretty_json, print};
use crate::args::Format;
use crate::error::Error;
use crate::record::BuildRecord;
use crate::record::explain::{self, Explanation, Read};
use crate::record::facts::Facts;
use crate::stats::ImportOutcome;

/// What `regcache explain` was asked.
pub struct ExplainRequest {
    pub reference: String,
    pub log: Option<PathBuf>,
    pub file: Option<String>,
    pub context: String,
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub insecure: bool,
    pub format: Format,
}

pub fn explain(ctx: &Context, request: &ExplainRequest) -> Result<(), Error> {
    let stored = stored_record(ctx, &request.reference, request.insecure)?;
    let Some(log) = &request.log else {
        return print(&match request.format {
            Format::Json => pretty_json(&stored.record),
            Format::Human => describe(&request.reference, &stored.record),
        });
    };
    let report = super::stats::stats_of_log(log)?;
    let before = records::before(request.file.as_deref(), &request.context, None).ok_or_else(|| {
        Error::Registry {
            reference: request.reference.clone(),
            message: format!(
                "the Dockerfile ({}) cannot be read: give the build's Dockerfile with --file and its context with --context",
                request.file.clone().unwrap_or_else(|| format!("{}/Dockerfile", request.context))
            ),
        }
    })?;
    let hashed = before.hash_context();
    let record = &stored.record;
    let facts = Facts {
        dockerfile: &before.dockerfile,
        dockerfile_path: &before.path,
        build_args: &request.build_args,
        target: request.target.as_deref(),
        platforms: &record.platforms,
        no_cache: false,
        no_cache_filters: &[],
        mode: &record.mode,
        export: &record.export,
        hashed: hashed
            .as_ref()
            .filter(|h| h.skipped.is_none())
            .map(|h| h.sets.as_slice()),
    };
    let current = facts.record(&report.stats);
    let import_error = report.stats.imports.iter().find_map(|i| match &i.outcome {
        ImportOutcome::Failed(e) if i.reference == request.reference => Some(e.as_str()),
        _ => None,
    });
    let read = Read {
        source: Some(&request.reference),
        record: stored.current.then_some(record),
        no_record: (!stored.current).then(|| {
            "its record describes an earlier cache: the tag was written again without one".into()
        }),
        import_error,
    };
    let explanation = explain::explain(&current, &read);
    print(&match request.format {
        Format::Json => pretty_json(&json!({
            "first-miss": explanation.misses.first().map(|m| m.one_line(&before.path)).unwrap_or_default(),
            "miss-reasons": explanation.misses,
            "note": explanation.note,
        })),
        Format::Human => human(&explanation, &before.path),
    })
}

/// A line per missed step, then the count by cause; or why nothing is explained.
fn human(explanation: &Explanation, dockerfile: &str) -> String {
    if let Some(note) = &explanation.note {
        return format!("{}\n", crate::escape::one_line(note));
    }
    if explanation.misses.is_empty() {
        return "every step was cached: nothing missed\n".into();
    }
    let mut text = String::new();
    for miss in &explanation.misses {
        text += &crate::escape::one_line(&miss.one_line(dockerfile));
        text.push('\n');
    }
    let counts: Vec<String> = explanation
        .counts()
        .into_iter()
        .map(|(cause, n)| format!("{} {n}", cause.name()))
        .collect();
    text += &format!(
        "{} missed steps, by cause: {}\n",
        explanation.misses.len(),
        counts.join(", ")
    );
    text
}

/// What a record holds: the build that wrote it and its steps, a line each (escaped: the
/// record is the registry's word).
fn describe(reference: &str, record: &BuildRecord) -> String {
    let mut lines = vec![format!(
        "{reference}: written by a build of {} (target {}, mode={}) at {}",
        record.dockerfile,
        record.target.as_deref().unwrap_or("the last stage"),
        record.mode,
        record.run().map_or("an unknown time", |r| r.time.as_str())
    )];
    for step in &record.steps {
        lines.push(format!(
            "{:<12} line {:<4} {:<6} {}",
            step.stage,
            step.line,
            if step.cached { "cached" } else { "built" },
            step.first_line()
        ));
    }
    lines
        .iter()
        .map(|l| crate::escape::one_line(l) + "\n")
        .collect()
}
