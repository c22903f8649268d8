//! The process environment, read once at the edge into a value that every room is handed; no
//! code reads `std::env` after `main`.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The process environment, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// Variables whose value is not UTF-8: known by name, so an input given that way is an
    /// error rather than silently missing.
    not_utf8: Vec<String>,
}

impl Env {
    /// Where the docker CLI keeps its config: `$DOCKER_CONFIG`, else `~/.docker`.
    pub fn docker_config_dir(&self) -> Option<std::path::PathBuf> {
        let set = |name: &str| self.get(name).filter(|v| !v.is_empty());
        set("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| set("HOME").map(|home| std::path::Path::new(home).join(".docker")))
    }

    pub fn from_process() -> Self {
        Self::from_os(std::env::vars_os())
    }

    pub fn from_os(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        let mut env = Env::default();
        for (name, value) in vars {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    env.vars.insert(name, value);
                }
                Err(_) => env.not_utf8.push(name),
            }
        }
        env
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether `name` is set to a value that is not UTF-8.
    pub fn is_not_utf8(&self, name: &str) -> bool {
        self.not_utf8.iter().any(|n| n == name)
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            not_utf8: Vec::new(),
        }
    }
}
