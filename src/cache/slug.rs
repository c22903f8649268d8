//! One slug function for every platform: turns a branch, PR key or scope into a part of a
//! Docker tag. Valid tag grammar (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, distribution/reference `regexp.go`), lowercase
//! so registry lifecycle rules match one spelling, and when cleaning changed the name or it had
//! to be cut, a short hash of the original name is appended, so `feature/a` and `feature-a`
//! never share a tag.

use sha2::{Digest, Sha256};

const HASH_LEN: usize = 8;

fn short_hash(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `name` is a branch name git accepts (`git check-ref-format --branch`'s rules, git
/// `refs.c` `check_refname_component`): no control characters, space, `~ ^ : ? * [ \`, no `..`
/// or `@{`, no component starting with `.` or ending `.lock`, no empty component, not `@`,
/// not starting with `-` or ending with `/` or `.`. A branch name read out of a commit message
/// is believed only when it passes.
pub fn is_branch_name(name: &str) -> bool {
    let forbidden = |c: char| c.is_ascii_control() || " ~^:?*[\\".contains(c);
    !name.is_empty()
        && name != "@"
        && !name.starts_with('-')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("@{")
        && !name.chars().any(forbidden)
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

/// At most `max` characters (`max` ≥ 9 leaves room for a hash). Never contains `--`, which
/// the tag scheme uses to separate the scope.
pub fn slug(name: &str, max: usize) -> String {
    slug_of(name, max, false)
}

/// A slug that always ends in the name's hash (for a name that must not read as another
/// kind of key, such as a branch called `pr-42`).
pub fn hashed(name: &str, max: usize) -> String {
    slug_of(name, max, true)
}

fn slug_of(name: &str, max: usize, always_hash: bool) -> String {
    assert!(max > HASH_LEN, "a slug needs room for its hash");
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
            cleaned.push(c);
        } else if !cleaned.ends_with('-') {
            // A run of other characters (and of `-`) becomes one `-`, as docker/metadata-action
            // does for the others.
            cleaned.push('-');
        }
    }
    let cleaned = cleaned.trim_start_matches(['.', '-']).trim_end_matches('-');
    if !always_hash && !cleaned.is_empty() && cleaned == name && cleaned.len() <= max {
        return cleaned.to_owned();
    }
    let keep = cleaned.len().min(max - HASH_LEN - 1);
    let stem = cleaned[..keep].trim_end_matches(['.', '-']);
    if stem.is_empty() {
        short_hash(name)
    } else {
        format!("{stem}-{}", short_hash(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_git_check_ref_format() {
        for good in ["main", "feature/a", "release-1.2", "a@b", "ünï", "fix#3"] {
            assert!(is_branch_name(good), "{good}");
        }
        for bad in [
            "",
            "@",
            "-x",
            "a..b",
            "a/.b",
            "a.lock",
            "a/b.lock/c",
            "a//b",
            "/a",
            "a/",
            "a.",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "a@{1}",
            "a\nb",
            "a\u{7f}",
        ] {
            assert!(!is_branch_name(bad), "{bad:?}");
        }
    }
    use proptest::prelude::*;
    use regex::Regex;

    #[test]
    fn examples() {
        // The README's example, pinned: the hash is the first 4 bytes of SHA-256 of the name.
        assert_eq!(slug("feature/a", 100), "feature-a-951d42dc");
        assert_eq!(slug("main", 100), "main");
        assert_eq!(slug("release-1.2", 100), "release-1.2");
        assert_eq!(slug("feature-a", 100), "feature-a");
        assert_eq!(slug("a--b", 100), "a-b-90827a2e");
        assert_eq!(hashed("pr-42", 100), "pr-42-f390bbc4");
        // Hashes written out (`printf %s NAME | sha256sum | cut -c1-8`), not recomputed here.
        assert_eq!(slug("Feature/ABC.1", 100), "feature-abc.1-44d9925b");
        assert_eq!(slug("..//--x", 100), "x-8d33230b");
        assert_eq!(slug("日本", 100), "cf2abf0c");
        let long = "a".repeat(300);
        assert_eq!(slug(&long, 40), format!("{}-9835fa6b", "a".repeat(31)));
    }

    proptest! {
        #[test]
        fn always_a_valid_tag_part(name in "\\PC{0,300}", max in 9usize..=128) {
            let tag = Regex::new(r"^[a-z0-9_][a-z0-9_.-]*$").unwrap();
            for s in [slug(&name, max), hashed(&name, max)] {
                prop_assert!(s.len() <= max, "{} longer than {}", s, max);
                prop_assert!(tag.is_match(&s), "{:?} -> {:?}", name, s);
                prop_assert!(!s.contains("--"), "{:?} -> {:?}", name, s);
            }
        }

        #[test]
        fn injective(a in "[a-zA-Z0-9/._ -]{1,40}", b in "[a-zA-Z0-9/._ -]{1,40}") {
            if a != b {
                prop_assert_ne!(slug(&a, 60), slug(&b, 60), "{:?} and {:?}", a, b);
            }
        }
    }
}
