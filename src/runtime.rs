//! The one async runtime, at the bottom of the house: the registry and the GitHub API block
//! on it, and nothing here depends on any other room.

use std::future::Future;
use std::sync::OnceLock;

/// The one async runtime, started on first use: registry and API calls block on it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime starts")
        })
        .block_on(future)
}
