//! `regcache build` (and `regcache action`): the one place the stages are chained: inputs → config → decision → probe → plan → engine →
//! stats → report. Each stage is a value in and a value out (the pure ones are functions in
//! their own modules); the effects (the policy file, the registry, temporary files, the engine
//! process, the log, the outputs) happen here, in this order.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::build_push::{self, Derived};
use crate::cache::decision::{self, Decision};
use crate::cache::entries::CacheEntry;
use crate::cache::export::{self, AfterBuild, ExportPlan, Untouched};
use crate::cache::policy_file;
use crate::cache::settings::{self, PolicySettings};
use crate::config::Engine;
use crate::config::{self, Config, SecretSource};
use crate::engine::Finished;
use crate::error::Error;
use crate::inputs::RawInputs;
use crate::plan::{self, CacheEntries, RunFiles};
use crate::platform::{Env, Level, Log, Platform, gitlab};
use crate::probe::{self, Selection};
use crate::registry::{CacheLayout, Registry};
use crate::report::{OutputFormat, Report};
use crate::stats::{ImportOutcome, Location};

use super::{Context, records, write_output};

/// Everything before the engine: the validated config, the decision and the probed refs.
pub struct Prepared {
    pub config: Config,
    pub settings: PolicySettings,
    pub decision: Decision,
    pub selection: Selection,
    /// The `--cache-from` / `--cache-to` entries the engine gets: the selected refs, then the
    /// user's own entries.
    pub cache_entries: CacheEntries,
}

impl Prepared {
    pub(super) fn new(
        config: Config,
        settings: PolicySettings,
        decision: Decision,
        selection: Selection,
    ) -> Self {
        let cache_entries = plan::cache_entries(&config, &selection.refs);
        Prepared {
            config,
            settings,
            decision,
            selection,
            cache_entries,
        }
    }
}

/// What the chain is prepared for: a build (the engine checked first, the registry asked,
/// GitLab's login written) or `regcache plan` (nothing started; the registry asked only with
/// `--probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Build,
    Plan { probe: bool },
}

impl Purpose {
    fn probes(self) -> bool {
        matches!(self, Purpose::Build | Purpose::Plan { probe: true })
    }
}

/// inputs → config → decision → probe. Bad inputs stop here, before anything ran.
pub fn prepare<W: Write>(
    ctx: &Context,
    raw: &RawInputs,
    purpose: Purpose,
    log: &mut Log<W>,
) -> Result<Prepared, Error> {
    let config = config::validate(raw)?;
    // A build needs its engine: checked before anything is asked or printed.
    if purpose == Purpose::Build {
        config.engine.preflight(&config, &ctx.env)?;
    }
    let file = policy_file::load(
        &config.policy.file,
        config.policy.file_required,
        &ctx.workspace(),
    )?;
    let settings = settings::settings(
        &config.policy,
        file.as_ref(),
        config.build.target.as_deref(),
        &config.build.platforms,
        config.pinned_tag.as_deref(),
    );
    let Some(repository) = &config.cache_repository else {
        log.annotate(
            Level::Warning,
            "no registry cache",
            "neither cache-ref nor tags name a repository, so this build runs without a registry cache; set cache-ref (e.g. ghcr.io/owner/app) to keep one",
            None,
        )?;
        let decision = Decision::nothing("no cache repository");
        return Ok(Prepared::new(
            config,
            settings,
            decision,
            Selection::default(),
        ));
    };
    if ctx.platform == Platform::GitLab && purpose == Purpose::Build {
        gitlab_login(&ctx.env, log)?;
    }
    let event = ctx.platform.event(&ctx.env, &ctx.payload, log)?;
    let decision = decision::decide(&event, &settings);
    plan::check_cache_tags(&config, &decision)?;
    let chain = probe::Chain::of(&decision, config.engine, repository);
    let selection =
        ask_registry(ctx, &config, chain, purpose.probes(), log)?.with_reasons(&decision.why);
    Ok(Prepared::new(config, settings, decision, selection))
}

/// The chain probed (when `probe`), with what was asked in debug mode and the warnings.
fn ask_registry<W: Write>(
    ctx: &Context,
    config: &Config,
    chain: probe::Chain,
    probe: bool,
    log: &mut Log<W>,
) -> Result<Selection, Error> {
    let started = Instant::now();
    let registry = Registry::new(&ctx.env);
    let selection = probe::ask(
        probe.then_some(&registry),
        chain,
        config.engine.cache_layout(),
        config.cache.ignore_error,
    )?;
    if probe {
        log.debug(&format!(
            "probe: {} ref(s) asked in {:.1} ms: {}",
            selection.candidates.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            selection
                .candidates
                .iter()
                .map(probe::Candidate::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
    }
    for warning in &selection.warnings {
        log.annotate(Level::Warning, warning.title, &warning.message, None)?;
    }
    Ok(selection)
}

/// GitLab's job credentials for its registry, written as a docker config when the job has
/// none (as GitLab's docs have jobs run `docker login`), so that buildx, buildah and regcache's
/// own registry client all find them. An existing config is never touched.
pub(super) fn gitlab_login<W: Write>(env: &Env, log: &mut Log<W>) -> Result<(), Error> {
    let Some(login) = gitlab::login(env) else {
        return Ok(());
    };
    let Some(dir) = env.docker_config_dir() else {
        return Ok(());
    };
    let path = dir.join("config.json");
    if path.exists() {
        return Ok(());
    }
    fs::create_dir_all(&dir).map_err(Error::file("creating the docker config directory", &dir))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(Error::file("writing the docker config", &path))?;
    file.write_all(gitlab::docker_config(&login).as_bytes())
        .map_err(Error::file("writing the docker config", &path))?;
    log.line(&format!(
        "regcache: logged in to {} as {} (CI_REGISTRY_USER), written to {}",
        login.registry,
        login.user,
        path.display()
    ))?;
    Ok(())
}

/// The whole build: prepare, plan, run the engine, report; then the outputs go where the
/// platform and `output` say. A failed build is `Error::BuildFailed`, after its report.
pub fn build<W: Write>(
    ctx: &Context,
    raw: &RawInputs,
    output: Option<(OutputFormat, Option<&Path>)>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    // `prepare` checks the engine (preflight) before anything is asked or printed.
    let prepared = prepare(ctx, raw, Purpose::Build, log)?;
    let report = execute(ctx, &prepared, log)?;
    publish(
        ctx,
        &Published {
            outputs: report.outputs(),
            summary_markdown: report.summary_markdown(),
            summary_for_log: report.summary_for_log(),
            render: &|format| report.render(format),
            succeeded: report.succeeded,
        },
        output,
        log,
    )
}

/// What a run hands to where its outputs go.
pub(super) struct Published<'a> {
    pub outputs: Vec<(&'static str, String)>,
    pub summary_markdown: String,
    pub summary_for_log: String,
    pub render: &'a dyn Fn(OutputFormat) -> Result<String, Error>,
    pub succeeded: bool,
}

/// The outputs where the platform and `output` say: GitHub's step outputs and job summary;
/// on GitLab the summary in the log and the outputs as a dotenv report and a JSON artifact.
/// A failed run is `Error::BuildFailed`, after its outputs.
pub(super) fn publish<W: Write>(
    ctx: &Context,
    published: &Published<'_>,
    output: Option<(OutputFormat, Option<&Path>)>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    if ctx.platform == Platform::GitLab {
        // GitLab has no step outputs or job summary: the summary goes to the log, the
        // outputs to a dotenv report and a JSON artifact.
        log.start_group("Cache summary")?;
        for line in published.summary_for_log.lines() {
            log.line(line)?;
        }
        log.end_group()?;
        // The job's working directory, where `artifacts:` paths start on a runner (the
        // project directory unless the script changed directory).
        let dir = PathBuf::from(".");
        write_output(
            &(published.render)(OutputFormat::Dotenv)?,
            Some(&dir.join(gitlab::DOTENV_FILE)),
        )?;
        write_output(
            &(published.render)(OutputFormat::Json)?,
            Some(&dir.join(gitlab::JSON_FILE)),
        )?;
    }
    log.flush()?;
    // build-push-action's switch: `DOCKER_BUILD_SUMMARY=false` turns the summary off.
    let summary = ctx
        .env
        .get("DOCKER_BUILD_SUMMARY")
        .and_then(build_push::parse_bool)
        .unwrap_or(true);
    ctx.platform.publish_outputs(
        &published.outputs,
        summary.then_some(published.summary_markdown.as_str()),
        &ctx.env,
    )?;
    if let Some((format, file)) = output {
        write_output(&(published.render)(format)?, file)?;
    }
    if published.succeeded {
        Ok(())
    } else {
        Err(Error::BuildFailed)
    }
}

/// plan → engine → stats → report, with the temporary files the engine needs.
fn execute<W: Write>(
    ctx: &Context,
    prepared: &Prepared,
    log: &mut Log<W>,
) -> Result<Report, Error> {
    let config = &prepared.config;
    let temp = super::run_temp(ctx)?;
    let engine = config.engine;
    let cache_entries = &prepared.cache_entries;
    let github_run = ctx
        .platform
        .github_run(&ctx.env, &ctx.payload)
        .filter(|_| engine == Engine::Buildx);
    // Asked only when an argument depends on it: buildx's Git context form, and whether
    // buildah reads more than one cache repository.
    let engine_version = match engine {
        Engine::Buildx => github_run
            .as_ref()
            .filter(|run| run.needs_buildx_version(&config.build))
            .and_then(|_| engine.version()),
        Engine::Buildah | Engine::Podman if cache_entries.from.len() > 1 => engine.version(),
        Engine::Buildah | Engine::Podman => None,
    };
    let derived = build_push::derive(&config.build, github_run.as_ref(), engine_version);
    let given = config
        .build
        .secrets
        .iter()
        .map(|s| (s.id.clone(), s.source.clone()));
    let files = RunFiles {
        metadata: temp.path().join("metadata.json"),
        iidfile: temp.path().join("iid"),
        secrets: secret_files(given.chain(derived.git_auth.clone()), temp.path(), log)?,
    };
    let dockerfile = dockerfile_path(
        config.build.file.as_deref(),
        &derived.context,
        &ctx.workspace(),
    );
    let before = config
        .build_record
        .then(|| {
            records::before(
                config.build.file.as_deref(),
                &derived.context,
                dockerfile.clone(),
            )
        })
        .flatten();
    let (export_plan, gathered_first) = plan_export(ctx, prepared, before.as_ref(), log)?;
    // A build that exports only if it misses runs without its own `--cache-to`.
    let build_entries = match &export_plan {
        ExportPlan::IfMissed { .. } => CacheEntries {
            from: cache_entries.from.clone(),
            to: Vec::new(),
        },
        ExportPlan::WithBuild { .. } => cache_entries.clone(),
    };
    let argv = engine.argv(config, &derived, &build_entries, &files, engine_version);
    announce(prepared, &derived, &argv, engine_version, &export_plan, log)?;
    // The context is hashed and the records read while the engine runs, unless the export's
    // plan needed them before.
    let gather_now = before.as_ref().filter(|_| gathered_first.is_none());
    let (finished, gathered) = std::thread::scope(|scope| {
        let gathering =
            gather_now.map(|b| scope.spawn(|| records::gather(ctx, &prepared.selection, b)));
        let finished = run_engine(config, &argv, &files, log);
        (
            finished,
            gathering.map(|g| g.join().expect("gathering never panics")),
        )
    });
    let mut finished = finished?;
    let gathered = gathered_first.or(gathered);
    let full_hit = finished.stats.cache_hit(finished.succeeded);
    let mut untouched = None;
    let mut export_metadata = None;
    let mut export_now = false;
    match export::after(&export_plan, finished.succeeded, full_hit) {
        AfterBuild::Nothing => {}
        AfterBuild::Keep => untouched = Some(Untouched::Kept),
        AfterBuild::Copy { from, manifest } => {
            match copy_source(ctx, prepared, &from, manifest.as_deref()) {
                Ok(()) => untouched = Some(Untouched::Copied { from }),
                Err(e) => {
                    log.annotate(
                        Level::Warning,
                        "cache not copied",
                        &format!("{e}; exporting the cache instead"),
                        None,
                    )?;
                    export_now = true;
                }
            }
        }
        AfterBuild::Export => {
            log.line(&format!(
                "regcache: {} of {} steps came from the cache, so this build's cache is exported now",
                finished.stats.cached_steps, finished.stats.total_steps
            ))?;
            export_now = true;
        }
    }
    // buildah and podman push only the steps they build: a full hit read from the repository
    // this build writes leaves it as it was.
    if untouched.is_none()
        && engine.cache_layout() == CacheLayout::Repository
        && full_hit
        && finished.stats.exports.is_empty()
        && prepared.selection.refs.write.is_some()
        && prepared.selection.source() == prepared.selection.refs.write.as_deref()
    {
        untouched = Some(Untouched::Kept);
    }
    if export_now {
        export_metadata = export_after(
            config,
            &derived,
            cache_entries,
            &files,
            temp.path(),
            &mut finished,
            log,
        )?;
    }
    let mut report = report_of(ctx, prepared, &finished, &files, untouched, log)?;
    if let (Some(exported), Some(Value::Object(metadata))) = (export_metadata, &mut report.metadata)
    {
        metadata.insert(CACHE_MANIFEST.to_owned(), exported);
    }
    if let (Some(before), Some(gathered)) = (&before, gathered) {
        records::finish(ctx, config, &finished, &mut report, before, gathered, log)?;
    }
    explain(&report, &finished, dockerfile.as_deref(), log)?;
    log.line(&report.headline())?;
    Ok(report)
}

/// The engine run with its progress streamed to the log as untrusted text (the build log stays
/// open, as build-push-action leaves it).
fn run_engine<W: Write>(
    config: &Config,
    argv: &[String],
    files: &RunFiles,
    log: &mut Log<W>,
) -> Result<Finished, Error> {
    streamed(log, |line| config.engine.run(config, argv, files, line))
}

/// `run` with every line it shows sent to the log as untrusted text; the first failure to
/// write the log wins over the run's result.
pub(super) fn streamed<W: Write, T>(
    log: &mut Log<W>,
    run: impl FnOnce(&mut dyn FnMut(&str)) -> Result<T, Error>,
) -> Result<T, Error> {
    log.start_untrusted()?;
    let mut log_error = None;
    let result = run(&mut |line| {
        if log_error.is_none() {
            log_error = log.line(line).err();
        }
    });
    log.end_untrusted()?;
    match log_error {
        Some(e) => Err(Error::Log(e)),
        None => result,
    }
}

/// The key of buildx's metadata that names the cache manifest an export wrote.
const CACHE_MANIFEST: &str = "cache.manifest";

/// Whether this build exports with its cache-to or only if it misses (`cache::export`): the
/// records of the caches it reads and its context hashed first, then the builder asked
/// whether it holds results of its own. What was gathered is kept for the build's record.
fn plan_export<W: Write>(
    ctx: &Context,
    prepared: &Prepared,
    before: Option<&records::Before>,
    log: &mut Log<W>,
) -> Result<(ExportPlan, Option<records::Gathered>), Error> {
    let config = &prepared.config;
    let selection = &prepared.selection;
    let (Some(write), Some(before)) = (selection.refs.write.as_deref(), before) else {
        let why = "no build record to compare with (build-record is false, a remote context or no cache written)";
        return Ok((ExportPlan::WithBuild { why: why.into() }, None));
    };
    if config.engine.cache_layout() != CacheLayout::Tag || selection.refs.read.is_empty() {
        let why = "nothing read to keep";
        return Ok((ExportPlan::WithBuild { why: why.into() }, None));
    }
    let gathered = records::gather(ctx, selection, before);
    let planned = records::planned(config, before, &gathered);
    let export_form = CacheEntry::stored_form(&config.cache);
    let asked = export::Asked {
        write,
        planned: &planned,
        export: &export_form,
        must_export: must_export(config),
    };
    let mut plan = export::plan(&asked, &gathered.stored(selection));
    if matches!(plan, ExportPlan::IfMissed { .. }) {
        let started = Instant::now();
        let records = config
            .engine
            .builder_records(config.build.builder.as_deref(), &ctx.env);
        log.debug(&format!(
            "builder: {records:?} cache record(s), asked in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ))?;
        plan = export::confirm(plan, records);
    }
    if let ExportPlan::WithBuild { why } = &plan {
        log.debug(&format!("export with the build: {why}"))?;
    }
    Ok((plan, Some(gathered)))
}

/// Why this build must export with its cache-to whatever it reads, if it must: inputs that ask
/// for an export, or that change what the build does beyond what a record compares.
fn must_export(config: &Config) -> Option<String> {
    let b = &config.build;
    [
        (
            !config.extra_cache_to.is_empty(),
            "cache-to entries are given as inputs",
        ),
        (b.no_cache, "no-cache is set"),
        (!b.no_cache_filters.is_empty(), "no-cache-filters is set"),
        (!b.extra_args.is_empty(), "buildx-args are given"),
    ]
    .iter()
    .find(|(applies, _)| *applies)
    .map(|(_, why)| (*why).to_owned())
}

/// The written tag given the manifest its source held when its record was read.
fn copy_source(
    ctx: &Context,
    prepared: &Prepared,
    from: &str,
    manifest: Option<&str>,
) -> Result<(), Error> {
    let write = prepared.selection.refs.write.as_deref().unwrap_or_default();
    let manifest = manifest.ok_or_else(|| Error::Registry {
        reference: from.to_owned(),
        message: "its manifest digest was not read".into(),
    })?;
    Registry::new(&ctx.env).copy_tag(from, manifest, write)
}

/// The cache exported after a build that ran without `--cache-to` and missed a step: a second
/// solve of the same build, every step local by now, that writes only the cache. Its export
/// statistics and result join the build's; the manifest it wrote (buildx's metadata) is
/// returned for the record's subject.
fn export_after<W: Write>(
    config: &Config,
    derived: &Derived,
    cache_entries: &CacheEntries,
    files: &RunFiles,
    temp: &Path,
    finished: &mut Finished,
    log: &mut Log<W>,
) -> Result<Option<Value>, Error> {
    let files = RunFiles {
        metadata: temp.join("export-metadata.json"),
        ..files.clone()
    };
    let Some(argv) = config
        .engine
        .export_argv(config, derived, cache_entries, &files)
    else {
        return Ok(None);
    };
    log.debug(&format!(
        "argv: {} {}",
        config.engine.program(),
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
    ))?;
    let export = run_engine(config, &argv, &files, log)?;
    finished.stats.exports = export.stats.exports;
    finished.stats.export_seconds = export.stats.export_seconds;
    finished.seconds += export.seconds;
    if !export.succeeded {
        finished.succeeded = false;
        finished.setup_problem = export.setup_problem;
        finished.last_text = export.last_text;
        finished.stats.final_error = export.stats.final_error;
    }
    Ok(fs::read(&files.metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|mut m| m.get_mut(CACHE_MANIFEST).map(Value::take)))
}

/// Each secret as the engine takes it: a value is written to a 0600 file in `dir` (and masked
/// in the log), a file or a variable passes as it is.
fn secret_files<W: Write>(
    secrets: impl Iterator<Item = (String, SecretSource)>,
    dir: &Path,
    log: &mut Log<W>,
) -> Result<Vec<(String, SecretSource)>, Error> {
    let mut files = Vec::new();
    for (i, (id, source)) in secrets.enumerate() {
        let source = match source {
            SecretSource::Value(value) => {
                log.mask(&value)?;
                let path = dir.join(format!("secret-{i}"));
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
            other => other,
        };
        files.push((id, source));
    }
    Ok(files)
}

/// The setup and the cache decision, each in its own group, before the build's own log.
fn announce<W: Write>(
    prepared: &Prepared,
    derived: &Derived,
    argv: &[String],
    engine_version: Option<(u64, u64)>,
    export_plan: &ExportPlan,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let config = &prepared.config;
    let engine = config.engine;
    log.start_group("regcache setup")?;
    describe_setup(config, derived, log)?;
    log.debug(&format!(
        "argv: {} {}",
        engine.program(),
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
    ))?;
    log.end_group()?;
    log.start_group("Cache decision")?;
    describe_decision(prepared, log)?;
    // buildah before 1.29 takes one `--cache-from`: the chain is cut to its first ref.
    let cache_entries = &prepared.cache_entries;
    let passed = argv.iter().filter(|a| *a == "--cache-from").count();
    if let (Some(first), Some((major, minor))) = (
        cache_entries.from.first().and_then(|e| e.get("ref")),
        engine_version.filter(|_| passed < cache_entries.from.len()),
    ) {
        // The version is the build code's: buildah's own, or the buildah podman vendors
        // (`engine::buildah::version`).
        let reader = match engine {
            Engine::Podman => format!(
                "podman's build code (buildah {major}.{minor}) reads one cache repository (podman 4.4 and later read several)"
            ),
            _ => format!(
                "{} {major}.{minor} reads one cache repository (1.29 and later read several)",
                engine.program()
            ),
        };
        log.line(&format!("regcache: {reader}: reading {first}"))?;
    }
    if let ExportPlan::IfMissed { from, copy, .. } = export_plan {
        log.line(&format!(
            "regcache: exporting only if a step misses: {from} holds every step of this build, as its build record says{}",
            if *copy { " (a full hit copies its manifest to the tag this build writes)" } else { " (a full hit leaves it as it is)" }
        ))?;
    }
    Ok(log.end_group()?)
}

/// What the build did, from its statistics, the files the engine wrote and the cache it
/// exported, read back.
fn report_of<W: Write>(
    ctx: &Context,
    prepared: &Prepared,
    finished: &Finished,
    files: &RunFiles,
    untouched: Option<Untouched>,
    log: &mut Log<W>,
) -> Result<Report, Error> {
    let config = &prepared.config;
    let metadata = fs::read(&files.metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let image_id = fs::read_to_string(&files.iidfile)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    // What the registry now holds under the written tag: its size against BuildKit's import
    // limit (a cache over it exports fine and is never imported). One manifest read, after the
    // build; a failure only loses the numbers. buildah's cache is a repository of step layers,
    // with no one manifest to size.
    let written = prepared.selection.refs.write.as_ref().filter(|_| {
        (finished.stats.cache_exported() || untouched.is_some())
            && config.engine.cache_layout() == CacheLayout::Tag
    });
    let exported_cache = match written {
        Some(written) => match Registry::new(&ctx.env).stored_size(written) {
            Ok(info) => Some(info),
            Err(e) => {
                log.debug(&format!("reading the exported cache back: {e}"))?;
                None
            }
        },
        None => None,
    };
    Ok(Report {
        image: crate::report::image_name(&config.build.tags, config.build.target.as_deref()),
        stats: finished.stats.clone(),
        selection: prepared.selection.clone(),
        build_seconds: Some(finished.seconds),
        succeeded: finished.succeeded,
        image_id,
        metadata,
        exported_cache,
        passed_refs: Some(
            prepared
                .cache_entries
                .from
                .iter()
                .filter_map(|e| e.get("ref"))
                .map(str::to_owned)
                .collect(),
        ),
        explanation: None,
        dockerfile: String::new(),
        history: Vec::new(),
        stage_order: Vec::new(),
        record_note: None,
        untouched,
    })
}

/// What is built, with what: the lines a reader of the log checks first.
fn describe_setup<W: Write>(
    config: &Config,
    derived: &Derived,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let b = &config.build;
    log.line(&format!("regcache {}", env!("CARGO_PKG_VERSION")))?;
    log.line(&format!("context: {}", derived.context))?;
    if let Some(file) = &b.file {
        log.line(&format!("file: {file}"))?;
    }
    log.line(&format!(
        "image: {}",
        crate::report::image_name(&b.tags, b.target.as_deref())
    ))?;
    if let Some(builder) = &b.builder {
        log.line(&format!("builder: {builder}"))?;
    }
    for attest in &derived.attests {
        log.line(&format!("attest: {attest}"))?;
    }
    Ok(())
}

/// What the build reads and writes, and why, before it starts.
pub(super) fn describe_decision<W: Write>(
    prepared: &Prepared,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let c = &prepared.config.cache;
    log.line(&format!(
        "regcache: cache-policy {} ({})",
        prepared.settings.kind, prepared.decision.reason
    ))?;
    // The chain in order with why each ref is in it, then the user's own entries.
    let config = &prepared.config;
    let mut reading: Vec<String> = prepared
        .selection
        .candidates
        .iter()
        .map(probe::Candidate::describe)
        .collect();
    reading.extend(
        config
            .extra_cache_from
            .iter()
            .map(|e| format!("{} (cache-from input)", e.to_csv())),
    );
    let mut writing: Vec<String> = prepared
        .selection
        .refs
        .write
        .iter()
        .map(|write| {
            if config.engine.cache_layout() == CacheLayout::Repository {
                format!(
                    "{write} (a tag per step's layer, ignore-error={})",
                    c.ignore_error
                )
            } else {
                format!(
                    "{write} (mode={}, compression={}, image-manifest={}, ignore-error={})",
                    c.mode, c.compression, c.image_manifest, c.ignore_error
                )
            }
        })
        .collect();
    writing.extend(
        config
            .extra_cache_to
            .iter()
            .map(|e| format!("{} (cache-to input)", e.to_csv())),
    );
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "nothing".to_owned()
        } else {
            items.join(", ")
        }
    };
    log.line(&format!("regcache: reading {}", list(reading)))?;
    log.line(&format!("regcache: writing {}", list(writing)))?;
    Ok(())
}

/// Warnings and errors a person should see without reading the whole log.
fn explain<W: Write>(
    report: &Report,
    finished: &Finished,
    dockerfile: Option<&str>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    cache_warnings(report, log)?;
    if report.succeeded {
        return Ok(());
    }
    if let Some(fix) = &finished.setup_problem {
        return Ok(log.annotate(Level::Error, "build setup", fix, None)?);
    }
    failure(report, finished.last_text.as_deref(), dockerfile, log)
}

/// What the cache did that a person should hear of: refs that could not be imported, an
/// export that failed, a cache too large to import.
pub(super) fn cache_warnings<W: Write>(report: &Report, log: &mut Log<W>) -> Result<(), Error> {
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
    for warning in report.exported_cache.iter().flat_map(|c| &c.warnings) {
        log.annotate(Level::Warning, "cache too large to import", warning, None)?;
    }
    Ok(())
}

/// The failed step annotated at its line, else the build's last error.
fn failure<W: Write>(
    report: &Report,
    last_text: Option<&str>,
    dockerfile: Option<&str>,
    log: &mut Log<W>,
) -> Result<(), Error> {
    let s = &report.stats;
    // BuildKit names the Dockerfile by its base name; the annotation needs its path in the
    // repository to attach to the file in a pull request's diff.
    let location = s.error_location.as_ref().map(|l| match dockerfile {
        Some(path) if Path::new(path).file_name() == Some(l.file.as_ref()) => Location {
            file: path.to_owned(),
            line: l.line,
        },
        _ => l.clone(),
    });
    let location = location.as_ref();
    match &s.failed_step {
        Some(step) => log.annotate(Level::Error, &step.name, &step.error, location)?,
        None if s.exports.iter().any(|e| !e.ok) => {}
        None => {
            let message = s
                .final_error
                .clone()
                .or_else(|| last_text.map(str::to_owned))
                .unwrap_or_else(|| "the build failed".into());
            log.annotate(Level::Error, "build failed", &message, location)?
        }
    }
    Ok(())
}

/// The Dockerfile's path relative to the workspace: `file` as given (buildx reads it from the
/// working directory, the workspace), else `<context>/Dockerfile`; None for a remote context.
fn dockerfile_path(file: Option<&str>, context: &str, workspace: &Path) -> Option<String> {
    let path = match file {
        Some(file) => PathBuf::from(file),
        None if context.contains("://") || context.starts_with("git@") || context == "-" => {
            return None;
        }
        None => Path::new(context).join("Dockerfile"),
    };
    let path = path.strip_prefix(workspace).unwrap_or(&path);
    let parts: Vec<String> = path
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_ask_for_an_export_are_named() {
        let reason = |inputs: &[(&str, &str)]| {
            let mut raw = crate::inputs::RawInputs::default();
            raw.set("tags", "r/app:dev");
            for (k, v) in inputs {
                raw.set(k, *v);
            }
            must_export(&config::validate(&raw).unwrap())
        };
        assert_eq!(reason(&[]), None);
        assert_eq!(
            reason(&[("no-cache", "true")]).as_deref(),
            Some("no-cache is set")
        );
        assert_eq!(
            reason(&[("no-cache-filters", "build")]).as_deref(),
            Some("no-cache-filters is set")
        );
        assert_eq!(
            reason(&[("cache-to", "type=registry,ref=r/app:other")]).as_deref(),
            Some("cache-to entries are given as inputs")
        );
        assert_eq!(
            reason(&[("buildx-args", "--sbom=true")]).as_deref(),
            Some("buildx-args are given")
        );
    }

    #[test]
    fn the_dockerfile_is_named_by_its_path_in_the_workspace() {
        let ws = Path::new("/home/runner/work/app/app");
        assert_eq!(
            dockerfile_path(None, "./services/api", ws).as_deref(),
            Some("services/api/Dockerfile")
        );
        assert_eq!(
            dockerfile_path(None, ".", ws).as_deref(),
            Some("Dockerfile")
        );
        assert_eq!(
            dockerfile_path(
                Some("/home/runner/work/app/app/docker/Dockerfile.ci"),
                ".",
                ws
            )
            .as_deref(),
            Some("docker/Dockerfile.ci")
        );
        assert_eq!(
            dockerfile_path(
                Some("./build/Dockerfile"),
                "https://github.com/o/r.git#main",
                ws
            )
            .as_deref(),
            Some("build/Dockerfile")
        );
        assert_eq!(
            dockerfile_path(None, "https://github.com/o/r.git#main", ws),
            None
        );
    }
}
