//! regcache: build container images with a BuildKit cache kept in the registry, and report
//! what the cache did.
//!
//! Data flows one way, chained in one place (`commands::build`): inputs → validated config →
//! decision → probe → plan → engine → stats → report.
//!
//! | room | job |
//! |---|---|
//! | `commands/` | a file per command (`build`, `bake`, `plan`, `stats`, `inspect`, `verify`, `prune`, `explain`, `history`): its orchestration and its rendering; `build` chains the stages, `records` does a build record's effects |
//! | `cli` | the command line: definition and parsing into an `Invocation` |
//! | `args` | the flags several commands share (`--insecure`, the result format) |
//! | `inputs` | the one table of inputs; raw values from flags or `INPUT_*` |
//! | `config` | validation into one typed `Config`, which engine included (pure) |
//! | `bake/` | `regcache bake`'s pure parts: the printed definition, bake-action's arguments with a cache per target, the report (pure) |
//! | `build_push` | what docker/build-push-action derives from the run (pure) |
//! | `cache/` | the cache's vocabulary: entries, settings and the policy file, the tag scheme (a record's tag too), the decision per event, whether an export would add anything (`export`), slugs (pure) |
//! | `probe` | which refs of the chain exist: the pure selection, and asking the registry |
//! | `plan` | the cache entries and the files the engine uses (pure) |
//! | `engine/` | the engine seam: argv, progress, statistics, setup diagnosis per engine |
//! | `record/` | the build record: this build's facts, why each step missed, the history as charts (pure); the context hashed |
//! | `dockerfile` | a Dockerfile's stages, instructions and steps, as BuildKit reads them (pure) |
//! | `stats` | engine-neutral statistics and what `cache-hit` means |
//! | `report` | the typed outputs, job summary, JSON and dotenv renderings (pure) |
//! | `prune/` | the request (flags beside their checks), the pure cleanup, the run, the outcome |
//! | `platform/` | the CI seam: GitHub, GitLab, local: events, log dialect, where outputs go |
//! | `registry/` | the registry client and its policy; the types it returns; cache inspection (pure) |
//! | `reference` | image refs and the default cache tag (pure) |
//! | `escape` | how outside text is shown at each sink: log lines, Markdown, code spans (pure) |
//! | `error` | the one error type, its exit codes, the input errors |
//! | `env` | the process environment, read once |
//! | `runtime` | the one async runtime and the request deadline |
//!
//! `main` parses, `dispatch` hands each invocation to its command, and `print_error` is the one
//! place an error is printed.

mod args;
mod bake;
mod build_push;
mod cache;
mod cli;
mod commands;
mod config;
mod dockerfile;
mod engine;
mod env;
mod error;
mod escape;
mod inputs;
mod plan;
mod platform;
mod probe;
mod prune;
mod record;
mod reference;
mod registry;
mod report;
mod runtime;
mod stats;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use env::Env;

use cli::Invocation;
use commands::Context;
use error::Error;
use inputs::RawInputs;
use platform::{Level, Log, Platform};
use report::OutputFormat;

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
    let to_stdout = matches!(
        invocation,
        Invocation::Build { .. }
            | Invocation::Action
            | Invocation::Bake { .. }
            | Invocation::BakeAction
    );
    let result = if to_stdout {
        dispatch(
            &ctx,
            invocation,
            &mut Log::new(ctx.platform, io::stdout().lock()).with_debug(&ctx.env),
        )
    } else {
        dispatch(
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

/// Where `--output-format` writes, as the commands take it.
fn output_to(
    output: &Option<(OutputFormat, Option<PathBuf>)>,
) -> Option<(OutputFormat, Option<&Path>)> {
    output.as_ref().map(|(f, p)| (*f, p.as_deref()))
}

/// Each invocation to its command.
fn dispatch<W: Write>(
    ctx: &Context,
    invocation: Invocation,
    log: &mut Log<W>,
) -> Result<(), Error> {
    match invocation {
        Invocation::Build { raw, output: o } => {
            commands::build::build(ctx, &raw, output_to(&o), log)
        }
        Invocation::Action => {
            commands::build::build(ctx, &RawInputs::from_github(&ctx.env), None, log)
        }
        Invocation::Bake { raw, output: o } => commands::bake::bake(ctx, &raw, output_to(&o), log),
        Invocation::BakeAction => {
            commands::bake::bake(ctx, &RawInputs::from_github_bake(&ctx.env), None, log)
        }
        Invocation::Plan(request) => commands::plan::plan(ctx, &request, log),
        Invocation::Stats { file, output: o } => commands::stats::stats(&file, output_to(&o)),
        Invocation::Prune(flags) => commands::prune::prune(ctx, &flags, log),
        Invocation::Inspect {
            reference,
            insecure,
        } => commands::inspect::inspect(ctx, &reference, insecure),
        Invocation::Verify(request) => commands::verify::verify(ctx, &request),
        Invocation::Explain(request) => commands::explain::explain(ctx, &request),
        Invocation::History {
            reference,
            insecure,
            format,
        } => commands::history::history(ctx, &reference, insecure, format),
    }
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

/// What the integration tests reach inside, besides the binary they run: the pure parts they
/// check directly (the input table against `action.yml`, the event mapping against payload
/// fixtures, the tag scheme against a real registry). Not an API.
#[doc(hidden)]
pub mod internals {
    pub use crate::cache::decision::{CiEvent, Merged, Trigger, decide};
    pub use crate::cache::policy_file::parse as parse_policy_file;
    pub use crate::cache::settings::{PolicySettings, settings};
    pub use crate::cache::slug::slug;
    pub use crate::cache::tags::{Key, RequestKind, tag};
    pub use crate::cli::{bake_raw_from_matches, command, raw_from_matches};
    pub use crate::config::{Config, Engine, validate, validate_bake};
    pub use crate::inputs::{INPUTS, InputSpec, RawInputs, bake_inputs, github_env_name};
    pub use crate::platform::{github, gitlab};
    pub use crate::prune::Outcome;
    pub use crate::registry::{CacheInfo, Registry, Subject};
    pub use crate::report::Output;
    pub use crate::stats::{BuildStats, ImportOutcome};
}
