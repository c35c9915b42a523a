//! The log writer: lines gather in memory and reach stdout in batches, when 32 KiB have
//! piled up or every 100 ms, whichever comes first, and when telemetry shuts down.
//!
//! Why not a `write` per line: the access log writes a line per request, and a syscall per
//! line under stdout's lock cost a quarter of the CPU of an answer from the response cache.
//! Nor `tracing-appender`'s non-blocking writer: it wakes its thread for every line, which
//! on two cores cost about as much. Here a line costs a lock and a copy; order is kept.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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

/// Production's JSON log line: `timestamp`, `level`, `message`, the event's fields, then
/// `target`, one object per line (the shape of `tracing-subscriber`'s flattened JSON,
/// without span context). Its formatter built a JSON map per event, and with a line per
/// request that was a tenth of the CPU of an answer from the response cache; this one
/// writes the line straight into the buffer.
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(320);
        line.push_str("{\"timestamp\":\"");
        line.push_str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        let mut fields = JsonFields {
            fields: String::with_capacity(256),
            message: None,
        };
        event.record(&mut fields);
        if let Some(message) = &fields.message {
            line.push_str(",\"message\":");
            push_json_string(&mut line, message);
        }
        line.push_str(&fields.fields);
        line.push_str(",\"target\":");
        push_json_string(&mut line, meta.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// An event's fields as `,"name":value` each, and its message.
struct JsonFields {
    fields: String,
    message: Option<String>,
}

impl JsonFields {
    fn key(&mut self, field: &Field) {
        self.fields.push(',');
        push_json_string(&mut self.fields, field.name());
        self.fields.push(':');
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
            return;
        }
        self.key(field);
        push_json_string(&mut self.fields, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
            return;
        }
        self.key(field);
        push_json_string(&mut self.fields, &text);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.fields, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.fields, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.fields.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.fields, "{value}");
        } else {
            self.fields.push_str("null");
        }
    }
}

/// Appends `value` as a JSON string. Runs that need no escape (nearly all of a log line)
/// are copied whole.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    let mut plain = 0;
    for (at, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `at` is a character boundary.
        out.push_str(&value[plain..at]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain = at + 1;
    }
    out.push_str(&value[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_json() {
        let mut out = String::new();
        push_json_string(&mut out, "a \"quoted\" \\ line\nwith\ttabs and \u{1}");
        let back: String = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(back, "a \"quoted\" \\ line\nwith\ttabs and \u{1}");
    }
}
