//! The engine seam. Each engine is a folder here that owns what is particular to it: the argv
//! it is started with, its progress grammar, the statistics read from that progress, and the
//! diagnosis of failures that come from its setup. The pipeline sees only `Engine`: the argv
//! (for `regcache plan` too), a run that streams readable lines and ends in `Finished`, and
//! the statistics of a saved log. Adding an engine is a folder and a variant.

mod buildx;

use std::io::{self, BufRead};

use crate::build_push::Derived;
use crate::config::Config;
use crate::error::Error;
use crate::plan::{CacheEntries, RunFiles};
use crate::stats::BuildStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `docker buildx build`, BuildKit's registry cache.
    Buildx,
}

/// How a build ended, in engine-neutral terms.
#[derive(Debug)]
pub struct Finished {
    pub succeeded: bool,
    pub stats: BuildStats,
    pub seconds: f64,
    /// A fix, when the failure came from the engine's setup rather than the build.
    pub setup_problem: Option<String>,
    /// The last text the engine printed that was not progress (its own error lines).
    pub last_text: Option<String>,
}

impl Engine {
    /// The arguments the engine's program is started with.
    pub fn argv(
        self,
        config: &Config,
        derived: &Derived,
        cache: &CacheEntries,
        files: &RunFiles,
    ) -> Vec<String> {
        match self {
            Engine::Buildx => buildx::argv(config, derived, cache, files),
        }
    }

    /// The engine's `(major, minor)` version, when it can be asked (a process: only asked
    /// when an argument depends on it).
    pub fn version(self) -> Option<(u64, u64)> {
        match self {
            Engine::Buildx => buildx::version(),
        }
    }

    /// Run the build, handing each readable progress line to `on_line` as it happens.
    pub fn run(
        self,
        config: &Config,
        argv: &[String],
        on_line: impl FnMut(&str),
    ) -> Result<Finished, Error> {
        match self {
            Engine::Buildx => buildx::run(config, argv, on_line),
        }
    }

    /// The statistics of a saved progress log (`regcache stats`).
    pub fn read_log(self, source: impl BufRead) -> io::Result<BuildStats> {
        match self {
            Engine::Buildx => buildx::read_log(source),
        }
    }
}
