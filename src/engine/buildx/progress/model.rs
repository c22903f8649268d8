//! The SolveStatus shapes buildx prints with `--progress=rawjson` (BuildKit `client/graph.go`),
//! and the per-vertex record both progress grammars are folded into.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One `json.Encoder.Encode` batch. Every key is optional (`omitempty` upstream).
#[derive(Debug, Default, Deserialize)]
pub struct SolveStatus {
    #[serde(default)]
    pub vertexes: Vec<VertexUpdate>,
    #[serde(default)]
    pub statuses: Vec<StatusUpdate>,
    #[serde(default)]
    pub logs: Vec<LogUpdate>,
    #[serde(default)]
    pub warnings: Vec<WarningUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VertexUpdate {
    pub digest: String,
    #[serde(default)]
    pub name: String,
    pub started: Option<String>,
    pub completed: Option<String>,
    #[serde(default)]
    pub cached: bool,
    #[serde(default)]
    pub error: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusUpdate {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub vertex: String,
    pub completed: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LogUpdate {
    #[serde(default)]
    pub vertex: String,
    /// Base64 of the raw bytes the step wrote.
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct WarningUpdate {
    #[serde(default)]
    pub vertex: String,
    /// Base64 of the one-line warning.
    #[serde(default)]
    pub short: String,
}

/// Nanoseconds since the Unix epoch; buildx may shift every time by one constant
/// (`util/progress/reset.go`), so only differences mean anything.
pub type Nanos = i128;

pub fn parse_time(text: &str) -> Option<Nanos> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    // Go's zero time means "unset".
    (t.year() > 1).then(|| t.unix_timestamp_nanos())
}

/// What the build did with one vertex, merged over every update that named it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VertexRecord {
    pub name: String,
    pub cached: bool,
    pub started: bool,
    pub completed: bool,
    pub error: Option<String>,
    pub first_started: Option<Nanos>,
    pub last_completed: Option<Nanos>,
    /// Plain progress gives durations (`DONE 0.3s`) instead of timestamps.
    pub reported_seconds: Option<f64>,
}

impl VertexRecord {
    /// max(completed) − min(started), or what plain progress printed.
    pub fn seconds(&self) -> Option<f64> {
        if let Some(s) = self.reported_seconds {
            return Some(s);
        }
        match (self.first_started, self.last_completed) {
            (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1e9),
            _ => None,
        }
    }
}

/// Vertices in first-seen order, merged by key (a digest, or `#N` in plain progress).
/// Memory grows with the number of distinct vertices, never with the length of the stream.
#[derive(Debug, Default)]
pub struct VertexTable {
    order: Vec<VertexRecord>,
    index: std::collections::HashMap<String, usize>,
}

impl VertexTable {
    pub fn entry(&mut self, key: &str) -> (&mut VertexRecord, bool) {
        if let Some(&i) = self.index.get(key) {
            return (&mut self.order[i], false);
        }
        self.index.insert(key.to_owned(), self.order.len());
        self.order.push(VertexRecord::default());
        (self.order.last_mut().expect("just pushed"), true)
    }

    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn get(&self, key: &str) -> Option<&VertexRecord> {
        self.index.get(key).map(|&i| &self.order[i])
    }

    pub fn records(&self) -> &[VertexRecord] {
        &self.order
    }

    /// Merge one rawjson vertex update with BuildKit's own rule: cached, completed and error
    /// are sticky, the name is the last non-empty one (`solver/llbsolver/history.go`).
    pub fn merge(&mut self, update: &VertexUpdate) -> &VertexRecord {
        let (record, _) = self.entry(&update.digest);
        if !update.name.is_empty() {
            record.name = super::capped(&update.name);
        }
        record.cached |= update.cached;
        if !update.error.is_empty() {
            record.error = Some(update.error.clone());
        }
        if let Some(started) = update.started.as_deref().and_then(parse_time) {
            record.started = true;
            record.first_started = Some(record.first_started.map_or(started, |s| s.min(started)));
        }
        if let Some(completed) = update.completed.as_deref().and_then(parse_time) {
            record.completed = true;
            record.last_completed = Some(
                record
                    .last_completed
                    .map_or(completed, |c| c.max(completed)),
            );
        }
        record
    }
}
