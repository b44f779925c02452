//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong parsing references and credentials or
/// talking to a registry.
///
/// Each variant names what was wrong and where (reference, registry, URL,
/// file), never a credential or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not an image reference.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A string is not a content digest.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform is not `os/architecture[/variant]`.
    #[error("invalid platform {platform:?}: expected os/architecture[/variant]")]
    InvalidPlatform {
        /// The platform as given.
        platform: String,
    },
    /// Registry credentials (a pull secret or docker config) could not be read.
    #[error("credentials from {source_name}: {reason}")]
    Credentials {
        /// Where they came from (a Secret's name, a file).
        source_name: String,
        /// What is wrong, naming the registry entry but not its secret.
        reason: String,
    },
    /// A configuration value is out of range or does not parse.
    #[error("invalid registry poller setting {setting}: {reason}")]
    InvalidConfig {
        /// The setting, named like its flag.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP request could not be made or its answer not read
    /// (connection refused, timeout, TLS).
    #[error("request to {url} failed: {}", chain(source))]
    Http {
        /// The URL requested.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The registry answered with a status this client did not expect.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for the registry's own error message.
        body: String,
    },
    /// A manifest, repository or blob does not exist (404).
    #[error("{what} not found in {repository}")]
    NotFound {
        /// The repository.
        repository: String,
        /// What was looked for (`manifest v1`, `blob sha256:...`).
        what: String,
    },
    /// The registry refused our credentials or we have none.
    #[error("not authorized by {registry}: {reason}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// What happened.
        reason: String,
    },
    /// The registry asked us to slow down (429).
    #[error("rate limited by {registry}; retry after {retry_after:?}")]
    RateLimited {
        /// The registry host.
        registry: String,
        /// How long it asked us to wait.
        retry_after: Duration,
    },
    /// An answer could not be understood (not JSON, missing fields, wrong
    /// digest, too large).
    #[error("invalid answer from {url}: {reason}")]
    InvalidResponse {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest's media type is not one this client reads.
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The image reference.
        reference: String,
        /// The media type.
        media_type: String,
    },
    /// A manifest list or index has no image for the selected platform.
    #[error("{reference}: no image for platform {platform} in its index")]
    NoMatchingPlatform {
        /// The image reference.
        reference: String,
        /// The platform looked for.
        platform: String,
    },
    /// The persisted cache file could not be read or written.
    #[error("cache file {}: {reason}", path.display())]
    CacheFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// An error and its causes, `: `-separated (reqwest keeps "connection
/// refused" in a source, not in its own message).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
