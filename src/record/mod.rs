//! The build record: what regcache stores beside each cache it writes, so that the next build
//! that reads the cache can say why a step missed, and how the cache has done over time.
//!
//! A record is public to anyone who can pull the cache, so it holds the Dockerfile's own text,
//! digests and names, never a value: a build-arg is its name and the SHA-256 of its value, a
//! context file its path and the SHA-256 of its content; secrets, SSH sockets and the
//! environment are never read into it. It is bounded (`STORED_LIMIT` compressed), and read
//! back with caps on every size.
//!
//! | room | job |
//! |---|---|
//! | `facts` | the record of this build, from the Dockerfile, the progress and the hashes (pure) |
//! | `explain` | each missed step's cause against the record read (pure) |
//! | `history` | the last builds as a chart, a table and a sparkline (pure) |
//! | `context` | the context's files hashed, `.dockerignore` honoured (reads files) |

pub mod context;
pub mod explain;
pub mod facts;
pub mod history;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// The record format; a reader refuses another.
pub const SCHEMA: u32 = 1;
/// How many builds a record's history keeps, this one included.
pub const HISTORY_LENGTH: usize = 30;
/// The most a stored record weighs (gzip-compressed JSON), as the registry keeps it.
pub use crate::registry::RECORD_LIMIT as STORED_LIMIT;
/// The most a record's JSON may weigh once decompressed, as read.
pub const JSON_LIMIT: usize = 4 << 20;
/// The most context paths a record lists by name; beyond it, each COPY source is one digest.
pub const MAX_LISTED_FILES: usize = 10_000;

/// One stage as the build ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFacts {
    /// Its label in step names (`deps`, `stage-2`).
    pub label: String,
    pub line: u32,
    /// `FROM` as written, and after the global ARGs expanded.
    pub from: String,
    pub base: String,
    /// The digest the base resolved to (an image base the progress named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_digest: Option<String>,
    /// The stage it is built on, when its base is another stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_stage: Option<String>,
}

/// The context files a COPY or ADD takes: one digest over all of them, and each file's when
/// they fit the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSet {
    pub digest: String,
    /// Path → SHA-256 of the content (hex); absent when the files were too many to list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, String>>,
    /// Each source as written → the digest of the files it takes (always kept).
    pub sources: BTreeMap<String, String>,
}

/// One Dockerfile step as the build ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFacts {
    pub stage: String,
    /// Its position among the stage's steps, from 0.
    pub ordinal: usize,
    pub line: u32,
    /// The instruction as written in the Dockerfile (never as BuildKit names it: its names
    /// expand build-arg values).
    pub instruction: String,
    /// The ENV, ARG, USER and SHELL lines between the previous step and this one: they change
    /// this step's cache key without being steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shaped_by: Vec<(u32, String)>,
    pub cached: bool,
    /// The build-args in scope that its cache key depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The stage (label) or image a `COPY --from` takes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies_from: Option<String>,
    /// The context files a COPY or ADD takes, when they were hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSet>,
}

impl StepFacts {
    /// The instruction's first line.
    pub fn first_line(&self) -> &str {
        self.instruction.lines().next().unwrap_or_default()
    }
}

/// `run` after the last of `earlier`, at most `HISTORY_LENGTH` in all (a record read from the
/// registry may hold more than regcache writes).
pub fn last_runs(earlier: &[Run], run: Run) -> Vec<Run> {
    let keep = earlier.len().min(HISTORY_LENGTH - 1);
    let mut runs = earlier[earlier.len() - keep..].to_vec();
    runs.push(run);
    runs
}

/// One build that wrote the cache, as its history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// RFC 3339, UTC.
    pub time: String,
    /// The commit built (its first 12 hex digits), when the CI names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// What started the build (`push`, `pull_request`, `merge_request_event`, …).
    pub event: String,
    pub hit_ratio: f64,
    pub cached_steps: usize,
    pub total_steps: usize,
    pub build_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<u64>,
}

/// Everything regcache keeps about the build that wrote a cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub schema: u32,
    /// The Dockerfile's path in the workspace.
    pub dockerfile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_cache_filters: Vec<String>,
    /// The export's `mode` (`min` keeps only the image's own layers).
    pub mode: String,
    /// The cache-to options the cache was exported with, ref and `ignore-error` left out
    /// (`mode=max,oci-mediatypes=true,…`): a build that asks for others exports again. Empty in
    /// records written before regcache kept it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub export: String,
    /// The stages whose layers are in the image built (the target and the stages it is built
    /// on): what a `mode=min` cache holds.
    pub image_stages: Vec<String>,
    /// Each declared build-arg → `sha256:<hex>` of its value (given, else its default), or
    /// `unset`.
    pub build_args: BTreeMap<String, String>,
    pub stages: Vec<StageFacts>,
    pub steps: Vec<StepFacts>,
    /// Whether the context's files were hashed (a remote context is not).
    pub context_hashed: bool,
    /// This build, and the builds before it that wrote the same tag, oldest first.
    pub history: Vec<Run>,
}

impl BuildRecord {
    pub fn step(&self, stage: &str, ordinal: usize) -> Option<&StepFacts> {
        self.steps
            .iter()
            .find(|s| s.stage == stage && s.ordinal == ordinal)
    }

    pub fn stage(&self, label: &str) -> Option<&StageFacts> {
        self.stages.iter().find(|s| s.label == label)
    }

    /// The newest run.
    pub fn run(&self) -> Option<&Run> {
        self.history.last()
    }

    /// This record with `run` appended to `earlier` runs, the oldest dropped past
    /// `HISTORY_LENGTH`.
    pub fn with_history(mut self, earlier: &[Run], run: Run) -> Self {
        self.history = last_runs(earlier, run);
        self
    }

    /// The record as stored: gzip-compressed JSON of at most `STORED_LIMIT` bytes. Past it,
    /// the per-file lists go first (each COPY source keeps its digest), then the oldest runs.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut record = self.clone();
        loop {
            let bytes = compress(&serde_json::to_vec(&record).map_err(|e| e.to_string())?)?;
            if bytes.len() <= STORED_LIMIT {
                return Ok(bytes);
            }
            if let Some(step) = record
                .steps
                .iter_mut()
                .filter_map(|s| s.files.as_mut())
                .max_by_key(|f| f.files.as_ref().map_or(0, BTreeMap::len))
                .filter(|f| f.files.is_some())
            {
                step.files = None;
            } else if record.history.len() > 1 {
                record.history.remove(0);
            } else {
                return Err(format!(
                    "the record is {} bytes compressed even without file lists, over the {STORED_LIMIT} a record may weigh",
                    bytes.len()
                ));
            }
        }
    }

    /// A stored record read back: decompressed within `JSON_LIMIT`, of this schema.
    pub fn decode(stored: &[u8]) -> Result<Self, String> {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(stored)
            .take(JSON_LIMIT as u64 + 1)
            .read_to_end(&mut json)
            .map_err(|e| format!("the record is not gzip: {e}"))?;
        if json.len() > JSON_LIMIT {
            return Err(format!(
                "the record decompresses past {JSON_LIMIT} bytes, more than regcache reads"
            ));
        }
        #[derive(Deserialize)]
        struct Version {
            schema: u32,
        }
        let version: Version = serde_json::from_slice(&json)
            .map_err(|e| format!("the record is not a regcache build record: {e}"))?;
        if version.schema != SCHEMA {
            return Err(format!(
                "the record has schema {}, this regcache reads {SCHEMA}",
                version.schema
            ));
        }
        serde_json::from_slice(&json).map_err(|e| format!("the record is unreadable: {e}"))
    }
}

fn compress(json: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json).map_err(|e| e.to_string())?;
    encoder.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn run(time: &str, hit_ratio: f64, build_seconds: f64) -> Run {
        Run {
            time: time.into(),
            commit: Some("0123456789ab".into()),
            event: "push".into(),
            hit_ratio,
            cached_steps: (hit_ratio * 10.0) as usize,
            total_steps: 10,
            build_seconds,
            cache_size: Some(2 << 20),
        }
    }

    pub fn record(steps: Vec<StepFacts>) -> BuildRecord {
        BuildRecord {
            schema: SCHEMA,
            dockerfile: "Dockerfile".into(),
            target: None,
            platforms: Vec::new(),
            no_cache: false,
            no_cache_filters: Vec::new(),
            mode: "max".into(),
            export: String::new(),
            image_stages: vec!["stage-1".into()],
            build_args: BTreeMap::new(),
            stages: Vec::new(),
            steps,
            context_hashed: true,
            history: Vec::new(),
        }
    }

    fn listed(n: usize) -> FileSet {
        let files: BTreeMap<String, String> = (0..n)
            .map(|i| {
                (
                    format!("src/module-{i:05}/file.rs"),
                    crate::registry::sha256_digest(&i.to_le_bytes()),
                )
            })
            .collect();
        FileSet {
            digest: "sha256:00".into(),
            files: Some(files),
            sources: BTreeMap::from([(".".into(), "sha256:00".into())]),
        }
    }

    fn copy_step(files: FileSet) -> StepFacts {
        StepFacts {
            stage: "stage-0".into(),
            ordinal: 0,
            line: 2,
            instruction: "COPY . .".into(),
            shaped_by: Vec::new(),
            cached: true,
            args: Vec::new(),
            copies_from: None,
            files: Some(files),
        }
    }

    #[test]
    fn a_record_round_trips_and_its_history_keeps_the_last_thirty() {
        let mut record = record(vec![copy_step(listed(3))]);
        let earlier: Vec<Run> = (0..40)
            .map(|i| run(&format!("2026-12-01T00:00:{i:02}Z"), 0.5, 1.0))
            .collect();
        record = record.with_history(&earlier, run("2026-12-05T00:00:00Z", 1.0, 2.0));
        assert_eq!(record.history.len(), HISTORY_LENGTH);
        assert_eq!(record.history[0].time, "2026-12-01T00:00:11Z");
        assert_eq!(record.run().unwrap().time, "2026-12-05T00:00:00Z");
        let stored = record.encode().unwrap();
        assert_eq!(BuildRecord::decode(&stored).unwrap(), record);
    }

    #[test]
    fn a_long_history_read_back_keeps_the_last_runs_only() {
        let earlier: Vec<Run> = (0..500).map(|i| run(&i.to_string(), 0.0, 1.0)).collect();
        let runs = last_runs(&earlier, run("new", 1.0, 1.0));
        assert_eq!(runs.len(), HISTORY_LENGTH);
        assert_eq!(runs[0].time, "471");
        assert_eq!(runs.last().unwrap().time, "new");
        assert_eq!(last_runs(&[], run("only", 1.0, 1.0)).len(), 1);
    }

    #[test]
    fn a_record_too_large_drops_its_file_lists_first_and_stays_under_the_limit() {
        let record = record(vec![copy_step(listed(MAX_LISTED_FILES))]);
        let stored = record.encode().unwrap();
        assert!(stored.len() <= STORED_LIMIT, "{}", stored.len());
        let back = BuildRecord::decode(&stored).unwrap();
        let files = back.steps[0].files.as_ref().unwrap();
        assert!(files.files.is_none(), "the file list went");
        assert_eq!(files.sources["."], "sha256:00", "the source's digest stays");
    }

    #[test]
    fn decoding_refuses_a_bomb_another_schema_and_garbage() {
        let bomb = compress(&vec![b' '; JSON_LIMIT + 10]).unwrap();
        assert!(
            BuildRecord::decode(&bomb)
                .unwrap_err()
                .contains("decompresses past")
        );
        let other = compress(br#"{"schema": 2}"#).unwrap();
        assert!(
            BuildRecord::decode(&other)
                .unwrap_err()
                .contains("schema 2")
        );
        assert!(
            BuildRecord::decode(b"not gzip")
                .unwrap_err()
                .contains("not gzip")
        );
    }
}
