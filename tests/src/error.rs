//! The error type of the test-support library.

use std::time::Duration;

/// What can go wrong while setting up or driving a test fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A binary the tests need is not installed.
    #[error("test tool `{name}` is missing: {hint}")]
    MissingTool {
        /// The binary's name.
        name: String,
        /// How to get it.
        hint: String,
    },
    /// A server exited while the tests still needed it.
    #[error("{name} exited ({status}); last log lines:\n{log_tail}")]
    ServerExited {
        /// The server's name.
        name: String,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}; last log lines:\n{log_tail}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        after: Duration,
        /// The end of the relevant log, if any.
        log_tail: String,
    },
    /// A command run by a fixture failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A call to the Kubernetes API failed; `context` says which.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The client's error.
        source: Box<kube::Error>,
    },
    /// A kubeconfig could not be turned into a client configuration.
    #[error("{context}: {source}")]
    Kubeconfig {
        /// Which kubeconfig.
        context: String,
        /// The client's error.
        source: Box<kube::config::KubeconfigError>,
    },
    /// Keys or certificates for a test server could not be generated.
    #[error("generating keys and certificates: {source}")]
    Certificate {
        /// The generator's error.
        source: rcgen::Error,
    },
    /// Data a fixture reads (a YAML fixture, a template, a server's answer) is
    /// not what it should be; `what` names it and where.
    #[error("{what}: {message}")]
    Invalid {
        /// What was read, and where.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The control plane shared by this test process failed to start earlier;
    /// every test that asks for it gets the first failure.
    #[error("the shared test control plane failed to start: {message}")]
    SharedControlPlane {
        /// The first failure, as text.
        message: String,
    },
    /// An HTTP exchange with a fixture failed or answered unexpectedly.
    #[error("{context}: {reason}")]
    Http {
        /// What was being done.
        context: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Kube`] with context.
    pub fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// An [`Error::Certificate`].
    pub fn certificate(source: rcgen::Error) -> Self {
        Self::Certificate { source }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Http`] with context.
    pub fn http(context: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Http {
            context: context.into(),
            reason: reason.to_string(),
        }
    }
}
