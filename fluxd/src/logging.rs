//! Log output: one event a line on stderr, as text (`key=value` fields) or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::{Error, LogFormat};

/// Installs the process-wide subscriber: `filter` (a level or a filter such as
/// `fluxd=debug,kube=info`) unless `RUST_LOG` is set. Does nothing when a
/// subscriber is already installed (fluxd embedded in another program).
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => {
            EnvFilter::try_new(&from_env).map_err(|e| Error::flag("RUST_LOG", e.to_string()))?
        }
        _ => EnvFilter::try_new(filter).map_err(|e| Error::flag("--log-level", e.to_string()))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}
