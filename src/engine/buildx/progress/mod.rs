//! Progress parsers: both buildx grammars (rawjson and plain) folded into one vertex table,
//! with a stream of display events for the live log.

pub mod display;
mod model;
mod plain;
mod rawjson;
mod targets;

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use model::{SolveStatus, VertexRecord, VertexTable};
pub use targets::ByTarget;

use crate::stats::Location;
use plain::{PlainLine, VertexText};
use rawjson::{RawItem, RawJsonReader};

const TEXT_TAIL_LINES: usize = 100;
/// Text kept of one line (and of a vertex name): a build can print megabytes on one line,
/// and only the start of it helps a person.
const TEXT_MAX: usize = 4096;

/// `text` cut to `TEXT_MAX` bytes at a character boundary, marked when cut.
fn capped(text: &str) -> String {
    if text.len() <= TEXT_MAX {
        return text.to_owned();
    }
    let mut end = TEXT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Something worth one line of the live log. `number` is the vertex's `#N`: its position in
/// first-seen order for rawjson, the printed number for plain progress.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started { number: usize, name: String },
    Cached { number: usize },
    Done { number: usize, seconds: Option<f64> },
    Failed { number: usize, error: String },
    Log { number: usize, text: String },
    Status { number: usize, text: String },
    Warning { number: usize, text: String },
    Text(String),
}

#[derive(Debug, Default)]
pub struct Progress {
    pub vertices: VertexTable,
    /// `failed to solve: …`, the final line of a failed build.
    pub final_error: Option<String>,
    pub error_location: Option<Location>,
    /// The last lines of text that were not progress (buildx's own errors land here).
    pub text_tail: VecDeque<String>,
    /// rawjson's status ids already shown complete, so repeats print once.
    shown_statuses: HashSet<(usize, String)>,
    plain_current: Option<u32>,
    plain_numbers: Vec<u32>,
}

impl Progress {
    /// A vertex's `#N` in rawjson: its place in first-seen order, counted from 1.
    fn position(&self, key: &str) -> usize {
        self.vertices.index_of(key).map_or(0, |i| i + 1)
    }

    /// Merge one rawjson batch; `emit` receives what changed. A batch's statuses and logs
    /// are shown between its vertices' start and end lines, as they happened.
    pub fn apply_status(&mut self, status: &SolveStatus, emit: &mut impl FnMut(Event)) {
        let mut endings = Vec::new();
        for update in &status.vertexes {
            let before = self
                .vertices
                .get(&update.digest)
                .cloned()
                .unwrap_or_default();
            let after = self.vertices.merge(update).clone();
            let number = self.position(&update.digest);
            if after.started && !before.started
                || (after.cached && !before.cached && !before.started)
            {
                emit(Event::Started {
                    number,
                    name: after.name.clone(),
                });
            }
            if after.cached && !before.cached {
                endings.push(Event::Cached { number });
            }
            if let Some(error) = after.error.as_ref().filter(|_| before.error.is_none()) {
                endings.push(Event::Failed {
                    number,
                    error: error.clone(),
                });
            } else if after.completed && !before.completed && !after.cached && after.error.is_none()
            {
                endings.push(Event::Done {
                    number,
                    seconds: after.seconds(),
                });
            }
        }
        for status in &status.statuses {
            if status.completed.is_none() || status.id.is_empty() {
                continue;
            }
            let number = self.position(&status.vertex);
            if self.shown_statuses.insert((number, status.id.clone())) {
                emit(Event::Status {
                    number,
                    text: format!("{} done", status.id),
                });
            }
        }
        for log in &status.logs {
            let number = self.position(&log.vertex);
            let data = BASE64.decode(log.data.as_bytes()).unwrap_or_default();
            for line in String::from_utf8_lossy(&data).lines() {
                emit(Event::Log {
                    number,
                    text: line.to_owned(),
                });
            }
        }
        for warning in &status.warnings {
            let number = self.position(&warning.vertex);
            let text = BASE64.decode(warning.short.as_bytes()).unwrap_or_default();
            emit(Event::Warning {
                number,
                text: String::from_utf8_lossy(&text).into_owned(),
            });
        }
        endings.into_iter().for_each(emit);
    }

    /// Text between rawjson objects: the failing Dockerfile excerpt and the final error.
    pub fn apply_text(&mut self, line: &str, emit: &mut impl FnMut(Event)) {
        let line = &capped(line);
        if self.text_tail.len() == TEXT_TAIL_LINES {
            self.text_tail.pop_front();
        }
        self.text_tail.push_back(line.to_owned());
        match plain::split_line(line) {
            PlainLine::FinalError(message) => self.final_error = Some(message.to_owned()),
            _ => {
                if let Some(location) = parse_location(line) {
                    self.error_location = Some(location);
                }
            }
        }
        emit(Event::Text(line.to_owned()));
    }

    /// One line of `--progress=plain`.
    pub fn apply_plain_line(&mut self, line: &str, emit: &mut impl FnMut(Event)) {
        let line = &capped(line);
        let (number, text) = match plain::split_line(line) {
            PlainLine::Vertex { number, text } => (number, text),
            PlainLine::FinalError(message) => {
                self.final_error = Some(message.to_owned());
                return emit(Event::Text(line.to_owned()));
            }
            PlainLine::Other(text) => {
                if text.trim().is_empty() {
                    self.plain_current = None;
                }
                return;
            }
        };
        // `#0 building with "default" instance …` is a header, not a vertex.
        if number == 0 {
            return;
        }
        let key = format!("#{number}");
        let shown = number as usize;
        // printer.go prints a block's name first whenever it switches to a vertex.
        let opens_block = self.plain_current != Some(number);
        self.plain_current = Some(number);
        let (record, is_new) = self.vertices.entry(&key);
        if is_new {
            self.plain_numbers.push(number);
        }
        match plain::classify(text) {
            VertexText::Interrupted => self.plain_current = None,
            text => {
                let block = Block {
                    opens: opens_block,
                    is_new,
                };
                apply_vertex_text(record, text, shown, block, emit);
            }
        }
    }
}

/// Where a plain line stands in its vertex's block: the first line after a switch to it (its
/// name), and whether the vertex is new.
struct Block {
    opens: bool,
    is_new: bool,
}

/// One line of a vertex's plain block, applied to its record, and the event it makes.
fn apply_vertex_text(
    record: &mut VertexRecord,
    text: VertexText<'_>,
    shown: usize,
    block: Block,
    emit: &mut impl FnMut(Event),
) {
    match text {
        VertexText::Text(name) if block.opens => {
            // The last name wins, as for rawjson; a re-printed header changes nothing.
            if block.is_new || record.name != name {
                record.name = name.to_owned();
                record.started = true;
                emit(Event::Started {
                    number: shown,
                    name: name.to_owned(),
                });
            }
        }
        VertexText::Text(status) => emit(Event::Status {
            number: shown,
            text: status.to_owned(),
        }),
        VertexText::Cached => {
            // BuildKit marks a cache hit completed too (started == completed).
            record.completed = true;
            if !record.cached {
                record.cached = true;
                emit(Event::Cached { number: shown });
            }
        }
        VertexText::Done(seconds) => {
            // CACHED is sticky: a later `DONE` (layers pulled for the export) keeps it.
            let was_cached = record.cached;
            record.completed = true;
            record.reported_seconds = Some(seconds);
            if !was_cached {
                emit(Event::Done {
                    number: shown,
                    seconds: Some(seconds),
                });
            }
        }
        VertexText::Error(message) => {
            record.completed = true;
            record.error = Some(message.to_owned());
            emit(Event::Failed {
                number: shown,
                error: message.to_owned(),
            });
        }
        VertexText::Canceled => {
            record.completed = true;
            record.error = Some("canceled".to_owned());
        }
        VertexText::Log(text) => emit(Event::Log {
            number: shown,
            text: text.to_owned(),
        }),
        VertexText::Warning(text) => emit(Event::Warning {
            number: shown,
            text: text.to_owned(),
        }),
        VertexText::Interrupted | VertexText::LegacyDigest => {}
    }
}

/// `Dockerfile.error-variant:8`, printed alone before the source excerpt of a failed step.
fn parse_location(line: &str) -> Option<Location> {
    let (file, number) = line.trim().rsplit_once(':')?;
    if file.is_empty() || file.contains(char::is_whitespace) {
        return None;
    }
    Some(Location {
        file: file.to_owned(),
        line: number.parse().ok()?,
    })
}

/// Which grammar a saved log is in, judged from its first non-blank byte.
pub fn looks_like_rawjson(head: &[u8]) -> bool {
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        || head
            .split(|&b| b == b'\n')
            .any(|line| line.first() == Some(&b'{'))
}

/// Read a whole saved progress log, rawjson or plain, into a `Progress`.
pub fn read_log(mut source: impl BufRead) -> io::Result<Progress> {
    let mut progress = Progress::default();
    let head = source.fill_buf()?.to_vec();
    let mut ignore = |_| {};
    if looks_like_rawjson(&head) {
        read_rawjson(source, &mut progress, &mut ignore)?;
    } else {
        // Lenient: a log is not always UTF-8 (a build prints what its tools print).
        let mut line = Vec::new();
        while source.read_until(b'\n', &mut line)? > 0 {
            let text = String::from_utf8_lossy(&line);
            progress.apply_plain_line(text.trim_end_matches(['\n', '\r']), &mut ignore);
            line.clear();
        }
    }
    Ok(progress)
}

/// What rawjson progress is read into: one build's table, or a bake run's per target.
pub trait Folds {
    fn fold_status(&mut self, status: &SolveStatus, emit: &mut impl FnMut(Event));
    fn fold_text(&mut self, line: &str, emit: &mut impl FnMut(Event));
}

impl Folds for Progress {
    fn fold_status(&mut self, status: &SolveStatus, emit: &mut impl FnMut(Event)) {
        self.apply_status(status, emit);
    }
    fn fold_text(&mut self, line: &str, emit: &mut impl FnMut(Event)) {
        self.apply_text(line, emit);
    }
}

impl Folds for ByTarget {
    fn fold_status(&mut self, status: &SolveStatus, emit: &mut impl FnMut(Event)) {
        self.apply_status(status, emit);
    }
    fn fold_text(&mut self, line: &str, emit: &mut impl FnMut(Event)) {
        self.apply_text(line, emit);
    }
}

pub fn read_rawjson(
    source: impl Read,
    progress: &mut impl Folds,
    emit: &mut impl FnMut(Event),
) -> io::Result<()> {
    for item in RawJsonReader::new(source) {
        match item? {
            RawItem::Status(status) => progress.fold_status(&status, emit),
            RawItem::Text(line) => progress.fold_text(&line, emit),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any bytes, in either grammar's guise, read to an end without a panic.
        #[test]
        fn any_log_reads(
            lines in proptest::collection::vec(
                prop_oneof![
                    "#[0-9]{1,3} [ -~]{0,40}",
                    "\\{[ -~]{0,40}",
                    "[ -~]{0,40}",
                ],
                0..30,
            ),
            raw in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut text = lines.join("\n").into_bytes();
            text.extend(&raw);
            let progress = read_log(text.as_slice()).unwrap();
            prop_assert!(progress.text_tail.len() <= TEXT_TAIL_LINES);
            prop_assert!(progress.text_tail.iter().all(|l| l.len() <= TEXT_MAX + 32));
        }
    }
}
