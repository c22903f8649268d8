//! The one async runtime, at the bottom of the house, and the deadline every network request
//! has: the registry and the GitHub API block on it, and nothing here depends on any other
//! room.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// From connecting to the last byte of the body: the longest any request waits (a registry
/// that trickles bytes, an API that stalls), apart from a layer stream sized by its length.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

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
