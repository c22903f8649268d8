//! The `docker buildx build` argv: the build inputs with build-push-action's meaning, the cache
//! entries, and the files buildx writes for regcache (rawjson progress, metadata, image id).

use crate::cache_options::csv_line;
use crate::config::{Config, SecretSource};
use crate::plan::{CacheEntries, RunFiles};

pub fn argv(config: &Config, cache: &CacheEntries, files: &RunFiles) -> Vec<String> {
    let b = &config.build;
    let mut argv: Vec<String> = vec!["buildx".into(), "build".into(), "--progress=rawjson".into()];
    let mut flag = |name: &str, value: &str| {
        argv.push(name.to_owned());
        argv.push(value.to_owned());
    };
    flag("--metadata-file", &files.metadata.to_string_lossy());
    flag("--iidfile", &files.iidfile.to_string_lossy());
    if let Some(builder) = &b.builder {
        flag("--builder", builder);
    }
    if let Some(file) = &b.file {
        flag("--file", file);
    }
    for tag in &b.tags {
        flag("--tag", tag);
    }
    if let Some(target) = &b.target {
        flag("--target", target);
    }
    for arg in &b.build_args {
        flag("--build-arg", arg);
    }
    for label in &b.labels {
        flag("--label", label);
    }
    if !b.platforms.is_empty() {
        flag("--platform", &b.platforms.join(","));
    }
    if let Some(network) = &b.network {
        flag("--network", network);
    }
    for (id, source) in &files.secrets {
        let from = match source {
            SecretSource::File(path) => format!("src={path}"),
            SecretSource::Env(name) => format!("env={name}"),
            SecretSource::Value(_) => unreachable!("values are in files by now"),
        };
        // CSV, as buildx reads it: a path with a comma is quoted.
        flag("--secret", &csv_line(&[&format!("id={id}"), &from]));
    }
    for output in &b.outputs {
        flag("--output", output);
    }
    if let Some(provenance) = &b.provenance {
        flag("--provenance", provenance);
    }
    for entry in &cache.from {
        flag("--cache-from", &entry.to_csv());
    }
    for entry in &cache.to {
        flag("--cache-to", &entry.to_csv());
    }
    for (enabled, name) in [
        (b.push, "--push"),
        (b.load, "--load"),
        (b.no_cache, "--no-cache"),
        (b.pull, "--pull"),
    ] {
        if enabled {
            argv.push(name.to_owned());
        }
    }
    argv.extend(b.extra_args.iter().cloned());
    argv.push(b.context.clone());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate;
    use crate::inputs::RawInputs;
    use crate::plan::{CacheRefs, cache_entries};

    fn files() -> RunFiles {
        RunFiles {
            metadata: "/t/metadata.json".into(),
            iidfile: "/t/iid".into(),
            secrets: vec![
                ("tok".into(), SecretSource::File("/t/s0".into())),
                ("npm".into(), SecretSource::File("/tmp/a,b/npmrc".into())),
                ("gh".into(), SecretSource::Env("GH_TOKEN".into())),
            ],
        }
    }

    #[test]
    fn read_only_and_off_plans_have_no_cache_to() {
        let mut raw = RawInputs::default();
        raw.set("tags", "r/app:dev");
        let config = validate(&raw).unwrap();
        let refs = CacheRefs {
            read: vec!["r/app:buildcache-main".into()],
            write: None,
        };
        let read_only = argv(&config, &cache_entries(&config, &refs), &files());
        assert!(!read_only.contains(&"--cache-to".to_owned()));
        assert_eq!(read_only.iter().filter(|a| *a == "--cache-from").count(), 1);
        let off = argv(
            &config,
            &cache_entries(&config, &CacheRefs::default()),
            &files(),
        );
        assert!(!off.iter().any(|a| a.starts_with("--cache")));
    }

    #[test]
    fn argv_wires_the_cache_and_the_build_inputs() {
        let mut raw = RawInputs::default();
        raw.set("tags", "127.0.0.1:5055/app:dev");
        raw.set("network", "none");
        raw.set("build-args", "A=1\nB=two words");
        raw.set(
            "cache-from",
            "type=registry,ref=127.0.0.1:5055/app:buildcache-main",
        );
        raw.set("push", "true");
        raw.set("buildx-args", "--attest 'type=sbom,generator=x y'");
        raw.set("context", "example");
        let refs = CacheRefs {
            read: vec!["127.0.0.1:5055/app:buildcache".into()],
            write: Some("127.0.0.1:5055/app:buildcache".into()),
        };
        let config = validate(&raw).unwrap();
        assert_eq!(
            argv(&config, &cache_entries(&config, &refs), &files()),
            [
                "buildx",
                "build",
                "--progress=rawjson",
                "--metadata-file",
                "/t/metadata.json",
                "--iidfile",
                "/t/iid",
                "--tag",
                "127.0.0.1:5055/app:dev",
                "--build-arg",
                "A=1",
                "--build-arg",
                "B=two words",
                "--network",
                "none",
                "--secret",
                "id=tok,src=/t/s0",
                "--secret",
                "id=npm,\"src=/tmp/a,b/npmrc\"",
                "--secret",
                "id=gh,env=GH_TOKEN",
                "--cache-from",
                "type=registry,ref=127.0.0.1:5055/app:buildcache",
                "--cache-from",
                "type=registry,ref=127.0.0.1:5055/app:buildcache-main",
                "--cache-to",
                "type=registry,ref=127.0.0.1:5055/app:buildcache,mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true",
                "--push",
                "--attest",
                "type=sbom,generator=x y",
                "example",
            ]
        );
    }
}
