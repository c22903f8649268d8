//! Reads `--progress=rawjson`: a stream of concatenated JSON objects, indented over many lines
//! (buildx 0.12–0.14) or one per line (0.15+), with plain text lines mixed in (the failing
//! Dockerfile excerpt, `ERROR: failed to solve: …`, logrus warnings).
//!
//! Objects start at the beginning of a line in both layouts, so only a `{` there is tried as
//! JSON; anything else up to the next newline is text. An object's end is found by one scan
//! that resumes where it stopped as more bytes arrive (strings and escapes tracked), and the
//! object is parsed once: time is linear in the input, whatever the size of one object.
//! Memory stays bounded by the largest single object kept (`MAX_OBJECT`, 64 MiB) plus one
//! read chunk, whatever the length of the stream: a longer object or line is kept as its
//! first 64 KiB of text and the rest skipped.

use std::io::{self, Read};

use super::model::SolveStatus;

const READ_CHUNK: usize = 64 * 1024;
/// Text kept of a line too long to be anything but noise; the rest of it is skipped unread.
const LONG_LINE_KEPT: usize = 64 * 1024;
/// An object this large without an end is not progress: give it up as text.
const MAX_OBJECT: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub enum RawItem {
    Status(SolveStatus),
    Text(String),
}

pub struct RawJsonReader<R> {
    source: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    at_line_start: bool,
    scan: Scan,
    /// Inside an overlong line: dropping bytes up to its newline.
    skipping: bool,
}

/// How far the object starting at `pos` has been scanned for its closing brace.
#[derive(Debug, Default)]
struct Scan {
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scan {
    /// The object's length once its closing brace is in `bytes` (which start at the object).
    fn end(&mut self, bytes: &[u8]) -> Option<usize> {
        while self.scanned < bytes.len() {
            let byte = bytes[self.scanned];
            self.scanned += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(self.scanned);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

impl<R: Read> RawJsonReader<R> {
    pub fn new(source: R) -> Self {
        Self {
            source,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            eof: false,
            at_line_start: true,
            scan: Scan::default(),
            skipping: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.source.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        let n = n?;
        self.eof = n == 0;
        Ok(())
    }

    /// The rest of the current line as text, consuming its newline.
    fn take_line(&mut self) -> io::Result<String> {
        loop {
            let rest = &self.buf[self.pos..];
            if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&rest[..nl])
                    .trim_end_matches('\r')
                    .to_owned();
                self.pos += nl + 1;
                self.at_line_start = true;
                return Ok(line);
            }
            if self.eof || rest.len() > MAX_OBJECT {
                let line =
                    String::from_utf8_lossy(&rest[..rest.len().min(LONG_LINE_KEPT)]).into_owned();
                self.skipping = !self.eof;
                self.pos = self.buf.len();
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn next_item(&mut self) -> io::Result<Option<RawItem>> {
        loop {
            if self.skipping {
                match self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        self.pos += nl + 1;
                        self.skipping = false;
                        self.at_line_start = true;
                    }
                    None if self.eof => return Ok(None),
                    None => {
                        self.pos = self.buf.len();
                        self.fill()?;
                    }
                }
                continue;
            }
            if self.pos >= self.buf.len() {
                if self.eof {
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            match self.buf[self.pos] {
                b'\n' => {
                    self.pos += 1;
                    self.at_line_start = true;
                }
                b'\r' | b' ' | b'\t' if !self.at_line_start => self.pos += 1,
                b'{' if self.at_line_start => {
                    if self.scan.scanned == 0 {
                        // The common case, the whole object already read: one pass.
                        let mut stream =
                            serde_json::Deserializer::from_slice(&self.buf[self.pos..])
                                .into_iter::<SolveStatus>();
                        match stream.next() {
                            Some(Ok(status)) => {
                                self.pos += stream.byte_offset();
                                self.at_line_start = false;
                                return Ok(Some(RawItem::Status(status)));
                            }
                            // Not all here yet: from now on, scan for its end instead.
                            Some(Err(e)) if e.is_eof() => {}
                            _ => return self.take_line().map(|l| Some(RawItem::Text(l))),
                        }
                    }
                    if let Some(len) = self.scan.end(&self.buf[self.pos..]) {
                        self.scan = Scan::default();
                        let object = &self.buf[self.pos..self.pos + len];
                        if let Ok(status) = serde_json::from_slice::<SolveStatus>(object) {
                            self.pos += len;
                            self.at_line_start = false;
                            return Ok(Some(RawItem::Status(status)));
                        }
                        // Balanced, but not progress: its first line is text.
                        return self.take_line().map(|l| Some(RawItem::Text(l)));
                    }
                    if self.eof || self.buf.len() - self.pos > MAX_OBJECT {
                        // Cut off at the end, or too large to be progress: text.
                        self.scan = Scan::default();
                        return self.take_line().map(|l| Some(RawItem::Text(l)));
                    }
                    self.fill()?;
                }
                _ => {
                    let line = self.take_line()?;
                    if !line.trim().is_empty() {
                        return Ok(Some(RawItem::Text(line)));
                    }
                }
            }
        }
    }
}

impl<R: Read> Iterator for RawJsonReader<R> {
    type Item = io::Result<RawItem>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &str, chunk: usize) -> Vec<RawItem> {
        /// Hands out at most `chunk` bytes a read, like a pipe.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        RawJsonReader::new(Trickle(input.as_bytes(), chunk))
            .map(Result::unwrap)
            .collect()
    }

    fn describe(items: &[RawItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                RawItem::Status(s) => format!(
                    "vertexes={} statuses={}",
                    s.vertexes.len(),
                    s.statuses.len()
                ),
                RawItem::Text(t) => format!("text:{t}"),
            })
            .collect()
    }

    #[test]
    fn reads_indented_and_single_line_objects_with_text_between() {
        let input = "$ docker buildx build .\n{\n  \"vertexes\": [\n    {\"digest\": \"a\", \"name\": \"x {\"}\n  ]\n}\n\
                     {\"statuses\":[{\"id\":\"s\",\"vertex\":\"a\",\"current\":1,\"timestamp\":\"0001-01-01T00:00:00Z\"}]}\n\
                     Dockerfile:8\n  8 | >>> COPY {x}\nERROR: failed to solve: boom\n";
        for chunk in [1, 3, 7, 4096] {
            assert_eq!(
                describe(&items(input, chunk)),
                [
                    "text:$ docker buildx build .",
                    "vertexes=1 statuses=0",
                    "vertexes=0 statuses=1",
                    "text:Dockerfile:8",
                    "text:  8 | >>> COPY {x}",
                    "text:ERROR: failed to solve: boom",
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn an_object_cut_off_at_the_end_becomes_text() {
        assert_eq!(
            describe(&items("{\"vertexes\":[]}\n{\"statuses", 5)),
            ["vertexes=0 statuses=0", "text:{\"statuses"]
        );
    }

    #[test]
    fn one_huge_object_is_read_in_linear_time() {
        // 20 MB in one object, delivered in 64 KiB reads: re-parsing from the object's start
        // on every read would take minutes; one scan takes well under a second.
        let log = "x".repeat(20 * 1024 * 1024);
        let object = format!(
            "{{\"logs\":[{{\"vertex\":\"sha256:a\",\"stream\":1,\"data\":\"{log}\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}]}}\n"
        );
        let started = std::time::Instant::now();
        let items = items(&object, 64 * 1024);
        assert_eq!(items.len(), 1);
        assert!(matches!(&items[0], RawItem::Status(s) if s.logs[0].data.len() == log.len()));
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn braces_inside_strings_do_not_end_an_object() {
        let text = "{\"vertexes\":[{\"digest\":\"a\",\"name\":\"RUN echo '}' \\\" {\"}]}\nafter\n";
        assert_eq!(
            describe(&items(text, 3)),
            ["vertexes=1 statuses=0", "text:after"]
        );
    }

    #[test]
    fn a_brace_line_that_is_not_progress_is_text() {
        assert_eq!(
            describe(&items("{not json}\n{\"vertexes\":5}\n", 64)),
            ["text:{not json}", "text:{\"vertexes\":5}"]
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// However a pipe splits the stream, and whatever text lines sit between objects,
            /// the same objects and lines come out.
            #[test]
            fn chunking_and_text_do_not_change_what_is_read(
                chunk in 1usize..200,
                texts in proptest::collection::vec("[ -z|~]{0,30}", 0..6),
                indented in any::<bool>(),
            ) {
                let object = serde_json::json!({"vertexes": [{"digest": "sha256:ab", "name": "[build 1/2] RUN {x}", "cached": true}]});
                let rendered = if indented { serde_json::to_string_pretty(&object).unwrap() } else { object.to_string() };
                let mut input = String::new();
                let mut expected = Vec::new();
                for text in &texts {
                    input += &format!("{rendered}\n{text}\n");
                    expected.push("vertexes=1 statuses=0".to_owned());
                    // A text line starting with `{` that is not an object is still text.
                    if !text.trim().is_empty() {
                        expected.push(format!("text:{}", text.trim_end_matches('\r')));
                    }
                }
                prop_assert_eq!(describe(&items(&input, chunk)), expected);
            }
        }
    }
}
