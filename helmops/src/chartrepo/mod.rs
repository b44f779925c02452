//! A client for Helm chart repositories (`index.yaml` over HTTP(S)).
//!
//! [`ChartRepositories`] keeps each repository's index in memory and fetches
//! it again only after the refresh interval; a chart archive is downloaded
//! once, checked against the index digest (sha256), and kept on disk under
//! its digest. Basic-auth credentials go only to the repository's own host,
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
    indexes: Mutex<HashMap<(String, Option<String>), CachedIndex>>,
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
    /// Archives are kept under `cache_dir`; indexes are fetched again after `refresh`.
    pub fn new(http: reqwest::Client, cache_dir: PathBuf, refresh: Duration) -> Self {
        Self {
            http,
            cache_dir,
            refresh,
            indexes: Mutex::new(HashMap::new()),
        }
    }

    /// The repository's index, from memory while fresh.
    pub async fn index(
        &self,
        repo_url: &str,
        credentials: Option<&RepoCredentials>,
    ) -> Result<Arc<RepoIndex>, Error> {
        let key = (normalize(repo_url), credentials.map(|c| c.username.clone()));
        let mut indexes = self.indexes.lock().await;
        if let Some(cached) = indexes.get(&key)
            && cached.fetched.elapsed() < self.refresh
        {
            return Ok(cached.index.clone());
        }
        let index_url = format!("{}index.yaml", key.0);
        let bytes = self
            .get(&index_url, repo_url, credentials, MAX_INDEX_BYTES)
            .await?;
        let text = String::from_utf8(bytes).map_err(|_| Error::ChartRepository {
            url: redact(repo_url),
            reason: "index.yaml is not UTF-8".to_owned(),
        })?;
        let index = Arc::new(RepoIndex::parse(&text, &redact(repo_url))?);
        indexes.insert(
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
        let entry = index.select(&redact(repo_url), name, version)?.clone();
        let expected = entry
            .digest
            .as_deref()
            .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        let dir = self
            .cache_dir
            .join(sha256_hex(normalize(repo_url).as_bytes()));
        if let Some(expected) = &expected {
            let cached = dir.join(archive_name(name, &entry.version, expected));
            if cached.is_file() {
                return Ok(FetchedChart {
                    archive: cached,
                    version: entry.version,
                    digest: expected.clone(),
                });
            }
        }
        let Some(relative) = entry.urls.first() else {
            return Err(Error::ChartRepository {
                url: redact(repo_url),
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
                url: redact(&chart_url),
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
        let mut request = self.http.get(url);
        if let Some(credentials) = credentials
            && same_origin(url, repo_url)
        {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let failed = |reason: String| Error::ChartRepository {
            url: redact(url),
            reason,
        };
        // One retry of a request that never got an answer: a pooled
        // connection the server had just closed fails that way.
        let retry = request.try_clone();
        let mut response = match (request.send().await, retry) {
            (Ok(response), _) => response,
            (Err(e), Some(retry)) if e.is_connect() || e.is_request() => {
                tracing::debug!(url = %redact(url), error = %e.without_url(), "retrying a chart repository request");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                retry
                    .send()
                    .await
                    .map_err(|e| failed(format!("request failed: {}", e.without_url())))?
            }
            (Err(e), _) => return Err(failed(format!("request failed: {}", e.without_url()))),
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
            .map_err(|e| failed(format!("reading the body: {}", e.without_url())))?
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

/// A URL without any user info, for messages.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

fn resolve(repo_url: &str, chart_url: &str) -> Result<String, Error> {
    let base = reqwest::Url::parse(&normalize(repo_url)).map_err(|e| Error::ChartRepository {
        url: redact(repo_url),
        reason: format!("not a URL: {e}"),
    })?;
    base.join(chart_url)
        .map(String::from)
        .map_err(|e| Error::ChartRepository {
            url: redact(repo_url),
            reason: format!("chart URL {chart_url:?} in the index is not valid: {e}"),
        })
}

fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

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
        &digest[..digest.len().min(16)]
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
        assert_eq!(redact("https://u:p@r.example/x"), "https://r.example/x");
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
        let creds = RepoCredentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
