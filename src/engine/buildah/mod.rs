//! buildah (and podman, whose `build` is buildah's build code): daemonless builds with
//! buildah's layer cache in the registry. The argv (`argv`), the statistics read from its log
//! (`log`), and the run: the log streamed as it comes, then `buildah push` of each tag when
//! the build pushes.
//!
//! buildah's cache is one repository per cache (its tags are content hashes of the steps), so
//! regcache's cache tags become repositories (`Engine::cache_location`). A cache push
//! that fails fails buildah's build; with `ignore-error: true` the build is run again without
//! `--cache-to`, from the layers it left in local storage, so that only the cache is lost.

mod argv;
mod log;

use std::io::{self, BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

pub use argv::argv;
use log::BuildahLog;

use super::Finished;
use crate::config::Config;
use crate::error::Error;
use crate::plan::RunFiles;
use crate::stats::BuildStats;

/// `buildah version 1.28.2 (image-spec …)`; `podman version 4.3.1`, whose build code is
/// buildah's: podman 4.4 vendors buildah 1.29 (containers/podman `go.mod`).
pub fn version(program: &str) -> Option<(u64, u64)> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let (major, minor) = parse_version(&String::from_utf8_lossy(&out.stdout))?;
    Some(match program {
        "podman" if (major, minor) >= (4, 4) => argv::MANY_SOURCES_SINCE,
        "podman" => (1, 28),
        _ => (major, minor),
    })
}

fn parse_version(text: &str) -> Option<(u64, u64)> {
    let word = text.split_whitespace().nth(2)?;
    let mut numbers = word.split(['.', '-', '+']);
    Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
}

/// The values of `flag` in an argv (`--cache-from A --cache-from B` → `[A, B]`).
fn values_of<'a>(argv: &'a [String], flag: &str) -> Vec<&'a str> {
    argv.windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1].as_str())
        .collect()
}

/// The argv without the cache flags: the build again, from local layers, writing no cache.
fn without_cache(argv: &[String]) -> Vec<String> {
    let mut kept = Vec::with_capacity(argv.len());
    let mut skip_value = false;
    for arg in argv {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg == "--cache-from" || arg == "--cache-to" {
            skip_value = true;
        } else {
            kept.push(arg.clone());
        }
    }
    kept
}

pub fn run(
    program: &str,
    config: &Config,
    argv: &[String],
    files: &RunFiles,
    on_line: &mut impl FnMut(&str),
) -> Result<Finished, Error> {
    let started = Instant::now();
    let sources: Vec<String> = values_of(argv, "--cache-from")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let target = values_of(argv, "--cache-to")
        .first()
        .map(|t| (*t).to_owned());
    let (mut succeeded, first) = stream(program, argv, started, on_line)?;
    let mut stats = first.stats(&sources, target.as_deref());
    if !succeeded && first.only_the_push_failed() && config.cache.ignore_error {
        on_line(
            "regcache: the cache push failed and ignore-error is true: building again without --cache-to, from the layers in local storage",
        );
        let (again, second) = stream(program, &without_cache(argv), started, on_line)?;
        succeeded = again;
        let retried = second.stats(&[], None);
        // What the retry built, with what the first run read and the export it lost.
        stats = BuildStats {
            imports: stats.imports,
            import_seconds: stats.import_seconds,
            exports: stats.exports,
            export_seconds: stats.export_seconds,
            ..retried
        };
    }
    let mut last_text = stats.final_error.clone();
    if succeeded && config.build.push {
        match push(program, config, files, on_line) {
            Ok(()) => {}
            Err(text) => {
                succeeded = false;
                last_text = Some(text);
            }
        }
    }
    Ok(Finished {
        succeeded,
        setup_problem: (!succeeded)
            .then(|| diagnose(program, last_text.as_deref()))
            .flatten(),
        stats,
        seconds: started.elapsed().as_secs_f64(),
        last_text,
    })
}

/// One buildah run, its stdout and stderr read as one stream in the order written.
fn stream(
    program: &str,
    argv: &[String],
    started: Instant,
    on_line: &mut impl FnMut(&str),
) -> Result<(bool, BuildahLog), Error> {
    let read_error = |source| Error::EngineRead {
        program: program.to_owned(),
        source,
    };
    let (reader, writer) = io::pipe().map_err(read_error)?;
    let mut child = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(read_error)?)
        .stderr(writer)
        .spawn()
        .map_err(|source| Error::EngineStart {
            program: program.to_owned(),
            source,
        })?;
    let mut log = BuildahLog::default();
    // The command holds the pipe's write ends; once it is spawned they are dropped here, so
    // the stream ends when buildah exits.
    for line in BufReader::new(reader).lines() {
        let line = line.map_err(read_error)?;
        log.feed(&line, started.elapsed().as_secs_f64());
        on_line(&line);
    }
    let status = child.wait().map_err(read_error)?;
    Ok((status.success(), log))
}

/// `buildah push` of each tag; the last digest becomes the build's metadata, as buildx's
/// metadata file names it (`containerimage.digest`).
fn push(
    program: &str,
    config: &Config,
    files: &RunFiles,
    on_line: &mut impl FnMut(&str),
) -> Result<(), String> {
    let digestfile = files.metadata.with_extension("digest");
    for tag in &config.build.tags {
        let argv = argv::push_argv(tag, &digestfile.to_string_lossy());
        on_line(&format!("regcache: {program} push {tag}"));
        let out = Command::new(program)
            .args(&argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not start `{program} push`: {e}"))?;
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            on_line(line);
        }
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            let last = said.lines().last().unwrap_or("no message");
            return Err(format!("pushing {tag} failed: {last}"));
        }
    }
    if let Ok(digest) = std::fs::read_to_string(&digestfile) {
        let metadata = serde_json::json!({
            "containerimage.digest": digest.trim(),
            "image.name": config.build.tags.join(","),
        });
        // A metadata file that cannot be written only loses the `digest` output.
        let _ = std::fs::write(&files.metadata, metadata.to_string());
    }
    Ok(())
}

/// `regcache stats` of a saved buildah log: the repositories are the ones it names.
pub fn read_log(source: impl BufRead) -> io::Result<BuildStats> {
    let mut log = BuildahLog::default();
    for line in source.lines() {
        log.feed(&line?, 0.0);
    }
    let (sources, target) = log.repositories();
    Ok(log.stats(&sources, target.as_deref()))
}

/// A fix for failures that come from the setup rather than the Dockerfile.
fn diagnose(program: &str, text: Option<&str>) -> Option<String> {
    let text = text?;
    if text.contains("kernel does not support overlay")
        || text.contains("'overlay' is not supported")
    {
        return Some(format!(
            "{program}'s storage driver does not work here. Use vfs storage: set STORAGE_DRIVER=vfs (or storage.conf's driver = \"vfs\")"
        ));
    }
    if text.contains("error running container") && text.contains("unshare") {
        return Some(format!(
            "{program} cannot create namespaces on this runner. Run RUN steps in chroot isolation: set BUILDAH_ISOLATION=chroot"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_of_buildah_and_podman() {
        assert_eq!(
            parse_version(
                "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n"
            ),
            Some((1, 28))
        );
        assert_eq!(parse_version("podman version 4.3.1\n"), Some((4, 3)));
        assert_eq!(parse_version("bash: buildah: command not found"), None);
    }

    #[test]
    fn the_retry_drops_only_the_cache_flags() {
        let argv: Vec<String> = [
            "build",
            "--layers",
            "--cache-from",
            "r/a",
            "--cache-to",
            "r/a",
            "--tag",
            "t",
            ".",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            without_cache(&argv),
            ["build", "--layers", "--tag", "t", "."]
        );
        assert_eq!(values_of(&argv, "--cache-from"), ["r/a"]);
    }

    #[test]
    fn setup_failures_name_the_fix() {
        assert!(
            diagnose("buildah", Some("kernel does not support overlay fs: ..."))
                .unwrap()
                .contains("STORAGE_DRIVER=vfs")
        );
        assert_eq!(
            diagnose("buildah", Some("building at STEP \"RUN x\"")),
            None
        );
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let config = crate::config::validate(&crate::inputs::RawInputs::default()).unwrap();
        let files = RunFiles {
            metadata: "/nonexistent/m".into(),
            iidfile: "/nonexistent/i".into(),
            secrets: vec![],
        };
        let err = run("/nonexistent/buildah", &config, &[], &files, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("could not start `/nonexistent/buildah`"),
            "{err}"
        );
    }
}
