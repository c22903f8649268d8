//! The `--progress=plain` line grammar (`util/progress/progressui/printer.go`), one line at a
//! time. Which `#N` lines are vertex names depends on the lines before; that state lives in
//! `Progress::apply_plain_line`.

use std::sync::LazyLock;

use regex::Regex;

/// `#N ` anywhere in the line once a known CI prefix is gone: other wrappers prefix lines too.
static VERTEX_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|\s)#(\d+) (.*)$").unwrap());
static DONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^DONE (\d+(?:\.\d+)?)s$").unwrap());
static LOG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d+\.\d+ (.*)$").unwrap());
/// Before BuildKit ~v0.9 every block repeated the vertex digest under its name.
static LEGACY_DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sha256:[0-9a-f]{64}$").unwrap());
/// Cloud Build's prefix is itself `#<n> `, so it goes before looking for the vertex number.
static CI_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^Step #\d+ - "[^"]*":"#).unwrap());
static FINAL_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^error: (failed to (?:solve|build): .*)$").unwrap());

#[derive(Debug, PartialEq)]
pub enum PlainLine<'a> {
    /// `#N <text>`: a name, a status, a log line or an end state, told apart by `classify`.
    Vertex {
        number: u32,
        text: &'a str,
    },
    /// `ERROR: failed to solve: …` and its older spellings.
    FinalError(&'a str),
    Other(&'a str),
}

#[derive(Debug, PartialEq)]
pub enum VertexText<'a> {
    Cached,
    Done(f64),
    Error(&'a str),
    Canceled,
    Log(&'a str),
    Warning(&'a str),
    /// `#N ...`: output moves to another vertex and resumes later.
    Interrupted,
    LegacyDigest,
    /// A name or a status line; which one depends on the position in the block.
    Text(&'a str),
}

pub fn split_line(line: &str) -> PlainLine<'_> {
    let line = line.trim_end_matches('\r');
    let unprefixed = CI_PREFIX.find(line).map_or(line, |m| &line[m.end()..]);
    if let Some(captures) = VERTEX_LINE.captures(unprefixed) {
        if let Ok(number) = captures[1].parse() {
            return PlainLine::Vertex {
                number,
                text: captures.get(2).map_or("", |m| m.as_str()),
            };
        }
    }
    match FINAL_ERROR.captures(unprefixed.trim()) {
        Some(c) => PlainLine::FinalError(c.get(1).map_or("", |m| m.as_str())),
        None => PlainLine::Other(line),
    }
}

pub fn classify(text: &str) -> VertexText<'_> {
    if text == "CACHED" {
        return VertexText::Cached;
    }
    if text == "CANCELED" {
        return VertexText::Canceled;
    }
    if text == "..." {
        return VertexText::Interrupted;
    }
    if let Some(message) = text
        .strip_prefix("ERROR: ")
        .or_else(|| text.strip_prefix("ERROR "))
    {
        return VertexText::Error(message);
    }
    if let Some(message) = text.strip_prefix("WARN: ") {
        return VertexText::Warning(message);
    }
    if let Some(c) = DONE.captures(text) {
        return VertexText::Done(c[1].parse().unwrap_or(0.0));
    }
    if let Some(c) = LOG.captures(text) {
        return VertexText::Log(c.get(1).map_or("", |m| m.as_str()));
    }
    if LEGACY_DIGEST.is_match(text) {
        return VertexText::LegacyDigest;
    }
    VertexText::Text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_vertex_lines_with_and_without_ci_prefixes() {
        assert_eq!(
            split_line("#12 CACHED"),
            PlainLine::Vertex {
                number: 12,
                text: "CACHED"
            }
        );
        assert_eq!(
            split_line("Step #1 - \"long-build\": #17 DONE 3674.0s"),
            PlainLine::Vertex {
                number: 17,
                text: "DONE 3674.0s"
            }
        );
        assert_eq!(
            split_line("ERROR: failed to solve: boom"),
            PlainLine::FinalError("failed to solve: boom")
        );
        assert_eq!(
            split_line(
                "Step #2 - \"long-build\": error: failed to solve: failed to fetch oauth token: 401"
            ),
            PlainLine::FinalError("failed to solve: failed to fetch oauth token: 401")
        );
        assert_eq!(
            split_line("ERROR: failed to build: failed to solve: x"),
            PlainLine::FinalError("failed to build: failed to solve: x")
        );
        assert_eq!(
            split_line(" > importing cache manifest from x:"),
            PlainLine::Other(" > importing cache manifest from x:")
        );
    }

    #[test]
    fn classifies_end_states_logs_and_statuses() {
        assert_eq!(classify("DONE 0.1s"), VertexText::Done(0.1));
        assert_eq!(
            classify("ERROR: x: not found"),
            VertexText::Error("x: not found")
        );
        assert_eq!(
            classify("0.215 combining sources"),
            VertexText::Log("combining sources")
        );
        assert_eq!(classify("..."), VertexText::Interrupted);
        assert_eq!(
            classify("sha256:d9ce4d08111d8c68bc10fe0408a8c2c666a3e842a1db0b9812ebd2edeb2e95b9"),
            VertexText::LegacyDigest
        );
        assert_eq!(
            classify("writing layer sha256:ab done"),
            VertexText::Text("writing layer sha256:ab done")
        );
    }
}
