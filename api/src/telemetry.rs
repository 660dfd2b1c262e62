//! Log set-up: human-readable text by default, JSON lines by option.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls are ignored (tests start many servers).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_env("HAZARDLOOP_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    use std::io::IsTerminal;
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
