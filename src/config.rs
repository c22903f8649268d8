//! Validation: raw inputs become one typed `Config`, or every problem is reported at once,
//! one line per bad input, before anything runs.

use std::fmt;

use std::path::PathBuf;

use oci_client::Reference;
use thiserror::Error;

use crate::cache_options::{self, BadValue, CacheEntry, Compression, Mode, RegistryCacheOptions};
use crate::inputs::RawInputs;
use crate::policy::PolicyKind;
use crate::policy_file;
use crate::reference::{self, DEFAULT_CACHE_TAG};

#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

/// Where a build secret comes from: BuildKit's `--secret` forms.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// `id=value` (build-push-action's form): written to a 0600 file for buildx.
    Value(String),
    /// `id=ID,src=PATH`: buildx reads the file.
    File(String),
    /// `id=ID,env=NAME`: buildx reads the variable.
    Env(String),
}

/// Flags of `docker buildx build` that regcache sets itself: given again in `buildx-args`,
/// they would break its statistics (`--progress`) or its outputs (the files it reads).
const OWNED_FLAGS: &[&str] = &["--progress", "--metadata-file", "--iidfile"];
/// `--network` values buildx documents for `docker buildx build`.
const NETWORKS: &[&str] = &["default", "none", "host"];

#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    pub context: String,
    pub file: Option<String>,
    pub tags: Vec<String>,
    pub push: bool,
    pub load: bool,
    pub target: Option<String>,
    pub build_args: Vec<String>,
    pub labels: Vec<String>,
    pub platforms: Vec<String>,
    pub network: Option<String>,
    pub builder: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub secrets: Vec<Secret>,
    pub outputs: Vec<String>,
    pub provenance: Option<String>,
    pub extra_args: Vec<String>,
}

/// The policy inputs that were given; the policy file fills in the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInputs {
    pub kind: Option<PolicyKind>,
    pub prefix: Option<String>,
    pub scope: Option<String>,
    pub file: PathBuf,
    /// Named by the user, so it must exist.
    pub file_required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where cache tags live; its tag is meaningless unless `pinned_tag` is set.
    pub cache_repository: Reference,
    /// A cache-ref given with a tag pins that tag.
    pub pinned_tag: Option<String>,
    pub policy: PolicyInputs,
    pub cache: RegistryCacheOptions,
    pub extra_cache_from: Vec<CacheEntry>,
    pub extra_cache_to: Vec<CacheEntry>,
    pub build: BuildOptions,
}

/// One bad input: which, and what is wrong with it (never the value of a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub input: &'static str,
    pub problem: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input `{}`: {}", self.input, self.problem)
    }
}

#[derive(Debug, Clone, PartialEq, Error)]
pub struct InvalidInputs(pub Vec<InputError>);

impl fmt::Display for InvalidInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Collects problems instead of stopping at the first, so a user fixes them all in one go.
struct Checker<'a> {
    raw: &'a RawInputs,
    errors: Vec<InputError>,
}

impl Checker<'_> {
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
        self.raw
            .list(input)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn entries(&mut self, input: &'static str) -> Vec<CacheEntry> {
        let mut entries = Vec::new();
        for line in self.raw.list(input) {
            match CacheEntry::parse(line) {
                Ok(parsed) => entries.extend(parsed),
                Err(e) => self.fail(input, format!("entry `{line}`: {e}")),
            }
        }
        entries
    }
}

pub fn validate(raw: &RawInputs) -> Result<Config, InvalidInputs> {
    let mut c = Checker {
        raw,
        errors: Vec::new(),
    };

    for input in &raw.not_utf8 {
        c.fail(input, "the value is not valid UTF-8; give it as UTF-8 text");
    }
    let mode = c.typed("mode", str::parse::<Mode>, Mode::Max);
    let compression = c.typed("compression", str::parse::<Compression>, Compression::Gzip);
    let compression_level = if raw.is_given("compression-level") {
        c.typed(
            "compression-level",
            |v| cache_options::parse_level(compression, v).map(Some),
            None,
        )
    } else {
        None
    };
    let force_compression = c.flag("force-compression");
    let oci_mediatypes = c.flag("oci-mediatypes");
    let image_manifest = c.flag("image-manifest");
    let ignore_error = c.flag("ignore-error");
    if let Err(problem) =
        cache_options::check_media_types(compression, oci_mediatypes, image_manifest)
    {
        c.fail(
            "oci-mediatypes",
            format!("{problem}; set oci-mediatypes: true"),
        );
    }

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

    let cache_ref = cache_ref(&mut c, &tag_refs);
    let policy = PolicyInputs {
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
    };

    let secrets = secrets(&mut c);
    let (extra_args, cache_args) = buildx_args(&mut c);

    let context = raw.get("context").to_owned();
    if context.starts_with('-') && context != "-" {
        c.fail(
            "context",
            format!("`{context}` starts with `-` and would be read as a buildx flag; give a path or a Git URL (`./{context}` for a directory of that name)"),
        );
    }
    let network = c.optional("network");
    if let Some(network) = network.as_deref().filter(|n| !NETWORKS.contains(n)) {
        c.fail(
            "network",
            BadValue {
                value: network.to_owned(),
                accepted: NETWORKS.join(", "),
            }
            .to_string(),
        );
    }

    let build = BuildOptions {
        context,
        file: c.optional("file"),
        push: c.flag("push"),
        load: c.flag("load"),
        target: c.optional("target"),
        build_args: c.list("build-args"),
        labels: c.list("labels"),
        platforms: c.list("platforms"),
        network,
        builder: c.optional("builder"),
        no_cache: c.flag("no-cache"),
        pull: c.flag("pull"),
        secrets,
        outputs: c.list("outputs"),
        provenance: c.optional("provenance"),
        extra_args,
        tags,
    };
    let mut extra_cache_from = c.entries("cache-from");
    let mut extra_cache_to = c.entries("cache-to");
    for (flag, value) in cache_args {
        match CacheEntry::parse(&value) {
            Ok(entries) if flag == "--cache-from" => extra_cache_from.extend(entries),
            Ok(entries) => extra_cache_to.extend(entries),
            Err(e) => c.fail("buildx-args", format!("{flag} `{value}`: {e}")),
        }
    }
    // A cache written to an image tag replaces the image.
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

    match (c.errors.is_empty(), cache_ref) {
        (true, Some((cache_repository, pinned_tag))) => Ok(Config {
            cache_repository,
            pinned_tag,
            policy,
            cache: RegistryCacheOptions {
                mode,
                compression,
                compression_level,
                force_compression,
                oci_mediatypes,
                image_manifest,
                ignore_error,
            },
            extra_cache_from,
            extra_cache_to,
            build,
        }),
        _ => Err(InvalidInputs(c.errors)),
    }
}

/// `secrets`: build-push-action's `id=value` lines, or buildx's own `id=ID,src=PATH` and
/// `id=ID,env=NAME`; ids unique. A value is a secret: it is never echoed.
fn secrets(c: &mut Checker<'_>) -> Vec<Secret> {
    const FORMS: &str = "each line must be `id=value`, `id=ID,src=PATH` or `id=ID,env=NAME`, with an id of letters, digits, `_`, `.` or `-`";
    let valid_id = |id: &str| {
        !id.is_empty()
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
    };
    let mut secrets: Vec<Secret> = Vec::new();
    for line in c.raw.list("secrets") {
        let buildx_form = line.strip_prefix("id=").and_then(|rest| {
            let (id, source) = rest.split_once(',')?;
            let source = match source.split_once('=')? {
                ("src", path) => SecretSource::File(path.to_owned()),
                ("env", name) => SecretSource::Env(name.to_owned()),
                _ => return None,
            };
            Some((id, source))
        });
        let parsed = buildx_form.or_else(|| {
            let (id, value) = line.split_once('=')?;
            Some((id, SecretSource::Value(value.to_owned())))
        });
        match parsed {
            Some((id, source)) if valid_id(id) => {
                if secrets.iter().any(|s| s.id == id) {
                    c.fail(
                        "secrets",
                        format!("the id `{id}` is given twice; each secret needs its own id"),
                    );
                } else {
                    secrets.push(Secret {
                        id: id.to_owned(),
                        source,
                    });
                }
            }
            _ => c.fail("secrets", FORMS),
        }
    }
    secrets
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

/// The cache repository (given, or the first tag's) and a pinned tag when cache-ref has one.
/// A pinned tag is never an image tag: exporting the cache there would replace the image.
fn cache_ref(c: &mut Checker<'_>, tags: &[Reference]) -> Option<(Reference, Option<String>)> {
    let given = c.raw.get("cache-ref");
    if !c.raw.is_given("cache-ref") {
        return match tags.first() {
            Some(tag) => Some((reference::with_tag(tag, DEFAULT_CACHE_TAG), None)),
            None => {
                c.fail("cache-ref", "no cache ref: set cache-ref (e.g. ghcr.io/owner/app) or give tags to derive it from");
                None
            }
        };
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
        return Some((chosen, None));
    }
    if let Some(tag) = tags.iter().find(|t| reference::same_tag(t, &chosen)) {
        c.fail(
            "cache-ref",
            format!("`{}` is also an image tag (`{}`); the cache export would overwrite the image. Use a dedicated tag such as `:{DEFAULT_CACHE_TAG}`", chosen.whole(), tag.whole()),
        );
        return None;
    }
    let pinned = chosen.tag().map(str::to_owned);
    Some((chosen, pinned))
}

impl Config {
    /// The full ref of a cache tag in the cache repository.
    pub fn cache_ref(&self, tag: &str) -> Reference {
        reference::with_tag(&self.cache_repository, tag)
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
            config.cache_ref("buildcache").whole(),
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
    fn secrets_are_id_equals_value_or_buildx_forms() {
        let config = validate(&raw(&[
            ("tags", "r/a:1"),
            (
                "secrets",
                "npm_token=a=b=c\nGIT.AUTH-1=x\nid=npm,src=/home/me/.npmrc\nid=gh,env=GH_TOKEN",
            ),
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
                ("npm_token", &SecretSource::Value("a=b=c".into())),
                ("GIT.AUTH-1", &SecretSource::Value("x".into())),
                ("npm", &SecretSource::File("/home/me/.npmrc".into())),
                ("gh", &SecretSource::Env("GH_TOKEN".into())),
            ]
        );
        for bad in ["=value", "my id=value", "id/x=value"] {
            let lines = errors(&[("tags", "r/a:1"), ("secrets", bad)]);
            assert_eq!(
                lines,
                [
                    "input `secrets`: each line must be `id=value`, `id=ID,src=PATH` or `id=ID,env=NAME`, with an id of letters, digits, `_`, `.` or `-`"
                ],
                "{bad}"
            );
        }
        assert_eq!(
            errors(&[("tags", "r/a:1"), ("secrets", "a=1\nid=a,src=/x")]),
            ["input `secrets`: the id `a` is given twice; each secret needs its own id"]
        );
    }

    #[test]
    fn secret_values_are_never_echoed() {
        let lines = errors(&[("tags", "r/a:1"), ("secrets", "no-equals-sign-hunter2")]);
        assert!(!lines[0].contains("hunter2"), "{lines:?}");
    }
}
