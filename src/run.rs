//! One build, end to end: plan → run → stats → report, with the effects (temp files, the
//! engine process, output files) kept here at the edge.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;
use crate::engine::{self, EngineError};
use crate::plan::{self, CacheRefs, RunFiles};
use crate::platform::{Env, Level, Location, Log, Platform, github, github_api, gitlab};
use crate::policy::{CiEvent, Decision, PolicySettings, Trigger};
use crate::policy_file::{self, PolicyFile, PolicyFileError};
use crate::progress::display;
use crate::registry::{self, Probe};
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
    #[error(
        "the dotenv outputs are {bytes} bytes, over GitLab's limit of {limit}; use --output-format json for this build"
    )]
    TooLarge { bytes: usize, limit: usize },
}

fn file_error<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> RunError + 'p {
    move |source| RunError::File {
        what,
        path: path.to_owned(),
        source,
    }
}

/// The CI event, from the platform's variables, the payload file and, for what the payload
/// lacks, the GitHub API. A lookup that fails leaves the payload's answer, with a warning.
pub fn resolve_event<W: Write>(
    env: &Env,
    platform: Platform,
    log: &mut Log<W>,
) -> io::Result<CiEvent> {
    match platform {
        Platform::Local => Ok(CiEvent {
            trigger: Trigger::Local,
            default_branch: None,
            read_only_token: false,
        }),
        Platform::GitLab => Ok(gitlab::event(env)),
        Platform::GitHub => {
            let payload = env
                .get("GITHUB_EVENT_PATH")
                .and_then(|path| fs::read(path).ok())
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or(serde_json::Value::Null);
            let facts = github::event(env, &payload);
            let mut event = facts.event;
            for (lookup, answer) in facts
                .lookups
                .iter()
                .zip(github_api::answer_all(&facts.lookups, env))
            {
                match answer {
                    Ok(answer) => github::apply_answer(&mut event, lookup, &answer),
                    Err(e) => log.annotate(
                        Level::Warning,
                        "GitHub API",
                        &format!("{e}; deciding the cache refs without it"),
                        None,
                    )?,
                }
            }
            Ok(event)
        }
    }
}

pub fn load_policy_file(config: &Config) -> Result<Option<PolicyFile>, PolicyFileError> {
    policy_file::load(&config.policy.file, config.policy.file_required)
}

/// The cache refs of one build: the policy's decision, and which candidates exist.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheChoice {
    pub decision: Decision,
    pub settings: PolicySettings,
    /// Full refs to read, in fallback order, with what the probe found (None: not probed).
    pub candidates: Vec<(String, Option<Probe>)>,
    pub refs: CacheRefs,
}

impl CacheChoice {
    /// The first candidate that exists.
    pub fn source(&self) -> Option<&str> {
        self.candidates
            .iter()
            .find(|(_, p)| matches!(p, Some(Probe::Exists { .. })))
            .map(|(r, _)| r.as_str())
    }
}

/// From the policy's decision, (when `probe`) keep only the candidates that exist, so buildx
/// never prints "not found" errors; an unreachable registry means a cold build with a warning.
pub fn choose<W: Write>(
    config: &Config,
    settings: PolicySettings,
    decision: Decision,
    env: &Env,
    probe: bool,
    log: &mut Log<W>,
) -> io::Result<CacheChoice> {
    let read: Vec<String> = decision
        .read
        .iter()
        .map(|t| config.cache_ref(t).whole())
        .collect();
    let write = decision.write.as_ref().map(|t| config.cache_ref(t).whole());
    if !probe || read.is_empty() {
        let candidates = read.iter().map(|r| (r.clone(), None)).collect();
        return Ok(CacheChoice {
            decision,
            settings,
            candidates,
            refs: CacheRefs { read, write },
        });
    }
    let references: Vec<_> = decision.read.iter().map(|t| config.cache_ref(t)).collect();
    let probes = registry::probe_all(&references, env);
    let unreachable = probes.iter().find_map(|p| match p {
        Probe::Unreachable(e) => Some(e.clone()),
        _ => None,
    });
    let refs = if let Some(error) = unreachable {
        log.annotate(
            Level::Warning,
            "registry unreachable",
            &format!(
                "{} did not answer ({error}); building without cache",
                config.cache_repository.registry()
            ),
            None,
        )?;
        CacheRefs::default()
    } else {
        for (reference, probe) in read.iter().zip(&probes) {
            if let Probe::Failed(error) = probe {
                log.annotate(
                    Level::Warning,
                    "cache ref unreadable",
                    &format!("{reference}: {error}; not used"),
                    None,
                )?;
            }
        }
        let existing: Vec<String> = read
            .iter()
            .zip(&probes)
            .filter(|(_, p)| matches!(p, Probe::Exists { .. }))
            .map(|(r, _)| r.clone())
            .collect();
        if existing.is_empty() {
            log.annotate(
                Level::Warning,
                "cache not found",
                &format!("no cache ref of the chain exists yet ({}); this build runs cold (expected on the first build)", read.join(", ")),
                None,
            )?;
        }
        CacheRefs {
            read: existing,
            write,
        }
    };
    let candidates = read.into_iter().zip(probes.into_iter().map(Some)).collect();
    Ok(CacheChoice {
        decision,
        settings,
        candidates,
        refs,
    })
}

pub struct RunContext<'a> {
    pub env: &'a Env,
    pub platform: Platform,
    /// The `docker` CLI to run.
    pub docker: PathBuf,
}

pub fn build<W: Write>(
    config: &Config,
    choice: &CacheChoice,
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
    let plan = plan::plan(config, &choice.refs, &files);

    let c = &config.cache;
    let candidates: Vec<String> = choice
        .candidates
        .iter()
        .map(|(r, p)| match p {
            Some(probe) => format!("{r} ({})", probe.label()),
            None => r.clone(),
        })
        .collect();
    log.line(&format!(
        "regcache: cache-policy {} ({})",
        choice.settings.kind, choice.decision.reason
    ))?;
    log.line(&format!(
        "regcache: reading {}",
        if candidates.is_empty() {
            "nothing".to_owned()
        } else {
            candidates.join(", ")
        }
    ))?;
    match &choice.refs.write {
        Some(write) => log.line(&format!(
            "regcache: writing {write} (mode={}, compression={}, image-manifest={}, ignore-error={})",
            c.mode, c.compression, c.image_manifest, c.ignore_error
        ))?,
        None => log.line("regcache: writing nothing")?,
    }
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
        cache_ref: choice.refs.write.clone().unwrap_or_default(),
        candidates: choice.candidates.clone(),
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
        // GitLab refuses dotenv reports over 5,120 bytes: `metadata` stays in the JSON format.
        OutputFormat::Dotenv => {
            let outputs: Vec<(&str, String)> = report
                .outputs()
                .into_iter()
                .filter(|(name, _)| *name != "metadata")
                .collect();
            let text = gitlab::dotenv(&outputs);
            if text.len() > gitlab::DOTENV_LIMIT {
                return Err(RunError::TooLarge {
                    bytes: text.len(),
                    limit: gitlab::DOTENV_LIMIT,
                });
            }
            text
        }
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
