//! `regcache verify`: whether every blob of a cache exists (and with `--deep`, holds what its
//! annotations say), printed a line per blob or as JSON; exit 1 when something is wrong.

use super::{Context, pretty_json, print, registry_for};
use crate::error::Error;

pub fn verify(
    ctx: &Context,
    reference: &str,
    deep: bool,
    insecure: bool,
    json: bool,
) -> Result<(), Error> {
    let verification = registry_for(ctx, reference, insecure).verify(reference, deep)?;
    print(&if json {
        pretty_json(&verification)
    } else {
        verification.human()
    })?;
    match verification.problem() {
        Some(problem) => Err(Error::Registry {
            reference: reference.to_owned(),
            message: problem,
        }),
        None => Ok(()),
    }
}
