//! The command-line pieces several commands share, below every room that defines flags (the
//! command line itself, and prune's flags beside their checks): `--insecure` and the human or
//! JSON format of a registry command's result.

use clap::{Arg, ArgAction};

/// How a registry command prints its result: a line per item, or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// `--insecure`, for the registry commands.
pub fn insecure() -> Arg {
    Arg::new("insecure")
        .long("insecure")
        .action(ArgAction::SetTrue)
        .help("Use plain HTTP for this registry (loopback addresses always do)")
}

/// `--format human|json`, for the registry commands.
pub fn format() -> Arg {
    Arg::new("format")
        .long("format")
        .value_parser(clap::value_parser!(Format))
        .default_value("human")
        .help("How the result is printed")
}

/// The `--format` given (human when not).
pub fn format_of(m: &clap::ArgMatches) -> Format {
    m.get_one::<Format>("format")
        .copied()
        .unwrap_or(Format::Human)
}
