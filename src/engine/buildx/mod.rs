//! `docker buildx build`: the argv (`argv`), its rawjson and plain progress grammars
//! (`progress`), the statistics read from them (`stats`), and the explanation of failures that
//! come from the setup rather than the build, and whether the daemon it reaches answers
//! (`daemon`).
//!
//! There is no separate preflight on the happy path: asking the CLI about the builder costs
//! ~215 ms (`docker buildx inspect` 155 ms + `docker info` 60 ms, measured on this kind of
//! machine), a third of a small warm build, and buildx refuses an export the driver cannot do
//! before any step runs, so the same fact is read from its refusal at no cost.

mod argv;
pub mod bake;
mod builder;
pub(super) mod daemon;
mod progress;
mod stats;

use std::io::{self, BufRead};
use std::process::{Command, Stdio};
use std::time::Instant;

pub use argv::{argv, export_only};
pub use builder::cache_records;

use super::Finished;
use crate::config::Config;
use crate::error::Error;
use crate::stats::BuildStats;
use progress::{Progress, display};

const PROGRAM: &str = "docker";

pub fn run(
    config: &Config,
    argv: &[String],
    mut on_line: impl FnMut(&str),
) -> Result<Finished, Error> {
    run_program(PROGRAM, config, argv, &mut on_line)
}

fn run_program(
    program: &str,
    config: &Config,
    argv: &[String],
    on_line: &mut impl FnMut(&str),
) -> Result<Finished, Error> {
    let mut progress = Progress::default();
    let (succeeded, seconds) = solve(program, argv, &Place::default(), &mut progress, on_line)?;
    let tail: Vec<String> = progress.text_tail.iter().cloned().collect();
    Ok(Finished {
        succeeded,
        stats: stats::compute(&progress),
        seconds,
        setup_problem: (!succeeded)
            .then(|| diagnose(&tail, config.build.builder.as_deref()))
            .flatten(),
        last_text: tail.last().cloned(),
    })
}

/// Where a buildx command runs: its directory and variables besides the process's own.
#[derive(Debug, Default)]
pub struct Place<'a> {
    pub dir: Option<&'a std::path::Path>,
    pub env: Vec<(&'static str, String)>,
}

/// buildx run with its rawjson progress folded into `progress` as it arrives, each event
/// shown through `on_line`: whether it succeeded, and its wall time.
fn solve(
    program: &str,
    argv: &[String],
    place: &Place<'_>,
    progress: &mut impl progress::Folds,
    on_line: &mut impl FnMut(&str),
) -> Result<(bool, f64), Error> {
    let started = Instant::now();
    let mut command = Command::new(program);
    command
        .args(argv)
        // Build-check warnings in the metadata file, as build-push-action asks for them.
        .env("BUILDX_METADATA_WARNINGS", "true")
        .envs(place.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(dir) = place.dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|source| Error::EngineStart {
        program: program.to_owned(),
        source,
    })?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let read = progress::read_rawjson(stderr, progress, &mut |event| {
        on_line(&display::render(&event))
    });
    let status = child.wait().map_err(|source| Error::EngineRead {
        program: program.to_owned(),
        source,
    })?;
    read.map_err(|source| Error::EngineRead {
        program: program.to_owned(),
        source,
    })?;
    Ok((status.success(), started.elapsed().as_secs_f64()))
}

/// `docker buildx version`: `github.com/docker/buildx v0.13.1 <commit>` (Debian prints
/// `0.13.1+ds1`).
pub fn version() -> Option<(u64, u64)> {
    let out = Command::new(PROGRAM)
        .args(["buildx", "version"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_version(text: &str) -> Option<(u64, u64)> {
    let word = text.split_whitespace().nth(1)?;
    let mut numbers = word.trim_start_matches('v').split(['.', '+', '-']);
    Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
}

pub fn read_log(source: impl BufRead) -> io::Result<BuildStats> {
    progress::read_log(source).map(|progress| stats::compute(&progress))
}

/// A fix for failures that come from the setup, recognised by what buildx printed.
fn diagnose(text: &[String], builder: Option<&str>) -> Option<String> {
    let said = |needle: &str| text.iter().any(|line| line.contains(needle));
    let builder = builder.map_or("the current builder".to_owned(), |b| {
        format!("builder `{b}`")
    });
    if said("is not a docker command") {
        return Some("the buildx plugin is not installed. Install it (Debian/Ubuntu: apt-get install docker-buildx; GitHub: docker/setup-buildx-action) and run again".into());
    }
    if said("invalid progress mode rawjson") || said("unknown flag: --progress") {
        return Some("buildx is older than 0.12, which regcache needs for --progress=rawjson. Update the buildx plugin".into());
    }
    if said("Cache export is not supported for the docker driver") {
        return Some(format!(
            "{builder} uses the `docker` driver without the containerd image store, which cannot export registry cache. \
             Fix one of: enable the containerd image store (daemon.json: {{\"features\":{{\"containerd-snapshotter\":true}}}}); \
             create a docker-container builder (docker buildx create --use --driver docker-container; GitHub: docker/setup-buildx-action) and pass it as `builder`"
        ));
    }
    if said("Cannot connect to the Docker daemon") || said("failed to connect to the docker API") {
        return Some("no Docker engine answers at DOCKER_HOST (or the default socket). Start dockerd, or set DOCKER_HOST".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_buildx_versions() {
        assert_eq!(
            parse_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n"),
            Some((0, 13))
        );
        assert_eq!(
            parse_version("github.com/docker/buildx v0.29.1 a1b2c3"),
            Some((0, 29))
        );
        assert_eq!(
            parse_version("docker: 'buildx' is not a docker command."),
            None
        );
    }

    #[test]
    fn explains_setup_failures() {
        let text = |s: &str| vec![s.to_owned()];
        assert!(
            diagnose(
                &text("ERROR: Cache export is not supported for the docker driver."),
                Some("default")
            )
            .unwrap()
            .starts_with(
                "builder `default` uses the `docker` driver without the containerd image store"
            )
        );
        assert!(
            diagnose(&text("docker: 'buildx' is not a docker command."), None)
                .unwrap()
                .contains("buildx plugin is not installed")
        );
        assert!(diagnose(&text("ERROR: failed to solve: x"), None).is_none());
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let mut raw = crate::inputs::RawInputs::default();
        raw.set("tags", "r/app:dev");
        let config = crate::config::validate(&raw).unwrap();
        let err = run_program("/nonexistent/docker", &config, &[], &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("could not start `/nonexistent/docker`"),
            "{err}"
        );
    }
}
