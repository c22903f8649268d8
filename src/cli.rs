//! The command line: its definition and its parsing into an `Invocation`. `build`'s flags are
//! generated from the input table, so the CLI and the action accept the same names and values;
//! `action` reads the same inputs from `INPUT_*`. Running an invocation is `crate::main`'s job.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::args;
use crate::commands::explain::ExplainRequest;
use crate::commands::plan::{PlanFormat, PlanRequest};
use crate::commands::verify::VerifyRequest;
use crate::inputs::{INPUTS, Kind, RawInputs, quote_item};
use crate::report::OutputFormat;

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
        let mut arg = input_arg(spec);
        if spec.name == "context" {
            // A command line builds the directory it names, as `docker build .` does (the
            // action's default is build-push-action's Git context).
            arg = Arg::new(spec.name)
                .help(spec.description)
                .default_value(".")
                .value_name("CONTEXT");
        }
        // An image sets its engine (regcache's buildah image: REGCACHE_ENGINE=buildah).
        if spec.name == "engine" {
            arg = arg.env("REGCACHE_ENGINE");
        }
        command = command.arg(arg);
    }
    output_args(command)
        .arg(
            Arg::new("secret")
                .long("secret")
                .action(ArgAction::Append)
                .value_name("id=ID,src=PATH|env=VAR")
                .help("A build secret in buildx's form: `id=ID,src=PATH` (a file), `id=ID,env=VAR` (a variable), `type=file|env` as buildx reads it (the action's `secrets` input takes build-push-action's `id=value`)"),
        )
        .arg(
        Arg::new("passthrough")
            .num_args(1..)
            .last(true)
            .allow_hyphen_values(true)
            .value_name("BUILDX_ARGS")
            .help("Further `docker buildx build` arguments after `--`"),
    )
}

/// An input's flag as clap takes it: booleans as `--flag` or `--flag=false`, lists repeated.
fn input_arg(spec: &crate::inputs::InputSpec) -> Arg {
    let mut arg = Arg::new(spec.name).help(spec.description).long(spec.name);
    if let Some(short) = spec.short {
        arg = arg.short(short);
    }
    if let Some(alias) = spec.alias {
        arg = arg.visible_alias(alias);
    }
    match spec.kind {
        Kind::Bool => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_name("BOOL"),
        Kind::List(_) => arg.action(ArgAction::Append),
        Kind::Text => arg,
    }
}

/// `regcache bake`: docker/bake-action's inputs and regcache's cache inputs as flags, the
/// targets as `docker buildx bake` takes them.
fn bake_command() -> Command {
    let mut command = Command::new("bake")
        .about("Run docker buildx bake with a registry cache per target and report what each target's cache did");
    for spec in crate::inputs::bake_inputs() {
        let arg = if spec.name == "targets" {
            Arg::new(spec.name)
                .help(spec.description)
                .value_name("TARGET")
                .action(ArgAction::Append)
        } else {
            input_arg(spec)
        };
        command = command.arg(arg);
    }
    output_args(command)
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
                        .value_parser(value_parser!(PlanFormat))
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
        .subcommand(bake_command())
        .subcommand(
            Command::new("action")
                .about("Run as a GitHub Actions step: inputs from INPUT_*, outputs to GITHUB_OUTPUT")
                .arg(
                    Arg::new("command")
                        .value_parser(["build", "bake"])
                        .default_value("build")
                        .help("The action's command: `build` (the main action) or `bake` (the bake sub-action)"),
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
        .subcommand(crate::prune::command())
        .subcommand(
            Command::new("verify")
                .about("Check that every blob a registry cache lists exists; --deep also checks each layer's content")
                .arg(Arg::new("ref").required(true).help("The cache ref, e.g. ghcr.io/owner/app:buildcache-main"))
                .arg(
                    Arg::new("deep")
                        .long("deep")
                        .action(ArgAction::SetTrue)
                        .help("Download every layer, decompress it and check it against its uncompressed digest"),
                )
                .arg(args::insecure())
                .arg(args::format()),
        )
        .subcommand(
            Command::new("explain")
                .about("Why a build's steps missed: a saved build log against the build record stored beside the cache it read; without --log, what the record holds")
                .arg(Arg::new("ref").required(true).help("The cache ref the build read, e.g. ghcr.io/owner/app:buildcache-main"))
                .arg(
                    Arg::new("log")
                        .long("log")
                        .value_parser(value_parser!(PathBuf))
                        .help("The build's log, saved from `docker buildx build --progress=rawjson` (or plain)"),
                )
                .arg(
                    Arg::new("file")
                        .long("file")
                        .short('f')
                        .help("The build's Dockerfile (default: <context>/Dockerfile)"),
                )
                .arg(
                    Arg::new("context")
                        .long("context")
                        .default_value(".")
                        .help("The build's context directory, whose files the build's COPY steps took"),
                )
                .arg(
                    Arg::new("build-arg")
                        .long("build-arg")
                        .action(ArgAction::Append)
                        .help("A build-arg the build was given (NAME=value); only its hash is compared"),
                )
                .arg(Arg::new("target").long("target").help("The target stage the build built"))
                .arg(args::insecure())
                .arg(args::format()),
        )
        .subcommand(
            Command::new("history")
                .about("The last builds that wrote a cache, from its build record")
                .arg(Arg::new("ref").required(true).help("The cache ref, e.g. ghcr.io/owner/app:buildcache-main"))
                .arg(args::insecure())
                .arg(args::format()),
        )
        .subcommand(
            Command::new("inspect")
                .about("Show a registry cache: form, layers, sizes, compression")
                .arg(
                    Arg::new("ref")
                        .required(true)
                        .help("The cache ref, e.g. ghcr.io/owner/app:buildcache"),
                )
                .arg(args::insecure()),
        )
}

/// The inputs a `bake` command line gives, as the sub-action's `INPUT_*` would.
pub fn bake_raw_from_matches(matches: &ArgMatches) -> RawInputs {
    let mut raw = RawInputs::default();
    set_from_matches(&mut raw, matches, crate::inputs::bake_inputs());
    raw
}

/// Each input given on the command line, as one value (a list's items one per line).
fn set_from_matches(
    raw: &mut RawInputs,
    matches: &ArgMatches,
    specs: impl Iterator<Item = &'static crate::inputs::InputSpec>,
) {
    for spec in specs {
        if let Some(values) = matches.get_many::<String>(spec.name) {
            let values: Vec<String> = match spec.kind {
                // Each flag is one item, whatever quotes it holds.
                Kind::List(_) => values.map(|v| quote_item(v)).collect(),
                _ => values.cloned().collect(),
            };
            raw.set(spec.name, values.join("\n"));
        }
    }
}

/// The inputs a `build` or `plan` command line gives, as the action's `INPUT_*` would.
pub fn raw_from_matches(matches: &ArgMatches) -> RawInputs {
    let mut raw = RawInputs::default();
    set_from_matches(&mut raw, matches, INPUTS.iter());
    for value in matches.get_many::<String>("secret").into_iter().flatten() {
        match buildx_secret(value) {
            Ok((input, item)) => {
                let mut items = raw.raw(input).to_owned();
                if !items.is_empty() {
                    items.push('\n');
                }
                items += &quote_item(&item);
                raw.set(input, items);
            }
            Err(problem) => raw.flag_errors.push(("secret", problem)),
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

/// `--secret` as buildx reads it (docker/buildx `util/buildflags/secrets.go`: CSV fields
/// `type`, `id`, `src`/`source`, `env`; `type=env` takes `src` as the variable), as the item of
/// the input that carries it: `secret-files` (`id=PATH`) or `secret-envs` (`id=VAR`). Where
/// buildx would leave the choice to BuildKit (no `src` and no `env`: a variable named like the
/// id if one is set, else a file) or the fields disagree, it is refused. A message names keys,
/// never a value: a value given by mistake may be the secret itself.
pub fn buildx_secret(text: &str) -> Result<(&'static str, String), String> {
    const FORMS: &str =
        "give `id=ID,src=PATH` (a file) or `id=ID,env=VAR` (an environment variable)";
    let record = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| format!("a value is not one CSV record; {FORMS}"))?;
    let (mut kind, mut id, mut src, mut env) = (None, None, None, None);
    for (n, field) in record.iter().enumerate() {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("field {} is not `key=value`; {FORMS}", n + 1));
        };
        let slot = match key.to_ascii_lowercase().as_str() {
            "type" => &mut kind,
            "id" => &mut id,
            "src" | "source" => &mut src,
            "env" => &mut env,
            _ => {
                return Err(format!(
                    "field {} has the key `{}`, which buildx does not accept (type, id, src, source, env); {FORMS}. The action's `id=value` form is the `--secrets` flag",
                    n + 1,
                    crate::escape::one_line(&key.chars().take(40).collect::<String>())
                ));
            }
        };
        *slot = Some(value.to_owned());
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| format!("a value has no `id`; {FORMS}"))?;
    let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
    match (kind.as_deref(), nonempty(src), nonempty(env)) {
        (Some("file") | None, Some(path), None) => Ok(("secret-files", format!("{id}={path}"))),
        (Some("env"), Some(var), None) | (Some("env") | None, None, Some(var)) => {
            Ok(("secret-envs", format!("{id}={var}")))
        }
        (Some(other), _, _) if other != "file" && other != "env" => {
            Err("the type is not accepted; accepted values: file, env".to_owned())
        }
        (_, None, None) => Err(format!(
            "the secret `{id}` names no source (buildx would pick a variable or a file by what exists); {FORMS}"
        )),
        _ => Err(format!(
            "the secret `{id}` gives both a file and a variable, or a type that disagrees with them; {FORMS}"
        )),
    }
}

/// A parsed command line: which command, with what.
pub enum Invocation {
    Build {
        raw: RawInputs,
        output: Option<(OutputFormat, Option<PathBuf>)>,
    },
    /// `regcache action`: the inputs from `INPUT_*`.
    Action,
    Bake {
        raw: RawInputs,
        output: Option<(OutputFormat, Option<PathBuf>)>,
    },
    /// `regcache action bake`: the bake sub-action's inputs from `INPUT_*`.
    BakeAction,
    Plan(PlanRequest),
    Stats {
        file: PathBuf,
        output: Option<(OutputFormat, Option<PathBuf>)>,
    },
    Inspect {
        reference: String,
        insecure: bool,
    },
    Prune(crate::prune::Flags),
    Verify(VerifyRequest),
    Explain(ExplainRequest),
    History {
        reference: String,
        insecure: bool,
        format: args::Format,
    },
}

fn output(m: &ArgMatches) -> Option<(OutputFormat, Option<PathBuf>)> {
    m.get_one::<OutputFormat>("output-format")
        .map(|f| (*f, m.get_one::<PathBuf>("output-file").cloned()))
}

/// The command line, parsed; clap's own errors (usage, `--help`) come back as they are.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, clap::Error> {
    let matches = command().try_get_matches_from(args)?;
    Ok(match matches.subcommand() {
        Some(("build", m)) => Invocation::Build {
            raw: raw_from_matches(m),
            output: output(m),
        },
        Some(("action", m))
            if m.get_one::<String>("command").map(String::as_str) == Some("bake") =>
        {
            Invocation::BakeAction
        }
        Some(("action", _)) => Invocation::Action,
        Some(("bake", m)) => Invocation::Bake {
            raw: bake_raw_from_matches(m),
            output: output(m),
        },
        Some(("plan", m)) => Invocation::Plan(PlanRequest {
            raw: raw_from_matches(m),
            format: m
                .get_one::<PlanFormat>("format")
                .copied()
                .unwrap_or(PlanFormat::Human),
            bake_target: m.get_one::<String>("bake-target").cloned(),
            probe: m.get_flag("probe"),
        }),
        Some(("stats", m)) => Invocation::Stats {
            file: m.get_one::<PathBuf>("file").cloned().expect("required"),
            output: output(m),
        },
        Some(("prune", m)) => Invocation::Prune(crate::prune::Flags::from_matches(m)),
        Some(("verify", m)) => Invocation::Verify(VerifyRequest {
            reference: m.get_one::<String>("ref").cloned().expect("required"),
            deep: m.get_flag("deep"),
            insecure: m.get_flag("insecure"),
            format: args::format_of(m),
        }),
        Some(("explain", m)) => Invocation::Explain(ExplainRequest {
            reference: m.get_one::<String>("ref").cloned().expect("required"),
            log: m.get_one::<PathBuf>("log").cloned(),
            file: m.get_one::<String>("file").cloned(),
            context: m
                .get_one::<String>("context")
                .cloned()
                .unwrap_or_else(|| ".".into()),
            build_args: m
                .get_many::<String>("build-arg")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            target: m.get_one::<String>("target").cloned(),
            insecure: m.get_flag("insecure"),
            format: args::format_of(m),
        }),
        Some(("history", m)) => Invocation::History {
            reference: m.get_one::<String>("ref").cloned().expect("required"),
            insecure: m.get_flag("insecure"),
            format: args::format_of(m),
        },
        Some(("inspect", m)) => Invocation::Inspect {
            reference: m.get_one::<String>("ref").cloned().expect("required"),
            insecure: m.get_flag("insecure"),
        },
        _ => unreachable!("clap requires a subcommand"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn secret_flags_read_as_buildx_reads_them() {
        let ok = |text: &str| buildx_secret(text).unwrap();
        assert_eq!(
            ok("id=tok,src=/run/tok"),
            ("secret-files", "tok=/run/tok".into())
        );
        assert_eq!(
            ok(r#"id=tok,"source=a,b""#),
            ("secret-files", "tok=a,b".into())
        );
        assert_eq!(
            ok("type=file,id=npm,src=.npmrc"),
            ("secret-files", "npm=.npmrc".into())
        );
        assert_eq!(
            ok("id=gh,env=GH_TOKEN"),
            ("secret-envs", "gh=GH_TOKEN".into())
        );
        assert_eq!(
            ok("type=env,id=gh,src=GH_TOKEN"),
            ("secret-envs", "gh=GH_TOKEN".into())
        );
        assert_eq!(
            ok("ID=gh,ENV=GH_TOKEN"),
            ("secret-envs", "gh=GH_TOKEN".into())
        );
        for (text, problem) in [
            ("tok=hunter2", "the key `tok`"),
            ("id=tok", "names no source"),
            ("id=tok,src=f,env=V", "both a file and a variable"),
            ("type=file,id=tok,env=V", "disagrees"),
            ("type=ssh,id=tok,src=f", "accepted values: file, env"),
            ("src=f", "has no `id`"),
            ("id=a,novalue", "field 2 is not `key=value`"),
            ("", "not one CSV record"),
        ] {
            let e = buildx_secret(text).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
        }
        // A value given by mistake may be the secret: never echoed.
        assert!(
            !buildx_secret("tok=hunter2")
                .unwrap_err()
                .contains("hunter2")
        );
    }

    proptest! {
        #[test]
        fn any_secret_flag_is_read_or_refused_without_echoing_values(
            key in "[a-z]{1,8}", value in "[A-Za-z0-9]{12,20}"
        ) {
            let text = format!("{key}={value}");
            // An id or a source is no secret; any other key's value may be one.
            let named = ["id", "type", "src", "source", "env"].contains(&key.as_str());
            if let (Err(e), false) = (buildx_secret(&text), named) {
                prop_assert!(!e.contains(&value), "{} echoed in {}", value, e);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = buildx_secret(&text);
        }
    }
}
