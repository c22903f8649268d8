//! `regcache plan`: the chain of the build up to its plan (config, decision, probe when asked,
//! cache entries), printed for a person, as JSON, or as a buildx bake fragment; nothing is built.

use std::io::Write;

use super::build::{Prepared, Purpose, prepare};
use super::{Context, print};
use crate::cache::entries::CacheEntry;
use crate::error::Error;
use crate::inputs::RawInputs;
use crate::platform::Log;

/// How `regcache plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
    /// A buildx bake file fragment (JSON) for one target.
    Bake,
}

/// What `regcache plan` was asked.
pub struct PlanRequest {
    pub raw: RawInputs,
    pub format: PlanFormat,
    pub bake_target: Option<String>,
    pub probe: bool,
}

pub fn plan<W: Write>(ctx: &Context, request: &PlanRequest, log: &mut Log<W>) -> Result<(), Error> {
    let purpose = Purpose::Plan {
        probe: request.probe,
    };
    let prepared = prepare(ctx, &request.raw, purpose, log)?;
    print(&plan_text(
        &prepared,
        request.format,
        request.bake_target.as_deref(),
    ))
}

/// `regcache plan`: the decided refs and flags, without building.
fn plan_text(prepared: &Prepared, format: PlanFormat, bake_target: Option<&str>) -> String {
    let cache = &prepared.cache_entries;
    let cache_from: Vec<String> = cache.from.iter().map(CacheEntry::to_csv).collect();
    let cache_to: Vec<String> = cache.to.iter().map(CacheEntry::to_csv).collect();
    let selection = &prepared.selection;
    match format {
        PlanFormat::Json => format!(
            "{:#}\n",
            serde_json::json!({
                "policy": prepared.settings.kind.to_string(),
                "reason": prepared.decision.reason,
                "read": selection.candidates.iter().map(|c| &c.reference).collect::<Vec<_>>(),
                "write": selection.refs.write,
                "cache-source": selection.source(),
                "cache-from": cache_from,
                "cache-to": cache_to,
            })
        ),
        PlanFormat::Bake => format!(
            "{:#}\n",
            serde_json::json!({ "target": { bake_target.unwrap_or("default"): { "cache-from": cache_from, "cache-to": cache_to } } })
        ),
        PlanFormat::Human => {
            let mut text = format!(
                "policy: {} ({})\n",
                prepared.settings.kind, prepared.decision.reason
            );
            for candidate in &selection.candidates {
                text += &format!("read:  {}\n", candidate.describe());
            }
            text += &format!(
                "write: {}\n",
                selection.refs.write.as_deref().unwrap_or("nothing")
            );
            for f in &cache_from {
                text += &format!("--cache-from {f}\n");
            }
            for t in &cache_to {
                text += &format!("--cache-to {t}\n");
            }
            text
        }
    }
}
