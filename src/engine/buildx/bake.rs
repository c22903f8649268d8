//! `docker buildx bake`: the definition printed first, then the run, its progress read per
//! target (`progress::ByTarget`) into each target's statistics.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};

use super::progress::ByTarget;
use super::{PROGRAM, Place, diagnose, solve, stats};
use crate::error::Error;
use crate::stats::BuildStats;

/// A printed definition larger than this is not one regcache reads.
const PRINT_MAX: u64 = 16 * 1024 * 1024;
/// What is kept of buildx's error output when `--print` fails.
const ERROR_MAX: u64 = 64 * 1024;

/// What one bake run did, per target.
#[derive(Debug)]
pub struct BakeFinished {
    pub succeeded: bool,
    pub seconds: f64,
    pub targets: BTreeMap<String, BuildStats>,
    /// A fix, when the failure comes from the setup rather than the build.
    pub setup_problem: Option<String>,
    /// `ERROR: …`, or the last line buildx printed, when it failed.
    pub error: Option<String>,
}

/// `docker buildx bake … --print`: the definition as JSON, or buildx's error (its last
/// `ERROR:` line, else its last line), capped, for the one line that refuses the inputs.
pub fn print(argv: &[String], place: &Place<'_>) -> Result<Result<String, String>, Error> {
    let mut command = Command::new(PROGRAM);
    command
        .args(argv)
        .envs(place.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = place.dir {
        command.current_dir(dir);
    }
    let read_error = |source| Error::EngineRead {
        program: PROGRAM.to_owned(),
        source,
    };
    let mut child = command.spawn().map_err(|source| Error::EngineStart {
        program: PROGRAM.to_owned(),
        source,
    })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let kept = (&mut stderr).take(ERROR_MAX).read_to_end(&mut text);
        // The rest is drained so that buildx never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept.map(|_| text)
    });
    let mut out = Vec::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    stdout
        .take(PRINT_MAX + 1)
        .read_to_end(&mut out)
        .map_err(read_error)?;
    if out.len() as u64 > PRINT_MAX {
        let _ = child.kill();
    }
    let status = child.wait().map_err(read_error)?;
    let errors = errors
        .join()
        .expect("reading stderr never panics")
        .map_err(read_error)?;
    if out.len() as u64 > PRINT_MAX {
        return Ok(Err(format!(
            "the definition buildx printed is larger than {} MiB",
            PRINT_MAX / 1024 / 1024
        )));
    }
    if status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out).into_owned()));
    }
    let errors = String::from_utf8_lossy(&errors);
    let lines: Vec<&str> = errors
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("ERROR:"))
        .or(lines.last())
        .map_or("buildx printed nothing", |l| l);
    Ok(Err(crate::escape::one_line(line)))
}

/// The bake run, its progress split over `targets` (the definition's, in its order).
pub fn run(
    argv: &[String],
    place: &Place<'_>,
    targets: &[String],
    builder: Option<&str>,
    mut on_line: impl FnMut(&str),
) -> Result<BakeFinished, Error> {
    let mut progress = ByTarget::new(targets);
    let (succeeded, seconds) = solve(PROGRAM, argv, place, &mut progress, &mut on_line)?;
    let tail: Vec<String> = progress.whole.text_tail.iter().cloned().collect();
    let error = (!succeeded).then(|| {
        progress
            .whole
            .final_error
            .clone()
            .or_else(|| tail.iter().rev().find(|l| l.starts_with("ERROR:")).cloned())
            .or_else(|| tail.last().cloned())
            .unwrap_or_else(|| "bake failed".into())
    });
    Ok(BakeFinished {
        succeeded,
        seconds,
        targets: progress
            .per_target()
            .map(|(name, p)| (name.clone(), stats::compute(&p)))
            .collect(),
        setup_problem: (!succeeded).then(|| diagnose(&tail, builder)).flatten(),
        error,
    })
}
