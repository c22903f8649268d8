//! The repository policy file (`.github/regcache.yml` by default): a team sets the tag prefix,
//! default branch, writable branches and scope once for all workflows; inputs override it.
//! Unknown keys and bad values are errors naming the file and the line.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::cache::settings::PolicyKind;
use crate::error::PolicyFileError;

pub const DEFAULT_PATH: &str = ".github/regcache.yml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Prefix(pub String);

/// The accepted prefixes, in words.
const PREFIX_ACCEPTED: &str =
    "1 to 64 of a-z 0-9 _ . - (starting with a-z, 0-9 or _, without `--` or a trailing `-`)";

impl TryFrom<String> for Prefix {
    type Error = String;
    /// The message names the key, not the file's value (see `load`).
    fn try_from(value: String) -> Result<Self, String> {
        match check_prefix(&value) {
            Ok(()) => Ok(Prefix(value)),
            Err(_) => Err(format!(
                "prefix: not accepted; accepted values: {PREFIX_ACCEPTED}"
            )),
        }
    }
}

/// A tag prefix: lowercase tag characters, short enough to leave room for the key.
pub fn check_prefix(value: &str) -> Result<(), String> {
    // No `--` and no `-` at the end: the tag scheme separates the scope with `--`.
    let valid = !value.is_empty()
        && !value.contains("--")
        && !value.ends_with('-')
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "prefix `{value}` is not accepted; accepted values: {PREFIX_ACCEPTED}"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Policy(pub PolicyKind);

impl TryFrom<String> for Policy {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value
            .parse()
            .map(Policy)
            .map_err(|e: crate::error::BadValue| {
                format!("policy: not accepted; accepted values: {}", e.accepted)
            })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyFile {
    pub policy: Option<Policy>,
    pub prefix: Option<Prefix>,
    pub default_branch: Option<String>,
    pub writable_branches: Option<Vec<String>>,
    pub scope: Option<String>,
}

pub fn parse(text: &str, path: &str) -> Result<PolicyFile, PolicyFileError> {
    if text.trim().is_empty() {
        return Ok(PolicyFile::default());
    }
    yaml_serde::from_str(text).map_err(|e| {
        // The message without yaml_serde's " at line L column C": the line goes up front.
        let location = e.location();
        let full = e.to_string();
        let message = location
            .as_ref()
            .and_then(|l| {
                full.strip_suffix(&format!(" at line {} column {}", l.line(), l.column()))
            })
            .unwrap_or(&full);
        let message = without_values(message);
        // Value errors of our own types are located at the mapping's start; the keys are
        // top-level and unique, so the key's own line is the one to show.
        let key_line = ["policy", "prefix"]
            .iter()
            .filter(|key| message.starts_with(&format!("{key}: not accepted")))
            .find_map(|key| {
                text.lines()
                    .position(|l| {
                        l.strip_prefix(key)
                            .is_some_and(|rest| rest.trim_start().starts_with(':'))
                    })
                    .map(|i| i + 1)
            });
        match key_line.or(location.map(|l| l.line())) {
            Some(line) => PolicyFileError::Invalid {
                path: path.to_owned(),
                line,
                message,
            },
            None => PolicyFileError::Unreadable {
                path: path.to_owned(),
                message,
            },
        }
    })
}

/// The most a policy file may hold: a few keys need far less, and the cap keeps a hostile file
/// (a link to `/dev/zero`, megabytes of brackets) from costing memory or time.
const MAX_BYTES: u64 = 64 * 1024;
/// The deepest `[`/`{` nesting accepted before parsing (the parser is quadratic in depth).
const MAX_DEPTH: usize = 16;

/// The file at `path`, or none when it does not exist and was not asked for by name. It must
/// be a regular file inside `workspace` (a link may point only within it), at most 64 KiB
/// and 16 brackets deep. Errors give the file, line and key, never the file's content: the
/// repository may be a pull request's, and the file a link to a credential.
pub fn load(
    path: &Path,
    required: bool,
    workspace: &Path,
) -> Result<Option<PolicyFile>, PolicyFileError> {
    let shown = path.display().to_string();
    let unreadable = |message: String| PolicyFileError::Unreadable {
        path: shown.clone(),
        message,
    };
    let full = workspace.join(path);
    let real = match full.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    let root = workspace
        .canonicalize()
        .map_err(|e| unreadable(format!("the workspace {}: {e}", workspace.display())))?;
    if !real.starts_with(&root) {
        return Err(unreadable(format!(
            "it leads outside the workspace ({}); the policy file must be a file of the repository",
            root.display()
        )));
    }
    let file = std::fs::File::open(&real).map_err(|e| unreadable(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| unreadable(e.to_string()))?;
    if !metadata.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(unreadable(format!(
            "larger than {} KiB; a policy file needs a few lines",
            MAX_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    if let Some(line) = too_deep(&text) {
        return Err(PolicyFileError::Invalid {
            path: shown,
            line,
            message: format!("nested deeper than {MAX_DEPTH} brackets"),
        });
    }
    parse(&text, &shown).map(Some)
}

/// The line where `[`/`{` nesting first goes past the limit (quoted text aside).
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (number, line) in text.lines().enumerate() {
        for ch in line.chars() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(number + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// A parser message without the values it quotes: `invalid type: string "…"` would show a
/// line of whatever file the path leads to.
fn without_values(message: &str) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(invalid (?:type|value|length): )(?:string|str|char|integer|float) "?(?:[^"\\]|\\.)*"?(,|$)"#)
            .expect("the pattern compiles")
    });
    // A key is shown when it looks like a misspelt key (`prefx`), never when it could be
    // anything else a file holds (a flow mapping's key can span lines and carry a URL).
    static UNKNOWN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"unknown field `([^`]*)`").expect("the pattern compiles")
    });
    let message = QUOTED.replace_all(message, "${1}a value${2}");
    UNKNOWN
        .replace_all(&message, |caps: &regex::Captures<'_>| {
            let key = &caps[1];
            let looks_like_a_key = (1..=32).contains(&key.len())
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
            if looks_like_a_key {
                caps[0].to_owned()
            } else {
                "unknown field (not shown)".to_owned()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let file = parse("policy: branch\nprefix: cache\ndefault-branch: develop\nwritable-branches: [main, release/*]\nscope: api\n", "f.yml").unwrap();
        assert_eq!(file.policy, Some(Policy(PolicyKind::Branch)));
        assert_eq!(file.prefix, Some(Prefix("cache".into())));
        assert_eq!(file.default_branch.as_deref(), Some("develop"));
        assert_eq!(
            file.writable_branches,
            Some(vec!["main".into(), "release/*".into()])
        );
        assert_eq!(file.scope.as_deref(), Some("api"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = parse("prefix: cache\n\nprefx: x\n", ".github/regcache.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(".github/regcache.yml:3: unknown field `prefx`, expected one of"),
            "{err}"
        );
        let err = parse("# team settings\npolicy: always\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "r.yml:2: policy: not accepted; accepted values: branch, shared, read-only, off"
        );
        let err = parse("scope: api\nprefix: Build/Cache\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.yml:2: prefix: not accepted"), "{err}");
        let err = parse("writable-branches: main\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "r.yml:1: writable-branches: invalid type: a value, expected a sequence"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_fine_unless_named() {
        let workspace = tempfile::tempdir().unwrap();
        let path = Path::new(".github/regcache.yml");
        assert_eq!(load(path, false, workspace.path()), Ok(None));
        assert!(
            load(path, true, workspace.path())
                .unwrap_err()
                .to_string()
                .starts_with(".github/regcache.yml: ")
        );
    }

    #[test]
    fn values_are_not_echoed_from_a_file_that_is_not_a_policy() {
        let err = parse("machine github.com login me password hunter2\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            err,
            "r.yml:1: invalid type: a value, expected struct PolicyFile"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Lines a hostile file might hold: known and unknown keys, values of every YAML
        /// shape, bare scalars, anchors, brackets; each carrying the same token.
        fn line() -> impl Strategy<Value = String> {
            let key = prop_oneof![
                Just("policy".to_owned()),
                Just("prefix".to_owned()),
                Just("scope".to_owned()),
                Just("default-branch".to_owned()),
                Just("writable-branches".to_owned()),
                "[a-z]{1,8}",
            ];
            let value = prop_oneof![
                Just("TOKEN42".to_owned()),
                Just("[TOKEN42, x]".to_owned()),
                Just("{a: TOKEN42}".to_owned()),
                Just("\"TOKEN42\"".to_owned()),
                Just("&anchor TOKEN42".to_owned()),
                Just("7TOKEN42".to_owned()),
            ];
            prop_oneof![
                (key, value).prop_map(|(k, v)| format!("{k}: {v}")),
                Just("https://me:TOKEN42@github.com".to_owned()),
                Just("- TOKEN42".to_owned()),
                "[\\[\\]{}:,a-z ]{0,20}",
            ]
        }

        #[test]
        fn a_key_that_is_not_a_word_is_not_shown() {
            let err = parse("{a\nhttps://me:TOKEN42@github.com", "f.yml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown field (not shown)"), "{err}");
        }

        proptest! {
            /// Whatever the file holds, parsing ends, and an error never quotes a value.
            #[test]
            fn errors_never_quote_the_file(lines in proptest::collection::vec(line(), 0..6)) {
                let text = lines.join("\n");
                if let Err(e) = parse(&text, "f.yml") {
                    prop_assert!(!e.to_string().contains("TOKEN42"), "{}", e);
                }
            }
        }
    }

    #[test]
    fn nesting_is_capped_before_parsing() {
        let deep = format!("scope: {}{}\n", "[".repeat(17), "]".repeat(17));
        assert_eq!(too_deep(&deep), Some(1));
        assert_eq!(too_deep("scope: \"[[[[[[[[[[[[[[[[[[[[\"\n"), None);
        assert_eq!(too_deep("writable-branches: [main, 'release/[x]']\n"), None);
    }
}
