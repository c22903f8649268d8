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

/// What is live in a repository: its default branch, its branches and its open pull requests.
pub struct LiveRefs {
    pub default_branch: String,
    pub branches: Vec<String>,
    pub open_requests: Vec<u64>,
}

/// The live refs of `repository` (`owner/name`), every page read.
pub fn live_refs(env: &Env, repository: &str) -> Result<LiveRefs, String> {
    let url = env
        .get("GITHUB_API_URL")
        .unwrap_or("https://api.github.com");
    let token = super::github::token(env);
    crate::block_on(async {
        let client = octocrab::Octocrab::builder()
            .base_uri(url)
            .and_then(|builder| match token {
                Some(token) => builder.personal_token(token.to_owned()).build(),
                None => builder.build(),
            })
            .map_err(|e| format!("the GitHub API at {url} could not be used: {e}"))?;
        let failed = |route: String| {
            move |e: octocrab::Error| match e {
                octocrab::Error::GitHub { source, .. } => format!(
                    "GET {route} answered {}: {}",
                    source.status_code, source.message
                ),
                other => format!("GET {route} failed: {other}"),
            }
        };
        let route = format!("/repos/{repository}");
        let default_branch = client
            .get::<Repository, _, ()>(&route, None)
            .await
            .map_err(failed(route.clone()))?
            .default_branch()
            .map(str::to_owned)
            .ok_or_else(|| format!("GET {route} named no default branch"))?;
        // Only the names and numbers are read: small shapes, every page.
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct Numbered {
            number: u64,
        }
        let route = format!("/repos/{repository}/branches?per_page=100");
        let first: octocrab::Page<Named> = client
            .get(&route, None::<&()>)
            .await
            .map_err(failed(route.clone()))?;
        let branches = client
            .all_pages(first)
            .await
            .map_err(failed(route))?
            .into_iter()
            .map(|b| b.name)
            .collect();
        let route = format!("/repos/{repository}/pulls?state=open&per_page=100");
        let first: octocrab::Page<Numbered> = client
            .get(&route, None::<&()>)
            .await
            .map_err(failed(route.clone()))?;
        let open_requests = client
            .all_pages(first)
            .await
            .map_err(failed(route))?
            .into_iter()
            .map(|p| p.number)
            .collect();
        Ok(LiveRefs {
            default_branch,
            branches,
            open_requests,
        })
    })
}
