//! The one error type. Each variant says what was wrong, where, and how to fix it; its exit
//! code is decided here, and `crate::main` is the one place that prints it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Exit codes: 1 the build (or the engine, or the registry) failed, 2 the inputs are invalid
/// and nothing ran.
const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_INVALID: u8 = 2;

/// A value outside the accepted ones, with the accepted ones (a cache option, an input, an
/// engine, a policy). BuildKit itself would often take such a value silently (`mode=maxx`
/// exports as min, `ignore-error=yes` as false).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("`{value}` is not accepted; accepted values: {accepted}")]
pub struct BadValue {
    pub value: String,
    pub accepted: String,
}

/// The repository policy file is unreadable or not of its shape (`crate::cache::policy_file`).
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

/// One bad input: which, and what is wrong with it (never the value of a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub input: &'static str,
    pub problem: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input `{}`: {}", self.input, self.problem)
    }
}

#[derive(Debug, Clone, PartialEq, Error)]
pub struct InvalidInputs(pub Vec<InputError>);

impl fmt::Display for InvalidInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

#[derive(Debug, Error)]
pub enum Error {
    /// One line per bad input, all of them at once.
    #[error("{0}")]
    InvalidInputs(InvalidInputs),
    #[error("input `policy-file`: {0}")]
    PolicyFile(#[from] PolicyFileError),
    #[error("could not start `{program}`: {source}. {}", install_hint(.program))]
    EngineStart { program: String, source: io::Error },
    #[error(
        "no Docker engine at {host}: the socket does not exist. Mount the engine's socket (docker run -v /var/run/docker.sock:/var/run/docker.sock …), set DOCKER_HOST (GitLab: tcp://docker:2376 with a docker:dind service), or use engine: buildah"
    )]
    EngineMissing { host: String },
    /// The engine `DOCKER_HOST` names did not answer, or not with these TLS settings.
    #[error("{variable}: {message}")]
    EngineUnreachable {
        variable: &'static str,
        message: String,
    },
    #[error("reading the build's progress from `{program}` failed: {source}")]
    EngineRead { program: String, source: io::Error },
    /// The build ran and failed; the log already says why.
    #[error("the build failed")]
    BuildFailed,
    #[error("{reference}: {message}")]
    Registry { reference: String, message: String },
    #[error(
        "the cache registry {registry} cannot be reached ({error}) and ignore-error is false, so the cache export would fail the build; nothing was built. Fix the registry or its credentials, or set ignore-error: true to build without the cache"
    )]
    CacheRegistryUnreachable { registry: String, error: String },
    #[error("{what} ({path}): {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("writing the log: {0}")]
    Log(#[from] io::Error),
    #[error("writing the result to standard output: {0} (was the reader closed early?)")]
    Stdout(#[source] io::Error),
    #[error(
        "the dotenv outputs are {bytes} bytes, over GitLab's limit of {limit}; use --output-format json for this build"
    )]
    DotenvTooLarge { bytes: usize, limit: usize },
    #[error("{path}: {problem}")]
    NotProgress { path: String, problem: String },
    #[error("{0}")]
    GitHubApi(String),
    /// The report is printed; this says what is left to fix.
    #[error("{0}")]
    PruneIncomplete(String),
}

/// How to get the engine's program.
fn install_hint(program: &str) -> &'static str {
    if program.ends_with("buildah") {
        "Install buildah (Debian/Ubuntu: apt-get install buildah) or use regcache's buildah image"
    } else if program.ends_with("podman") {
        "Install podman (Debian/Ubuntu: apt-get install podman)"
    } else {
        "Install the Docker CLI with the buildx plugin (Debian/Ubuntu: docker.io and docker-buildx; GitHub: docker/setup-buildx-action) or put `docker` on PATH"
    }
}

impl From<InvalidInputs> for Error {
    fn from(errors: InvalidInputs) -> Self {
        Error::InvalidInputs(errors)
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidInputs(_) | Error::PolicyFile(_) => EXIT_INVALID,
            _ => EXIT_FAILED,
        }
    }

    /// What to show, as (title, message) lines: one per bad input, none for a build whose
    /// failure the log already explained.
    pub fn lines(&self) -> Vec<(String, String)> {
        match self {
            Error::InvalidInputs(errors) => errors
                .0
                .iter()
                .map(|e| (format!("input `{}`", e.input), e.problem.clone()))
                .collect(),
            Error::PolicyFile(e) => vec![("input `policy-file`".into(), e.to_string())],
            Error::BuildFailed => Vec::new(),
            other => vec![("regcache".into(), other.to_string())],
        }
    }

    /// A closure for `map_err` on file operations.
    pub fn file(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { what, path, source }
    }
}
