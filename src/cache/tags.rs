//! The tag scheme, both ways: the tag a branch, a request or the shared cache writes
//! (`tag`), and which of them a tag belongs to (`read_tag`), for prune. Pure.

use sha2::Digest as _;

use super::settings::PolicySettings;
use super::slug::slug;

const TAG_MAX: usize = 128;

/// Between the key and the scope: a slug never contains it, so `main` with scope `api` and a
/// branch `main-api` never share a tag.
const SCOPE_SEPARATOR: &str = "--";

/// The scope as it ends every tag. Its parts are joined by a character no input carries, so
/// `[api, x]` and `[api-x]` differ (slug then keeps a readable stem and adds the hash).
fn scope_part(settings: &PolicySettings) -> Option<String> {
    (!settings.scope.is_empty()).then(|| slug(&settings.scope.join("\0"), 40))
}

/// Every tag a build record is stored under ends so; a cache tag never does (`plan` refuses
/// one).
pub const RECORD_SUFFIX: &str = ".regcache";

/// The tag a cache tag's record is stored under: `<cache tag>.regcache`, or when that is
/// longer than a tag may be, the cache tag cut and a hash of it in full, so that two cache
/// tags never share a record.
pub fn record_tag(cache_tag: &str) -> String {
    if cache_tag.len() + RECORD_SUFFIX.len() <= TAG_MAX {
        return format!("{cache_tag}{RECORD_SUFFIX}");
    }
    let hash = format!("{:x}", sha2::Sha256::digest(cache_tag.as_bytes()));
    let keep = TAG_MAX - RECORD_SUFFIX.len() - 17;
    let mut cut = keep;
    while !cache_tag.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}{RECORD_SUFFIX}", &cache_tag[..cut], &hash[..16])
}

/// Whose cache a tag holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// One tag for every build (`cache-policy: shared`, builds outside CI).
    Shared,
    Branch(&'a str),
    Request {
        kind: RequestKind,
        number: u64,
    },
}

/// `<prefix>[-<key>][--<scope>]`, at most 128 characters: the key gives way first. The three
/// kinds of key never meet: a branch whose slug reads like a request's key (`pr-42`) keeps
/// its hash.
pub fn tag(settings: &PolicySettings, key: Key<'_>) -> String {
    let scope = scope_part(settings);
    let mut tag = settings.prefix.clone();
    match key {
        Key::Shared => {}
        Key::Request { kind, number } => tag = format!("{tag}-{}", request_key(kind, number)),
        Key::Branch(branch) => {
            let part = branch_key(branch, &settings.prefix, scope.as_deref());
            tag = format!("{tag}-{part}");
        }
    }
    if let Some(scope) = scope {
        tag = format!("{tag}{SCOPE_SEPARATOR}{scope}");
    }
    tag
}

/// A branch's key in a tag with this prefix and scope: its slug, in the room the two leave.
pub fn branch_key(branch: &str, prefix: &str, scope: Option<&str>) -> String {
    let scope_len = scope.map_or(0, |s| s.len() + SCOPE_SEPARATOR.len());
    let room = TAG_MAX.saturating_sub(prefix.len() + 1 + scope_len).max(9);
    let part = slug(branch, room);
    if parse_request_key(&part).is_some() {
        crate::cache::slug::hashed(branch, room)
    } else {
        part
    }
}

/// A pull request (GitHub) or a merge request (GitLab): the key of its cache tag and how a
/// person names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Pull,
    Merge,
}

impl RequestKind {
    const ALL: [RequestKind; 2] = [RequestKind::Pull, RequestKind::Merge];

    /// `pr` or `mr`: the tag key's prefix.
    pub fn key(self) -> &'static str {
        match self {
            RequestKind::Pull => "pr",
            RequestKind::Merge => "mr",
        }
    }

    /// `pull request #N` or `merge request !N`, as each platform writes it.
    pub fn name(self, number: u64) -> String {
        match self {
            RequestKind::Pull => format!("pull request #{number}"),
            RequestKind::Merge => format!("merge request !{number}"),
        }
    }
}

/// The key of a pull (or merge) request: `pr-N` on GitHub, `mr-N` on GitLab.
pub fn request_key(kind: RequestKind, number: u64) -> String {
    format!("{}-{number}", kind.key())
}

/// `pr-N` / `mr-N` read back (any digits: a branch slug of that shape is reserved).
fn parse_request_key(key: &str) -> Option<(RequestKind, u64)> {
    RequestKind::ALL.into_iter().find_map(|kind| {
        let digits = key.strip_prefix(kind.key())?.strip_prefix('-')?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((kind, digits.parse().ok()?))
    })
}

/// What a cache tag belongs to, read back from the tag: the inverse of `tag` under the same
/// settings, so registry care can tell a pull request's cache from a branch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOwner {
    /// The tag with no key (`cache-policy: shared`, builds outside CI).
    Shared,
    Request {
        kind: RequestKind,
        number: u64,
    },
    /// A branch, by its slug (`slug(branch)`; compare with `tag` of a known branch).
    Branch {
        slug: String,
    },
}

/// The owner of `tag` under `settings`, or None when the tag is not one of theirs (another
/// prefix or scope): what the tests hold `tag` against (prune reads every scope, `read_tag`).
#[cfg(test)]
pub fn tag_owner(settings: &PolicySettings, tag: &str) -> Option<TagOwner> {
    let (owner, scope) = read_tag(&settings.prefix, tag)?;
    (scope == scope_part(settings).as_deref()).then_some(owner)
}

/// The owner and scope of any tag with this prefix, whatever its scope: what registry care
/// reads, as it looks after every build's tags at once.
pub fn read_tag<'t>(prefix: &str, tag: &'t str) -> Option<(TagOwner, Option<&'t str>)> {
    let rest = tag.strip_prefix(prefix)?;
    let (rest, scope) = match rest.split_once(SCOPE_SEPARATOR) {
        Some((rest, scope)) => (rest, Some(scope)),
        None => (rest, None),
    };
    if rest.is_empty() {
        return Some((TagOwner::Shared, scope));
    }
    let key = rest.strip_prefix('-').filter(|k| !k.is_empty())?;
    let owner = match parse_request_key(key) {
        Some((kind, number)) => TagOwner::Request { kind, number },
        None => TagOwner::Branch {
            slug: key.to_owned(),
        },
    };
    Some((owner, scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_tags_end_in_the_suffix_and_never_meet() {
        assert_eq!(record_tag("cache-main"), "cache-main.regcache");
        let long_a = format!("{}a", "x".repeat(127));
        let long_b = format!("{}b", "x".repeat(127));
        let (a, b) = (record_tag(&long_a), record_tag(&long_b));
        assert!(a.len() <= 128 && a.ends_with(RECORD_SUFFIX), "{a}");
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
    }
}
