//! The cache's own vocabulary, pure: the `--cache-from`/`--cache-to` entries (`entries`), the
//! repository's settings and its policy file (`settings`, `policy_file`), the tag scheme both
//! ways (`tags`), the decision of which tags a build reads and writes for each CI event
//! (`decision`), and branch names as tag parts (`slug`).

pub mod decision;
pub mod entries;
pub mod export;
pub mod policy_file;
pub mod settings;
pub mod slug;
pub mod tags;
