//! How outside text (what a registry, a build, a commit or an event payload says) is shown
//! where it leaves the program: one rule per sink, applied at the sink, pure.
//!
//! | sink | rule |
//! |---|---|
//! | a line of a log or of stdout/stderr | `one_line`: every control character written as an escape, so the text cannot end the line, and no line it is on can start a workflow command (the runner reads a command only at the start of a line, `actions/runner` `ActionCommand.TryParseV2`) or a GitLab section marker |
//! | Markdown text (a job summary cell) | `markdown`: one line, every character that opens inline markup backslash-escaped (CommonMark 0.31 §2.4: HTML, entities, links and images, emphasis, strikethrough, code, table cells), and the autolink triggers `://` and `www.` broken the same way (GFM's autolink extension), so the text shows as the characters it holds |
//! | a Markdown code span | `code`, `code_in_table`: one line, fenced by more backticks than the longest run inside (CommonMark §6.1); in a table `|` escaped too (GFM tables: "including inside other inline spans") |
//!
//! Step outputs and dotenv values are written by their own writers (a random delimiter for
//! `GITHUB_OUTPUT`, quoting for dotenv), and JSON escapes control characters itself.

/// `text` on one line: control characters (C0, DEL, C1) and the Unicode line and paragraph
/// separators as `\n`, `\r`, `\t`, `\e` or `\u{…}`. A backslash stays as it is.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c, false);
    }
    out
}

/// Like `one_line`, but tabs and ANSI escapes pass (the colours of a build's own output): what
/// a log line needs so that it stays one line.
pub fn log_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c, true);
    }
    out
}

fn push_escaped(out: &mut String, c: char, keep_style: bool) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' if keep_style => out.push('\t'),
        '\t' => out.push_str("\\t"),
        '\u{1b}' if keep_style => out.push(c),
        '\u{1b}' => out.push_str("\\e"),
        c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
        c => out.push(c),
    }
}

/// The characters that open inline Markdown (GFM), escaped wherever they stand. Block-level
/// markers (`#`, `-`, `1.`, `>` …) act only at the start of a line, and this text never starts
/// one; `>` is escaped anyway, with `<`, for HTML.
const INLINE_MARKUP: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '>', '|', '~', '!', '&'];

/// Text for Markdown (a job summary's prose or table cell): one line, the characters that open
/// inline markup backslash-escaped and autolinks broken (`https:\/\/…`, `www\.…`), so it reads
/// as the characters it holds. An e-mail address still shows as a mailto link: GFM finds those
/// in the text after escapes are read.
pub fn markdown(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + line.len() / 4);
    for (i, c) in line.char_indices() {
        let rest = &line[i..];
        let autolink = (c == '/' && out.ends_with(':') && rest.starts_with("//"))
            || (c == '/' && out.ends_with(":\\/"))
            || (c == '.' && out.to_ascii_lowercase().ends_with("www"));
        if INLINE_MARKUP.contains(&c) || autolink {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown code span holding `text` (one line) literally.
pub fn code(text: &str) -> String {
    fence(&one_line(text))
}

/// A code span inside a GFM table cell: as `code`, with `|` escaped, which the table parser
/// reads before the span (and GitHub shows as `|`).
pub fn code_in_table(text: &str) -> String {
    fence(&one_line(text).replace('|', "\\|"))
}

fn fence(text: &str) -> String {
    if text.is_empty() {
        // Two backticks alone open nothing; a span of one space shows as empty.
        return "` `".to_owned();
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick (or a space) needs a space inside the fence,
    // which CommonMark strips once from each side.
    if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_line_escapes_what_could_end_a_line() {
        assert_eq!(
            one_line("a\nb\rc\td\u{1b}[31me\u{85}f\u{2028}g\0"),
            "a\\nb\\rc\\td\\e[31me\\u{85}f\\u{2028}g\\u{0}"
        );
        assert_eq!(
            log_line("x\t\u{1b}[1my\n::add-mask::z"),
            "x\t\u{1b}[1my\\n::add-mask::z"
        );
        assert_eq!(one_line("plain text, ünïcode"), "plain text, ünïcode");
    }

    #[test]
    fn markdown_keeps_no_markup() {
        assert_eq!(
            markdown("<img src=x> [a](http://e) **b** | `c` </details> &amp; www.x.io"),
            "\\<img src=x\\> \\[a\\](http:\\/\\/e) \\*\\*b\\*\\* \\| \\`c\\` \\</details\\> \\&amp; www\\.x.io"
        );
        assert_eq!(markdown("line\nbreak"), "line\\\\nbreak");
        // What needs no escape stays readable: refs, reasons, stage names, paths.
        assert_eq!(markdown("a:/b c//d /x:y"), "a:/b c//d /x:y");
        assert_eq!(
            markdown("r.io/app:main (main: this branch; found) stage-1"),
            "r.io/app:main (main: this branch; found) stage-1"
        );
    }

    #[test]
    fn code_spans_outlast_the_backticks_inside() {
        assert_eq!(code("RUN make"), "`RUN make`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("``x"), "``` ``x ```");
        assert_eq!(code_in_table("a|b"), "`a\\|b`");
        assert_eq!(code("x\ny"), "`x\\ny`");
    }

    /// What a CommonMark reader sees as the end of the first code span in `md`, if `md`
    /// starts with one: the text inside, by the spec's rule (a closing run of equal length).
    fn span_content(md: &str) -> Option<String> {
        let open = md.len() - md.trim_start_matches('`').len();
        let rest = &md[open..];
        let mut i = 0;
        let bytes = rest.as_bytes();
        while i < bytes.len() {
            if bytes[i] == b'`' {
                let run = rest[i..].len() - rest[i..].trim_start_matches('`').len();
                if run == open {
                    return Some(rest[..i].to_owned());
                }
                i += run;
            } else {
                i += 1;
            }
        }
        None
    }

    proptest! {
        #[test]
        fn escaped_text_is_one_line(text in any::<String>()) {
            for escaped in [one_line(&text), log_line(&text), markdown(&text), code(&text)] {
                let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
                prop_assert!(!escaped.contains(breaks), "a line break in {:?}", escaped);
            }
        }

        #[test]
        fn markdown_leaves_no_markup_character_or_autolink(text in any::<String>()) {
            let md = markdown(&text);
            let mut chars = md.chars().peekable();
            let mut shown = String::new();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    let next = chars.next();
                    prop_assert!(next.is_some_and(|n| n.is_ascii_punctuation()), "a lone \\ in {}", md);
                    shown.push('\u{0}');
                } else {
                    prop_assert!(!INLINE_MARKUP.contains(&c), "{} unescaped in {}", c, md);
                    shown.push(c);
                }
            }
            prop_assert!(!shown.contains("://") && !shown.to_ascii_lowercase().contains("www."), "{}", md);
        }

        #[test]
        fn a_code_span_closes_only_at_its_end(text in "[ `a|<>*]{0,40}") {
            let span = code(&text);
            let inside = span_content(&span).expect("the span closes");
            let whole = one_line(&text);
            let padded = format!(" {whole} ");
            let empty = whole.is_empty() && inside == " ";
            prop_assert!(inside == whole || inside == padded || empty, "{:?} holds {:?}", span, inside);
            prop_assert_eq!(span.len() - inside.len(), 2 * (span.len() - span.trim_start_matches('`').len()));
        }
    }
}
