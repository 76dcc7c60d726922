//! Logging set-up for the Arcane binaries.

/// Sets up logging: `RUST_LOG` filters (default `default_filter`);
/// `ARCANE_LOG_FORMAT=json` writes one JSON object per line with the span fields
/// (zone, tick, player, transfer) for log pipelines, anything else the human-readable
/// format. Call once, at the start of `main`.
pub fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let json = std::env::var("ARCANE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}
