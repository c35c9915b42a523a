//! Logging and tracing: one subscriber, installed once.
//!
//! Logs are human-readable in development and JSON in production; `RUST_LOG` filters them.
//! They reach stdout in batches ([`logs`]): a `write` per request's access-log line was a
//! quarter of the CPU of an answer from the response cache.
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a second layer exports spans over OTLP/HTTP
//! (see [`export`]): the HTTP request ([`http`]), GraphQL parse/validate/execute
//! (`graphql::spans`), each DataLoader batch (`graphql::loaders::gate`), each SQL statement
//! ([`sql`]) and each Redis call (`redis`).
//!
//! Those spans use the target [`TARGET`] and only the export layer sees them: the logs look
//! exactly as they do without tracing, and with no endpoint nothing is interested in them, so
//! each costs one cached callsite check.

pub mod export;
pub mod http;
pub mod logs;
pub mod sql;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::Settings;

/// The `tracing` target of every span meant for export (and never for the logs).
pub const TARGET: &str = "gatehouse::otel";

/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer of the installed exporter: set once tracing is on, read by [`sql`] (which
/// makes its spans directly, with the statement's measured start and end).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// True when spans are exported (an endpoint is configured and the subscriber installed).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// True when spans are exported and the current task works inside an exported span (a
/// request): client calls (Redis, SQL) outside any request, such as start-up or WebSocket
/// set-up, would each start a trace of their own and only add noise.
///
/// Entering an exported span makes its context the current OpenTelemetry context, which
/// is what this asks: `tracing::Span::current()` may be a span only the logs see (the
/// DataLoader's own `load_many`, say), which is no parent for an exported span.
pub fn in_trace() -> bool {
    enabled() && current_context().is_some()
}

/// The OpenTelemetry context of the innermost entered exported span, if any.
pub fn current_context() -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = opentelemetry::Context::current();
    cx.span().span_context().is_valid().then_some(cx)
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes spans not yet exported, and
/// dropping it writes the log lines still queued.
#[must_use = "shut telemetry down on exit, or the last spans and log lines are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    _logs: Option<logs::FlushGuard>,
}

impl Telemetry {
    /// Exports the spans still queued (bounded by a few seconds) and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The batch processor's thread does the last export over a blocking client; wait
        // for it off the async workers.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(error = %error, "flushing traces at shutdown failed"),
            Err(error) => tracing::warn!(error = %error, "flushing traces at shutdown failed"),
        }
    }
}

/// Installs the global subscriber (once; later calls are ignored and return a handle with
/// nothing to flush). Fails when the OTLP exporter cannot be built.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(&settings.log_filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // Export spans are not log lines, whatever `RUST_LOG` says.
        .add_directive(format!("{TARGET}=off").parse()?);
    let (writer, guard) = logs::batched_stdout();
    // Filtered on their own so that `RUST_LOG` does not filter the spans.
    let logs = if settings.is_production() {
        tracing_subscriber::fmt::layer()
            .event_format(logs::JsonLine)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    }
    .with_filter(filter);
    let Some(endpoint) = &settings.otlp_endpoint else {
        // An error only means a subscriber is already installed (tests, embedding).
        let installed = tracing_subscriber::registry().with(logs).try_init().is_ok();
        return Ok(Telemetry {
            provider: None,
            _logs: installed.then_some(guard),
        });
    };
    let provider = export::provider(endpoint, &settings.otel_service_name)?;
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "gatehouse");
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        // Attributes are what the spans declare: no file/line/thread/busy-time noise.
        // Context activation (on by default) stays: see `in_trace`.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(TARGET, LevelFilter::INFO));
    if tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .is_err()
    {
        // Already installed (tests, embedding): the exporter would never see a span.
        let _ = provider.shutdown();
        return Ok(Telemetry {
            provider: None,
            _logs: None,
        });
    }
    let _ = TRACER.set(tracer);
    Ok(Telemetry {
        provider: Some(provider),
        _logs: Some(guard),
    })
}
