//! The polling loop: every repository in use, refreshed on an interval.

use std::borrow::Borrow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::Error;
use crate::cache::{self, CacheContents};
use crate::client::{ClientConfig, RegistryClient, RequestCounts};
use crate::credentials::Credentials;
use crate::digest::Digest;
use crate::ratelimit::backoff;
use crate::reference::Repository;
use crate::snapshot::{Image, PollError, RepositorySnapshot, Snapshot, TagInfo};

/// Most tag errors spelled out in a repository's error message.
const MAX_TAG_ERRORS_SHOWN: usize = 3;

/// How the poller runs. Names mirror fluxd's flags.
///
/// Start from [`PollerConfig::new`] (fluxd's defaults) and change what
/// differs with the `with_*` setters; new settings come with defaults.
///
/// ```
/// use std::time::Duration;
/// use registry_poller::{ClientConfig, PollerConfig};
///
/// let config = PollerConfig::new()
///     .with_poll_interval(Duration::from_secs(60))
///     .with_include(["ghcr.io/team/*"])
///     .with_client(ClientConfig::new().with_rps(10.0));
/// assert_eq!(config.client.rps, 10.0);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollerConfig {
    /// How often each repository is refreshed (`--registry-poll-interval`, 5m).
    pub poll_interval: Duration,
    /// The HTTP client: rate limit (`--registry-rps`, `--registry-burst`),
    /// concurrency, insecure hosts, platform.
    pub client: ClientConfig,
    /// Repositories polled at once.
    pub concurrency: usize,
    /// Globs of repositories to poll (`--registry-include-image`); empty
    /// means all. Matched against the full name (`docker.io/library/nginx`),
    /// the short one (`nginx`) and, on Docker Hub, Flux's
    /// `index.docker.io/library/nginx`; `*` also matches `/`.
    pub include: Vec<String>,
    /// Globs of repositories never polled (`--registry-exclude-image`);
    /// `*` switches scanning off.
    pub exclude: Vec<String>,
    /// Turns scanning off entirely (`--registry-disable-scanning`).
    pub disabled: bool,
    /// Where the cache is kept across restarts, if anywhere.
    pub cache_file: Option<PathBuf>,
    /// How often a known tag's digest is checked again (one `HEAD` per tag),
    /// for tags that move (`latest`); `None` trusts tags never to move.
    pub tag_recheck_interval: Option<Duration>,
    /// First wait after a failed poll; doubles per failure up to the poll interval.
    pub error_backoff: Duration,
    /// Told how long each fetch from a registry took ([`with_fetch_observer`](Self::with_fetch_observer)).
    fetch_observer: FetchObserverSlot,
}

/// What a fetch from a registry was for, as Flux labels it
/// (`flux_client_fetch_duration_seconds{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchKind {
    /// A repository's tag list, all its pages.
    Tags,
    /// One tag's metadata: its manifest and, for a digest not seen before,
    /// the image config (and an index's platform manifest).
    Metadata,
}

impl FetchKind {
    /// Flux's label value: `tags` or `metadata`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tags => "tags",
            Self::Metadata => "metadata",
        }
    }
}

/// Told of each fetch from a registry as it ends, for metrics. Called on
/// the poller's tasks: keep it quick.
pub trait FetchObserver: Send + Sync {
    /// A fetch of `kind` ended after `took`, successfully or not.
    fn fetched(&self, kind: FetchKind, took: Duration, ok: bool);
}

/// The observer of a [`PollerConfig`], if any (`Debug` says only whether
/// there is one).
#[derive(Clone, Default)]
struct FetchObserverSlot(Option<Arc<dyn FetchObserver>>);

impl std::fmt::Debug for FetchObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

// The observer only hears of fetches: a panic inside it leaves nothing of
// the configuration half-changed, so the configuration stays unwind-safe as
// it was before it could hold one.
impl std::panic::UnwindSafe for FetchObserverSlot {}
impl std::panic::RefUnwindSafe for FetchObserverSlot {}

impl FetchObserverSlot {
    /// Times `fetch`, telling the observer how it went.
    async fn time<T>(
        &self,
        kind: FetchKind,
        fetch: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(observer) = &self.0 else {
            return fetch.await;
        };
        let began = Instant::now();
        let result = fetch.await;
        observer.fetched(kind, began.elapsed(), result.is_ok());
        result
    }
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(300),
            client: ClientConfig::default(),
            concurrency: 4,
            include: Vec::new(),
            exclude: Vec::new(),
            disabled: false,
            cache_file: None,
            tag_recheck_interval: Some(Duration::from_secs(6 * 3600)),
            error_backoff: Duration::from_secs(30),
            fetch_observer: FetchObserverSlot::default(),
        }
    }
}

impl PollerConfig {
    /// fluxd's defaults (the same as [`PollerConfig::default`]): every
    /// repository polled every 5 minutes, four at once, tags re-checked
    /// every 6 hours, no cache file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`client`](Self::client).
    #[must_use]
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    /// Sets [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets [`include`](Self::include).
    #[must_use]
    pub fn with_include(mut self, include: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.include = include.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`exclude`](Self::exclude).
    #[must_use]
    pub fn with_exclude(mut self, exclude: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exclude = exclude.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`disabled`](Self::disabled).
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Sets [`cache_file`](Self::cache_file).
    #[must_use]
    pub fn with_cache_file(mut self, cache_file: impl Into<Option<PathBuf>>) -> Self {
        self.cache_file = cache_file.into();
        self
    }

    /// Sets [`tag_recheck_interval`](Self::tag_recheck_interval).
    #[must_use]
    pub fn with_tag_recheck_interval(
        mut self,
        tag_recheck_interval: impl Into<Option<Duration>>,
    ) -> Self {
        self.tag_recheck_interval = tag_recheck_interval.into();
        self
    }

    /// Sets [`error_backoff`](Self::error_backoff).
    #[must_use]
    pub fn with_error_backoff(mut self, error_backoff: Duration) -> Self {
        self.error_backoff = error_backoff;
        self
    }

    /// Tells `observer` how long each fetch from a registry took (the tag
    /// lists and each tag's metadata), as fluxd's metrics count them.
    #[must_use]
    pub fn with_fetch_observer(mut self, observer: Arc<dyn FetchObserver>) -> Self {
        self.fetch_observer = FetchObserverSlot(Some(observer));
        self
    }
}

/// Globs over repository names. A repository matches when a glob matches
/// its full name (`docker.io/org/app`), its short one (`org/app`) or, on
/// Docker Hub, the `index.docker.io/org/app` form Flux's globs were written
/// against.
#[derive(Debug, Clone)]
pub(crate) struct RepositoryGlobs(GlobSet);

impl RepositoryGlobs {
    /// The globs of `setting` (named in the error when one does not parse).
    pub(crate) fn new(globs: &[String], setting: &'static str) -> Result<Self, Error> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let glob = Glob::new(glob).map_err(|e| Error::InvalidConfig {
                setting,
                reason: format!("{glob:?}: {e}"),
            })?;
            builder.add(glob);
        }
        builder.build().map(Self).map_err(|e| Error::InvalidConfig {
            setting,
            reason: e.to_string(),
        })
    }

    /// Whether a glob matches `repository` by one of its names.
    pub(crate) fn matches(&self, repository: &Repository) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let full = repository.to_string();
        if self.0.is_match(&full) || self.0.is_match(repository.familiar()) {
            return true;
        }
        repository.registry() == crate::reference::DOCKER_HUB
            && self.0.is_match(format!(
                "{}/{}",
                crate::reference::LEGACY_DOCKER_HUB,
                repository.path()
            ))
    }
}

/// Which repositories are polled.
#[derive(Debug, Clone)]
struct ImageFilter {
    include: Option<RepositoryGlobs>,
    exclude: RepositoryGlobs,
}

impl ImageFilter {
    fn new(include: &[String], exclude: &[String]) -> Result<Self, Error> {
        Ok(Self {
            include: if include.is_empty() {
                None
            } else {
                Some(RepositoryGlobs::new(include, "registry-include-image")?)
            },
            exclude: RepositoryGlobs::new(exclude, "registry-exclude-image")?,
        })
    }

    fn allows(&self, repository: &Repository) -> bool {
        self.include
            .as_ref()
            .is_none_or(|include| include.matches(repository))
            && !self.exclude.matches(repository)
    }
}

/// An image in the digest cache, found by its digest.
#[derive(Debug, Clone)]
struct CachedImage(Arc<Image>);

impl PartialEq for CachedImage {
    fn eq(&self, other: &Self) -> bool {
        self.0.digest == other.0.digest
    }
}

impl Eq for CachedImage {}

impl Hash for CachedImage {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.digest.hash(state);
    }
}

impl Borrow<Digest> for CachedImage {
    fn borrow(&self) -> &Digest {
        &self.0.digest
    }
}

/// Images by manifest digest, shared with the tags that point at them.
type ImageCache = HashSet<CachedImage>;

/// Polling state of one repository.
#[derive(Debug)]
struct RepositoryState {
    credentials: Credentials,
    next_due: Instant,
    failures: u32,
    /// Hash of the sorted tag list last read in full, if every tag was read.
    list_hash: Option<u64>,
    /// When every tag's digest was last confirmed.
    verified_at: Instant,
    in_flight: bool,
}

#[derive(Debug, Default)]
struct State {
    repositories: BTreeMap<Repository, RepositoryState>,
    images: ImageCache,
    /// Tags read from the cache file, for repositories not (yet) in use.
    persisted: HashMap<Repository, Vec<(Box<str>, Digest)>>,
    dirty: bool,
    /// The last write of the cache file failed (it is tried again each round).
    write_failing: bool,
}

#[derive(Debug)]
struct Inner {
    config: PollerConfig,
    client: RegistryClient,
    filter: ImageFilter,
    state: Mutex<State>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    changed: Notify,
}

/// What one round of polling did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// Repositories polled.
    pub polled: usize,
    /// Of those, how many recorded an error.
    pub failed: usize,
    /// Requests the round sent (with other rounds running at the same time,
    /// theirs too).
    pub requests: RequestCounts,
}

/// The registry poller. Clones share one poller.
///
/// ```no_run
/// # async fn demo() -> Result<(), registry_poller::Error> {
/// use registry_poller::{Credentials, Poller, PollerConfig, Repository};
///
/// let poller = Poller::new(PollerConfig::default())?;
/// poller.set_repositories([(Repository::parse("nginx")?, Credentials::none())]);
/// let background = poller.clone();
/// tokio::spawn(async move { background.run(std::future::pending()).await });
/// // Later, without waiting on the network:
/// let snapshot = poller.snapshot();
/// if let Some(nginx) = snapshot.repository(&Repository::parse("nginx")?) {
///     for tag in nginx.tags() {
///         println!("{} {} {:?}", tag.name(), tag.digest(), tag.created());
///     }
/// }
/// # Ok(()) }
/// ```
///
/// `Debug` shows the client (configuration and request counts) and how many
/// repositories are polled; never credentials or tokens.
#[derive(Clone)]
pub struct Poller {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let repositories = match self.inner.state.lock() {
            Ok(state) => state.repositories.len(),
            Err(poisoned) => poisoned.into_inner().repositories.len(),
        };
        f.debug_struct("Poller")
            .field("client", &self.inner.client)
            .field("repositories", &repositories)
            .finish_non_exhaustive()
    }
}

enum Outcome {
    /// The tag list did not change and no recheck was due.
    Unchanged,
    /// The tags as read now, with errors of single tags.
    Read {
        tags: Vec<TagInfo>,
        list_hash: u64,
        tag_errors: Vec<String>,
    },
}

impl Poller {
    /// A poller with `config`; reads the cache file if one is configured (a
    /// bad file is logged and ignored).
    pub fn new(config: PollerConfig) -> Result<Self, Error> {
        if config.poll_interval.is_zero() {
            return Err(Error::InvalidConfig {
                setting: "registry-poll-interval",
                reason: "must be longer than zero".to_owned(),
            });
        }
        let filter = ImageFilter::new(&config.include, &config.exclude)?;
        let client = RegistryClient::new(config.client.clone())?;
        let mut state = State::default();
        if let Some(path) = &config.cache_file {
            match cache::load(path, client.platform()) {
                Ok(CacheContents {
                    images,
                    repositories,
                }) => {
                    tracing::info!(path = %path.display(), images = images.len(), repositories = repositories.len(), "read registry cache");
                    state.images = images
                        .into_iter()
                        .map(|(digest, created)| CachedImage(Arc::new(Image { digest, created })))
                        .collect();
                    state.persisted = repositories;
                }
                Err(e) => tracing::warn!(error = %e, "ignoring the registry cache file"),
            }
        }
        let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                client,
                filter,
                state: Mutex::new(state),
                snapshot,
                changed: Notify::new(),
            }),
        })
    }

    /// The current snapshot; never waits on the network.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.snapshot.subscribe()
    }

    /// Requests sent so far, by kind.
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.client.counts()
    }

    /// Whether `repository` would be polled (scanning on, include and
    /// exclude globs allow it).
    pub fn is_scanned(&self, repository: &Repository) -> bool {
        !self.inner.config.disabled && self.inner.filter.allows(repository)
    }

    /// Sets the repositories in use, each with the credentials that may
    /// pull it (merged when a repository is named twice). New ones are
    /// polled at once; ones no longer named are dropped from the snapshot.
    pub fn set_repositories(
        &self,
        repositories: impl IntoIterator<Item = (Repository, Credentials)>,
    ) {
        let mut wanted: BTreeMap<Repository, Credentials> = BTreeMap::new();
        for (repository, credentials) in repositories {
            if !self.is_scanned(&repository) {
                continue;
            }
            match wanted.get_mut(&repository) {
                Some(existing) => *existing = existing.merged(&credentials),
                None => {
                    wanted.insert(repository, credentials);
                }
            }
        }
        let now = Instant::now();
        let mut seeded = Vec::new();
        {
            let mut state = self.lock();
            let State {
                repositories: current,
                images,
                persisted,
                ..
            } = &mut *state;
            current.retain(|r, _| wanted.contains_key(r));
            for (repository, credentials) in wanted {
                if let Some(existing) = current.get_mut(&repository) {
                    existing.credentials = credentials;
                    continue;
                }
                // Start from what the cache file knew, if anything.
                let mut list_hash = None;
                if let Some(tags) = persisted.remove(&repository) {
                    let mut infos: Vec<TagInfo> = tags
                        .into_iter()
                        .filter_map(|(name, digest)| {
                            let image = images.get(&digest)?;
                            Some(TagInfo::shared(name, image.0.clone()))
                        })
                        .collect();
                    infos.sort_by(|a, b| a.name().cmp(b.name()));
                    list_hash = Some(hash_names(infos.iter().map(TagInfo::name)));
                    seeded.push((repository.clone(), infos));
                }
                current.insert(
                    repository,
                    RepositoryState {
                        credentials,
                        next_due: now,
                        failures: 0,
                        list_hash,
                        verified_at: now,
                        in_flight: false,
                    },
                );
            }
        }
        let kept: Vec<Repository> = self.lock().repositories.keys().cloned().collect();
        self.inner.snapshot.send_modify(|snapshot| {
            let snapshot = Arc::make_mut(snapshot);
            snapshot
                .repositories
                .retain(|r, _| kept.binary_search(r).is_ok());
            for repository in &kept {
                snapshot
                    .repositories
                    .entry(repository.clone())
                    .or_insert_with(|| Arc::new(RepositorySnapshot::default()));
            }
            for (repository, tags) in seeded {
                snapshot.repositories.insert(
                    repository,
                    Arc::new(RepositorySnapshot::new(tags.into(), None, None)),
                );
            }
        });
        self.inner.changed.notify_one();
    }

    /// Polls every repository now, whether due or not.
    pub async fn poll_all(&self) -> PollRound {
        let repositories: Vec<Repository> = self.lock().repositories.keys().cloned().collect();
        self.poll(repositories).await
    }

    /// Polls `repositories` now (those in use; others are ignored), as when
    /// a registry's webhook says they changed.
    pub async fn poll_repositories(&self, repositories: Vec<Repository>) -> PollRound {
        self.poll(repositories).await
    }

    /// Polls the repositories whose time has come.
    pub async fn poll_due(&self) -> PollRound {
        let now = Instant::now();
        let due: Vec<Repository> = self
            .lock()
            .repositories
            .iter()
            .filter(|(_, s)| s.next_due <= now)
            .map(|(r, _)| r.clone())
            .collect();
        self.poll(due).await
    }

    /// Polls repositories as they come due until `shutdown` completes, then
    /// writes the cache file. Returns at once, polling nothing, when
    /// scanning is disabled.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        if self.inner.config.disabled {
            tracing::info!("registry scanning is disabled");
            return;
        }
        tokio::pin!(shutdown);
        loop {
            self.poll_due().await;
            let wake = self.next_wake();
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(wake) => {}
                () = self.inner.changed.notified() => {}
            }
        }
        self.persist().await;
    }

    /// Images in the digest cache.
    pub fn cached_images(&self) -> usize {
        self.lock().images.len()
    }

    /// Forgets images no tag points at any more (nor a tag of the cache file
    /// still waiting for its repository), so the cache stays as large as the
    /// tags in use.
    fn prune_images(&self) {
        let mut state = self.lock();
        let State {
            images,
            persisted,
            dirty,
            ..
        } = &mut *state;
        let waiting: HashSet<&Digest> = persisted.values().flatten().map(|(_, d)| d).collect();
        let before = images.len();
        // A tag in any snapshot (or a poll under way) holds a second reference.
        images.retain(|image| Arc::strong_count(&image.0) > 1 || waiting.contains(&image.0.digest));
        if images.len() < before {
            tracing::debug!(forgotten = before - images.len(), "pruned the digest cache");
            *dirty = true;
        }
    }

    /// Writes the cache file now if anything changed since the last write.
    pub async fn persist(&self) {
        let Some(path) = self.inner.config.cache_file.clone() else {
            return;
        };
        let bytes = {
            let mut state = self.lock();
            if !state.dirty {
                return;
            }
            state.dirty = false;
            let snapshot = self.snapshot();
            let repositories = snapshot.iter().map(|(repository, repo)| {
                let tags = repo.tags().iter().map(|t| (t.name(), t.digest())).collect();
                (repository, tags)
            });
            let images = state.images.iter().map(|i| (&i.0.digest, i.0.created));
            cache::encode(self.inner.client.platform(), images, repositories)
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode the registry cache");
                return;
            }
        };
        let written =
            tokio::task::spawn_blocking(move || cache::write_atomically(&path, &bytes)).await;
        match written {
            Ok(Ok(())) => {
                if std::mem::take(&mut self.lock().write_failing) {
                    tracing::info!("registry cache written again");
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not write the registry cache; it is kept in memory and tried again after each poll");
                let mut state = self.lock();
                state.dirty = true;
                state.write_failing = true;
            }
            Err(e) => tracing::warn!(error = %e, "registry cache writer failed"),
        }
    }

    fn next_wake(&self) -> Instant {
        let fallback = Instant::now() + self.inner.config.poll_interval;
        self.lock()
            .repositories
            .values()
            .map(|s| s.next_due)
            .min()
            .map_or(fallback, |due| due.min(fallback))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.inner.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn poll(&self, repositories: Vec<Repository>) -> PollRound {
        let before = self.request_counts();
        let claimed: Vec<Repository> = {
            let mut state = self.lock();
            repositories
                .into_iter()
                .filter(|r| match state.repositories.get_mut(r) {
                    Some(s) if !s.in_flight => {
                        s.in_flight = true;
                        true
                    }
                    _ => false,
                })
                .collect()
        };
        let results: Vec<bool> = futures::stream::iter(claimed)
            .map(|repository| async move { self.poll_repository(repository).await })
            .buffer_unordered(self.inner.config.concurrency.max(1))
            .collect()
            .await;
        self.prune_images();
        self.persist().await;
        PollRound {
            polled: results.len(),
            failed: results.iter().filter(|ok| !**ok).count(),
            requests: self.request_counts() - before,
        }
    }

    /// Polls one repository and publishes the result; `false` if it recorded
    /// an error.
    async fn poll_repository(&self, repository: Repository) -> bool {
        let (credentials, list_hash, recheck_due) = {
            let state = self.lock();
            let Some(s) = state.repositories.get(&repository) else {
                return true;
            };
            let recheck_due = self
                .inner
                .config
                .tag_recheck_interval
                .is_some_and(|every| s.verified_at.elapsed() >= every);
            (s.credentials.clone(), s.list_hash, recheck_due)
        };
        let previous = self
            .snapshot()
            .repository(&repository)
            .cloned()
            .unwrap_or_default();
        let outcome = self
            .read_repository(&repository, &credentials, list_hash, recheck_due, &previous)
            .await;
        let now = SystemTime::now();
        // What to remember: the tag-list hash (when every tag was read), and
        // on failure how long the registry asked us to wait.
        let (published, remember) = match outcome {
            Ok(Outcome::Unchanged) => (
                RepositorySnapshot::new(previous.shared_tags().clone(), Some(now), None),
                Ok(list_hash),
            ),
            Ok(Outcome::Read {
                tags,
                tag_errors,
                list_hash,
            }) if tag_errors.is_empty() => (
                RepositorySnapshot::new(tags.into(), Some(now), None),
                Ok(Some(list_hash)),
            ),
            Ok(Outcome::Read {
                tags, tag_errors, ..
            }) => {
                let message = tag_errors_message(&tag_errors, tags.len());
                tracing::warn!(repository = %repository, error = %message, "registry poll");
                let error = PollError { message, at: now };
                let published =
                    RepositorySnapshot::new(tags.into(), previous.last_success(), Some(error));
                (published, Ok(None))
            }
            Err(e) => {
                tracing::warn!(repository = %repository, error = %e, "registry poll failed");
                let retry_after = match &e {
                    Error::RateLimited { retry_after, .. } => Some(*retry_after),
                    _ => None,
                };
                let error = PollError {
                    message: e.to_string(),
                    at: now,
                };
                let published = RepositorySnapshot::new(
                    previous.shared_tags().clone(),
                    previous.last_success(),
                    Some(error),
                );
                (published, Err(retry_after))
            }
        };
        let ok = published.last_error().is_none();
        {
            let mut state = self.lock();
            let interval = self.inner.config.poll_interval;
            let error_backoff = self.inner.config.error_backoff;
            let Some(s) = state.repositories.get_mut(&repository) else {
                return ok;
            };
            s.in_flight = false;
            let instant = Instant::now();
            let read_in_full = match remember {
                Ok(hash) => {
                    let read_in_full = hash != list_hash || recheck_due;
                    s.failures = 0;
                    s.next_due = instant + interval;
                    s.list_hash = hash;
                    if read_in_full {
                        s.verified_at = instant;
                    }
                    read_in_full
                }
                Err(retry_after) => {
                    let mut wait = backoff(error_backoff, s.failures, interval.max(error_backoff));
                    if let Some(retry_after) = retry_after {
                        wait = wait.max(retry_after);
                    }
                    s.failures = s.failures.saturating_add(1);
                    s.next_due = instant + wait;
                    false
                }
            };
            if read_in_full {
                state.dirty = true;
            }
        }
        self.inner.snapshot.send_modify(|snapshot| {
            let snapshot = Arc::make_mut(snapshot);
            if let Some(slot) = snapshot.repositories.get_mut(&repository) {
                *slot = Arc::new(published);
            }
        });
        ok
    }

    /// Reads the tag list and whatever tags need reading.
    async fn read_repository(
        &self,
        repository: &Repository,
        credentials: &Credentials,
        list_hash: Option<u64>,
        recheck_due: bool,
        previous: &RepositorySnapshot,
    ) -> Result<Outcome, Error> {
        let client = &self.inner.client;
        let auth = credentials.lookup(repository);
        let mut names = self
            .inner
            .config
            .fetch_observer
            .time(FetchKind::Tags, client.list_tags(repository, auth))
            .await?;
        names.sort_unstable();
        names.dedup();
        let hash = hash_names(names.iter().map(String::as_str));
        if list_hash == Some(hash) && !recheck_due {
            return Ok(Outcome::Unchanged);
        }
        let results: Vec<(String, Result<TagInfo, Error>)> = futures::stream::iter(names)
            .map(|name| async move {
                let result = self
                    .read_tag(repository, auth, &name, previous.tag(&name), recheck_due)
                    .await;
                (name, result)
            })
            .buffered(self.inner.config.client.max_concurrent_requests.max(1))
            .collect()
            .await;
        let mut tags = Vec::with_capacity(results.len());
        let mut tag_errors = Vec::new();
        for (name, result) in results {
            match result {
                Ok(info) => tags.push(info),
                Err(e) if is_repository_wide(&e) => return Err(e),
                Err(e) => tag_errors.push(format!("tag {name}: {e}")),
            }
        }
        Ok(Outcome::Read {
            tags,
            list_hash: hash,
            tag_errors,
        })
    }

    /// One tag: free if already known (and no recheck is due), else one
    /// manifest request, plus the config (and for an index, the platform's
    /// manifest) if the digest is new.
    async fn read_tag(
        &self,
        repository: &Repository,
        auth: Option<&crate::credentials::BasicAuth>,
        name: &str,
        known: Option<&TagInfo>,
        recheck: bool,
    ) -> Result<TagInfo, Error> {
        let client = &self.inner.client;
        if let Some(known) = known {
            if !recheck {
                return Ok(known.clone());
            }
            match client.manifest_digest(repository, name, auth).await {
                Ok(digest) if &digest == known.digest() => return Ok(known.clone()),
                Ok(_) => {}
                // No digest header: the GET below tells.
                Err(Error::InvalidResponse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let fetched = self
            .inner
            .config
            .fetch_observer
            .time(FetchKind::Metadata, async {
                let manifest = client.manifest(repository, name, auth).await?;
                if let Some(image) = self.lock().images.get(&manifest.digest) {
                    return Ok(Fetched::Known(image.0.clone()));
                }
                let created = client.created_of(repository, &manifest, auth).await?;
                Ok(Fetched::New(Image {
                    digest: manifest.digest,
                    created,
                }))
            })
            .await?;
        let image = match fetched {
            Fetched::Known(image) => return Ok(TagInfo::shared(name, image)),
            Fetched::New(image) => Arc::new(image),
        };
        let mut state = self.lock();
        state.images.insert(CachedImage(image.clone()));
        state.dirty = true;
        Ok(TagInfo::shared(name, image))
    }
}

/// A tag's image: known by its digest from another tag or repository, or
/// new.
enum Fetched {
    Known(Arc<Image>),
    New(Image),
}

/// "2 of 5 tags could not be read: tag a: ...; tag b: ..." (the first few).
fn tag_errors_message(tag_errors: &[String], tags_read: usize) -> String {
    let shown: Vec<&str> = tag_errors
        .iter()
        .take(MAX_TAG_ERRORS_SHOWN)
        .map(String::as_str)
        .collect();
    let mut message = format!(
        "{} of {} tags could not be read: {}",
        tag_errors.len(),
        tags_read + tag_errors.len(),
        shown.join("; ")
    );
    let more = tag_errors.len().saturating_sub(MAX_TAG_ERRORS_SHOWN);
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    message
}

/// Errors that stop the whole repository rather than one tag.
fn is_repository_wide(error: &Error) -> bool {
    matches!(
        error,
        Error::RateLimited { .. } | Error::Unauthorized { .. } | Error::Http { .. }
    )
}

fn hash_names<'a>(names: impl Iterator<Item = &'a str>) -> u64 {
    let mut hasher = DefaultHasher::new();
    for name in names {
        name.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_full_and_short_name() {
        let repo = |s| Repository::parse(s).unwrap();
        let off = ImageFilter::new(&[], &["*".to_owned()]).unwrap();
        assert!(!off.allows(&repo("nginx")));
        assert!(!off.allows(&repo("ghcr.io/org/app")));
        let all = ImageFilter::new(&[], &[]).unwrap();
        assert!(all.allows(&repo("nginx")));
        let some = ImageFilter::new(
            &["ghcr.io/*".to_owned(), "nginx".to_owned()],
            &["ghcr.io/org/secret".to_owned()],
        )
        .unwrap();
        assert!(some.allows(&repo("nginx")));
        assert!(some.allows(&repo("ghcr.io/org/app")));
        assert!(!some.allows(&repo("ghcr.io/org/secret")));
        assert!(!some.allows(&repo("redis")));
        let gcr = ImageFilter::new(&[], &["k8s.gcr.io/*".to_owned()]).unwrap();
        assert!(!gcr.allows(&repo("k8s.gcr.io/pause")));
        assert!(gcr.allows(&repo("docker.io/library/pause")));
        // Flux's globs name Docker Hub `index.docker.io`.
        let hub = RepositoryGlobs::new(&["index.docker.io/weaveworks/*".to_owned()], "s").unwrap();
        assert!(hub.matches(&repo("weaveworks/flux")));
        assert!(hub.matches(&repo("docker.io/weaveworks/flux")));
        assert!(!hub.matches(&repo("ghcr.io/weaveworks/flux")));
        assert!(
            !RepositoryGlobs::new(&[], "s")
                .unwrap()
                .matches(&repo("nginx"))
        );
        let err = ImageFilter::new(&[], &["a[".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("registry-exclude-image"), "{err}");
    }

    #[tokio::test]
    async fn disabled_or_excluded_polls_nothing() {
        let poller = Poller::new(PollerConfig {
            exclude: vec!["*".to_owned()],
            ..PollerConfig::default()
        })
        .unwrap();
        poller.set_repositories([(Repository::parse("nginx").unwrap(), Credentials::none())]);
        assert!(poller.snapshot().is_empty());
        assert_eq!(poller.poll_all().await.polled, 0);
        assert_eq!(poller.request_counts().total(), 0);

        let disabled = Poller::new(PollerConfig {
            disabled: true,
            ..PollerConfig::default()
        })
        .unwrap();
        disabled.set_repositories([(Repository::parse("nginx").unwrap(), Credentials::none())]);
        assert!(disabled.snapshot().is_empty());
        disabled.run(std::future::pending()).await;
    }

    #[test]
    fn bad_config_is_an_error() {
        let err = Poller::new(PollerConfig {
            poll_interval: Duration::ZERO,
            ..PollerConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("registry-poll-interval"));
    }

    #[test]
    fn corrupt_cache_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, "garbage").unwrap();
        let poller = Poller::new(PollerConfig {
            cache_file: Some(path),
            ..PollerConfig::default()
        })
        .unwrap();
        assert!(poller.snapshot().is_empty());
    }
}
