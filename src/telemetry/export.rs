//! The OTLP exporter: spans go in protobuf over HTTP to `<endpoint>/v1/traces`.
//!
//! A batch processor on its own thread collects finished spans and sends them every
//! `OTEL_BSP_SCHEDULE_DELAY` (5 s by default) or when 512 are queued; the queue holds
//! 2,048 and drops beyond that rather than slow requests down. The SDK reads the other
//! standard variables itself: `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`.

use anyhow::Context as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The OTLP/HTTP URL of traces under a collector's base `endpoint`, as the OpenTelemetry
/// specification builds it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// A tracer provider exporting to the collector at `endpoint` as `service_name`.
pub fn provider(endpoint: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .build()
        .with_context(|| {
            format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: cannot build the exporter")
        })?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn traces_go_under_the_endpoint() {
        assert_eq!(
            traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/base/"),
            "https://otel.example/base/v1/traces"
        );
    }
}
