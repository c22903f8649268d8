//! The one table of inputs. The same names are the action's inputs (`INPUT_*`), the CLI's
//! long flags, and the keys of `action.yml`; a test keeps that file and this table in step.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// A list, read as build-push-action reads it (see `ListOptions`).
    List(ListOptions),
}

/// The options of the Actions toolkit's `Util.getInputList` (docker/actions-toolkit
/// `src/util.ts`) that build-push-action's `src/context.ts` passes for each list input. Items
/// are CSV records, one or more per line; a quoted item may hold commas and span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOptions {
    /// Keep a line's commas (`ignoreComma`): the whole line is one item.
    pub ignore_comma: bool,
    /// Quotes group text (`quote: false` for `outputs`, whose CSV buildx reads itself).
    pub quote: bool,
    /// Trim the input and each item (`trimWhitespace: false` for `secrets`).
    pub trim: bool,
}

/// Items split on commas too (`tags`, `platforms`).
const COMMAS: Kind = Kind::List(ListOptions {
    ignore_comma: false,
    quote: true,
    trim: true,
});
/// One item per line or quoted record (`build-args`, `labels`, cache entries).
const LINES: Kind = Kind::List(ListOptions {
    ignore_comma: true,
    quote: true,
    trim: true,
});

#[derive(Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The built-in default, used when the input is missing or empty.
    pub default: &'static str,
    /// Whether `action.yml` declares `default`. The runner passes a declared default as if the
    /// workflow had written it, so an input that the policy file can set (or that names the
    /// policy file), or that an engine refuses when written (the cache format's, which buildah
    /// has no use for), declares none: a written input must stay distinguishable from a
    /// left-out one.
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

use Kind::{Bool, Text};

pub const INPUTS: &[InputSpec] = &[
    input(
        "engine",
        Text,
        "buildx",
        "Build engine: `buildx` (docker buildx build, BuildKit's registry cache), `buildah` or `podman` (no daemon; buildah's layer cache, one repository per cache tag: `<cache repository>/buildcache-main`).",
    ),
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
        crate::cache::policy_file::DEFAULT_PATH,
        "Repository policy file (policy, prefix, default-branch, writable-branches, scope); inputs written in the workflow override it. Default: `.github/regcache.yml`, used when it exists.",
    )),
    input(
        "cache-ref",
        Text,
        "",
        "Cache repository (e.g. ghcr.io/owner/app), where cache-policy picks the tags; with a tag, that one tag is used (never an image tag). Default: the first tag's repository.",
    ),
    layered(input(
        "mode",
        Text,
        "max",
        "Cache mode: `max` exports every stage's layers, `min` only the final image's. Default: `max` (buildx only).",
    )),
    layered(input(
        "compression",
        Text,
        "gzip",
        "Cache layer compression: uncompressed, gzip, estargz or zstd. Default: `gzip` (buildx only).",
    )),
    input(
        "compression-level",
        Text,
        "",
        "Compression level: 0-9 for gzip and estargz, 0-22 for zstd (buildx only).",
    ),
    layered(input(
        "force-compression",
        Bool,
        "false",
        "Recompress layers already compressed otherwise. Default: `false` (buildx only).",
    )),
    layered(input(
        "oci-mediatypes",
        Bool,
        "true",
        "Use OCI media types in the cache manifest (needed for zstd, estargz and image-manifest). Default: `true` (buildx only).",
    )),
    layered(input(
        "image-manifest",
        Bool,
        "true",
        "Store the cache as an image manifest instead of an index (what ECR, Harbor and Quay accept). Default: `true` (buildx only).",
    )),
    input(
        "ignore-error",
        Bool,
        "true",
        "A failed cache export warns instead of failing the build.",
    ),
    input(
        "build-record",
        Bool,
        "true",
        "Keep a small build record beside the cache (tag `<cache tag>.regcache`) and explain each missed step from the record of the cache read (buildx only).",
    ),
    input(
        "cache-from",
        LINES,
        "",
        "Extra cache sources, one buildx `--cache-from` entry per line.",
    ),
    input(
        "cache-to",
        LINES,
        "",
        "Extra cache destinations, one buildx `--cache-to` entry per line.",
    ),
    // Build inputs: docker/build-push-action v7's names, defaults, list syntax and meaning
    // (its `action.yml` and `src/context.ts`).
    input(
        "add-hosts",
        COMMAS,
        "",
        "Custom host-to-IP mappings (`docker:10.180.0.1`), one per line or comma-separated.",
    ),
    input(
        "allow",
        COMMAS,
        "",
        "Extra privileged entitlements (`network.host`, `security.insecure`).",
    ),
    input(
        "annotations",
        LINES,
        "",
        "Annotations to set on the image (`index:key=value`), one per line.",
    ),
    input(
        "attests",
        LINES,
        "",
        "Attestation parameters (`type=sbom,generator=image`), one per line.",
    ),
    with_flag(
        input(
            "build-args",
            LINES,
            "",
            "Build arguments, one `NAME=value` per line (quote a value that spans lines).",
        ),
        None,
        Some("build-arg"),
    ),
    with_flag(
        input(
            "build-contexts",
            LINES,
            "",
            "Additional build contexts (`name=path`), one per line; `{{defaultContext}}` is the Git context.",
        ),
        None,
        Some("build-context"),
    ),
    input("builder", Text, "", "Builder instance to use."),
    input(
        "call",
        Text,
        "",
        "Method for evaluating the build: `build`, `check`, `outline` or `targets` (buildx 0.15 or later).",
    ),
    input(
        "cgroup-parent",
        Text,
        "",
        "Parent cgroup for the containers of RUN steps.",
    ),
    input(
        "context",
        Text,
        "",
        "Build context (a path or a Git URL). Default: in the action, the Git context of the event's commit, as build-push-action (`{{defaultContext}}` names it); on the command line, `.`.",
    ),
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
            "labels",
            LINES,
            "",
            "Image labels, one `key=value` per line.",
        ),
        None,
        Some("label"),
    ),
    input(
        "load",
        Bool,
        "false",
        "Load the image into the local image store (`--output=type=docker`).",
    ),
    input(
        "network",
        Text,
        "",
        "Network mode for RUN instructions (default, none, host).",
    ),
    input("no-cache", Bool, "false", "Build without using any cache."),
    input(
        "no-cache-filters",
        COMMAS,
        "",
        "Stages to build without cache, one per line or comma-separated.",
    ),
    with_flag(
        input(
            "outputs",
            Kind::List(ListOptions {
                ignore_comma: true,
                quote: false,
                trim: true,
            }),
            "",
            "Build outputs, one buildx `--output` entry per line (`type=local,dest=path`).",
        ),
        Some('o'),
        Some("output"),
    ),
    with_flag(
        input(
            "platforms",
            COMMAS,
            "",
            "Target platforms, one per line or comma-separated.",
        ),
        None,
        Some("platform"),
    ),
    input(
        "provenance",
        Text,
        "",
        "Provenance attestation (`true`, `false`, `mode=max`, `builder-id=…`; `--attest=type=provenance`). Default: as build-push-action, `mode=min,inline-only=true` for private repositories and `mode=max` for public ones, with the run's URL as builder-id; none when loading or with BUILDX_NO_DEFAULT_ATTESTATIONS.",
    ),
    input("pull", Bool, "false", "Always pull referenced images."),
    input("push", Bool, "false", "Push the image to the registry."),
    input(
        "sbom",
        Text,
        "",
        "SBOM attestation (`true`, `generator=…`; `--attest=type=sbom`).",
    ),
    with_flag(
        input(
            "secrets",
            Kind::List(ListOptions {
                ignore_comma: true,
                quote: true,
                trim: false,
            }),
            "",
            "Build secrets, one `id=value` per line (quote a value that spans lines; values are kept untrimmed, passed as files and masked in the log). On the command line, `--secret` takes the buildx form instead: `id=ID,src=PATH` or `id=ID,env=VAR`.",
        ),
        None,
        None,
    ),
    input(
        "secret-envs",
        COMMAS,
        "",
        "Secrets read from environment variables, `id=VARIABLE`, one per line or comma-separated.",
    ),
    input(
        "secret-files",
        LINES,
        "",
        "Secrets read from files, `id=path`, one per line.",
    ),
    input(
        "shm-size",
        Text,
        "",
        "Size of /dev/shm for RUN steps (`2g`).",
    ),
    input(
        "ssh",
        COMMAS,
        "",
        "SSH agent sockets or keys to expose to the build (`default`, `id=path`).",
    ),
    with_flag(
        input(
            "tags",
            COMMAS,
            "",
            "Image tags, one per line or comma-separated.",
        ),
        Some('t'),
        Some("tag"),
    ),
    input("target", Text, "", "Build stage to build."),
    input(
        "ulimit",
        LINES,
        "",
        "Ulimits for RUN steps (`nofile=1024:1024`), one per line.",
    ),
    input(
        "buildx-args",
        Text,
        "",
        "Further `docker buildx build` flags, shell-quoted.",
    ),
];

/// `regcache bake`'s own inputs, docker/bake-action v7.1.0's (`action.yml`, read as its
/// `src/context.ts` `getInputs` reads them); it shares the others with build (`BAKE_SHARED`).
pub const BAKE_ONLY: &[InputSpec] = &[
    input(
        "source",
        Text,
        "",
        "Context to build from: a local directory (the working directory) or a remote bake definition (a Git URL); `{{defaultContext}}` is the Git context of the run. Default: the Git context in the action, the working directory on the command line.",
    ),
    with_flag(
        input(
            "files",
            COMMAS,
            "",
            "Bake definition files, one per line or comma-separated (`cwd://` names a local file beside a remote source).",
        ),
        Some('f'),
        Some("file"),
    ),
    input(
        "targets",
        COMMAS,
        "",
        "Bake targets or groups to build, one per line or comma-separated. Default: the `default` group.",
    ),
    input(
        "set",
        Kind::List(ListOptions {
            ignore_comma: true,
            quote: false,
            trim: true,
        }),
        "",
        "Target values to override (`targetpattern.key=value`), one per line. regcache writes each target's `cache-from` and `cache-to` itself.",
    ),
    input(
        "workdir",
        Text,
        "",
        "Directory bake runs in, where local definition files are read (bake-action v4's `workdir`); a local `source` is the same. Default: the workspace.",
    ),
];

/// The inputs of `INPUTS` that `regcache bake` takes too, with the same meaning: bake-action's
/// flags, then regcache's cache inputs (the policy's, the format's, `ignore-error`).
const BAKE_SHARED: &[&[&str]] = &[
    &[
        "builder",
        "allow",
        "call",
        "no-cache",
        "pull",
        "load",
        "provenance",
        "push",
        "sbom",
        "cache-policy",
        "cache-prefix",
        "cache-scope",
        "policy-file",
        "cache-ref",
    ],
    CACHE_FORMAT_INPUTS,
    &["ignore-error"],
];

/// Inputs of BuildKit's cache format, which buildah's layer cache has no equivalent for.
pub const CACHE_FORMAT_INPUTS: &[&str] = &[
    "mode",
    "compression",
    "compression-level",
    "force-compression",
    "oci-mediatypes",
    "image-manifest",
];

/// Every input of `regcache bake`, in the order of `bake/action.yml`.
pub fn bake_inputs() -> impl Iterator<Item = &'static InputSpec> {
    BAKE_SHARED
        .iter()
        .flat_map(|names| names.iter())
        .map(|name| {
            INPUTS
                .iter()
                .find(|s| s.name == *name)
                .expect("a shared input is in INPUTS")
        })
        .chain(BAKE_ONLY)
}

pub fn spec(name: &str) -> Option<&'static InputSpec> {
    INPUTS.iter().chain(BAKE_ONLY).find(|s| s.name == name)
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
    /// Command-line flags that are not inputs of the table (`--secret`) and could not be read
    /// into one: the flag and what is wrong, reported with the inputs' errors.
    pub flag_errors: Vec<(&'static str, String)>,
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

    /// The value as given, untrimmed (empty when missing).
    pub fn raw(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn is_given(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.trim().is_empty())
    }

    /// List items, as build-push-action reads the input (see `ListOptions`).
    pub fn list(&self, name: &str) -> Vec<String> {
        let spec = spec(name).unwrap_or_else(|| panic!("no input named {name}"));
        let Kind::List(options) = spec.kind else {
            panic!("input {name} is not a list")
        };
        let value = self.values.get(spec.name).map_or("", String::as_str);
        split_list(value, options)
    }

    /// Inputs of an action step, from the environment the runner gave it.
    pub fn from_github(env: &crate::env::Env) -> Self {
        Self::from_github_of(env, INPUTS.iter())
    }

    /// The bake sub-action's inputs, from the environment the runner gave it.
    pub fn from_github_bake(env: &crate::env::Env) -> Self {
        Self::from_github_of(env, bake_inputs())
    }

    fn from_github_of(
        env: &crate::env::Env,
        specs: impl Iterator<Item = &'static InputSpec>,
    ) -> Self {
        let mut raw = Self::default();
        for spec in specs {
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

/// `Util.getList` of docker/actions-toolkit (`src/util.ts`): the input is CSV (csv-parse with
/// relaxed quotes and column counts, empty lines skipped); a one-field record is split on its
/// commas unless `ignore_comma`, a longer record is its fields, or with `ignore_comma` its
/// fields joined by commas again; empty items are dropped.
pub fn split_list(value: &str, options: ListOptions) -> Vec<String> {
    let value = if options.trim { value.trim() } else { value };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .quoting(options.quote)
        .from_reader(value.as_bytes());
    let mut items = Vec::new();
    for record in reader.byte_records().map_while(Result::ok) {
        let fields: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        match (fields.len(), options.ignore_comma) {
            (1, false) => items.extend(fields[0].split(',').map(str::to_owned)),
            (_, false) => items.extend(fields),
            (_, true) => items.push(fields.join(",")),
        }
    }
    items
        .into_iter()
        .map(|item| {
            if options.trim {
                item.trim().to_owned()
            } else {
                item
            }
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// One command-line value as a list item that `split_list` gives back whole: quoted when it
/// holds a quote or a line break (commas still split `COMMAS` lists, as in the action).
pub fn quote_item(value: &str) -> String {
    if value.contains(['"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
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
        raw.set(
            "build-args",
            "MY_ARG=val1,val2,val3\nARG=val\n\"MULTILINE=aaaa\nbbbb\nccc\"\nFOO=bar#baz",
        );
        raw.set(
            "labels",
            "org.opencontainers.image.description=Reference implementation of operation \"filter results (top-n)\"",
        );
        raw.set("outputs", "type=image,\"name=r/a:1,r/a:2\",push=true");
        raw.set("secrets", "\"KEY=line\n\n\"\n PADDED=x ");
        assert_eq!(raw.list("tags"), ["r/a:1", "r/a:2", "r/a:3"]);
        assert_eq!(
            raw.list("cache-from"),
            ["type=registry,ref=r/a:x", "type=gha"]
        );
        assert_eq!(
            raw.list("build-args"),
            [
                "MY_ARG=val1,val2,val3",
                "ARG=val",
                "MULTILINE=aaaa\nbbbb\nccc",
                "FOO=bar#baz"
            ]
        );
        assert_eq!(
            raw.list("labels"),
            [
                "org.opencontainers.image.description=Reference implementation of operation \"filter results (top-n)\""
            ]
        );
        assert_eq!(
            raw.list("outputs"),
            ["type=image,\"name=r/a:1,r/a:2\",push=true"],
            "outputs keep their quotes for buildx"
        );
        assert_eq!(
            raw.list("secrets"),
            ["KEY=line\n\n", " PADDED=x "],
            "secrets are not trimmed"
        );
        assert_eq!(raw.get("mode"), "max");
        raw.set("mode", "  ");
        assert_eq!(raw.get("mode"), "max", "blank means default");
    }

    #[test]
    fn a_quoted_command_line_item_comes_back_whole() {
        for value in ["plain", "say \"hi\"", "\"lead", "two\nlines", "a,b"] {
            let mut raw = RawInputs::default();
            raw.set("labels", quote_item(value));
            assert_eq!(raw.list("labels"), [value]);
        }
    }
}
