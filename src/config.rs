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
    pub value: String,
}

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

    let mut secrets = Vec::new();
    for line in raw.list("secrets") {
        match line.split_once('=') {
            Some((id, value))
                if !id.is_empty()
                    && id
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch)) =>
            {
                secrets.push(Secret {
                    id: id.to_owned(),
                    value: value.to_owned(),
                })
            }
            // The value is a secret: never echo it.
            _ => c.fail(
                "secrets",
                "each line must be `id=value` with an id of letters, digits, `_`, `.` or `-`",
            ),
        }
    }

    let extra_args = match shlex::split(raw.get("buildx-args")) {
        Some(words) => words,
        None => {
            c.fail(
                "buildx-args",
                "unbalanced quotes; quote arguments as in a shell",
            );
            Vec::new()
        }
    };

    let build = BuildOptions {
        context: raw.get("context").to_owned(),
        file: c.optional("file"),
        push: c.flag("push"),
        load: c.flag("load"),
        target: c.optional("target"),
        build_args: c.list("build-args"),
        labels: c.list("labels"),
        platforms: c.list("platforms"),
        network: c.optional("network"),
        builder: c.optional("builder"),
        no_cache: c.flag("no-cache"),
        pull: c.flag("pull"),
        secrets,
        outputs: c.list("outputs"),
        provenance: c.optional("provenance"),
        extra_args,
        tags,
    };
    let extra_cache_from = c.entries("cache-from");
    let extra_cache_to = c.entries("cache-to");

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
    fn secrets_are_id_equals_value() {
        let config = validate(&raw(&[
            ("tags", "r/a:1"),
            ("secrets", "npm_token=a=b=c\nGIT.AUTH-1=x"),
        ]))
        .unwrap();
        let secrets: Vec<(&str, &str)> = config
            .build
            .secrets
            .iter()
            .map(|s| (s.id.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(secrets, [("npm_token", "a=b=c"), ("GIT.AUTH-1", "x")]);
        for bad in ["=value", "my id=value", "id/x=value"] {
            let lines = errors(&[("tags", "r/a:1"), ("secrets", bad)]);
            assert_eq!(
                lines,
                [
                    "input `secrets`: each line must be `id=value` with an id of letters, digits, `_`, `.` or `-`"
                ],
                "{bad}"
            );
        }
    }

    #[test]
    fn secret_values_are_never_echoed() {
        let lines = errors(&[("tags", "r/a:1"), ("secrets", "no-equals-sign-hunter2")]);
        assert!(!lines[0].contains("hunter2"), "{lines:?}");
    }
}
