//! The repository policy file (`.github/regcache.yml` by default): a team sets the tag prefix,
//! default branch, writable branches and scope once for all workflows; inputs override it.
//! Unknown keys and bad values are errors naming the file and the line.

use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::policy::PolicyKind;

pub const DEFAULT_PATH: &str = ".github/regcache.yml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Prefix(pub String);

impl TryFrom<String> for Prefix {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        check_prefix(&value).map(|()| Prefix(value))
    }
}

/// A tag prefix: lowercase tag characters, short enough to leave room for the key.
pub fn check_prefix(value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "prefix `{value}` is not accepted; accepted values: 1 to 64 of a-z 0-9 _ . - (starting with a-z, 0-9 or _)"
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
            .map_err(|e: crate::cache_options::BadValue| format!("policy {e}"))
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

#[derive(Debug, Error, PartialEq)]
pub enum PolicyFileError {
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unreadable { path: String, message: String },
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
            .unwrap_or(&full)
            .to_owned();
        // Value errors of our own types are located at the mapping's start; the keys are
        // top-level and unique, so the key's own line is the one to show.
        let key_line = ["policy", "prefix"]
            .iter()
            .filter(|key| message.starts_with(&format!("{key} `")))
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

/// The file at `path`, or none when it does not exist and was not asked for by name.
pub fn load(path: &Path, required: bool) -> Result<Option<PolicyFile>, PolicyFileError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &shown).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) => Err(PolicyFileError::Unreadable {
            path: shown,
            message: e.to_string(),
        }),
    }
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
        assert!(err.starts_with("r.yml:2: policy `always` is not accepted; accepted values: branch, shared, read-only, off"), "{err}");
        let err = parse("scope: api\nprefix: Build/Cache\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("r.yml:2: prefix `Build/Cache` is not accepted"),
            "{err}"
        );
        let err = parse("writable-branches: main\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "r.yml:1: writable-branches: invalid type: string \"main\", expected a sequence"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_fine_unless_named() {
        assert_eq!(
            load(Path::new("/nonexistent/regcache.yml"), false),
            Ok(None)
        );
        assert!(
            load(Path::new("/nonexistent/regcache.yml"), true)
                .unwrap_err()
                .to_string()
                .starts_with("/nonexistent/regcache.yml: ")
        );
    }
}
