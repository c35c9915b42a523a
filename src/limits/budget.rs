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

/// A store of budgets.
#[async_trait::async_trait]
pub trait Budget: Send + Sync + 'static {
    /// Charges `cost` points to `key` if they fit; charges nothing otherwise.
    async fn charge(&self, key: &str, cost: u32) -> BudgetStatus;
    /// Gives `points` back to `key` (an estimate that turned out too high).
    async fn refund(&self, key: &str, points: u32) -> BudgetStatus;
    /// The budget of `key` without charging.
    async fn peek(&self, key: &str) -> BudgetStatus;
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
}

#[async_trait::async_trait]
impl Budget for LocalBudget {
    async fn charge(&self, key: &str, cost: u32) -> BudgetStatus {
        self.with_window(key, |window, limit| {
            let allowed = window.used.saturating_add(cost) <= limit;
            if allowed {
                window.used += cost;
            }
            (cost, allowed)
        })
    }

    async fn refund(&self, key: &str, points: u32) -> BudgetStatus {
        self.with_window(key, |window, _| {
            window.used = window.used.saturating_sub(points);
            (0, true)
        })
    }

    async fn peek(&self, key: &str) -> BudgetStatus {
        self.with_window(key, |_, _| (0, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_until_the_budget_is_spent_and_refunds() {
        let budget = LocalBudget::new(3, Duration::from_secs(60));
        assert_eq!(budget.charge("a", 2).await.remaining, 1);
        let refused = budget.charge("a", 2).await;
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 1);
        assert_eq!(budget.refund("a", 1).await.remaining, 2);
        assert_eq!(budget.peek("b").await.remaining, 3);
    }
}
