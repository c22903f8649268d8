//! The last builds of a cache, as people would rather look at them: Mermaid `xychart-beta`
//! charts for a job summary (GitHub renders Mermaid blocks in Markdown, step summaries
//! included), a small table under them, and a one-line sparkline for logs. Pure.

use super::Run;
use crate::escape;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `▁▃▇` for the hit ratio of each run, oldest first.
pub fn sparkline(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| BARS[((r.hit_ratio.clamp(0.0, 1.0) * 7.0).round()) as usize])
        .collect()
}

/// One line for a log: the sparkline and the newest run in words.
pub fn log_line(runs: &[Run]) -> Option<String> {
    let last = runs.last()?;
    Some(format!(
        "cache history ({} build{}, hit ratio oldest → newest): {}  latest {:.0}% cached, {:.1} s",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        sparkline(runs),
        last.hit_ratio * 100.0,
        last.build_seconds
    ))
}

/// A run's label on a chart's x-axis and in the table: its date and time to the second
/// (`12-05 21:50:07`), the date left out when every run is of one day. Only digits and
/// separators are kept: the record is the registry's word.
fn label(run: &Run, one_day: bool) -> String {
    let time = run.time.get(5..19).unwrap_or(&run.time);
    let time = if one_day {
        time.get(6..).unwrap_or(time)
    } else {
        time
    };
    time.replace('T', " ")
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | ':'))
        .collect()
}

fn one_day(runs: &[Run]) -> bool {
    runs.windows(2)
        .all(|pair| pair[0].time.get(..10) == pair[1].time.get(..10))
}

/// Two Mermaid charts (hit ratio in %, build seconds) and a table of the runs, newest last.
pub fn markdown(runs: &[Run]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let one_day = one_day(runs);
    let labels: Vec<String> = runs
        .iter()
        .map(|r| format!("\"{}\"", label(r, one_day)))
        .collect();
    let axis = labels.join(", ");
    let ratios: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.0}", r.hit_ratio * 100.0))
        .collect();
    let seconds: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.1}", r.build_seconds))
        .collect();
    let slowest = runs.iter().map(|r| r.build_seconds).fold(1.0, f64::max);
    let mut md = format!(
        "\n#### Cache history: {} of this cache\n\n```mermaid\nxychart-beta\n    title \"Steps cached (%)\"\n    x-axis [{axis}]\n    y-axis \"cached %\" 0 --> 100\n    bar [{}]\n```\n\n```mermaid\nxychart-beta\n    title \"Build seconds\"\n    x-axis [{axis}]\n    y-axis \"seconds\" 0 --> {:.0}\n    line [{}]\n```\n\n",
        if runs.len() == 1 {
            "the first build".to_owned()
        } else {
            format!("the last {} builds", runs.len())
        },
        ratios.join(", "),
        slowest.ceil(),
        seconds.join(", ")
    );
    md += "| build | commit | event | cached | build time | cache size |\n|---|---|---|---|---|---|\n";
    for run in runs.iter().rev().take(10) {
        md += &format!(
            "| {} | {} | {} | {}/{} ({:.0}%) | {:.1} s | {} |\n",
            label(run, one_day),
            run.commit
                .as_deref()
                .map_or_else(String::new, escape::code_in_table),
            escape::markdown(&run.event),
            run.cached_steps,
            run.total_steps,
            run.hit_ratio * 100.0,
            run.build_seconds,
            run.cache_size.map(human_bytes).unwrap_or_default()
        );
    }
    if runs.len() > 10 {
        md += &format!(
            "\n{} older builds are in `regcache history`.\n",
            runs.len() - 10
        );
    }
    md
}

/// Bytes in a person's units: `1.0 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::run;

    #[test]
    fn the_sparkline_rises_with_the_hit_ratio() {
        let runs = [
            run("2026-12-01T10:00:00Z", 0.0, 9.0),
            run("2026-12-02T10:00:00Z", 0.5, 5.0),
            run("2026-12-03T10:00:00Z", 1.0, 1.0),
        ];
        assert_eq!(sparkline(&runs), "▁▅█");
        assert_eq!(
            log_line(&runs).unwrap(),
            "cache history (3 builds, hit ratio oldest → newest): ▁▅█  latest 100% cached, 1.0 s"
        );
        assert_eq!(log_line(&[]), None);
        assert!(
            log_line(&runs[..1])
                .unwrap()
                .starts_with("cache history (1 build, ")
        );
    }

    #[test]
    fn the_charts_hold_every_run_in_order() {
        let runs = [
            run("2026-12-01T10:00:00Z", 0.2, 9.04),
            run("2026-12-05T21:50:30Z", 1.0, 1.0),
        ];
        let md = markdown(&runs);
        assert!(md.contains("```mermaid\nxychart-beta\n"), "{md}");
        assert!(
            md.contains("x-axis [\"12-01 10:00:00\", \"12-05 21:50:30\"]"),
            "{md}"
        );
        assert!(md.contains("bar [20, 100]"), "{md}");
        assert!(md.contains("line [9.0, 1.0]"), "{md}");
        assert!(md.contains("y-axis \"seconds\" 0 --> 10"), "{md}");
        // The table lists the newest first.
        let newest = md.find("| 12-05 21:50:30 |").unwrap();
        let oldest = md.find("| 12-01 10:00:00 |").unwrap();
        assert!(newest < oldest);
        assert!(md.contains("| 2/10 (20%) | 9.0 s | 2.0 MiB |"), "{md}");
    }

    #[test]
    fn runs_of_one_day_are_labelled_by_their_time() {
        let runs = [
            run("2026-12-05T10:00:01Z", 0.0, 2.0),
            run("2026-12-05T10:00:09Z", 1.0, 1.0),
        ];
        assert!(
            markdown(&runs).contains("x-axis [\"10:00:01\", \"10:00:09\"]"),
            "{}",
            markdown(&runs)
        );
    }

    #[test]
    fn one_build_is_the_first() {
        let md = markdown(&[run("2026-12-05T10:00:01Z", 0.0, 2.0)]);
        assert!(
            md.contains("#### Cache history: the first build of this cache"),
            "{md}"
        );
    }

    #[test]
    fn a_hostile_time_cannot_break_out_of_the_chart() {
        let runs = [run("2026-\"]\n```<b>x</b>", 1.0, 1.0)];
        let md = markdown(&runs);
        assert!(!md.contains("<b>"), "{md}");
        assert_eq!(md.matches("```").count(), 4, "{md}");
    }

    #[test]
    fn bytes_read_in_a_persons_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1077985), "1.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        // TiB is the largest unit: a petabyte stays in it.
        assert_eq!(human_bytes(5 << 50), "5120.0 TiB");
    }
}
