//! `regcache bake` (and `regcache action bake`): docker/bake-action's run with a registry cache
//! per target. The chain is a build's, once per target where it is per target: inputs →
//! config → the definition buildx resolves (`--print`) → per target: settings, decision →
//! one round of probes for every target → the cache `--set`s → the bake run, read per target
//! → the exports that waited for a miss → the report.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use super::Context;
use super::build::{self, Prepared, Published};
use crate::bake::argv::{self, Facts};
use crate::bake::definition::{self, Definition, Target};
use crate::bake::report::BakeReport;
use crate::bake::{cache_sets, defers_export};
use crate::cache::decision::{self, Decision};
use crate::cache::export::Untouched;
use crate::cache::policy_file;
use crate::cache::settings;
use crate::config::{self, BakeConfig, Engine, InputError, InvalidInputs};
use crate::engine::{Place, bake};
use crate::error::Error;
use crate::inputs::RawInputs;
use crate::plan;
use crate::platform::{Level, Log, Platform};
use crate::probe::{self, Chain};
use crate::registry::{CacheLayout, Registry};
use crate::report::{OutputFormat, Report};

/// One target, its cache decided and probed.
struct Planned<'d> {
    target: &'d Target,
    prepared: Prepared,
    /// regcache's `cache-to` waits for a miss (`bake::defers_export`).
    deferred: bool,
}

pub fn bake<W: Write>(
    ctx: &Context,
    raw: &RawInputs,
    output: Option<(OutputFormat, Option<&Path>)>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let config = config::validate_bake(raw)?;
    config.base.engine.preflight(&config.base, &ctx.env)?;
    let version = Engine::Buildx.version().ok_or_else(|| Error::EngineStart {
        program: "docker buildx".into(),
        source: std::io::Error::other("`docker buildx version` printed no version"),
    })?;
    let run = ctx.platform.github_run(&ctx.env, &ctx.payload);
    let remote = argv::remote_source(config.bake.source.as_deref(), run.as_ref(), version);
    let facts = Facts {
        version,
        run: run.as_ref(),
        remote: remote.as_deref(),
    };
    let workspace = ctx.workspace();
    let dir = bake_dir(&config, remote.is_some(), &workspace)?;
    check_local(&config, facts, &dir, &workspace)?;
    // A remote definition is fetched with the run's token, as bake-action gives it.
    let place = Place {
        dir: Some(&dir),
        env: run
            .as_ref()
            .and_then(|r| r.token.clone())
            .filter(|t| !t.is_empty() && remote.is_some())
            .map(|t| ("BUILDX_BAKE_GIT_AUTH_TOKEN", t))
            .into_iter()
            .collect(),
    };
    let definition = match bake::print(&argv::print_args(&config, facts), &place)? {
        Ok(text) => definition::parse(&text).map_err(|e| Error::EngineRead {
            program: "docker buildx bake --print".into(),
            source: std::io::Error::other(e),
        })?,
        Err(message) => return Err(refused_definition(&message).into()),
    };
    let planned = plan_targets(ctx, &config, &definition, log)?;
    let temp = super::run_temp(ctx)?;
    let metadata = temp.path().join("metadata.json");
    let sets: Vec<String> = planned
        .iter()
        .flat_map(|p| cache_sets(p.target, &p.prepared.cache_entries, !p.deferred))
        .collect();
    let args = argv::run_args(&config, facts, &definition, &sets, &metadata);
    announce(&config, facts, &dir, &planned, &args, log)?;
    let names: Vec<String> = definition.targets.iter().map(|t| t.name.clone()).collect();
    let builder = config.base.build.builder.as_deref();
    let finished = build::streamed(log, |line| bake::run(&args, &place, &names, builder, line));
    let mut finished = finished?;
    // A deferred target's full hit keeps its tag; one that missed exports now.
    let mut untouched = vec![None; planned.len()];
    let mut missed = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        if !(p.deferred && finished.succeeded) {
            continue;
        }
        if finished.targets[&p.target.name].cache_hit(true) {
            untouched[i] = Some(Untouched::Kept);
        } else {
            missed.push(p);
        }
    }
    let mut export_manifests = Value::Null;
    if !missed.is_empty() {
        export_manifests =
            export_missed(&config, facts, &place, &missed, &temp, &mut finished, log)?;
    }
    let mut metadata: Option<Value> = fs::read(&metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let (Some(Value::Object(all)), Value::Object(exported)) = (&mut metadata, export_manifests) {
        for (name, manifest) in exported {
            if let Some(Value::Object(target)) = all.get_mut(&name) {
                target.insert("cache.manifest".into(), manifest);
            }
        }
    }
    let reports = target_reports(&planned, &finished, untouched, metadata.as_ref());
    let report = BakeReport {
        targets: reports,
        metadata,
        succeeded: finished.succeeded,
        seconds: finished.seconds,
    };
    for (_, target) in &report.targets {
        build::cache_warnings(target, log)?;
    }
    if !report.succeeded {
        explain_failure(&report, &finished, log)?;
    }
    for line in report.headlines() {
        log.line(&line)?;
    }
    build::publish(
        ctx,
        &Published {
            outputs: report.outputs(),
            summary_markdown: report.summary_markdown(),
            summary_for_log: report.summary_markdown(),
            render: &|format| report.render(format),
            succeeded: report.succeeded,
        },
        output,
        log,
    )
}

/// Each target's report: a build's, from the target's statistics and cache, the run's result
/// and time, and its part of buildx's metadata.
fn target_reports(
    planned: &[Planned<'_>],
    finished: &bake::BakeFinished,
    untouched: Vec<Option<Untouched>>,
    metadata: Option<&Value>,
) -> Vec<(String, Report)> {
    planned
        .iter()
        .zip(untouched)
        .map(|(p, untouched)| {
            let name = &p.target.name;
            let report = Report {
                image: crate::report::image_name(&p.target.tags, Some(name)),
                succeeded: finished.succeeded,
                stats: finished.targets[name].clone(),
                selection: p.prepared.selection.clone(),
                build_seconds: Some(finished.seconds),
                image_id: None,
                metadata: metadata.and_then(|m| m.get(name)).cloned(),
                exported_cache: None,
                passed_refs: Some(p.prepared.selection.refs.read.clone()),
                explanation: None,
                dockerfile: String::new(),
                history: Vec::new(),
                stage_order: Vec::new(),
                record_note: None,
                untouched,
            };
            (name.clone(), report)
        })
        .collect()
}

/// The directory bake runs in: a local `source`, else `workdir`, else the workspace; relative
/// ones from the workspace. It must exist (bake-action: "Invalid source").
fn bake_dir(config: &BakeConfig, remote: bool, workspace: &Path) -> Result<PathBuf, Error> {
    let (input, given) = match (&config.bake.source, &config.bake.workdir) {
        (Some(source), _) if !remote => ("source", source),
        (_, Some(workdir)) => ("workdir", workdir),
        _ => return Ok(workspace.to_owned()),
    };
    let dir = workspace.join(given);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(InvalidInputs(vec![InputError {
            input,
            problem: format!("`{given}` does not exist or is not a directory; give a directory of the workspace or a Git URL"),
        }])
        .into())
    }
}

/// `path` without `.` and `..` (against what comes before), for a path that may not exist.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The real place of a path (its links followed) when it exists, else its normal form.
fn resolved(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| normalized(path))
}

/// What the inputs ask that only this machine can check, all at once, before anything runs:
/// the directory and the local bake files inside the workspace, `call` known to this buildx.
fn check_local(
    config: &BakeConfig,
    facts: Facts<'_>,
    dir: &Path,
    workspace: &Path,
) -> Result<(), Error> {
    let mut errors = Vec::new();
    let root = resolved(workspace);
    let inside = |path: &Path| resolved(path).starts_with(&root);
    if !inside(dir) {
        errors.push(InputError {
            input: if config.bake.workdir.is_some() { "workdir" } else { "source" },
            problem: format!("`{}` is outside the workspace ({}); bake reads its files from the repository's checkout", dir.display(), workspace.display()),
        });
    }
    for file in &config.bake.files {
        // Beside a remote definition, only `cwd://` files are read from this machine.
        let local = match file.strip_prefix("cwd://") {
            Some(local) => local,
            None if facts.remote.is_some() => continue,
            None => file,
        };
        if !inside(&dir.join(local)) {
            errors.push(InputError {
                input: "files",
                problem: format!(
                    "`{file}` is outside the workspace ({}); give a bake file of the repository",
                    workspace.display()
                ),
            });
        }
    }
    if config.base.build.call.is_some() && facts.version < (0, 16) {
        errors.push(InputError {
            input: "call",
            problem: format!(
                "buildx {}.{} has no --call (bake-action: \"Buildx >= 0.16.0 is required to use the call flag\"); update buildx or leave call out",
                facts.version.0, facts.version.1
            ),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidInputs(errors).into())
    }
}

/// buildx refused the definition: an unknown target, or files it cannot read.
fn refused_definition(message: &str) -> InvalidInputs {
    let message: String = message.chars().take(400).collect();
    let input = if message.contains("failed to find target") {
        "targets"
    } else {
        "files"
    };
    InvalidInputs(vec![InputError {
        input,
        problem: format!("buildx could not resolve the bake definition: {message}"),
    }])
}

/// Every target's cache: its settings (the target's name as its scope), the decision for the
/// event, and one round of probes for all of them.
fn plan_targets<'d, W: Write>(
    ctx: &Context,
    config: &BakeConfig,
    definition: &'d Definition,
    log: &mut Log<W>,
) -> Result<Vec<Planned<'d>>, Error> {
    let base = &config.base;
    if base.pinned_tag.is_some() && definition.targets.len() > 1 {
        return Err(InvalidInputs(vec![InputError {
            input: "cache-ref",
            problem: format!(
                "a tag pins one cache tag, which the {} targets would overwrite in turn; give the repository only (each target gets its own tags)",
                definition.targets.len()
            ),
        }])
        .into());
    }
    let file = policy_file::load(
        &base.policy.file,
        base.policy.file_required,
        &ctx.workspace(),
    )?;
    let mut event = None;
    let mut errors = Vec::new();
    let mut decided = Vec::new();
    for target in &definition.targets {
        let config = config.for_target(&target.name, &target.tags, &target.platforms);
        let settings = settings::settings(
            &config.policy,
            file.as_ref(),
            Some(&target.name),
            &target.platforms,
            config.pinned_tag.as_deref(),
        );
        let (decision, chain) = match &config.cache_repository {
            None => {
                log.annotate(
                    Level::Warning,
                    "no registry cache",
                    &format!("target {}: neither cache-ref nor its tags name a repository, so it builds without a registry cache; set cache-ref (e.g. ghcr.io/owner/app) to keep one", target.name),
                    None,
                )?;
                let decision = Decision::nothing("no cache repository");
                (decision, None)
            }
            Some(repository) => {
                if event.is_none() {
                    if ctx.platform == Platform::GitLab {
                        build::gitlab_login(&ctx.env, log)?;
                    }
                    event = Some(ctx.platform.event(&ctx.env, &ctx.payload, log)?);
                }
                let decision = decision::decide(event.as_ref().expect("just read"), &settings);
                if let Err(InvalidInputs(found)) = plan::check_cache_tags(&config, &decision) {
                    errors.extend(found);
                }
                let chain = Chain::of(&decision, Engine::Buildx, repository);
                (decision, Some(chain))
            }
        };
        decided.push((target, config, settings, decision, chain));
    }
    if !errors.is_empty() {
        return Err(InvalidInputs(errors).into());
    }
    // One round of concurrent requests for every target's chain.
    let all: Vec<String> = decided
        .iter()
        .filter_map(|d| d.4.as_ref())
        .flat_map(|c| c.read.iter().cloned())
        .collect();
    let started = Instant::now();
    let mut answers = if all.is_empty() {
        Vec::new()
    } else {
        Registry::new(&ctx.env).probe_all(&all, CacheLayout::Tag)?
    }
    .into_iter();
    log.debug(&format!(
        "probe: {} ref(s) of {} target(s) asked in {:.1} ms",
        all.len(),
        decided.len(),
        started.elapsed().as_secs_f64() * 1000.0
    ))?;
    let mut planned = Vec::new();
    for (target, config, settings, decision, chain) in decided {
        let selection = match chain {
            Some(chain) => {
                let probes: Vec<_> = answers.by_ref().take(chain.read.len()).collect();
                probe::select(chain, Some(probes), base.cache.ignore_error).map_err(|u| {
                    Error::CacheRegistryUnreachable {
                        registry: u.registry,
                        error: u.error,
                    }
                })?
            }
            None => probe::Selection::default(),
        }
        .with_reasons(&decision.why);
        for warning in &selection.warnings {
            log.annotate(
                Level::Warning,
                warning.title,
                &format!("target {}: {}", target.name, warning.message),
                None,
            )?;
        }
        let deferred = defers_export(target, &selection, base.build.no_cache);
        planned.push(Planned {
            target,
            prepared: Prepared::new(config, settings, decision, selection),
            deferred,
        });
    }
    Ok(planned)
}

/// The setup and each target's cache decision, each in its own group.
fn announce<W: Write>(
    config: &BakeConfig,
    facts: Facts<'_>,
    dir: &Path,
    planned: &[Planned<'_>],
    args: &[String],
    log: &mut Log<W>,
) -> Result<(), Error> {
    log.start_group("regcache setup")?;
    log.line(&format!(
        "regcache {} (bake, buildx {}.{})",
        env!("CARGO_PKG_VERSION"),
        facts.version.0,
        facts.version.1
    ))?;
    match facts.remote {
        Some(remote) => log.line(&format!("source: {remote}"))?,
        None => log.line(&format!("source: {}", dir.display()))?,
    }
    for file in &config.bake.files {
        log.line(&format!("file: {file}"))?;
    }
    let names: Vec<&str> = planned.iter().map(|p| p.target.name.as_str()).collect();
    log.line(&format!("targets: {}", names.join(", ")))?;
    if let Some(builder) = &config.base.build.builder {
        log.line(&format!("builder: {builder}"))?;
    }
    log.debug(&format!(
        "argv: docker {}",
        shlex::try_join(args.iter().map(String::as_str)).unwrap_or_default()
    ))?;
    log.end_group()?;
    log.start_group("Cache decision")?;
    for p in planned {
        log.line(&format!("target {}:", p.target.name))?;
        build::describe_decision(&p.prepared, log)?;
        if !p.target.cache_from.is_empty() || !p.target.cache_to.is_empty() {
            log.line(&format!(
                "regcache: the bake file's own entries are kept: {}",
                p.target
                    .cache_from
                    .iter()
                    .map(|e| format!("cache-from {e}"))
                    .chain(p.target.cache_to.iter().map(|e| format!("cache-to {e}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
        }
        if p.deferred {
            log.line(&format!(
                "regcache: exporting only if a step misses: {} is the first cache of the chain, so a full hit leaves it as it is",
                p.prepared.selection.refs.write.as_deref().unwrap_or_default()
            ))?;
        }
    }
    Ok(log.end_group()?)
}

/// The caches of deferred targets that missed, exported by a second bake of only those
/// targets, every step in the builder by now. Its export statistics join each target's; the
/// manifests it wrote (buildx's metadata, per target) are returned.
fn export_missed<W: Write>(
    config: &BakeConfig,
    facts: Facts<'_>,
    place: &Place<'_>,
    missed: &[&Planned<'_>],
    temp: &tempfile::TempDir,
    finished: &mut bake::BakeFinished,
    log: &mut Log<W>,
) -> Result<Value, Error> {
    let targets: Vec<&Target> = missed.iter().map(|p| p.target).collect();
    let sets: Vec<String> = missed
        .iter()
        .flat_map(|p| cache_sets(p.target, &p.prepared.cache_entries, true))
        .collect();
    let metadata = temp.path().join("export-metadata.json");
    let args = argv::export_args(config, facts, &sets, &targets, &metadata);
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    log.line(&format!(
        "regcache: exporting now the cache of each target that missed a step: {}",
        names.join(", ")
    ))?;
    log.debug(&format!(
        "argv: docker {}",
        shlex::try_join(args.iter().map(String::as_str)).unwrap_or_default()
    ))?;
    let builder = config.base.build.builder.as_deref();
    let export = build::streamed(log, |line| bake::run(&args, place, &names, builder, line));
    let export = export?;
    for (name, stats) in export.targets {
        if let Some(target) = finished.targets.get_mut(&name) {
            target.exports = stats.exports;
            target.export_seconds = stats.export_seconds;
        }
    }
    finished.seconds += export.seconds;
    if !export.succeeded {
        let message = export.error.unwrap_or_default();
        if config.base.cache.ignore_error {
            log.annotate(
                Level::Warning,
                "cache export failed",
                &format!("exporting the cache of {} failed: {message}. The images were built; ignore-error is true, so the run did not fail", names.join(", ")),
                None,
            )?;
        } else {
            finished.succeeded = false;
            finished.error = Some(message);
        }
    }
    Ok(fs::read(&metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .map(|all| {
            Value::Object(
                names
                    .iter()
                    .filter_map(|n| Some((n.clone(), all.get(n)?.get("cache.manifest")?.clone())))
                    .collect(),
            )
        })
        .unwrap_or(Value::Null))
}

/// Why the run failed: each target's failed step at its line, else the setup's fix or
/// buildx's last error.
fn explain_failure<W: Write>(
    report: &BakeReport,
    finished: &bake::BakeFinished,
    log: &mut Log<W>,
) -> Result<(), Error> {
    // When one target fails, buildx cancels the others' running steps: those are not causes.
    let canceled = |error: &str| error.ends_with("context canceled");
    let failed: Vec<(&String, &crate::stats::FailedStep)> = report
        .targets
        .iter()
        .filter_map(|(name, t)| t.stats.failed_step.as_ref().map(|step| (name, step)))
        .collect();
    let causes = failed.iter().filter(|(_, step)| !canceled(&step.error));
    let shown: Vec<_> = if causes.clone().next().is_some() {
        causes.collect()
    } else {
        failed.iter().collect()
    };
    for (name, step) in &shown {
        log.annotate(
            Level::Error,
            &format!("target {name}: {}", step.name),
            &step.error,
            None,
        )?;
    }
    if !shown.is_empty() {
        return Ok(());
    }
    match (&finished.setup_problem, &finished.error) {
        (Some(fix), _) => log.annotate(Level::Error, "build setup", fix, None)?,
        (None, error) => log.annotate(
            Level::Error,
            "bake failed",
            error.as_deref().unwrap_or("the bake run failed"),
            None,
        )?,
    }
    Ok(())
}
