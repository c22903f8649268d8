//! One build, end to end: plan → run → stats → report, with the effects (temp files, the
//! engine process, output files) kept here at the edge.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;
use crate::engine::{self, EngineError};
use crate::plan::{self, RunFiles};
use crate::platform::{Env, Level, Location, Log, Platform, github, gitlab};
use crate::progress::display;
use crate::report::RunReport;
use crate::stats::{self, ImportOutcome};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{what} ({path}): {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("writing the log: {0}")]
    Log(#[from] io::Error),
}

fn file_error<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> RunError + 'p {
    move |source| RunError::File {
        what,
        path: path.to_owned(),
        source,
    }
}

pub struct RunContext<'a> {
    pub env: &'a Env,
    pub platform: Platform,
    /// The `docker` CLI to run.
    pub docker: PathBuf,
}

pub fn build<W: Write>(
    config: &Config,
    ctx: &RunContext<'_>,
    log: &mut Log<W>,
) -> Result<RunReport, RunError> {
    let temp_root = ctx
        .env
        .get("RUNNER_TEMP")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let temp = tempfile::Builder::new()
        .prefix("regcache-")
        .tempdir_in(&temp_root)
        .map_err(file_error("creating a temporary directory", &temp_root))?;
    let mut secrets = Vec::new();
    for (i, secret) in config.build.secrets.iter().enumerate() {
        log.mask(&secret.value)?;
        let path = temp.path().join(format!("secret-{i}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(file_error("writing a secret file", &path))?;
        file.write_all(secret.value.as_bytes())
            .map_err(file_error("writing a secret file", &path))?;
        secrets.push((secret.id.clone(), path));
    }
    let files = RunFiles {
        metadata: temp.path().join("metadata.json"),
        iidfile: temp.path().join("iid"),
        secrets,
    };
    let plan = plan::plan(config, &files);

    let cache_ref = config.cache_ref.whole();
    let c = &config.cache;
    log.line(&format!(
        "regcache: cache {cache_ref} (mode={}, compression={}, image-manifest={}, ignore-error={})",
        c.mode, c.compression, c.image_manifest, c.ignore_error
    ))?;
    log.start_group("docker buildx build")?;
    let mut log_error = None;
    let finished = engine::run(&ctx.docker, &plan.argv, |event| {
        if log_error.is_none() {
            log_error = log.line(&display::render(&event)).err();
        }
    });
    log.end_group()?;
    if let Some(e) = log_error {
        return Err(RunError::Log(e));
    }
    let finished = finished?;
    let stats = stats::compute(&finished.progress);

    let metadata = match fs::read(&files.metadata) {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(_) => None,
    };
    let image_id = fs::read_to_string(&files.iidfile)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let report = RunReport {
        stats,
        cache_ref,
        build_seconds: finished.seconds,
        succeeded: finished.success,
        image_id,
        metadata,
    };
    explain(&report, &finished.progress, config, log)?;
    log.line(&report.headline())?;
    Ok(report)
}

/// Warnings and errors a person should see without reading the whole log.
fn explain<W: Write>(
    report: &RunReport,
    progress: &crate::progress::Progress,
    config: &Config,
    log: &mut Log<W>,
) -> io::Result<()> {
    let s = &report.stats;
    for import in &s.imports {
        match &import.outcome {
            ImportOutcome::Found => {}
            ImportOutcome::Missing => log.annotate(
                Level::Warning,
                "cache not found",
                &format!("cache ref {} does not exist yet; this build ran without it (expected on the first build that writes it)", import.reference),
                None,
            )?,
            ImportOutcome::Failed(error) => log.annotate(
                Level::Warning,
                "cache import failed",
                &format!("could not import cache ref {}: {error}", import.reference),
                None,
            )?,
        }
    }
    for export in s.exports.iter().filter(|e| !e.ok) {
        let error = export
            .error
            .as_deref()
            .unwrap_or("the export did not finish");
        if report.succeeded {
            log.annotate(
                Level::Warning,
                "cache export failed",
                &format!("exporting the cache to {} failed: {error}. The image was built; ignore-error is true, so the build did not fail", report.cache_ref),
                None,
            )?;
        } else {
            log.annotate(
                Level::Error,
                "cache export failed",
                &format!("exporting the cache to {} failed: {error}. Set ignore-error: true to let the build succeed when the cache cannot be written", report.cache_ref),
                None,
            )?;
        }
    }
    if report.succeeded {
        return Ok(());
    }
    let tail: Vec<String> = progress.text_tail.iter().cloned().collect();
    if let Some(fix) = engine::diagnose(&tail, config.build.builder.as_deref()) {
        return log.annotate(Level::Error, "build setup", &fix, None);
    }
    let location = progress.error_location.as_ref().map(|l| Location {
        file: l.file.clone(),
        line: l.line,
    });
    match &s.failed_step {
        Some(step) => log.annotate(Level::Error, &step.name, &step.error, location.as_ref()),
        None if s.exports.iter().any(|e| !e.ok) => Ok(()),
        None => {
            let message = s
                .final_error
                .clone()
                .or_else(|| tail.last().cloned())
                .unwrap_or_else(|| "the build failed".into());
            log.annotate(Level::Error, "build failed", &message, location.as_ref())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    Dotenv,
}

/// Outputs as a JSON object; `stats` and `metadata` nested as JSON rather than strings.
pub fn outputs_json(report: &RunReport) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (name, value) in report.outputs() {
        let nested = matches!(name, "stats" | "metadata")
            .then(|| serde_json::from_str(&value).ok())
            .flatten();
        object.insert(
            name.to_owned(),
            nested.unwrap_or(serde_json::Value::String(value)),
        );
    }
    serde_json::Value::Object(object)
}

/// Step outputs and the job summary on GitHub, and the requested file or stdout rendering.
pub fn publish(
    report: &RunReport,
    env: &Env,
    format: Option<OutputFormat>,
    file: Option<&Path>,
) -> Result<(), RunError> {
    if Platform::detect(env) == Platform::GitHub {
        if let Some(path) = env.get("GITHUB_OUTPUT") {
            let text: String = report
                .outputs()
                .iter()
                .map(|(n, v)| github::file_command(n, v))
                .collect();
            github::append(Path::new(path), &text)
                .map_err(file_error("writing step outputs", Path::new(path)))?;
        }
        if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
            github::append(Path::new(path), &report.summary_markdown())
                .map_err(file_error("writing the job summary", Path::new(path)))?;
        }
    }
    let Some(format) = format else { return Ok(()) };
    let text = match format {
        OutputFormat::Json => format!("{:#}\n", outputs_json(report)),
        OutputFormat::Dotenv => gitlab::dotenv(&report.outputs()),
    };
    match file {
        // Written whole to a temporary file, then renamed, so a reader never sees half of it.
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut temp = tempfile::NamedTempFile::new_in(dir)
                .map_err(file_error("writing outputs", path))?;
            temp.write_all(text.as_bytes())
                .map_err(file_error("writing outputs", path))?;
            temp.persist(path).map_err(|e| RunError::File {
                what: "writing outputs",
                path: path.to_owned(),
                source: e.error,
            })?;
        }
        None => io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}
