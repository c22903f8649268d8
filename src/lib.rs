//! regcache: build container images with a BuildKit cache kept in the registry, and report
//! what the cache did.
//!
//! Data flows one way: inputs → validated config → plan (refs, argv) → run → stats → report.

pub mod progress;
pub mod stats;
