//! `regcache history`: the last builds that wrote a cache, from the build record beside it: a
//! sparkline and a line per build, or the runs as JSON.

use super::records::{ReadRecord, read_record};
use super::{Context, pretty_json, print, registry_for};
use crate::args::Format;
use crate::error::Error;
use crate::record::{BuildRecord, history};

/// The record stored beside `reference`, or an error saying there is none.
pub(super) fn stored_record(
    ctx: &Context,
    reference: &str,
    insecure: bool,
) -> Result<ReadRecord, Error> {
    read_record(&registry_for(ctx, reference, insecure), reference)?
        .ok_or_else(|| Error::Registry {
            reference: reference.to_owned(),
            message: format!(
                "has no build record (no tag {}): it was written by buildx alone, by a regcache before build records, or with build-record: false",
                crate::cache::tags::record_tag(reference.rsplit(':').next().unwrap_or_default())
            ),
        })
}

pub fn history(
    ctx: &Context,
    reference: &str,
    insecure: bool,
    format: Format,
) -> Result<(), Error> {
    let stored = stored_record(ctx, reference, insecure)?;
    print(&match format {
        Format::Json => pretty_json(&stored.record.history),
        Format::Human => human(reference, &stored.record, stored.current),
    })
}

/// The sparkline, then a line per build, oldest first. The record is the registry's word:
/// each line is escaped.
fn human(reference: &str, record: &BuildRecord, current: bool) -> String {
    let mut text = crate::escape::one_line(&format!(
        "{reference}: {}",
        history::log_line(&record.history).unwrap_or_else(|| "no builds recorded".into())
    ));
    text.push('\n');
    if !current {
        text += "(the record describes an earlier cache of this tag: it was written again without a record)\n";
    }
    text += &format!(
        "{:<20}  {:<12}  {:<20}  {:>12}  {:>9}  {:>10}\n",
        "time", "commit", "event", "cached", "build", "cache size"
    );
    for run in &record.history {
        let line = format!(
            "{:<20}  {:<12}  {:<20}  {:>12}  {:>7.1} s  {:>10}",
            run.time,
            run.commit.as_deref().unwrap_or("-"),
            run.event,
            format!(
                "{}/{} ({:.0}%)",
                run.cached_steps,
                run.total_steps,
                run.hit_ratio * 100.0
            ),
            run.build_seconds,
            run.cache_size.map(history::human_bytes).unwrap_or_default()
        );
        text += &crate::escape::one_line(&line);
        text.push('\n');
    }
    text
}
