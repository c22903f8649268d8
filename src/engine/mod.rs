//! The engine seam. Each engine is a folder here that owns what is particular to it: the argv
//! it is started with, its progress grammar, the statistics read from that progress, and the
//! diagnosis of failures that come from its setup. The pipeline sees only `Engine`: the argv
//! (for `regcache plan` too), a run that streams readable lines and ends in `Finished`, and
//! the statistics of a saved log. Adding an engine is a folder and a variant.

mod buildah;
mod buildx;

/// `docker buildx bake`, which only buildx has.
pub use buildx::{Place, bake};

use std::io::{self, BufRead};

use crate::build_push::Derived;
use crate::config::{Config, Engine};
use crate::error::Error;
use crate::plan::{CacheEntries, RunFiles};
use crate::registry::CacheLayout;
use crate::stats::BuildStats;

/// `name value` for each value (none for an empty list or an unset option): how both engines'
/// argv repeat a flag.
fn flags<S: AsRef<str>>(argv: &mut Vec<String>, name: &str, values: impl IntoIterator<Item = S>) {
    for value in values {
        argv.push(name.to_owned());
        argv.push(value.as_ref().to_owned());
    }
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
    /// The program started.
    pub fn program(self) -> &'static str {
        match self {
            Engine::Buildx => "docker",
            Engine::Buildah => "buildah",
            Engine::Podman => "podman",
        }
    }

    /// Where the cache named `tag` lives in `repository`: a tag for BuildKit's cache, one
    /// manifest per cache; a repository of its own for buildah's, whose tags are the steps'
    /// content hashes (`ghcr.io/o/app/buildcache-main`).
    pub fn cache_location(self, repository: &oci_client::Reference, tag: &str) -> String {
        match self {
            Engine::Buildx => crate::reference::with_tag(repository, tag).whole(),
            Engine::Buildah | Engine::Podman => {
                format!(
                    "{}/{}/{tag}",
                    repository.registry(),
                    repository.repository()
                )
            }
        }
    }

    /// What must be there before a build starts, checked before anything is decided or
    /// started: buildx with the default builder needs its daemon, at a socket (in a container
    /// the missing socket is the usual mistake) or over TCP with the CLI's TLS settings
    /// (`buildx::daemon`); either would otherwise fail only inside buildx, after the cache decision.
    pub fn preflight(self, config: &Config, env: &crate::env::Env) -> Result<(), Error> {
        let set = |name: &str| env.get(name).filter(|v| !v.is_empty());
        if self != Engine::Buildx
            || config.build.builder.is_some()
            || set("DOCKER_CONTEXT").is_some()
        {
            return Ok(());
        }
        buildx::daemon::check(&buildx::daemon::endpoint(env))
    }

    /// Where this engine's cache lives: a tag (BuildKit) or a whole repository (buildah).
    pub fn cache_layout(self) -> CacheLayout {
        match self {
            Engine::Buildx => CacheLayout::Tag,
            Engine::Buildah | Engine::Podman => CacheLayout::Repository,
        }
    }

    /// The arguments the engine's program is started with. `version` is the engine's, when an
    /// argument depends on it.
    pub fn argv(
        self,
        config: &Config,
        derived: &Derived,
        cache: &CacheEntries,
        files: &RunFiles,
        version: Option<(u64, u64)>,
    ) -> Vec<String> {
        match self {
            Engine::Buildx => buildx::argv(config, derived, cache, files),
            Engine::Buildah | Engine::Podman => {
                let reference =
                    |e: &crate::cache::entries::CacheEntry| e.get("ref").map(str::to_owned);
                let sources: Vec<String> = cache.from.iter().filter_map(reference).collect();
                let target = cache.to.iter().find_map(reference);
                buildah::argv(config, &sources, target.as_deref(), files, version)
            }
        }
    }

    /// The argv of a solve that only exports the cache (`buildx::export_only`): BuildKit's
    /// alone, which exports a cache in one piece at the end of a build.
    pub fn export_argv(
        self,
        config: &Config,
        derived: &Derived,
        cache: &CacheEntries,
        files: &RunFiles,
    ) -> Option<Vec<String>> {
        (self == Engine::Buildx).then(|| buildx::export_only(config, derived, cache, files))
    }

    /// How many cache records the builder holds before a build (BuildKit's; buildah and
    /// podman push each step's layer as they build it and keep no export to skip).
    pub fn builder_records(
        self,
        builder: Option<&str>,
        env: &crate::env::Env,
    ) -> Result<usize, String> {
        match self {
            Engine::Buildx => buildx::cache_records(builder, env),
            Engine::Buildah | Engine::Podman => {
                Err(format!("{} keeps no BuildKit cache", self.program()))
            }
        }
    }

    /// The engine's `(major, minor)` version, when it can be asked (a process: only asked
    /// when an argument depends on it).
    pub fn version(self) -> Option<(u64, u64)> {
        match self {
            Engine::Buildx => buildx::version(),
            Engine::Buildah | Engine::Podman => buildah::version(self.program()),
        }
    }

    /// Run the build, handing each readable progress line to `on_line` as it happens.
    pub fn run(
        self,
        config: &Config,
        argv: &[String],
        files: &RunFiles,
        mut on_line: impl FnMut(&str),
    ) -> Result<Finished, Error> {
        match self {
            Engine::Buildx => buildx::run(config, argv, on_line),
            Engine::Buildah | Engine::Podman => {
                buildah::run(self.program(), config, argv, files, &mut on_line)
            }
        }
    }

    /// The engine that wrote a saved log: buildah's and podman's number their steps
    /// `STEP k/m:`, BuildKit's never do.
    pub fn of_log(text: &[u8]) -> Engine {
        let buildah = String::from_utf8_lossy(text).lines().take(200).any(|line| {
            let line = line.trim_start();
            let after_stage = line
                .strip_prefix('[')
                .and_then(|rest| rest.split_once("] "))
                .map_or(line, |(_, rest)| rest);
            after_stage.starts_with("STEP ") && after_stage.contains(':')
        });
        if buildah {
            Engine::Buildah
        } else {
            Engine::Buildx
        }
    }

    /// The statistics of a saved progress log (`regcache stats`).
    pub fn read_log(self, source: impl BufRead) -> io::Result<BuildStats> {
        match self {
            Engine::Buildx => buildx::read_log(source),
            Engine::Buildah | Engine::Podman => buildah::read_log(source),
        }
    }
}
