//! The `buildah build` (and `podman build`, which runs buildah's build code) argv: the build
//! inputs buildah has a flag for, and its layer cache (`--layers`, `--cache-from`,
//! `--cache-to`, buildah v1.28 `docs/buildah-build.1.md`). Inputs it has no flag for are
//! refused by `config::validate` before this runs.

use crate::config::{Config, SecretSource};
use crate::engine::flags;
use crate::plan::RunFiles;

/// buildah reads several `--cache-from` repositories from v1.29 on (containers/buildah#4443);
/// before, the last one given wins, so only the first of the chain is passed.
pub const MANY_SOURCES_SINCE: (u64, u64) = (1, 29);

/// The build's argv after the program name. `sources` are the chain's repositories that
/// exist, `target` the repository written; `version` is buildah's (podman's build code's).
pub fn argv(
    config: &Config,
    sources: &[String],
    target: Option<&str>,
    files: &RunFiles,
    version: Option<(u64, u64)>,
) -> Vec<String> {
    let b = &config.build;
    let mut argv: Vec<String> = vec!["build".into(), "--layers".into()];
    let sources = if version.is_some_and(|v| v >= MANY_SOURCES_SINCE) {
        sources
    } else {
        &sources[..sources.len().min(1)]
    };
    flags(&mut argv, "--cache-from", sources);
    flags(&mut argv, "--cache-to", target);
    // regcache's registry client speaks plain HTTP to loopback registries (a local or CI
    // service registry); buildah must be told the same.
    if sources
        .iter()
        .map(String::as_str)
        .chain(target)
        .any(on_loopback)
    {
        argv.push("--tls-verify=false".into());
    }
    flags(&mut argv, "--iidfile", [files.iidfile.to_string_lossy()]);
    flags(&mut argv, "--add-host", &b.add_hosts);
    flags(&mut argv, "--annotation", &b.annotations);
    flags(&mut argv, "--build-arg", &b.build_args);
    flags(&mut argv, "--build-context", &b.build_contexts);
    flags(&mut argv, "--cgroup-parent", &b.cgroup_parent);
    flags(&mut argv, "--file", &b.file);
    flags(&mut argv, "--label", &b.labels);
    flags(&mut argv, "--network", &b.network);
    flags(&mut argv, "--platform", &b.platforms);
    let secrets = files.secrets.iter().map(|(id, source)| match source {
        SecretSource::File(path) => format!("id={id},src={path}"),
        SecretSource::Env(name) => format!("id={id},env={name}"),
        SecretSource::Value(_) => unreachable!("values are in files by now"),
    });
    flags(&mut argv, "--secret", secrets);
    flags(&mut argv, "--shm-size", &b.shm_size);
    flags(&mut argv, "--ssh", &b.ssh);
    flags(&mut argv, "--tag", &b.tags);
    flags(&mut argv, "--target", &b.target);
    flags(&mut argv, "--ulimit", &b.ulimits);
    if b.no_cache {
        argv.push("--no-cache".into());
    }
    // build-push-action's `pull: true` is buildx's `--pull`: always pull the base images.
    if b.pull {
        argv.push("--pull=always".into());
    }
    argv.push(b.context.clone().unwrap_or_else(|| ".".into()));
    argv
}

/// `buildah push` of one built tag, writing the pushed manifest's digest to `digestfile`.
pub fn push_argv(tag: &str, digestfile: &str) -> Vec<String> {
    let mut argv = vec!["push".to_owned()];
    if on_loopback(tag) {
        argv.push("--tls-verify=false".into());
    }
    argv.extend(["--digestfile".into(), digestfile.into(), tag.into()]);
    argv
}

/// Whether a repository or tag's registry is on loopback (spoken to in plain HTTP).
fn on_loopback(name: &str) -> bool {
    crate::registry::is_loopback(name.split('/').next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate;
    use crate::inputs::RawInputs;

    fn files() -> RunFiles {
        RunFiles {
            metadata: "/t/metadata.json".into(),
            iidfile: "/t/iid".into(),
            secrets: vec![
                ("tok".into(), SecretSource::File("/t/s0".into())),
                ("gh".into(), SecretSource::Env("GH_TOKEN".into())),
            ],
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut raw = RawInputs::default();
        raw.set("engine", "buildah");
        for (k, v) in pairs {
            raw.set(k, *v);
        }
        validate(&raw).unwrap()
    }

    #[test]
    fn the_chain_is_one_repository_before_buildah_1_29() {
        let c = config(&[("tags", "ghcr.io/o/app:1")]);
        let chain = [
            "ghcr.io/o/app/buildcache-pr-1".to_owned(),
            "ghcr.io/o/app/buildcache-main".to_owned(),
        ];
        let write = Some("ghcr.io/o/app/buildcache-pr-1");
        let old = argv(&c, &chain, write, &files(), Some((1, 28)));
        assert_eq!(
            old[..8],
            [
                "build",
                "--layers",
                "--cache-from",
                "ghcr.io/o/app/buildcache-pr-1",
                "--cache-to",
                "ghcr.io/o/app/buildcache-pr-1",
                "--iidfile",
                "/t/iid"
            ]
        );
        assert_eq!(old.iter().filter(|a| *a == "--cache-from").count(), 1);
        let unknown = argv(&c, &chain, write, &files(), None);
        assert_eq!(unknown, old, "an unknown version gets the safe form");
        let new = argv(&c, &chain, write, &files(), Some((1, 33)));
        assert_eq!(new.iter().filter(|a| *a == "--cache-from").count(), 2);
        assert!(!new.contains(&"--tls-verify=false".to_owned()));
    }

    #[test]
    fn build_inputs_map_to_buildah_flags() {
        let c = config(&[
            ("tags", "127.0.0.1:5055/app:1"),
            ("build-args", "A=1"),
            ("file", "docker/Dockerfile"),
            ("target", "final"),
            ("pull", "true"),
            ("no-cache", "true"),
            ("context", "./svc"),
        ]);
        let a = argv(
            &c,
            &["127.0.0.1:5055/app/buildcache-main".into()],
            None,
            &files(),
            Some((1, 28)),
        );
        let joined = a.join(" ");
        for part in [
            "--tls-verify=false",
            "--build-arg A=1",
            "--file docker/Dockerfile",
            "--target final",
            "--pull=always",
            "--no-cache",
            "--tag 127.0.0.1:5055/app:1",
            "--secret id=tok,src=/t/s0",
            "--secret id=gh,env=GH_TOKEN",
        ] {
            assert!(joined.contains(part), "{part} missing from {joined}");
        }
        assert!(!a.contains(&"--cache-to".to_owned()), "read-only");
        assert_eq!(a.last().map(String::as_str), Some("./svc"));
        let default_context = argv(&config(&[]), &[], None, &files(), None);
        assert_eq!(default_context.last().map(String::as_str), Some("."));
    }

    #[test]
    fn pushes_name_their_digest_file() {
        assert_eq!(
            push_argv("ghcr.io/o/app:1", "/t/digest"),
            ["push", "--digestfile", "/t/digest", "ghcr.io/o/app:1"]
        );
        assert_eq!(
            push_argv("localhost:5000/app:1", "/d")[1],
            "--tls-verify=false"
        );
    }
}
