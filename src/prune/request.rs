//! `regcache prune`'s flags, defined once next to their checks: the command line (`command`,
//! every flag also read from a `REGCACHE_*` variable), the flags as given (`Flags`), and the
//! checked request (`Request::check`), every problem reported at once before anything asks
//! the registry.

use clap::{Arg, ArgMatches, Command};
use time::{Duration, OffsetDateTime};

use super::Liveness;
use crate::args::Format;
use crate::config::{InputError, InvalidInputs};

/// `regcache prune`: every flag also reads a `REGCACHE_*` variable, so a CI job (and the
/// prune action) can set them without building a command line.
pub fn command() -> Command {
    let flag = |name: &'static str, env: &'static str, help: &'static str| {
        Arg::new(name).long(name).env(env).help(help)
    };
    Command::new("prune")
        .about("Delete stale cache tags (a dry run unless --delete), never a manifest a kept tag needs")
        .arg(
            Arg::new("repository")
                .required(true)
                .env("REGCACHE_REPOSITORY")
                .help("The cache repository, without a tag: ghcr.io/owner/app"),
        )
        .arg(flag("branches", "REGCACHE_BRANCHES", "The live branches, comma or newline separated: the caches of other branches are stale"))
        .arg(flag("pull-requests", "REGCACHE_PULL_REQUESTS", "The open pull (merge) request numbers (`none` when none is open): the caches of other requests are stale"))
        .arg(
            flag("older-than", "REGCACHE_OLDER_THAN", "Caches not written for longer are stale: 36h, 14d, 2w")
                // So that `-3d` reaches the age check and its message.
                .allow_hyphen_values(true),
        )
        .arg(flag("default-branch", "REGCACHE_DEFAULT_BRANCH", "The default branch, whose cache is always kept (default: CI_DEFAULT_BRANCH, the GitHub event, or the GitHub API)"))
        .arg(flag("prefix", "REGCACHE_PREFIX", "The cache tag prefix").default_value(crate::reference::DEFAULT_CACHE_TAG))
        .arg(switch(flag("live-from-github", "REGCACHE_LIVE_FROM_GITHUB", "Ask the GitHub API for the branches, open pull requests and default branch of GITHUB_REPOSITORY")))
        .arg(switch(flag("delete", "REGCACHE_DELETE", "Delete; without it, only print what would be deleted")))
        .arg(
            flag("backend", "REGCACHE_BACKEND", "registry (the registry API), github-packages (GHCR, GitHub's Packages API), or auto: github-packages for ghcr.io")
                .value_parser(clap::value_parser!(BackendChoice))
                .default_value("auto"),
        )
        .arg(flag("username", "REGCACHE_USERNAME", "Registry user; the password is read from REGCACHE_PASSWORD (default: the docker config)"))
        .arg(crate::args::insecure())
        .arg(
            Arg::new("format")
                .long("format")
                .env("REGCACHE_FORMAT")
                .value_parser(clap::value_parser!(Format))
                .default_value("human")
                .help("How the plan and result are printed"),
        )
}

/// A flag that is on alone (`--delete`) or given a value (`REGCACHE_DELETE=false`).
fn switch(arg: Arg) -> Arg {
    arg.value_parser(clap::builder::BoolishValueParser::new())
        .num_args(0..=1)
        .default_missing_value("true")
}

/// `--backend` as given: `auto` picks GitHub's Packages API for ghcr.io.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Auto,
    Registry,
    GithubPackages,
}

/// Where deletions go.
#[derive(Debug, Clone)]
pub enum Backend {
    Registry,
    /// GHCR: the Packages API at `api_url` (GitHub Enterprise keeps its `/api/v3`).
    GitHubPackages {
        api_url: String,
        token: String,
    },
}

/// `regcache prune`'s flags, as given (checked by `Request::check`).
pub struct Flags {
    pub repository: String,
    pub branches: Option<String>,
    pub pull_requests: Option<String>,
    pub older_than: Option<String>,
    pub default_branch: Option<String>,
    pub prefix: String,
    pub live_from_github: bool,
    pub delete: bool,
    pub backend: BackendChoice,
    pub username: Option<String>,
    pub insecure: bool,
    pub format: Format,
}

impl Flags {
    pub fn from_matches(m: &ArgMatches) -> Flags {
        // An empty value is not given: the prune action passes every input, set or not.
        let text = |name: &str| {
            m.get_one::<String>(name)
                .filter(|v| !v.trim().is_empty())
                .cloned()
        };
        Flags {
            repository: text("repository").unwrap_or_default(),
            branches: text("branches"),
            pull_requests: text("pull-requests"),
            older_than: text("older-than"),
            default_branch: text("default-branch"),
            prefix: text("prefix")
                .unwrap_or_else(|| crate::reference::DEFAULT_CACHE_TAG.to_owned()),
            live_from_github: m
                .get_one::<bool>("live-from-github")
                .copied()
                .unwrap_or(false),
            delete: m.get_one::<bool>("delete").copied().unwrap_or(false),
            backend: m
                .get_one::<BackendChoice>("backend")
                .copied()
                .unwrap_or(BackendChoice::Auto),
            username: text("username"),
            insecure: m.get_flag("insecure"),
            format: m
                .get_one::<Format>("format")
                .copied()
                .unwrap_or(Format::Human),
        }
    }
}

/// What the environment tells prune, read once at the edge.
#[derive(Debug, Clone, Default)]
pub struct FromEnv {
    /// The CI's own idea of the default branch (GitLab's `CI_DEFAULT_BRANCH`, the GitHub
    /// event's repository).
    pub default_branch: Option<String>,
    /// `GITHUB_REPOSITORY`.
    pub github_repository: Option<String>,
    pub github_token: Option<String>,
    pub github_api_url: String,
    /// `REGCACHE_PASSWORD`.
    pub password: Option<String>,
    pub now: Option<OffsetDateTime>,
}

/// A checked prune request. The default branch is left empty when the GitHub API gives it.
#[derive(Debug, Clone)]
pub struct Request {
    pub repository: String,
    pub live: Liveness,
    /// `owner/name` whose live refs the GitHub API gives.
    pub live_from_github: Option<String>,
    pub delete: bool,
    pub backend: Backend,
    pub credentials: Option<(String, String)>,
    pub insecure: bool,
    pub format: Format,
}

/// A comma or newline separated list, blanks dropped.
fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The problems found so far, every one reported together.
#[derive(Default)]
struct Problems(Vec<InputError>);

impl Problems {
    fn bad(&mut self, input: &'static str, problem: impl Into<String>) {
        self.0.push(InputError {
            input,
            problem: problem.into(),
        });
    }
}

impl Request {
    /// Every problem with the flags at once; nothing has touched the registry yet.
    pub fn check(flags: &Flags, env: &FromEnv) -> Result<Request, InvalidInputs> {
        let mut problems = Problems::default();
        let repository = flags.repository.trim().to_owned();
        let host = registry_host(&repository, &mut problems);
        let older_than = flags
            .older_than
            .as_deref()
            .map(parse_age)
            .transpose()
            .unwrap_or_else(|problem| {
                problems.bad("older-than", problem);
                None
            });
        let requests = flags
            .pull_requests
            .as_deref()
            .map(|text| request_numbers(text, &mut problems));
        let branches = flags.branches.as_deref().map(list);
        if flags.prefix.trim().is_empty() {
            problems.bad(
                "prefix",
                "is empty: give the cache tag prefix the builds use (default buildcache)",
            );
        }
        let live_from_github = flags
            .live_from_github
            .then(|| match &env.github_repository {
                Some(repository) if repository.contains('/') => Some(repository.clone()),
                _ => {
                    problems.bad(
                        "live-from-github",
                        "needs GITHUB_REPOSITORY (owner/name), as GitHub Actions sets it",
                    );
                    None
                }
            })
            .flatten();
        let says_what_is_stale = flags.older_than.is_some()
            || requests.is_some()
            || branches.is_some()
            || flags.live_from_github;
        if !says_what_is_stale {
            problems.bad("older-than", "nothing says which caches are stale: give --older-than, --branches, --pull-requests or --live-from-github");
        }
        let default_branch = flags
            .default_branch
            .clone()
            .or_else(|| env.default_branch.clone())
            .filter(|b| !b.trim().is_empty());
        if default_branch.is_none() && !flags.live_from_github {
            problems.bad("default-branch", "is not known, and its cache must always be kept: give --default-branch (GitLab's CI_DEFAULT_BRANCH and --live-from-github give it too)");
        }
        let backend = backend(flags.backend, host.as_deref(), env, &mut problems);
        let credentials = credentials(flags, env, &mut problems);
        if !problems.0.is_empty() {
            return Err(InvalidInputs(problems.0));
        }
        Ok(Request {
            repository,
            live: Liveness {
                prefix: flags.prefix.trim().to_owned(),
                default_branch: default_branch.unwrap_or_default(),
                branches,
                requests,
                older_than,
                now: env.now.unwrap_or_else(OffsetDateTime::now_utc),
            },
            live_from_github,
            delete: flags.delete,
            backend: backend.expect("set when there is no error"),
            credentials,
            insecure: flags.insecure,
            format: flags.format,
        })
    }
}

/// The registry host of a cache repository given without a tag or digest.
fn registry_host(repository: &str, problems: &mut Problems) -> Option<String> {
    match crate::reference::parse(repository) {
        _ if crate::reference::has_tag(repository) || repository.contains('@') => {
            problems.bad(
                "repository",
                format!(
                    "`{repository}` names a tag or digest; give the cache repository alone, e.g. ghcr.io/owner/app"
                ),
            );
            None
        }
        Ok(reference) => Some(reference.registry().to_owned()),
        Err(e) => {
            problems.bad(
                "repository",
                format!("`{repository}` is not a repository: {e}"),
            );
            None
        }
    }
}

/// The open request numbers (`none` when none is open; `#12` and `!12` read as 12).
fn request_numbers(text: &str, problems: &mut Problems) -> Vec<u64> {
    list(text)
        .into_iter()
        .filter(|n| n != "none")
        .filter_map(|n| match n.trim_start_matches(['#', '!']).parse::<u64>() {
            Ok(number) if number > 0 => Some(number),
            _ => {
                problems.bad("pull-requests", format!("`{n}` is not a pull request number: give positive whole numbers, e.g. 12,15"));
                None
            }
        })
        .collect()
}

/// Where deletions go: GitHub's Packages API for ghcr.io (or when asked), which needs a token.
fn backend(
    choice: BackendChoice,
    host: Option<&str>,
    env: &FromEnv,
    problems: &mut Problems,
) -> Option<Backend> {
    match (choice, host == Some("ghcr.io")) {
        (BackendChoice::GithubPackages, _) | (BackendChoice::Auto, true) => {
            match &env.github_token {
                Some(token) => Some(Backend::GitHubPackages {
                    api_url: env.github_api_url.clone(),
                    token: token.clone(),
                }),
                None => {
                    problems.bad("backend", "GHCR is pruned through GitHub's Packages API, which needs a token: set GITHUB_TOKEN (packages: write), or give --backend registry for another registry");
                    None
                }
            }
        }
        _ => Some(Backend::Registry),
    }
}

/// `--username` with `REGCACHE_PASSWORD`, or none (the docker config's).
fn credentials(flags: &Flags, env: &FromEnv, problems: &mut Problems) -> Option<(String, String)> {
    match (&flags.username, &env.password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        (Some(_), None) => {
            problems.bad("username", "is given but REGCACHE_PASSWORD is not set: put the password (or token) in REGCACHE_PASSWORD");
            None
        }
        (None, _) => None,
    }
}

/// `14d`, `36h`, `2w`: a positive whole number and a unit.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let problem = || {
        format!(
            "`{text}` is not an age: use a positive whole number of hours, days or weeks, e.g. 36h, 14d, 2w"
        )
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(problem)?;
    let (digits, unit) = text.split_at(split);
    let number: i64 = digits.parse().map_err(|_| problem())?;
    if number == 0 {
        return Err(problem());
    }
    let seconds_per_unit = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(problem()),
    };
    number
        .checked_mul(seconds_per_unit)
        .map(Duration::seconds)
        .ok_or_else(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_in_hours_days_and_weeks() {
        assert_eq!(parse_age("14d"), Ok(Duration::days(14)));
        assert_eq!(parse_age("36h"), Ok(Duration::hours(36)));
        assert_eq!(parse_age("2w"), Ok(Duration::weeks(2)));
        for bad in [
            "",
            "14",
            "-3d",
            "0d",
            "1.5d",
            "d",
            "14 days",
            "99999999999999999999d",
            "99999999999999w",
        ] {
            let problem = parse_age(bad).unwrap_err();
            assert!(problem.contains("36h, 14d, 2w"), "{bad}: {problem}");
        }
    }
}
