//! Draining at shutdown: once a shutdown signal arrived, [`Drain`] says so (new MCP calls
//! are then refused with 503, `http::shutdown`) and waits, at most a grace period, for the
//! calls already in flight to finish. It holds no requests itself: a call in flight holds a
//! [`Entered`] token for as long as it runs. Nothing here knows HTTP.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// Whether the server is draining, and the calls still in flight. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Drain {
    draining: CancellationToken,
    in_flight: TaskTracker,
}

/// Held by a call in flight; dropping it ends the call for the drain.
#[derive(Debug)]
pub struct Entered(#[allow(dead_code)] TaskTrackerToken);

impl Drain {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once [`Drain::drain`] began: new calls must be refused.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Counts a call as in flight, or `None` when the server is draining.
    pub fn enter(&self) -> Option<Entered> {
        let entered = Entered(self.in_flight.token());
        // Checked after taking the token: a call that slips in as the drain begins is
        // either refused here or waited for.
        (!self.is_draining()).then_some(entered)
    }

    /// How many calls are in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Refuses new calls from now on.
    pub fn begin(&self) {
        self.draining.cancel();
        self.in_flight.close();
    }

    /// Waits until the calls in flight have finished, at most `grace`; true when they all
    /// finished in time. Only meaningful after [`Drain::begin`].
    pub async fn wait(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.in_flight.wait())
            .await
            .is_ok()
    }

    /// [`Drain::begin`], then [`Drain::wait`].
    pub async fn drain(&self, grace: Duration) -> bool {
        self.begin();
        self.wait(grace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that entered before the drain is waited for; once draining, no call enters;
    /// a call still running at the end of the grace period makes the drain report it.
    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_calls_in_flight_within_the_grace() {
        let drain = Drain::new();
        let call = drain.enter().expect("not draining yet");
        assert_eq!(drain.in_flight(), 1);
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.drain(Duration::from_secs(20)).await }
        });
        tokio::task::yield_now().await;
        assert!(drain.is_draining());
        assert!(drain.enter().is_none(), "no new call while draining");
        drop(call);
        assert!(waiting.await.unwrap(), "finished within the grace");

        let late = Drain::new();
        let _stuck = late.enter().unwrap();
        assert!(!late.drain(Duration::from_secs(20)).await, "grace ran out");
    }
}
