//! The CI seam: where the process runs (GitHub Actions, GitLab CI, a shell) decides the event
//! facts (`Platform::event`), the log dialect (`Log`) and where outputs go
//! (`Platform::publish`). Each platform's particulars are in its own file. The environment is
//! read once into an `Env` value at the edge and passed down.

pub mod github;
pub(crate) mod github_api;
pub mod gitlab;

use std::io::{self, Write};
use std::path::Path;

use crate::build_push::GitHubRun;
use crate::cache::decision::{CiEvent, Trigger};
pub use crate::env::Env;
use crate::error::Error;
use crate::stats::Location;

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

    /// The CI event, from the platform's variables, the payload file and, for what the payload
    /// lacks, the GitHub API. A lookup that fails leaves the payload's answer, with a warning.
    pub fn event<W: Write>(
        self,
        env: &Env,
        payload: &github::Payload,
        log: &mut Log<W>,
    ) -> Result<CiEvent, Error> {
        Ok(match self {
            Platform::Local => CiEvent {
                trigger: Trigger::Local,
                default_branch: None,
                read_only: None,
            },
            Platform::GitLab => gitlab::event(env),
            Platform::GitHub => {
                let facts = github::event(env, payload);
                for warning in &facts.warnings {
                    log.annotate(Level::Warning, "event", warning, None)?;
                }
                let mut event = facts.event;
                let answers = github_api::answer_all(&facts.lookups, env);
                for (lookup, answer) in facts.lookups.iter().zip(answers) {
                    match answer {
                        Ok(answer) => github::apply_answer(&mut event, lookup, &answer),
                        Err(e) => {
                            github::apply_failure(&mut event, lookup);
                            log.annotate(
                                Level::Warning,
                                "GitHub API",
                                &format!("{e}; deciding the cache refs without it"),
                                None,
                            )?
                        }
                    }
                }
                event
            }
        })
    }

    /// The event payload (`GITHUB_EVENT_PATH` on GitHub; empty elsewhere or unreadable), read
    /// once: the event and build-push-action's derivations both read it.
    pub fn payload(self, env: &Env) -> github::Payload {
        match self {
            Platform::GitHub => env
                .get("GITHUB_EVENT_PATH")
                .and_then(|path| std::fs::read(path).ok())
                .map(|bytes| github::Payload::parse(&bytes))
                .unwrap_or_default(),
            Platform::GitLab | Platform::Local => github::Payload::default(),
        }
    }

    /// The GitHub run build-push-action would see (none off GitHub).
    pub fn github_run(self, env: &Env, payload: &github::Payload) -> Option<GitHubRun> {
        (self == Platform::GitHub)
            .then(|| github::build_run(env, payload))
            .flatten()
    }

    /// Step outputs and a job summary on GitHub; nothing elsewhere.
    pub fn publish_outputs(
        self,
        outputs: &[(&str, String)],
        summary: Option<&str>,
        env: &Env,
    ) -> Result<(), Error> {
        if self != Platform::GitHub {
            return Ok(());
        }
        if let Some(path) = env.get("GITHUB_OUTPUT") {
            let text: String = outputs
                .iter()
                .map(|(n, v)| github::file_command(n, v))
                .collect();
            github::append(Path::new(path), &text)
                .map_err(Error::file("writing step outputs", path))?;
        }
        if let (Some(path), Some(summary)) = (env.get("GITHUB_STEP_SUMMARY"), summary) {
            github::append(Path::new(path), summary)
                .map_err(Error::file("writing the job summary", path))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    /// The word for it: GitHub's workflow command, and the prefix of a plain log line.
    pub fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// The build log, written in the dialect of the platform.
pub struct Log<W: Write> {
    platform: Platform,
    out: W,
    open_section: Option<String>,
    /// The token that resumes workflow commands after untrusted output (GitHub).
    stop_token: Option<String>,
    /// The runner's debug mode (`RUNNER_DEBUG=1`, set by `ACTIONS_STEP_DEBUG` or a re-run with
    /// debug logging; GitLab's `CI_DEBUG_TRACE`): only then are `debug` lines written.
    debug: bool,
}

impl<W: Write> Log<W> {
    pub fn new(platform: Platform, out: W) -> Self {
        Self {
            platform,
            out,
            open_section: None,
            stop_token: None,
            debug: false,
        }
    }

    /// With debug lines when the environment turns the runner's debug mode on.
    pub fn with_debug(mut self, env: &Env) -> Self {
        self.debug = env.get("RUNNER_DEBUG") == Some("1") || env.is_true("CI_DEBUG_TRACE");
        self
    }

    /// A detail for someone debugging the step: `::debug::` on GitHub (the runner shows it in
    /// debug mode), a `debug:` line elsewhere; nothing unless debug mode is on.
    pub fn debug(&mut self, text: &str) -> io::Result<()> {
        if !self.debug {
            return Ok(());
        }
        match self.platform {
            Platform::GitHub => writeln!(self.out, "::debug::{}", github::escape_data(text)),
            Platform::GitLab | Platform::Local => {
                writeln!(self.out, "debug: {}", crate::escape::one_line(text))
            }
        }
    }

    /// One line of text. A line break or carriage return inside would split it for the runner
    /// (which reads a lone `\r` as a line end, and a line starting with `::` as a command), so
    /// every control character but a tab and an ANSI escape is written as an escape.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "{}", crate::escape::log_line(text))
    }

    /// What follows is the engine's output, which the build's code controls: on GitHub, no line
    /// of it may act as a workflow command until `end_untrusted`. The runner ignores commands
    /// after `::stop-commands::<token>` until `::<token>::` (actions/toolkit `core`,
    /// "Stopping and starting workflow commands"); the token is random, so the output cannot
    /// guess it.
    pub fn start_untrusted(&mut self) -> io::Result<()> {
        if self.platform == Platform::GitHub {
            let token = uuid::Uuid::new_v4().simple().to_string();
            writeln!(self.out, "::stop-commands::{token}")?;
            self.stop_token = Some(token);
        }
        Ok(())
    }

    pub fn end_untrusted(&mut self) -> io::Result<()> {
        match self.stop_token.take() {
            Some(token) => writeln!(self.out, "::{token}::"),
            None => Ok(()),
        }
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
            // One line each: text from the build cannot start a line of its own.
            Platform::GitLab | Platform::Local => {
                let one_line = crate::escape::one_line;
                let place = location
                    .map(|l| format!(" ({}:{})", one_line(&l.file), l.line))
                    .unwrap_or_default();
                writeln!(
                    self.out,
                    "{}: {}{place}: {}",
                    level.word(),
                    one_line(title),
                    one_line(message)
                )
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
