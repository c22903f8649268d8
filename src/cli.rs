//! The command line. `build`'s flags are generated from the input table, so the CLI and the
//! action accept the same names and values; `action` reads the same inputs from `INPUT_*`.

use std::ffi::OsString;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::cache_options::CacheEntry;
use crate::config;
use crate::inputs::{INPUTS, Kind, RawInputs};
use crate::platform::{Env, Level, Log, Platform};
use crate::progress;
use crate::registry;
use crate::run::{self, OutputFormat, RunContext};
use crate::stats;

/// Exit codes: 1 the build (or the engine) failed, 2 the inputs are invalid and nothing ran.
const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;

fn output_args(command: Command) -> Command {
    command
        .arg(
            Arg::new("output-format")
                .long("output-format")
                .value_parser(value_parser!(OutputFormat))
                .help("Also write the outputs as JSON or dotenv (GitLab `artifacts: reports: dotenv`)"),
        )
        .arg(
            Arg::new("output-file")
                .long("output-file")
                .value_parser(value_parser!(PathBuf))
                .requires("output-format")
                .help("Where --output-format writes (default: stdout)"),
        )
}

fn build_command() -> Command {
    let mut command = Command::new("build")
        .about("Build an image with a registry cache and report what the cache did");
    for spec in INPUTS {
        let mut arg = Arg::new(spec.name).help(spec.description);
        arg = if spec.name == "context" {
            arg.default_value(spec.default).value_name("CONTEXT")
        } else {
            arg.long(spec.name)
        };
        if let Some(short) = spec.short {
            arg = arg.short(short);
        }
        if let Some(alias) = spec.alias {
            arg = arg.visible_alias(alias);
        }
        arg = match spec.kind {
            Kind::Bool => arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL"),
            Kind::Lines | Kind::CommaLines => arg.action(ArgAction::Append),
            Kind::Text => arg,
        };
        command = command.arg(arg);
    }
    output_args(command).arg(
        Arg::new("passthrough")
            .num_args(1..)
            .last(true)
            .allow_hyphen_values(true)
            .value_name("BUILDX_ARGS")
            .help("Further `docker buildx build` arguments after `--`"),
    )
}

pub fn command() -> Command {
    Command::new("regcache")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Build container images with a BuildKit cache kept in your registry")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(build_command())
        .subcommand(
            build_command()
                .name("plan")
                .about("Print the cache refs and flags a build would use, without building")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["human", "json", "bake"])
                        .default_value("human")
                        .help("human, JSON, or a buildx bake file fragment (JSON)"),
                )
                .arg(
                    Arg::new("bake-target")
                        .long("bake-target")
                        .help("The bake target the fragment is for (default: `default`)"),
                )
                .arg(
                    Arg::new("probe")
                        .long("probe")
                        .action(ArgAction::SetTrue)
                        .help("Ask the registry which refs exist and keep only those"),
                ),
        )
        .subcommand(
            Command::new("action").about(
                "Run as a GitHub Actions step: inputs from INPUT_*, outputs to GITHUB_OUTPUT",
            ),
        )
        .subcommand(output_args(
            Command::new("stats")
                .about("Cache statistics from a saved build log (--progress=rawjson or plain)")
                .arg(
                    Arg::new("file")
                        .required(true)
                        .value_parser(value_parser!(PathBuf))
                        .help("The saved log ('-' for stdin)"),
                ),
        ))
        .subcommand(
            Command::new("inspect")
                .about("Show a registry cache: form, layers, sizes, compression")
                .arg(
                    Arg::new("ref")
                        .required(true)
                        .help("The cache ref, e.g. ghcr.io/owner/app:buildcache"),
                )
                .arg(
                    Arg::new("insecure")
                        .long("insecure")
                        .action(ArgAction::SetTrue)
                        .help("Use plain HTTP (loopback registries)"),
                ),
        )
}

/// The inputs a `build` or `plan` command line gives, as the action's `INPUT_*` would.
pub fn raw_from_matches(matches: &ArgMatches) -> RawInputs {
    let mut raw = RawInputs::default();
    for spec in INPUTS {
        if let Some(values) = matches.get_many::<String>(spec.name) {
            let values: Vec<&str> = values.map(String::as_str).collect();
            raw.set(spec.name, values.join("\n"));
        }
    }
    if let Some(words) = matches.get_many::<String>("passthrough") {
        let words: Vec<&str> = words.map(String::as_str).collect();
        let joined = [
            raw.get("buildx-args"),
            &shlex::try_join(words).unwrap_or_default(),
        ]
        .join(" ");
        raw.set("buildx-args", joined.trim());
    }
    raw
}

pub fn main(args: Vec<OsString>, env: Env) -> ExitCode {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_INVALID } else { 0 });
        }
    };
    match matches.subcommand() {
        Some(("build", m)) => build(
            raw_from_matches(m),
            &env,
            m.get_one::<OutputFormat>("output-format").copied(),
            m.get_one::<PathBuf>("output-file"),
        ),
        Some(("plan", m)) => plan_command(m, &env),
        Some(("action", _)) => build(RawInputs::from_github(&env), &env, None, None),
        Some(("stats", m)) => stats_command(m),
        Some(("inspect", m)) => inspect_command(m, &env),
        _ => unreachable!("clap requires a subcommand"),
    }
}

/// Validation, the event, the policy file and the decision: everything before the engine.
/// On error, the problem has been annotated and the exit code is returned.
fn prepare<W: Write>(
    raw: &RawInputs,
    env: &Env,
    probe: bool,
    log: &mut Log<W>,
) -> Result<(config::Config, run::CacheChoice), ExitCode> {
    let invalid = |log: &mut Log<W>, errors: &[config::InputError]| {
        for error in errors {
            let _ = log.annotate(
                Level::Error,
                &format!("input `{}`", error.input),
                &error.problem,
                None,
            );
        }
        ExitCode::from(EXIT_INVALID)
    };
    let config = config::validate(raw).map_err(|e| invalid(log, &e.0))?;
    let file = run::load_policy_file(&config).map_err(|e| {
        let error = config::InputError {
            input: "policy-file",
            value: config.policy.file.display().to_string(),
            problem: e.to_string(),
        };
        invalid(log, &[error])
    })?;
    let failed = |e: std::io::Error| {
        eprintln!("error: writing the log: {e}");
        ExitCode::from(EXIT_FAILED)
    };
    let event = run::resolve_event(env, Platform::detect(env), log).map_err(failed)?;
    let settings = config.policy_settings(file.as_ref());
    let decision = crate::policy::decide(&event, &settings);
    config
        .check_decision(&decision)
        .map_err(|e| invalid(log, &e.0))?;
    let choice = run::choose(&config, settings, decision, env, probe, log).map_err(failed)?;
    Ok((config, choice))
}

fn build(
    raw: RawInputs,
    env: &Env,
    format: Option<OutputFormat>,
    file: Option<&PathBuf>,
) -> ExitCode {
    let platform = Platform::detect(env);
    let mut log = Log::new(platform, io::stdout().lock());
    let (config, choice) = match prepare(&raw, env, true, &mut log) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let ctx = RunContext {
        env,
        platform,
        docker: PathBuf::from("docker"),
    };
    let report = match run::build(&config, &choice, &ctx, &mut log) {
        Ok(report) => report,
        Err(e) => {
            let _ = log.annotate(Level::Error, "regcache", &e.to_string(), None);
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let _ = log.flush();
    drop(log);
    if let Err(e) = run::publish(&report, env, format, file.map(PathBuf::as_path)) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_FAILED);
    }
    if report.succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// `regcache plan`: the decided refs and flags, without building.
fn plan_command(m: &ArgMatches, env: &Env) -> ExitCode {
    // The plan goes to stdout; warnings to stderr.
    let mut log = Log::new(Platform::detect(env), io::stderr().lock());
    let (config, choice) = match prepare(&raw_from_matches(m), env, m.get_flag("probe"), &mut log) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let (from, to) = crate::plan::cache_entries(&config, &choice.refs);
    let cache_from: Vec<String> = from.iter().map(CacheEntry::to_csv).collect();
    let cache_to: Vec<String> = to.iter().map(CacheEntry::to_csv).collect();
    let text = match m.get_one::<String>("format").map(String::as_str) {
        Some("json") => format!(
            "{:#}\n",
            serde_json::json!({
                "policy": choice.settings.kind.to_string(),
                "reason": choice.decision.reason,
                "read": choice.candidates.iter().map(|(r, _)| r).collect::<Vec<_>>(),
                "write": choice.refs.write,
                "cache-source": choice.source(),
                "cache-from": cache_from,
                "cache-to": cache_to,
            })
        ),
        Some("bake") => {
            let target = m
                .get_one::<String>("bake-target")
                .map_or("default", String::as_str);
            format!(
                "{:#}\n",
                serde_json::json!({ "target": { target: { "cache-from": cache_from, "cache-to": cache_to } } })
            )
        }
        _ => {
            let mut text = format!(
                "policy: {} ({})\n",
                choice.settings.kind, choice.decision.reason
            );
            for (reference, probe) in &choice.candidates {
                let state = probe
                    .as_ref()
                    .map(|p| format!(" ({})", p.label()))
                    .unwrap_or_default();
                text += &format!("read:  {reference}{state}\n");
            }
            text += &format!(
                "write: {}\n",
                choice.refs.write.as_deref().unwrap_or("nothing")
            );
            text += &cache_from
                .iter()
                .map(|f| format!("--cache-from {f}\n"))
                .collect::<String>();
            text += &cache_to
                .iter()
                .map(|f| format!("--cache-to {f}\n"))
                .collect::<String>();
            text
        }
    };
    match io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_FAILED),
    }
}

fn stats_command(m: &ArgMatches) -> ExitCode {
    let path = m.get_one::<PathBuf>("file").expect("required");
    let progress = if path.as_os_str() == "-" {
        progress::read_log(BufReader::new(io::stdin().lock()))
    } else {
        std::fs::File::open(path).and_then(|f| progress::read_log(BufReader::new(f)))
    };
    let progress = match progress {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: reading {}: {e}", path.display());
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let s = stats::compute(&progress);
    let text = match m.get_one::<OutputFormat>("output-format") {
        Some(OutputFormat::Json) => {
            format!("{:#}\n", serde_json::to_value(&s).expect("stats serialise"))
        }
        Some(OutputFormat::Dotenv) => crate::platform::gitlab::dotenv(&[
            ("cache-hit", s.cache_hit.to_string()),
            ("cache-hit-ratio", s.hit_ratio.to_string()),
            ("cached-steps", s.cached_steps.to_string()),
            ("total-steps", s.total_steps.to_string()),
        ]),
        None => format!(
            "{}/{} steps cached ({:.1}%), {} rebuilt, {} failed, {} not run; cache import {:.3}s, export {:.3}s; vertices {} ({} cached, {} completed)\n",
            s.cached_steps,
            s.total_steps,
            s.hit_ratio * 100.0,
            s.rebuilt_steps,
            s.failed_steps,
            s.not_run_steps,
            s.import_seconds,
            s.export_seconds,
            s.vertices.total,
            s.vertices.cached,
            s.vertices.completed
        ),
    };
    let written = match m.get_one::<PathBuf>("output-file") {
        Some(file) => std::fs::write(file, text),
        None => io::stdout().write_all(text.as_bytes()),
    };
    if written.is_err() {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn inspect_command(m: &ArgMatches, env: &Env) -> ExitCode {
    let reference = m.get_one::<String>("ref").expect("required");
    match registry::inspect_blocking(reference, env) {
        Ok(info) => {
            println!(
                "{:#}",
                serde_json::to_value(&info).expect("cache info serialises")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
