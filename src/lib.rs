//! regcache: build container images with a BuildKit cache kept in the registry, and report
//! what the cache did.
//!
//! Data flows one way, chained in one place (`pipeline`): inputs → validated config →
//! decision → probe → plan → engine → stats → report.
//!
//! | room | job |
//! |---|---|
//! | `cli` | the command line: definition and parsing |
//! | `inputs` | the one table of inputs; raw values from flags or `INPUT_*` |
//! | `config` | validation into one typed `Config` (pure) |
//! | `cache_options` | the `--cache-from`/`--cache-to` grammar (pure) |
//! | `reference` | image refs and the default cache tag (pure) |
//! | `policy_file` | the repository policy file (pure parse, bounded read) |
//! | `policy` | settings, the tag scheme (both ways) and the ref decision per event (pure) |
//! | `slug` | branch names as tag parts (pure) |
//! | `probe` | which refs exist: the pure selection and the registry wrapper |
//! | `prune` | which cache tags are stale and which manifests may go (pure) |
//! | `plan` | cache entries and the files the engine uses (pure) |
//! | `engine` | the engine seam: argv, progress, statistics, setup diagnosis per engine |
//! | `stats` | engine-neutral statistics and what `cache-hit` means |
//! | `report` | step outputs, job summary, JSON and dotenv renderings (pure) |
//! | `registry` | the registry client: one runtime, one auth path; cache inspection |
//! | `platform` | the CI seam: GitHub, GitLab, local: events, log dialect, outputs |
//! | `pipeline` | the stages chained, effects at the edge |
//! | `error` | the one error type and its exit codes |
//! | `escape` | how outside text is shown at each sink: log lines, Markdown, code spans (pure) |

pub mod build_push;
pub mod cache;
pub mod cli;
pub mod config;
mod engine;
mod error;
mod escape;
pub mod inputs;
mod pipeline;
mod plan;
pub mod platform;
mod probe;
mod prune;
pub mod reference;
pub mod registry;
pub mod report;
mod runtime;
pub mod stats;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

pub use config::Engine;
pub use error::Error;

use cli::Invocation;
use inputs::RawInputs;
use pipeline::Context;
use platform::{Env, Level, Log, Platform};

/// The process: parse, run, and print an error in one place, with its exit code.
pub fn main(args: Vec<OsString>, env: Env) -> ExitCode {
    let invocation = match cli::parse(args) {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                error::EXIT_INVALID
            } else {
                0
            });
        }
    };
    let ctx = Context::new(env);
    // Build logs (and GitHub's workflow commands) go to stdout; the other commands keep
    // stdout for their result and log to stderr.
    let to_stdout = matches!(invocation, Invocation::Build { .. } | Invocation::Action);
    let result = if to_stdout {
        run(
            &ctx,
            invocation,
            &mut Log::new(ctx.platform, io::stdout().lock()).with_debug(&ctx.env),
        )
    } else {
        run(
            &ctx,
            invocation,
            &mut Log::new(ctx.platform, io::stderr().lock()).with_debug(&ctx.env),
        )
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let platform = if to_stdout {
                ctx.platform
            } else {
                Platform::Local
            };
            print_error(&error, platform, to_stdout);
            ExitCode::from(error.exit_code())
        }
    }
}

fn run<W: Write>(ctx: &Context, invocation: Invocation, log: &mut Log<W>) -> Result<(), Error> {
    match invocation {
        Invocation::Build { raw, output } => pipeline::build(
            ctx,
            &raw,
            output.as_ref().map(|(f, p)| (*f, p.as_deref())),
            log,
        ),
        Invocation::Action => pipeline::build(ctx, &RawInputs::from_github(&ctx.env), None, log),
        Invocation::Plan {
            raw,
            format,
            bake_target,
            probe,
        } => {
            let prepared = pipeline::prepare(ctx, &raw, probe, false, log)?;
            let text = cli::plan_text(&prepared, &format, bake_target.as_deref());
            Ok(io::stdout().write_all(text.as_bytes())?)
        }
        Invocation::Stats { file, output } => {
            let report = pipeline::stats_of_log(&file)?;
            pipeline::write_stats(&report, output.as_ref().map(|(f, p)| (*f, p.as_deref())))
        }
        Invocation::Prune(flags) => prune(ctx, &flags, log),
        Invocation::Inspect {
            reference,
            insecure,
        } => {
            let info = registry_for(ctx, &reference, insecure).inspect(&reference)?;
            let text = format!(
                "{:#}\n",
                serde_json::to_value(&info).expect("cache info serialises")
            );
            Ok(io::stdout().write_all(text.as_bytes())?)
        }
        Invocation::Verify {
            reference,
            deep,
            insecure,
            json,
        } => {
            let verification = registry_for(ctx, &reference, insecure).verify(&reference, deep)?;
            let text = if json {
                format!(
                    "{:#}\n",
                    serde_json::to_value(&verification).expect("the verification serialises")
                )
            } else {
                verification.human()
            };
            io::stdout().write_all(text.as_bytes())?;
            match verification.problem() {
                Some(problem) => Err(Error::Registry {
                    reference,
                    message: problem,
                }),
                None => Ok(()),
            }
        }
    }
}

/// The registry client, with plain HTTP for the reference's host when the user asks.
fn registry_for<'e>(ctx: &'e Context, text: &str, insecure: bool) -> registry::Registry<'e> {
    let registry = registry::Registry::new(&ctx.env);
    match reference::parse(text) {
        Ok(parsed) if insecure => registry.with_insecure(parsed.registry()),
        _ => registry,
    }
}

/// `regcache prune`: check the flags, ask GitHub what is live when told to, then prune.
fn prune<W: Write>(ctx: &Context, flags: &cli::PruneFlags, log: &mut Log<W>) -> Result<(), Error> {
    let env = &ctx.env;
    let around = prune::Surroundings {
        default_branch: ctx
            .payload
            .default_branch()
            .or(env.get("CI_DEFAULT_BRANCH"))
            .map(str::to_owned),
        github_repository: env.get("GITHUB_REPOSITORY").map(str::to_owned),
        github_token: platform::github::token(env).map(str::to_owned),
        github_api_url: env
            .get("GITHUB_API_URL")
            .unwrap_or("https://api.github.com")
            .to_owned(),
        password: env.get("REGCACHE_PASSWORD").map(str::to_owned),
        now: None,
    };
    let mut request = prune::Request::check(flags, &around)?;
    if let Some((_, password)) = &request.credentials {
        log.mask(password)?;
    }
    if let Some(repository) = &request.live_from_github {
        let live = platform::github_api::live_refs(env, repository).map_err(|e| {
            Error::GitHubApi(format!(
                "{e}; nothing was deleted. The token needs contents: read and pull-requests: read"
            ))
        })?;
        // What the flags say stands; GitHub fills in the rest.
        if flags.default_branch.is_none() && request.live.default_branch.is_empty() {
            request.live.default_branch = live.default_branch;
        }
        request.live.branches.get_or_insert(live.branches);
        request.live.requests.get_or_insert(live.open_requests);
    }
    let outcome = registry_for(ctx, &request.repository, request.insecure).prune(
        &request.repository,
        &request.backend,
        &request.live,
        request.delete,
        request.credentials.clone(),
    )?;
    let text = if request.json {
        format!(
            "{:#}\n",
            serde_json::to_value(&outcome).expect("the outcome serialises")
        )
    } else {
        outcome.human()
    };
    io::stdout().write_all(text.as_bytes())?;
    ctx.platform
        .publish_outputs(&outcome.outputs(), Some(&outcome.summary_markdown()), env)?;
    if let Some(why) = &outcome.blocked {
        return Err(Error::PruneIncomplete(why.clone()));
    }
    if !outcome.failed.is_empty() {
        return Err(Error::PruneIncomplete(format!(
            "{} deletions failed (listed above); the rest of the plan was carried out",
            outcome.failed.len()
        )));
    }
    Ok(())
}

/// The one place errors are printed: as annotations in the platform's dialect, one per line
/// of the error (one per bad input).
fn print_error(error: &Error, platform: Platform, to_stdout: bool) {
    let lines = error.lines();
    let print = |out: &mut dyn Write| {
        let mut log = Log::new(platform, out);
        for (title, message) in &lines {
            let _ = log.annotate(Level::Error, title, message, None);
        }
    };
    if to_stdout {
        print(&mut io::stdout().lock());
    } else {
        print(&mut io::stderr().lock());
    }
}
