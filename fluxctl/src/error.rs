//! fluxctl's errors, and how they are reported: an API error with help as
//! Flux's `== Error ==` block, anything else as `Error: <message>` with
//! the `Run '<command> --help' for usage.` line.

use std::io::Write;

use fluxd::api::ApiError;

/// Everything that makes fluxctl exit non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line is wrong (Flux's usage errors).
    #[error("{0}")]
    Usage(String),
    /// fluxd answered with an API error; its help is what the user reads.
    #[error("{0}")]
    Api(ApiError),
    /// A job fluxd ran failed, or succeeded with an error: its `Err`.
    #[error("{0}")]
    Job(String),
    /// Waiting for a job or a sync ran out of `--timeout`.
    #[error("timeout")]
    Timeout,
    /// The HTTP exchange failed: connection, status, body.
    #[error("{0}")]
    Http(String),
    /// Finding fluxd's pod or forwarding to it failed.
    #[error("{0}")]
    PortForward(String),
    /// Anything else a command cannot do (its message says what).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// The process exit code: Flux's fluxctl exits 1 on every error.
    pub fn exit_code(&self) -> u8 {
        1
    }

    /// Writes the error as Flux's fluxctl does, for the command `path`
    /// (e.g. `fluxctl release`).
    pub fn report(&self, path: &str, err: &mut dyn Write) {
        let _ = match self {
            Self::Api(api) if !api.help.is_empty() => writeln!(err, "== Error ==\n\n{}", api.help),
            other => writeln!(err, "Error: {other}\nRun '{path} --help' for usage."),
        };
    }
}

/// `please supply only one of ...` / `please supply exactly one of ...`
/// (Flux's `checkExactlyOne`).
pub(crate) fn check_exactly_one(description: &str, supplied: &[bool]) -> Result<(), Error> {
    match supplied.iter().filter(|s| **s).count() {
        0 => Err(Error::Usage(format!(
            "please supply exactly one of {description}"
        ))),
        1 => Ok(()),
        _ => Err(Error::Usage(format!(
            "please supply only one of {description}"
        ))),
    }
}

/// Flux's `errorWantedNoArgs`.
pub(crate) fn no_args(args: &[String]) -> Result<(), Error> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage("expected no (non-flag) arguments".to_owned()))
    }
}
