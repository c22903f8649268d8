//! What docker/build-push-action derives from the run before it calls buildx, so that switching
//! to regcache changes nothing but the cache: the Git context and `{{defaultContext}}`, the
//! Git auth secret from `github-token`, and the attestation arguments with their default
//! provenance. Pure functions over values; the sources are build-push-action v7.3.0
//! `src/context.ts` (`getArgs`, `getAttestArgs`) and docker/actions-toolkit v0.92.0
//! `src/buildx/build.ts` (`gitContext`, `resolveProvenanceAttrs`, `resolveAttestationAttrs`).

use std::sync::LazyLock;

use regex::Regex;

use crate::cache::entries::csv_line;
use crate::config::{BuildOptions, SecretSource};

/// The facts of a GitHub Actions run that build-push-action reads (`GITHUB_*`, the payload
/// and its environment switches), read once by the platform.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GitHubRun {
    /// `GITHUB_SERVER_URL` (GHES and GHE.com have their own).
    pub server_url: String,
    /// `owner/name`.
    pub repository: String,
    /// `GITHUB_REF`.
    pub git_ref: String,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `pull_request.head.sha` of the payload.
    pub pull_request_head_sha: Option<String>,
    pub run_id: String,
    pub run_attempt: String,
    /// `repository.private` of the payload: private repositories get `mode=min` provenance.
    pub private_repository: bool,
    /// `DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF`: build a pull request's head, not its merge.
    pub pull_request_head_ref: bool,
    /// `BUILDX_SEND_GIT_QUERY_AS_INPUT`: the query form of the Git URL (buildx 0.29 or later).
    pub git_query: bool,
    /// `BUILDX_NO_DEFAULT_ATTESTATIONS`.
    pub no_default_attestations: bool,
    /// The `github-token` input (the job's token by default).
    pub token: Option<String>,
}

/// The Actions toolkit's `Util.parseBool`; None when the text is none of its spellings.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl GitHubRun {
    /// `workflowRunURL(true)`: provenance's `builder-id`.
    pub fn run_url(&self) -> String {
        format!(
            "{}/{}/actions/runs/{}/attempts/{}",
            self.server_url, self.repository, self.run_id, self.run_attempt
        )
    }

    /// `Build.gitContext()` with no options: the repository at the event's commit.
    pub fn git_context(&self, buildx_version: Option<(u64, u64)>) -> String {
        let mut git_ref = if self.git_ref.starts_with("refs/") {
            self.git_ref.clone()
        } else {
            format!("refs/heads/{}", self.git_ref)
        };
        if git_ref.starts_with("refs/pull/") && self.pull_request_head_ref {
            if let Some(number) = git_ref.strip_suffix("/merge") {
                git_ref = format!("{number}/head");
            }
        }
        let base = format!("{}/{}.git", self.server_url, self.repository);
        let pinned = if git_ref.starts_with("refs/pull/") && git_ref.ends_with("/head") {
            self.pull_request_head_sha.clone().unwrap_or(git_ref)
        } else {
            self.sha.clone().unwrap_or(git_ref)
        };
        let query = self.git_query && buildx_version.is_some_and(|v| v >= (0, 29));
        if query {
            format!("{base}?ref={pinned}")
        } else {
            format!("{base}#{pinned}")
        }
    }

    /// Whether the buildx version matters to `git_context` (only then is buildx asked).
    pub fn needs_buildx_version(&self, build: &BuildOptions) -> bool {
        self.git_query
            && (build.context.as_deref().is_none_or(has_default_context)
                || build.build_contexts.iter().any(|c| has_default_context(c)))
    }

    /// The server's `host[:port]`, as `new URL(serverURL).host`.
    fn host(&self) -> &str {
        let rest = self
            .server_url
            .split_once("://")
            .map_or(self.server_url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }
}

static DEFAULT_CONTEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*defaultContext\s*\}\}").expect("valid"));

fn has_default_context(text: &str) -> bool {
    DEFAULT_CONTEXT.is_match(text)
}

/// `{{defaultContext}}` replaced (build-push-action renders `context` and `build-contexts` as
/// Handlebars templates with that one variable).
pub fn render(text: &str, default_context: &str) -> String {
    DEFAULT_CONTEXT
        .replace_all(text, regex::NoExpand(default_context))
        .into_owned()
}

/// The arguments build-push-action derives, for the argv and the secret files.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub context: String,
    pub build_contexts: Vec<String>,
    /// `--attest` values, in `getAttestArgs` order.
    pub attests: Vec<String>,
    /// `GIT_AUTH_TOKEN.<host>` with the token, when the default Git context is built.
    pub git_auth: Option<(String, SecretSource)>,
}

/// Everything `getArgs` derives from the inputs and the run. Without a GitHub run (the
/// command line, GitLab), the context defaults to `.` and nothing is added by default.
pub fn derive(
    build: &BuildOptions,
    run: Option<&GitHubRun>,
    buildx_version: Option<(u64, u64)>,
) -> Derived {
    let default_context = run.map(|r| r.git_context(buildx_version));
    let context = match (&build.context, &default_context) {
        (Some(given), Some(default)) => render(given, default),
        (Some(given), None) => given.clone(),
        (None, Some(default)) => default.clone(),
        (None, None) => ".".to_owned(),
    };
    let build_contexts = build
        .build_contexts
        .iter()
        .map(|c| match &default_context {
            Some(default) => render(c, default),
            None => c.clone(),
        })
        .collect();
    let git_auth =
        run.zip(default_context.as_ref())
            .and_then(|(run, default)| {
                let token = run.token.as_deref().filter(|t| !t.is_empty())?;
                let has_own = build.secrets.iter().any(|s| {
                    s.id == "GIT_AUTH_TOKEN" && matches!(s.source, SecretSource::Value(_))
                });
                (!has_own && context.starts_with(default.as_str())).then(|| {
                    (
                        format!("GIT_AUTH_TOKEN.{}", run.host()),
                        SecretSource::Value(token.to_owned()),
                    )
                })
            });
    Derived {
        context,
        build_contexts,
        attests: attest_args(build, run),
        git_auth,
    }
}

/// CSV fields of an attestation or provenance value, trimmed (csv-parse `trim: true`).
pub fn fields(text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map_while(Result::ok)
        .flat_map(|record| record.iter().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// `Build.hasAttestationType`: a `type=<name>` field.
pub fn has_type(name: &str, attest: &str) -> bool {
    fields(attest).iter().any(|field| {
        let mut parts = field.split('=').map(str::trim);
        parts.next() == Some("type") && parts.next() == Some(name)
    })
}

/// `Build.resolveAttestationAttrs`: a bare boolean field means `disabled=<not it>`. A field
/// holding a comma keeps its quotes (build-push-action would drop them and split it).
fn attestation_attrs(attrs: &str) -> String {
    let resolved: Vec<String> = fields(attrs)
        .into_iter()
        .map(|field| match parse_bool(&field) {
            Some(value) => format!("disabled={}", !value),
            None => field,
        })
        .collect();
    let refs: Vec<&str> = resolved.iter().map(String::as_str).collect();
    csv_line(&refs)
}

/// `Build.resolveProvenanceAttrs`: the run's URL as `builder-id` unless one is given. Off
/// GitHub there is no run URL, and the value is kept as given.
pub fn provenance_attrs(input: &str, run: Option<&GitHubRun>) -> String {
    let Some(run) = run else {
        return input.to_owned();
    };
    if input.is_empty() {
        return format!("builder-id={}", run.run_url());
    }
    let has_builder_id = fields(input)
        .iter()
        .any(|field| field.split('=').next().map(str::trim) == Some("builder-id"));
    if has_builder_id {
        input.to_owned()
    } else {
        format!("{input},builder-id={}", run.run_url())
    }
}

/// `Build.getProvenanceInput`: `true` is the run's builder id, `false` stays, anything else is
/// attributes.
pub fn provenance_input(input: &str, run: Option<&GitHubRun>) -> String {
    match input {
        "true" | "True" | "TRUE" => match run {
            Some(run) => format!("builder-id={}", run.run_url()),
            None => "true".to_owned(),
        },
        "false" | "False" | "FALSE" => "false".to_owned(),
        attrs => provenance_attrs(attrs, run),
    }
}

/// `Build.hasDockerExporter`: loading, or a `type=docker` output.
fn has_docker_exporter(build: &BuildOptions) -> bool {
    build.load || build.outputs.iter().any(|output| is_docker_output(output))
}

/// An output with `type=docker`: the image goes to the Docker engine's store.
pub fn is_docker_output(output: &str) -> bool {
    fields(output).iter().any(|field| {
        let mut parts = field.split('=').map(str::trim);
        parts.next() == Some("type") && parts.next() == Some("docker")
    })
}

/// `getAttestArgs`: `provenance`, else the default provenance; `sbom`; then `attests`, where
/// the two typed inputs take precedence over an `attests` line of the same type.
pub fn attest_args(build: &BuildOptions, run: Option<&GitHubRun>) -> Vec<String> {
    let mut args = Vec::new();
    let attests_provenance = build.attests.iter().any(|a| has_type("provenance", a));
    let provenance_set = build.provenance.is_some();
    if let Some(provenance) = &build.provenance {
        args.push(attestation_attrs(&format!(
            "type=provenance,{}",
            provenance_input(provenance, run)
        )));
    } else if let Some(run) = run.filter(|r| {
        !attests_provenance && !r.no_default_attestations && !has_docker_exporter(build)
    }) {
        // What buildx itself would add for a private repository; public ones get max.
        let mode = if run.private_repository {
            "mode=min,inline-only=true"
        } else {
            "mode=max"
        };
        args.push(format!(
            "type=provenance,{}",
            provenance_attrs(mode, Some(run))
        ));
    }
    let sbom_set = build.sbom.is_some();
    if let Some(sbom) = &build.sbom {
        args.push(attestation_attrs(&format!("type=sbom,{sbom}")));
    }
    for attest in &build.attests {
        let provenance = has_type("provenance", attest);
        let sbom = has_type("sbom", attest);
        if !provenance && !sbom {
            args.push(attestation_attrs(attest));
        } else if provenance && !provenance_set {
            args.push(provenance_attrs(attest, run));
        } else if sbom && !sbom_set {
            args.push(attest.clone());
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> GitHubRun {
        GitHubRun {
            server_url: "https://github.com".into(),
            repository: "docker/build-push-action".into(),
            git_ref: "refs/heads/master".into(),
            run_id: "123456789".into(),
            run_attempt: "1".into(),
            private_repository: true,
            ..GitHubRun::default()
        }
    }

    #[test]
    fn git_context_pins_the_commit_and_the_pull_request_head() {
        let mut r = run();
        assert_eq!(
            r.git_context(None),
            "https://github.com/docker/build-push-action.git#refs/heads/master"
        );
        r.sha = Some("abc123".into());
        assert_eq!(
            r.git_context(None),
            "https://github.com/docker/build-push-action.git#abc123"
        );
        r.git_ref = "refs/pull/7/merge".into();
        r.pull_request_head_sha = Some("def456".into());
        assert!(r.git_context(None).ends_with("#abc123"), "merge commit");
        r.pull_request_head_ref = true;
        assert!(r.git_context(None).ends_with("#def456"), "head commit");
        r.git_ref = "feature".into();
        r.sha = None;
        r.git_query = true;
        assert!(
            r.git_context(Some((0, 28)))
                .ends_with(".git#refs/heads/feature")
        );
        assert!(
            r.git_context(Some((0, 29)))
                .ends_with(".git?ref=refs/heads/feature")
        );
    }

    #[test]
    fn host_keeps_the_port() {
        let mut r = run();
        r.server_url = "http://10.0.0.5:22827".into();
        assert_eq!(r.host(), "10.0.0.5:22827");
    }

    #[test]
    fn attestation_booleans_become_disabled() {
        assert_eq!(
            attestation_attrs("type=sbom,true"),
            "type=sbom,disabled=false"
        );
        assert_eq!(
            attestation_attrs("type=provenance, false"),
            "type=provenance,disabled=true"
        );
        assert_eq!(
            attestation_attrs(r#"type=sbom,"generator=a,b""#),
            r#"type=sbom,"generator=a,b""#
        );
    }

    #[test]
    fn attests_of_a_typed_input_give_way() {
        let build = BuildOptions {
            attests: vec![
                "type=provenance,mode=min".into(),
                "type=sbom,generator=x".into(),
                "type=custom,x=1".into(),
            ],
            sbom: Some("true".into()),
            ..BuildOptions::default()
        };
        assert_eq!(
            attest_args(&build, Some(&run())),
            [
                "type=sbom,disabled=false",
                "type=provenance,mode=min,builder-id=https://github.com/docker/build-push-action/actions/runs/123456789/attempts/1",
                "type=custom,x=1",
            ]
        );
        assert_eq!(
            attest_args(&build, None),
            [
                "type=sbom,disabled=false",
                "type=provenance,mode=min",
                "type=custom,x=1"
            ],
            "off GitHub nothing is added"
        );
    }

    #[test]
    fn default_provenance_depends_on_visibility_loading_and_the_switch() {
        let mut r = run();
        let build = BuildOptions::default();
        assert_eq!(
            attest_args(&build, Some(&r)),
            [
                "type=provenance,mode=min,inline-only=true,builder-id=https://github.com/docker/build-push-action/actions/runs/123456789/attempts/1"
            ]
        );
        r.private_repository = false;
        assert_eq!(
            attest_args(&build, Some(&r)),
            [
                "type=provenance,mode=max,builder-id=https://github.com/docker/build-push-action/actions/runs/123456789/attempts/1"
            ]
        );
        let loading = BuildOptions {
            load: true,
            ..BuildOptions::default()
        };
        assert!(attest_args(&loading, Some(&r)).is_empty());
        let docker_output = BuildOptions {
            outputs: vec!["type=docker,dest=x.tar".into()],
            ..BuildOptions::default()
        };
        assert!(attest_args(&docker_output, Some(&r)).is_empty());
        r.no_default_attestations = true;
        assert!(attest_args(&build, Some(&r)).is_empty());
    }

    #[test]
    fn the_git_token_goes_to_the_default_context_only() {
        let mut r = run();
        r.token = Some("ghs_x".into());
        let derived = derive(&BuildOptions::default(), Some(&r), None);
        assert_eq!(
            derived.git_auth,
            Some((
                "GIT_AUTH_TOKEN.github.com".into(),
                SecretSource::Value("ghs_x".into())
            ))
        );
        let local = BuildOptions {
            context: Some(".".into()),
            ..BuildOptions::default()
        };
        assert_eq!(derive(&local, Some(&r), None).git_auth, None);
        assert_eq!(derive(&local, None, None).context, ".");
        let sub = BuildOptions {
            context: Some("{{ defaultContext }}:docker".into()),
            build_contexts: vec!["base={{defaultContext}}".into()],
            ..BuildOptions::default()
        };
        let derived = derive(&sub, Some(&r), None);
        assert_eq!(
            derived.context,
            "https://github.com/docker/build-push-action.git#refs/heads/master:docker"
        );
        assert_eq!(
            derived.build_contexts,
            ["base=https://github.com/docker/build-push-action.git#refs/heads/master"]
        );
        assert!(derived.git_auth.is_some());
    }
}
