//! The GitHub REST API, through octocrab: asked only for what the event payload lacks (the
//! pull request behind an `issue_comment`, a repository's default branch).

use serde_json::Value;
use thiserror::Error;

use super::Env;
use super::github::Lookup;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the GitHub API at {url} could not be used: {message}")]
    Client { url: String, message: String },
    #[error("GET {route} failed: {message}")]
    Request { route: String, message: String },
}

fn route(lookup: &Lookup) -> String {
    match lookup {
        Lookup::PullRequest { repository, number } => format!("/repos/{repository}/pulls/{number}"),
        Lookup::DefaultBranch { repository } => format!("/repos/{repository}"),
    }
}

/// `GITHUB_API_URL` (GHES keeps its `/api/v3`), and the token from the `github-token` input
/// or `GITHUB_TOKEN`.
pub fn answer_all(lookups: &[Lookup], env: &Env) -> Vec<Result<Value, ApiError>> {
    let url = env
        .get("GITHUB_API_URL")
        .unwrap_or("https://api.github.com")
        .to_owned();
    let token = env
        .get("INPUT_GITHUB-TOKEN")
        .or(env.get("GITHUB_TOKEN"))
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    runtime.block_on(async {
        let client = octocrab::Octocrab::builder()
            .base_uri(url.as_str())
            .map_err(|e| ApiError::Client {
                url: url.clone(),
                message: e.to_string(),
            })
            .and_then(|builder| {
                let builder = match &token {
                    Some(token) => builder.personal_token(token.clone()),
                    None => builder,
                };
                builder.build().map_err(|e| ApiError::Client {
                    url: url.clone(),
                    message: e.to_string(),
                })
            });
        let mut answers = Vec::new();
        for lookup in lookups {
            let route = route(lookup);
            let answer =
                match &client {
                    Ok(client) => client.get::<Value, _, ()>(&route, None).await.map_err(|e| {
                        ApiError::Request {
                            route,
                            message: e.to_string(),
                        }
                    }),
                    Err(e) => Err(ApiError::Client {
                        url: url.clone(),
                        message: e.to_string(),
                    }),
                };
            answers.push(answer);
        }
        answers
    })
}
