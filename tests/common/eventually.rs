//! Waiting for what the stack does a moment later (a log line, a restarted server):
//! poll a condition until it holds or a real-time deadline passes.

use std::time::{Duration, Instant};

/// How long [`eventually`] waits.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` every 20 ms for up to 10 s of real time (the deadline holds when a
/// test pauses tokio's clock); panics naming `what` when it never held.
pub async fn eventually(what: &str, condition: impl AsyncFnMut() -> bool) {
    eventually_within(what, WAIT, condition).await
}

/// [`eventually`] with a deadline of its own.
pub async fn eventually_within(
    what: &str,
    limit: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
