//! A small registry HTTP API v2 / OCI distribution client over reqwest.
//!
//! It reads exactly what the poller needs: tag lists (following `Link`
//! pages), manifests by tag or digest (digest from the body, so a `HEAD`
//! costs one request), and config blobs. Every request goes through one
//! global token bucket and a bound on concurrent requests, is counted by kind
//! ([`RequestCounts`]), and authenticates as the registry asks: anonymous,
//! basic, or a bearer token from the challenge's realm, cached until shortly
//! before it expires. A `429` blocks that registry host for its `Retry-After`;
//! short waits are taken in line, long ones end the request with
//! [`Error::RateLimited`].

use std::collections::{HashMap, HashSet};
use std::ops::Sub;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::Error;
use crate::auth::{Challenge, TokenCache, TokenResponse, parse_challenge};
use crate::credentials::BasicAuth;
use crate::digest::Digest;
use crate::manifest::{
    ACCEPT_MANIFESTS, ManifestKind, Platform, parse_config_created, parse_manifest,
};
use crate::poller::RepositoryGlobs;
use crate::ratelimit::{RateLimiter, backoff, parse_retry_after};
use crate::reference::{Repository, check_tag};

/// Largest manifest read (distribution's own limit is 4 MiB).
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Largest image config read.
const MAX_CONFIG_BYTES: usize = 8 << 20;
/// Largest page of a tag list.
const MAX_TAGS_PAGE_BYTES: usize = 32 << 20;
/// Largest token answer.
const MAX_TOKEN_BYTES: usize = 1 << 20;
/// Most tag-list pages followed for one repository.
const MAX_TAG_PAGES: usize = 10_000;
/// Default of [`ClientConfig::max_tags`].
pub const DEFAULT_MAX_TAGS: usize = 100_000;
/// Default of [`ClientConfig::max_tag_list_bytes`].
pub const DEFAULT_MAX_TAG_LIST_BYTES: usize = 16 << 20;
/// How many times a request is retried in line after a 429.
const MAX_INLINE_RETRIES: u32 = 3;

/// How the client talks to registries. Start from [`ClientConfig::new`]
/// and change what differs with the `with_*` setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Registry hosts (as in references, e.g. `127.0.0.1:5000`) spoken to
    /// over plain HTTP instead of HTTPS (`--registry-insecure-host`).
    pub insecure_hosts: Vec<String>,
    /// The platform whose image an index resolves to (default linux/amd64).
    pub platform: Platform,
    /// Requests per second over all registries (`--registry-rps`).
    pub rps: f64,
    /// Requests allowed at once above the steady rate (`--registry-burst`).
    pub burst: u32,
    /// Requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// A `Retry-After` up to this long is waited out in line; longer ones
    /// fail the request with [`Error::RateLimited`].
    pub max_inline_retry_wait: Duration,
    /// `n` sent with tag-list requests; the registry may page smaller.
    pub tags_page_size: Option<u32>,
    /// Most tags read for one repository, over all its pages; a longer list
    /// fails the repository with [`Error::InvalidResponse`] rather than
    /// growing without bound. Default [`DEFAULT_MAX_TAGS`].
    pub max_tags: usize,
    /// Most bytes of tag-list bodies read for one repository, over all its
    /// pages (each page is also bounded on its own). Default
    /// [`DEFAULT_MAX_TAG_LIST_BYTES`].
    pub max_tag_list_bytes: usize,
    /// Globs of repositories whose images' creation time comes from their
    /// labels (`--registry-use-labels`): `org.opencontainers.image.created`,
    /// else `org.label-schema.build-date`, else the config's `created`, for
    /// builds that write a fixed `created` to be reproducible. Matched as
    /// the include and exclude globs are. Default: none.
    pub label_timestamps: Vec<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure_hosts: Vec::new(),
            platform: Platform::default(),
            rps: 50.0,
            burst: 125,
            max_concurrent_requests: 8,
            request_timeout: Duration::from_secs(30),
            max_inline_retry_wait: Duration::from_secs(10),
            // Registries that page do so by themselves, with `Link`; some
            // refuse an `n` larger than they like.
            tags_page_size: None,
            max_tags: DEFAULT_MAX_TAGS,
            max_tag_list_bytes: DEFAULT_MAX_TAG_LIST_BYTES,
            label_timestamps: Vec::new(),
        }
    }
}

impl ClientConfig {
    /// The defaults (the same as [`ClientConfig::default`]): HTTPS
    /// everywhere, linux/amd64, 50 requests a second with bursts of 125,
    /// 8 at once, 30 s per request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`insecure_hosts`](Self::insecure_hosts).
    #[must_use]
    pub fn with_insecure_hosts(
        mut self,
        insecure_hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.insecure_hosts = insecure_hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`platform`](Self::platform).
    #[must_use]
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    /// Sets [`rps`](Self::rps).
    #[must_use]
    pub fn with_rps(mut self, rps: f64) -> Self {
        self.rps = rps;
        self
    }

    /// Sets [`burst`](Self::burst).
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Sets [`max_concurrent_requests`](Self::max_concurrent_requests).
    #[must_use]
    pub fn with_max_concurrent_requests(mut self, max_concurrent_requests: usize) -> Self {
        self.max_concurrent_requests = max_concurrent_requests;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    /// Sets [`max_inline_retry_wait`](Self::max_inline_retry_wait).
    #[must_use]
    pub fn with_max_inline_retry_wait(mut self, max_inline_retry_wait: Duration) -> Self {
        self.max_inline_retry_wait = max_inline_retry_wait;
        self
    }

    /// Sets [`tags_page_size`](Self::tags_page_size).
    #[must_use]
    pub fn with_tags_page_size(mut self, tags_page_size: impl Into<Option<u32>>) -> Self {
        self.tags_page_size = tags_page_size.into();
        self
    }

    /// Sets [`max_tags`](Self::max_tags).
    #[must_use]
    pub fn with_max_tags(mut self, max_tags: usize) -> Self {
        self.max_tags = max_tags;
        self
    }

    /// Sets [`max_tag_list_bytes`](Self::max_tag_list_bytes).
    #[must_use]
    pub fn with_max_tag_list_bytes(mut self, max_tag_list_bytes: usize) -> Self {
        self.max_tag_list_bytes = max_tag_list_bytes;
        self
    }

    /// Sets [`label_timestamps`](Self::label_timestamps).
    #[must_use]
    pub fn with_label_timestamps(
        mut self,
        label_timestamps: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.label_timestamps = label_timestamps.into_iter().map(Into::into).collect();
        self
    }
}

/// Requests sent, by kind. Every HTTP request counts, including those
/// answered 401 or 429 and `HEAD`s of manifests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Tag-list pages.
    pub tags: u64,
    /// Manifests (by tag or digest, `GET` or `HEAD`).
    pub manifest: u64,
    /// Config blobs.
    pub blob: u64,
    /// Token-service requests.
    pub token: u64,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.tags + self.manifest + self.blob + self.token
    }
}

impl Sub for RequestCounts {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            tags: self.tags.saturating_sub(earlier.tags),
            manifest: self.manifest.saturating_sub(earlier.manifest),
            blob: self.blob.saturating_sub(earlier.blob),
            token: self.token.saturating_sub(earlier.token),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    tags: AtomicU64,
    manifest: AtomicU64,
    blob: AtomicU64,
    token: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tags,
    Manifest,
    Blob,
    Token,
}

/// A manifest as fetched: its digest and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedManifest {
    /// Digest of the manifest's bytes.
    pub digest: Digest,
    /// What it says.
    pub kind: ManifestKind,
}

/// The registry client. Cheap to share by reference; one per poller.
///
/// `Debug` shows the configuration and request counts, never tokens.
///
/// A redirect is followed (at most 10), and reqwest drops the
/// `Authorization` header when it leads to another host, port or scheme, so
/// a bearer token or password never reaches a server it was not meant for
/// (tested against a redirecting registry front).
pub struct RegistryClient {
    http: reqwest::Client,
    config: ClientConfig,
    tokens: TokenCache,
    /// Hosts that asked for basic auth: credentials go with the first request.
    basic_hosts: Mutex<HashSet<String>>,
    /// Hosts that answered 429, until when.
    blocked: Mutex<HashMap<String, Instant>>,
    limiter: RateLimiter,
    permits: Semaphore,
    counters: Counters,
    /// [`ClientConfig::label_timestamps`], compiled.
    label_timestamps: RepositoryGlobs,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("config", &self.config)
            .field("tokens", &self.tokens)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
pub(crate) struct TagList {
    #[serde(default)]
    pub(crate) tags: Option<Vec<String>>,
}

impl RegistryClient {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        if !(config.rps.is_finite() && config.rps > 0.0) {
            return Err(Error::InvalidConfig {
                setting: "registry-rps",
                reason: format!("{} is not a positive number", config.rps),
            });
        }
        if config.burst == 0 {
            return Err(Error::InvalidConfig {
                setting: "registry-burst",
                reason: "must be at least 1".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "fluxrs-registry-poller/",
                env!("CARGO_PKG_VERSION")
            ))
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::InvalidConfig {
                setting: "http client",
                reason: e.to_string(),
            })?;
        let label_timestamps =
            RepositoryGlobs::new(&config.label_timestamps, "registry-use-labels")?;
        Ok(Self {
            http,
            label_timestamps,
            limiter: RateLimiter::new(config.rps, config.burst),
            permits: Semaphore::new(config.max_concurrent_requests.max(1)),
            config,
            tokens: TokenCache::default(),
            basic_hosts: Mutex::default(),
            blocked: Mutex::default(),
            counters: Counters::default(),
        })
    }

    /// The configured platform.
    pub fn platform(&self) -> &Platform {
        &self.config.platform
    }

    /// Requests sent so far, by kind.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            tags: self.counters.tags.load(Ordering::Relaxed),
            manifest: self.counters.manifest.load(Ordering::Relaxed),
            blob: self.counters.blob.load(Ordering::Relaxed),
            token: self.counters.token.load(Ordering::Relaxed),
        }
    }

    /// How long `host` is still blocked by a 429, if it is.
    pub fn blocked_for(&self, host: &str) -> Option<Duration> {
        let blocked = lock(&self.blocked);
        let until = blocked.get(host)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Whether `host` (with its port, as in references) is spoken to over
    /// plain HTTP.
    fn is_insecure(&self, host: &str) -> bool {
        self.config.insecure_hosts.iter().any(|h| h == host)
    }

    fn base_url(&self, repository: &Repository) -> String {
        let insecure =
            self.is_insecure(repository.registry()) || self.is_insecure(repository.api_host());
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{}", repository.api_host())
    }

    /// Every tag of `repository`, following `Link` pages, in the registry's
    /// order. Tags that are not valid tag names are skipped.
    ///
    /// Bounded: at most [`ClientConfig::max_tags`] tags and
    /// [`ClientConfig::max_tag_list_bytes`] bytes of bodies over all pages;
    /// past either the list fails with [`Error::InvalidResponse`].
    pub async fn list_tags(
        &self,
        repository: &Repository,
        credentials: Option<&BasicAuth>,
    ) -> Result<Vec<String>, Error> {
        let base = self.base_url(repository);
        let mut url = format!("{base}/v2/{}/tags/list", repository.path());
        if let Some(n) = self.config.tags_page_size {
            url.push_str(&format!("?n={n}"));
        }
        let mut tags = Vec::new();
        let mut seen = HashSet::new();
        let mut bytes_read = 0usize;
        for _ in 0..MAX_TAG_PAGES {
            if !seen.insert(url.clone()) {
                return Err(invalid(
                    &url,
                    "Link header leads back to a page already read",
                ));
            }
            let response = self
                .send(Kind::Tags, repository, credentials, Method::GET, &url, None)
                .await?;
            let response = expect_ok(response, &url, repository, "repository").await?;
            let next = next_link(response.headers(), &base, &url)?;
            let room = self
                .config
                .max_tag_list_bytes
                .saturating_sub(bytes_read)
                .min(MAX_TAGS_PAGE_BYTES);
            let body = read_body(response, &url, room).await.map_err(|e| {
                if room < MAX_TAGS_PAGE_BYTES && matches!(e, Error::InvalidResponse { .. }) {
                    invalid(
                        &url,
                        &format!(
                            "tag list longer than {} bytes over all pages (max_tag_list_bytes)",
                            self.config.max_tag_list_bytes
                        ),
                    )
                } else {
                    e
                }
            })?;
            bytes_read += body.len();
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| invalid(&url, &format!("tag list is not JSON: {e}")))?;
            let page_tags = page.tags.unwrap_or_default();
            if tags.len() + page_tags.len() > self.config.max_tags {
                return Err(invalid(
                    &url,
                    &format!(
                        "more than {} tags in the repository (max_tags)",
                        self.config.max_tags
                    ),
                ));
            }
            for tag in page_tags {
                if check_tag(&tag).is_ok() {
                    tags.push(tag);
                } else {
                    tracing::warn!(repository = %repository, tag = %tag.escape_debug(), "registry listed an invalid tag; skipped");
                }
            }
            match next {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        Err(invalid(
            &url,
            &format!("more than {MAX_TAG_PAGES} pages of tags"),
        ))
    }

    /// `GET`s the manifest `reference` (a tag or digest) and reads it.
    pub async fn manifest(
        &self,
        repository: &Repository,
        reference: &str,
        credentials: Option<&BasicAuth>,
    ) -> Result<FetchedManifest, Error> {
        let (url, response) = self
            .manifest_request(repository, reference, credentials, Method::GET)
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let url = answered_at(&url, &response);
        let body = read_body(response, &url, MAX_MANIFEST_BYTES).await?;
        let digest = Digest::sha256_of(&body);
        if let Ok(wanted) = Digest::parse(reference)
            && wanted.verifies(&body) == Some(false)
        {
            return Err(invalid(&url, "manifest does not match its digest"));
        }
        let separator = if reference.contains(':') { '@' } else { ':' };
        let image = format!("{repository}{separator}{reference}");
        let kind = parse_manifest(
            &image,
            content_type.as_deref(),
            &body,
            &self.config.platform,
            &url,
        )?;
        Ok(FetchedManifest { digest, kind })
    }

    /// The digest `reference` points at now, by `HEAD` (one request, no body).
    pub async fn manifest_digest(
        &self,
        repository: &Repository,
        reference: &str,
        credentials: Option<&BasicAuth>,
    ) -> Result<Digest, Error> {
        let (url, response) = self
            .manifest_request(repository, reference, credentials, Method::HEAD)
            .await?;
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| invalid(&url, "no Docker-Content-Digest header"))?;
        Digest::parse(header)
    }

    /// Sends a manifest request; a 2xx answer and its URL.
    async fn manifest_request(
        &self,
        repository: &Repository,
        reference: &str,
        credentials: Option<&BasicAuth>,
        method: Method,
    ) -> Result<(String, reqwest::Response), Error> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(repository),
            repository.path()
        );
        let response = self
            .send(
                Kind::Manifest,
                repository,
                credentials,
                method,
                &url,
                Some(ACCEPT_MANIFESTS),
            )
            .await?;
        let what = format!("manifest {reference}");
        let response = expect_ok(response, &url, repository, &what).await?;
        Ok((url, response))
    }

    /// The `created` time in the config blob `digest` (or, for a repository
    /// in [`ClientConfig::label_timestamps`], the time its labels give).
    pub async fn config_created(
        &self,
        repository: &Repository,
        digest: &Digest,
        credentials: Option<&BasicAuth>,
    ) -> Result<Option<SystemTime>, Error> {
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(repository),
            repository.path()
        );
        let response = self
            .send(Kind::Blob, repository, credentials, Method::GET, &url, None)
            .await?;
        let response = expect_ok(response, &url, repository, &format!("blob {digest}")).await?;
        let url = answered_at(&url, &response);
        let body = read_body(response, &url, MAX_CONFIG_BYTES).await?;
        if digest.verifies(&body) == Some(false) {
            return Err(invalid(&url, "config blob does not match its digest"));
        }
        parse_config_created(&body, &url, self.label_timestamps.matches(repository))
    }

    /// The creation time of the image a manifest leads to: its config's, or
    /// for an index the selected platform's (one more manifest request).
    pub async fn created_of(
        &self,
        repository: &Repository,
        manifest: &FetchedManifest,
        credentials: Option<&BasicAuth>,
    ) -> Result<Option<SystemTime>, Error> {
        let config = match &manifest.kind {
            ManifestKind::Image { config } => config.clone(),
            ManifestKind::Index { platform_manifest } => {
                let child = self
                    .manifest(repository, &platform_manifest.to_string(), credentials)
                    .await?;
                match child.kind {
                    ManifestKind::Image { config } => config,
                    ManifestKind::Index { .. } => {
                        return Err(Error::InvalidResponse {
                            url: format!("{repository}@{platform_manifest}"),
                            reason: "an index entry is itself an index".to_owned(),
                        });
                    }
                }
            }
        };
        self.config_created(repository, &config, credentials).await
    }

    /// Sends one request, authenticating and retrying as the registry asks.
    async fn send(
        &self,
        kind: Kind,
        repository: &Repository,
        credentials: Option<&BasicAuth>,
        method: Method,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        let host = repository.api_host();
        let scope = format!("repository:{}:pull", repository.path());
        let mut auth_tried = false;
        let mut rate_retries = 0;
        // A token just fetched is used for the retry even if it is already
        // past our early-expiry margin (short-lived tokens, a slow machine).
        let mut fresh_token: Option<String> = None;
        loop {
            self.wait_if_blocked(host).await?;
            let _permit = self.permits.acquire().await;
            self.limiter.acquire().await;
            self.count(kind);
            let mut request = self.http.request(method.clone(), url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(token) = fresh_token.take().or_else(|| self.tokens.get(host, &scope)) {
                request = request.bearer_auth(token);
            } else if let Some(credentials) = credentials
                && lock(&self.basic_hosts).contains(host)
            {
                request = request.basic_auth(credentials.username(), Some(credentials.password()));
            }
            tracing::trace!(%method, url, "registry request");
            let response = request.send().await.map_err(|e| Error::Http {
                url: url.to_owned(),
                source: e.without_url(),
            })?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !auth_tried => {
                    auth_tried = true;
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_challenge);
                    match challenge {
                        Some(Challenge::Basic) => {
                            if credentials.is_none() {
                                return Err(unauthorized(
                                    host,
                                    "the registry asks for a user name and password and no credentials match it",
                                ));
                            }
                            lock(&self.basic_hosts).insert(host.to_owned());
                        }
                        Some(Challenge::Bearer { realm, service, .. }) => {
                            self.tokens.remove(host, &scope);
                            let token = self
                                .fetch_token(host, &realm, service.as_deref(), &scope, credentials)
                                .await?;
                            fresh_token = Some(token);
                        }
                        None => {
                            return Err(unauthorized(
                                host,
                                "401 without a Basic or Bearer challenge",
                            ));
                        }
                    }
                }
                StatusCode::UNAUTHORIZED => {
                    self.tokens.remove(host, &scope);
                    let reason = if credentials.is_some() {
                        "the registry refused the credentials"
                    } else {
                        "the registry refused anonymous access"
                    };
                    return Err(unauthorized(host, reason));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()))
                        .unwrap_or_else(|| {
                            backoff(
                                Duration::from_secs(1),
                                rate_retries,
                                Duration::from_secs(60),
                            )
                        });
                    self.block(host, wait);
                    tracing::info!(registry = host, retry_after = ?wait, "rate limited");
                    if wait > self.config.max_inline_retry_wait
                        || rate_retries >= MAX_INLINE_RETRIES
                    {
                        return Err(Error::RateLimited {
                            registry: host.to_owned(),
                            retry_after: wait,
                        });
                    }
                    rate_retries += 1;
                }
                _ => return Ok(response),
            }
        }
    }

    /// Gets a bearer token from `realm` for `scope`, sending credentials if
    /// any, caches it and returns it.
    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&BasicAuth>,
    ) -> Result<String, Error> {
        let mut url = Url::parse(realm)
            .map_err(|e| unauthorized(host, &format!("token realm {realm:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(unauthorized(
                host,
                &format!("token realm {realm:?} is not http(s)"),
            ));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        if url.scheme() == "http" && credentials.is_some() {
            // A password in the clear is only sent where the user said plain
            // HTTP is fine: to a host they listed as insecure.
            let realm_host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                (None, _) => String::new(),
            };
            if !self.is_insecure(&realm_host) {
                return Err(unauthorized(
                    host,
                    &format!(
                        "refusing to send credentials to the plain-http token realm {realm:?}; list {realm_host} as an insecure registry host to allow it"
                    ),
                ));
            }
        }
        let _permit = self.permits.acquire().await;
        self.limiter.acquire().await;
        self.count(Kind::Token);
        let mut request = self.http.get(url.clone());
        if let Some(credentials) = credentials {
            request = request.basic_auth(credentials.username(), Some(credentials.password()));
        }
        let response = request.send().await.map_err(|e| Error::Http {
            url: realm.to_owned(),
            source: e.without_url(),
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let reason = if credentials.is_some() {
                format!("token service {realm} refused the credentials ({status})")
            } else {
                format!("token service {realm} refused anonymous access ({status})")
            };
            return Err(unauthorized(host, &reason));
        }
        if !status.is_success() {
            return Err(status_error(response, realm).await);
        }
        let body = read_body(response, realm, MAX_TOKEN_BYTES).await?;
        let answer: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| invalid(realm, &format!("token answer is not JSON: {e}")))?;
        let (token, lifetime) = answer
            .into_token()
            .ok_or_else(|| invalid(realm, "token answer has no token"))?;
        tracing::debug!(registry = host, scope, lifetime = ?lifetime, "got a bearer token");
        self.tokens.insert(host, scope, token.clone(), lifetime);
        Ok(token)
    }

    async fn wait_if_blocked(&self, host: &str) -> Result<(), Error> {
        let Some(left) = self.blocked_for(host) else {
            return Ok(());
        };
        if left > self.config.max_inline_retry_wait {
            return Err(Error::RateLimited {
                registry: host.to_owned(),
                retry_after: left,
            });
        }
        tokio::time::sleep(left).await;
        Ok(())
    }

    fn block(&self, host: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut blocked = lock(&self.blocked);
        let entry = blocked.entry(host.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn count(&self, kind: Kind) {
        let counter = match kind {
            Kind::Tags => &self.counters.tags,
            Kind::Manifest => &self.counters.manifest,
            Kind::Blob => &self.counters.blob,
            Kind::Token => &self.counters.token,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// `url`, and where the answer came from when a redirect led elsewhere
/// (scheme, host and path only: a blob store's signed query stays out of
/// errors and logs), so an error names the host that really answered.
fn answered_at(url: &str, response: &reqwest::Response) -> String {
    let answered = response.url();
    if answered.as_str() == url {
        return url.to_owned();
    }
    let mut shown = answered.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    format!("{url} (redirected to {shown})")
}

fn invalid(url: &str, reason: &str) -> Error {
    Error::InvalidResponse {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

fn unauthorized(host: &str, reason: &str) -> Error {
    Error::Unauthorized {
        registry: host.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Passes a 2xx answer on; 404 is [`Error::NotFound`]; anything else
/// [`Error::Status`] with the start of the body.
async fn expect_ok(
    response: reqwest::Response,
    url: &str,
    repository: &Repository,
    what: &str,
) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(Error::NotFound {
            repository: repository.to_string(),
            what: what.to_owned(),
        });
    }
    Err(status_error(response, url).await)
}

async fn status_error(response: reqwest::Response, url: &str) -> Error {
    let status = response.status().as_u16();
    let body = read_body(response, url, 64 << 10).await.unwrap_or_default();
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Error::Status {
        url: url.to_owned(),
        status,
        body: text.trim().to_owned(),
    }
}

/// Reads a body of at most `limit` bytes.
async fn read_body(
    mut response: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Http {
        url: url.to_owned(),
        source: e.without_url(),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(invalid(url, &format!("answer larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `rel="next"` target of a `Link` header, resolved against the
/// registry; it must stay on the same registry.
pub(crate) fn next_link(
    headers: &HeaderMap,
    base: &str,
    url: &str,
) -> Result<Option<String>, Error> {
    let Some(value) = headers.get(LINK) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid(url, "Link header is not text"))?;
    for link in value.split(',') {
        let Some((target, params)) = link.trim().split_once(';') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            continue;
        }
        let target = target
            .trim()
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .ok_or_else(|| invalid(url, "Link target is not in <...>"))?;
        let base_url = Url::parse(base).map_err(|e| invalid(url, &e.to_string()))?;
        let next = base_url
            .join(target)
            .map_err(|e| invalid(url, &format!("Link target {target:?}: {e}")))?;
        if next.origin() != base_url.origin() {
            return Err(invalid(
                url,
                &format!("Link target {target:?} leaves the registry"),
            ));
        }
        return Ok(Some(next.to_string()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn link(value: &str) -> Result<Option<String>, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(LINK, HeaderValue::from_str(value).unwrap());
        next_link(&headers, "http://127.0.0.1:5000", "u")
    }

    #[test]
    fn follows_next_links_on_the_same_registry() {
        assert_eq!(
            link(r#"</v2/team/app/tags/list?last=b&n=2>; rel="next""#)
                .unwrap()
                .as_deref(),
            Some("http://127.0.0.1:5000/v2/team/app/tags/list?last=b&n=2")
        );
        assert_eq!(
            link(r#"<http://127.0.0.1:5000/v2/a/tags/list?last=c>; rel=next"#)
                .unwrap()
                .as_deref(),
            Some("http://127.0.0.1:5000/v2/a/tags/list?last=c")
        );
        assert_eq!(link(r#"</v2/x>; rel="prev""#).unwrap(), None);
        assert!(link(r#"<http://evil.example/v2/x>; rel="next""#).is_err());
        assert!(link(r#"/v2/x; rel="next""#).is_err());
    }

    #[test]
    fn config_is_checked() {
        let bad = ClientConfig {
            rps: 0.0,
            ..ClientConfig::default()
        };
        assert!(
            RegistryClient::new(bad)
                .unwrap_err()
                .to_string()
                .contains("registry-rps")
        );
        let bad = ClientConfig {
            burst: 0,
            ..ClientConfig::default()
        };
        assert!(
            RegistryClient::new(bad)
                .unwrap_err()
                .to_string()
                .contains("registry-burst")
        );
    }

    #[test]
    fn counts_subtract() {
        let a = RequestCounts {
            tags: 5,
            manifest: 3,
            blob: 2,
            token: 1,
        };
        let b = RequestCounts {
            tags: 2,
            manifest: 3,
            blob: 0,
            token: 0,
        };
        assert_eq!((a - b).total(), 6);
    }
}
