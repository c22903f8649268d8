//! `regcache stats`: the statistics of a saved progress log (rawjson, plain, or buildah's),
//! on one line or as the build's outputs (`--output-format json|dotenv`).

use std::path::Path;

use super::write_output;
use crate::config::Engine;
use crate::error::Error;
use crate::report::{OutputFormat, Report};

/// `regcache stats FILE`.
pub fn stats(file: &Path, output: Option<(OutputFormat, Option<&Path>)>) -> Result<(), Error> {
    write_stats(&stats_of_log(file)?, output)
}

/// The statistics of a saved progress log, as a report of its own (`regcache stats`).
pub(super) fn stats_of_log(path: &Path) -> Result<Report, Error> {
    let shown = path.display().to_string();
    let read = |e: std::io::Error| Error::NotProgress {
        path: shown.clone(),
        problem: e.to_string(),
    };
    let mut text = Vec::new();
    if path.as_os_str() == "-" {
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut text))
    }
    .map_err(read)?;
    let engine = Engine::of_log(&text);
    let stats = engine.read_log(text.as_slice()).map_err(read)?;
    if stats.vertices.total == 0 && stats.final_error.is_none() {
        return Err(Error::NotProgress {
            path: shown,
            problem: "holds no build progress; give a log saved from `docker buildx build --progress=rawjson` (or `plain`), or buildah's or podman's build output".into(),
        });
    }
    Ok(Report::from_log(stats))
}

/// `regcache stats` output: the report in `format`, or one line.
fn write_stats(
    report: &Report,
    output: Option<(OutputFormat, Option<&Path>)>,
) -> Result<(), Error> {
    match output {
        Some((format, file)) => write_output(&report.render(format)?, file),
        None => write_output(&report.stats_line(), None),
    }
}
