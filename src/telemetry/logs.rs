//! The log writer: lines gather in memory and reach stdout in batches, when 32 KiB have
//! piled up or every 100 ms, whichever comes first, and when telemetry shuts down.
//!
//! Why not a `write` per line: the access log writes a line per request, and a syscall per
//! line under stdout's lock cost a quarter of the CPU of an answer from the response cache.
//! Nor `tracing-appender`'s non-blocking writer: it wakes its thread for every line, which
//! on two cores cost about as much. Here a line costs a lock and a copy; order is kept.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch is written once it holds this much.
const BATCH_BYTES: usize = 32 * 1024;
/// The longest a line waits in memory.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Set once telemetry shut down: lines go straight out, nothing flushes later.
    direct: AtomicBool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is pending. Stdout is locked before the batch is let go, so batches
    /// reach it in the order they were taken.
    fn flush(&self) {
        let mut pending = self.pending();
        if pending.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let batch = std::mem::take(&mut *pending);
        drop(pending);
        // Nowhere to report a failed log write; the next batch tries again.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
    }

    fn append(&self, line: &[u8]) {
        if self.direct.load(Ordering::Relaxed) {
            let _ = std::io::stdout().lock().write_all(line);
            return;
        }
        let mut pending = self.pending();
        pending.extend_from_slice(line);
        if pending.len() >= BATCH_BYTES {
            drop(pending);
            self.flush();
        }
    }
}

/// Stdout in batches (see the module documentation).
pub struct BatchedStdout(Arc<Shared>);

/// Writes the pending lines when dropped, and every later line at once.
pub struct FlushGuard(Arc<Shared>);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.direct.store(true, Ordering::Relaxed);
        self.0.flush();
    }
}

/// The writer, and the guard that writes what is left when telemetry shuts down. A thread
/// writes the pending lines every [`FLUSH_INTERVAL`] until then.
pub fn batched_stdout() -> (BatchedStdout, FlushGuard) {
    let shared = Arc::new(Shared::default());
    let flusher = Arc::downgrade(&shared);
    let spawned = std::thread::Builder::new()
        .name("gatehouse-logs".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_INTERVAL);
            match flusher.upgrade() {
                Some(shared) if !shared.direct.load(Ordering::Relaxed) => shared.flush(),
                _ => return,
            }
        });
    if spawned.is_err() {
        // No thread, no batching: every line goes out as it is written.
        shared.direct.store(true, Ordering::Relaxed);
    }
    (BatchedStdout(shared.clone()), FlushGuard(shared))
}

/// One event's writer.
pub struct LineWriter<'a>(&'a Shared);

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.0)
    }
}
