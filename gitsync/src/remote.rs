//! A remote repository and how to talk to it: credentials, host keys and the
//! timeout, applied to every network operation through libgit2's callbacks.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use git2::{
    CertificateCheckStatus, Cred, CredentialType, FetchOptions, PushOptions, RemoteCallbacks,
};

use crate::auth::{HttpAuth, SshKey};
use crate::known_hosts::KnownHosts;
use crate::{Error, GitUrl, Transport};

/// Flux's default for `--git-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default of [`Remote::with_max_fetch_bytes`]: 2 GiB of pack data in one
/// fetch or clone, beyond what a configuration repository should ever need.
pub const DEFAULT_MAX_FETCH_BYTES: u64 = 2 << 30;

/// A remote repository with what it takes to reach it.
///
/// ```
/// use std::time::Duration;
/// use fluxd_gitsync::{GitUrl, Remote, SshKey};
///
/// let remote = Remote::new(GitUrl::parse("ssh://git@git.example.com/team/config")?)
///     .with_ssh_key(SshKey::file("/etc/fluxd/ssh/identity"))
///     .with_timeout(Duration::from_secs(30));
/// assert_eq!(remote.url().to_string(), "ssh://git@git.example.com/team/config");
/// # Ok::<(), fluxd_gitsync::Error>(())
/// ```
///
/// ssh host keys are checked against [`Remote::with_known_hosts`] only; with
/// none given every host is unknown and ssh connections fail. libgit2's own
/// fallback to `$HOME/.ssh` (known_hosts, keys, agent) is never used.
#[derive(Clone, Debug)]
pub struct Remote {
    url: GitUrl,
    http_auth: Option<HttpAuth>,
    ssh_key: SshKeyHandle,
    known_hosts: Option<Arc<KnownHosts>>,
    timeout: Duration,
    max_fetch_bytes: u64,
}

impl Remote {
    /// A remote at `url`, with the credentials written into the URL (if any)
    /// and the default timeout.
    pub fn new(url: GitUrl) -> Self {
        Self {
            http_auth: url.credentials().cloned(),
            url,
            ssh_key: SshKeyHandle::default(),
            known_hosts: None,
            timeout: DEFAULT_TIMEOUT,
            max_fetch_bytes: DEFAULT_MAX_FETCH_BYTES,
        }
    }

    /// http(s) credentials; they replace any written into the URL.
    #[must_use]
    pub fn with_http_auth(mut self, auth: HttpAuth) -> Self {
        self.http_auth = Some(auth);
        self
    }

    /// The ssh private key. Clones of this remote (and the mirrors made
    /// from them) share it: [`Remote::ssh_key_handle`] replaces it for all.
    #[must_use]
    pub fn with_ssh_key(mut self, key: SshKey) -> Self {
        self.ssh_key = SshKeyHandle::new(Some(key));
        self
    }

    /// The handle of this remote's ssh key, shared by its clones: a key set
    /// through it is used from the next network operation on.
    pub fn ssh_key_handle(&self) -> SshKeyHandle {
        self.ssh_key.clone()
    }

    /// The known hosts ssh host keys are checked against.
    #[must_use]
    pub fn with_known_hosts(mut self, known_hosts: KnownHosts) -> Self {
        self.known_hosts = Some(Arc::new(known_hosts));
        self
    }

    /// The time one network operation (a fetch, a push) may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most bytes one fetch or clone may receive (pack data as it
    /// arrives); past it the transfer is aborted with
    /// [`Error::FetchTooLarge`] and nothing of it is kept. Default
    /// [`DEFAULT_MAX_FETCH_BYTES`].
    #[must_use]
    pub fn with_max_fetch_bytes(mut self, bytes: u64) -> Self {
        self.max_fetch_bytes = bytes;
        self
    }

    /// The bound on the bytes one fetch may receive.
    pub fn max_fetch_bytes(&self) -> u64 {
        self.max_fetch_bytes
    }

    /// The URL.
    pub fn url(&self) -> &GitUrl {
        &self.url
    }

    /// The timeout of one network operation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Headers libgit2 sends with every http request.
    fn custom_headers(&self) -> Vec<String> {
        match (&self.http_auth, self.url.transport()) {
            (Some(HttpAuth::Bearer { token }), Transport::Http) => {
                vec![format!("Authorization: Bearer {token}")]
            }
            _ => Vec::new(),
        }
    }
}

/// The ssh key of a [`Remote`] and its clones, replaceable while they are in
/// use (a regenerated deploy key is used from the next operation on).
#[derive(Clone, Debug, Default)]
pub struct SshKeyHandle(Arc<RwLock<Option<SshKey>>>);

impl SshKeyHandle {
    fn new(key: Option<SshKey>) -> Self {
        Self(Arc::new(RwLock::new(key)))
    }

    /// Replaces the key.
    pub fn set(&self, key: SshKey) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(key);
    }

    /// The key now in use.
    pub fn get(&self) -> Option<SshKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One network operation in progress: its deadline, and the first failure a
/// callback saw (libgit2 only passes back a generic "callback failed").
pub(crate) struct Session<'r> {
    remote: &'r Remote,
    operation: &'static str,
    deadline: Instant,
    failure: RefCell<Option<Error>>,
    key_attempts: Cell<u32>,
    password_attempts: Cell<u32>,
    /// Per-reference rejections reported through `push_update_reference`.
    rejections: RefCell<Vec<(String, String)>>,
    /// What the server printed on the sideband (`remote: ...` lines, such
    /// as a hook's message), at most [`MAX_REMOTE_MESSAGES`] bytes.
    remote_messages: RefCell<String>,
    /// A push's lease: the reference and the target the remote must still
    /// have for it (zero: absent), checked when the push is negotiated.
    lease: RefCell<Option<(String, git2::Oid)>>,
    /// Set when the lease was found broken.
    lease_broken: Cell<Option<git2::Oid>>,
}

/// How much of the server's sideband text a session keeps.
const MAX_REMOTE_MESSAGES: usize = 4096;

impl<'r> Session<'r> {
    pub(crate) fn new(remote: &'r Remote, operation: &'static str) -> Self {
        Self {
            remote,
            operation,
            deadline: Instant::now() + remote.timeout,
            failure: RefCell::new(None),
            key_attempts: Cell::new(0),
            password_attempts: Cell::new(0),
            rejections: RefCell::new(Vec::new()),
            remote_messages: RefCell::new(String::new()),
            lease: RefCell::new(None),
            lease_broken: Cell::new(None),
        }
    }

    /// Makes the next push update `refname` only if the remote still has it
    /// at `expected` (zero: absent), as `git push --force-with-lease` does.
    /// The server checks the same old value when it updates the reference.
    pub(crate) fn set_lease(&self, refname: &str, expected: git2::Oid) {
        *self.lease.borrow_mut() = Some((refname.to_owned(), expected));
    }

    /// Where the remote had the leased reference, if the lease was broken.
    pub(crate) fn lease_broken(&self) -> Option<git2::Oid> {
        self.lease_broken.get()
    }

    /// What the server printed (`remote:` lines), trimmed, one line.
    pub(crate) fn remote_messages(&self) -> String {
        let text = self.remote_messages.borrow();
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn record(&self, error: Error) -> git2::Error {
        let message = error.to_string();
        self.failure.borrow_mut().get_or_insert(error);
        git2::Error::from_str(&message)
    }

    fn past_deadline(&self) -> bool {
        if Instant::now() < self.deadline {
            return false;
        }
        let _ = self.record(self.timeout_error());
        true
    }

    fn timeout_error(&self) -> Error {
        Error::Timeout {
            url: self.remote.url.to_string(),
            operation: self.operation,
            after: self.remote.timeout,
        }
    }

    /// The error to report for libgit2's `error`: what a callback recorded,
    /// else a timeout if the deadline passed, else libgit2's own error.
    pub(crate) fn fail(&self, error: git2::Error) -> Error {
        if let Some(recorded) = self.failure.borrow_mut().take() {
            return recorded;
        }
        if Instant::now() >= self.deadline {
            return self.timeout_error();
        }
        let message = error.message();
        if (error.class() == git2::ErrorClass::Http && message.contains("404"))
            || message.contains("does not appear to be a git repository")
            || message.contains("repository not found")
            || (self.remote.url.transport() == Transport::Local
                && message.contains("unsupported URL protocol"))
        {
            return Error::RepositoryNotFound {
                url: self.remote.url.to_string(),
                detail: message.to_owned(),
            };
        }
        if error.class() == git2::ErrorClass::Http && message.contains("401") {
            return Error::Auth {
                url: self.remote.url.to_string(),
                reason: error.message().to_owned(),
            };
        }
        Error::Git {
            url: self.remote.url.to_string(),
            operation: self.operation,
            source: error,
        }
    }

    /// Rejections the server reported per reference during a push.
    pub(crate) fn take_rejections(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.rejections.borrow_mut())
    }

    pub(crate) fn fetch_options(&self) -> FetchOptions<'_> {
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks())
            .download_tags(git2::AutotagOption::None)
            .update_fetchhead(false);
        let headers = self.remote.custom_headers();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        options.custom_headers(&headers);
        options
    }

    pub(crate) fn push_options(&self) -> PushOptions<'_> {
        let mut callbacks = self.callbacks();
        callbacks.push_update_reference(|refname, status| {
            if let Some(status) = status {
                self.rejections
                    .borrow_mut()
                    .push((refname.to_owned(), status.to_owned()));
            }
            Ok(())
        });
        callbacks.push_negotiation(|updates| {
            if self.past_deadline() {
                return Err(git2::Error::from_str("timed out"));
            }
            if let Some((refname, expected)) = self.lease.borrow().as_ref() {
                for update in updates {
                    if update.dst_refname().ok() == Some(refname.as_str())
                        && update.src() != *expected
                    {
                        self.lease_broken.set(Some(update.src()));
                        return Err(git2::Error::from_str("the remote reference moved"));
                    }
                }
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let headers = self.remote.custom_headers();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        options.custom_headers(&headers);
        options
    }

    pub(crate) fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, _user_from_url, allowed| self.credentials(allowed));
        callbacks.certificate_check(|cert, hostname| self.check_certificate(cert, hostname));
        callbacks.transfer_progress(|progress| {
            let received = progress.received_bytes() as u64;
            if received > self.remote.max_fetch_bytes {
                let _ = self.record(Error::FetchTooLarge {
                    url: self.remote.url.to_string(),
                    operation: self.operation,
                    limit: self.remote.max_fetch_bytes,
                });
                return false;
            }
            !self.past_deadline()
        });
        callbacks.sideband_progress(|data| {
            let mut kept = self.remote_messages.borrow_mut();
            if kept.len() < MAX_REMOTE_MESSAGES {
                let text = String::from_utf8_lossy(data);
                let room = MAX_REMOTE_MESSAGES - kept.len();
                kept.extend(text.chars().filter(|c| *c != '\r').take(room));
            }
            !self.past_deadline()
        });
        callbacks
    }

    fn credentials(&self, allowed: CredentialType) -> Result<Cred, git2::Error> {
        let url = self.remote.url.to_string();
        let auth_error = |reason: String| Error::Auth {
            url: url.clone(),
            reason,
        };
        if self.past_deadline() {
            return Err(git2::Error::from_str("timed out"));
        }
        if let Some(user) = self.remote.url.ssh_user() {
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user);
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                let attempt = self.key_attempts.get() + 1;
                self.key_attempts.set(attempt);
                let Some(key) = self.remote.ssh_key.get() else {
                    return Err(self.record(auth_error(format!(
                        "the server wants an ssh key for user `{user}` and none is configured"
                    ))));
                };
                if attempt > 1 {
                    return Err(self.record(auth_error(format!(
                        "the server refused the ssh key for user `{user}`"
                    ))));
                }
                return key.credential(user).map_err(|e| {
                    self.record(auth_error(format!(
                        "cannot use the ssh key: {}",
                        e.message()
                    )))
                });
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let attempt = self.password_attempts.get() + 1;
            self.password_attempts.set(attempt);
            return match &self.remote.http_auth {
                Some(HttpAuth::Basic { username, password }) if attempt == 1 => {
                    Cred::userpass_plaintext(username, password)
                }
                Some(HttpAuth::Basic { .. }) => Err(self.record(auth_error(
                    "the server refused the user name and password".to_owned(),
                ))),
                Some(HttpAuth::Bearer { .. }) => {
                    Err(self.record(auth_error("the server refused the bearer token".to_owned())))
                }
                None => Err(self.record(auth_error(
                    "the server asks for credentials and none are configured".to_owned(),
                ))),
            };
        }
        Err(self.record(auth_error(format!(
            "the server asks for a kind of credentials gitsync does not offer ({allowed:?})"
        ))))
    }

    fn check_certificate(
        &self,
        cert: &git2::cert::Cert<'_>,
        hostname: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        let Some(hostkey) = cert.as_hostkey() else {
            // An x509 certificate: libgit2's TLS verification decides.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let (host, port) = self.remote.url.ssh_host_port().unwrap_or((hostname, 22));
        let Some(key) = hostkey.hostkey() else {
            return Err(self.record(Error::Auth {
                url: self.remote.url.to_string(),
                reason: "the ssh server's host key could not be read".to_owned(),
            }));
        };
        let result = match &self.remote.known_hosts {
            Some(known_hosts) => known_hosts.check(host, port, key),
            None => KnownHosts::parse("", std::path::Path::new("<none configured>"))
                .and_then(|empty| empty.check(host, port, key)),
        };
        match result {
            Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
            Err(error) => Err(self.record(error)),
        }
    }
}
