//! The per-caller cost budget (GitHub/Shopify style): points per window, charged per
//! operation with its estimated cost and refunded down to its actual cost. Keyed by user
//! when authenticated, by client IP otherwise.
//!
//! One trait, two stores: in-process (the embedded default, one replica) and Redis (every
//! replica draws on the same balance through one atomic script).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A caller's budget after a charge, a refund or a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetStatus {
    /// Points per window.
    pub limit: u32,
    /// Points charged by this request (after any refund).
    pub cost: u32,
    /// Points left in the window.
    pub remaining: u32,
    /// When the window refills.
    pub reset_at: DateTime<Utc>,
    /// False when the charge did not fit (nothing was charged).
    pub allowed: bool,
}

/// What a request asks of a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Take these points if they fit; nothing otherwise.
    Charge(u32),
    /// Give these points back (an estimate that turned out too high).
    Refund(u32),
    /// Only look.
    Peek,
}

/// A store of budgets. Callers use the `charge`, `refund` and `peek` methods of
/// `dyn Budget`, which settle in process when the store can and wait only when it cannot.
#[async_trait::async_trait]
pub trait Budget: Send + Sync + 'static {
    /// Settles `op` at once when this store can without waiting (no round trip, no lock
    /// held by another request); `None` leaves it to [`Budget::settle`].
    fn try_settle(&self, key: &str, op: Op) -> Option<BudgetStatus>;
    /// Settles `op`, waiting for whatever it needs.
    async fn settle(&self, key: &str, op: Op) -> BudgetStatus;
}

impl dyn Budget {
    // Not trait methods: an `async_trait` call boxes its future, and on the response
    // cache's hit path that box (and the copy of the future into it) was a measurable
    // part of the answer; the in-process answer needs neither.
    async fn apply(&self, key: &str, op: Op) -> BudgetStatus {
        match self.try_settle(key, op) {
            Some(status) => status,
            None => self.settle(key, op).await,
        }
    }

    /// Charges `cost` points to `key` if they fit; charges nothing otherwise.
    pub async fn charge(&self, key: &str, cost: u32) -> BudgetStatus {
        self.apply(key, Op::Charge(cost)).await
    }

    /// Gives `points` back to `key` (an estimate that turned out too high).
    pub async fn refund(&self, key: &str, points: u32) -> BudgetStatus {
        self.apply(key, Op::Refund(points)).await
    }

    /// The budget of `key` without charging.
    pub async fn peek(&self, key: &str) -> BudgetStatus {
        self.apply(key, Op::Peek).await
    }
}

struct Window {
    started: DateTime<Utc>,
    used: u32,
}

/// In-process fixed-window budgets.
pub struct LocalBudget {
    limit: u32,
    window: chrono::Duration,
    windows: Mutex<HashMap<String, Window>>,
}

impl LocalBudget {
    /// `limit` points per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::seconds(60)),
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn with_window(
        &self,
        key: &str,
        f: impl FnOnce(&mut Window, u32) -> (u32, bool),
    ) -> BudgetStatus {
        let now = Utc::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            // Bound memory under an IP flood: expired windows carry no information.
            let window = self.window;
            windows.retain(|_, w| now - w.started < window);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            used: 0,
        });
        if now - window.started >= self.window {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        let (cost, allowed) = f(window, self.limit);
        BudgetStatus {
            limit: self.limit,
            cost,
            remaining: self.limit.saturating_sub(window.used),
            reset_at: window.started + self.window,
            allowed,
        }
    }

    /// Settles `op`; in process, so never waits.
    fn apply(&self, key: &str, op: Op) -> BudgetStatus {
        self.with_window(key, |window, limit| match op {
            Op::Charge(cost) => {
                let allowed = window.used.saturating_add(cost) <= limit;
                if allowed {
                    window.used += cost;
                }
                (cost, allowed)
            }
            Op::Refund(points) => {
                window.used = window.used.saturating_sub(points);
                (0, true)
            }
            Op::Peek => (0, true),
        })
    }
}

#[async_trait::async_trait]
impl Budget for LocalBudget {
    fn try_settle(&self, key: &str, op: Op) -> Option<BudgetStatus> {
        Some(self.apply(key, op))
    }

    async fn settle(&self, key: &str, op: Op) -> BudgetStatus {
        self.apply(key, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_until_the_budget_is_spent_and_refunds() {
        let budget: &dyn Budget = &LocalBudget::new(3, Duration::from_secs(60));
        assert_eq!(budget.charge("a", 2).await.remaining, 1);
        let refused = budget.charge("a", 2).await;
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 1);
        assert_eq!(budget.refund("a", 1).await.remaining, 2);
        assert_eq!(budget.peek("b").await.remaining, 3);
    }
}
