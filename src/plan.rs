//! The plan: which cache entries to read and write, and the exact `docker` argv. Pure: the
//! files it names are created by the runner.

use std::path::PathBuf;

use crate::cache_options::CacheEntry;
use crate::config::Config;

/// Files the runner creates for buildx to write into or read from.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFiles {
    pub metadata: PathBuf,
    pub iidfile: PathBuf,
    /// Secret id and the 0600 file holding its value.
    pub secrets: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    /// Arguments after `docker`.
    pub argv: Vec<String>,
}

pub fn plan(config: &Config, files: &RunFiles) -> Plan {
    let cache_ref = config.cache_ref.whole();
    let mut cache_from = vec![CacheEntry::registry_import(&cache_ref)];
    cache_from.extend(config.extra_cache_from.iter().cloned());
    let mut cache_to = vec![CacheEntry::registry_export(&cache_ref, &config.cache)];
    cache_to.extend(config.extra_cache_to.iter().cloned());

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
    for (id, path) in &files.secrets {
        flag(
            "--secret",
            &format!("id={id},src={}", path.to_string_lossy()),
        );
    }
    for output in &b.outputs {
        flag("--output", output);
    }
    if let Some(provenance) = &b.provenance {
        flag("--provenance", provenance);
    }
    for entry in &cache_from {
        flag("--cache-from", &entry.to_csv());
    }
    for entry in &cache_to {
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
    Plan {
        cache_from,
        cache_to,
        argv,
    }
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
            secrets: vec![("tok".into(), "/t/s0".into())],
        }
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
        let plan = plan(&validate(&raw).unwrap(), &files());
        assert_eq!(
            plan.argv,
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
