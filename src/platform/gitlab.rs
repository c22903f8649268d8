//! GitLab CI: collapsible log sections and dotenv reports (one `NAME=value` line each, names
//! `[A-Za-z0-9_]`, no quoting or escapes processed).

use crate::cache::tags::RequestKind;

pub fn section_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("regcache_{name}")
}

pub fn section_start(name: &str, header: &str, unix_seconds: u64) -> String {
    format!("\x1b[0Ksection_start:{unix_seconds}:{name}[collapsed=true]\r\x1b[0K{header}")
}

pub fn section_end(name: &str, unix_seconds: u64) -> String {
    format!("\x1b[0Ksection_end:{unix_seconds}:{name}\r\x1b[0K")
}

/// `cache-hit` → `REGCACHE_CACHE_HIT`.
pub fn variable_name(output: &str) -> String {
    format!("REGCACHE_{}", output.to_ascii_uppercase().replace('-', "_"))
}

/// GitLab's limits for a dotenv report (`artifacts: reports: dotenv`): 5 KB, and 20
/// variables on self-managed instances by default (GitLab docs, "artifacts:reports:dotenv").
pub const DOTENV_LIMIT: usize = 5_120;
pub const DOTENV_MAX_VARIABLES: usize = 20;

/// The files a build writes into the job's working directory on GitLab, for the job's
/// `artifacts:reports:dotenv` and `artifacts:paths` (the template declares both).
pub const DOTENV_FILE: &str = "regcache.env";
pub const JSON_FILE: &str = "regcache.json";

/// The job's registry login, from GitLab's predefined variables, when all three are set.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub registry: String,
    pub user: String,
    pub password: String,
}

pub fn login(env: &super::Env) -> Option<Login> {
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
    Some(Login {
        registry: var("CI_REGISTRY")?,
        user: var("CI_REGISTRY_USER")?,
        password: var("CI_REGISTRY_PASSWORD")?,
    })
}

/// A docker config holding only `login`, as `docker login` writes it.
pub fn docker_config(login: &Login) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", login.user, login.password));
    serde_json::json!({ "auths": { &login.registry: { "auth": auth } } }).to_string()
}

/// Values are single lines: a value with a newline would end its variable early.
/// The dotenv report GitLab accepts, or the error that says it would refuse it.
pub fn dotenv_report(outputs: &[(&str, String)]) -> Result<String, crate::error::Error> {
    let text = dotenv(outputs);
    if text.len() > DOTENV_LIMIT {
        return Err(crate::error::Error::DotenvTooLarge {
            bytes: text.len(),
            limit: DOTENV_LIMIT,
        });
    }
    Ok(text)
}

fn dotenv(outputs: &[(&str, String)]) -> String {
    outputs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}\n",
                variable_name(name),
                value.replace(['\n', '\r'], " ")
            )
        })
        .collect()
}

/// The merge request a default-branch commit merged, from GitLab's merge commit message (its
/// default template, "Commit templates" in GitLab's docs): `See merge request group/project!N`
/// as its last line, and `Merge branch 'b' into 't'` as its first when the source branch was
/// this project's (a fork's reads `… of group/fork …`). The branch is read only when it is a
/// valid branch name; the number only from the last line, so a title or body that quotes
/// another request chooses nothing.
fn merged_request(message: &str) -> Option<crate::cache::decision::Merged> {
    let last = message
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())?;
    let (_, digits) = last.strip_prefix("See merge request ")?.rsplit_once('!')?;
    let number = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten()?;
    let head = message
        .lines()
        .next()
        .and_then(|first| first.strip_prefix("Merge branch '"))
        .and_then(|rest| rest.split_once("' into '"))
        .map(|(branch, _)| branch)
        .filter(|branch| crate::cache::slug::is_branch_name(branch))
        .map(str::to_owned);
    Some(crate::cache::decision::Merged {
        kind: RequestKind::Merge,
        number,
        head,
    })
}

/// The event from GitLab's predefined variables (no payload, no API needed).
pub fn event(env: &super::Env) -> crate::cache::decision::CiEvent {
    use crate::cache::decision::{CiEvent, Trigger};
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let trigger = if let (Some(iid), Some(target)) = (
        var("CI_MERGE_REQUEST_IID"),
        var("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
    ) {
        let from_fork = match (
            var("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"),
            var("CI_MERGE_REQUEST_PROJECT_ID"),
        ) {
            (Some(source), Some(project)) => source != project,
            _ => false,
        };
        match iid.parse() {
            // A merge train builds the request merged into the train: its cache, read-only.
            Ok(number) if var("CI_MERGE_REQUEST_EVENT_TYPE") == Some("merge_train") => {
                Trigger::MergeQueue {
                    kind: RequestKind::Merge,
                    base: target.to_owned(),
                    requests: vec![number],
                }
            }
            Ok(number) => Trigger::Request {
                kind: RequestKind::Merge,
                number,
                base: target.to_owned(),
                head: var("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
                    .filter(|_| !from_fork)
                    .map(str::to_owned),
                untrusted: from_fork,
            },
            Err(_) => Trigger::Local,
        }
    } else if let Some(tag) = var("CI_COMMIT_TAG") {
        Trigger::Tag {
            tag: tag.to_owned(),
        }
    } else if let Some(branch) = var("CI_COMMIT_BRANCH") {
        Trigger::Push {
            branch: branch.to_owned(),
            merged: var("CI_COMMIT_MESSAGE").and_then(merged_request),
        }
    } else {
        Trigger::Local
    };
    // A team that lets only protected branches and tags write the cache says so with
    // REGCACHE_WRITE_PROTECTED_ONLY; GitLab marks each pipeline's ref.
    let read_only = (env.is_true("REGCACHE_WRITE_PROTECTED_ONLY")
        && var("CI_COMMIT_REF_PROTECTED") != Some("true"))
    .then(|| "the ref is not protected and REGCACHE_WRITE_PROTECTED_ONLY is true".to_owned());
    CiEvent {
        trigger,
        default_branch: var("CI_DEFAULT_BRANCH").map(str::to_owned),
        read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_are_single_line() {
        assert_eq!(
            dotenv(&[("cache-hit", "true".into()), ("stats", "{\n}".into())]),
            "REGCACHE_CACHE_HIT=true\nREGCACHE_STATS={ }\n"
        );
        assert_eq!(section_name("Build progress"), "regcache_build_progress");
    }

    fn env(pairs: &[(&str, &str)]) -> super::super::Env {
        super::super::Env::from_os(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())))
    }

    #[test]
    fn the_job_login_is_written_as_docker_login_writes_it() {
        let vars = [
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "s3cret"),
        ];
        let login = login(&env(&vars)).unwrap();
        let config: serde_json::Value = serde_json::from_str(&docker_config(&login)).unwrap();
        // base64("gitlab-ci-token:s3cret")
        assert_eq!(
            config["auths"]["registry.gitlab.com"]["auth"],
            "Z2l0bGFiLWNpLXRva2VuOnMzY3JldA=="
        );
        assert_eq!(
            super::login(&env(&vars[..2])),
            None,
            "no password, no login"
        );
    }

    #[test]
    fn unprotected_refs_are_read_only_when_the_team_asks() {
        let branch = [
            ("CI_COMMIT_BRANCH", "feature"),
            ("CI_COMMIT_REF_PROTECTED", "false"),
        ];
        assert_eq!(event(&env(&branch)).read_only, None, "not asked");
        let asked = [&branch[..], &[("REGCACHE_WRITE_PROTECTED_ONLY", "true")]].concat();
        assert!(event(&env(&asked)).read_only.is_some());
        let protected = [
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_PROTECTED", "true"),
            ("REGCACHE_WRITE_PROTECTED_ONLY", "true"),
        ];
        assert_eq!(event(&env(&protected)).read_only, None);
    }

    #[test]
    fn merge_commits_name_their_merge_request() {
        let merged = merged_request(
            "Merge branch 'tax-rounding' into 'main'\n\nRound taxes\n\nSee merge request group/app!17",
        )
        .unwrap();
        assert_eq!(
            (merged.number, merged.head.as_deref()),
            (17, Some("tax-rounding"))
        );
        let fork = merged_request(
            "Merge branch 'main' of gitlab.com:someone/app into 'main'\n\nSee merge request group/app!18",
        )
        .unwrap();
        assert_eq!(
            (fork.number, fork.head),
            (18, None),
            "a fork's branch is never read"
        );
        let squashed = merged_request("Round taxes\n\nSee merge request group/sub/app!19").unwrap();
        assert_eq!((squashed.number, squashed.head), (19, None));
        assert_eq!(merged_request("Fix a typo"), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any value stays on its variable's line: one line per output, each `NAME=…`.
            #[test]
            fn dotenv_values_never_add_a_line(values in proptest::collection::vec(any::<String>(), 1..5)) {
                let outputs: Vec<(&str, String)> = values.iter().map(|v| ("cache-ref", v.clone())).collect();
                let text = dotenv(&outputs);
                prop_assert_eq!(text.matches('\n').count(), outputs.len());
                prop_assert!(!text.contains('\r'));
                prop_assert!(text.lines().all(|l| l.starts_with("REGCACHE_CACHE_REF=")));
            }

            /// Any commit message reads to an end; a number is one GitLab wrote, a branch one
            /// git would accept.
            #[test]
            fn any_commit_message_reads_safely(message in "(Merge branch '|See merge request |!|'|\\n|[ -~]|\\PC){0,120}") {
                if let Some(merged) = merged_request(&message) {
                    prop_assert!(merged.head.as_deref().is_none_or(crate::cache::slug::is_branch_name));
                    let last = message.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                    prop_assert!(last.ends_with(&format!("!{}", merged.number)), "{}", last);
                }
            }
        }
    }
}
