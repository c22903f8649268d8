//! The ref policy: which cache tags a build reads (in order) and which one it writes, for
//! every CI event. Pure: the event comes from the platform adapters, the tags go to the plan.
//!
//! Table (branch policy); a chain is at most 4 refs, and only those that exist are read:
//! | event | reads | writes |
//! |---|---|---|
//! | push to the default branch | default | default |
//! | push that merges request N (head h) | branch, pr-N, h, default | branch |
//! | push to another branch | branch, default | branch |
//! | pull/merge request N from head h | pr-N, h, base, default | pr-N (nothing from forks or pull_request_target) |
//! | request from a fork | pr-N, base, default (never a tag named after the fork's branch) | nothing |
//! | merge queue of requests N… | pr-N…, target branch, default | nothing |
//! | tag | default | nothing |
//! | no CI event (a shell) | the prefix tag alone | the prefix tag |
//!
//! The head branch holds exactly a request's content minutes before its first build, and the
//! merged request's cache holds exactly what a merge push builds: measured on the bench's trace,
//! they are where the base-and-default chain lost most reuse.

use super::settings::{PolicyKind, PolicySettings};
use super::tags::{Key, RequestKind, request_key, tag};

/// What triggered the build, in platform-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Push {
        branch: String,
        /// The request this push merged (a merge commit or a squash merge), when known.
        merged: Option<Merged>,
    },
    Tag {
        tag: String,
    },
    Request {
        kind: RequestKind,
        number: u64,
        base: String,
        /// The head branch when it is this repository's (never a fork's: a fork may name its
        /// branch anything, `main` included).
        head: Option<String>,
        /// From a fork, or run with the base's write token on untrusted code
        /// (`pull_request_target`): never writes.
        untrusted: bool,
    },
    MergeQueue {
        /// A pull request on GitHub (merge queue), a merge request on GitLab (merge train).
        kind: RequestKind,
        base: String,
        /// The requests in the queued group (`gh-readonly-queue/<base>/pr-<N>-<sha>`, the
        /// merge train's request).
        requests: Vec<u64>,
    },
    /// No CI event: a local run.
    Local,
}

/// A request merged by a push: its number and, when it is this repository's, its head branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub kind: RequestKind,
    pub number: u64,
    pub head: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiEvent {
    pub trigger: Trigger,
    pub default_branch: Option<String>,
    /// Why this build must not write any cache, whatever the trigger: a token known to be
    /// read-only (Dependabot's), an event that is no build of trusted pushed code, or facts
    /// that could not be read.
    pub read_only: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub read: Vec<String>,
    /// Why each tag of `read` is in the chain, in the same order (`pr-42: this pull request`).
    pub why: Vec<String>,
    pub write: Option<String>,
    /// Why the write is what it is, for the log.
    pub reason: String,
}

impl Decision {
    /// Nothing read or written, for `reason`.
    pub fn nothing(reason: &str) -> Self {
        Decision {
            read: Vec::new(),
            why: Vec::new(),
            write: None,
            reason: reason.into(),
        }
    }
}

/// The longest read chain: each extra existing ref costs a probe and BuildKit's manifest and
/// config fetch, and past the fourth the bench's trace found nothing more to reuse.
pub const MAX_CHAIN: usize = 4;

/// The read chain as it is built: tags with why each is there, duplicates dropped (the first
/// reason wins), at most `MAX_CHAIN`.
#[derive(Default)]
struct Chain {
    read: Vec<String>,
    why: Vec<String>,
}

impl Chain {
    fn add(&mut self, tag: String, why: String) {
        if !self.read.contains(&tag) && self.read.len() < MAX_CHAIN {
            self.read.push(tag);
            self.why.push(why);
        }
    }
}

fn may_write_branch(settings: &PolicySettings, branch: &str) -> bool {
    settings.writable_branches.as_ref().is_none_or(|list| {
        list.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => branch.starts_with(prefix),
            None => pattern == branch,
        })
    })
}

/// The tag to write and, when it is a branch's, that branch (for writable-branches).
type WriteTarget<'a> = Option<(String, Option<&'a str>)>;

/// The read chain of one event as it is built, with the settings' tags at hand.
struct Reads<'a> {
    settings: &'a PolicySettings,
    default: Option<&'a str>,
    chain: Chain,
}

impl<'a> Reads<'a> {
    fn branch_tag(&self, branch: &str) -> String {
        tag(self.settings, Key::Branch(branch))
    }

    fn request_tag(&self, kind: RequestKind, number: u64) -> String {
        tag(self.settings, Key::Request { kind, number })
    }

    fn add_branch(&mut self, branch: &str, why: String) {
        let tag = self.branch_tag(branch);
        self.chain.add(tag, why);
    }

    fn add_default(&mut self) {
        if let Some(d) = self.default {
            self.add_branch(d, format!("{d}: the default branch"));
        }
    }

    /// The chain of `trigger`, and what it writes and why (before the settings restrict it).
    fn of(&mut self, trigger: &'a Trigger) -> (WriteTarget<'a>, String) {
        if let Some(pinned) = &self.settings.pinned_tag {
            self.chain
                .add(pinned.clone(), format!("{pinned}: cache-ref pins it"));
            return (
                Some((pinned.clone(), None)),
                "cache-ref pins one tag".into(),
            );
        }
        if self.settings.kind == PolicyKind::Shared || *trigger == Trigger::Local {
            let shared = tag(self.settings, Key::Shared);
            let why = if *trigger == Trigger::Local {
                "no CI event: one shared tag"
            } else {
                "cache-policy is shared"
            };
            self.chain
                .add(shared.clone(), format!("{shared}: the shared tag"));
            return (Some((shared, None)), why.into());
        }
        match trigger {
            Trigger::Push { branch, merged } => self.push(branch, merged.as_ref()),
            Trigger::Request {
                kind,
                number,
                base,
                head,
                untrusted,
            } => self.request(
                *kind,
                *number,
                base,
                head.as_deref().filter(|_| !untrusted),
                *untrusted,
            ),
            Trigger::MergeQueue {
                kind,
                base,
                requests,
            } => {
                for number in requests {
                    let key = request_key(*kind, *number);
                    let tag = self.request_tag(*kind, *number);
                    self.chain
                        .add(tag, format!("{key}: a request in the merge queue"));
                }
                self.add_branch(base, format!("{base}: the queue's target branch"));
                self.add_default();
                (None, format!("merge queue into {base}: read-only"))
            }
            Trigger::Tag { tag: name } => {
                self.add_default();
                (
                    None,
                    format!("tag {name}: reads the default branch, writes nothing"),
                )
            }
            Trigger::Local => unreachable!("handled above"),
        }
    }

    /// A push: its branch, the request it merged and that request's head, the default.
    fn push(&mut self, branch: &'a str, merged: Option<&Merged>) -> (WriteTarget<'a>, String) {
        self.add_branch(branch, format!("{branch}: this branch"));
        if let Some(m) = merged {
            let key = request_key(m.kind, m.number);
            let tag = self.request_tag(m.kind, m.number);
            self.chain
                .add(tag, format!("{key}: the request this push merged"));
            if let Some(head) = &m.head {
                self.add_branch(head, format!("{head}: the merged request's head branch"));
            }
        }
        self.add_default();
        let why = match merged {
            Some(m) => format!("push to {branch} merging {}", request_key(m.kind, m.number)),
            None => format!("push to {branch}"),
        };
        (Some((self.branch_tag(branch), Some(branch))), why)
    }

    /// A request: its own tag, its head branch (when trusted), its base, the default.
    fn request(
        &mut self,
        kind: RequestKind,
        number: u64,
        base: &str,
        trusted_head: Option<&str>,
        untrusted: bool,
    ) -> (WriteTarget<'a>, String) {
        let key = request_key(kind, number);
        let own = self.request_tag(kind, number);
        self.chain.add(own.clone(), format!("{key}: this request"));
        if let Some(head) = trusted_head {
            self.add_branch(head, format!("{head}: its head branch"));
        }
        self.add_branch(base, format!("{base}: its base branch"));
        self.add_default();
        if untrusted {
            let why = format!(
                "{key} is from a fork or runs untrusted code with a write token: read-only"
            );
            (None, why)
        } else {
            (Some((own, None)), format!("{key} into {base}"))
        }
    }
}

/// Which tags a build of `event` reads (in order, with why) and which it writes.
pub fn decide(event: &CiEvent, settings: &PolicySettings) -> Decision {
    if settings.kind == PolicyKind::Off {
        return Decision {
            read: vec![],
            why: vec![],
            write: None,
            reason: "cache-policy is off".into(),
        };
    }
    let default = settings
        .default_branch
        .as_deref()
        .or(event.default_branch.as_deref());
    let mut reads = Reads {
        settings,
        default,
        chain: Chain::default(),
    };
    let (write, reason) = reads.of(&event.trigger);
    let Chain { read, why } = reads.chain;
    let (write, reason) = restrict(event, settings, write, reason);
    Decision {
        read,
        why,
        write: write.map(|(tag, _)| tag),
        reason,
    }
}

/// What the settings and the event take away from the write: read-only policies, untrusted
/// code, events that must not write, branches not in writable-branches.
fn restrict<'a>(
    event: &CiEvent,
    settings: &PolicySettings,
    write: WriteTarget<'a>,
    reason: String,
) -> (WriteTarget<'a>, String) {
    let untrusted = matches!(
        event.trigger,
        Trigger::Request {
            untrusted: true,
            ..
        }
    );
    if settings.kind == PolicyKind::ReadOnly {
        return (None, "cache-policy is read-only".into());
    }
    if untrusted && write.is_some() {
        let why = "a request from a fork, or untrusted code with a write token: read-only";
        return (None, why.into());
    }
    if let Some(why) = event.read_only.as_ref().filter(|_| write.is_some()) {
        return (None, format!("{why}: read-only"));
    }
    if let Some((_, Some(branch))) = &write {
        if !may_write_branch(settings, branch) {
            return (
                None,
                format!("{branch} is not in writable-branches: read-only"),
            );
        }
    }
    (write, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::settings::PolicyInputs;
    use crate::cache::slug::slug;
    use crate::cache::tags::{TagOwner, tag_owner};

    fn settings() -> PolicySettings {
        PolicySettings::default()
    }

    fn event(trigger: Trigger) -> CiEvent {
        CiEvent {
            trigger,
            default_branch: Some("main".into()),
            read_only: None,
        }
    }

    fn push(b: &str) -> Trigger {
        Trigger::Push {
            branch: b.into(),
            merged: None,
        }
    }

    fn pr(number: u64, base: &str, untrusted: bool) -> Trigger {
        Trigger::Request {
            kind: RequestKind::Pull,
            number,
            base: base.into(),
            head: None,
            untrusted,
        }
    }

    #[test]
    fn policy_names_parse_and_print_back() {
        for (name, kind) in [
            ("branch", PolicyKind::Branch),
            ("shared", PolicyKind::Shared),
            ("read-only", PolicyKind::ReadOnly),
            ("off", PolicyKind::Off),
        ] {
            assert_eq!(name.parse::<PolicyKind>(), Ok(kind));
            assert_eq!(kind.to_string(), name);
        }
        let err = "Branch".parse::<PolicyKind>().unwrap_err();
        assert_eq!(err.accepted, "branch, shared, read-only, off");
    }

    #[test]
    fn tags_read_back_to_their_owner() {
        let mut s = settings();
        assert_eq!(tag_owner(&s, "buildcache"), Some(TagOwner::Shared));
        assert_eq!(
            tag_owner(&s, "buildcache-pr-42"),
            Some(TagOwner::Request {
                kind: RequestKind::Pull,
                number: 42
            })
        );
        assert_eq!(
            tag_owner(&s, "buildcache-feature-a-951d42dc"),
            Some(TagOwner::Branch {
                slug: "feature-a-951d42dc".into()
            })
        );
        assert_eq!(tag_owner(&s, "othercache-main"), None);
        assert_eq!(tag_owner(&s, "buildcache-"), None);
        s.scope = vec!["api".into(), String::new(), "linux/arm64".into()];
        let scoped = tag(&s, Key::Branch("main"));
        assert_eq!(scoped, "buildcache-main--api-linux-arm64-d3362bbd");
        assert_eq!(
            tag_owner(&s, &scoped),
            Some(TagOwner::Branch {
                slug: "main".into()
            })
        );
        assert_eq!(tag_owner(&s, "buildcache-main"), None, "another scope");
    }

    #[test]
    fn a_branch_named_like_a_request_or_a_scope_gets_its_own_tag() {
        let s = settings();
        let request = tag(
            &s,
            Key::Request {
                kind: RequestKind::Pull,
                number: 42,
            },
        );
        let branch = tag(&s, Key::Branch("pr-42"));
        assert_eq!(request, "buildcache-pr-42");
        assert_eq!(branch, "buildcache-pr-42-f390bbc4");
        assert_eq!(
            tag_owner(&s, &branch),
            Some(TagOwner::Branch {
                slug: "pr-42-f390bbc4".into()
            })
        );
        let scoped = PolicySettings {
            scope: vec!["api".into(), String::new(), String::new()],
            ..settings()
        };
        assert_ne!(
            tag(&s, Key::Branch("main-api")),
            tag(&scoped, Key::Branch("main"))
        );
    }

    mod namespaces {
        use proptest::prelude::*;

        use super::super::*;
        use crate::cache::tags::{TagOwner, tag_owner};

        /// A key and a scope as the inputs give them: branch names of any shape (slashes,
        /// `pr-N`, `--`), request numbers, and cache-scope / target / platform.
        fn owner() -> impl Strategy<Value = (u8, String, u64, Vec<String>)> {
            let part = "[a-z0-9/._-]{0,10}";
            (
                0u8..3,
                "(pr-|mr-)?[a-zA-Z0-9/._-]{1,30}",
                0u64..200,
                prop_oneof![
                    Just(Vec::new()),
                    (part, part, part).prop_map(|(a, b, c)| vec![a, b, c])
                ],
            )
        }

        fn key(kind: u8, branch: &str, number: u64) -> Key<'_> {
            match kind {
                0 => Key::Shared,
                1 => Key::Branch(branch),
                _ => Key::Request {
                    kind: RequestKind::Pull,
                    number,
                },
            }
        }

        proptest! {
            /// Two different owners never share a tag, and every tag reads back to its owner.
            #[test]
            fn disjoint_and_readable(a in owner(), b in owner()) {
                let settings = |scope: &Vec<String>| PolicySettings { scope: scope.clone(), ..PolicySettings::default() };
                let (sa, sb) = (settings(&a.3), settings(&b.3));
                let (ka, kb) = (key(a.0, &a.1, a.2), key(b.0, &b.1, b.2));
                let (ta, tb) = (tag(&sa, ka), tag(&sb, kb));
                let same_owner = ka == kb && a.3 == b.3;
                prop_assert_eq!(ta == tb, same_owner, "{} / {}", ta, tb);
                let owner = tag_owner(&sa, &ta);
                match ka {
                    Key::Shared => prop_assert_eq!(owner, Some(TagOwner::Shared)),
                    Key::Request { number, .. } => prop_assert_eq!(owner, Some(TagOwner::Request { kind: RequestKind::Pull, number })),
                    Key::Branch(_) => prop_assert!(matches!(owner, Some(TagOwner::Branch { .. })), "{:?}", owner),
                }
            }
        }
    }

    #[test]
    fn inputs_override_the_policy_file_which_overrides_defaults() {
        let file = crate::cache::policy_file::parse(
            "policy: read-only\nprefix: cache\nscope: api\ndefault-branch: develop\n",
            "f",
        )
        .unwrap();
        let mut inputs = PolicyInputs {
            kind: None,
            prefix: Some("team-cache".into()),
            scope: None,
            file: ".github/regcache.yml".into(),
            file_required: false,
        };
        let platforms = ["linux/arm64".to_owned()];
        let s =
            crate::cache::settings::settings(&inputs, Some(&file), Some("app"), &platforms, None);
        assert_eq!(
            (s.kind, s.prefix.as_str(), s.default_branch.as_deref()),
            (PolicyKind::ReadOnly, "team-cache", Some("develop"))
        );
        assert_eq!(s.scope, ["api", "app", "linux/arm64"]);
        // Two platforms share one build and one tag: no platform in the scope.
        let two = ["linux/amd64".to_owned(), "linux/arm64".to_owned()];
        inputs.kind = Some(PolicyKind::Shared);
        let s = crate::cache::settings::settings(&inputs, None, None, &two, Some("pinned"));
        assert_eq!((s.kind, s.scope.len()), (PolicyKind::Shared, 0));
        assert_eq!(s.pinned_tag.as_deref(), Some("pinned"));
        let s = crate::cache::settings::settings(&inputs, None, Some("app"), &[], None);
        assert_eq!(s.scope, ["", "app", ""], "by position");
        inputs.prefix = None;
        assert_eq!(
            crate::cache::settings::settings(&inputs, None, None, &[], None).prefix,
            "buildcache"
        );
    }

    #[test]
    fn one_shared_tag_says_why() {
        let local = decide(&event(Trigger::Local), &settings());
        assert_eq!(local.reason, "no CI event: one shared tag");
        let shared = PolicySettings {
            kind: PolicyKind::Shared,
            ..settings()
        };
        let d = decide(&event(push("feature")), &shared);
        assert_eq!(
            (d.read, d.write.as_deref()),
            (strings(&["buildcache"]), Some("buildcache"))
        );
        assert_eq!(d.reason, "cache-policy is shared");
    }

    fn decided(trigger: Trigger, s: &PolicySettings) -> (Vec<String>, Option<String>) {
        let d = decide(&event(trigger), s);
        (d.read, d.write)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_event_table() {
        let s = settings();
        let fx = format!("buildcache-{}", slug("feature/x", 117));
        let cases: Vec<(Trigger, Vec<String>, Option<String>)> = vec![
            (
                push("main"),
                strings(&["buildcache-main"]),
                Some("buildcache-main".into()),
            ),
            (
                push("feature/x"),
                vec![fx.clone(), "buildcache-main".into()],
                Some(fx.clone()),
            ),
            (
                pr(42, "develop", false),
                strings(&["buildcache-pr-42", "buildcache-develop", "buildcache-main"]),
                Some("buildcache-pr-42".into()),
            ),
            (
                pr(42, "main", false),
                strings(&["buildcache-pr-42", "buildcache-main"]),
                Some("buildcache-pr-42".into()),
            ),
            (
                pr(7, "main", true),
                strings(&["buildcache-pr-7", "buildcache-main"]),
                None,
            ),
            (
                Trigger::MergeQueue {
                    kind: RequestKind::Pull,
                    base: "main".into(),
                    requests: vec![],
                },
                strings(&["buildcache-main"]),
                None,
            ),
            (
                Trigger::MergeQueue {
                    kind: RequestKind::Pull,
                    base: "release".into(),
                    requests: vec![],
                },
                strings(&["buildcache-release", "buildcache-main"]),
                None,
            ),
            (
                Trigger::Tag { tag: "v1.0".into() },
                strings(&["buildcache-main"]),
                None,
            ),
            (
                Trigger::Local,
                strings(&["buildcache"]),
                Some("buildcache".into()),
            ),
        ];
        for (trigger, read, write) in cases {
            assert_eq!(decided(trigger.clone(), &s), (read, write), "{trigger:?}");
        }
    }

    #[test]
    fn chains_read_head_branches_merged_requests_and_queued_requests() {
        let s = settings();
        let same_repo = Trigger::Request {
            kind: RequestKind::Pull,
            number: 42,
            base: "develop".into(),
            head: Some("tax-rounding".into()),
            untrusted: false,
        };
        let d = decide(&event(same_repo), &s);
        assert_eq!(
            d.read,
            strings(&[
                "buildcache-pr-42",
                "buildcache-tax-rounding",
                "buildcache-develop",
                "buildcache-main"
            ])
        );
        assert_eq!(d.why[1], "tax-rounding: its head branch");
        assert_eq!(d.write.as_deref(), Some("buildcache-pr-42"));

        // An untrusted request never reads a tag named after its head, even when given one.
        let untrusted = Trigger::Request {
            kind: RequestKind::Pull,
            number: 7,
            base: "main".into(),
            head: Some("main-but-a-fork".into()),
            untrusted: true,
        };
        assert_eq!(
            decided(untrusted, &s),
            (strings(&["buildcache-pr-7", "buildcache-main"]), None)
        );

        let merged = Trigger::Push {
            branch: "main".into(),
            merged: Some(Merged {
                kind: RequestKind::Pull,
                number: 42,
                head: Some("tax-rounding".into()),
            }),
        };
        let d = decide(&event(merged), &s);
        assert_eq!(
            d.read,
            strings(&[
                "buildcache-main",
                "buildcache-pr-42",
                "buildcache-tax-rounding"
            ])
        );
        assert_eq!(d.reason, "push to main merging pr-42");
        assert_eq!(d.write.as_deref(), Some("buildcache-main"));

        // Into another branch: the chain ends with the default and is never longer than 4.
        let into_release = Trigger::Push {
            branch: "release".into(),
            merged: Some(Merged {
                kind: RequestKind::Pull,
                number: 9,
                head: Some("fix".into()),
            }),
        };
        assert_eq!(
            decided(into_release, &s).0,
            strings(&[
                "buildcache-release",
                "buildcache-pr-9",
                "buildcache-fix",
                "buildcache-main"
            ])
        );
        let queue = Trigger::MergeQueue {
            kind: RequestKind::Pull,
            base: "release".into(),
            requests: vec![5, 6, 7],
        };
        let (read, write) = decided(queue, &s);
        assert_eq!(
            read,
            strings(&[
                "buildcache-pr-5",
                "buildcache-pr-6",
                "buildcache-pr-7",
                "buildcache-release"
            ]),
            "capped at {MAX_CHAIN}"
        );
        assert_eq!(write, None);
    }

    #[test]
    fn policies_other_than_branch() {
        let shared = PolicySettings {
            kind: PolicyKind::Shared,
            ..settings()
        };
        assert_eq!(
            decided(pr(1, "main", false), &shared),
            (strings(&["buildcache"]), Some("buildcache".into()))
        );
        assert_eq!(
            decided(pr(1, "main", true), &shared).1,
            None,
            "forks never write, whatever the policy"
        );
        let read_only = PolicySettings {
            kind: PolicyKind::ReadOnly,
            ..settings()
        };
        assert_eq!(
            decided(push("main"), &read_only),
            (strings(&["buildcache-main"]), None)
        );
        let off = PolicySettings {
            kind: PolicyKind::Off,
            ..settings()
        };
        assert_eq!(decided(push("main"), &off), (vec![], None));
    }

    #[test]
    fn read_only_tokens_and_writable_branches() {
        let mut e = event(push("main"));
        e.read_only = Some("the token cannot write packages (Dependabot)".into());
        let d = decide(&e, &settings());
        assert_eq!(d.write, None);
        assert_eq!(
            d.reason,
            "the token cannot write packages (Dependabot): read-only"
        );
        let s = PolicySettings {
            writable_branches: Some(strings(&["main", "release/*"])),
            ..settings()
        };
        assert_eq!(decided(push("main"), &s).1, Some("buildcache-main".into()));
        assert!(decided(push("release/1.2"), &s).1.is_some());
        assert_eq!(decided(push("feature/x"), &s).1, None);
        assert_eq!(
            decided(pr(3, "main", false), &s).1,
            Some("buildcache-pr-3".into()),
            "requests write their own key"
        );
    }

    #[test]
    fn scopes_and_overrides() {
        let s = PolicySettings {
            scope: strings(&["api", "linux/arm64"]),
            default_branch: Some("develop".into()),
            ..settings()
        };
        let (read, write) = decided(push("feature-y"), &s);
        // `printf 'api\0linux/arm64' | sha256sum | cut -c1-8`
        let scope = "-api-linux-arm64-9a77b3ea";
        assert_eq!(
            read,
            vec![
                format!("buildcache-feature-y-{scope}"),
                format!("buildcache-develop-{scope}")
            ]
        );
        assert_eq!(write, Some(format!("buildcache-feature-y-{scope}")));
        let pinned = PolicySettings {
            pinned_tag: Some("cache-main".into()),
            ..settings()
        };
        assert_eq!(
            decided(pr(5, "main", true), &pinned),
            (strings(&["cache-main"]), None)
        );
    }

    #[test]
    fn tags_fit_128_characters() {
        let long = "x".repeat(300);
        let s = PolicySettings {
            scope: vec!["y".repeat(100)],
            ..settings()
        };
        for t in decided(push(&long), &s).0 {
            assert!(t.len() <= 128, "{t}");
        }
    }
}
