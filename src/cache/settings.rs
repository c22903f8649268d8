//! The cache settings of a repository: which policy, the tag prefix and scope, from the
//! inputs that were given and the policy file (`policy_file`) for the rest. Pure.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::policy_file::PolicyFile;
use crate::error::BadValue;
use crate::reference::DEFAULT_CACHE_TAG;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Branch,
    Shared,
    ReadOnly,
    Off,
}

impl FromStr for PolicyKind {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        match s {
            "branch" => Ok(PolicyKind::Branch),
            "shared" => Ok(PolicyKind::Shared),
            "read-only" => Ok(PolicyKind::ReadOnly),
            "off" => Ok(PolicyKind::Off),
            _ => Err(BadValue {
                value: s.to_owned(),
                accepted: "branch, shared, read-only, off".into(),
            }),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::Branch => "branch",
            PolicyKind::Shared => "shared",
            PolicyKind::ReadOnly => "read-only",
            PolicyKind::Off => "off",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    pub kind: PolicyKind,
    /// Every cache tag starts with it, so lifecycle rules and prune can match them.
    pub prefix: String,
    /// Where the build sits among the repository's builds, by position: cache-scope, target,
    /// single platform (empty where not given); empty when none is given.
    pub scope: Vec<String>,
    /// Overrides what the event says (policy file or input).
    pub default_branch: Option<String>,
    /// When set, only these branches write their cache (`*` at the end matches a prefix).
    pub writable_branches: Option<Vec<String>>,
    /// A cache-ref given with an explicit tag pins that one tag.
    pub pinned_tag: Option<String>,
}

/// The branch policy with the default prefix and nothing else set.
impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            kind: PolicyKind::Branch,
            prefix: DEFAULT_CACHE_TAG.to_owned(),
            scope: Vec::new(),
            default_branch: None,
            writable_branches: None,
            pinned_tag: None,
        }
    }
}

/// The settings of one build: inputs written in the workflow first, then the policy file,
/// then the defaults. The scope also takes the build's target and a single platform, so
/// builds of different stages or matrix legs never share a tag.
pub fn settings(
    inputs: &PolicyInputs,
    file: Option<&PolicyFile>,
    target: Option<&str>,
    platforms: &[String],
    pinned_tag: Option<&str>,
) -> PolicySettings {
    let file = file.cloned().unwrap_or_default();
    let platform = match platforms {
        [platform] => Some(platform.clone()),
        _ => None,
    };
    let positions = [
        inputs.scope.clone().or(file.scope),
        target.map(str::to_owned),
        platform,
    ];
    let scope = if positions.iter().all(Option::is_none) {
        Vec::new()
    } else {
        positions
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    };
    let defaults = PolicySettings::default();
    PolicySettings {
        kind: inputs
            .kind
            .or(file.policy.map(|p| p.0))
            .unwrap_or(defaults.kind),
        prefix: inputs
            .prefix
            .clone()
            .or(file.prefix.map(|p| p.0))
            .unwrap_or(defaults.prefix),
        scope,
        default_branch: file.default_branch,
        writable_branches: file.writable_branches,
        pinned_tag: pinned_tag.map(str::to_owned),
    }
}
