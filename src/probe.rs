//! The probe stage: which refs of the decided read chain exist. `select` is the pure decision
//! over what the registry answered (refs to pass, warnings to show); `run` is the thin wrapper
//! that asks the registry. Only existing refs reach the engine, so its log has no red "not
//! found" errors, and an unreachable registry means a cold build with a warning.

use crate::error::Error;
use crate::plan::CacheRefs;
use crate::registry::{CacheLayout, Probe, Registry};

/// One ref of the read chain, with what the probe found (None: not probed).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub reference: String,
    pub probe: Option<Probe>,
    /// Why the policy put it in the chain (`pr-42: this request`); empty when it did not say.
    pub why: String,
}

impl Candidate {
    /// `ref (why; found)`: the parts that are known.
    pub fn describe(&self) -> String {
        let parts: Vec<&str> = [
            self.why.as_str(),
            self.probe.as_ref().map_or("", Probe::label),
        ]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
        if parts.is_empty() {
            self.reference.clone()
        } else {
            format!("{} ({})", self.reference, parts.join("; "))
        }
    }

    /// Probed, and not there to read.
    pub fn is_missing(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| *p != Probe::Exists)
    }
}

/// A warning to show before the build.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub title: &'static str,
    pub message: String,
}

/// The cache refs of one build: the chain with what the probe found, and what the engine gets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub candidates: Vec<Candidate>,
    pub refs: CacheRefs,
    pub warnings: Vec<Warning>,
}

impl Selection {
    /// The policy's reason for each ref of the chain, in the chain's order.
    pub fn with_reasons(mut self, why: &[String]) -> Self {
        for (candidate, why) in self.candidates.iter_mut().zip(why) {
            candidate.why = why.clone();
        }
        self
    }

    /// The first ref of the chain that exists (`cache-source`).
    pub fn source(&self) -> Option<&str> {
        self.candidates
            .iter()
            .find(|c| c.probe == Some(Probe::Exists))
            .map(|c| c.reference.as_str())
    }

    /// The refs of the chain the probe did not find or could not read.
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.candidates
            .iter()
            .filter(|c| c.is_missing())
            .map(|c| c.reference.as_str())
    }
}

/// The registry of a build that must write its cache did not answer, and a failed export
/// must fail the build (`ignore-error: false`): building would only fail at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreachable {
    pub registry: String,
    pub error: String,
}

/// The refs of one build's cache: the read chain in order, the write ref, and the registry
/// they live on.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub read: Vec<String>,
    pub write: Option<String>,
    pub registry: String,
}

impl Chain {
    /// The decided tags as the engine names them in `repository`.
    pub fn of(
        decision: &crate::cache::decision::Decision,
        engine: crate::config::Engine,
        repository: &oci_client::Reference,
    ) -> Self {
        let full_ref = |tag: &String| engine.cache_location(repository, tag);
        Chain {
            read: decision.read.iter().map(full_ref).collect(),
            write: decision.write.as_ref().map(full_ref),
            registry: repository.registry().to_owned(),
        }
    }
}

/// From the chain and (when probed) the registry's answers, one per ref: the refs to pass and
/// the warnings; or, when the registry cannot be reached and the build must write its cache
/// without `ignore-error`, the reason not to build. Pure.
pub fn select(
    chain: Chain,
    probes: Option<Vec<Probe>>,
    ignore_error: bool,
) -> Result<Selection, Unreachable> {
    let Chain {
        read,
        write,
        registry,
    } = chain;
    let Some(probes) = probes else {
        let candidates = read
            .iter()
            .map(|reference| Candidate {
                reference: reference.clone(),
                probe: None,
                why: String::new(),
            })
            .collect();
        return Ok(Selection {
            candidates,
            refs: CacheRefs { read, write },
            warnings: Vec::new(),
        });
    };
    let candidates: Vec<Candidate> = read
        .into_iter()
        .zip(probes)
        .map(|(reference, probe)| Candidate {
            reference,
            probe: Some(probe),
            why: String::new(),
        })
        .collect();
    let unreachable = candidates.iter().find_map(|c| match &c.probe {
        Some(Probe::Unreachable(e)) => Some(e.clone()),
        _ => None,
    });
    let (refs, warnings) = match unreachable {
        Some(error) if write.is_some() && !ignore_error => {
            return Err(Unreachable { registry, error });
        }
        Some(error) => (
            CacheRefs::default(),
            vec![Warning {
                title: "registry unreachable",
                message: format!("{registry} did not answer ({error}); building without cache"),
            }],
        ),
        None => existing_refs(&candidates, write),
    };
    Ok(Selection {
        candidates,
        refs,
        warnings,
    })
}

/// The refs the registry has, with a warning for each it could not read and one when none of
/// the chain exists yet.
fn existing_refs(candidates: &[Candidate], write: Option<String>) -> (CacheRefs, Vec<Warning>) {
    let mut warnings = Vec::new();
    for candidate in candidates {
        if let Some(Probe::Failed(error)) = &candidate.probe {
            warnings.push(Warning {
                title: "cache ref unreadable",
                message: format!("{}: {error}; not used", candidate.reference),
            });
        }
    }
    let existing: Vec<String> = candidates
        .iter()
        .filter(|c| c.probe == Some(Probe::Exists))
        .map(|c| c.reference.clone())
        .collect();
    if existing.is_empty() && !candidates.is_empty() {
        let chain: Vec<&str> = candidates.iter().map(|c| c.reference.as_str()).collect();
        warnings.push(Warning {
            title: "cache not found",
            message: format!(
                "no cache ref of the chain exists yet ({}); this build runs cold (expected on the first build)",
                chain.join(", ")
            ),
        });
    }
    let refs = CacheRefs {
        read: existing,
        write,
    };
    (refs, warnings)
}

/// Ask `registry` (when there is one to ask) about every ref of the chain at once, then select.
pub fn ask(
    registry: Option<&Registry<'_>>,
    chain: Chain,
    layout: CacheLayout,
    ignore_error: bool,
) -> Result<Selection, Error> {
    let probes = match registry {
        Some(registry) if !chain.read.is_empty() => Some(registry.probe_all(&chain.read, layout)?),
        _ => None,
    };
    select(chain, probes, ignore_error).map_err(|u| Error::CacheRegistryUnreachable {
        registry: u.registry,
        error: u.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(read: Vec<String>, write: Option<String>) -> Chain {
        Chain {
            read,
            write,
            registry: "r.io".into(),
        }
    }

    fn refs(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| format!("r.io/app:{n}")).collect()
    }

    #[test]
    fn only_existing_refs_are_read_and_the_first_is_the_source() {
        let s = select(
            chain(
                refs(&["pr-1", "feature", "main"]),
                Some("r.io/app:pr-1".into()),
            ),
            Some(vec![Probe::Missing, Probe::Exists, Probe::Exists]),
            false,
        )
        .unwrap();
        assert_eq!(s.refs.read, refs(&["feature", "main"]));
        assert_eq!(s.refs.write.as_deref(), Some("r.io/app:pr-1"));
        assert_eq!(s.source(), Some("r.io/app:feature"));
        assert_eq!(s.missing().collect::<Vec<_>>(), ["r.io/app:pr-1"]);
        assert_eq!(s.warnings, []);
    }

    #[test]
    fn an_unreachable_registry_means_no_cache_at_all() {
        let s = select(
            chain(refs(&["main"]), Some("r.io/app:main".into())),
            Some(vec![Probe::Unreachable("connection refused".into())]),
            true,
        )
        .unwrap();
        assert_eq!(s.refs, CacheRefs::default());
        assert_eq!(
            s.warnings,
            [Warning {
                title: "registry unreachable",
                message: "r.io did not answer (connection refused); building without cache".into()
            }]
        );
        assert_eq!(s.source(), None);
        assert_eq!(s.candidates[0].describe(), "r.io/app:main (unreadable)");
        let strict = select(
            chain(refs(&["main"]), Some("r.io/app:main".into())),
            Some(vec![Probe::Unreachable("connection refused".into())]),
            false,
        );
        assert_eq!(
            strict,
            Err(Unreachable {
                registry: "r.io".into(),
                error: "connection refused".into()
            }),
            "ignore-error: false must not build only to fail at the export"
        );
        let read_only = select(
            chain(refs(&["main"]), None),
            Some(vec![Probe::Unreachable("connection refused".into())]),
            false,
        );
        assert!(
            read_only.is_ok(),
            "a build that writes nothing has no export to fail"
        );
    }

    #[test]
    fn unreadable_refs_warn_and_an_empty_chain_says_the_build_is_cold() {
        let s = select(
            chain(refs(&["feature", "main"]), None),
            Some(vec![Probe::Failed("401".into()), Probe::Missing]),
            false,
        )
        .unwrap();
        assert_eq!(s.refs.read, Vec::<String>::new());
        let titles: Vec<_> = s.warnings.iter().map(|w| w.title).collect();
        assert_eq!(titles, ["cache ref unreadable", "cache not found"]);
        assert_eq!(s.warnings[0].message, "r.io/app:feature: 401; not used");
        assert_eq!(s.missing().count(), 2);
    }

    #[test]
    fn the_registry_is_asked_only_when_given_and_when_there_is_a_chain() {
        // Nothing listens on port 1: a probe is refused at once.
        let env = crate::env::Env::default();
        let registry = Registry::new(&env);
        let on_port_1 = |read: Vec<String>| Chain {
            read,
            write: None,
            registry: "127.0.0.1:1".into(),
        };
        let chain = vec!["127.0.0.1:1/app:main".to_owned()];
        let probed = ask(
            Some(&registry),
            on_port_1(chain.clone()),
            CacheLayout::Tag,
            true,
        )
        .unwrap();
        assert!(
            matches!(probed.candidates[0].probe, Some(Probe::Unreachable(_))),
            "{probed:?}"
        );
        assert_eq!(probed.warnings[0].title, "registry unreachable");
        let unprobed = ask(None, on_port_1(chain), CacheLayout::Tag, true).unwrap();
        assert_eq!(unprobed.candidates[0].probe, None);
        assert_eq!(unprobed.refs.read, ["127.0.0.1:1/app:main"]);
        let empty = ask(Some(&registry), on_port_1(vec![]), CacheLayout::Tag, true).unwrap();
        assert_eq!(empty, Selection::default());
    }

    #[test]
    fn unprobed_refs_are_all_passed() {
        let s = select(chain(refs(&["feature", "main"]), None), None, false).unwrap();
        assert_eq!(s.refs.read, refs(&["feature", "main"]));
        assert_eq!((s.source(), s.missing().count()), (None, 0));
        assert_eq!(s.candidates[1].describe(), "r.io/app:main");
    }
}
