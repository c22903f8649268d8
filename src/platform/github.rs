//! The small GitHub Actions runtime layer: workflow commands, file commands and the step
//! summary, as `actions/toolkit` `packages/core` writes them.

use crate::cache::tags::RequestKind;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use serde::Deserialize;

use super::{Env, Level};
use crate::build_push::{GitHubRun, parse_bool};
use crate::cache::decision::{CiEvent, Merged, Trigger};
use crate::stats::Location;

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
    let command = level.word();
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
    /// A push whose message names no pull request: `GET /repos/{repository}/commits/{sha}/pulls`.
    MergedBy { repository: String, sha: String },
}

/// The fields of an event payload (`GITHUB_EVENT_PATH`) that decide the cache refs, as GitHub
/// documents them ("Webhook events and payloads"); everything else is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Payload {
    repository: Option<Repository>,
    pull_request: Option<PullRequest>,
    merge_group: Option<MergeGroup>,
    issue: Option<Issue>,
    head_commit: Option<HeadCommit>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct HeadCommit {
    message: Option<String>,
}

impl Payload {
    /// The payload file's bytes; anything unreadable is an empty payload (the runner's
    /// variables still decide).
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// `repository.default_branch`, when the payload has it.
    pub fn default_branch(&self) -> Option<&str> {
        self.repository.as_ref()?.default_branch()
    }
}

/// `repository` of a payload, and the answer of `GET /repos/{owner}/{repo}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Repository {
    full_name: Option<String>,
    default_branch: Option<String>,
    private: Option<bool>,
}

impl Repository {
    pub fn default_branch(&self) -> Option<&str> {
        self.default_branch.as_deref()
    }
}

/// `pull_request` of a payload, and the answer of `GET /repos/{owner}/{repo}/pulls/{n}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    number: u64,
    /// Set once merged (the API's answers; payloads of open requests have null).
    merged_at: Option<String>,
    base: Base,
    head: Head,
}

#[derive(Debug, Clone, Deserialize)]
struct Base {
    #[serde(rename = "ref")]
    branch: String,
    repo: Option<Repository>,
}

#[derive(Debug, Clone, Deserialize)]
struct Head {
    /// Null when the fork was deleted.
    repo: Option<HeadRepository>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    branch: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadRepository {
    full_name: Option<String>,
    #[serde(default)]
    fork: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct MergeGroup {
    base_ref: Option<String>,
    /// `refs/heads/gh-readonly-queue/<base>/pr-<N>-<sha>`.
    head_ref: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Issue {
    number: Option<u64>,
    /// Present (an object) when the issue is a pull request.
    pull_request: Option<serde::de::IgnoredAny>,
}

/// What the API answered to a lookup.
#[derive(Debug, Clone)]
pub enum Answer {
    PullRequest(PullRequest),
    Repository(Repository),
    /// The pull requests associated with a commit.
    PullRequests(Vec<PullRequest>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub event: CiEvent,
    pub lookups: Vec<Lookup>,
    /// For the log: what could not be classified.
    pub warnings: Vec<String>,
}

fn branch_of(git_ref: &str) -> Option<&str> {
    git_ref.strip_prefix("refs/heads/")
}

/// The trigger of a pull request, from the payload or the API.
fn request_trigger(
    pull_request: &PullRequest,
    repository: Option<&str>,
    target_event: bool,
) -> Trigger {
    let base_repo = repository.or(pull_request
        .base
        .repo
        .as_ref()
        .and_then(|r| r.full_name.as_deref()));
    // A deleted fork leaves `head.repo` null: still not this repository.
    let from_fork = match &pull_request.head.repo {
        None => true,
        Some(head) => head.fork || head.full_name.as_deref() != base_repo,
    };
    Trigger::Request {
        kind: RequestKind::Pull,
        number: pull_request.number,
        base: pull_request.base.branch.clone(),
        head: pull_request.head.branch.clone().filter(|_| !from_fork),
        untrusted: from_fork || target_event,
    }
}

/// The pull request a push merged, from its head commit's message, in the two forms GitHub
/// writes: a squash merge's title ends with its own number, `Title (#N)`, and that number
/// wins whatever the title says before it (a title can be made to read as anything); a merge
/// commit's first line is exactly `Merge pull request #N from owner/branch`, and the branch is
/// read only when `owner` is this repository's and it is a valid branch name.
pub fn merged_from_message(message: &str, repository: &str) -> Option<Merged> {
    let first = message.lines().next()?.trim();
    if let Some(number) = first
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once("(#"))
        .and_then(|(_, digits)| number_of(digits))
    {
        return Some(Merged {
            kind: RequestKind::Pull,
            number,
            head: None,
        });
    }
    let (number, from) = first
        .strip_prefix("Merge pull request #")?
        .split_once(" from ")?;
    let (owner, branch) = from.split_once('/')?;
    let ours = repository.split('/').next() == Some(owner);
    Some(Merged {
        kind: RequestKind::Pull,
        number: number_of(number)?,
        head: (ours && crate::cache::slug::is_branch_name(branch)).then(|| branch.to_owned()),
    })
}

/// A request number: ASCII digits only (`str::parse` also takes a leading `+`).
fn number_of(digits: &str) -> Option<u64> {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten()
        .filter(|n| *n > 0)
}

/// The request numbers of a merge group's head ref.
fn queued_requests(head_ref: &str) -> Vec<u64> {
    head_ref
        .rsplit('/')
        .next()
        .and_then(|last| last.strip_prefix("pr-"))
        .and_then(|rest| rest.split('-').next())
        .and_then(|digits| digits.parse().ok())
        .into_iter()
        .collect()
}

/// The trigger of a push-like run of `GITHUB_REF`.
fn ref_trigger(git_ref: &str) -> Trigger {
    if let Some(branch) = branch_of(git_ref) {
        Trigger::Push {
            branch: branch.to_owned(),
            merged: None,
        }
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        Trigger::Tag {
            tag: tag.to_owned(),
        }
    } else {
        Trigger::Local
    }
}

/// How a build started by an event may use the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// Trusted code of a pushed ref (push, tags, a run someone with write access started):
    /// reads and writes as a push of `GITHUB_REF`.
    PushLike,
    /// A pull request's code: its own tag, read-only from forks (`pull_request` and the review
    /// events, whose payload carries the pull request).
    PullRequest,
    /// The base's workflow with a write token, possibly building the pull request's code.
    PullRequestTarget,
    /// A comment: a pull request's (resolved through the API) or an issue's.
    IssueComment,
    MergeGroup,
    /// No build of pushed code (issues, labels, stars, a finished workflow run, …): reads the
    /// caches of `GITHUB_REF`, writes none.
    ReadOnly,
}

/// Every event GitHub documents ("Events that trigger workflows", docs.github.com), classified.
/// A name not listed is unknown: read-only, with a warning.
pub const EVENTS: &[(&str, EventClass)] = {
    use EventClass::*;
    &[
        ("branch_protection_rule", ReadOnly),
        ("check_run", ReadOnly),
        ("check_suite", ReadOnly),
        ("create", PushLike),
        ("delete", ReadOnly),
        ("deployment", PushLike),
        ("deployment_status", ReadOnly),
        ("discussion", ReadOnly),
        ("discussion_comment", ReadOnly),
        ("fork", ReadOnly),
        ("gollum", ReadOnly),
        ("image_version", ReadOnly),
        ("issue_comment", IssueComment),
        ("issues", ReadOnly),
        ("label", ReadOnly),
        ("merge_group", MergeGroup),
        ("milestone", ReadOnly),
        ("page_build", ReadOnly),
        ("project", ReadOnly),
        ("project_card", ReadOnly),
        ("project_column", ReadOnly),
        ("public", ReadOnly),
        ("pull_request", PullRequest),
        ("pull_request_review", PullRequest),
        ("pull_request_review_comment", PullRequest),
        ("pull_request_target", PullRequestTarget),
        ("push", PushLike),
        ("registry_package", ReadOnly),
        ("release", PushLike),
        ("repository_dispatch", PushLike),
        ("schedule", PushLike),
        ("status", ReadOnly),
        ("watch", ReadOnly),
        ("workflow_call", PushLike),
        ("workflow_dispatch", PushLike),
        ("workflow_run", ReadOnly),
    ]
};

pub fn classify(event_name: &str) -> Option<EventClass> {
    EVENTS
        .iter()
        .find(|(name, _)| *name == event_name)
        .map(|(_, class)| *class)
}

/// What build-push-action reads of the run (`build_push::GitHubRun`); none when the runner's
/// variables that name the run are missing (then nothing is derived from it).
pub fn build_run(env: &Env, payload: &Payload) -> Option<GitHubRun> {
    let text = |name: &str| env.get(name).unwrap_or_default().to_owned();
    let switch = |name: &str| env.get(name).and_then(parse_bool).unwrap_or(false);
    if text("GITHUB_REPOSITORY").is_empty() || text("GITHUB_RUN_ID").is_empty() {
        return None;
    }
    Some(GitHubRun {
        server_url: env
            .get("GITHUB_SERVER_URL")
            .filter(|u| !u.is_empty())
            .unwrap_or("https://github.com")
            .to_owned(),
        repository: text("GITHUB_REPOSITORY"),
        git_ref: text("GITHUB_REF"),
        sha: env
            .get("GITHUB_SHA")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        pull_request_head_sha: payload
            .pull_request
            .as_ref()
            .and_then(|pr| pr.head.sha.clone()),
        run_id: text("GITHUB_RUN_ID"),
        run_attempt: text("GITHUB_RUN_ATTEMPT"),
        private_repository: payload
            .repository
            .as_ref()
            .and_then(|r| r.private)
            .unwrap_or(false),
        pull_request_head_ref: switch("DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF"),
        git_query: switch("BUILDX_SEND_GIT_QUERY_AS_INPUT"),
        no_default_attestations: switch("BUILDX_NO_DEFAULT_ATTESTATIONS"),
        token: token(env).map(str::to_owned),
    })
}

/// The `github-token` input (the job's token unless the workflow gives another), or
/// `GITHUB_TOKEN` when the command line runs in a job that exports it.
pub fn token(env: &Env) -> Option<&str> {
    env.get("INPUT_GITHUB-TOKEN")
        .or(env.get("GITHUB_TOKEN"))
        .filter(|t| !t.is_empty())
}

/// The event from the runner's variables and the payload at `GITHUB_EVENT_PATH`.
pub fn event(env: &Env, payload: &Payload) -> EventFacts {
    let name = env.get("GITHUB_EVENT_NAME").unwrap_or("");
    let repository = payload
        .repository
        .as_ref()
        .and_then(|r| r.full_name.as_deref())
        .or(env.get("GITHUB_REPOSITORY"))
        .unwrap_or("")
        .to_owned();
    let mut reading = Reading {
        env,
        payload,
        name,
        git_ref: env.get("GITHUB_REF").unwrap_or(""),
        repository,
        lookups: Vec::new(),
        read_only: None,
        warnings: Vec::new(),
    };
    let trigger = match classify(name) {
        _ if name.is_empty() => Trigger::Local,
        Some(EventClass::PullRequest | EventClass::PullRequestTarget) => reading.pull_request(),
        Some(EventClass::MergeGroup) => reading.merge_group(),
        Some(EventClass::IssueComment) => reading.comment(),
        Some(EventClass::PushLike) => reading.push(),
        Some(EventClass::ReadOnly) => {
            reading.read_only = Some(format!("{name} is no build of pushed code"));
            ref_trigger(reading.git_ref)
        }
        None => {
            reading.warnings.push(format!(
                "the event `{name}` is not one regcache knows; reading caches, writing none"
            ));
            reading.read_only = Some(format!("unknown event {name}"));
            ref_trigger(reading.git_ref)
        }
    };
    let Reading {
        repository,
        mut lookups,
        mut read_only,
        warnings,
        ..
    } = reading;
    let default_branch = payload
        .repository
        .as_ref()
        .and_then(|r| r.default_branch.clone());
    if default_branch.is_none() && trigger != Trigger::Local && !repository.is_empty() {
        lookups.push(Lookup::DefaultBranch { repository });
    }
    if env.get("GITHUB_ACTOR") == Some("dependabot[bot]") {
        read_only = Some("the token cannot write packages (Dependabot)".to_owned());
    }
    EventFacts {
        event: CiEvent {
            trigger,
            default_branch,
            read_only,
        },
        lookups,
        warnings,
    }
}

/// The event as it is read: what the runner and the payload say, and what reading found to
/// ask the API, to forbid or to warn about.
struct Reading<'a> {
    env: &'a Env,
    payload: &'a Payload,
    name: &'a str,
    git_ref: &'a str,
    repository: String,
    lookups: Vec<Lookup>,
    read_only: Option<String>,
    warnings: Vec<String>,
}

impl Reading<'_> {
    /// `pull_request` and its kin: the payload's pull request, or without one the runner's
    /// variables, which give number and base but not whether the code comes from a fork, so
    /// the build must not write.
    fn pull_request(&mut self) -> Trigger {
        let target = self.name == "pull_request_target";
        if let Some(pr) = &self.payload.pull_request {
            return request_trigger(pr, Some(&self.repository), target);
        }
        let from_variables = || {
            let number = self
                .git_ref
                .strip_prefix("refs/pull/")?
                .split('/')
                .next()?
                .parse()
                .ok()?;
            let base = self
                .env
                .get("GITHUB_BASE_REF")
                .filter(|b| !b.is_empty())?
                .to_owned();
            Some(Trigger::Request {
                kind: RequestKind::Pull,
                number,
                base,
                head: None,
                untrusted: true,
            })
        };
        from_variables().unwrap_or_else(|| {
            self.read_only = Some(format!("{} without a readable pull request", self.name));
            ref_trigger(self.git_ref)
        })
    }

    /// A merge queue's group: its base and the requests queued in it.
    fn merge_group(&mut self) -> Trigger {
        let group = self.payload.merge_group.as_ref();
        match group
            .and_then(|m| m.base_ref.as_deref())
            .and_then(branch_of)
        {
            Some(base) => Trigger::MergeQueue {
                kind: RequestKind::Pull,
                base: base.to_owned(),
                requests: group
                    .and_then(|m| m.head_ref.as_deref())
                    .map(queued_requests)
                    .unwrap_or_default(),
            },
            None => {
                self.read_only = Some("merge_group without a readable base".to_owned());
                ref_trigger(self.git_ref)
            }
        }
    }

    /// A comment: on a pull request, the API is asked which; until it answers, the comment
    /// acts on its ref and writes nothing.
    fn comment(&mut self) -> Trigger {
        if let Some(Issue {
            number: Some(number),
            pull_request: Some(_),
        }) = &self.payload.issue
        {
            self.lookups.push(Lookup::PullRequest {
                repository: self.repository.clone(),
                number: *number,
            });
            self.read_only = Some(unresolved_comment(*number));
        } else {
            self.read_only = Some("issue_comment on an issue".to_owned());
        }
        ref_trigger(self.git_ref)
    }

    /// A push (or another build of a pushed ref): a push to a branch reads the request it
    /// merged, from its head commit's message or, failing that, from the API.
    fn push(&mut self) -> Trigger {
        let mut trigger = ref_trigger(self.git_ref);
        if let (Trigger::Push { merged, branch }, "push") = (&mut trigger, self.name) {
            *merged = self
                .payload
                .head_commit
                .as_ref()
                .and_then(|c| c.message.as_deref())
                .and_then(|m| merged_from_message(m, &self.repository));
            // The message says nothing (a rebase merge, an edited title): ask which pull
            // request the commit belongs to, for a push to the default branch (where
            // requests are merged), only with a token to ask with.
            let sha = self.env.get("GITHUB_SHA").filter(|s| !s.is_empty());
            let to_default = self
                .payload
                .repository
                .as_ref()
                .and_then(|r| r.default_branch.as_deref())
                == Some(branch.as_str());
            if let (None, Some(sha), Some(_), true) = (&merged, sha, token(self.env), to_default) {
                self.lookups.push(Lookup::MergedBy {
                    repository: self.repository.clone(),
                    sha: sha.to_owned(),
                });
            }
        }
        trigger
    }
}

/// Until the API says which pull request a comment is on, the build must not write: it would
/// put a pull request's code into its ref's cache.
fn unresolved_comment(number: u64) -> String {
    format!("the pull request #{number} behind the comment could not be read")
}

/// A lookup the API could not answer leaves the event as it is (read-only for a comment).
pub fn apply_failure(event: &mut CiEvent, lookup: &Lookup) {
    if let Lookup::PullRequest { number, .. } = lookup {
        event.read_only = Some(unresolved_comment(*number));
    }
}

/// Fold the API's answer to a lookup into the event.
pub fn apply_answer(event: &mut CiEvent, lookup: &Lookup, answer: &Answer) {
    match (lookup, answer) {
        (Lookup::PullRequest { repository, number }, Answer::PullRequest(pr)) => {
            event.trigger = request_trigger(pr, Some(repository), false);
            if event.read_only.as_deref() == Some(unresolved_comment(*number).as_str()) {
                event.read_only = None;
            }
        }
        (Lookup::MergedBy { repository, .. }, Answer::PullRequests(pulls)) => {
            let found = pulls.iter().find(|pr| pr.merged_at.is_some());
            if let (Trigger::Push { merged, .. }, Some(pr)) = (&mut event.trigger, found) {
                let head = match request_trigger(pr, Some(repository), false) {
                    Trigger::Request { head, .. } => head,
                    _ => None,
                };
                *merged = Some(Merged {
                    kind: RequestKind::Pull,
                    number: pr.number,
                    head,
                });
            }
        }
        (Lookup::DefaultBranch { .. }, Answer::Repository(repository)) => {
            if let Some(branch) = &repository.default_branch {
                event.default_branch = Some(branch.clone());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_build_push_action_sees() {
        let payload = Payload::parse(
            br#"{"repository": {"full_name": "o/r", "private": true},
            "pull_request": {"number": 7, "base": {"ref": "main"},
                             "head": {"ref": "f", "sha": "abc", "repo": {"full_name": "o/r"}}}}"#,
        );
        let env: Env = [
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "9"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_SHA", "merge-sha"),
            ("DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF", "1"),
            ("BUILDX_NO_DEFAULT_ATTESTATIONS", "maybe"),
            ("INPUT_GITHUB-TOKEN", "ghs_x"),
        ]
        .into_iter()
        .collect();
        let run = build_run(&env, &payload).unwrap();
        assert_eq!(run.server_url, "https://github.com");
        assert_eq!(run.pull_request_head_sha.as_deref(), Some("abc"));
        assert!(run.private_repository && run.pull_request_head_ref);
        assert!(!run.no_default_attestations, "not a boolean: off");
        assert_eq!(run.token.as_deref(), Some("ghs_x"));
        assert_eq!(
            run.run_url(),
            "https://github.com/o/r/actions/runs/9/attempts/2"
        );
        let without_run_id: Env = [("GITHUB_REPOSITORY", "o/r")].into_iter().collect();
        assert_eq!(build_run(&without_run_id, &payload), None);
    }

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
            /// Any commit message reads to an end; a merged request's number is one GitHub
            /// wrote (`#N` or `(#N)` on the first line), a head branch one git would accept.
            #[test]
            fn any_commit_message_reads_safely(
                message in "(Merge pull request #| from |/|\\(#|\\)|[0-9]|\\n|[ -~]|\\PC){0,120}"
            ) {
                if let Some(merged) = merged_from_message(&message, "octo/app") {
                    let first = message.lines().next().unwrap_or_default();
                    prop_assert!(merged.number > 0);
                    prop_assert!(first.contains(&format!("#{}", merged.number)), "{}", first);
                    prop_assert!(merged.head.as_deref().is_none_or(crate::cache::slug::is_branch_name));
                }
            }
        }

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
