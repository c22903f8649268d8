//! The GitHub REST API, through octocrab: asked only for what the event payload lacks (the
//! pull request behind an `issue_comment`, a repository's default branch).

use super::Env;
use super::github::{Answer, Lookup, PullRequest, Repository};

/// `GITHUB_API_URL` (GHES keeps its `/api/v3`), and the token from the `github-token` input
/// or `GITHUB_TOKEN`. One answer per lookup, or why there is none.
pub fn answer_all(lookups: &[Lookup], env: &Env) -> Vec<Result<Answer, String>> {
    // Built inside the runtime: octocrab's HTTP stack expects one.
    crate::runtime::block_on(async {
        let client = client(env);
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

/// The client for `GITHUB_API_URL` with the token, built inside the runtime.
fn client(env: &Env) -> Result<octocrab::Octocrab, String> {
    let url = env
        .get("GITHUB_API_URL")
        .unwrap_or("https://api.github.com");
    build_client(url, super::github::token(env))
}

/// The one way a GitHub API client is made: its base URL, the token (sent to that host only),
/// and the deadlines every request has.
pub(crate) fn build_client(url: &str, token: Option<&str>) -> Result<octocrab::Octocrab, String> {
    let deadline = Some(crate::runtime::REQUEST_DEADLINE);
    octocrab::Octocrab::builder()
        .set_connect_timeout(Some(std::time::Duration::from_secs(15)))
        .set_read_timeout(deadline)
        .set_write_timeout(deadline)
        .base_uri(url)
        .and_then(|builder| match token {
            Some(token) => builder.personal_token(token.to_owned()).build(),
            None => builder.build(),
        })
        .map_err(|e| format!("the GitHub API at {url} could not be used: {e}"))
}

/// octocrab shows an error answer as just "GitHub": the status and message say more.
fn failed(route: &str, e: octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => format!(
            "GET {route} answered {}: {}",
            source.status_code, source.message
        ),
        other => format!("GET {route} failed: {other}"),
    }
}

/// Every item of a listing, page after page (`Link: rel="next"`).
async fn all_pages<T: serde::de::DeserializeOwned>(
    client: &octocrab::Octocrab,
    route: &str,
) -> Result<Vec<T>, String> {
    let first: octocrab::Page<T> = client
        .get(route, None::<&()>)
        .await
        .map_err(|e| failed(route, e))?;
    client.all_pages(first).await.map_err(|e| failed(route, e))
}

async fn ask(client: &octocrab::Octocrab, lookup: &Lookup) -> Result<Answer, String> {
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
    // Only the names and numbers are read: small shapes, every page.
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Numbered {
        number: u64,
    }
    crate::runtime::block_on(async {
        let client = client(env)?;
        let route = format!("/repos/{repository}");
        let default_branch = client
            .get::<Repository, _, ()>(&route, None)
            .await
            .map_err(|e| failed(&route, e))?
            .default_branch()
            .map(str::to_owned)
            .ok_or_else(|| format!("GET {route} named no default branch"))?;
        let branches: Vec<Named> = all_pages(
            &client,
            &format!("/repos/{repository}/branches?per_page=100"),
        )
        .await?;
        let pulls: Vec<Numbered> = all_pages(
            &client,
            &format!("/repos/{repository}/pulls?state=open&per_page=100"),
        )
        .await?;
        Ok(LiveRefs {
            default_branch,
            branches: branches.into_iter().map(|b| b.name).collect(),
            open_requests: pulls.into_iter().map(|p| p.number).collect(),
        })
    })
}
