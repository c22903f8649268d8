//! The small GitHub Actions runtime layer: workflow commands, file commands and the step
//! summary, as `actions/toolkit` `packages/core` writes them.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::{Level, Location};

/// Messages: `%`, `\r`, `\n` escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Properties: also `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn annotation(level: Level, title: &str, message: &str, location: Option<&Location>) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut properties = Vec::new();
    if let Some(l) = location {
        properties.push(format!("file={}", escape_property(&l.file)));
        properties.push(format!("line={}", l.line));
    }
    properties.push(format!("title={}", escape_property(title)));
    format!(
        "::{command} {}::{}",
        properties.join(","),
        escape_data(message)
    )
}

/// `name<<delimiter` / value / `delimiter`, with a fresh random delimiter per write that
/// cannot occur in the value (`$GITHUB_OUTPUT`, `$GITHUB_STATE`, `$GITHUB_ENV`).
pub fn file_command(name: &str, value: &str) -> String {
    loop {
        let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
        if !value.contains(&delimiter) && !name.contains(&delimiter) {
            return format!("{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
    }
}

pub fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// What the GitHub API must still say before the policy can decide: asked only when the
/// event payload lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `issue_comment` on a pull request: the payload has its number, not its branches.
    PullRequest { repository: String, number: u64 },
    /// A payload without `repository.default_branch`.
    DefaultBranch { repository: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub event: crate::policy::CiEvent,
    pub lookups: Vec<Lookup>,
}

fn branch_of(git_ref: &str) -> Option<&str> {
    git_ref.strip_prefix("refs/heads/")
}

/// A pull request object (the payload's `pull_request`, or `GET /repos/{repo}/pulls/{n}`).
pub fn request_trigger(
    pull_request: &serde_json::Value,
    repository: Option<&str>,
    target_event: bool,
) -> Option<crate::policy::Trigger> {
    let number = pull_request["number"].as_u64()?;
    let base = pull_request["base"]["ref"].as_str()?.to_owned();
    let head_repo = &pull_request["head"]["repo"];
    // A deleted fork leaves `head.repo` null: still not this repository.
    let base_repo = repository.or(pull_request["base"]["repo"]["full_name"].as_str());
    let from_fork = head_repo.is_null()
        || head_repo["fork"] == true
        || head_repo["full_name"].as_str() != base_repo;
    Some(crate::policy::Trigger::Request {
        kind: "pr",
        number,
        base,
        untrusted: from_fork || target_event,
    })
}

/// The trigger of a push-like run of `GITHUB_REF`.
fn ref_trigger(git_ref: &str) -> crate::policy::Trigger {
    use crate::policy::Trigger;
    if let Some(branch) = branch_of(git_ref) {
        Trigger::Push {
            branch: branch.to_owned(),
        }
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        Trigger::Tag {
            tag: tag.to_owned(),
        }
    } else {
        Trigger::Local
    }
}

/// The event from the runner's variables and the payload at `GITHUB_EVENT_PATH`.
pub fn event(env: &super::Env, payload: &serde_json::Value) -> EventFacts {
    use crate::policy::{CiEvent, Trigger};
    let name = env.get("GITHUB_EVENT_NAME").unwrap_or("");
    let repository = payload["repository"]["full_name"]
        .as_str()
        .or(env.get("GITHUB_REPOSITORY"))
        .unwrap_or("")
        .to_owned();
    let git_ref = env.get("GITHUB_REF").unwrap_or("");
    let mut lookups = Vec::new();
    let trigger = match name {
        "pull_request" | "pull_request_target" => request_trigger(
            &payload["pull_request"],
            Some(&repository),
            name == "pull_request_target",
        )
        .or_else(|| {
            // No payload: the runner's variables still give number and base.
            let number = git_ref
                .strip_prefix("refs/pull/")?
                .split('/')
                .next()?
                .parse()
                .ok()?;
            let base = env
                .get("GITHUB_BASE_REF")
                .filter(|b| !b.is_empty())?
                .to_owned();
            Some(Trigger::Request {
                kind: "pr",
                number,
                base,
                untrusted: name == "pull_request_target",
            })
        })
        .unwrap_or(Trigger::Local),
        "merge_group" => match payload["merge_group"]["base_ref"]
            .as_str()
            .and_then(branch_of)
        {
            Some(base) => Trigger::MergeQueue {
                base: base.to_owned(),
            },
            None => Trigger::Local,
        },
        "issue_comment" if payload["issue"]["pull_request"].is_object() => {
            match payload["issue"]["number"].as_u64() {
                Some(number) => {
                    lookups.push(Lookup::PullRequest {
                        repository: repository.clone(),
                        number,
                    });
                    // Until the API answers, the comment acts on the default branch.
                    ref_trigger(git_ref)
                }
                None => ref_trigger(git_ref),
            }
        }
        "" => Trigger::Local,
        // push, workflow_dispatch, schedule and the rest act as a push of their ref.
        _ => ref_trigger(git_ref),
    };
    let default_branch = payload["repository"]["default_branch"]
        .as_str()
        .map(str::to_owned);
    if default_branch.is_none() && trigger != Trigger::Local && !repository.is_empty() {
        lookups.push(Lookup::DefaultBranch { repository });
    }
    let read_only_token = env.get("GITHUB_ACTOR") == Some("dependabot[bot]");
    EventFacts {
        event: CiEvent {
            trigger,
            default_branch,
            read_only_token,
        },
        lookups,
    }
}

/// Fold the API's answer to a lookup into the event.
pub fn apply_answer(
    event: &mut crate::policy::CiEvent,
    lookup: &Lookup,
    answer: &serde_json::Value,
) {
    match lookup {
        Lookup::PullRequest { repository, .. } => {
            if let Some(trigger) = request_trigger(answer, Some(repository), false) {
                event.trigger = trigger;
            }
        }
        Lookup::DefaultBranch { .. } => {
            if let Some(branch) = answer["default_branch"].as_str() {
                event.default_branch = Some(branch.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("50%\nnext\r"), "50%25%0Anext%0D");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            annotation(
                Level::Error,
                "COPY failed",
                "\"/missing.txt\": not found",
                Some(&Location {
                    file: "Dockerfile".into(),
                    line: 8
                })
            ),
            "::error file=Dockerfile,line=8,title=COPY failed::\"/missing.txt\": not found"
        );
    }

    #[test]
    fn file_commands_survive_multiline_values() {
        let text = file_command("stats", "{\n\"a\": 1\n}");
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let delimiter = header.strip_prefix("stats<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.collect::<Vec<_>>(), ["{", "\"a\": 1", "}", delimiter]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Any value, with newlines and delimiter-like text, reads back exactly.
            #[test]
            fn file_commands_round_trip(value in "(ghadelimiter_|[\\s\\S]){0,80}") {
                let text = file_command("out", &value);
                let (header, rest) = text.split_once('\n').unwrap();
                let delimiter = header.strip_prefix("out<<").unwrap();
                let body = rest.strip_suffix(&format!("\n{delimiter}\n")).unwrap();
                prop_assert_eq!(body, value);
            }
        }
    }
}
