//! The small GitHub Actions runtime layer: workflow commands, file commands and the step
//! summary, as `actions/toolkit` `packages/core` writes them.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::{Level, Location};

/// Messages: `%`, `\r`, `\n` escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Properties: also `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn annotation(level: Level, title: &str, message: &str, location: Option<&Location>) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut properties = Vec::new();
    if let Some(l) = location {
        properties.push(format!("file={}", escape_property(&l.file)));
        properties.push(format!("line={}", l.line));
    }
    properties.push(format!("title={}", escape_property(title)));
    format!(
        "::{command} {}::{}",
        properties.join(","),
        escape_data(message)
    )
}

/// `name<<delimiter` / value / `delimiter`, with a fresh random delimiter per write that
/// cannot occur in the value (`$GITHUB_OUTPUT`, `$GITHUB_STATE`, `$GITHUB_ENV`).
pub fn file_command(name: &str, value: &str) -> String {
    loop {
        let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
        if !value.contains(&delimiter) && !name.contains(&delimiter) {
            return format!("{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
    }
}

pub fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("50%\nnext\r"), "50%25%0Anext%0D");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            annotation(
                Level::Error,
                "COPY failed",
                "\"/missing.txt\": not found",
                Some(&Location {
                    file: "Dockerfile".into(),
                    line: 8
                })
            ),
            "::error file=Dockerfile,line=8,title=COPY failed::\"/missing.txt\": not found"
        );
    }

    #[test]
    fn file_commands_survive_multiline_values() {
        let text = file_command("stats", "{\n\"a\": 1\n}");
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let delimiter = header.strip_prefix("stats<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.collect::<Vec<_>>(), ["{", "\"a\": 1", "}", delimiter]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Any value, with newlines and delimiter-like text, reads back exactly.
            #[test]
            fn file_commands_round_trip(value in "(ghadelimiter_|[\\s\\S]){0,80}") {
                let text = file_command("out", &value);
                let (header, rest) = text.split_once('\n').unwrap();
                let delimiter = header.strip_prefix("out<<").unwrap();
                let body = rest.strip_suffix(&format!("\n{delimiter}\n")).unwrap();
                prop_assert_eq!(body, value);
            }
        }
    }
}
