//! `regcache inspect`: what a cache ref holds, as JSON.

use super::{Context, pretty_json, print, registry_for};
use crate::error::Error;

pub fn inspect(ctx: &Context, reference: &str, insecure: bool) -> Result<(), Error> {
    let info = registry_for(ctx, reference, insecure).inspect(reference)?;
    print(&pretty_json(&info))
}
