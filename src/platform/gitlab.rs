//! GitLab CI: collapsible log sections and dotenv reports (one `NAME=value` line each, names
//! `[A-Za-z0-9_]`, no quoting or escapes processed).

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

/// GitLab's limit for a dotenv report (`artifacts: reports: dotenv`).
pub const DOTENV_LIMIT: usize = 5_120;

/// Values are single lines: a value with a newline would end its variable early.
pub fn dotenv(outputs: &[(&str, String)]) -> String {
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

/// The event from GitLab's predefined variables (no payload, no API needed).
pub fn event(env: &super::Env) -> crate::policy::CiEvent {
    use crate::policy::{CiEvent, Trigger};
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let trigger = if let (Some(iid), Some(target)) = (
        var("CI_MERGE_REQUEST_IID"),
        var("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
    ) {
        if var("CI_MERGE_REQUEST_EVENT_TYPE") == Some("merge_train") {
            Trigger::MergeQueue {
                base: target.to_owned(),
            }
        } else {
            let from_fork = match (
                var("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"),
                var("CI_MERGE_REQUEST_PROJECT_ID"),
            ) {
                (Some(source), Some(project)) => source != project,
                _ => false,
            };
            match iid.parse() {
                Ok(number) => Trigger::Request {
                    kind: "mr",
                    number,
                    base: target.to_owned(),
                    untrusted: from_fork,
                },
                Err(_) => Trigger::Local,
            }
        }
    } else if let Some(tag) = var("CI_COMMIT_TAG") {
        Trigger::Tag {
            tag: tag.to_owned(),
        }
    } else if let Some(branch) = var("CI_COMMIT_BRANCH") {
        Trigger::Push {
            branch: branch.to_owned(),
        }
    } else {
        Trigger::Local
    };
    CiEvent {
        trigger,
        default_branch: var("CI_DEFAULT_BRANCH").map(str::to_owned),
        read_only: None,
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
}
