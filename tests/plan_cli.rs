//! `regcache plan` in its three formats, and the GitHub API path: an `issue_comment` on a pull
//! request is resolved through a local HTTP server that answers with the documented shapes
//! (tests/fixtures/github/api-*.json). No engine is needed: plan does not build.

mod common;

use std::collections::BTreeMap;

use common::{Server, regcache};

/// Serves `routes` (path → fixture file) on loopback, recording each request; anything else
/// is a 404 in GitHub's error shape.
fn api_server(routes: &'static [(&'static str, &'static str)]) -> Server {
    Server::start(
        move |path| {
            let (_, file) = routes.iter().find(|(p, _)| *p == path)?;
            Some(std::fs::read(common::fixture(&format!("github/{file}"))).unwrap())
        },
        r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
    )
}

fn github_env(
    event: &str,
    git_ref: &str,
    payload: &str,
    api_url: &str,
) -> BTreeMap<String, String> {
    [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", event),
        ("GITHUB_REF", git_ref),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_API_URL", api_url),
        ("GITHUB_TOKEN", "test-token-123"),
        ("PATH", "/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "GITHUB_EVENT_PATH".to_owned(),
        common::fixture(&format!("github/{payload}"))
            .to_str()
            .unwrap()
            .to_owned(),
    )])
    .collect()
}

const PLAN: &[&str] = &[
    "plan",
    "--format",
    "json",
    "--cache-ref",
    "ghcr.io/codertocat/hello-world",
    "--tag",
    "ghcr.io/codertocat/hello-world:dev",
];

#[test]
fn an_issue_comment_on_a_pull_request_is_resolved_through_the_api() {
    let api = api_server(&[(
        "/repos/Codertocat/Hello-World/pulls/2",
        "api-pulls-get.json",
    )]);
    let url = api.url.clone();
    let run = regcache(
        PLAN,
        &github_env(
            "issue_comment",
            "refs/heads/main",
            "issue_comment-pull_request.json",
            &url,
        ),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let r = |tag: &str| format!("ghcr.io/codertocat/hello-world:buildcache-{tag}");
    assert_eq!(
        plan["read"],
        serde_json::json!([r("pr-2"), r("changes"), r("develop"), r("main")])
    );
    assert_eq!(plan["write"], r("pr-2").as_str());
    assert_eq!(plan["cache-to"][0], format!("type=registry,ref={},mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true", r("pr-2")).as_str());
    let seen = api.requests();
    assert_eq!(
        seen.len(),
        1,
        "one request: the payload had the default branch: {seen:?}"
    );
    assert_eq!(seen[0].path, "/repos/Codertocat/Hello-World/pulls/2");
    assert!(
        seen[0].authorization.ends_with("test-token-123"),
        "the token was sent: {:?}",
        seen[0].authorization
    );
}

#[test]
fn the_default_branch_comes_from_the_api_only_when_the_payload_lacks_it() {
    let api = api_server(&[("/repos/Codertocat/Hello-World", "api-repos-get.json")]);
    let run = regcache(
        PLAN,
        &github_env(
            "schedule",
            "refs/heads/feature/y",
            "schedule.json",
            &api.url,
        ),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["read"][1], "ghcr.io/codertocat/hello-world:buildcache-trunk",
        "{plan}"
    );
    assert_eq!(api.paths(), ["/repos/Codertocat/Hello-World"]);

    let api = api_server(&[]);
    let run = regcache(
        PLAN,
        &github_env("push", "refs/heads/main", "push-branch.json", &api.url),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        api.requests().is_empty(),
        "the push payload has everything: no API call"
    );
}

#[test]
fn an_unreachable_api_leaves_the_payloads_answer_with_a_warning() {
    let run = regcache(
        PLAN,
        &github_env(
            "issue_comment",
            "refs/heads/main",
            "issue_comment-pull_request.json",
            "http://127.0.0.1:9",
        ),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stderr.contains("::warning title=GitHub API::"),
        "{}",
        run.log()
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (&plan["read"][0], &plan["write"]),
        (
            &serde_json::json!("ghcr.io/codertocat/hello-world:buildcache-main"),
            &serde_json::Value::Null
        ),
        "reads its ref, and writes nothing without knowing the pull request: {plan}"
    );
}

#[test]
fn bake_and_human_formats() {
    let env = github_env(
        "push",
        "refs/heads/main",
        "push-branch.json",
        "http://127.0.0.1:9",
    );
    let mut args = PLAN.to_vec();
    args[2] = "bake";
    args.extend(["--bake-target", "app"]);
    let run = regcache(&args, &env);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let bake: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        bake["target"]["app"]["cache-from"][0],
        "type=registry,ref=ghcr.io/codertocat/hello-world:buildcache-main"
    );
    assert!(
        bake["target"]["app"]["cache-to"][0]
            .as_str()
            .unwrap()
            .starts_with(
                "type=registry,ref=ghcr.io/codertocat/hello-world:buildcache-main,mode=max"
            )
    );

    let mut args = PLAN.to_vec();
    args[2] = "human";
    let run = regcache(&args, &env);
    assert!(run.stdout.starts_with("policy: branch (push to main)\nread:  ghcr.io/codertocat/hello-world:buildcache-main (main: this branch)\nwrite: ghcr.io/codertocat/hello-world:buildcache-main\n"), "{}", run.log());
}

#[test]
fn a_bad_policy_file_stops_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    // The policy file must be in the repository's workspace.
    let in_workspace = |mut env: BTreeMap<String, String>| {
        env.insert("GITHUB_WORKSPACE".into(), dir.path().display().to_string());
        env
    };
    let file = dir.path().join("regcache.yml");
    std::fs::write(&file, "prefix: cache\nwritable-branch: [main]\n").unwrap();
    let mut args = PLAN.to_vec();
    let file_arg = format!("--policy-file={}", file.display());
    args.push(&file_arg);
    let run = regcache(
        &args,
        &in_workspace(github_env(
            "push",
            "refs/heads/main",
            "push-branch.json",
            "http://127.0.0.1:9",
        )),
    );
    assert_eq!(run.code, Some(2), "{}", run.log());
    assert!(
        run.stderr.contains(&format!(
            "{}:2: unknown field `writable-branch`",
            file.display()
        )),
        "{}",
        run.log()
    );

    std::fs::write(
        &file,
        "prefix: team-cache\nwritable-branches: [release/*]\n",
    )
    .unwrap();
    let run = regcache(
        &args,
        &in_workspace(github_env(
            "push",
            "refs/heads/main",
            "push-branch.json",
            "http://127.0.0.1:9",
        )),
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["read"][0],
        "ghcr.io/codertocat/hello-world:team-cache-main"
    );
    assert_eq!(
        plan["write"],
        serde_json::Value::Null,
        "main is not writable by this file: {plan}"
    );
}

#[test]
fn a_push_whose_message_names_no_pull_request_asks_the_api_which_one_it_merged() {
    let sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let route: &'static str =
        Box::leak(format!("/repos/Codertocat/Hello-World/commits/{sha}/pulls").into_boxed_str());
    let routes: &'static [(&'static str, &'static str)] =
        Box::leak(Box::new([(route, "api-commits-pulls.json")]));
    let api = api_server(routes);
    // A push to main at `sha`, with the payload `payload`, planned.
    let plan_push = |payload: &str, url: &str| {
        let mut env = github_env("push", "refs/heads/main", payload, url);
        env.insert("GITHUB_SHA".into(), sha.into());
        let run = regcache(PLAN, &env);
        assert_eq!(run.code, Some(0), "{}", run.log());
        run
    };
    let run = plan_push("push-rebase-merge.json", &api.url);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let r = |tag: &str| format!("ghcr.io/codertocat/hello-world:buildcache-{tag}");
    // The merged one of the two pull requests the commit belongs to (#9 is still open).
    assert_eq!(
        plan["read"],
        serde_json::json!([r("main"), r("pr-2"), r("changes")])
    );
    assert_eq!(plan["write"], r("main").as_str());
    assert_eq!(api.paths(), [route]);

    // A message that names the pull request needs no API; an API that fails leaves the plain
    // chain with a warning.
    let api = api_server(&[]);
    plan_push("push-merge-commit.json", &api.url);
    assert!(api.paths().is_empty(), "{:?}", api.paths());
    let run = plan_push("push-rebase-merge.json", &api.url);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["read"], serde_json::json!([r("main")]));
    assert!(
        run.stderr.contains("GitHub API") && run.stderr.contains("404"),
        "{}",
        run.log()
    );
}
