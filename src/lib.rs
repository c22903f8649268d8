//! regcache: build container images with a BuildKit cache kept in the registry, and report
//! what the cache did.
//!
//! Data flows one way: inputs → validated config → plan (refs, argv) → run → stats → report.

pub mod platform;
pub mod progress;
pub mod stats;
pub mod cache_options;
pub mod config;
pub mod inputs;
pub mod reference;
