//! What a Dockerfile says, as far as the explanation of a miss needs it: its stages in order,
//! each stage's base, its instructions with their lines, and which of them BuildKit runs as a
//! step (a vertex named `[stage i/n] …`). Pure.
//!
//! The grammar followed is BuildKit's (`frontend/dockerfile/parser/parser.go`): a line ending in
//! the escape character (`\`, or the one `# escape=` names) continues on the next, the escape
//! and the line break removed; comment lines are dropped, also inside a continued instruction;
//! a heredoc (`<<EOF`) runs to its terminator. Only RUN, COPY, ADD and WORKDIR become steps
//! (`dockerfile2llb/convert.go` names only those with `prefixCommand`); a stage on an image
//! also counts its FROM as step 1, a stage on another stage does not.

use std::collections::BTreeMap;

/// One instruction as written, its continuation lines joined the way BuildKit joins them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-case keyword: `RUN`, `COPY`, …
    pub keyword: String,
    /// The whole instruction on one line (a heredoc's body after it, line by line).
    pub text: String,
    /// Its first line in the file, from 1.
    pub line: u32,
}

impl Instruction {
    /// Whether BuildKit runs it as a step of its own.
    pub fn is_step(&self) -> bool {
        matches!(self.keyword.as_str(), "RUN" | "COPY" | "ADD" | "WORKDIR")
    }

    /// Whether it changes what later RUN steps see (and so their cache keys) without being
    /// a step itself.
    pub fn shapes_later_steps(&self) -> bool {
        matches!(self.keyword.as_str(), "ENV" | "ARG" | "USER" | "SHELL")
    }

    /// The text after the keyword.
    pub fn arguments(&self) -> &str {
        self.text
            .split_once(char::is_whitespace)
            .map_or("", |(_, rest)| rest.trim_start())
    }

    /// `--from=<x>` of a COPY or ADD.
    pub fn copies_from(&self) -> Option<&str> {
        if !matches!(self.keyword.as_str(), "COPY" | "ADD") {
            return None;
        }
        flags_and_words(self.arguments())
            .0
            .into_iter()
            .find_map(|flag| flag.strip_prefix("--from="))
    }

    /// The sources of a COPY or ADD (every argument but the destination), as written.
    pub fn sources(&self) -> Vec<String> {
        if !matches!(self.keyword.as_str(), "COPY" | "ADD") {
            return Vec::new();
        }
        let (_, mut words) = flags_and_words(self.arguments());
        words.pop();
        words.into_iter().map(str::to_owned).collect()
    }

    /// The names an ARG declares, with their defaults.
    pub fn declared_args(&self) -> Vec<(String, Option<String>)> {
        if self.keyword != "ARG" {
            return Vec::new();
        }
        self.arguments()
            .split_whitespace()
            .map(|word| match word.split_once('=') {
                Some((name, default)) => (name.to_owned(), Some(unquote(default).to_owned())),
                None => (word.to_owned(), None),
            })
            .collect()
    }

    /// Whether the instruction's text names `$arg` or `${arg…}`.
    pub fn mentions(&self, arg: &str) -> bool {
        let text = &self.text;
        text.match_indices('$').any(|(i, _)| {
            let rest = &text[i + 1..];
            let rest = rest.strip_prefix('{').unwrap_or(rest);
            rest.strip_prefix(arg).is_some_and(|after| {
                !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        })
    }
}

/// The flags (`--x=y`) and the words of an instruction's arguments, in the shell form or the
/// JSON (exec) form.
fn flags_and_words(arguments: &str) -> (Vec<&str>, Vec<&str>) {
    let mut flags = Vec::new();
    let mut rest = arguments.trim();
    while rest.starts_with("--") {
        let (flag, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(flag);
        rest = after.trim_start();
    }
    let first_line = rest.lines().next().unwrap_or_default();
    let words = if first_line.starts_with('[') {
        first_line
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|w| w.trim().trim_matches('"'))
            .filter(|w| !w.is_empty())
            .collect()
    } else {
        first_line.split_whitespace().collect()
    };
    (flags, words)
}

fn unquote(text: &str) -> &str {
    let quoted = |q: char| text.len() >= 2 && text.starts_with(q) && text.ends_with(q);
    if quoted('"') || quoted('\'') {
        &text[1..text.len() - 1]
    } else {
        text
    }
}

/// One stage: `FROM <base> [AS <name>]` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its position among the stages, from 0.
    pub index: usize,
    /// The name after AS, lower-cased as BuildKit compares it.
    pub name: Option<String>,
    /// The base as written (ARGs not yet expanded).
    pub base: String,
    pub line: u32,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// How BuildKit names the stage in step names: its name, else `stage-<index>`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines), with their defaults.
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The stage a FROM or `--from=` names, if it names a stage rather than an image.
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| lower.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }

    /// The stage a step name's label (`deps`, `stage-2`, or none for a one-stage file) is.
    pub fn stage_labelled(&self, label: &str) -> Option<&Stage> {
        if label.is_empty() && self.stages.len() == 1 {
            return self.stages.first();
        }
        self.stages.iter().find(|s| s.label() == label)
    }

    /// A stage's base with the global ARGs expanded (`given` build-args over the defaults).
    pub fn expanded_base(&self, stage: &Stage, given: &BTreeMap<String, String>) -> String {
        let mut values = BTreeMap::new();
        for (name, default) in &self.global_args {
            if let Some(value) = given.get(name).or(default.as_ref()) {
                values.insert(name.clone(), value.clone());
            }
        }
        expand(&stage.base, &values)
    }
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` replaced from `values` (unset: empty, or the
/// default), as BuildKit's shell lexer does for FROM.
fn expand(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, default, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => {
                    let body = &inner[..end];
                    let (name, default) = match body.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (body, None),
                    };
                    (name, default, end + 2)
                }
                None => ("", None, 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], None, end)
        };
        if consumed == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        match values.get(name) {
            Some(value) if !value.is_empty() => out.push_str(value),
            _ => out.push_str(default.unwrap_or_default()),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The `# escape=` directive, when the file starts with one.
fn escape_character(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        match directive.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("escape") => {
                return value.trim().chars().next().unwrap_or('\\');
            }
            Some(_) => continue,
            None => break,
        }
    }
    '\\'
}

/// The heredoc terminators an instruction's line opens (`<<EOF`, `<<-"EOF"`).
fn heredocs(line: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        let (strip_tabs, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let word: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            found.push((word, strip_tabs));
        }
        rest = after;
    }
    found
}

/// The Dockerfile's stages and instructions.
pub fn parse(text: &str) -> Dockerfile {
    let escape = escape_character(text);
    let mut file = Dockerfile::default();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut current = line.trim_start().to_owned();
        loop {
            let end = current.trim_end();
            match end.strip_suffix(escape) {
                Some(head) => {
                    joined.push_str(head);
                    // The next line that is not a comment continues the instruction.
                    let mut next = None;
                    for (_, candidate) in lines.by_ref() {
                        if candidate.trim_start().starts_with('#') {
                            continue;
                        }
                        next = Some(candidate.to_owned());
                        break;
                    }
                    match next {
                        Some(next) => current = next,
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    break;
                }
            }
        }
        let keyword = joined
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (terminator, strip_tabs) in heredocs(&joined) {
                for (_, body) in lines.by_ref() {
                    let end = if strip_tabs {
                        body.trim_start_matches('\t')
                    } else {
                        body
                    };
                    joined.push('\n');
                    joined.push_str(body);
                    if end == terminator {
                        break;
                    }
                }
            }
        }
        add_instruction(
            &mut file,
            Instruction {
                keyword,
                text: joined,
                line: number as u32 + 1,
            },
        );
    }
    file
}

fn add_instruction(file: &mut Dockerfile, instruction: Instruction) {
    if instruction.keyword == "FROM" {
        let (_, words) = flags_and_words(instruction.arguments());
        let base = words.first().copied().unwrap_or_default().to_owned();
        let name = match words.as_slice() {
            [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        file.stages.push(Stage {
            index: file.stages.len(),
            name,
            base,
            line: instruction.line,
            instructions: Vec::new(),
        });
        return;
    }
    match file.stages.last_mut() {
        Some(stage) => stage.instructions.push(instruction),
        None => file.global_args.extend(instruction.declared_args()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# syntax=docker/dockerfile:1
ARG BASE=registry.example/base:1
FROM $BASE AS deps
ENV A=1
ARG X=2
# a comment
WORKDIR /src
COPY a.txt \\
  # a comment inside
     ./
RUN echo $X > /x

FROM deps AS Build
RUN <<EOF
echo one
EOF
COPY --from=deps --chown=1:1 /x /y
FROM ${BASE:-other}
COPY [\"b.txt\", \"c d.txt\", \"/dst/\"]
CMD [\"true\"]
";

    #[test]
    fn stages_instructions_and_lines() {
        let file = parse(FILE);
        assert_eq!(
            file.global_args,
            [(
                "BASE".to_owned(),
                Some("registry.example/base:1".to_owned())
            )]
        );
        let labels: Vec<String> = file.stages.iter().map(Stage::label).collect();
        assert_eq!(labels, ["deps", "build", "stage-2"]);
        let deps = &file.stages[0];
        assert_eq!((deps.base.as_str(), deps.line), ("$BASE", 3));
        let seen: Vec<(&str, u32, bool)> = deps
            .instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.line, i.is_step()))
            .collect();
        assert_eq!(
            seen,
            [
                ("ENV", 4, false),
                ("ARG", 5, false),
                ("WORKDIR", 7, true),
                ("COPY", 8, true),
                ("RUN", 11, true)
            ]
        );
        // BuildKit's join: the escape and the line break go, the next line's indent stays.
        assert_eq!(deps.instructions[3].text, "COPY a.txt      ./");
        assert_eq!(deps.instructions[3].sources(), ["a.txt"]);
        assert_eq!(
            deps.instructions[1].declared_args(),
            [("X".to_owned(), Some("2".to_owned()))]
        );
        assert!(deps.instructions[4].mentions("X"));
        assert!(!deps.instructions[4].mentions("XY"));
        let build = &file.stages[1];
        assert_eq!(build.instructions[0].text, "RUN <<EOF\necho one\nEOF");
        assert_eq!(build.instructions[1].line, 17);
        assert_eq!(build.instructions[1].copies_from(), Some("deps"));
        assert_eq!(build.instructions[1].sources(), ["/x"]);
        assert_eq!(
            file.stages[2].instructions[0].sources(),
            ["b.txt", "c d.txt"]
        );
        assert_eq!(file.stage_named("DEPS").map(|s| s.index), Some(0));
        assert_eq!(file.stage_named("1").map(|s| s.index), Some(1));
        assert!(file.stage_named("alpine").is_none());
    }

    #[test]
    fn bases_expand_global_args_with_given_values_first() {
        let file = parse(FILE);
        let none = BTreeMap::new();
        assert_eq!(
            file.expanded_base(&file.stages[0], &none),
            "registry.example/base:1"
        );
        let given = BTreeMap::from([("BASE".to_owned(), "r/other:2".to_owned())]);
        assert_eq!(file.expanded_base(&file.stages[2], &given), "r/other:2");
        let unset = parse("FROM ${NOPE:-alpine:3}\n");
        assert_eq!(unset.expanded_base(&unset.stages[0], &none), "alpine:3");
    }

    #[test]
    fn args_defaults_lose_their_quotes_and_only_key_shaping_lines_shape() {
        let file = parse("FROM x\nARG A=\"x\" B='y' C=\" D=plain E\nLABEL a=b\nENV F=1\nRUN a\n");
        let instructions = &file.stages[0].instructions;
        let declared: Vec<(String, Option<String>)> = instructions[0].declared_args();
        let expected: Vec<(String, Option<String>)> = [
            ("A", Some("x")),
            ("B", Some("y")),
            ("C", Some("\"")),
            ("D", Some("plain")),
            ("E", None),
        ]
        .into_iter()
        .map(|(n, d)| (n.to_owned(), d.map(str::to_owned)))
        .collect();
        assert_eq!(declared, expected);
        let shaping: Vec<bool> = instructions
            .iter()
            .map(Instruction::shapes_later_steps)
            .collect();
        assert_eq!(shaping, [true, false, true, false]);
    }

    #[test]
    fn an_escape_directive_changes_the_continuation_character() {
        let file = parse("# escape=`\nFROM x\nRUN a `\n  b\n");
        assert_eq!(file.stages[0].instructions[0].text, "RUN a   b");
    }

    #[test]
    fn a_one_stage_file_is_found_by_an_empty_label() {
        let file = parse("FROM x\nRUN a\n");
        assert_eq!(file.stage_labelled("").map(|s| s.index), Some(0));
        assert_eq!(file.stage_labelled("stage-0").map(|s| s.index), Some(0));
    }
}
