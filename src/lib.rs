//! regcache: build container images with a BuildKit cache kept in the registry, and report
//! what the cache did.
//!
//! Data flows one way: inputs → validated config → plan (refs, argv) → run → stats → report.
//!
//! | room | job |
//! |---|---|
//! | `inputs` | the table of inputs; raw values from flags or `INPUT_*` |
//! | `config` | validation into one typed `Config` |
//! | `cache_options` | the `--cache-from`/`--cache-to` grammar |
//! | `reference` | image refs and the default cache tag |
//! | `plan` | the cache entries and the `docker buildx build` argv |
//! | `engine` | runs buildx, streams progress, explains setup failures |
//! | `progress` | rawjson and plain progress parsers, live display |
//! | `stats` | steps cached out of cacheable steps, imports, export |
//! | `report` | step outputs, job summary |
//! | `registry` | what a cache ref holds in the registry |
//! | `platform` | GitHub, GitLab and local adapters; the environment, read once |
//! | `run` | one build end to end, effects at the edge |
//! | `cli` | the command line |

pub mod cache_options;
pub mod cli;
pub mod config;
pub mod engine;
pub mod inputs;
pub mod plan;
pub mod platform;
pub mod policy;
pub mod policy_file;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod report;
pub mod run;
pub mod slug;
pub mod stats;
