//! The engine runner: starts `docker buildx build`, streams its rawjson progress through the
//! parser as it arrives, and explains failures that come from the setup rather than the build.
//!
//! There is no separate preflight on the happy path: asking the CLI about the builder costs
//! ~215 ms (`docker buildx inspect` 155 ms + `docker info` 60 ms, measured on this kind of
//! machine), a third of a small warm build, and buildx refuses an export the driver cannot do
//! before any step runs, so the same fact is read from its refusal at no cost.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use thiserror::Error;

use crate::progress::{self, Event, Progress};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(
        "could not start `{program}`: {source}. Install the Docker CLI with the buildx plugin (Debian/Ubuntu: docker.io and docker-buildx; GitHub: docker/setup-buildx-action) or put `docker` on PATH"
    )]
    Spawn { program: String, source: io::Error },
    #[error("reading the build's progress from `{program}` failed: {source}")]
    Read { program: String, source: io::Error },
}

#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub progress: Progress,
    pub seconds: f64,
}

pub fn run(
    program: &Path,
    argv: &[String],
    mut on_event: impl FnMut(Event),
) -> Result<Finished, EngineError> {
    let name = program.to_string_lossy().into_owned();
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| EngineError::Spawn {
            program: name.clone(),
            source,
        })?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut progress = Progress::default();
    let read = progress::read_rawjson(stderr, &mut progress, &mut on_event);
    let status = child.wait().map_err(|source| EngineError::Read {
        program: name.clone(),
        source,
    })?;
    read.map_err(|source| EngineError::Read {
        program: name,
        source,
    })?;
    Ok(Finished {
        success: status.success(),
        exit_code: status.code(),
        progress,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A fix for failures that come from the setup, recognised by what buildx printed.
pub fn diagnose(text: &[String], builder: Option<&str>) -> Option<String> {
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
        let err = run(Path::new("/nonexistent/docker"), &[], |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("could not start `/nonexistent/docker`"),
            "{err}"
        );
    }
}
