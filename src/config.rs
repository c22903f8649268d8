//! Validation: raw inputs become one typed `Config`, or every problem is reported at once,
//! one line per bad input, before anything runs.

use std::str::FromStr;

use std::path::PathBuf;

use oci_client::Reference;

use crate::cache::entries::{self, CacheEntry, Compression, Mode, RegistryCacheOptions};
use crate::cache::policy_file;
use crate::cache::settings::PolicyInputs;
use crate::cache::settings::PolicyKind;
use crate::error::BadValue;
pub use crate::error::{InputError, InvalidInputs};
use crate::inputs::{CACHE_FORMAT_INPUTS, RawInputs};
use crate::reference::{self, DEFAULT_CACHE_TAG};

#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

/// Where a build secret comes from: build-push-action's three inputs, buildx's `--secret` forms.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// `secrets: id=value`: written to a 0600 file for buildx.
    Value(String),
    /// `secret-files: id=path`: buildx reads the file.
    File(String),
    /// `secret-envs: id=NAME`: buildx reads the variable.
    Env(String),
}

/// Flags of `docker buildx build` that regcache sets itself: given again in `buildx-args`,
/// they would break its statistics (`--progress`) or its outputs (the files it reads).
const OWNED_FLAGS: &[&str] = &["--progress", "--metadata-file", "--iidfile"];
/// `--network` values buildx documents for `docker buildx build`.
const NETWORKS: &[&str] = &["default", "none", "host"];
/// `--call` methods (buildx `build --call`, 0.15 and later).
const CALL_METHODS: &[&str] = &["build", "check", "outline", "targets"];
/// `--ulimit` names (buildx `util/buildflags`, as docker's `opts/ulimit.go`).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// The build inputs, with build-push-action's meaning; `docker buildx build` gets them in the
/// order its `getArgs` gives them (`engine::buildx::argv`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildOptions {
    pub add_hosts: Vec<String>,
    pub allow: Vec<String>,
    pub annotations: Vec<String>,
    pub attests: Vec<String>,
    pub build_args: Vec<String>,
    pub build_contexts: Vec<String>,
    pub builder: Option<String>,
    pub call: Option<String>,
    pub cgroup_parent: Option<String>,
    /// None: the platform's default (the Git context in the action, `.` on the command line).
    pub context: Option<String>,
    pub file: Option<String>,
    pub labels: Vec<String>,
    pub load: bool,
    pub network: Option<String>,
    pub no_cache: bool,
    pub no_cache_filters: Vec<String>,
    pub outputs: Vec<String>,
    pub platforms: Vec<String>,
    pub provenance: Option<String>,
    pub pull: bool,
    pub push: bool,
    pub sbom: Option<String>,
    /// `secret-envs`, then `secrets`, then `secret-files`, each in input order.
    pub secrets: Vec<Secret>,
    pub shm_size: Option<String>,
    pub ssh: Vec<String>,
    pub tags: Vec<String>,
    pub target: Option<String>,
    pub ulimits: Vec<String>,
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub engine: Engine,
    /// Where cache tags live; its tag is meaningless unless `pinned_tag` is set. None when
    /// neither cache-ref nor a tag names one: the build then runs without a registry cache.
    pub cache_repository: Option<Reference>,
    /// A cache-ref given with a tag pins that tag.
    pub pinned_tag: Option<String>,
    pub policy: PolicyInputs,
    pub cache: RegistryCacheOptions,
    pub extra_cache_from: Vec<CacheEntry>,
    pub extra_cache_to: Vec<CacheEntry>,
    pub build: BuildOptions,
    /// Whether a build record is kept beside the cache and misses are explained.
    pub build_record: bool,
}

/// Which engine builds: a validated setting. What each engine does is `crate::engine`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `docker buildx build`, BuildKit's registry cache.
    Buildx,
    /// `buildah build`: no daemon, buildah's layer cache in the registry.
    Buildah,
    /// `podman build`: buildah's build code, started by podman.
    Podman,
}

/// The `engine` input's values.
pub const ENGINES: &[&str] = &["buildx", "buildah", "podman"];

impl FromStr for Engine {
    type Err = BadValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "buildx" => Ok(Engine::Buildx),
            "buildah" => Ok(Engine::Buildah),
            "podman" => Ok(Engine::Podman),
            other => Err(BadValue {
                value: other.to_owned(),
                accepted: ENGINES.join(", "),
            }),
        }
    }
}

/// Collects problems instead of stopping at the first, so a user fixes them all in one go.
struct Checker<'a> {
    raw: &'a RawInputs,
    errors: Vec<InputError>,
}

impl<'a> Checker<'a> {
    /// A checker that starts with what the raw inputs already know is wrong: values that are
    /// not UTF-8, flags that could not be read.
    fn new(raw: &'a RawInputs) -> Self {
        let mut c = Checker {
            raw,
            errors: Vec::new(),
        };
        for input in &raw.not_utf8 {
            c.fail(input, "the value is not valid UTF-8; give it as UTF-8 text");
        }
        for (flag, problem) in &raw.flag_errors {
            c.fail(flag, problem.clone());
        }
        c
    }

    fn fail(&mut self, input: &'static str, problem: impl Into<String>) {
        self.errors.push(InputError {
            input,
            problem: problem.into(),
        });
    }

    fn typed<T>(
        &mut self,
        input: &'static str,
        parse: impl Fn(&str) -> Result<T, BadValue>,
        fallback: T,
    ) -> T {
        let value = self.raw.get(input);
        parse(value).unwrap_or_else(|e| {
            self.fail(input, e.to_string());
            fallback
        })
    }

    /// The Actions toolkit's booleans: true|True|TRUE|false|False|FALSE.
    fn flag(&mut self, input: &'static str) -> bool {
        self.typed(
            input,
            |v| match v {
                "true" | "True" | "TRUE" => Ok(true),
                "false" | "False" | "FALSE" => Ok(false),
                _ => Err(BadValue {
                    value: v.to_owned(),
                    accepted: "true, false".into(),
                }),
            },
            false,
        )
    }

    fn optional(&self, input: &'static str) -> Option<String> {
        self.raw
            .is_given(input)
            .then(|| self.raw.get(input).to_owned())
    }

    fn list(&self, input: &'static str) -> Vec<String> {
        self.raw.list(input)
    }

    /// A list whose every item must pass `check` (which says what is wrong, never echoing).
    fn checked_list(
        &mut self,
        input: &'static str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Vec<String> {
        let items = self.raw.list(input);
        for item in &items {
            if let Err(problem) = check(item) {
                self.fail(input, problem);
            }
        }
        items
    }

    /// An optional text input that must pass `check`.
    fn checked(
        &mut self,
        input: &'static str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let value = self.optional(input)?;
        if let Err(problem) = check(&value) {
            self.fail(input, problem);
        }
        Some(value)
    }

    fn entries(&mut self, input: &'static str) -> Vec<CacheEntry> {
        let mut entries = Vec::new();
        for line in self.raw.list(input) {
            match CacheEntry::parse(&line) {
                Ok(parsed) => entries.extend(parsed),
                Err(e) => self.fail(input, format!("entry `{line}`: {e}")),
            }
        }
        entries
    }
}

/// Build inputs buildah has no flag for (buildah v1.28 `docs/buildah-build.1.md`), each with
/// what it would have meant.
const BUILDX_ONLY_INPUTS: &[(&str, &str)] = &[
    ("allow", "BuildKit entitlements"),
    ("attests", "BuildKit attestations"),
    ("builder", "the buildx builder"),
    ("buildx-args", "docker buildx build flags"),
    (
        "cache-from",
        "BuildKit cache entries; regcache's cache-ref sets buildah's",
    ),
    (
        "cache-to",
        "BuildKit cache entries; regcache's cache-ref sets buildah's",
    ),
    ("call", "BuildKit's frontend method"),
    (
        "load",
        "docker's image store (buildah keeps the image in its own storage)",
    ),
    ("no-cache-filters", "BuildKit's per-stage cache filters"),
    ("outputs", "BuildKit exporters"),
    ("provenance", "BuildKit attestations"),
    ("sbom", "BuildKit attestations"),
];

/// buildah and podman cannot honour every input: one written is refused, never ignored. A
/// build input counts as written when it differs from its default (the runner passes the
/// declared defaults); the cache format's inputs declare none, so any value is written.
fn refuse_for_buildah(c: &mut Checker<'_>, engine: Engine) {
    let name = engine.program();
    for input in CACHE_FORMAT_INPUTS {
        if c.raw.is_given(input) {
            c.fail(input, format!("engine {name} keeps buildah's layer cache, which has no cache mode, compression or manifest format; remove it, or use engine: buildx"));
        }
    }
    for (input, meaning) in BUILDX_ONLY_INPUTS {
        let spec = crate::inputs::spec(input).expect("a known input");
        if c.raw.is_given(input) && c.raw.get(input) != spec.default {
            c.fail(
                input,
                format!("engine {name} has no {meaning}; remove it, or use engine: buildx"),
            );
        }
    }
    if c.raw.list("platforms").len() > 1 {
        c.fail("platforms", format!("engine {name} builds one platform per run; give one, or use engine: buildx for a multi-platform image"));
    }
}

/// Every input checked at once into one `Config`, or every problem found, one per line.
pub fn validate(raw: &RawInputs) -> Result<Config, InvalidInputs> {
    let mut c = Checker::new(raw);
    let engine = c.typed("engine", str::parse::<Engine>, Engine::Buildx);
    // buildah's cache is a repository of step layers with no one manifest to describe.
    let build_record = c.flag("build-record") && engine == Engine::Buildx;
    if engine != Engine::Buildx {
        refuse_for_buildah(&mut c, engine);
    }
    let cache = cache_options(&mut c);
    let (tags, tag_refs) = image_tags(&mut c);
    let cache_ref = cache_ref(&mut c, &tag_refs);
    let policy = policy_inputs(&mut c);
    // Checked in this order, so the error lines come in it.
    let secrets = secrets(&mut c);
    let (extra_args, cache_args) = buildx_args(&mut c);
    let build = build_options(&mut c, tags, extra_args, secrets);
    let (extra_cache_from, extra_cache_to) = extra_cache_entries(&mut c, cache_args, &tag_refs);
    match (c.errors.is_empty(), cache_ref) {
        (true, Some(repository)) => {
            let (cache_repository, pinned_tag) = repository.unzip();
            Ok(Config {
                engine,
                cache_repository,
                pinned_tag: pinned_tag.flatten(),
                policy,
                cache,
                extra_cache_from,
                extra_cache_to,
                build,
                build_record,
            })
        }
        _ => Err(InvalidInputs(c.errors)),
    }
}

/// `regcache bake`'s inputs: bake-action's own, and the cache inputs each target's cache is
/// decided with.
#[derive(Debug, Clone, PartialEq)]
pub struct BakeConfig {
    /// The cache inputs and the flags bake-action shares with build, as a build's `Config`
    /// without tags or target: each target's is this with its own (`for_target`).
    pub base: Config,
    pub bake: BakeOptions,
}

/// bake-action's own inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BakeOptions {
    pub source: Option<String>,
    pub files: Vec<String>,
    pub targets: Vec<String>,
    /// The `--set` overrides as given, none of them a cache key regcache writes.
    pub sets: Vec<String>,
    pub workdir: Option<String>,
}

/// The target keys regcache writes per target, which a `set` may not override while it does.
const BAKE_CACHE_KEYS: &[&str] = &["cache-from", "cache-to"];

/// The bake inputs checked at once, as `validate` checks a build's.
pub fn validate_bake(raw: &RawInputs) -> Result<BakeConfig, InvalidInputs> {
    let mut c = Checker::new(raw);
    let cache = cache_options(&mut c);
    let cache_ref = cache_ref(&mut c, &[]);
    let policy = policy_inputs(&mut c);
    let call = c.checked("call", |call| {
        one_of(call.split(',').next().unwrap_or_default(), CALL_METHODS)
    });
    let policy_off = policy.kind == Some(PolicyKind::Off);
    let sets = c.checked_list("set", |set| check_bake_set(set, policy_off));
    // Bake's own rule for names (buildx `bake/bake.go` `validateTargetName`), which also keeps
    // a target from being read as a flag.
    let targets = c.checked_list("targets", |target| {
        let valid = !target.is_empty()
            && target
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
            && !target.starts_with('-');
        if valid {
            Ok(())
        } else {
            Err(format!("`{}` is not a bake target or group name; names hold letters, digits, `_` and `-`, and do not start with `-`", crate::escape::one_line(target)))
        }
    });
    let files = c.checked_list("files", |file| {
        if file == "-" {
            Err("`-` (standard input) gives the step no file to read; name the bake file".into())
        } else if file.starts_with('-') {
            Err(format!(
                "`{file}` starts with `-` and would be read as a flag; give `./{file}`"
            ))
        } else {
            Ok(())
        }
    });
    let source = c.optional("source");
    let workdir = c.optional("workdir");
    if workdir.is_some() && source.as_deref().is_some_and(|s| !is_remote_source(s)) {
        c.fail(
            "workdir",
            "a local `source` is the directory bake runs in; give either source or workdir",
        );
    }
    let build = BuildOptions {
        allow: c.list("allow"),
        builder: c.optional("builder"),
        call,
        load: c.flag("load"),
        no_cache: c.flag("no-cache"),
        provenance: c.optional("provenance"),
        pull: c.flag("pull"),
        push: c.flag("push"),
        sbom: c.optional("sbom"),
        ..BuildOptions::default()
    };
    match (c.errors.is_empty(), cache_ref) {
        (true, Some(repository)) => {
            let (cache_repository, pinned_tag) = repository.unzip();
            Ok(BakeConfig {
                base: Config {
                    engine: Engine::Buildx,
                    cache_repository,
                    pinned_tag: pinned_tag.flatten(),
                    policy,
                    cache,
                    extra_cache_from: Vec::new(),
                    extra_cache_to: Vec::new(),
                    build,
                    build_record: false,
                },
                bake: BakeOptions {
                    source,
                    files,
                    targets,
                    sets,
                    workdir,
                },
            })
        }
        _ => Err(InvalidInputs(c.errors)),
    }
}

/// bake-action's `Util.isValidRef`: a remote definition (a URL or a Git address), not a
/// directory.
pub fn is_remote_source(source: &str) -> bool {
    ["https://", "http://", "git://", "github.com/", "git@"]
        .iter()
        .any(|prefix| source.starts_with(prefix))
}

/// The target key a bake `--set` writes (`output` of `*.output=type=docker`).
pub fn bake_set_field(set: &str) -> Option<&str> {
    let key = set.split_once('=').map_or(set, |(key, _)| key);
    key.split_once('.').map(|(_, field)| field.trim())
}

/// A `set` is `pattern.key=value` (`pattern.args.NAME` alone reads the variable), and may not
/// write the cache keys regcache writes per target unless the policy is off.
fn check_bake_set(set: &str, policy_off: bool) -> Result<(), String> {
    let key = set.split_once('=').map_or(set, |(key, _)| key);
    let Some(field) = bake_set_field(set) else {
        return Err(format!(
            "`{}` is not `targetpattern.key=value`",
            crate::escape::one_line(key)
        ));
    };
    if BAKE_CACHE_KEYS.contains(&field) && !policy_off {
        return Err(format!(
            "`{}` sets `{field}`, which regcache writes for every target from cache-policy; remove it (a target's own entries in the bake file are kept and added to), or set cache-policy: off",
            crate::escape::one_line(key)
        ));
    }
    Ok(())
}

impl BakeConfig {
    /// One target's build as regcache decides its cache: the target's name in the scope (as a
    /// build's `target`), its tags and platforms, and its cache repository (`cache-ref`, else
    /// its first tag's, as a build's).
    pub fn for_target(&self, name: &str, tags: &[String], platforms: &[String]) -> Config {
        let mut config = self.base.clone();
        config.build.target = Some(name.to_owned());
        config.build.tags = tags.to_vec();
        config.build.platforms = platforms.to_vec();
        if config.cache_repository.is_none() {
            config.cache_repository = tags
                .iter()
                .filter_map(|t| reference::parse(t).ok())
                .find(|t| t.digest().is_none())
                .map(|tag| reference::with_tag(&tag, DEFAULT_CACHE_TAG));
        }
        config
    }
}

/// The registry cache's format: BuildKit's `cache-to` options.
fn cache_options(c: &mut Checker<'_>) -> RegistryCacheOptions {
    let mode = c.typed("mode", str::parse::<Mode>, Mode::Max);
    let compression = c.typed("compression", str::parse::<Compression>, Compression::Gzip);
    let compression_level = if c.raw.is_given("compression-level") {
        c.typed(
            "compression-level",
            |v| entries::parse_level(compression, v).map(Some),
            None,
        )
    } else {
        None
    };
    let options = RegistryCacheOptions {
        mode,
        compression,
        compression_level,
        force_compression: c.flag("force-compression"),
        oci_mediatypes: c.flag("oci-mediatypes"),
        image_manifest: c.flag("image-manifest"),
        ignore_error: c.flag("ignore-error"),
    };
    if let Err(problem) = entries::check_media_types(compression, options.media_types()) {
        c.fail(
            "oci-mediatypes",
            format!("{problem}; set oci-mediatypes: true"),
        );
    }
    options
}

/// The image tags as given, and parsed: none may carry a digest.
fn image_tags(c: &mut Checker<'_>) -> (Vec<String>, Vec<Reference>) {
    let tags = c.list("tags");
    let mut tag_refs = Vec::new();
    for tag in &tags {
        match reference::parse(tag) {
            Ok(r) if r.digest().is_some() => c.fail(
                "tags",
                format!("`{tag}` has a digest; an image tag names what the build pushes, so give it without `@sha256:…`"),
            ),
            Ok(r) => tag_refs.push(r),
            Err(e) => c.fail("tags", e.to_string()),
        }
    }
    (tags, tag_refs)
}

/// The policy inputs that were given (the policy file fills in the rest).
fn policy_inputs(c: &mut Checker<'_>) -> PolicyInputs {
    let raw = c.raw;
    PolicyInputs {
        kind: raw
            .is_given("cache-policy")
            .then(|| c.typed("cache-policy", str::parse::<PolicyKind>, PolicyKind::Branch)),
        prefix: raw.is_given("cache-prefix").then(|| {
            let prefix = raw.get("cache-prefix").to_owned();
            if let Err(problem) = policy_file::check_prefix(&prefix) {
                c.fail("cache-prefix", problem);
            }
            prefix
        }),
        scope: c.optional("cache-scope"),
        file: PathBuf::from(raw.get("policy-file")),
        file_required: raw.is_given("policy-file"),
    }
}

/// build-push-action's inputs, each checked as buildx would read it.
fn build_options(
    c: &mut Checker<'_>,
    tags: Vec<String>,
    extra_args: Vec<String>,
    secrets: Vec<Secret>,
) -> BuildOptions {
    let context = c.checked("context", check_context);
    let network = c.checked("network", |network| one_of(network, NETWORKS));
    // `check,format=json`: the method, then buildx's own options.
    let call = c.checked("call", |call| {
        one_of(call.split(',').next().unwrap_or_default(), CALL_METHODS)
    });
    let shm_size = c.checked("shm-size", check_size);
    BuildOptions {
        add_hosts: c.checked_list("add-hosts", check_host),
        allow: c.list("allow"),
        annotations: c.checked_list("annotations", |a| key_value(a, "`key=value`, optionally typed (`index:key=value`, `manifest[linux/amd64]:key=value`)")),
        attests: c.checked_list("attests", |a| {
            if a.split(',').any(|field| field.trim().starts_with("type=")) {
                Ok(())
            } else {
                Err(format!("`{a}` has no `type=`; give `type=sbom` or `type=provenance` with its parameters"))
            }
        }),
        build_args: c.list("build-args"),
        build_contexts: c.checked_list("build-contexts", |b| key_value(b, "`name=path`, `name=docker-image://ref` or `name=<Git URL>`")),
        builder: c.optional("builder"),
        call,
        cgroup_parent: c.optional("cgroup-parent"),
        context,
        file: c.optional("file"),
        labels: c.list("labels"),
        load: c.flag("load"),
        network,
        no_cache: c.flag("no-cache"),
        no_cache_filters: c.list("no-cache-filters"),
        outputs: c.list("outputs"),
        platforms: c.list("platforms"),
        provenance: c.optional("provenance"),
        pull: c.flag("pull"),
        push: c.flag("push"),
        sbom: c.optional("sbom"),
        secrets,
        shm_size,
        ssh: c.checked_list("ssh", check_ssh),
        target: c.optional("target"),
        ulimits: c.checked_list("ulimit", check_ulimit),
        extra_args,
        tags,
    }
}

fn check_context(context: &str) -> Result<(), String> {
    if context.starts_with('-') && context != "-" {
        Err(format!(
            "`{context}` starts with `-` and would be read as a buildx flag; give a path or a Git URL (`./{context}` for a directory of that name)"
        ))
    } else {
        Ok(())
    }
}

fn check_size(size: &str) -> Result<(), String> {
    let units = regex::Regex::new(r"^\d+(\.\d+)? ?[kKmMgGtTpP]?[iI]?[bB]?$").expect("valid");
    if units.is_match(size) {
        Ok(())
    } else {
        Err(format!(
            "`{size}` is not a size; give bytes or a number with a unit (`2g`, `512m`, `64MiB`)"
        ))
    }
}

fn check_ssh(ssh: &str) -> Result<(), String> {
    let id = ssh.split('=').next().unwrap_or_default();
    if id.is_empty() || id.contains(char::is_whitespace) {
        Err(format!(
            "`{ssh}` has no id; give `default` (the agent at SSH_AUTH_SOCK) or `id=path` to a socket or key"
        ))
    } else {
        Ok(())
    }
}

/// The user's own `cache-from`/`cache-to` entries (inputs, and `--cache-*` in buildx-args);
/// none may write to an image tag, which the export would overwrite.
fn extra_cache_entries(
    c: &mut Checker<'_>,
    cache_args: Vec<(&'static str, String)>,
    tag_refs: &[Reference],
) -> (Vec<CacheEntry>, Vec<CacheEntry>) {
    let mut extra_cache_from = c.entries("cache-from");
    let mut extra_cache_to = c.entries("cache-to");
    for (flag, value) in cache_args {
        match CacheEntry::parse(&value) {
            Ok(entries) if flag == "--cache-from" => extra_cache_from.extend(entries),
            Ok(entries) => extra_cache_to.extend(entries),
            Err(e) => c.fail("buildx-args", format!("{flag} `{value}`: {e}")),
        }
    }
    for entry in &extra_cache_to {
        let target = entry
            .get("ref")
            .filter(|_| entry.get("type") == Some("registry"))
            .and_then(|r| reference::parse(r).ok());
        if let Some(image) =
            target.and_then(|t| tag_refs.iter().find(|i| reference::same_tag(i, &t)))
        {
            c.fail(
                "cache-to",
                format!("the cache destination `{}` is the image tag `{}`; the export would overwrite the image. Use a dedicated cache tag", entry.to_csv(), image.whole()),
            );
        }
    }
    (extra_cache_from, extra_cache_to)
}

/// The three secret inputs of build-push-action, each `id=value` split at the first `=`
/// (actions-toolkit `Build.parseSecretKvp`): `secret-envs` name a variable, `secrets` hold the
/// value (untrimmed), `secret-files` name a file. Ids are unique across the three. A value is
/// a secret: it is never echoed, so the messages name the line, not its text.
fn secrets(c: &mut Checker<'_>) -> Vec<Secret> {
    type Input = (&'static str, fn(String) -> SecretSource, &'static str);
    let inputs: [Input; 3] = [
        ("secret-envs", SecretSource::Env, "id=VARIABLE"),
        ("secrets", SecretSource::Value, "id=value"),
        ("secret-files", SecretSource::File, "id=path"),
    ];
    let mut secrets: Vec<Secret> = Vec::new();
    for (input, source, form) in inputs {
        for (n, item) in c.raw.list(input).into_iter().enumerate() {
            let item_number = n + 1;
            let parsed = item
                .split_once('=')
                .filter(|(id, value)| !id.is_empty() && !value.is_empty());
            let Some((id, value)) = parsed else {
                c.fail(input, format!("item {item_number} is not `{form}` (both sides of the first `=` must be non-empty)"));
                continue;
            };
            if id.contains(['\n', '\r', ',', '"']) {
                c.fail(
                    input,
                    format!(
                        "item {item_number}: a secret id cannot hold a line break, `,` or `\"`"
                    ),
                );
            } else if secrets.iter().any(|s| s.id == id) {
                c.fail(
                    input,
                    format!("the id `{id}` is given twice; each secret needs its own id"),
                );
            } else {
                secrets.push(Secret {
                    id: id.to_owned(),
                    source: source(value.to_owned()),
                });
            }
        }
    }
    secrets
}

/// `value` is one of `accepted`.
fn one_of(value: &str, accepted: &[&str]) -> Result<(), String> {
    if accepted.contains(&value) {
        Ok(())
    } else {
        Err(BadValue {
            value: value.to_owned(),
            accepted: accepted.join(", "),
        }
        .to_string())
    }
}

fn key_value(item: &str, form: &str) -> Result<(), String> {
    match item.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => Ok(()),
        _ => Err(format!("`{item}` is not {form}")),
    }
}

/// `host:ip` or `host=ip` (buildx splits at the first of the two), the IP literal or
/// `host-gateway`.
fn check_host(item: &str) -> Result<(), String> {
    let split = item.find([':', '=']).map(|i| (&item[..i], &item[i + 1..]));
    match split {
        Some((host, ip))
            if !host.is_empty()
                && (ip == "host-gateway"
                    || ip
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok()) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{item}` is not `host:ip` (e.g. `docker:10.180.0.1`)"
        )),
    }
}

/// `name=soft[:hard]`, as docker's `--ulimit`.
fn check_ulimit(item: &str) -> Result<(), String> {
    let form = || {
        format!(
            "`{item}` is not `name=soft[:hard]` with a name among {} and whole numbers",
            ULIMITS.join(", ")
        )
    };
    let (name, limits) = item.split_once('=').ok_or_else(form)?;
    let numbers_ok =
        limits.split(':').count() <= 2 && limits.split(':').all(|n| n.parse::<i64>().is_ok());
    if ULIMITS.contains(&name) && numbers_ok {
        Ok(())
    } else {
        Err(form())
    }
}

/// `buildx-args`, shell-split: the flags regcache owns are refused, and `--cache-from` /
/// `--cache-to` are taken out to be validated like the typed inputs.
fn buildx_args(c: &mut Checker<'_>) -> (Vec<String>, Vec<(&'static str, String)>) {
    let Some(words) = shlex::split(c.raw.get("buildx-args")) else {
        c.fail(
            "buildx-args",
            "unbalanced quotes; quote arguments as in a shell",
        );
        return (Vec::new(), Vec::new());
    };
    let mut args = Vec::new();
    let mut cache = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (word.clone(), None),
        };
        if OWNED_FLAGS.contains(&flag.as_str()) {
            c.fail(
                "buildx-args",
                format!("`{flag}` is set by regcache itself (its statistics and outputs depend on it); remove it"),
            );
            if inline.is_none() {
                words.next();
            }
            continue;
        }
        let cache_flag = ["--cache-from", "--cache-to"]
            .into_iter()
            .find(|f| *f == flag);
        match cache_flag {
            Some(cache_flag) => match inline.or_else(|| words.next()) {
                Some(value) => cache.push((cache_flag, value)),
                None => c.fail("buildx-args", format!("`{cache_flag}` needs a value")),
            },
            None => args.push(word),
        }
    }
    (args, cache)
}

/// The cache repository (given, or the first tag's; none without either) and a pinned tag
/// when cache-ref has one; None when cache-ref is bad. A pinned tag is never an image tag:
/// exporting the cache there would replace the image.
#[allow(clippy::option_option)]
fn cache_ref(
    c: &mut Checker<'_>,
    tags: &[Reference],
) -> Option<Option<(Reference, Option<String>)>> {
    let given = c.raw.get("cache-ref");
    if !c.raw.is_given("cache-ref") {
        return Some(
            tags.first()
                .map(|tag| (reference::with_tag(tag, DEFAULT_CACHE_TAG), None)),
        );
    }
    if let Some(bad) = given
        .chars()
        .find(|ch| [',', '"', '\n', '\r', '='].contains(ch))
    {
        c.fail("cache-ref", format!("`{given}` contains {bad:?}, which would inject fields into the --cache-to entry; give only an image ref"));
        return None;
    }
    let chosen = match reference::parse_cache_ref(given) {
        Ok(r) => r,
        Err(e) => {
            c.fail("cache-ref", e.to_string());
            return None;
        }
    };
    if !reference::has_tag(given) {
        return Some(Some((chosen, None)));
    }
    if let Some(tag) = tags.iter().find(|t| reference::same_tag(t, &chosen)) {
        c.fail(
            "cache-ref",
            format!("`{}` is also an image tag (`{}`); the cache export would overwrite the image. Use a dedicated tag such as `:{DEFAULT_CACHE_TAG}`", chosen.whole(), tag.whole()),
        );
        return None;
    }
    let pinned = chosen.tag().map(str::to_owned);
    Some(Some((chosen, pinned)))
}

impl Config {
    /// The full ref of a cache tag in the cache repository, when there is one.
    pub fn cache_ref(&self, tag: &str) -> Option<Reference> {
        self.cache_repository
            .as_ref()
            .map(|repository| reference::with_tag(repository, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawInputs {
        let mut raw = RawInputs::default();
        for (k, v) in pairs {
            raw.set(k, *v);
        }
        raw
    }

    #[test]
    fn bake_inputs_are_refused_by_name_and_a_cache_set_only_while_regcache_writes() {
        let problems = |pairs: &[(&str, &str)]| match validate_bake(&raw(pairs)) {
            Ok(_) => Vec::new(),
            Err(InvalidInputs(errors)) => errors
                .into_iter()
                .map(|e| format!("{}: {}", e.input, e.problem))
                .collect(),
        };
        assert_eq!(
            problems(&[("set", "*.args.A=1\napi.labels.x=y")]),
            Vec::<String>::new()
        );
        let refused = problems(&[("set", "*.cache-to=type=gha\napi.cache-from=r/a:c")]);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].starts_with("set: `*.cache-to` sets `cache-to`, which regcache writes"));
        assert_eq!(
            problems(&[("set", "*.cache-to=type=gha"), ("cache-policy", "off")]),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(&[("set", "nodot=1")]),
            ["set: `nodot` is not `targetpattern.key=value`"]
        );
        assert_eq!(
            problems(&[("targets", "api,web_2,b-c")]),
            Vec::<String>::new()
        );
        for bad in ["-x", "a b", "a.b", "a/b"] {
            assert_eq!(problems(&[("targets", bad)]).len(), 1, "{bad}");
        }
        assert_eq!(
            problems(&[("files", "-")]),
            ["files: `-` (standard input) gives the step no file to read; name the bake file"]
        );
        assert_eq!(problems(&[("files", "--print")]).len(), 1);
        assert_eq!(
            problems(&[("source", "./app"), ("workdir", "./other")]),
            [
                "workdir: a local `source` is the directory bake runs in; give either source or workdir"
            ]
        );
        assert_eq!(
            problems(&[
                ("source", "https://github.com/o/r.git#main"),
                ("workdir", "./other")
            ]),
            Vec::<String>::new(),
            "a remote source reads cwd:// files from the workdir"
        );
        assert_eq!(problems(&[("call", "lint")]).len(), 1);
    }

    #[test]
    fn a_bake_target_takes_its_cache_repository_from_its_first_tag_unless_cache_ref_names_one() {
        let config = validate_bake(&raw(&[])).unwrap();
        let api = config.for_target("api", &["r.io/o/api:1".into(), "r.io/o/x:2".into()], &[]);
        assert_eq!(api.build.target.as_deref(), Some("api"));
        assert_eq!(
            api.cache_repository.map(|r| r.whole()),
            Some("r.io/o/api:buildcache".to_owned())
        );
        assert_eq!(config.for_target("t", &[], &[]).cache_repository, None);
        let given = validate_bake(&raw(&[("cache-ref", "r.io/o/cache")])).unwrap();
        assert_eq!(
            given
                .for_target("api", &["r.io/o/api:1".into()], &["linux/arm64".into()])
                .cache_repository
                .map(|r| r.repository().to_owned()),
            Some("o/cache".to_owned())
        );
    }

    /// The runner passes every default `action.yml` declares; with `engine: buildah` none of
    /// them may count as written, while each refused input, written, is refused by name.
    #[test]
    fn buildah_refuses_written_inputs_but_not_the_runners_defaults() {
        let mut defaults = raw(&[("engine", "buildah"), ("tags", "r.io/app:1")]);
        for spec in crate::inputs::INPUTS
            .iter()
            .filter(|s| s.declared_in_action)
        {
            if !defaults.is_given(spec.name) {
                defaults.set(spec.name, spec.default);
            }
        }
        let config = validate(&defaults).unwrap();
        assert_eq!(config.engine, Engine::Buildah);
        let written: Vec<(&str, &str)> = CACHE_FORMAT_INPUTS
            .iter()
            .map(|name| (*name, crate::inputs::spec(name).unwrap().default))
            .filter(|(_, default)| !default.is_empty())
            .chain([
                ("compression-level", "3"),
                ("load", "true"),
                ("builder", "remote"),
                ("outputs", "type=local,dest=out"),
                ("platforms", "linux/amd64,linux/arm64"),
            ])
            .collect();
        for (name, value) in written {
            let mut one = raw(&[("engine", "buildah"), ("tags", "r.io/app:1")]);
            one.set(name, value);
            let errors = validate(&one).unwrap_err().0;
            assert_eq!(
                errors.iter().map(|e| e.input).collect::<Vec<_>>(),
                [name],
                "{name}={value}"
            );
            assert!(
                errors[0].problem.contains("engine buildah"),
                "{}",
                errors[0]
            );
        }
        // The same inputs are buildx's, and podman is buildah's build code.
        assert!(validate(&raw(&[("tags", "r.io/app:1"), ("mode", "min")])).is_ok());
        let podman = validate(&raw(&[("engine", "podman"), ("mode", "min")])).unwrap_err();
        assert!(podman.0[0].problem.starts_with("engine podman"), "{podman}");
        let unknown = validate(&raw(&[("engine", "kaniko")])).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "input `engine`: `kaniko` is not accepted; accepted values: buildx, buildah, podman"
        );
    }

    fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
        validate(&raw(pairs))
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_give_a_dedicated_cache_tag() {
        let config = validate(&raw(&[("tags", "127.0.0.1:5055/app:dev")])).unwrap();
        assert_eq!(
            config.cache_ref("buildcache").unwrap().whole(),
            "127.0.0.1:5055/app:buildcache"
        );
        assert_eq!(config.pinned_tag, None);
        assert_eq!((config.policy.kind, config.policy.prefix), (None, None));
        assert_eq!(config.cache.mode, Mode::Max);
        assert_eq!(config.cache.compression, Compression::Gzip);
        assert!(
            config.cache.oci_mediatypes && config.cache.image_manifest && config.cache.ignore_error
        );
        assert!(!config.cache.force_compression);
    }

    #[test]
    fn every_bad_input_gets_its_own_line() {
        let lines = errors(&[
            ("tags", "r/app:dev"),
            ("mode", "maxx"),
            ("compression", "brotli"),
            ("ignore-error", "yes"),
        ]);
        assert_eq!(
            lines,
            [
                "input `mode`: `maxx` is not accepted; accepted values: min, max",
                "input `compression`: `brotli` is not accepted; accepted values: uncompressed, gzip, estargz, zstd",
                "input `ignore-error`: `yes` is not accepted; accepted values: true, false",
            ]
        );
    }

    #[test]
    fn levels_depend_on_the_algorithm() {
        assert_eq!(
            errors(&[("tags", "r/a:1"), ("compression-level", "12")]),
            ["input `compression-level`: `12` is not accepted; accepted values: 0-9 for gzip"]
        );
        assert!(
            validate(&raw(&[
                ("tags", "r/a:1"),
                ("compression", "zstd"),
                ("compression-level", "22")
            ]))
            .is_ok()
        );
    }

    #[test]
    fn cache_ref_must_not_be_an_image_tag() {
        let lines = errors(&[
            ("tags", "r/app:buildcache"),
            ("cache-ref", "docker.io/r/app:buildcache"),
        ]);
        assert!(
            lines[0].starts_with(
                "input `cache-ref`: `docker.io/r/app:buildcache` is also an image tag"
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn policy_inputs_are_validated_and_left_unset_when_not_given() {
        let config = validate(&raw(&[
            ("tags", "r/a:1"),
            ("cache-prefix", "team-cache"),
            ("cache-policy", " "),
        ]))
        .unwrap();
        assert_eq!(config.policy.prefix.as_deref(), Some("team-cache"));
        assert_eq!(config.policy.kind, None, "blank is not given");
        assert!(
            errors(&[("tags", "r/a:1"), ("cache-prefix", "Bad/Prefix")])[0]
                .starts_with("input `cache-prefix`: prefix `Bad/Prefix` is not accepted")
        );
        assert!(errors(&[("tags", "r/a:1"), ("cache-policy", "sometimes")])[0]
            .starts_with("input `cache-policy`: `sometimes` is not accepted; accepted values: branch, shared, read-only, off"));
    }

    #[test]
    fn cache_ref_cannot_inject_csv_fields() {
        let lines = errors(&[("cache-ref", "r/app:c,type=local,dest=/tmp/x")]);
        assert!(lines[0].contains("would inject fields"), "{lines:?}");
    }

    #[test]
    fn media_type_combinations() {
        assert!(
            errors(&[
                ("tags", "r/a:1"),
                ("compression", "zstd"),
                ("oci-mediatypes", "false"),
                ("image-manifest", "false")
            ])[0]
                .contains("compression=zstd needs oci-mediatypes=true")
        );
        assert!(
            errors(&[("tags", "r/a:1"), ("oci-mediatypes", "false")])[0]
                .contains("image-manifest=true needs oci-mediatypes=true")
        );
    }

    #[test]
    fn secrets_come_from_three_inputs_in_build_push_action_forms() {
        let config = validate(&raw(&[
            (
                "secrets",
                "npm_token=a=b=c\n\"MULTI=line 1\nline 2\"\nGIT_AUTH_TOKEN=abc,def=1\n  SPACED=x  ",
            ),
            ("secret-envs", "GH=GH_TOKEN,NPM=NPM_TOKEN"),
            ("secret-files", "npmrc=/home/me/a,b/.npmrc"),
        ]))
        .unwrap();
        let secrets: Vec<(&str, &SecretSource)> = config
            .build
            .secrets
            .iter()
            .map(|s| (s.id.as_str(), &s.source))
            .collect();
        assert_eq!(
            secrets,
            [
                ("GH", &SecretSource::Env("GH_TOKEN".into())),
                ("NPM", &SecretSource::Env("NPM_TOKEN".into())),
                ("npm_token", &SecretSource::Value("a=b=c".into())),
                ("MULTI", &SecretSource::Value("line 1\nline 2".into())),
                ("GIT_AUTH_TOKEN", &SecretSource::Value("abc,def=1".into())),
                ("  SPACED", &SecretSource::Value("x  ".into())),
                ("npmrc", &SecretSource::File("/home/me/a,b/.npmrc".into())),
            ]
        );
        assert_eq!(
            errors(&[("secrets", "=value\nok=1\nempty=")]),
            [
                "input `secrets`: item 1 is not `id=value` (both sides of the first `=` must be non-empty)",
                "input `secrets`: item 3 is not `id=value` (both sides of the first `=` must be non-empty)",
            ]
        );
        assert_eq!(
            errors(&[("secrets", "a=1"), ("secret-files", "a=/x")]),
            ["input `secret-files`: the id `a` is given twice; each secret needs its own id"]
        );
    }

    #[test]
    fn build_push_action_inputs_are_checked() {
        let lines = errors(&[
            ("add-hosts", "docker:10.180.0.1,bad"),
            ("ulimit", "nofile=1024:1024\nnofiles=1"),
            ("shm-size", "2 gigs"),
            ("call", "lint"),
            ("annotations", "no-equals"),
            ("attests", "mode=max"),
            ("ssh", "=path"),
        ]);
        let inputs: Vec<&str> = lines
            .iter()
            .map(|l| l.split('`').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(
            inputs,
            [
                "call",
                "shm-size",
                "add-hosts",
                "annotations",
                "attests",
                "ssh",
                "ulimit"
            ]
        );
        assert_eq!(
            lines[0],
            "input `call`: `lint` is not accepted; accepted values: build, check, outline, targets"
        );
        assert_eq!(
            lines[1],
            "input `shm-size`: `2 gigs` is not a size; give bytes or a number with a unit (`2g`, `512m`, `64MiB`)"
        );
        assert!(
            lines[2].starts_with("input `add-hosts`: `bad` is not `host:ip`"),
            "{lines:#?}"
        );
        assert!(
            lines[6].starts_with("input `ulimit`: `nofiles=1` is not `name=soft[:hard]`"),
            "{lines:#?}"
        );
        let config = validate(&raw(&[
            ("add-hosts", "docker:10.180.0.1\nv6:::1\ngw=host-gateway"),
            ("ulimit", "nproc=3\nnofile=-1"),
            ("shm-size", "64MiB"),
            ("call", "check,format=json"),
        ]))
        .unwrap();
        assert_eq!(config.build.add_hosts.len(), 3);
        assert_eq!(
            config.cache_repository, None,
            "no tags, no cache-ref: no cache"
        );
    }

    #[test]
    fn secret_values_are_never_echoed() {
        let lines = errors(&[
            ("tags", "r/a:1"),
            ("secrets", "no-equals-sign-hunter2\n=hunter3"),
        ]);
        assert!(!lines[1].contains("hunter3"), "{lines:?}");
        assert!(!lines[0].contains("hunter2"), "{lines:?}");
    }
}
