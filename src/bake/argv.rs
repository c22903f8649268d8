//! The `docker buildx bake` arguments, in docker/bake-action v7.1.0's order (`src/context.ts`
//! `getArgs`, commit a66e1c87e2eca0503c343edf1d208c716d54b8a8), with regcache's cache
//! overrides per target and its progress flag; the `--print` that resolves the definition
//! first; and the solve that only exports the caches of targets that missed. Pure.

use std::path::Path;

use super::definition::{Definition, Target};
use crate::build_push::{self, GitHubRun};
use crate::config::{BakeConfig, bake_set_field, is_remote_source};

/// A buildx version, major and minor.
pub type Version = (u64, u64);

/// `getBakeContext`: the `source` input rendered (`{{defaultContext}}` is the run's Git
/// context), defaulting to that context; a remote definition when it names one, else None
/// (the definition is read from the directory bake runs in).
pub fn remote_source(
    given: Option<&str>,
    run: Option<&GitHubRun>,
    version: Version,
) -> Option<String> {
    let default = run.map(|r| r.git_context(Some(version)));
    let source = match (given, &default) {
        (Some(given), Some(default)) => build_push::render(given, default),
        (Some(given), None) => given.to_owned(),
        (None, Some(default)) => default.clone(),
        (None, None) => return None,
    };
    is_remote_source(&source).then_some(source)
}

/// What the arguments depend on besides the inputs.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub version: Version,
    pub run: Option<&'a GitHubRun>,
    pub remote: Option<&'a str>,
}

/// `Bake.hasDockerExporter`: loading, or a target whose output goes to the Docker engine.
fn has_docker_exporter(definition: &Definition, load: bool) -> bool {
    load || definition
        .targets
        .iter()
        .flat_map(|t| &t.outputs)
        .any(|output| build_push::is_docker_output(output))
}

/// The `bake` arguments up to the flags `getCommonArgs` adds: source, `--allow`, `--call`,
/// files, the user's `--set`s, then `extra_sets` (regcache's), the metadata file, and the
/// attestations (the default provenance per target of `definition`, when one is given).
fn bake_args(
    config: &BakeConfig,
    facts: Facts<'_>,
    definition: Option<&Definition>,
    extra_sets: &[String],
    metadata: Option<&Path>,
    call: bool,
) -> Vec<String> {
    let build = &config.base.build;
    let mut args = vec!["bake".to_owned()];
    args.extend(facts.remote.map(str::to_owned));
    if facts.version >= (0, 17) {
        let mut allow = build.allow.clone();
        // "allow filesystem entitlements by default"
        if facts.version >= (0, 18) {
            allow.push("fs=*".into());
        }
        for entitlement in allow {
            args.extend(["--allow".to_owned(), entitlement]);
        }
    }
    if let Some(method) = build.call.as_ref().filter(|_| call) {
        args.extend(["--call".to_owned(), method.clone()]);
    }
    for file in &config.bake.files {
        args.extend(["--file".to_owned(), file.clone()]);
    }
    for set in config.bake.sets.iter().chain(extra_sets) {
        args.extend(["--set".to_owned(), set.clone()]);
    }
    if let Some(path) = metadata {
        args.extend([
            "--metadata-file".to_owned(),
            path.to_string_lossy().into_owned(),
        ]);
    }
    if facts.version >= (0, 10) {
        if let Some(provenance) = &build.provenance {
            args.extend([
                "--provenance".to_owned(),
                build_push::provenance_input(provenance, facts.run),
            ]);
        } else if let Some(definition) = definition {
            args.extend(default_provenance(definition, build.load, facts.run));
        }
        if let Some(sbom) = &build.sbom {
            args.extend(["--sbom".to_owned(), sbom.clone()]);
        }
    }
    args
}

/// The provenance bake-action sets on every target that has none: what buildx itself sets
/// for a private repository, `mode=max` for a public one, with the run's URL as builder id;
/// nothing off GitHub, with `BUILDX_NO_DEFAULT_ATTESTATIONS`, or when an image is loaded.
fn default_provenance(definition: &Definition, load: bool, run: Option<&GitHubRun>) -> Vec<String> {
    let Some(run) = run.filter(|r| !r.no_default_attestations) else {
        return Vec::new();
    };
    if has_docker_exporter(definition, load) {
        return Vec::new();
    }
    let mode = if run.private_repository {
        "mode=min,inline-only=true"
    } else {
        "mode=max"
    };
    definition
        .targets
        .iter()
        .filter(|t| {
            !t.attest
                .iter()
                .any(|a| build_push::has_type("provenance", a))
        })
        .flat_map(|t| {
            [
                "--set".to_owned(),
                format!(
                    "{}.attest=type=provenance,{}",
                    t.name,
                    build_push::provenance_attrs(mode, Some(run))
                ),
            ]
        })
        .collect()
}

/// `getCommonArgs`: the switches, in bake-action's order.
fn common_args(config: &BakeConfig) -> Vec<String> {
    let build = &config.base.build;
    let mut args = Vec::new();
    if build.no_cache {
        args.push("--no-cache".to_owned());
    }
    if let Some(builder) = &build.builder {
        args.extend(["--builder".to_owned(), builder.clone()]);
    }
    if build.pull {
        args.push("--pull".to_owned());
    }
    if build.load {
        args.push("--load".to_owned());
    }
    if build.push {
        args.push("--push".to_owned());
    }
    args
}

/// The run's arguments: bake-action's, regcache's cache `--set`s after the user's, and
/// BuildKit's progress as JSON (which regcache reads) before the targets.
pub fn run_args(
    config: &BakeConfig,
    facts: Facts<'_>,
    definition: &Definition,
    cache_sets: &[String],
    metadata: &Path,
) -> Vec<String> {
    let mut args = vec!["buildx".to_owned()];
    args.extend(bake_args(
        config,
        facts,
        Some(definition),
        cache_sets,
        Some(metadata),
        true,
    ));
    args.extend(common_args(config));
    args.push("--progress=rawjson".to_owned());
    args.extend(config.bake.targets.iter().cloned());
    args
}

/// The definition as this run would build it (`Bake.getDefinition`: the same source, files,
/// sets and switches, with `--print`).
pub fn print_args(config: &BakeConfig, facts: Facts<'_>) -> Vec<String> {
    let mut args = vec!["buildx".to_owned()];
    args.extend(bake_args(config, facts, None, &[], None, false));
    args.extend(common_args(config));
    args.extend(config.bake.targets.iter().cloned());
    args.push("--print".to_owned());
    args
}

/// A solve that only exports the caches of `targets` (which missed after running without
/// regcache's `--cache-to`): every step is in the builder by now, so nothing is rebuilt; the
/// images are left alone (`type=cacheonly`, nothing pushed or loaded, no attestation).
pub fn export_args(
    config: &BakeConfig,
    facts: Facts<'_>,
    cache_sets: &[String],
    targets: &[&Target],
    metadata: &Path,
) -> Vec<String> {
    let mut args = vec!["buildx".to_owned()];
    let mut sets = cache_sets.to_vec();
    sets.extend(
        targets
            .iter()
            .map(|t| format!("{}.output=type=cacheonly", t.name)),
    );
    let mut export = config.clone();
    export.base.build.load = false;
    export.base.build.push = false;
    export.base.build.provenance = Some("false".into());
    export.base.build.sbom = Some("false".into());
    // A user's output override would be appended to `type=cacheonly`, not replaced by it.
    export
        .bake
        .sets
        .retain(|set| bake_set_field(set).is_none_or(|field| field != "output"));
    args.extend(bake_args(
        &export,
        facts,
        None,
        &sets,
        Some(metadata),
        false,
    ));
    args.extend(common_args(&export));
    args.push("--progress=rawjson".to_owned());
    args.extend(targets.iter().map(|t| t.name.clone()));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(private: bool) -> GitHubRun {
        GitHubRun {
            server_url: "https://github.com".into(),
            repository: "o/r".into(),
            git_ref: "refs/heads/main".into(),
            run_id: "7".into(),
            run_attempt: "1".into(),
            private_repository: private,
            ..GitHubRun::default()
        }
    }

    fn definition(targets: &[(&str, &[&str], &[&str])]) -> Definition {
        Definition {
            targets: targets
                .iter()
                .map(|(name, outputs, attest)| Target {
                    name: (*name).into(),
                    outputs: outputs.iter().map(|s| s.to_string()).collect(),
                    attest: attest.iter().map(|s| s.to_string()).collect(),
                    ..Target::default()
                })
                .collect(),
        }
    }

    /// bake-action's default provenance: per target without one of its own, by the
    /// repository's visibility, and none when an image goes to the Docker engine, off GitHub,
    /// or with `BUILDX_NO_DEFAULT_ATTESTATIONS`.
    #[test]
    fn default_provenance_follows_bake_action() {
        let plain = definition(&[("a", &[], &[]), ("b", &[], &["type=provenance,mode=max"])]);
        let url = "https://github.com/o/r/actions/runs/7/attempts/1";
        assert_eq!(
            default_provenance(&plain, false, Some(&run(true))),
            [
                "--set".to_owned(),
                format!("a.attest=type=provenance,mode=min,inline-only=true,builder-id={url}")
            ],
            "b has its own"
        );
        assert_eq!(
            default_provenance(&plain, false, Some(&run(false)))[1],
            format!("a.attest=type=provenance,mode=max,builder-id={url}")
        );
        assert_eq!(
            default_provenance(&plain, true, Some(&run(true))),
            Vec::<String>::new()
        );
        let docker = definition(&[("a", &[], &[]), ("b", &["type=docker"], &[])]);
        assert_eq!(
            default_provenance(&docker, false, Some(&run(true))),
            Vec::<String>::new()
        );
        let image = definition(&[("a", &["type=image,push=true"], &[])]);
        assert_eq!(default_provenance(&image, false, Some(&run(true))).len(), 2);
        assert_eq!(
            default_provenance(&plain, false, None),
            Vec::<String>::new()
        );
        let quiet = GitHubRun {
            no_default_attestations: true,
            ..run(true)
        };
        assert_eq!(
            default_provenance(&plain, false, Some(&quiet)),
            Vec::<String>::new()
        );
    }

    /// `getBakeContext`: the run's Git context by default, `{{defaultContext}}` rendered, a
    /// directory read locally; on the command line, nothing remote unless given.
    #[test]
    fn the_source_is_remote_only_when_it_names_a_definition() {
        let run = run(true);
        let context = "https://github.com/o/r.git#refs/heads/main";
        assert_eq!(
            remote_source(None, Some(&run), (0, 13)).as_deref(),
            Some(context)
        );
        assert_eq!(
            remote_source(Some("{{defaultContext}}:sub"), Some(&run), (0, 13)).as_deref(),
            Some(format!("{context}:sub").as_str())
        );
        assert_eq!(remote_source(Some("."), Some(&run), (0, 13)), None);
        assert_eq!(remote_source(None, None, (0, 13)), None);
        assert_eq!(
            remote_source(Some("git@github.com:o/r.git"), None, (0, 13)).as_deref(),
            Some("git@github.com:o/r.git")
        );
    }

    /// `getCommonArgs`'s switches, in its order, after the attestations and before the targets
    /// (bake-action's table sets none of them).
    #[test]
    fn the_switches_come_in_bake_actions_order() {
        let mut raw = crate::inputs::RawInputs::default();
        for (name, value) in [
            ("push", "true"),
            ("load", "true"),
            ("pull", "true"),
            ("builder", "ci"),
            ("no-cache", "true"),
            ("sbom", "true"),
            ("targets", "api"),
        ] {
            raw.set(name, value);
        }
        let config = crate::config::validate_bake(&raw).unwrap();
        let facts = Facts {
            version: (0, 13),
            run: None,
            remote: None,
        };
        let args = run_args(
            &config,
            facts,
            &Definition::default(),
            &[],
            Path::new("/m.json"),
        );
        assert_eq!(
            args.join(" "),
            "buildx bake --metadata-file /m.json --sbom true --no-cache --builder ci --pull --load --push --progress=rawjson api"
        );
    }

    #[test]
    fn the_export_solve_leaves_the_images_alone() {
        let mut raw = crate::inputs::RawInputs::default();
        raw.set("push", "true");
        raw.set("load", "true");
        raw.set("set", "*.output=type=registry\n*.args.X=1");
        let config = crate::config::validate_bake(&raw).unwrap();
        let facts = Facts {
            version: (0, 13),
            run: None,
            remote: None,
        };
        let target = Target {
            name: "api".into(),
            ..Target::default()
        };
        let args = export_args(
            &config,
            facts,
            &["api.cache-to=type=registry,ref=r/a:c".into()],
            &[&target],
            Path::new("/m.json"),
        );
        let joined = args.join(" ");
        assert_eq!(
            joined,
            "buildx bake --set *.args.X=1 --set api.cache-to=type=registry,ref=r/a:c --set api.output=type=cacheonly --metadata-file /m.json --provenance false --sbom false --progress=rawjson api"
        );
    }
}
