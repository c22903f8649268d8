//! The one place the stages are chained: inputs → config → decision → probe → plan → engine →
//! stats → report. Each stage is a value in and a value out (the pure ones are functions in
//! their own modules); the effects (the policy file, the registry, temporary files, the engine
//! process, the log, the outputs) happen here, in this order.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, SecretSource};
use crate::engine::{Engine, Finished};
use crate::error::Error;
use crate::inputs::RawInputs;
use crate::plan::{self, CacheEntries, RunFiles};
use crate::platform::{Env, Level, Log, Platform};
use crate::policy::{self, Decision, PolicySettings};
use crate::policy_file;
use crate::probe::{self, Selection};
use crate::registry::Registry;
use crate::report::{OutputFormat, Report};
use crate::stats::ImportOutcome;

/// What the whole run knows of where it runs: the environment, read once, and the platform.
pub struct Context {
    pub env: Env,
    pub platform: Platform,
}

impl Context {
    pub fn new(env: Env) -> Self {
        let platform = Platform::detect(&env);
        Self { env, platform }
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

/// The engine every build uses (the `engine` input comes with the next engine).
const ENGINE: Engine = Engine::Buildx;

/// Everything before the engine: the validated config, the decision and the probed refs.
pub struct Prepared {
    pub config: Config,
    pub settings: PolicySettings,
    pub decision: Decision,
    pub selection: Selection,
}

impl Prepared {
    /// The `--cache-from` / `--cache-to` entries the engine gets.
    pub fn cache_entries(&self) -> CacheEntries {
        plan::cache_entries(&self.config, &self.selection.refs)
    }
}

/// inputs → config → decision → probe. Bad inputs stop here, before anything ran.
pub fn prepare<W: Write>(
    ctx: &Context,
    raw: &RawInputs,
    probe: bool,
    log: &mut Log<W>,
) -> Result<Prepared, Error> {
    let config = config::validate(raw)?;
    let file = policy_file::load(
        &config.policy.file,
        config.policy.file_required,
        &ctx.workspace(),
    )?;
    let event = ctx.platform.event(&ctx.env, log)?;
    let settings = policy::settings(
        &config.policy,
        file.as_ref(),
        config.build.target.as_deref(),
        &config.build.platforms,
        config.pinned_tag.as_deref(),
    );
    let decision = policy::decide(&event, &settings);
    plan::check_cache_tags(&config, &decision)?;
    let read = decision
        .read
        .iter()
        .map(|t| config.cache_ref(t).whole())
        .collect();
    let write = decision.write.as_ref().map(|t| config.cache_ref(t).whole());
    let selection = probe::run(
        &Registry::new(&ctx.env),
        config.cache_repository.registry(),
        read,
        write,
        probe,
        config.cache.ignore_error,
    )?;
    for warning in &selection.warnings {
        log.annotate(Level::Warning, warning.title, &warning.message, None)?;
    }
    Ok(Prepared {
        config,
        settings,
        decision,
        selection,
    })
}

/// The whole build: prepare, plan, run the engine, report; then the outputs go where the
/// platform and `output` say. A failed build is `Error::BuildFailed`, after its report.
pub fn build<W: Write>(
    ctx: &Context,
    raw: &RawInputs,
    output: Option<(OutputFormat, Option<&Path>)>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let prepared = prepare(ctx, raw, true, log)?;
    let report = run(ctx, &prepared, log)?;
    log.flush()?;
    ctx.platform.publish(&report, &ctx.env)?;
    if let Some((format, file)) = output {
        write_output(&report.render(format)?, file)?;
    }
    if report.succeeded {
        Ok(())
    } else {
        Err(Error::BuildFailed)
    }
}

/// plan → engine → stats → report, with the temporary files the engine needs.
fn run<W: Write>(ctx: &Context, prepared: &Prepared, log: &mut Log<W>) -> Result<Report, Error> {
    let config = &prepared.config;
    let temp_root = ctx
        .env
        .get("RUNNER_TEMP")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let temp = tempfile::Builder::new()
        .prefix("regcache-")
        .tempdir_in(&temp_root)
        .map_err(Error::file("creating a temporary directory", &temp_root))?;
    let mut secrets = Vec::new();
    for (i, secret) in config.build.secrets.iter().enumerate() {
        let source = match &secret.source {
            SecretSource::Value(value) => {
                log.mask(value)?;
                let path = temp.path().join(format!("secret-{i}"));
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(Error::file("writing a secret file", &path))?;
                file.write_all(value.as_bytes())
                    .map_err(Error::file("writing a secret file", &path))?;
                SecretSource::File(path.to_string_lossy().into_owned())
            }
            other => other.clone(),
        };
        secrets.push((secret.id.clone(), source));
    }
    let files = RunFiles {
        metadata: temp.path().join("metadata.json"),
        iidfile: temp.path().join("iid"),
        secrets,
    };
    let argv = ENGINE.argv(config, &prepared.cache_entries(), &files);

    describe_decision(prepared, log)?;
    log.start_group("docker buildx build")?;
    log.start_untrusted()?;
    let mut log_error = None;
    let finished = ENGINE.run(config, &argv, |line| {
        if log_error.is_none() {
            log_error = log.line(line).err();
        }
    });
    log.end_untrusted()?;
    log.end_group()?;
    if let Some(e) = log_error {
        return Err(Error::Log(e));
    }
    let finished = finished?;

    let metadata = fs::read(&files.metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let image_id = fs::read_to_string(&files.iidfile)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let report = Report {
        stats: finished.stats.clone(),
        selection: prepared.selection.clone(),
        build_seconds: Some(finished.seconds),
        succeeded: finished.succeeded,
        image_id,
        metadata,
    };
    explain(&report, &finished, log)?;
    log.line(&report.headline())?;
    Ok(report)
}

/// What the build reads and writes, and why, before it starts.
fn describe_decision<W: Write>(prepared: &Prepared, log: &mut Log<W>) -> Result<(), Error> {
    let c = &prepared.config.cache;
    log.line(&format!(
        "regcache: cache-policy {} ({})",
        prepared.settings.kind, prepared.decision.reason
    ))?;
    let candidates: Vec<String> = prepared
        .selection
        .candidates
        .iter()
        .map(probe::Candidate::describe)
        .collect();
    log.line(&format!(
        "regcache: reading {}",
        if candidates.is_empty() {
            "nothing".to_owned()
        } else {
            candidates.join(", ")
        }
    ))?;
    match &prepared.selection.refs.write {
        Some(write) => log.line(&format!(
            "regcache: writing {write} (mode={}, compression={}, image-manifest={}, ignore-error={})",
            c.mode, c.compression, c.image_manifest, c.ignore_error
        ))?,
        None => log.line("regcache: writing nothing")?,
    }
    Ok(())
}

/// Warnings and errors a person should see without reading the whole log.
fn explain<W: Write>(report: &Report, finished: &Finished, log: &mut Log<W>) -> Result<(), Error> {
    let s = &report.stats;
    let cache_ref = report.selection.refs.write.as_deref().unwrap_or("");
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
                &format!("exporting the cache to {cache_ref} failed: {error}. The image was built; ignore-error is true, so the build did not fail"),
                None,
            )?;
        } else {
            log.annotate(
                Level::Error,
                "cache export failed",
                &format!("exporting the cache to {cache_ref} failed: {error}. Set ignore-error: true to let the build succeed when the cache cannot be written"),
                None,
            )?;
        }
    }
    if report.succeeded {
        return Ok(());
    }
    if let Some(fix) = &finished.setup_problem {
        return Ok(log.annotate(Level::Error, "build setup", fix, None)?);
    }
    let location = s.error_location.as_ref();
    match &s.failed_step {
        Some(step) => log.annotate(Level::Error, &step.name, &step.error, location)?,
        None if s.exports.iter().any(|e| !e.ok) => {}
        None => {
            let message = s
                .final_error
                .clone()
                .or_else(|| finished.last_text.clone())
                .unwrap_or_else(|| "the build failed".into());
            log.annotate(Level::Error, "build failed", &message, location)?
        }
    }
    Ok(())
}

/// The outputs to `file` (written whole to a temporary file, then renamed, so a reader never
/// sees half of it), or to stdout.
fn write_output(text: &str, file: Option<&Path>) -> Result<(), Error> {
    let Some(path) = file else {
        return Ok(std::io::stdout().write_all(text.as_bytes())?);
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

/// The statistics of a saved progress log, as a report of its own (`regcache stats`).
pub fn stats_of_log(path: &Path) -> Result<Report, Error> {
    let shown = path.display().to_string();
    let read = |e: std::io::Error| Error::NotProgress {
        path: shown.clone(),
        problem: e.to_string(),
    };
    let stats = if path.as_os_str() == "-" {
        ENGINE.read_log(std::io::BufReader::new(std::io::stdin().lock()))
    } else {
        fs::File::open(path).and_then(|f| ENGINE.read_log(std::io::BufReader::new(f)))
    }
    .map_err(read)?;
    if stats.vertices.total == 0 && stats.final_error.is_none() {
        return Err(Error::NotProgress {
            path: shown,
            problem: "holds no BuildKit progress; give a log saved from `docker buildx build --progress=rawjson` (or `plain`)".into(),
        });
    }
    Ok(Report::from_log(stats))
}

/// `regcache stats` output: the report in `format`, or one line.
pub fn write_stats(
    report: &Report,
    output: Option<(OutputFormat, Option<&Path>)>,
) -> Result<(), Error> {
    match output {
        Some((format, file)) => write_output(&report.render(format)?, file),
        None => write_output(&report.stats_line(), None),
    }
}
