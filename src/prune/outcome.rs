//! What prune did (or, in a dry run, would do), and its three renderings: the log's lines,
//! the step outputs, the job summary. The registry's words in it are outside text, escaped
//! where they leave (`crate::escape`).

use serde::Serialize;

use super::{Deletion, Kept};

/// A deletion that was tried and failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(flatten)]
    pub deletion: Deletion,
    pub error: String,
}

/// What prune did (or, in a dry run, would do) in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub repository: String,
    pub dry_run: bool,
    pub deleted: Vec<Deletion>,
    /// In a dry run: what `--delete` would delete.
    pub would_delete: Vec<Deletion>,
    pub kept: Vec<Kept>,
    pub failed: Vec<Failed>,
    /// Why nothing was deleted, when something stopped it.
    pub blocked: Option<String>,
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn tags_text(tags: &[String]) -> String {
    if tags.is_empty() {
        "(untagged)".to_owned()
    } else {
        tags.join(", ")
    }
}

/// A line of the plan as printed: the registry's words (errors, tags) are outside text.
fn line(text: String) -> String {
    format!("{}\n", crate::escape::one_line(&text))
}

fn age_text(days: Option<i64>) -> String {
    days.map_or("age unknown".to_owned(), |d| format!("{d} days old"))
}

impl Outcome {
    /// The plan and what happened, a line per digest or tag, for the log; each line is one
    /// line whatever the registry said.
    pub fn human(&self) -> String {
        let mut text = line(format!(
            "prune {}{}",
            self.repository,
            if self.dry_run {
                " (dry run: nothing is deleted; --delete deletes)"
            } else {
                ""
            }
        ));
        let deletion = |verb: &str, d: &Deletion| {
            line(format!(
                "{verb:<13} {}  {}  {}: {}",
                short(&d.digest),
                tags_text(&d.tags),
                age_text(d.age_days),
                d.why
            ))
        };
        for d in &self.would_delete {
            text += &deletion("would delete", d);
        }
        for d in &self.deleted {
            text += &deletion("deleted", d);
        }
        for f in &self.failed {
            text += &line(format!(
                "{:<13} {}  {}: {}",
                "FAILED",
                short(&f.deletion.digest),
                tags_text(&f.deletion.tags),
                f.error
            ));
        }
        for k in &self.kept {
            text += &line(format!(
                "{:<13} {}  {}: {}",
                "keep",
                short(&k.digest),
                k.tag.as_deref().unwrap_or("(untagged)"),
                k.reason
            ));
        }
        if let Some(why) = &self.blocked {
            text += &line(format!("BLOCKED: {why}"));
        }
        text += &format!(
            "{} {}, {} kept, {} failed\n",
            if self.dry_run {
                self.would_delete.len()
            } else {
                self.deleted.len()
            },
            if self.dry_run {
                "would be deleted"
            } else {
                "deleted"
            },
            self.kept.len(),
            self.failed.len()
        );
        text
    }

    /// Step outputs: counts, and the whole outcome as JSON.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("deleted", self.deleted.len().to_string()),
            ("would-delete", self.would_delete.len().to_string()),
            ("kept", self.kept.len().to_string()),
            ("failed", self.failed.len().to_string()),
            (
                "result",
                serde_json::to_string(self).expect("the outcome serialises"),
            ),
        ]
    }

    /// The job summary: what went (or would go), what failed, and how many stayed.
    pub fn summary_markdown(&self) -> String {
        use crate::escape::{code, code_in_table, markdown};
        let mut md = format!("### regcache prune {}\n\n", code(&self.repository));
        let rows: Vec<(&str, &Deletion, &str)> = self
            .deleted
            .iter()
            .map(|d| ("deleted", d, d.why.as_str()))
            .chain(
                self.would_delete
                    .iter()
                    .map(|d| ("would delete", d, d.why.as_str())),
            )
            .chain(
                self.failed
                    .iter()
                    .map(|f| ("failed", &f.deletion, f.error.as_str())),
            )
            .collect();
        if !rows.is_empty() {
            md += "| result | tags | digest | age | why |\n|---|---|---|---|---|\n";
            for (result, d, why) in rows {
                md += &format!(
                    "| {result} | {} | {} | {} | {} |\n",
                    markdown(&tags_text(&d.tags)),
                    code_in_table(short(&d.digest)),
                    age_text(d.age_days),
                    markdown(why)
                );
            }
        }
        if let Some(why) = &self.blocked {
            md += &format!("\n**Nothing deleted:** {}\n", markdown(why));
        }
        md += &format!("\n{} tags kept.\n", self.kept.len());
        md
    }
}
