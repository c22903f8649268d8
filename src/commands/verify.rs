//! `regcache verify`: whether every blob of a cache exists (and with `--deep`, holds what its
//! annotations say), printed a line per blob or as JSON; exit 1 when something is wrong.

use super::{Context, pretty_json, print, registry_for};
use crate::args::Format;
use crate::error::Error;

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
    let verification =
        registry_for(ctx, reference, request.insecure).verify(reference, request.deep)?;
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
