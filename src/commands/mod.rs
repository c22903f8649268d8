//! A file per command, each owning its orchestration and its rendering: `build` (the stages
//! chained in one place: inputs → validated config → decision → probe → plan → engine →
//! stats → report), `plan` (the same chain up to the plan, printed), `stats` (a saved log),
//! `inspect`, `verify` and `prune` (the registry). What they share is here: the process's
//! context and where a rendered text goes.

pub mod bake;
pub mod build;
pub mod explain;
pub mod history;
pub mod inspect;
pub mod plan;
pub mod prune;
mod records;
pub mod stats;
pub mod verify;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::platform::github;
use crate::platform::{Env, Platform};
use crate::registry::Registry;

/// What the whole run knows of where it runs: the environment, read once, and the platform.
pub struct Context {
    pub env: Env,
    pub platform: Platform,
    /// The event payload, read once (empty off GitHub).
    pub payload: github::Payload,
}

impl Context {
    pub fn new(env: Env) -> Self {
        let platform = Platform::detect(&env);
        let payload = platform.payload(&env);
        Self {
            env,
            platform,
            payload,
        }
    }

    /// The repository's checkout: relative paths of the inputs are read from it.
    pub fn workspace(&self) -> PathBuf {
        self.env
            .get("GITHUB_WORKSPACE")
            .or(self.env.get("CI_PROJECT_DIR"))
            .filter(|w| !w.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// A directory of the run's own for the files the engine reads and writes, under the
/// runner's temporary directory; removed when dropped.
fn run_temp(ctx: &Context) -> Result<tempfile::TempDir, Error> {
    let root = ctx
        .env
        .get("RUNNER_TEMP")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    tempfile::Builder::new()
        .prefix("regcache-")
        .tempdir_in(&root)
        .map_err(Error::file("creating a temporary directory", &root))
}

/// The registry client, with plain HTTP for the reference's host when the user asks.
fn registry_for<'e>(ctx: &'e Context, text: &str, insecure: bool) -> Registry<'e> {
    let registry = Registry::new(&ctx.env);
    match crate::reference::parse(text) {
        Ok(parsed) if insecure => registry.with_insecure(parsed.registry()),
        _ => registry,
    }
}

/// A serialisable value as pretty JSON and a line end.
fn pretty_json(value: &impl serde::Serialize) -> String {
    format!(
        "{:#}\n",
        serde_json::to_value(value).expect("regcache's own values serialise")
    )
}

/// A command's result on stdout.
fn print(text: &str) -> Result<(), Error> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(Error::Stdout)
}

/// The outputs to `file` (written whole to a temporary file, then renamed, so a reader never
/// sees half of it), or to stdout.
fn write_output(text: &str, file: Option<&Path>) -> Result<(), Error> {
    let Some(path) = file else {
        return print(text);
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::file("writing outputs", path))?;
    temp.write_all(text.as_bytes())
        .map_err(Error::file("writing outputs", path))?;
    temp.persist(path).map_err(|e| Error::File {
        what: "writing outputs",
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}
