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

/// The cache refs a build reads (in order, only those that exist when probed) and writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CacheRefs {
    pub read: Vec<String>,
    pub write: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    /// Arguments after `docker`.
    pub argv: Vec<String>,
}

/// The `--cache-from` and `--cache-to` entries: the decided refs, then the user's own entries.
pub fn cache_entries(config: &Config, refs: &CacheRefs) -> (Vec<CacheEntry>, Vec<CacheEntry>) {
    let mut cache_from: Vec<CacheEntry> = refs
        .read
        .iter()
        .map(|r| CacheEntry::registry_import(r))
        .collect();
    cache_from.extend(config.extra_cache_from.iter().cloned());
    let mut cache_to: Vec<CacheEntry> = refs
        .write
        .iter()
        .map(|r| CacheEntry::registry_export(r, &config.cache))
        .collect();
    cache_to.extend(config.extra_cache_to.iter().cloned());
    (cache_from, cache_to)
}

pub fn plan(config: &Config, refs: &CacheRefs, files: &RunFiles) -> Plan {
    let (cache_from, cache_to) = cache_entries(config, refs);

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
    fn read_only_and_off_plans_have_no_cache_to() {
        let mut raw = RawInputs::default();
        raw.set("tags", "r/app:dev");
        let config = validate(&raw).unwrap();
        let read_only = plan(
            &config,
            &CacheRefs {
                read: vec!["r/app:buildcache-main".into()],
                write: None,
            },
            &files(),
        );
        assert!(!read_only.argv.contains(&"--cache-to".to_owned()));
        assert_eq!(
            read_only
                .argv
                .iter()
                .filter(|a| *a == "--cache-from")
                .count(),
            1
        );
        let off = plan(&config, &CacheRefs::default(), &files());
        assert!(!off.argv.iter().any(|a| a.starts_with("--cache")));
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
        let plan = plan(&validate(&raw).unwrap(), &refs, &files());
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
