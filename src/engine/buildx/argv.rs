//! The `docker buildx build` argv: the build inputs with build-push-action's meaning, the cache
//! entries, and the files buildx writes for regcache (rawjson progress, metadata, image id).

use crate::build_push::Derived;
use crate::cache::entries::csv_line;
use crate::config::{BuildOptions, Config, SecretSource};
use crate::engine::flags;
use crate::plan::{CacheEntries, RunFiles};

/// The argv, in the order of build-push-action's `getArgs` (v7.3.0 `src/context.ts`), so the
/// same inputs give buildx the same arguments; regcache's progress, cache and metadata flags
/// take the places build-push-action gives its own.
pub fn argv(
    config: &Config,
    derived: &Derived,
    cache: &CacheEntries,
    files: &RunFiles,
) -> Vec<String> {
    let b = &config.build;
    let mut argv: Vec<String> = vec!["buildx".into(), "build".into(), "--progress=rawjson".into()];
    let secret = |(id, source): &&(String, SecretSource)| {
        let from = match source {
            SecretSource::File(path) => format!("src={path}"),
            SecretSource::Env(name) => format!("env={name}"),
            SecretSource::Value(_) => unreachable!("values are in files by now"),
        };
        // CSV, as buildx reads it: a path with a comma is quoted.
        csv_line(&[&format!("id={id}"), &from])
    };
    let (env_secrets, file_secrets): (Vec<_>, Vec<_>) = files
        .secrets
        .iter()
        .partition(|(_, source)| matches!(source, SecretSource::Env(_)));
    let switch = |on: bool, name: &str| on.then(|| name.to_owned());

    flags(&mut argv, "--add-host", &b.add_hosts);
    flags(&mut argv, "--allow", &b.allow);
    flags(&mut argv, "--annotation", &b.annotations);
    flags(&mut argv, "--build-arg", &b.build_args);
    flags(&mut argv, "--build-context", &derived.build_contexts);
    flags(
        &mut argv,
        "--cache-from",
        cache.from.iter().map(|e| e.to_csv()),
    );
    flags(&mut argv, "--cache-to", cache.to.iter().map(|e| e.to_csv()));
    flags(&mut argv, "--call", &b.call);
    flags(&mut argv, "--cgroup-parent", &b.cgroup_parent);
    flags(&mut argv, "--secret", env_secrets.iter().map(secret));
    flags(&mut argv, "--file", &b.file);
    let iidfile = (!exports_files(b)).then(|| files.iidfile.to_string_lossy());
    flags(&mut argv, "--iidfile", iidfile);
    flags(&mut argv, "--label", &b.labels);
    flags(&mut argv, "--no-cache-filter", &b.no_cache_filters);
    flags(&mut argv, "--output", &b.outputs);
    let platforms = (!b.platforms.is_empty()).then(|| b.platforms.join(","));
    flags(&mut argv, "--platform", platforms);
    flags(&mut argv, "--attest", &derived.attests);
    flags(&mut argv, "--secret", file_secrets.iter().map(secret));
    flags(&mut argv, "--shm-size", &b.shm_size);
    flags(&mut argv, "--ssh", &b.ssh);
    flags(&mut argv, "--tag", &b.tags);
    flags(&mut argv, "--target", &b.target);
    flags(&mut argv, "--ulimit", &b.ulimits);
    flags(&mut argv, "--builder", &b.builder);
    argv.extend(switch(b.load, "--load"));
    flags(
        &mut argv,
        "--metadata-file",
        [files.metadata.to_string_lossy()],
    );
    flags(&mut argv, "--network", &b.network);
    argv.extend(switch(b.no_cache, "--no-cache"));
    argv.extend(switch(b.pull, "--pull"));
    argv.extend(switch(b.push, "--push"));
    argv.extend(b.extra_args.iter().cloned());
    argv.push(derived.context.clone());
    argv
}

/// The argv of a solve that only exports the cache, after a build run without `--cache-to`
/// missed a step: the same build, whose every step the builder now holds, with the image left
/// alone (`--output type=cacheonly`; no tags, load, push, annotations, labels, attestations or
/// image id). `files.metadata` must be a file of its own: its `cache.manifest` is the export's.
pub fn export_only(
    config: &Config,
    derived: &Derived,
    cache: &CacheEntries,
    files: &RunFiles,
) -> Vec<String> {
    let mut config = config.clone();
    let b = &mut config.build;
    b.outputs = vec!["type=cacheonly".into()];
    b.tags.clear();
    b.labels.clear();
    b.annotations.clear();
    b.load = false;
    b.push = false;
    let derived = Derived {
        attests: Vec::new(),
        ..derived.clone()
    };
    argv(&config, &derived, cache, files)
}

/// A `local` or `tar` exporter writes files, not an image: build-push-action passes no
/// `--iidfile` then (`Build.hasLocalExporter`, `hasTarExporter`; an output without `type=`
/// is a local directory).
fn exports_files(build: &BuildOptions) -> bool {
    build.outputs.iter().any(|output| {
        let fields: Vec<&str> = output.split(',').map(str::trim).collect();
        (fields.len() == 1 && !fields[0].starts_with("type="))
            || fields.contains(&"type=local")
            || fields.contains(&"type=tar")
            || fields.contains(&"type=cacheonly")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_push::derive;
    use crate::config::validate;
    use crate::inputs::RawInputs;
    use crate::plan::{CacheRefs, cache_entries};

    fn files() -> RunFiles {
        RunFiles {
            metadata: "/t/metadata.json".into(),
            iidfile: "/t/iid".into(),
            secrets: vec![
                ("gh".into(), SecretSource::Env("GH_TOKEN".into())),
                ("tok".into(), SecretSource::File("/t/s0".into())),
                ("npm".into(), SecretSource::File("/tmp/a,b/npmrc".into())),
            ],
        }
    }

    fn build(raw: &RawInputs, refs: &CacheRefs) -> Vec<String> {
        let config = validate(raw).unwrap();
        let derived = derive(&config.build, None, None);
        argv(&config, &derived, &cache_entries(&config, refs), &files())
    }

    #[test]
    fn read_only_and_off_plans_have_no_cache_to() {
        let mut raw = RawInputs::default();
        raw.set("tags", "r/app:dev");
        let refs = CacheRefs {
            read: vec!["r/app:buildcache-main".into()],
            write: None,
        };
        let read_only = build(&raw, &refs);
        assert!(!read_only.contains(&"--cache-to".to_owned()));
        assert_eq!(read_only.iter().filter(|a| *a == "--cache-from").count(), 1);
        let off = build(&raw, &CacheRefs::default());
        assert!(!off.iter().any(|a| a.starts_with("--cache")));
    }

    #[test]
    fn local_and_tar_outputs_write_no_image_id() {
        for (output, iidfile) in [
            ("type=local,dest=out", false),
            ("out", false),
            ("type=tar,dest=o.tar", false),
            ("type=image,push=true", true),
        ] {
            let mut raw = RawInputs::default();
            raw.set("outputs", output);
            let argv = build(&raw, &CacheRefs::default());
            assert_eq!(argv.contains(&"--iidfile".to_owned()), iidfile, "{output}");
        }
    }

    #[test]
    fn argv_follows_build_push_action_order_with_the_cache_in_place() {
        let mut raw = RawInputs::default();
        raw.set("tags", "127.0.0.1:5055/app:dev");
        raw.set("network", "none");
        raw.set("build-args", "A=1\nB=two words");
        raw.set("add-hosts", "docker:10.0.0.1");
        raw.set(
            "cache-from",
            "type=registry,ref=127.0.0.1:5055/app:buildcache-main",
        );
        raw.set("shm-size", "2g");
        raw.set("push", "true");
        raw.set("buildx-args", "--attest 'type=sbom,generator=x y'");
        raw.set("context", "example");
        let refs = CacheRefs {
            read: vec!["127.0.0.1:5055/app:buildcache".into()],
            write: Some("127.0.0.1:5055/app:buildcache".into()),
        };
        assert_eq!(
            build(&raw, &refs),
            [
                "buildx",
                "build",
                "--progress=rawjson",
                "--add-host",
                "docker:10.0.0.1",
                "--build-arg",
                "A=1",
                "--build-arg",
                "B=two words",
                "--cache-from",
                "type=registry,ref=127.0.0.1:5055/app:buildcache",
                "--cache-from",
                "type=registry,ref=127.0.0.1:5055/app:buildcache-main",
                "--cache-to",
                "type=registry,ref=127.0.0.1:5055/app:buildcache,mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true",
                "--secret",
                "id=gh,env=GH_TOKEN",
                "--iidfile",
                "/t/iid",
                "--secret",
                "id=tok,src=/t/s0",
                "--secret",
                "id=npm,\"src=/tmp/a,b/npmrc\"",
                "--shm-size",
                "2g",
                "--tag",
                "127.0.0.1:5055/app:dev",
                "--metadata-file",
                "/t/metadata.json",
                "--network",
                "none",
                "--push",
                "--attest",
                "type=sbom,generator=x y",
                "example",
            ]
        );
    }
}
