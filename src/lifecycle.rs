//! The process lifecycle for graceful shutdown: serving → draining (readiness fails, the
//! load balancer stops routing here, requests are still served) → stopping (no new
//! connections, in-flight requests finish, subscriptions are closed with 1001).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Shared shutdown state.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    stopping: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            stopping: watch::channel(false).0,
        }
    }
}

impl Lifecycle {
    /// Readiness turns 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Stop accepting and close long-lived connections.
    pub fn stop(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.stopping.send_replace(true);
    }

    /// Completes once [`Lifecycle::stop`] has been called.
    pub async fn stopped(&self) {
        let mut receiver = self.stopping.subscribe();
        // An error means the sender is gone, which only happens at teardown.
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }
}
