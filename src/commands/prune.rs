//! `regcache prune`: the flags checked with what the environment says, the live refs asked of
//! GitHub when told to, then the prune itself (`crate::prune`), printed, published, and its
//! exit code.

use std::io::Write;

use super::{Context, pretty_json, print, registry_for};
use crate::args::Format;
use crate::error::Error;
use crate::platform::{Log, github, github_api};
use crate::prune::{Flags, FromEnv, Request};

pub fn prune<W: Write>(ctx: &Context, flags: &Flags, log: &mut Log<W>) -> Result<(), Error> {
    let env = &ctx.env;
    let from_env = FromEnv {
        default_branch: ctx
            .payload
            .default_branch()
            .or(env.get("CI_DEFAULT_BRANCH"))
            .map(str::to_owned),
        github_repository: env.get("GITHUB_REPOSITORY").map(str::to_owned),
        github_token: github::token(env).map(str::to_owned),
        github_api_url: env
            .get("GITHUB_API_URL")
            .unwrap_or("https://api.github.com")
            .to_owned(),
        password: env.get("REGCACHE_PASSWORD").map(str::to_owned),
        now: None,
    };
    let mut request = Request::check(flags, &from_env)?;
    if let Some((_, password)) = &request.credentials {
        log.mask(password)?;
    }
    if let Some(repository) = &request.live_from_github {
        let live = github_api::live_refs(env, repository).map_err(|e| {
            Error::GitHubApi(format!(
                "{e}; nothing was deleted. The token needs contents: read and pull-requests: read"
            ))
        })?;
        // What the flags say stands; GitHub fills in the rest.
        if flags.default_branch.is_none() && request.live.default_branch.is_empty() {
            request.live.default_branch = live.default_branch;
        }
        request.live.branches.get_or_insert(live.branches);
        request.live.requests.get_or_insert(live.open_requests);
    }
    let registry = registry_for(ctx, &request.repository, request.insecure);
    let outcome = crate::prune::prune(&registry, &request)?;
    print(&match request.format {
        Format::Json => pretty_json(&outcome),
        Format::Human => outcome.human(),
    })?;
    ctx.platform
        .publish_outputs(&outcome.outputs(), Some(&outcome.summary_markdown()), env)?;
    if let Some(why) = &outcome.blocked {
        return Err(Error::PruneIncomplete(why.clone()));
    }
    if !outcome.failed.is_empty() {
        return Err(Error::PruneIncomplete(format!(
            "{} deletions failed (listed above); the rest of the plan was carried out",
            outcome.failed.len()
        )));
    }
    Ok(())
}
