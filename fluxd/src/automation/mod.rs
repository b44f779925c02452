//! Image automation: the images in use, the registry poller's wiring, and
//! choosing updates.
//!
//! [`Automation`] owns a [`registry_poller::Poller`] over the image
//! repositories that the workloads in git and in the cluster (allowed
//! namespaces only) use, containers, init containers and HelmRelease values
//! alike, less `--registry-exclude-image` and within
//! `--registry-include-image`. Credentials come from the workloads'
//! `imagePullSecrets`, their ServiceAccounts' and `--docker-config`, read
//! again at each refresh. The digest cache lives in the state directory, so
//! a restart does not read every manifest again.
//!
//! [`Automation::changes`] is Flux v1's automation run: for every workload
//! in git that is automated and neither locked nor ignored, each container's
//! newest admitted tag ([`choose`]); the queue turns the changes into one
//! `auto` job, one commit, one sync.

pub(crate) mod choose;
pub(crate) mod live;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use manifests::{Ignore, Resource};
use registry_poller::{ClientConfig, Credentials, ImageRef, Poller, PollerConfig, Repository};

use crate::Error;
use crate::api::{self, AutomatedChange, ImageInfo, WorkloadContainer};
use crate::contract::Observer;
use choose::Choice;
use live::{LiveWorkloads, PullSecrets};

/// The digest cache's file in the state directory.
pub(crate) const CACHE_FILE: &str = "registry-cache.json";

/// How image automation runs (its flags, resolved). The default is the
/// registry flags' defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AutomationConfig {
    /// `--automation-interval` (or `--registry-poll-interval`): how often
    /// registries are polled and the automation run happens.
    pub interval: Duration,
    /// Scanning is off: `--registry-disable-scanning`, or an exclude glob `*`.
    pub disabled: bool,
    /// `--registry-rps`.
    pub rps: f64,
    /// `--registry-burst`.
    pub burst: u32,
    /// `--registry-insecure-host`: plain http or unverified TLS for these.
    pub insecure_hosts: Vec<String>,
    /// `--registry-include-image` (empty: all).
    pub include: Vec<String>,
    /// `--registry-exclude-image`.
    pub exclude: Vec<String>,
    /// `--registry-use-labels`: repositories whose created time comes from
    /// image labels (`org.opencontainers.image.created`, else
    /// `org.label-schema.build-date`) instead of the config's `created`.
    pub use_labels: Vec<String>,
    /// `--docker-config`.
    pub docker_config: Option<PathBuf>,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            disabled: false,
            rps: 50.0,
            burst: 10,
            insecure_hosts: Vec::new(),
            include: Vec::new(),
            exclude: vec!["k8s.gcr.io/*".to_owned()],
            use_labels: vec![
                "index.docker.io/weaveworks/*".to_owned(),
                "index.docker.io/fluxcd/*".to_owned(),
            ],
            docker_config: None,
        }
    }
}

impl AutomationConfig {
    /// Sets [`interval`](Self::interval).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`disabled`](Self::disabled).
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
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

    /// Sets [`insecure_hosts`](Self::insecure_hosts).
    #[must_use]
    pub fn with_insecure_hosts(
        mut self,
        insecure_hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.insecure_hosts = insecure_hosts.into_iter().map(Into::into).collect();
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

    /// Sets [`use_labels`](Self::use_labels).
    #[must_use]
    pub fn with_use_labels(
        mut self,
        use_labels: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.use_labels = use_labels.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`docker_config`](Self::docker_config).
    #[must_use]
    pub fn with_docker_config(mut self, docker_config: impl Into<Option<PathBuf>>) -> Self {
        self.docker_config = docker_config.into();
        self
    }
}

/// The flag behind a setting the poller refused (named as the flag is).
fn flag_of(error: &registry_poller::Error) -> Option<&'static str> {
    let registry_poller::Error::InvalidConfig { setting, .. } = error else {
        return None;
    };
    [
        "--registry-use-labels",
        "--registry-include-image",
        "--registry-exclude-image",
        "--registry-rps",
        "--registry-burst",
        "--registry-poll-interval",
    ]
    .into_iter()
    .find(|flag| flag.trim_start_matches('-') == *setting)
}

/// The poller's fetches, told to the daemon's observer (fluxd's metrics:
/// `flux_client_fetch_duration_seconds{kind}`).
struct RegistryFetches(Arc<dyn Observer>);

impl registry_poller::FetchObserver for RegistryFetches {
    fn fetched(&self, kind: registry_poller::FetchKind, took: Duration, ok: bool) {
        self.0.registry_fetch(kind.as_str(), took, ok);
    }
}

/// Image automation's state: the poller and the credentials it was given.
#[derive(Debug, Clone)]
pub struct Automation {
    poller: Poller,
    config: AutomationConfig,
    docker_config: Credentials,
}

impl Automation {
    /// Automation as `config` says, with its digest cache in `state_dir`,
    /// telling `observer` of each fetch from a registry
    /// ([`Observer::registry_fetch`](crate::contract::Observer::registry_fetch)).
    pub fn new(
        config: AutomationConfig,
        state_dir: Option<&Path>,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, Error> {
        let docker_config = match &config.docker_config {
            Some(path) => Credentials::from_docker_config_file(path)
                .map_err(|e| Error::flag("--docker-config", e.to_string()))?,
            None => Credentials::none(),
        };
        let poller = Poller::new(
            PollerConfig::new()
                .with_poll_interval(config.interval)
                .with_client(
                    ClientConfig::new()
                        .with_insecure_hosts(config.insecure_hosts.clone())
                        .with_rps(config.rps)
                        .with_burst(config.burst)
                        .with_label_timestamps(config.use_labels.clone()),
                )
                .with_include(config.include.clone())
                .with_exclude(config.exclude.clone())
                .with_disabled(config.disabled)
                .with_cache_file(state_dir.map(|dir| dir.join(CACHE_FILE)))
                .with_fetch_observer(Arc::new(RegistryFetches(observer))),
        )
        .map_err(|e| match flag_of(&e) {
            Some(flag) => Error::flag(flag, e.to_string()),
            None => Error::Registry(e),
        })?;
        Ok(Self {
            poller,
            config,
            docker_config,
        })
    }

    /// The poller (run it with [`Poller::run`]).
    pub fn poller(&self) -> &Poller {
        &self.poller
    }

    /// Whether registries are scanned at all.
    pub fn is_enabled(&self) -> bool {
        !self.config.disabled
    }

    /// The automation interval.
    pub fn interval(&self) -> Duration {
        self.config.interval
    }

    /// Tells the poller the repositories in use by `resources` (git) and
    /// `live` (the cluster), each with the pull secrets of the workloads
    /// that use it (read through `client`, in `allowed` namespaces).
    pub async fn refresh_images(
        &self,
        resources: &[Resource],
        live: &LiveWorkloads,
        client: Option<&kube::Client>,
        allowed: &[String],
    ) {
        if !self.is_enabled() {
            return;
        }
        let mut secrets = client.map(|client| PullSecrets::new(client, allowed));
        let mut wanted: Vec<(Repository, Credentials)> = Vec::new();
        // An ignored workload's images are not asked about (unless another
        // workload uses them).
        let git = resources.iter().filter(|r| !is_ignored(r)).map(|r| {
            (
                r.id().to_string(),
                r.namespace().unwrap_or_default().to_owned(),
                r.object(),
            )
        });
        let cluster = live.objects().map(|(id, object)| {
            let namespace = id.split(':').next().unwrap_or_default().to_owned();
            (id.to_owned(), namespace, object)
        });
        for (id, namespace, object) in git.chain(cluster) {
            let Ok(parsed) = id.parse::<manifests::ResourceId>() else {
                continue;
            };
            let Ok(containers) = manifests::images::container_images(object, &parsed) else {
                continue;
            };
            if containers.is_empty() {
                continue;
            }
            let credentials = match (&mut secrets, live::pod_spec(object)) {
                (Some(secrets), Some(pod)) => secrets.for_pod(&namespace, pod).await,
                _ => Credentials::none(),
            };
            let credentials = credentials.merged(&self.docker_config);
            for container in containers {
                match ImageRef::parse(&container.image) {
                    Ok(image) => wanted.push((image.repository().clone(), credentials.clone())),
                    Err(error) => tracing::debug!(
                        id,
                        container = %container.name,
                        %error,
                        "not an image reference the registry can be asked about"
                    ),
                }
            }
        }
        let count = wanted.len();
        self.poller.set_repositories(wanted);
        tracing::debug!(containers = count, "images in use refreshed");
    }

    /// The automation run over the workloads in git: the changes to make,
    /// each logged with its reason, and each skipped container logged with
    /// why.
    pub fn changes(&self, resources: &[Resource], live: &LiveWorkloads) -> Vec<AutomatedChange> {
        let snapshot = self.poller.snapshot();
        let mut changes = Vec::new();
        for resource in resources {
            let id = resource.id().to_string();
            let Ok(policies) = resource.policies() else {
                continue;
            };
            if !policies.automated || policies.locked || policies.ignore == Ignore::Yes {
                continue;
            }
            if live.ignored(&id) {
                continue;
            }
            let containers = match resource.container_images() {
                Ok(containers) => containers,
                Err(error) => {
                    tracing::warn!(workload = %id, %error, "automation skips a workload");
                    continue;
                }
            };
            for container in containers {
                let filter = policies.tag_filter(&container.name);
                let repository = ImageRef::parse(&container.image)
                    .ok()
                    .and_then(|image| snapshot.repository(image.repository()).cloned());
                let tags = choose::known_tags(repository.as_deref());
                match choose::choose(&container.image, &filter, tags) {
                    Choice::Update { target, reason } => {
                        let (Ok(current), Ok(target_ref), Ok(workload_id)) = (
                            container.image.parse::<api::ImageRef>(),
                            target.parse::<api::ImageRef>(),
                            id.parse::<api::ResourceId>(),
                        ) else {
                            continue;
                        };
                        tracing::info!(
                            workload = %id,
                            container = %container.name,
                            new = %target,
                            reason = %reason,
                            "added update to automation run"
                        );
                        changes.push(AutomatedChange {
                            workload_id,
                            container: WorkloadContainer {
                                name: container.name.clone(),
                                image: current,
                            },
                            image_id: target_ref,
                        });
                    }
                    Choice::UpToDate => {}
                    Choice::Skip(reason) => tracing::info!(
                        workload = %id,
                        container = %container.name,
                        image = %container.image,
                        reason = %reason,
                        "automation skips a container"
                    ),
                }
            }
        }
        changes
    }
}

/// Whether git says to leave the resource alone (`ignore: "true"`).
fn is_ignored(resource: &Resource) -> bool {
    resource
        .policies()
        .is_ok_and(|policies| policies.ignore == Ignore::Yes)
}

impl crate::contract::ImageSource for Automation {
    fn images(&self, repository: &str) -> Option<Vec<ImageInfo>> {
        let parsed = Repository::parse(repository).ok()?;
        let snapshot = self.poller.snapshot();
        let found = snapshot.repository(&parsed)?;
        found.last_success()?;
        let mut images: Vec<ImageInfo> = found
            .tags()
            .iter()
            .filter_map(|tag| {
                let id = format!("{repository}:{}", tag.name()).parse().ok()?;
                Some(ImageInfo {
                    id,
                    digest: tag.digest().to_string(),
                    created_at: tag
                        .created()
                        .and_then(|t| jiff::Timestamp::try_from(t).ok()),
                    ..ImageInfo::default()
                })
            })
            .collect();
        images.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.tag.cmp(&b.id.tag))
        });
        Some(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A glob the poller refuses is reported against its flag.
    #[test]
    fn a_bad_registry_glob_names_its_flag() {
        for (config, flag) in [
            (
                AutomationConfig::default().with_use_labels(["a["]),
                "--registry-use-labels",
            ),
            (
                AutomationConfig {
                    include: vec!["b[".to_owned()],
                    ..AutomationConfig::default()
                },
                "--registry-include-image",
            ),
        ] {
            match Automation::new(config, None, Arc::new(crate::contract::NoObserver)) {
                Err(Error::Flag {
                    flag: named,
                    reason,
                }) => {
                    assert_eq!(named, flag);
                    assert!(reason.contains('['), "{reason}");
                }
                other => panic!("{flag}: {:?}", other.map(|_| ())),
            }
        }
    }
}
