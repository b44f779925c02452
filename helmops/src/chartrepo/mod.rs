//! A client for Helm chart repositories (`index.yaml` over HTTP(S)).
//!
//! [`ChartRepositories`] keeps each repository's index in memory and fetches
//! it again only after the refresh interval; a chart archive is downloaded
//! once, checked against the index digest (sha256), and kept on disk under
//! its digest; a kept archive is checked against the digest again before
//! each use (its hash remembered while the file is unchanged), so a file
//! changed on disk is fetched anew rather than installed. An index whose
//! digest is not a sha256 hex string is refused, whatever else it holds.
//! URLs follow the operator's [`AccessPolicy`]. Basic-auth credentials go only to the repository's own host,
//! as helm does without `--pass-credentials`. So a resync of unchanged
//! releases costs at most one index request per repository and interval.

mod index;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use index::{ChartVersion, RepoIndex};
use tokio::sync::Mutex;

use crate::Error;
use crate::access::AccessPolicy;
use crate::checksum::sha256_hex;

/// Largest `index.yaml` accepted.
const MAX_INDEX_BYTES: usize = 128 * 1024 * 1024;
/// Largest chart archive accepted.
const MAX_CHART_BYTES: usize = 64 * 1024 * 1024;

/// Basic-auth credentials for a repository.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RepoCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for RepoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A chart archive on disk, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedChart {
    /// Path of the `.tgz`.
    pub archive: PathBuf,
    /// The chart version chosen.
    pub version: String,
    /// sha256 of the archive, hex.
    pub digest: String,
}

struct CachedIndex {
    fetched: Instant,
    index: Arc<RepoIndex>,
}

/// Indexes and chart archives of Helm repositories.
pub struct ChartRepositories {
    http: reqwest::Client,
    cache_dir: PathBuf,
    refresh: Duration,
    policy: AccessPolicy,
    indexes: Mutex<HashMap<(String, Option<String>), CachedIndex>>,
    /// Archives whose hash was checked: path to (length, modified, sha256).
    verified: std::sync::Mutex<HashMap<PathBuf, (u64, std::time::SystemTime, String)>>,
}

impl std::fmt::Debug for ChartRepositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartRepositories")
            .field("cache_dir", &self.cache_dir)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl ChartRepositories {
    /// Archives are kept under `cache_dir`; indexes are fetched again after
    /// `refresh`. Repositories are reached with `http` within `policy`.
    pub fn new(
        http: reqwest::Client,
        cache_dir: PathBuf,
        refresh: Duration,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            http,
            cache_dir,
            refresh,
            policy,
            indexes: Mutex::new(HashMap::new()),
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The sha256 of a kept archive, hashed again only when its length or
    /// modification time changed.
    async fn archive_digest(&self, path: &Path) -> Option<String> {
        let meta = tokio::fs::symlink_metadata(path).await.ok()?;
        if !meta.is_file() {
            return None;
        }
        let modified = meta.modified().ok()?;
        if let Ok(verified) = self.verified.lock()
            && let Some((len, at, digest)) = verified.get(path)
            && *len == meta.len()
            && *at == modified
        {
            return Some(digest.clone());
        }
        let bytes = tokio::fs::read(path).await.ok()?;
        let digest = sha256_hex(&bytes);
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() > 4096 {
                verified.clear();
            }
            verified.insert(path.to_path_buf(), (meta.len(), modified, digest.clone()));
        }
        Some(digest)
    }

    /// The repository's index, from memory while fresh.
    pub async fn index(
        &self,
        repo_url: &str,
        credentials: Option<&RepoCredentials>,
    ) -> Result<Arc<RepoIndex>, Error> {
        let key = (normalize(repo_url), credentials.map(|c| c.username.clone()));
        // Not held across the request: a repository that hangs must not
        // hold up the releases of every other repository.
        if let Some(cached) = self.indexes.lock().await.get(&key)
            && cached.fetched.elapsed() < self.refresh
        {
            return Ok(cached.index.clone());
        }
        let index_url = format!("{}index.yaml", key.0);
        let bytes = self
            .get(&index_url, repo_url, credentials, MAX_INDEX_BYTES)
            .await?;
        let text = String::from_utf8(bytes).map_err(|_| Error::ChartRepository {
            url: redact_url(repo_url),
            reason: "index.yaml is not UTF-8".to_owned(),
        })?;
        let index = Arc::new(RepoIndex::parse(&text, &redact_url(repo_url))?);
        self.indexes.lock().await.insert(
            key,
            CachedIndex {
                fetched: Instant::now(),
                index: index.clone(),
            },
        );
        Ok(index)
    }

    /// Forgets a repository's index so the next use fetches it again.
    pub async fn invalidate(&self, repo_url: &str) {
        let url = normalize(repo_url);
        self.indexes.lock().await.retain(|(u, _), _| *u != url);
    }

    /// The archive of `name` at `version` (exact or range), downloaded once
    /// and verified against the index digest.
    pub async fn fetch(
        &self,
        repo_url: &str,
        name: &str,
        version: &str,
        credentials: Option<&RepoCredentials>,
    ) -> Result<FetchedChart, Error> {
        let index = self.index(repo_url, credentials).await?;
        let entry = index.select(&redact_url(repo_url), name, version)?.clone();
        let expected =
            expected_digest(entry.digest.as_deref()).map_err(|reason| Error::ChartRepository {
                url: redact_url(repo_url),
                reason: format!("index.yaml lists {name} {}: {reason}", entry.version),
            })?;
        let dir = self
            .cache_dir
            .join(sha256_hex(normalize(repo_url).as_bytes()));
        if let Some(expected) = &expected {
            let cached = dir.join(archive_name(name, &entry.version, expected));
            match self.archive_digest(&cached).await {
                Some(actual) if actual == *expected => {
                    return Ok(FetchedChart {
                        archive: cached,
                        version: entry.version,
                        digest: expected.clone(),
                    });
                }
                Some(actual) => {
                    tracing::warn!(
                        archive = %cached.display(),
                        expected = %expected,
                        actual = %actual,
                        "a kept chart archive no longer matches the index digest; fetching it again"
                    );
                    let _ = tokio::fs::remove_file(&cached).await;
                }
                None => {}
            }
        }
        let Some(relative) = entry.urls.first() else {
            return Err(Error::ChartRepository {
                url: redact_url(repo_url),
                reason: format!("index lists {name} {} without a URL", entry.version),
            });
        };
        let chart_url = resolve(repo_url, relative)?;
        let bytes = self
            .get(&chart_url, repo_url, credentials, MAX_CHART_BYTES)
            .await?;
        let actual = sha256_hex(&bytes);
        if let Some(expected) = &expected
            && *expected != actual
        {
            return Err(Error::DigestMismatch {
                url: redact_url(&chart_url),
                expected: expected.clone(),
                actual,
            });
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let archive = dir.join(archive_name(name, &entry.version, &actual));
        write_atomically(&archive, &bytes).await?;
        Ok(FetchedChart {
            archive,
            version: entry.version,
            digest: actual,
        })
    }

    async fn get(
        &self,
        url: &str,
        repo_url: &str,
        credentials: Option<&RepoCredentials>,
        limit: usize,
    ) -> Result<Vec<u8>, Error> {
        let failed = |reason: String| Error::ChartRepository {
            url: redact_url(url),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| failed(format!("not a URL: {e}")))?;
        self.policy.check_url(&parsed).map_err(failed)?;
        let mut request = self.http.get(parsed);
        if let Some(credentials) = credentials
            && same_origin(url, repo_url)
        {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        // One retry of a request that never got an answer: a pooled
        // connection the server had just closed fails that way.
        let retry = request.try_clone();
        let mut response = match (request.send().await, retry) {
            (Ok(response), _) => response,
            (Err(e), Some(retry)) if e.is_connect() || e.is_request() => {
                tracing::debug!(url = %redact_url(url), error = %describe_http(&e), "retrying a chart repository request");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                retry.send().await.map_err(|e| failed(describe_http(&e)))?
            }
            (Err(e), _) => return Err(failed(describe_http(&e))),
        };
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(failed(format!(
                "answered {status}: check the credentials in chartPullSecret"
            )));
        }
        if !status.is_success() {
            return Err(failed(format!("answered {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(format!("reading the body: {}", describe_http(&e))))?
        {
            if body.len() + chunk.len() > limit {
                return Err(failed(format!("larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `url` with a trailing slash and no query, as Flux's `CleanRepoURL`.
fn normalize(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    format!("{}/", base.trim_end_matches('/'))
}

/// One line for a failed HTTP request, without its URL (callers name it)
/// and with the causes that say why (refused address, DNS, TLS, timeout).
pub(crate) fn describe_http(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_redirect() {
        "redirect refused".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the body could not be read".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// A URL without its credentials, for messages: gitsync's redaction, which
/// works on the text and so also redacts what does not parse as a URL.
pub(crate) fn redact_url(url: &str) -> String {
    gitsync::redact_url(url)
}

fn resolve(repo_url: &str, chart_url: &str) -> Result<String, Error> {
    let base = reqwest::Url::parse(&normalize(repo_url)).map_err(|e| Error::ChartRepository {
        url: redact_url(repo_url),
        reason: format!("not a URL: {e}"),
    })?;
    base.join(chart_url)
        .map(String::from)
        .map_err(|e| Error::ChartRepository {
            url: redact_url(repo_url),
            reason: format!("chart URL {chart_url:?} in the index is not valid: {e}"),
        })
}

fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// The digest an index entry gives, as lower-case hex: `None` when it gives
/// none; an error when it is not a sha256 (64 hex digits, `sha256:` allowed).
fn expected_digest(given: Option<&str>) -> Result<Option<String>, String> {
    let Some(given) = given.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let hex = given.strip_prefix("sha256:").unwrap_or(given);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(hex.to_ascii_lowercase()))
    } else {
        Err("its digest is not a sha256 (64 hex digits)".to_owned())
    }
}

/// The file name of a kept archive; `digest` is hex (ASCII).
fn archive_name(name: &str, version: &str, digest: &str) -> String {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!(
        "{}-{}-{}.tgz",
        safe(name),
        safe(version),
        digest.chars().take(16).collect::<String>()
    )
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tgz.partial");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| Error::io(format!("renaming {} into place", tmp.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_resolved_and_redacted() {
        assert_eq!(
            normalize("https://r.example/charts"),
            "https://r.example/charts/"
        );
        assert_eq!(
            normalize("https://r.example/charts/?x=1"),
            "https://r.example/charts/"
        );
        assert_eq!(
            resolve("https://r.example/charts", "app-1.0.0.tgz").unwrap(),
            "https://r.example/charts/app-1.0.0.tgz"
        );
        assert_eq!(
            resolve("https://r.example/charts", "https://cdn.example/a.tgz").unwrap(),
            "https://cdn.example/a.tgz"
        );
        assert_eq!(
            redact_url("https://u:p@r.example/x"),
            "https://***@r.example/x"
        );
        // Text that is not a URL is redacted all the same.
        assert_eq!(redact_url("https://u:p@[bad/x"), "https://***@[bad/x");
        assert!(same_origin(
            "http://127.0.0.1:8080/a.tgz",
            "http://127.0.0.1:8080/"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:8081/a.tgz",
            "http://127.0.0.1:8080/"
        ));
        assert_eq!(
            archive_name("app", "1.0.0+meta", "abcdef0123456789ff"),
            "app-1.0.0_meta-abcdef0123456789.tgz"
        );
        assert_eq!(expected_digest(None), Ok(None));
        let hex = "AB".repeat(32);
        assert_eq!(
            expected_digest(Some(&format!("sha256:{hex}"))),
            Ok(Some(hex.to_ascii_lowercase()))
        );
        for bad in ["ééééééééééééééééé", "abc", &"zz".repeat(32)] {
            assert!(expected_digest(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(archive_name("a", "1", "ééé"), "a-1-ééé.tgz");
        let creds = RepoCredentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
