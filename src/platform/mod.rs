//! CI platform adapters: where the process runs (GitHub Actions, GitLab CI, a shell) decides
//! how logs are folded, how problems are annotated and where outputs go. The environment is
//! read once into an `Env` value at the edge and passed down.

pub mod github;
pub mod github_api;
pub mod gitlab;

use std::collections::BTreeMap;
use std::io::{self, Write};

/// The process environment, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn is_true(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    GitHub,
    GitLab,
    Local,
}

impl Platform {
    pub fn detect(env: &Env) -> Self {
        if env.is_true("GITHUB_ACTIONS") {
            Platform::GitHub
        } else if env.is_true("GITLAB_CI") {
            Platform::GitLab
        } else {
            Platform::Local
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// A place in a file an annotation points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

/// The build log, written in the dialect of the platform.
pub struct Log<W: Write> {
    platform: Platform,
    out: W,
    open_section: Option<String>,
}

impl<W: Write> Log<W> {
    pub fn new(platform: Platform, out: W) -> Self {
        Self {
            platform,
            out,
            open_section: None,
        }
    }

    pub fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "{text}")
    }

    /// Fold what follows under `title` until `end_group`.
    pub fn start_group(&mut self, title: &str) -> io::Result<()> {
        match self.platform {
            Platform::GitHub => writeln!(self.out, "::group::{}", github::escape_data(title))?,
            Platform::GitLab => {
                let name = gitlab::section_name(title);
                writeln!(
                    self.out,
                    "{}",
                    gitlab::section_start(&name, title, unix_now())
                )?;
                self.open_section = Some(name);
            }
            Platform::Local => writeln!(self.out, "== {title}")?,
        }
        Ok(())
    }

    pub fn end_group(&mut self) -> io::Result<()> {
        match self.platform {
            Platform::GitHub => writeln!(self.out, "::endgroup::"),
            Platform::GitLab => match self.open_section.take() {
                Some(name) => writeln!(self.out, "{}", gitlab::section_end(&name, unix_now())),
                None => Ok(()),
            },
            Platform::Local => Ok(()),
        }
    }

    pub fn annotate(
        &mut self,
        level: Level,
        title: &str,
        message: &str,
        location: Option<&Location>,
    ) -> io::Result<()> {
        match self.platform {
            Platform::GitHub => writeln!(
                self.out,
                "{}",
                github::annotation(level, title, message, location)
            ),
            Platform::GitLab | Platform::Local => {
                let word = match level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                    Level::Notice => "notice",
                };
                let place = location
                    .map(|l| format!(" ({}:{})", l.file, l.line))
                    .unwrap_or_default();
                writeln!(self.out, "{word}: {title}{place}: {message}")
            }
        }
    }

    /// Keep a secret value out of the rest of the log (GitHub masks each line separately).
    pub fn mask(&mut self, secret: &str) -> io::Result<()> {
        if self.platform == Platform::GitHub {
            for line in secret.lines().filter(|l| !l.trim().is_empty()) {
                writeln!(self.out, "::add-mask::{}", github::escape_data(line))?;
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
