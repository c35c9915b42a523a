//! Logging: human-readable in development, JSON in production; `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;

use crate::config::Settings;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(settings: &Settings) {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if settings.is_production() {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // An error only means a subscriber is already installed (tests, embedding).
    let _ = result;
}
