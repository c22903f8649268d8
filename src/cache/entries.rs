//! The `--cache-from` / `--cache-to` grammar (buildx `util/buildflags/cache.go`, BuildKit
//! `cache/remotecache/registry`). Entries are built and parsed as CSV records of `key=value`
//! fields and always re-serialised before they reach buildx, so what was validated is exactly
//! what buildx reads: no value can add a field such as `type=local,dest=…`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::error::BadValue;

use crate::reference;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Uncompressed,
    Gzip,
    Estargz,
    Zstd,
}

fn bad(value: &str, accepted: impl Into<String>) -> BadValue {
    BadValue {
        value: value.to_owned(),
        accepted: accepted.into(),
    }
}

impl FromStr for Mode {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        match s {
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            _ => Err(bad(s, "min, max")),
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Min => "min",
            Mode::Max => "max",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        match s {
            "uncompressed" => Ok(Compression::Uncompressed),
            "gzip" => Ok(Compression::Gzip),
            "estargz" => Ok(Compression::Estargz),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(bad(s, "uncompressed, gzip, estargz, zstd")),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Uncompressed => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Estargz => "estargz",
            Compression::Zstd => "zstd",
        })
    }
}

impl Compression {
    /// The documented levels (docs.docker.com, "Cache storage backends": `compression-level`).
    /// BuildKit does not reliably reject others: gzip goes to Go's `gzip.NewWriterLevel` and
    /// zstd maps any level to four tiers (moby/buildkit `util/compression`), so check here.
    pub fn levels(self) -> Option<std::ops::RangeInclusive<u32>> {
        match self {
            Compression::Uncompressed => None,
            Compression::Gzip | Compression::Estargz => Some(0..=9),
            Compression::Zstd => Some(0..=22),
        }
    }

    pub fn needs_oci_mediatypes(self) -> bool {
        matches!(self, Compression::Zstd | Compression::Estargz)
    }
}

pub fn parse_level(compression: Compression, value: &str) -> Result<u32, BadValue> {
    let Some(range) = compression.levels() else {
        return Err(bad(
            value,
            "none: `uncompressed` takes no level (leave compression-level empty)",
        ));
    };
    let accepted = || format!("{}-{} for {compression}", range.start(), range.end());
    let level: u32 = value.parse().map_err(|_| bad(value, accepted()))?;
    if range.contains(&level) {
        Ok(level)
    } else {
        Err(bad(value, accepted()))
    }
}

/// Go's `strconv.ParseBool`, which BuildKit uses for entry attributes.
pub fn parse_go_bool(value: &str) -> Result<bool, BadValue> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(bad(value, "true, false")),
    }
}

/// The media types a cache is exported with: `oci-mediatypes` and `image-manifest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaTypes {
    pub oci: bool,
    pub image_manifest: bool,
}

/// Combinations BuildKit refuses at export time (`invalid configuration for remote cache`)
/// or silently mis-stores.
pub fn check_media_types(compression: Compression, media: MediaTypes) -> Result<(), String> {
    if media.oci {
        return Ok(());
    }
    if compression.needs_oci_mediatypes() {
        return Err(format!(
            "compression={compression} needs oci-mediatypes=true"
        ));
    }
    if media.image_manifest {
        return Err("image-manifest=true needs oci-mediatypes=true".to_owned());
    }
    Ok(())
}

/// Fields as one CSV line, quoted where a field needs it: how buildx reads `--cache-from`,
/// `--cache-to` and `--secret` values.
pub fn csv_line(fields: &[impl AsRef<[u8]>]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(fields).expect("writing to memory");
    let bytes = writer.into_inner().expect("writing to memory");
    String::from_utf8(bytes)
        .expect("fields are UTF-8")
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

/// The registry cache's settings, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryCacheOptions {
    pub mode: Mode,
    pub compression: Compression,
    pub compression_level: Option<u32>,
    pub force_compression: bool,
    pub oci_mediatypes: bool,
    pub image_manifest: bool,
    pub ignore_error: bool,
}

impl RegistryCacheOptions {
    pub fn media_types(&self) -> MediaTypes {
        MediaTypes {
            oci: self.oci_mediatypes,
            image_manifest: self.image_manifest,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum EntryError {
    #[error(
        "`{0}` has no `type=`; write `type=registry,ref=…` (or another backend: type=gha, type=local, …)"
    )]
    MissingType(String),
    #[error(
        "`{0}` would be read as the registry image docker.io/library/{0}; write `type={0}` for that backend"
    )]
    BackendNameAsRef(String),
    #[error("type `{0}` is unknown; accepted types: {TYPES}")]
    UnknownType(String),
    #[error(
        "key `{0}` is unknown for type=registry (BuildKit would ignore it silently); accepted keys: {REGISTRY_KEYS}"
    )]
    UnknownKey(String),
    #[error("field `{0}` is not `key=value`")]
    NotKeyValue(String),
    #[error("type=registry needs `ref=<image ref>`")]
    MissingRef,
    #[error("{key}: {problem}")]
    BadValue { key: String, problem: String },
    #[error("it contains {0}, which would break the CSV entry buildx reads")]
    Unsafe(&'static str),
    #[error("it is not one CSV record: {0}")]
    Csv(String),
}

const TYPES: &str = "registry, local, inline, gha, s3, azblob";
const REGISTRY_KEYS: &str = "type, ref, mode, oci-mediatypes, image-manifest, compression, compression-level, force-compression, ignore-error, registry.insecure";

/// One cache entry: ordered `key=value` fields, `type` first.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    fields: Vec<(String, String)>,
}

impl CacheEntry {
    pub fn registry_import(reference: &str) -> Self {
        Self {
            fields: vec![
                ("type".into(), "registry".into()),
                ("ref".into(), reference.into()),
            ],
        }
    }

    pub fn registry_export(reference: &str, options: &RegistryCacheOptions) -> Self {
        let mut entry = Self::registry_import(reference);
        let mut push = |k: &str, v: String| entry.fields.push((k.to_owned(), v));
        push("mode", options.mode.to_string());
        push("oci-mediatypes", options.oci_mediatypes.to_string());
        push("image-manifest", options.image_manifest.to_string());
        push("compression", options.compression.to_string());
        if let Some(level) = options.compression_level {
            push("compression-level", level.to_string());
        }
        if options.force_compression {
            push("force-compression", "true".into());
        }
        push("ignore-error", options.ignore_error.to_string());
        entry
    }

    /// What shapes the stored cache, as a build record keeps it: the export's fields without
    /// `type`, `ref` and `ignore-error` (`mode=max,oci-mediatypes=true,…`).
    pub fn stored_form(options: &RegistryCacheOptions) -> String {
        Self::registry_export("", options)
            .fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "type" | "ref" | "ignore-error"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        // The last duplicate wins, as in buildx.
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The flag value for buildx, quoted where CSV needs it.
    pub fn to_csv(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        csv_line(&fields)
    }

    /// Parse one `--cache-from`/`--cache-to` value with buildx's rules and validate it; a
    /// ref-only value (`r/a:x,r/b:y`) stands for one registry entry per field.
    pub fn parse(text: &str) -> Result<Vec<CacheEntry>, EntryError> {
        if text.contains(['\n', '\r']) {
            return Err(EntryError::Unsafe("a newline"));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut records = reader.records();
        let record = match records.next() {
            Some(Ok(record)) => record,
            Some(Err(e)) => return Err(EntryError::Csv(e.to_string())),
            None => return Err(EntryError::Csv("it is empty".into())),
        };
        let fields: Vec<&str> = record.iter().collect();
        if fields.iter().any(|f| f.contains('"')) {
            return Err(EntryError::Unsafe("a quote inside a value"));
        }
        if !text.contains('=') {
            return fields.iter().map(|f| Self::ref_only(f)).collect();
        }
        let mut entry = CacheEntry { fields: Vec::new() };
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| EntryError::NotKeyValue(field.to_owned()))?;
            entry.fields.push((key.to_lowercase(), value.to_owned()));
        }
        let backend = entry
            .get("type")
            .ok_or_else(|| EntryError::MissingType(text.to_owned()))?;
        if !TYPES.split(", ").any(|t| t == backend) {
            return Err(EntryError::UnknownType(backend.to_owned()));
        }
        if backend == "registry" {
            entry.validate_registry()?;
        }
        // Put `type` first, where buildx users expect to read it.
        entry.fields.sort_by_key(|(k, _)| k != "type");
        Ok(vec![entry])
    }

    fn ref_only(field: &str) -> Result<CacheEntry, EntryError> {
        let field = field.trim();
        if TYPES.split(", ").any(|t| t == field) {
            return Err(EntryError::BackendNameAsRef(field.to_owned()));
        }
        reference::parse(field).map_err(|e| EntryError::BadValue {
            key: "ref".into(),
            problem: e.to_string(),
        })?;
        Ok(Self::registry_import(field))
    }

    fn validate_registry(&self) -> Result<(), EntryError> {
        let value_error = |key: &str, e: BadValue| EntryError::BadValue {
            key: key.to_owned(),
            problem: e.to_string(),
        };
        for (key, value) in &self.fields {
            if !REGISTRY_KEYS.split(", ").any(|k| k == key) {
                return Err(EntryError::UnknownKey(key.clone()));
            }
            let problem = match key.as_str() {
                "mode" => value.parse::<Mode>().err().map(|e| e.to_string()),
                "compression" => value.parse::<Compression>().err().map(|e| e.to_string()),
                // An empty force-compression means true (BuildKit `util/compression/attrs.go`).
                "force-compression" if value.is_empty() => None,
                "oci-mediatypes" | "image-manifest" | "force-compression" | "ignore-error"
                | "registry.insecure" => parse_go_bool(value).err().map(|e| e.to_string()),
                "ref" => reference::parse(value).err().map(|e| e.to_string()),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(EntryError::BadValue {
                    key: key.clone(),
                    problem,
                });
            }
        }
        if self.get("ref").is_none_or(str::is_empty) {
            return Err(EntryError::MissingRef);
        }
        let compression: Compression = self
            .get("compression")
            .unwrap_or("gzip")
            .parse()
            .expect("checked above");
        if let Some(level) = self.get("compression-level") {
            parse_level(compression, level).map_err(|e| value_error("compression-level", e))?;
        }
        let flag = |key: &str, default: bool| {
            self.get(key)
                .map_or(default, |v| parse_go_bool(v).expect("checked above"))
        };
        let media = MediaTypes {
            oci: flag("oci-mediatypes", true),
            image_manifest: flag("image-manifest", false),
        };
        check_media_types(compression, media).map_err(|problem| EntryError::BadValue {
            key: "oci-mediatypes".into(),
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RegistryCacheOptions {
        RegistryCacheOptions {
            mode: Mode::Max,
            compression: Compression::Zstd,
            compression_level: Some(3),
            force_compression: true,
            oci_mediatypes: true,
            image_manifest: true,
            ignore_error: true,
        }
    }

    #[test]
    fn export_entry_has_every_option() {
        assert_eq!(
            CacheEntry::registry_export("r/app:buildcache", &options()).to_csv(),
            "type=registry,ref=r/app:buildcache,mode=max,oci-mediatypes=true,image-manifest=true,compression=zstd,compression-level=3,force-compression=true,ignore-error=true"
        );
    }

    #[test]
    fn parses_buildx_entries() {
        let entries = CacheEntry::parse("r/a:x,r/b:y").unwrap();
        assert_eq!(
            entries.iter().map(CacheEntry::to_csv).collect::<Vec<_>>(),
            ["type=registry,ref=r/a:x", "type=registry,ref=r/b:y"]
        );
        let entry = &CacheEntry::parse("ref=r/a:x,type=registry,MODE=max").unwrap()[0];
        assert_eq!(entry.to_csv(), "type=registry,ref=r/a:x,mode=max");
        assert_eq!(
            CacheEntry::parse("type=gha,scope=a=b").unwrap()[0].get("scope"),
            Some("a=b")
        );
    }

    #[test]
    fn rejects_what_buildkit_would_take_silently() {
        let err = |t: &str| CacheEntry::parse(t).unwrap_err().to_string();
        assert!(
            err("type=registry,ref=r/a:x,mode=maxx")
                .contains("mode: `maxx` is not accepted; accepted values: min, max")
        );
        assert!(err("type=registry,ref=r/a:x,mdoe=max").contains("key `mdoe` is unknown"));
        assert!(err("type=registry,ref=r/a:x, mode=max").contains("key ` mode` is unknown"));
        assert!(
            err("type=registry,ref=r/a:x,ignore-error=maybe").contains("ignore-error: `maybe`")
        );
        assert!(
            err("type=registry,ref=r/a:x,compression=zstd,compression-level=99")
                .contains("0-22 for zstd")
        );
        assert!(
            err("type=registry,ref=r/a:x,compression=zstd,oci-mediatypes=false")
                .contains("needs oci-mediatypes=true")
        );
        assert!(err("gha").contains("write `type=gha`"));
        assert!(err("ref=r/a:x,mode=max").contains("has no `type=`"));
        assert!(err("type=registry,mode=max").contains("needs `ref="));
        assert!(err("type=registryy,ref=r/a:x").contains("type `registryy` is unknown"));
        assert!(err("type=registry,ref=r/Fixture/App:x").contains("uppercase"));
        assert!(err("type=registry,ref=x:a\"b").contains("quote"));
        assert!(err("type=registry,ref=r/a:x\ntype=local,dest=/tmp/x").contains("newline"));
    }

    #[test]
    fn a_quoted_comma_stays_inside_its_value() {
        // The comma is inside one field, so it cannot start a `type=local` field.
        let err = CacheEntry::parse("type=registry,\"ref=r/a:x,type=local\"").unwrap_err();
        assert!(
            matches!(err, EntryError::BadValue { ref key, .. } if key == "ref"),
            "{err}"
        );
    }

    #[test]
    fn levels_follow_the_algorithm() {
        assert_eq!(parse_level(Compression::Gzip, "9"), Ok(9));
        assert!(parse_level(Compression::Gzip, "12").is_err());
        assert_eq!(parse_level(Compression::Zstd, "22"), Ok(22));
        assert!(parse_level(Compression::Uncompressed, "1").is_err());
        assert!(parse_level(Compression::Zstd, "-1").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::config::validate;
        use crate::inputs::RawInputs;

        proptest! {
            /// Whatever a user types as cache-ref, either validation refuses it or the entry
            /// buildx reads has exactly our fields, with the ref as given.
            #[test]
            fn no_cache_ref_can_inject_a_field(cache_ref in "[ -~\n\r]{0,60}") {
                let mut raw = RawInputs::default();
                raw.set("tags", "r/app:dev");
                raw.set("cache-ref", cache_ref.clone());
                if let Ok(config) = validate(&raw) {
                    let tag = config.pinned_tag.clone().unwrap_or_else(|| "buildcache".into());
                    let export = CacheEntry::registry_export(&config.cache_ref(&tag).unwrap().whole(), &config.cache).to_csv();
                    let parsed = CacheEntry::parse(&export).unwrap();
                    prop_assert_eq!(parsed.len(), 1);
                    let keys: Vec<&str> = parsed[0].fields.iter().map(|(k, _)| k.as_str()).collect();
                    prop_assert_eq!(keys, ["type", "ref", "mode", "oci-mediatypes", "image-manifest", "compression", "ignore-error"]);
                    prop_assert_eq!(parsed[0].get("type"), Some("registry"));
                }
            }

            /// Our CSV survives buildx's reading unchanged for any values, quotes and commas included.
            #[test]
            fn entries_round_trip_through_csv(values in proptest::collection::vec("[a-z0-9=,/:._-]{1,12}", 1..5)) {
                let fields: Vec<(String, String)> = std::iter::once(("type".to_owned(), "gha".to_owned()))
                    .chain(values.iter().enumerate().map(|(i, v)| (format!("k{i}"), v.clone())))
                    .collect();
                let entry = CacheEntry { fields };
                let parsed = CacheEntry::parse(&entry.to_csv()).unwrap();
                prop_assert_eq!(&parsed[0], &entry);
            }
        }
    }
}
