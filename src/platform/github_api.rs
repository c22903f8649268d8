//! The GitHub REST API, through octocrab: asked only for what the event payload lacks (the
//! pull request behind an `issue_comment`, a repository's default branch).

use super::Env;
use super::github::{Answer, Lookup, PullRequest, Repository};

/// `GITHUB_API_URL` (GHES keeps its `/api/v3`), and the token from the `github-token` input
/// or `GITHUB_TOKEN`. One answer per lookup, or why there is none.
pub fn answer_all(lookups: &[Lookup], env: &Env) -> Vec<Result<Answer, String>> {
    let url = env
        .get("GITHUB_API_URL")
        .unwrap_or("https://api.github.com");
    let token = super::github::token(env);
    // Built inside the runtime: octocrab's HTTP stack expects one.
    crate::block_on(async {
        let client = octocrab::Octocrab::builder()
            .base_uri(url)
            .and_then(|builder| match token {
                Some(token) => builder.personal_token(token.to_owned()).build(),
                None => builder.build(),
            })
            .map_err(|e| format!("the GitHub API at {url} could not be used: {e}"));
        let mut answers = Vec::new();
        for lookup in lookups {
            let answer = match &client {
                Ok(client) => ask(client, lookup).await,
                Err(e) => Err(e.clone()),
            };
            answers.push(answer);
        }
        answers
    })
}

async fn ask(client: &octocrab::Octocrab, lookup: &Lookup) -> Result<Answer, String> {
    // octocrab shows an error answer as just "GitHub": the status and message say more.
    let failed = |route: &str, e: octocrab::Error| match e {
        octocrab::Error::GitHub { source, .. } => format!(
            "GET {route} answered {}: {}",
            source.status_code, source.message
        ),
        other => format!("GET {route} failed: {other}"),
    };
    match lookup {
        Lookup::PullRequest { repository, number } => {
            let route = format!("/repos/{repository}/pulls/{number}");
            client
                .get::<PullRequest, _, ()>(&route, None)
                .await
                .map(Answer::PullRequest)
                .map_err(|e| failed(&route, e))
        }
        Lookup::MergedBy { repository, sha } => {
            let route = format!("/repos/{repository}/commits/{sha}/pulls");
            client
                .get::<Vec<PullRequest>, _, ()>(&route, None)
                .await
                .map(Answer::PullRequests)
                .map_err(|e| failed(&route, e))
        }
        Lookup::DefaultBranch { repository } => {
            let route = format!("/repos/{repository}");
            client
                .get::<Repository, _, ()>(&route, None)
                .await
                .map(Answer::Repository)
                .map_err(|e| failed(&route, e))
        }
    }
}
