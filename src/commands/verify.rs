//! `regcache verify`: whether every blob of a cache exists (and with `--deep`, holds what its
//! annotations say), printed a line per blob or as JSON; exit 1 when something is wrong.

use super::{Context, pretty_json, print, registry_for};
use crate::args::Format;
use crate::error::Error;
use crate::registry::{RecordCheck, Registry};

/// The build record beside a cache named by tag: read, decoded and matched to the cache.
fn record_check(registry: &Registry<'_>, reference: &str) -> RecordCheck {
    if reference.contains('@') {
        return RecordCheck::NotChecked;
    }
    match super::records::read_record(registry, reference) {
        Ok(None) => RecordCheck::None,
        Ok(Some(stored)) if stored.current => RecordCheck::Current {
            steps: stored.record.steps.len(),
            builds: stored.record.history.len(),
        },
        Ok(Some(_)) => RecordCheck::Earlier,
        Err(e) => RecordCheck::Unreadable {
            problem: e.to_string(),
        },
    }
}

/// What `regcache verify` was asked.
pub struct VerifyRequest {
    pub reference: String,
    /// Stream every layer through its decompressor against its uncompressed digest.
    pub deep: bool,
    pub insecure: bool,
    pub format: Format,
}

pub fn verify(ctx: &Context, request: &VerifyRequest) -> Result<(), Error> {
    let reference = &request.reference;
    let registry = registry_for(ctx, reference, request.insecure);
    let mut verification = registry.verify(reference, request.deep)?;
    verification.record = record_check(&registry, reference);
    print(&match request.format {
        Format::Json => pretty_json(&verification),
        Format::Human => verification.human(),
    })?;
    match verification.problem() {
        Some(problem) => Err(Error::Registry {
            reference: reference.clone(),
            message: problem,
        }),
        None => Ok(()),
    }
}
