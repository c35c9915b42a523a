//! When to run a DataLoader batch: as soon as the request can make no more progress.
//!
//! async-graphql's DataLoader starts a batch a fixed delay after the first key. A wide
//! query can take longer than any fixed delay to register all keys of one level (nested
//! `FuturesUnordered` sets yield every few items while the batch already runs on another
//! worker thread), so one level splits into several statements, more as pages grow: an N+1
//! in slow motion. The gate replaces the timer with a precise rule:
//!
//! 1. A batch is *admitted* when the request future has returned `Pending` without waking
//!    itself (every branch waits for data) and no batch of the request is running. Batches
//!    admitted together form one level.
//! 2. Until every admitted batch has *taken its keys* (entered [`Loader::load`]), the
//!    request is not polled, so a fast batch's results cannot feed next-level keys into a
//!    slow sibling that has not started yet.
//!
//! The statement count of a query is then a function of its shape alone, and no batch waits
//! on a timer. [`Tracked`] wraps the request future; the loaders' spawner queues each batch
//! with [`Gate::enqueue`]; each loader calls [`batch_started`] first thing.
//!
//! With tracing on, each admitted batch runs in a `dataloader.batch` span (loader name, key
//! count) whose parent is the span that queued it, so its SQL nests under it.
//!
//! [`Loader::load`]: async_graphql::dataloader::Loader::load

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Upper bound on how long a batch waits for admission. A batch legitimately waits as long
/// as the slowest batch of the level before it, so this is only a safety net against a bug
/// in the gate: the batch then runs anyway rather than stall the request.
const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// The request future returned `Pending` and nothing has woken it since.
    idle: bool,
    /// The request future finished or was dropped.
    closed: bool,
    /// Batches admitted and not finished.
    running: usize,
    /// Admitted batches that have not taken their keys yet.
    untaken: usize,
    /// Batches waiting for admission.
    waiting: Vec<oneshot::Sender<()>>,
    /// Wakes of the request future so far.
    wakes: u64,
    /// The request's waker while it is held back for `untaken` batches.
    parked: Option<Waker>,
}

/// The per-request batching gate.
#[derive(Default)]
pub struct Gate {
    state: Mutex<State>,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the counters are still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits every waiting batch when the request is stuck on data.
    fn release_if_stuck(state: &mut State) {
        if (state.idle && state.running == 0) || state.closed {
            for waiter in state.waiting.drain(..) {
                if waiter.send(()).is_ok() {
                    state.running += 1;
                    state.untaken += 1;
                }
            }
        }
    }

    /// Queues a batch for admission. Called synchronously by the loaders' spawner inside
    /// the request's poll, so every batch of a level is queued before that poll ends.
    pub fn enqueue(self: &Arc<Self>) -> Admission {
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        state.waiting.push(tx);
        Self::release_if_stuck(&mut state);
        Admission {
            gate: self.clone(),
            rx,
            // The batch runs in a task of its own: keep the trace context it was queued
            // from (the request's execute span) as its parent.
            parent: crate::telemetry::in_trace().then(opentelemetry::Context::current),
        }
    }
}

/// A batch waiting for admission.
pub struct Admission {
    gate: Arc<Gate>,
    rx: oneshot::Receiver<()>,
    parent: Option<opentelemetry::Context>,
}

impl Admission {
    /// Waits for admission, then runs `batch` marked as this request's running batch.
    pub async fn run(self, batch: impl Future<Output = ()>) {
        if tokio::time::timeout(MAX_WAIT, self.rx).await.is_err() {
            tracing::warn!("a DataLoader batch waited {MAX_WAIT:?} for admission");
            let mut state = self.gate.lock();
            state.running += 1;
            state.untaken += 1;
        }
        // Made after admission, so the span times the batch's work, not its wait.
        let span = match self.parent {
            Some(parent) => {
                let span = tracing::info_span!(
                    target: crate::telemetry::TARGET,
                    parent: None,
                    "dataloader.batch",
                    dataloader.name = Empty,
                    dataloader.keys = Empty,
                );
                let _ = span.set_parent(parent);
                span
            }
            None => Span::none(),
        };
        let running = Arc::new(Running {
            gate: self.gate,
            started: AtomicBool::new(false),
            span: span.clone(),
        });
        CURRENT.scope(running, batch.instrument(span)).await;
    }
}

/// A running batch; when it finishes it may admit the next level.
struct Running {
    gate: Arc<Gate>,
    started: AtomicBool,
    /// The batch's span (disabled when tracing is off).
    span: Span,
}

impl Running {
    /// The batch has taken its keys: the request may run again once all have.
    fn mark_started(&self) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut state = self.gate.lock();
        state.untaken = state.untaken.saturating_sub(1);
        if state.untaken == 0 {
            if let Some(waker) = state.parked.take() {
                waker.wake();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A batch that found no keys never reaches a loader; it is done taking all the same.
        self.mark_started();
        let mut state = self.gate.lock();
        state.running = state.running.saturating_sub(1);
        Gate::release_if_stuck(&mut state);
    }
}

tokio::task_local! {
    static CURRENT: Arc<Running>;
}

/// Called by every loader as it starts with its `keys`: its batch has taken its keys (the
/// request may go on), and the batch size is recorded (in the metrics and on the batch's
/// span). Outside a gated batch (subscriptions) only the metric is recorded.
pub fn batch_started(loader: &'static str, keys: usize) {
    let _ = CURRENT.try_with(|running| {
        running.mark_started();
        running.span.record("dataloader.name", loader);
        running.span.record("dataloader.keys", keys);
    });
    if let Some(metrics) = crate::metrics::get() {
        metrics
            .batch_size
            .with_label_values(&[loader])
            .observe(keys as f64);
    }
}

/// Wakes the request and records that it has work to do.
struct TrackingWaker {
    gate: Arc<Gate>,
    inner: Waker,
}

impl Wake for TrackingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        {
            let mut state = self.gate.lock();
            state.idle = false;
            state.wakes += 1;
        }
        self.inner.wake_by_ref();
    }
}

/// A request future observed by its gate.
pub struct Tracked<F> {
    inner: Pin<Box<F>>,
    gate: Arc<Gate>,
}

impl<F: Future> Tracked<F> {
    /// Wraps `future`, reporting to `gate`.
    pub fn new(future: F, gate: Arc<Gate>) -> Self {
        Self {
            inner: Box::pin(future),
            gate,
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let wakes_before = {
            let mut state = self.gate.lock();
            if state.untaken > 0 {
                // Hold the request until admitted batches have taken their keys.
                state.parked = Some(cx.waker().clone());
                return Poll::Pending;
            }
            state.idle = false;
            state.wakes
        };
        let waker = Waker::from(Arc::new(TrackingWaker {
            gate: self.gate.clone(),
            inner: cx.waker().clone(),
        }));
        let result = self.inner.as_mut().poll(&mut Context::from_waker(&waker));
        let mut state = self.gate.lock();
        match result {
            Poll::Ready(_) => state.closed = true,
            // Woken during its own poll (a yielding `FuturesUnordered`), it runs again at
            // once: it is still registering keys, so it is not idle.
            Poll::Pending if state.wakes == wakes_before => state.idle = true,
            Poll::Pending => {}
        }
        Gate::release_if_stuck(&mut state);
        result
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.closed = true;
        Gate::release_if_stuck(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_wait_until_the_request_is_stuck_then_run_as_one_level() {
        let gate = Arc::new(Gate::default());
        let (tx, rx) = oneshot::channel::<()>();
        // The "request": queues two batches, then waits for data.
        let g = gate.clone();
        let request = Tracked::new(
            async move {
                let first = g.enqueue();
                let second = g.enqueue();
                let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let (r1, r2) = (runs.clone(), runs.clone());
                let a = tokio::spawn(first.run(async move {
                    batch_started("test", 1);
                    r1.fetch_add(1, Ordering::SeqCst);
                }));
                let b = tokio::spawn(second.run(async move {
                    batch_started("test", 1);
                    r2.fetch_add(1, Ordering::SeqCst);
                }));
                // Not admitted while this poll is still running.
                tokio::task::yield_now().await;
                let _ = rx.await;
                a.await.unwrap();
                b.await.unwrap();
                runs.load(Ordering::SeqCst)
            },
            gate.clone(),
        );
        let handle = tokio::spawn(request);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            gate.lock().running,
            0,
            "batches finished once the request waited"
        );
        tx.send(()).unwrap();
        assert_eq!(handle.await.unwrap(), 2);
    }
}
