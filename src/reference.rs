//! Image references: parsing with distribution's grammar (`oci_spec`'s `Reference`), plus
//! the checks it leaves out: an explicit tag, and lowercase repository paths.

use oci_client::Reference;
use thiserror::Error;

/// The tag a cache gets when only a repository is known.
pub const DEFAULT_CACHE_TAG: &str = "buildcache";

#[derive(Debug, Error, PartialEq)]
pub enum RefError {
    #[error(
        "the repository path `{0}` has uppercase letters; registries accept only lowercase (write `{1}`)"
    )]
    Uppercase(String, String),
    #[error("`{0}` is not a valid image reference ({1}); expected [registry/]repository[:tag]")]
    Invalid(String, String),
    #[error("`{0}` has a digest; a cache ref must be a tag it can move")]
    Digest(String),
}

/// Repository part of `ref` (no tag, no digest), and whether a tag was written.
fn split_name(text: &str) -> (&str, bool) {
    let name = text.split('@').next().unwrap_or(text);
    match name.rfind(':') {
        Some(colon) if colon > name.rfind('/').unwrap_or(0) => (&name[..colon], true),
        _ => (name, false),
    }
}

pub fn has_tag(text: &str) -> bool {
    split_name(text).1
}

pub fn parse(text: &str) -> Result<Reference, RefError> {
    let (name, _) = split_name(text);
    // distribution: the first component is a registry host when it has `.` or `:` or is localhost.
    let path = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => name,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(RefError::Uppercase(
            path.to_owned(),
            text.replacen(path, &path.to_lowercase(), 1),
        ));
    }
    Reference::try_from(text).map_err(|e| RefError::Invalid(text.to_owned(), e.to_string()))
}

/// A ref that a cache can be written to: valid, lowercase, tagged (the default cache tag when
/// none was written), without digest.
pub fn parse_cache_ref(text: &str) -> Result<Reference, RefError> {
    let reference = parse(text)?;
    if reference.digest().is_some() {
        return Err(RefError::Digest(text.to_owned()));
    }
    if has_tag(text) {
        Ok(reference)
    } else {
        Ok(with_tag(&reference, DEFAULT_CACHE_TAG))
    }
}

pub fn with_tag(reference: &Reference, tag: &str) -> Reference {
    Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        tag.to_owned(),
    )
}

/// The same registry, repository and tag, however they were spelled (`fixture/app` and
/// `docker.io/fixture/app:latest` are one image).
pub fn same_tag(a: &Reference, b: &Reference) -> bool {
    a.registry() == b.registry() && a.repository() == b.repository() && a.tag() == b.tag()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_refs_get_the_default_tag_and_keep_their_registry() {
        let r = parse_cache_ref("127.0.0.1:5055/app").unwrap();
        assert_eq!(r.whole(), "127.0.0.1:5055/app:buildcache");
        assert_eq!(
            parse_cache_ref("ghcr.io/o/app:cache-main").unwrap().whole(),
            "ghcr.io/o/app:cache-main"
        );
    }

    #[test]
    fn rejects_uppercase_paths_but_not_hosts() {
        assert_eq!(
            parse("127.0.0.1:5055/Fixture/App:c").unwrap_err(),
            RefError::Uppercase("Fixture/App".into(), "127.0.0.1:5055/fixture/app:c".into())
        );
        assert!(parse("Registry.Example.com/app:x").is_ok());
        assert!(matches!(parse("Org/app"), Err(RefError::Uppercase(..))));
    }

    #[test]
    fn rejects_digests_and_garbage() {
        let digest = format!("r/app@sha256:{}", "a".repeat(64));
        assert!(matches!(parse_cache_ref(&digest), Err(RefError::Digest(_))));
        assert!(matches!(parse("r/app:bad tag"), Err(RefError::Invalid(..))));
    }

    #[test]
    fn same_tag_ignores_spelling() {
        assert!(same_tag(
            &parse("fixture/app").unwrap(),
            &parse("docker.io/fixture/app:latest").unwrap()
        ));
        assert!(!same_tag(
            &parse("fixture/app:a").unwrap(),
            &parse("fixture/app:b").unwrap()
        ));
    }
}
