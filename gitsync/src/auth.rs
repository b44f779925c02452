//! Credentials: http basic auth or a bearer token, and ssh private keys.
//!
//! Their `Debug` forms never show a password, token or key.

use std::fmt;
use std::path::PathBuf;

/// Credentials for a smart-HTTP remote.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpAuth {
    /// HTTP basic auth, answered when the server asks (401). Hosting services
    /// take an access token as the password (or as the user name).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
    /// A bearer token, sent with every request as `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
}

impl HttpAuth {
    /// Basic auth with a user name and a password (or token).
    pub fn basic(username: String, password: String) -> Self {
        Self::Basic { username, password }
    }

    /// A bearer token.
    pub fn bearer(token: String) -> Self {
        Self::Bearer { token }
    }
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", &if username.is_empty() { "" } else { "<set>" })
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// An ssh private key (OpenSSH or PEM format), from a file or from memory.
#[derive(Clone)]
#[non_exhaustive]
pub enum SshKey {
    /// A key file, read by libssh2 at each connection.
    File {
        /// Path of the private key.
        path: PathBuf,
        /// Its passphrase, if it is encrypted.
        passphrase: Option<String>,
    },
    /// A key held in memory (e.g. read from a Kubernetes Secret).
    Memory {
        /// The private key text.
        private_key: String,
        /// Its passphrase, if it is encrypted.
        passphrase: Option<String>,
    },
}

impl SshKey {
    /// An unencrypted key file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File {
            path: path.into(),
            passphrase: None,
        }
    }

    /// An unencrypted key held in memory.
    pub fn from_memory(private_key: impl Into<String>) -> Self {
        Self::Memory {
            private_key: private_key.into(),
            passphrase: None,
        }
    }

    pub(crate) fn credential(&self, user: &str) -> Result<git2::Cred, git2::Error> {
        match self {
            Self::File { path, passphrase } => {
                git2::Cred::ssh_key(user, None, path, passphrase.as_deref())
            }
            Self::Memory {
                private_key,
                passphrase,
            } => git2::Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref()),
        }
    }
}

impl fmt::Debug for SshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, .. } => f.debug_struct("File").field("path", path).finish(),
            Self::Memory { .. } => f
                .debug_struct("Memory")
                .field("private_key", &"<redacted>")
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_forms_hide_secrets() {
        let basic = format!("{:?}", HttpAuth::basic("bot".into(), "hunter2".into()));
        assert!(
            !basic.contains("hunter2") && !basic.contains("bot"),
            "{basic}"
        );
        let bearer = format!("{:?}", HttpAuth::bearer("tok-123".into()));
        assert!(!bearer.contains("tok-123"), "{bearer}");
        let key = format!(
            "{:?}",
            SshKey::from_memory("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        assert!(!key.contains("BEGIN"), "{key}");
    }
}
