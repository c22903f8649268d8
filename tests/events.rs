//! Every event kind and payload shape, table-driven: the runner's variables and the payload
//! (tests/fixtures/github, shapes from GitHub's docs) become a trigger, then read and write
//! tags. GitLab's predefined variables likewise.

mod common;

use regcache::Env;
use regcache::internals::github::{self, Lookup};
use regcache::internals::gitlab;
use regcache::internals::{CiEvent, Merged, PolicySettings, RequestKind, Trigger, decide, slug};

fn fixture(name: &str) -> Vec<u8> {
    let path = common::fixture(&format!("github/{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn payload(name: &str) -> github::Payload {
    github::Payload::parse(&fixture(name))
}

/// A push to `main` of the fixtures' repository.
fn push_to_main() -> Env {
    [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]
    .into_iter()
    .collect()
}

fn settings() -> PolicySettings {
    PolicySettings::default()
}

fn tags(v: &[&str]) -> Vec<String> {
    v.iter().map(|t| format!("buildcache-{t}")).collect()
}

struct Case {
    event_name: &'static str,
    git_ref: &'static str,
    payload: &'static str,
    actor: &'static str,
    trigger: Trigger,
    lookups: Vec<Lookup>,
    read: Vec<String>,
    write: Option<String>,
}

#[test]
fn github_events() {
    let repo = "Codertocat/Hello-World".to_owned();
    let feature = slug("feature/x", 100);
    let cases = vec![
        Case {
            event_name: "push",
            git_ref: "refs/heads/main",
            payload: "push-branch.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            lookups: vec![],
            read: tags(&["main"]),
            write: Some("buildcache-main".into()),
        },
        Case {
            event_name: "push",
            git_ref: "refs/heads/feature/x",
            payload: "push-branch.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "feature/x".into(),
                merged: None,
            },
            lookups: vec![],
            read: tags(&[&feature, "main"]),
            write: Some(format!("buildcache-{feature}")),
        },
        Case {
            event_name: "push",
            git_ref: "refs/tags/v1.2.0",
            payload: "push-tag.json",
            actor: "Codertocat",
            trigger: Trigger::Tag {
                tag: "v1.2.0".into(),
            },
            lookups: vec![],
            read: tags(&["main"]),
            write: None,
        },
        Case {
            event_name: "pull_request",
            git_ref: "refs/pull/2/merge",
            payload: "pull_request-opened.json",
            actor: "Codertocat",
            trigger: Trigger::Request {
                kind: RequestKind::Pull,
                number: 2,
                base: "develop".into(),
                head: Some("changes".into()),
                untrusted: false,
            },
            lookups: vec![],
            read: tags(&["pr-2", "changes", "develop", "main"]),
            write: Some("buildcache-pr-2".into()),
        },
        Case {
            event_name: "pull_request",
            git_ref: "refs/pull/3/merge",
            payload: "pull_request-fork.json",
            actor: "contributor",
            trigger: Trigger::Request {
                kind: RequestKind::Pull,
                number: 3,
                base: "main".into(),
                head: None,
                untrusted: true,
            },
            lookups: vec![],
            read: tags(&["pr-3", "main"]),
            write: None,
        },
        Case {
            event_name: "pull_request",
            git_ref: "refs/pull/4/merge",
            payload: "pull_request-deleted-fork.json",
            actor: "contributor",
            trigger: Trigger::Request {
                kind: RequestKind::Pull,
                number: 4,
                base: "main".into(),
                head: None,
                untrusted: true,
            },
            lookups: vec![],
            read: tags(&["pr-4", "main"]),
            write: None,
        },
        Case {
            event_name: "pull_request_target",
            git_ref: "refs/heads/develop",
            payload: "pull_request-opened.json",
            actor: "Codertocat",
            trigger: Trigger::Request {
                kind: RequestKind::Pull,
                number: 2,
                base: "develop".into(),
                head: Some("changes".into()),
                untrusted: true,
            },
            lookups: vec![],
            // pull_request_target runs untrusted code: no head branch either.
            read: tags(&["pr-2", "develop", "main"]),
            write: None,
        },
        Case {
            event_name: "pull_request",
            git_ref: "refs/pull/2/merge",
            payload: "pull_request-opened.json",
            actor: "dependabot[bot]",
            trigger: Trigger::Request {
                kind: RequestKind::Pull,
                number: 2,
                base: "develop".into(),
                head: Some("changes".into()),
                untrusted: false,
            },
            lookups: vec![],
            read: tags(&["pr-2", "changes", "develop", "main"]),
            write: None,
        },
        Case {
            event_name: "merge_group",
            git_ref: "refs/heads/gh-readonly-queue/main/pr-2-f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            payload: "merge_group.json",
            actor: "Codertocat",
            trigger: Trigger::MergeQueue {
                kind: RequestKind::Pull,
                base: "main".into(),
                requests: vec![2],
            },
            lookups: vec![],
            read: tags(&["pr-2", "main"]),
            write: None,
        },
        Case {
            event_name: "issue_comment",
            git_ref: "refs/heads/main",
            payload: "issue_comment-pull_request.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            lookups: vec![Lookup::PullRequest {
                repository: repo.clone(),
                number: 2,
            }],
            // Until the API names the pull request, the comment writes nothing.
            read: tags(&["main"]),
            write: None,
        },
        Case {
            event_name: "issue_comment",
            git_ref: "refs/heads/main",
            payload: "issue_comment-issue.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            lookups: vec![],
            read: tags(&["main"]),
            write: None,
        },
        Case {
            event_name: "workflow_dispatch",
            git_ref: "refs/heads/release/2.0",
            payload: "workflow_dispatch.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "release/2.0".into(),
                merged: None,
            },
            lookups: vec![],
            read: tags(&[&slug("release/2.0", 100), "main"]),
            write: Some(format!("buildcache-{}", slug("release/2.0", 100))),
        },
        Case {
            event_name: "schedule",
            git_ref: "refs/heads/main",
            payload: "schedule.json",
            actor: "Codertocat",
            trigger: Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            lookups: vec![Lookup::DefaultBranch {
                repository: repo.clone(),
            }],
            read: tags(&["main"]),
            write: Some("buildcache-main".into()),
        },
    ];
    let merged = |number: u64, head: Option<&str>| Trigger::Push {
        branch: "main".into(),
        merged: Some(Merged {
            kind: RequestKind::Pull,
            number,
            head: head.map(str::to_owned),
        }),
    };
    let cases = cases.into_iter().chain([
        Case {
            event_name: "push",
            git_ref: "refs/heads/main",
            payload: "push-merge-commit.json",
            actor: "Codertocat",
            trigger: merged(2, Some("changes")),
            lookups: vec![],
            read: tags(&["main", "pr-2", "changes"]),
            write: Some("buildcache-main".into()),
        },
        Case {
            event_name: "push",
            git_ref: "refs/heads/main",
            payload: "push-squash-merge.json",
            actor: "Codertocat",
            trigger: merged(2, None),
            lookups: vec![],
            read: tags(&["main", "pr-2"]),
            write: Some("buildcache-main".into()),
        },
        Case {
            event_name: "push",
            git_ref: "refs/heads/main",
            payload: "push-fork-merge-commit.json",
            actor: "Codertocat",
            // `contributor/main`: a fork's branch, never read as this repository's `main`.
            trigger: merged(3, None),
            lookups: vec![],
            read: tags(&["main", "pr-3"]),
            write: Some("buildcache-main".into()),
        },
        Case {
            event_name: "push",
            git_ref: "refs/heads/main",
            payload: "push-rebase-merge.json",
            actor: "Codertocat",
            // No token in this environment: the API is not asked.
            trigger: Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            lookups: vec![],
            read: tags(&["main"]),
            write: Some("buildcache-main".into()),
        },
    ]);
    for case in cases {
        let env: Env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", case.event_name),
            ("GITHUB_REF", case.git_ref),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("GITHUB_ACTOR", case.actor),
        ]
        .into_iter()
        .collect();
        let facts = github::event(&env, &payload(case.payload));
        let label = format!("{} {}", case.event_name, case.payload);
        assert_eq!(facts.event.trigger, case.trigger, "{label}");
        assert_eq!(facts.lookups, case.lookups, "{label}");
        let decision = decide(&facts.event, &settings());
        assert_eq!(decision.why.len(), decision.read.len(), "{label}");
        assert_eq!(
            (decision.read, decision.write),
            (case.read, case.write),
            "{label}"
        );
    }
}

#[test]
fn each_ref_of_a_chain_says_why_it_is_there() {
    let env: Env = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/2/merge"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]
    .into_iter()
    .collect();
    let facts = github::event(&env, &payload("pull_request-opened.json"));
    let decision = decide(&facts.event, &settings());
    assert_eq!(
        decision.why,
        [
            "pr-2: this request",
            "changes: its head branch",
            "develop: its base branch",
            "main: the default branch"
        ]
    );
    let env = push_to_main();
    let facts = github::event(&env, &payload("push-merge-commit.json"));
    assert_eq!(
        decide(&facts.event, &settings()).why,
        [
            "main: this branch",
            "pr-2: the request this push merged",
            "changes: the merged request's head branch"
        ]
    );
}

/// An `issue_comment` on pull request 2, before the API is asked about it.
fn comment_on_a_pull_request() -> github::EventFacts {
    let env: Env = [
        ("GITHUB_EVENT_NAME", "issue_comment"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]
    .into_iter()
    .collect();
    github::event(&env, &payload("issue_comment-pull_request.json"))
}

#[test]
fn api_answers_complete_the_event() {
    let facts = comment_on_a_pull_request();
    let mut event = facts.event.clone();
    github::apply_answer(
        &mut event,
        &facts.lookups[0],
        &github::Answer::PullRequest(
            serde_json::from_slice(&fixture("api-pulls-get.json")).unwrap(),
        ),
    );
    assert_eq!(
        event.trigger,
        Trigger::Request {
            kind: RequestKind::Pull,
            number: 2,
            base: "develop".into(),
            head: Some("changes".into()),
            untrusted: false
        }
    );
    let decision = decide(&event, &settings());
    assert_eq!(
        (decision.read, decision.write),
        (
            tags(&["pr-2", "changes", "develop", "main"]),
            Some("buildcache-pr-2".into())
        )
    );

    let env: Env = [
        ("GITHUB_EVENT_NAME", "schedule"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]
    .into_iter()
    .collect();
    let facts = github::event(&env, &payload("schedule.json"));
    let mut event = facts.event.clone();
    github::apply_answer(
        &mut event,
        &facts.lookups[0],
        &github::Answer::Repository(
            serde_json::from_slice(&fixture("api-repos-get.json")).unwrap(),
        ),
    );
    assert_eq!(event.default_branch.as_deref(), Some("trunk"));
    assert_eq!(decide(&event, &settings()).read, tags(&["main", "trunk"]));
}

#[test]
fn without_a_payload_the_runner_variables_still_decide() {
    let env: Env = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/9/merge"),
        ("GITHUB_BASE_REF", "main"),
        ("GITHUB_REPOSITORY", "o/r"),
    ]
    .into_iter()
    .collect();
    let facts = github::event(&env, &github::Payload::default());
    assert_eq!(
        facts.event.trigger,
        Trigger::Request {
            kind: RequestKind::Pull,
            number: 9,
            base: "main".into(),
            head: None,
            untrusted: true
        },
        "without the payload, fork status is unknown: the build must not write"
    );
    assert_eq!(decide(&facts.event, &settings()).write, None);
    assert_eq!(
        facts.lookups,
        vec![Lookup::DefaultBranch {
            repository: "o/r".into()
        }]
    );
    let local = github::event(&Env::default(), &github::Payload::default());
    assert_eq!(
        local.event,
        CiEvent {
            trigger: Trigger::Local,
            default_branch: None,
            read_only: None
        }
    );
    assert!(local.lookups.is_empty());
}

#[test]
fn gitlab_variables() {
    let base = [
        ("GITLAB_CI", "true"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PROJECT_PATH", "group/app"),
    ];
    // Variables, then the expected trigger, read tags and write tag.
    type GitLabCase<'a> = (
        Vec<(&'a str, &'a str)>,
        Trigger,
        Vec<String>,
        Option<String>,
    );
    let cases: Vec<GitLabCase> = vec![
        (
            vec![
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
            ],
            Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            tags(&["main"]),
            Some("buildcache-main".into()),
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/x"),
                ("CI_COMMIT_REF_NAME", "feature/x"),
            ],
            Trigger::Push {
                branch: "feature/x".into(),
                merged: None,
            },
            tags(&[&slug("feature/x", 100), "main"]),
            Some(format!("buildcache-{}", slug("feature/x", 100))),
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_TAG", "v17.2.0-rc42-ee"),
                ("CI_COMMIT_REF_NAME", "v17.2.0-rc42-ee"),
            ],
            Trigger::Tag {
                tag: "v17.2.0-rc42-ee".into(),
            },
            tags(&["main"]),
            None,
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "17"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/x"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "develop"),
                ("CI_MERGE_REQUEST_PROJECT_ID", "100"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "100"),
            ],
            Trigger::Request {
                kind: RequestKind::Merge,
                number: 17,
                base: "develop".into(),
                head: Some("feature/x".into()),
                untrusted: false,
            },
            tags(&["mr-17", &slug("feature/x", 100), "develop", "main"]),
            Some("buildcache-mr-17".into()),
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "18"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "patch-1"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_MERGE_REQUEST_PROJECT_ID", "100"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "555"),
            ],
            Trigger::Request {
                kind: RequestKind::Merge,
                number: 18,
                base: "main".into(),
                head: None,
                untrusted: true,
            },
            tags(&["mr-18", "main"]),
            None,
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "19"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "merge_train"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ],
            Trigger::MergeQueue {
                kind: RequestKind::Merge,
                base: "main".into(),
                requests: vec![19],
            },
            tags(&["mr-19", "main"]),
            None,
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "main"),
            ],
            Trigger::Push {
                branch: "main".into(),
                merged: None,
            },
            tags(&["main"]),
            Some("buildcache-main".into()),
        ),
        (
            // The push of a merge request's merge commit (GitLab's default message).
            vec![
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                (
                    "CI_COMMIT_MESSAGE",
                    "Merge branch 'tax-rounding' into 'main'\n\nRound taxes\n\nSee merge request group/app!17",
                ),
            ],
            Trigger::Push {
                branch: "main".into(),
                merged: Some(Merged {
                    kind: RequestKind::Merge,
                    number: 17,
                    head: Some("tax-rounding".into()),
                }),
            },
            tags(&["main", "mr-17", "tax-rounding"]),
            Some("buildcache-main".into()),
        ),
    ];
    for (vars, trigger, read, write) in cases {
        let env: Env = base.iter().chain(vars.iter()).copied().collect();
        let event = gitlab::event(&env);
        assert_eq!(event.trigger, trigger, "{vars:?}");
        assert_eq!(event.default_branch.as_deref(), Some("main"));
        let decision = decide(&event, &settings());
        assert_eq!((decision.read, decision.write), (read, write), "{vars:?}");
    }
}

#[test]
fn every_documented_event_is_classified_and_only_trusted_ones_write() {
    use github::EventClass;
    let names: Vec<&str> = github::EVENTS.iter().map(|(n, _)| *n).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "listed once each, in order");
    for (name, class) in github::EVENTS {
        let (payload_file, git_ref) = match class {
            EventClass::PullRequest | EventClass::PullRequestTarget => {
                ("pull_request-opened.json", "refs/pull/2/merge")
            }
            EventClass::MergeGroup => (
                "merge_group.json",
                "refs/heads/gh-readonly-queue/main/pr-2-f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            ),
            EventClass::IssueComment => ("issue_comment-issue.json", "refs/heads/main"),
            EventClass::PushLike | EventClass::ReadOnly => ("push-branch.json", "refs/heads/main"),
        };
        let env: Env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", *name),
            ("GITHUB_REF", git_ref),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("GITHUB_ACTOR", "Codertocat"),
        ]
        .into_iter()
        .collect();
        let facts = github::event(&env, &payload(payload_file));
        assert!(facts.warnings.is_empty(), "{name}: {:?}", facts.warnings);
        let write = decide(&facts.event, &settings()).write;
        let expected = match class {
            EventClass::PushLike => Some("buildcache-main".to_owned()),
            EventClass::PullRequest => Some("buildcache-pr-2".to_owned()),
            _ => None,
        };
        assert_eq!(write, expected, "{name} ({class:?})");
    }

    let env: Env = [
        ("GITHUB_EVENT_NAME", "pull_request_review_comment"),
        ("GITHUB_REF", "refs/pull/3/merge"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]
    .into_iter()
    .collect();
    let fork = github::event(&env, &payload("pull_request-fork.json"));
    assert_eq!(
        decide(&fork.event, &settings()).write,
        None,
        "a review comment on a fork's pull request never writes"
    );

    let env: Env = [
        ("GITHUB_EVENT_NAME", "some_future_event"),
        ("GITHUB_REF", "refs/heads/main"),
    ]
    .into_iter()
    .collect();
    let unknown = github::event(&env, &payload("push-branch.json"));
    assert_eq!(
        unknown.warnings,
        ["the event `some_future_event` is not one regcache knows; reading caches, writing none"]
    );
    let decision = decide(&unknown.event, &settings());
    assert_eq!((decision.read, decision.write), (tags(&["main"]), None));
}

#[test]
fn a_comment_whose_pull_request_cannot_be_read_writes_nothing() {
    let facts = comment_on_a_pull_request();
    let mut event = facts.event.clone();
    github::apply_failure(&mut event, &facts.lookups[0]);
    let decision = decide(&event, &settings());
    assert_eq!(decision.write, None);
    assert_eq!(
        decision.reason,
        "the pull request #2 behind the comment could not be read: read-only"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any payload a pull request could shape: the adapter never panics, and a pull
        /// request writes only when it comes from this repository and not from a fork.
        #[test]
        fn a_pull_request_writes_only_from_this_repository(
            event_index in 0..github::EVENTS.len(),
            number in 0u64..100_000,
            base in "[a-zA-Z0-9/._-]{1,20}",
            head_repo in prop_oneof![Just(None), "[a-z]{1,5}/[a-z]{1,5}".prop_map(Some)],
            fork in any::<bool>(),
            repository in "[a-z]{1,5}/[a-z]{1,5}",
            git_ref in "refs/(heads|tags|pull)/[a-z0-9/]{1,12}",
            head_branch in "[a-zA-Z0-9/._-]{1,20}",
        ) {
            let head = match &head_repo {
                Some(name) => serde_json::json!({"repo": {"full_name": name, "fork": fork}, "ref": head_branch}),
                None => serde_json::json!({"repo": null, "ref": head_branch}),
            };
            let payload = serde_json::json!({
                "repository": {"full_name": repository, "default_branch": "main"},
                "pull_request": {"number": number, "base": {"ref": base}, "head": head},
            });
            let (name, class) = github::EVENTS[event_index];
            let env: Env = [("GITHUB_EVENT_NAME", name), ("GITHUB_REF", git_ref.as_str())]
                .into_iter()
                .collect();
            let facts = github::event(&env, &github::Payload::parse(payload.to_string().as_bytes()));
            let decision = decide(&facts.event, &settings());
            let write = decision.write;
            let trusted_request = head_repo.as_deref() == Some(repository.as_str()) && !fork;
            // A fork names its branch anything (`main` too): its tag is read only when it is
            // also this repository's base or default branch.
            let head_tag = regcache::internals::tag(&settings(), regcache::internals::Key::Branch(&head_branch));
            let other_reason = head_branch == base || head_branch == "main";
            let request_class = matches!(class, github::EventClass::PullRequest | github::EventClass::PullRequestTarget);
            if request_class && !trusted_request && !other_reason {
                prop_assert!(!decision.read.contains(&head_tag), "{} read {}", name, head_tag);
            }
            match class {
                github::EventClass::PullRequest => prop_assert_eq!(write.is_some(), trusted_request, "{}", name),
                github::EventClass::PushLike => {}
                _ => prop_assert_eq!(write, None, "{}", name),
            }
        }

        /// Bytes that are not a payload at all are an empty payload, not a panic.
        #[test]
        fn any_bytes_are_a_payload(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let env: Env = [("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_REF", "refs/pull/1/merge")]
                .into_iter()
                .collect();
            let facts = github::event(&env, &github::Payload::parse(&bytes));
            prop_assert_eq!(decide(&facts.event, &settings()).write, None);
        }
    }
}

/// What a commit message says was merged: the request number and the head branch read.
type Expected = Option<(u64, Option<&'static str>)>;

/// A commit title is the pull request author's to write: only the forms GitHub itself writes
/// choose which request and branch caches the default branch reads, and a head branch must be
/// a name git would accept.
#[test]
fn a_commit_title_cannot_pose_as_a_merge_commit() {
    let env = push_to_main();
    let merged_by = |message: &str| {
        let mut json: serde_json::Value =
            serde_json::from_slice(&fixture("push-squash-merge.json")).unwrap();
        json["head_commit"]["message"] = serde_json::Value::from(message);
        let payload = github::Payload::parse(&serde_json::to_vec(&json).unwrap());
        match github::event(&env, &payload).event.trigger {
            Trigger::Push { merged, .. } => merged.map(|m| (m.number, m.head)),
            other => panic!("{other:?}"),
        }
    };
    let cases: &[(&str, Expected)] = &[
        // GitHub's own forms.
        (
            "Merge pull request #5 from Codertocat/changes\n\nTitle",
            Some((5, Some("changes"))),
        ),
        ("Add a thing (#57)\n\n* one", Some((57, None))),
        // A squash-merged request titled as a merge commit: its own number wins.
        (
            "Merge pull request #5 from Codertocat/main (#57)",
            Some((57, None)),
        ),
        (
            "Merge pull request #5 from Codertocat/release (#57)\n\nMerge pull request #6",
            Some((57, None)),
        ),
        // Branch names git refuses are never read; the number alone still is.
        (
            "Merge pull request #5 from Codertocat/a..b",
            Some((5, None)),
        ),
        ("Merge pull request #5 from Codertocat/x y", Some((5, None))),
        ("Merge pull request #5 from Codertocat/-x", Some((5, None))),
        (
            "Merge pull request #5 from Codertocat/x\u{1b}[31m",
            Some((5, None)),
        ),
        (
            "Merge pull request #5 from Codertocat/<img src=x>",
            Some((5, None)),
        ),
        // Not a number GitHub writes.
        ("Merge pull request #+5 from Codertocat/changes", None),
        ("Merge pull request #0 from Codertocat/changes", None),
        ("Fix (#+7)", None),
        ("Fix (#)", None),
        // A later line never counts.
        (
            "Fix the build\n\nMerge pull request #5 from Codertocat/changes",
            None,
        ),
    ];
    for (message, expected) in cases {
        let expected = expected.map(|(n, head)| (n, head.map(str::to_owned)));
        assert_eq!(merged_by(message), expected, "{message:?}");
    }
}

/// GitLab's merge commits: the number from the last line only, a head branch only when git
/// would accept its name.
#[test]
fn gitlab_reads_only_its_own_merge_commit_form() {
    let merged_by = |message: &str| {
        let env: Env = [
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_MESSAGE", message),
        ]
        .into_iter()
        .collect();
        match gitlab::event(&env).trigger {
            Trigger::Push { merged, .. } => merged.map(|m| (m.number, m.head)),
            other => panic!("{other:?}"),
        }
    };
    let cases: &[(&str, Expected)] = &[
        (
            "Merge branch 'tax-rounding' into 'main'\n\nRound\n\nSee merge request group/app!17",
            Some((17, Some("tax-rounding"))),
        ),
        (
            "Merge branch 'a..b' into 'main'\n\nSee merge request group/app!17",
            Some((17, None)),
        ),
        (
            "Fix\n\nSee merge request group/app!17\n\nmore text after it",
            None,
        ),
        ("See merge request group/app!+17", None),
    ];
    for (message, expected) in cases {
        let expected = expected.map(|(n, head)| (n, head.map(str::to_owned)));
        assert_eq!(merged_by(message), expected, "{message:?}");
    }
}
