//! The one table of inputs. The same names are the action's inputs (`INPUT_*`), the CLI's
//! long flags, and the keys of `action.yml`; a test keeps that file and this table in step.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// One item per line (cache entries and build args keep their commas).
    Lines,
    /// One item per line or per comma, as build-push-action reads `tags` and `platforms`.
    CommaLines,
}

#[derive(Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The built-in default, used when the input is missing or empty.
    pub default: &'static str,
    /// Whether `action.yml` declares `default`. The runner passes a declared default as if the
    /// workflow had written it, so an input that the policy file can set (or that names the
    /// policy file) declares none: a written input must stay distinguishable from a left-out one.
    pub declared_in_action: bool,
    pub description: &'static str,
    pub short: Option<char>,
    pub alias: Option<&'static str>,
}

const fn input(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    description: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        kind,
        default,
        declared_in_action: true,
        description,
        short: None,
        alias: None,
    }
}

/// An input whose default `action.yml` only documents (see `InputSpec::declared_in_action`).
const fn layered(spec: InputSpec) -> InputSpec {
    InputSpec {
        declared_in_action: false,
        ..spec
    }
}

/// CLI spellings beside the long flag: docker's short flags and singular names (`-t`, `--tag`).
const fn with_flag(spec: InputSpec, short: Option<char>, alias: Option<&'static str>) -> InputSpec {
    InputSpec {
        short,
        alias,
        ..spec
    }
}

use Kind::*;

pub const INPUTS: &[InputSpec] = &[
    // Registry cache, named as in BuildKit's registry cache options.
    layered(input(
        "cache-policy",
        Text,
        "branch",
        "Which cache tags a build reads and writes: `branch` (per branch and pull request, falling back to the base and default branch), `shared` (one tag), `read-only`, `off`. Default: the policy file's `policy`, else `branch`.",
    )),
    layered(input(
        "cache-prefix",
        Text,
        crate::reference::DEFAULT_CACHE_TAG,
        "Every cache tag starts with it (`buildcache-main`, `buildcache-pr-42`), so lifecycle rules and pruning can match them. Default: the policy file's `prefix`, else `buildcache`.",
    )),
    layered(input(
        "cache-scope",
        Text,
        "",
        "Added to every cache tag, for builds of one repository that must not share a cache; the target and a single platform are added by themselves. Default: the policy file's `scope`, else none.",
    )),
    layered(input(
        "policy-file",
        Text,
        crate::policy_file::DEFAULT_PATH,
        "Repository policy file (policy, prefix, default-branch, writable-branches, scope); inputs written in the workflow override it. Default: `.github/regcache.yml`, used when it exists.",
    )),
    input(
        "cache-ref",
        Text,
        "",
        "Cache repository (e.g. ghcr.io/owner/app), where cache-policy picks the tags; with a tag, that one tag is used (never an image tag). Default: the first tag's repository.",
    ),
    input(
        "mode",
        Text,
        "max",
        "Cache mode: `max` exports every stage's layers, `min` only the final image's.",
    ),
    input(
        "compression",
        Text,
        "gzip",
        "Cache layer compression: uncompressed, gzip, estargz or zstd.",
    ),
    input(
        "compression-level",
        Text,
        "",
        "Compression level: 0-9 for gzip and estargz, 0-22 for zstd.",
    ),
    input(
        "force-compression",
        Bool,
        "false",
        "Recompress layers already compressed otherwise.",
    ),
    input(
        "oci-mediatypes",
        Bool,
        "true",
        "Use OCI media types in the cache manifest (needed for zstd, estargz and image-manifest).",
    ),
    input(
        "image-manifest",
        Bool,
        "true",
        "Store the cache as an image manifest instead of an index (what ECR, Harbor and Quay accept).",
    ),
    input(
        "ignore-error",
        Bool,
        "true",
        "A failed cache export warns instead of failing the build.",
    ),
    input(
        "cache-from",
        Lines,
        "",
        "Extra cache sources, one buildx `--cache-from` entry per line.",
    ),
    input(
        "cache-to",
        Lines,
        "",
        "Extra cache destinations, one buildx `--cache-to` entry per line.",
    ),
    // Build inputs, with docker/build-push-action's names and meaning.
    input("context", Text, ".", "Build context (a path or a Git URL)."),
    with_flag(
        input(
            "file",
            Text,
            "",
            "Path to the Dockerfile. Default: `<context>/Dockerfile`.",
        ),
        Some('f'),
        None,
    ),
    with_flag(
        input(
            "tags",
            CommaLines,
            "",
            "Image tags, one per line or comma-separated.",
        ),
        Some('t'),
        Some("tag"),
    ),
    input("push", Bool, "false", "Push the image to the registry."),
    input(
        "load",
        Bool,
        "false",
        "Load the image into the local image store.",
    ),
    input("target", Text, "", "Build stage to build."),
    with_flag(
        input(
            "build-args",
            Lines,
            "",
            "Build arguments, one `NAME=value` per line.",
        ),
        None,
        Some("build-arg"),
    ),
    with_flag(
        input(
            "labels",
            Lines,
            "",
            "Image labels, one `key=value` per line.",
        ),
        None,
        Some("label"),
    ),
    with_flag(
        input(
            "platforms",
            CommaLines,
            "",
            "Target platforms, one per line or comma-separated.",
        ),
        None,
        Some("platform"),
    ),
    input(
        "network",
        Text,
        "",
        "Network mode for RUN instructions (default, none, host).",
    ),
    input("builder", Text, "", "Builder instance to use."),
    input("no-cache", Bool, "false", "Build without using any cache."),
    input("pull", Bool, "false", "Always pull referenced images."),
    with_flag(
        input(
            "secrets",
            Lines,
            "",
            "Build secrets, one per line: `id=value` (passed as a file, masked in the log), or buildx's `id=ID,src=PATH` and `id=ID,env=NAME`; each id once.",
        ),
        None,
        Some("secret"),
    ),
    with_flag(
        input(
            "outputs",
            Lines,
            "",
            "Build outputs, one buildx `--output` entry per line.",
        ),
        Some('o'),
        Some("output"),
    ),
    input(
        "provenance",
        Text,
        "",
        "Provenance attestation setting passed to buildx (`false`, `mode=max`, …).",
    ),
    input(
        "buildx-args",
        Text,
        "",
        "Further `docker buildx build` flags, shell-quoted.",
    ),
];

pub fn spec(name: &str) -> Option<&'static InputSpec> {
    INPUTS.iter().find(|s| s.name == name)
}

/// `INPUT_` + name with spaces as `_`, uppercased, hyphens kept (as the runner sets them).
pub fn github_env_name(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

/// Input values as given, before validation. Missing and empty mean "use the default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawInputs {
    values: BTreeMap<&'static str, String>,
    /// Inputs the runner gave as bytes that are not UTF-8: invalid, not missing.
    pub not_utf8: Vec<&'static str>,
}

impl RawInputs {
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let spec = spec(name).unwrap_or_else(|| panic!("no input named {name}"));
        self.values.insert(spec.name, value.into());
    }

    /// The value, trimmed as the Actions toolkit does, or the default when missing or empty.
    pub fn get(&self, name: &str) -> &str {
        let spec = spec(name).unwrap_or_else(|| panic!("no input named {name}"));
        match self.values.get(spec.name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => v,
            _ => spec.default,
        }
    }

    pub fn is_given(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.trim().is_empty())
    }

    /// List items: split on newlines (and commas for `CommaLines`), trimmed, empty ones dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let by_comma = spec(name).is_some_and(|s| s.kind == CommaLines);
        self.get(name)
            .split('\n')
            .flat_map(|line| {
                if by_comma {
                    line.split(',').collect::<Vec<_>>()
                } else {
                    vec![line]
                }
            })
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// Inputs of an action step, from the environment the runner gave it.
    pub fn from_github(env: &crate::platform::Env) -> Self {
        let mut raw = Self::default();
        for spec in INPUTS {
            let name = github_env_name(spec.name);
            if let Some(value) = env.get(&name) {
                raw.values.insert(spec.name, value.to_owned());
            } else if env.is_not_utf8(&name) {
                raw.not_utf8.push(spec.name);
            }
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_names_keep_hyphens() {
        assert_eq!(github_env_name("cache-from"), "INPUT_CACHE-FROM");
        assert_eq!(github_env_name("my input"), "INPUT_MY_INPUT");
    }

    #[test]
    fn lists_split_as_build_push_action_does() {
        let mut raw = RawInputs::default();
        raw.set("tags", " r/a:1, r/a:2\n\n r/a:3 ");
        raw.set("cache-from", "type=registry,ref=r/a:x\n\ntype=gha ");
        assert_eq!(raw.list("tags"), ["r/a:1", "r/a:2", "r/a:3"]);
        assert_eq!(
            raw.list("cache-from"),
            ["type=registry,ref=r/a:x", "type=gha"]
        );
        assert_eq!(raw.get("mode"), "max");
        raw.set("mode", "  ");
        assert_eq!(raw.get("mode"), "max", "blank means default");
    }
}
