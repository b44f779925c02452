//! The one internal model every HelmRelease kind converts to.
//!
//! [`HelmReleaseResource`] is implemented by the three custom resources; its
//! [`to_release`](HelmReleaseResource::to_release) applies each era's defaults
//! (release name, wait, reset values) and checks what the CRD schema may not
//! have (an old CRD without validation can let anything in), so the
//! reconciler only ever sees a [`Release`] that makes sense.

use std::time::Duration;

use kube::{Resource, ResourceExt};
use serde_json::{Map, Value};

use crate::Error;
use crate::api::{
    HelmReleaseStatus, KeySelector, LocalObjectReference, ObjectReference, ValuesFromSource, v1,
    v1alpha2, v1beta1,
};

/// Helm's default for `--timeout`, and Flux's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// helm-operator's default for `maxHistory`.
pub const DEFAULT_MAX_HISTORY: u32 = 10;
/// Flux's default for `rollback.maxRetries`.
pub const DEFAULT_MAX_RETRIES: i64 = 5;
/// The key of a Secret or ConfigMap that holds values when none is named.
pub const DEFAULT_VALUES_KEY: &str = "values.yaml";
/// Helm's limit on release names.
pub const MAX_RELEASE_NAME_LEN: usize = 53;

/// Which custom resource a [`Release`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseKind {
    /// `flux.weave.works/v1beta1` HelmRelease.
    HelmReleaseV1beta1,
    /// `helm.fluxcd.io/v1` HelmRelease.
    HelmReleaseV1,
    /// `helm.integrations.flux.weave.works/v1alpha2` FluxHelmRelease.
    FluxHelmRelease,
}

impl ReleaseKind {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::HelmReleaseV1beta1 | Self::HelmReleaseV1 => "HelmRelease",
            Self::FluxHelmRelease => "FluxHelmRelease",
        }
    }
}

/// A Helm release as the operator acts on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// The resource it came from.
    pub kind: ReleaseKind,
    /// Namespace of the resource.
    pub namespace: String,
    /// Name of the resource.
    pub name: String,
    /// The Helm release's name.
    pub release_name: String,
    /// The namespace the release is installed into.
    pub target_namespace: String,
    /// Where the chart comes from.
    pub chart: ChartRef,
    /// Values sources, in merge order (`valueFileSecrets` first).
    pub values_from: Vec<ValuesSource>,
    /// Inline values, merged last.
    pub values: Map<String, Value>,
    /// How to run Helm.
    pub options: ReleaseOptions,
}

impl Release {
    /// `namespace:kind/name`, Flux's resource id.
    pub fn resource_id(&self) -> String {
        format!("{}:{}/{}", self.namespace, self.kind.kind(), self.name)
    }

    /// `test.ignoreFailures`.
    pub fn ignore_test_failures(&self) -> bool {
        self.options
            .test
            .as_ref()
            .is_some_and(|t| t.ignore_failures)
    }
}

impl ReleaseKind {
    /// Whether failure conditions carry what went wrong after
    /// helm-operator's message. `helm.fluxcd.io/v1` keeps helm-operator
    /// 1.4's messages exactly (the detail is in the `FailedReleaseSync`
    /// Event); the older kinds' operators wrote the error itself.
    pub fn detailed_conditions(self) -> bool {
        !matches!(self, Self::HelmReleaseV1)
    }
}

/// Where a chart comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartRef {
    /// A path in a git repository at a ref.
    Git(GitChart),
    /// A chart in a Helm (or OCI) repository.
    Repository(RepoChart),
    /// A path in the daemon's own git repository (FluxHelmRelease).
    DaemonRepository {
        /// Path of the chart in the repository.
        path: String,
        /// Do not build dependencies.
        skip_dep_update: bool,
    },
}

impl ChartRef {
    /// Whether `helm dependency update` should be skipped.
    pub fn skip_dep_update(&self) -> bool {
        match self {
            Self::Git(git) => git.skip_dep_update,
            Self::Repository(_) => true,
            Self::DaemonRepository {
                skip_dep_update, ..
            } => *skip_dep_update,
        }
    }
}

/// A chart in a git repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitChart {
    /// URL of the repository.
    pub url: String,
    /// Branch, tag or commit; the operator's default when `None`.
    pub git_ref: Option<String>,
    /// Path of the chart in the repository.
    pub path: String,
    /// Do not build dependencies.
    pub skip_dep_update: bool,
    /// Secret with HTTPS credentials for the repository.
    pub secret_ref: Option<ObjectReference>,
}

/// A chart in a Helm repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoChart {
    /// URL of the repository (`https://`, `http://` or `oci://`).
    pub url: String,
    /// Name of the chart.
    pub name: String,
    /// Version: exact, or a semver range.
    pub version: String,
    /// Secret (in the resource's namespace) with `username` and `password`.
    pub pull_secret: Option<String>,
}

/// One source of values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValuesSource {
    /// A key of a Secret.
    SecretKey(ObjectKey),
    /// A key of a ConfigMap.
    ConfigMapKey(ObjectKey),
    /// A YAML file at a URL.
    External {
        /// The URL.
        url: String,
        /// Skip when unreachable.
        optional: bool,
    },
    /// A YAML file inside the chart.
    ChartFile {
        /// Path relative to the chart's root.
        path: String,
        /// Skip when missing.
        optional: bool,
    },
}

/// A key of a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKey {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// The key.
    pub key: String,
    /// Skip when the object or key is missing.
    pub optional: bool,
}

/// How Helm installs, upgrades, rolls back and tests the release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseOptions {
    /// `--timeout`.
    pub timeout: Duration,
    /// `--reset-values`.
    pub reset_values: bool,
    /// Force resource updates through replacement.
    pub force: bool,
    /// Wait for resources to be ready.
    pub wait: bool,
    /// `--history-max`, when set.
    pub max_history: Option<u32>,
    /// `--skip-crds`.
    pub skip_crds: bool,
    /// `--disable-openapi-validation`.
    pub disable_openapi_validation: bool,
    /// Roll back a failed upgrade.
    pub rollback: Option<RollbackPolicy>,
    /// Run `helm test` after a release.
    pub test: Option<TestPolicy>,
}

/// How to roll back a failed upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackPolicy {
    /// Force resource updates through replacement.
    pub force: bool,
    /// Restart pods (Helm 3 only).
    pub recreate: bool,
    /// Skip hooks.
    pub disable_hooks: bool,
    /// `--timeout` of the rollback.
    pub timeout: Duration,
    /// Wait for resources to be ready.
    pub wait: bool,
    /// Retry the upgrade after a rollback.
    pub retry: bool,
    /// Upgrade retries after rollbacks; 0 is no limit.
    pub max_retries: i64,
}

/// How to test a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestPolicy {
    /// `--timeout` of `helm test`.
    pub timeout: Duration,
    /// Keep a release whose tests fail.
    pub ignore_failures: bool,
}

/// A HelmRelease custom resource of any era.
pub trait HelmReleaseResource:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    /// The kind, for the model and messages.
    const RELEASE_KIND: ReleaseKind;

    /// The internal model, with this era's defaults applied.
    fn to_release(&self) -> Result<Release, Error>;

    /// The status, if any was written.
    fn release_status(&self) -> Option<&HelmReleaseStatus>;
}

/// Identity and location shared by every conversion.
struct Meta {
    id: String,
    namespace: String,
    name: String,
}

impl Meta {
    fn of<K: Resource<DynamicType = ()>>(obj: &K, kind: ReleaseKind) -> Result<Self, Error> {
        let name = obj.name_any();
        let Some(namespace) = obj.namespace().filter(|ns| !ns.is_empty()) else {
            return Err(Error::InvalidSpec {
                resource: format!("{}/{name}", kind.kind()),
                reason: "the resource has no namespace".to_owned(),
            });
        };
        Ok(Self {
            id: format!("{namespace}:{}/{name}", kind.kind()),
            namespace,
            name,
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidSpec {
            resource: self.id.clone(),
            reason: reason.into(),
        }
    }

    fn release_name(&self, given: Option<&str>, default: String) -> Result<String, Error> {
        let name = match given.filter(|n| !n.is_empty()) {
            Some(given) => given.to_owned(),
            None => default,
        };
        check_release_name(&name).map_err(|reason| self.invalid(reason))?;
        Ok(name)
    }

    fn timeout(&self, field: &str, seconds: Option<i64>) -> Result<Duration, Error> {
        match seconds {
            None => Ok(DEFAULT_TIMEOUT),
            Some(s) if s > 0 => Ok(Duration::from_secs(s.unsigned_abs())),
            Some(s) => Err(self.invalid(format!(
                "{field} must be a positive number of seconds, not {s}"
            ))),
        }
    }

    fn namespace_name(&self, field: &str, value: Option<&str>) -> Result<String, Error> {
        match value.filter(|v| !v.is_empty()) {
            None => Ok(self.namespace.clone()),
            Some(ns) if manifests::names::is_dns_label(ns) => Ok(ns.to_owned()),
            Some(ns) => Err(self.invalid(format!("{field} {ns:?} is not a valid namespace name"))),
        }
    }

    fn values_from(
        &self,
        value_file_secrets: &[LocalObjectReference],
        values_from: &[ValuesFromSource],
    ) -> Result<Vec<ValuesSource>, Error> {
        let mut sources: Vec<ValuesSource> = value_file_secrets
            .iter()
            .map(|secret| {
                if secret.name.is_empty() {
                    return Err(self.invalid("valueFileSecrets has an entry without a name"));
                }
                Ok(ValuesSource::SecretKey(ObjectKey {
                    namespace: self.namespace.clone(),
                    name: secret.name.clone(),
                    key: DEFAULT_VALUES_KEY.to_owned(),
                    optional: false,
                }))
            })
            .collect::<Result<_, _>>()?;
        for (index, source) in values_from.iter().enumerate() {
            sources.push(self.values_source(index, source)?);
        }
        Ok(sources)
    }

    fn values_source(
        &self,
        index: usize,
        source: &ValuesFromSource,
    ) -> Result<ValuesSource, Error> {
        let key = |selector: &KeySelector, field: &str| -> Result<ObjectKey, Error> {
            if selector.name.is_empty() {
                return Err(self.invalid(format!("valuesFrom[{index}].{field} has no name")));
            }
            Ok(ObjectKey {
                namespace: self.namespace_name(
                    &format!("valuesFrom[{index}].{field}.namespace"),
                    selector.namespace.as_deref(),
                )?,
                name: selector.name.clone(),
                key: selector
                    .key
                    .clone()
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| DEFAULT_VALUES_KEY.to_owned()),
                optional: selector.optional.unwrap_or(false),
            })
        };
        let set = [
            source.config_map_key_ref.is_some(),
            source.secret_key_ref.is_some(),
            source.external_source_ref.is_some(),
            source.chart_file_ref.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if set != 1 {
            return Err(self.invalid(format!(
                "valuesFrom[{index}] must set exactly one of configMapKeyRef, secretKeyRef, externalSourceRef, chartFileRef ({set} set)"
            )));
        }
        if let Some(selector) = &source.config_map_key_ref {
            return Ok(ValuesSource::ConfigMapKey(key(
                selector,
                "configMapKeyRef",
            )?));
        }
        if let Some(selector) = &source.secret_key_ref {
            return Ok(ValuesSource::SecretKey(key(selector, "secretKeyRef")?));
        }
        if let Some(external) = &source.external_source_ref {
            if !(external.url.starts_with("http://") || external.url.starts_with("https://")) {
                return Err(self.invalid(format!(
                    "valuesFrom[{index}].externalSourceRef.url {:?} must be an http(s) URL",
                    external.url
                )));
            }
            return Ok(ValuesSource::External {
                url: external.url.clone(),
                optional: external.optional.unwrap_or(false),
            });
        }
        match &source.chart_file_ref {
            Some(file) if !file.path.is_empty() => Ok(ValuesSource::ChartFile {
                path: file.path.clone(),
                optional: file.optional.unwrap_or(false),
            }),
            _ => Err(self.invalid(format!("valuesFrom[{index}].chartFileRef has no path"))),
        }
    }

    fn chart(
        &self,
        git: Option<&str>,
        git_ref: Option<&str>,
        path: Option<&str>,
        repository: Option<&str>,
        name: Option<&str>,
        version: Option<&str>,
    ) -> Result<ChartShape, Error> {
        let present = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
        let (git, path) = (present(git), present(path));
        let (repository, name, version) = (present(repository), present(name), present(version));
        let git_shape = git.is_some() || path.is_some();
        let repo_shape = repository.is_some() || name.is_some() || version.is_some();
        match (git_shape, repo_shape) {
            (true, true) => Err(self.invalid(
                "chart sets both a git source (git, path) and a repository source (repository, name, version); keep one",
            )),
            (false, false) => Err(self.invalid(
                "chart needs either git and path, or repository, name and version",
            )),
            (true, false) => match (git, path) {
                (Some(url), Some(path)) => {
                    check_chart_path(&path).map_err(|r| self.invalid(r))?;
                    Ok(ChartShape::Git {
                        url,
                        git_ref: present(git_ref),
                        path,
                    })
                }
                (None, _) => Err(self.invalid("chart.path is set but chart.git is missing")),
                (_, None) => Err(self.invalid("chart.git is set but chart.path is missing")),
            },
            (false, true) => {
                let missing: Vec<&str> = [
                    ("repository", repository.is_none()),
                    ("name", name.is_none()),
                    ("version", version.is_none()),
                ]
                .iter()
                .filter(|(_, missing)| *missing)
                .map(|(field, _)| *field)
                .collect();
                match (repository, name, version) {
                    (Some(url), Some(name), Some(version)) => {
                        if !["http://", "https://", "oci://"]
                            .iter()
                            .any(|scheme| url.starts_with(scheme))
                        {
                            return Err(self.invalid(format!(
                                "chart.repository {url:?} must be an http://, https:// or oci:// URL"
                            )));
                        }
                        Ok(ChartShape::Repository(RepoChart {
                            url,
                            name,
                            version,
                            pull_secret: None,
                        }))
                    }
                    _ => Err(self.invalid(format!(
                        "chart from a repository is missing {}",
                        missing.join(", ")
                    ))),
                }
            }
        }
    }
}

enum ChartShape {
    Git {
        url: String,
        git_ref: Option<String>,
        path: String,
    },
    Repository(RepoChart),
}

/// Checks a Helm release name: a DNS-1123 label of at most 53 characters.
pub fn check_release_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_RELEASE_NAME_LEN {
        return Err(format!(
            "release name {name:?} is {} characters long; Helm allows {MAX_RELEASE_NAME_LEN} (set spec.releaseName)",
            name.len()
        ));
    }
    if !manifests::names::is_dns_label(name) {
        return Err(format!(
            "release name {name:?} must be lower-case letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A chart path must be relative and stay inside the repository.
fn check_chart_path(path: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return Err(format!(
            "chart path {path:?} must be relative to the repository root"
        ));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "chart path {path:?} must not leave the repository (no '..')"
        ));
    }
    Ok(())
}

fn values_map(values: Option<&Map<String, Value>>) -> Map<String, Value> {
    values.cloned().unwrap_or_default()
}

fn max_history(meta: &Meta, value: Option<i64>) -> Result<Option<u32>, Error> {
    match value {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| meta.invalid(format!("maxHistory must be 0 or more, not {v}"))),
    }
}

impl HelmReleaseResource for v1beta1::HelmRelease {
    const RELEASE_KIND: ReleaseKind = ReleaseKind::HelmReleaseV1beta1;

    fn to_release(&self) -> Result<Release, Error> {
        let meta = Meta::of(self, Self::RELEASE_KIND)?;
        let spec = &self.spec;
        let c = &spec.chart;
        let skip_dep_update = spec.skip_dep_update.unwrap_or(false);
        let chart = match meta.chart(
            c.git.as_deref(),
            c.git_ref.as_deref(),
            c.path.as_deref(),
            c.repository.as_deref(),
            c.name.as_deref(),
            c.version.as_deref(),
        )? {
            ChartShape::Git { url, git_ref, path } => ChartRef::Git(GitChart {
                url,
                git_ref,
                path,
                skip_dep_update,
                secret_ref: None,
            }),
            ChartShape::Repository(repo) => ChartRef::Repository(RepoChart {
                pull_secret: c.chart_pull_secret.as_ref().map(|s| s.name.clone()),
                ..repo
            }),
        };
        let target_namespace =
            meta.namespace_name("targetNamespace", spec.target_namespace.as_deref())?;
        let release_name = meta.release_name(
            spec.release_name.as_deref(),
            format!("{}-{}", meta.namespace, meta.name),
        )?;
        let rollback = match &spec.rollback {
            Some(r) if r.enable.unwrap_or(false) => Some(RollbackPolicy {
                force: r.force.unwrap_or(false),
                recreate: r.recreate.unwrap_or(false),
                disable_hooks: r.disable_hooks.unwrap_or(false),
                timeout: meta.timeout("rollback.timeout", r.timeout)?,
                wait: r.wait.unwrap_or(false),
                retry: false,
                max_retries: 0,
            }),
            _ => None,
        };
        Ok(Release {
            kind: Self::RELEASE_KIND,
            release_name,
            target_namespace,
            chart,
            values_from: meta.values_from(&spec.value_file_secrets, &spec.values_from)?,
            values: values_map(spec.values.as_ref()),
            options: ReleaseOptions {
                timeout: meta.timeout("timeout", spec.timeout)?,
                reset_values: spec.reset_values.unwrap_or(false),
                force: spec.force_upgrade.unwrap_or(false),
                wait: spec.wait.unwrap_or(false),
                max_history: None,
                skip_crds: false,
                disable_openapi_validation: false,
                rollback,
                test: None,
            },
            namespace: meta.namespace,
            name: meta.name,
        })
    }

    fn release_status(&self) -> Option<&HelmReleaseStatus> {
        self.status.as_ref()
    }
}

impl HelmReleaseResource for v1::HelmRelease {
    const RELEASE_KIND: ReleaseKind = ReleaseKind::HelmReleaseV1;

    fn to_release(&self) -> Result<Release, Error> {
        let meta = Meta::of(self, Self::RELEASE_KIND)?;
        let spec = &self.spec;
        let c = &spec.chart;
        let chart = match meta.chart(
            c.git.as_deref(),
            c.git_ref.as_deref(),
            c.path.as_deref(),
            c.repository.as_deref(),
            c.name.as_deref(),
            c.version.as_deref(),
        )? {
            ChartShape::Git { url, git_ref, path } => ChartRef::Git(GitChart {
                url,
                git_ref,
                path,
                skip_dep_update: c.skip_dep_update.unwrap_or(false),
                secret_ref: c.secret_ref.clone(),
            }),
            ChartShape::Repository(repo) => ChartRef::Repository(RepoChart {
                pull_secret: c.chart_pull_secret.as_ref().map(|s| s.name.clone()),
                ..repo
            }),
        };
        let target_namespace =
            meta.namespace_name("targetNamespace", spec.target_namespace.as_deref())?;
        // Flux's helm-operator names the release after both namespaces when they differ.
        let default_name = if target_namespace == meta.namespace {
            format!("{}-{}", meta.namespace, meta.name)
        } else {
            format!("{}-{}-{}", meta.namespace, target_namespace, meta.name)
        };
        let release_name = meta.release_name(spec.release_name.as_deref(), default_name)?;
        match spec.helm_version.as_deref() {
            None | Some("" | "v3") => {}
            Some("v2") => {
                return Err(Error::Helm2 {
                    resource: meta.id.clone(),
                    release: release_name,
                    namespace: target_namespace,
                    reason: "spec.helmVersion is v2".to_owned(),
                });
            }
            Some(other) => {
                return Err(meta.invalid(format!(
                    "helmVersion {other:?} is not a Helm version this operator runs (v3, or leave it out)"
                )));
            }
        }
        let rollback_enabled = spec
            .rollback
            .as_ref()
            .and_then(|r| r.enable)
            .unwrap_or(false);
        let test_enabled = spec.test.as_ref().and_then(|t| t.enable).unwrap_or(false);
        let rollback = match &spec.rollback {
            Some(r) if rollback_enabled => Some(RollbackPolicy {
                force: r.force.unwrap_or(false),
                recreate: r.recreate.unwrap_or(false),
                disable_hooks: r.disable_hooks.unwrap_or(false),
                timeout: meta.timeout("rollback.timeout", r.timeout)?,
                wait: r.wait.unwrap_or(false),
                retry: r.retry.unwrap_or(false),
                max_retries: match r.max_retries {
                    None => DEFAULT_MAX_RETRIES,
                    Some(n) if n >= 0 => n,
                    Some(n) => {
                        return Err(
                            meta.invalid(format!("rollback.maxRetries must be 0 or more, not {n}"))
                        );
                    }
                },
            }),
            _ => None,
        };
        let test = match &spec.test {
            Some(t) if test_enabled => Some(TestPolicy {
                timeout: meta.timeout("test.timeout", t.timeout)?,
                ignore_failures: t.ignore_failures.unwrap_or(false),
            }),
            _ => None,
        };
        Ok(Release {
            kind: Self::RELEASE_KIND,
            release_name,
            target_namespace,
            chart,
            values_from: meta.values_from(&spec.value_file_secrets, &spec.values_from)?,
            values: values_map(spec.values.as_ref()),
            options: ReleaseOptions {
                timeout: meta.timeout("timeout", spec.timeout)?,
                // Declarative by default: not set means reset.
                reset_values: spec.reset_values.unwrap_or(true),
                force: spec.force_upgrade.unwrap_or(false),
                wait: spec.wait.unwrap_or(rollback_enabled || test_enabled),
                // helm-operator's default, and Helm's.
                max_history: Some(
                    max_history(&meta, spec.max_history)?.unwrap_or(DEFAULT_MAX_HISTORY),
                ),
                skip_crds: spec.skip_crds.unwrap_or(false),
                disable_openapi_validation: spec.disable_openapi_validation.unwrap_or(false),
                rollback,
                test,
            },
            namespace: meta.namespace,
            name: meta.name,
        })
    }

    fn release_status(&self) -> Option<&HelmReleaseStatus> {
        self.status.as_ref()
    }
}

impl HelmReleaseResource for v1alpha2::FluxHelmRelease {
    const RELEASE_KIND: ReleaseKind = ReleaseKind::FluxHelmRelease;

    fn to_release(&self) -> Result<Release, Error> {
        let meta = Meta::of(self, Self::RELEASE_KIND)?;
        let spec = &self.spec;
        let Some(path) = spec.chart_git_path.clone().filter(|p| !p.is_empty()) else {
            return Err(meta.invalid("chartGitPath is missing"));
        };
        check_chart_path(&path).map_err(|r| meta.invalid(r))?;
        let release_name = meta.release_name(
            spec.release_name.as_deref(),
            format!("{}-{}", meta.namespace, meta.name),
        )?;
        Ok(Release {
            kind: Self::RELEASE_KIND,
            release_name,
            target_namespace: meta.namespace.clone(),
            chart: ChartRef::DaemonRepository {
                path,
                skip_dep_update: false,
            },
            values_from: meta.values_from(&spec.value_file_secrets, &[])?,
            values: values_map(spec.values.as_ref()),
            options: ReleaseOptions {
                timeout: DEFAULT_TIMEOUT,
                reset_values: false,
                force: false,
                wait: false,
                max_history: None,
                skip_crds: false,
                disable_openapi_validation: false,
                rollback: None,
                test: None,
            },
            namespace: meta.namespace,
            name: meta.name,
        })
    }

    fn release_status(&self) -> Option<&HelmReleaseStatus> {
        self.status.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_yaml<K: serde::de::DeserializeOwned>(yaml: &str) -> K {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn seed_style_v1beta1_umbrella_chart_from_git() {
        let hr: v1beta1::HelmRelease = from_yaml(
            r"
apiVersion: flux.weave.works/v1beta1
kind: HelmRelease
metadata: {name: xposer, namespace: demo}
spec:
  releaseName: xposer
  skipDepUpdate: true
  timeout: 60
  valueFileSecrets: [{name: xposer-secrets}]
  chart:
    git: ssh://git@github.com/stakater/flux-helm-test
    path: umbrella
    ref: master
  values:
    xposer: {replicas: 2}
",
        );
        let r = hr.to_release().unwrap();
        assert_eq!(r.kind, ReleaseKind::HelmReleaseV1beta1);
        assert_eq!(r.release_name, "xposer");
        assert_eq!(r.target_namespace, "demo");
        assert_eq!(
            r.chart,
            ChartRef::Git(GitChart {
                url: "ssh://git@github.com/stakater/flux-helm-test".into(),
                git_ref: Some("master".into()),
                path: "umbrella".into(),
                skip_dep_update: true,
                secret_ref: None,
            })
        );
        assert_eq!(
            r.values_from,
            vec![ValuesSource::SecretKey(ObjectKey {
                namespace: "demo".into(),
                name: "xposer-secrets".into(),
                key: "values.yaml".into(),
                optional: false,
            })]
        );
        assert_eq!(r.values["xposer"]["replicas"], 2);
        assert_eq!(r.options.timeout, Duration::from_secs(60));
        assert!(!r.options.reset_values && !r.options.wait);
        assert_eq!(r.resource_id(), "demo:HelmRelease/xposer");
    }

    #[test]
    fn v1beta1_defaults_release_name_and_reads_repository_chart() {
        let hr: v1beta1::HelmRelease = from_yaml(
            r"
metadata: {name: redis, namespace: demo}
spec:
  chart: {repository: 'https://charts.example.com/', name: redis, version: 1.2.3, chartPullSecret: {name: repo-auth}}
  values: {}
  rollback: {enable: true}
",
        );
        let r = hr.to_release().unwrap();
        assert_eq!(r.release_name, "demo-redis");
        assert_eq!(
            r.chart,
            ChartRef::Repository(RepoChart {
                url: "https://charts.example.com/".into(),
                name: "redis".into(),
                version: "1.2.3".into(),
                pull_secret: Some("repo-auth".into()),
            })
        );
        let rollback = r.options.rollback.unwrap();
        assert!(!rollback.retry);
        assert_eq!(rollback.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn v1_applies_helm_operator_defaults() {
        let hr: v1::HelmRelease = from_yaml(
            r"
metadata: {name: podinfo, namespace: flux}
spec:
  targetNamespace: demo
  maxHistory: 3
  skipCRDs: true
  chart: {git: 'https://example.com/repo.git', path: charts/podinfo, skipDepUpdate: true}
  valuesFrom:
  - configMapKeyRef: {name: common, key: common.yaml, optional: true}
  - secretKeyRef: {name: creds, namespace: other}
  - externalSourceRef: {url: 'https://example.com/values.yaml'}
  - chartFileRef: {path: values-prod.yaml}
  rollback: {enable: true, retry: true}
",
        );
        let r = hr.to_release().unwrap();
        assert_eq!(r.release_name, "flux-demo-podinfo");
        assert_eq!(r.target_namespace, "demo");
        assert!(
            r.options.reset_values,
            "unset resetValues means reset in v1"
        );
        assert!(r.options.wait, "rollback enabled implies wait");
        assert_eq!(r.options.max_history, Some(3));
        assert!(r.options.skip_crds, "helm-operator's field is skipCRDs");
        let rollback = r.options.rollback.unwrap();
        assert!(rollback.retry);
        assert_eq!(rollback.max_retries, DEFAULT_MAX_RETRIES);
        assert!(r.chart.skip_dep_update());
        assert_eq!(r.values_from.len(), 4);
        assert_eq!(
            r.values_from[0],
            ValuesSource::ConfigMapKey(ObjectKey {
                namespace: "flux".into(),
                name: "common".into(),
                key: "common.yaml".into(),
                optional: true,
            })
        );
        assert!(
            matches!(&r.values_from[1], ValuesSource::SecretKey(k) if k.namespace == "other" && k.key == "values.yaml")
        );
        assert!(matches!(
            &r.values_from[2],
            ValuesSource::External {
                optional: false,
                ..
            }
        ));
        assert!(
            matches!(&r.values_from[3], ValuesSource::ChartFile { path, .. } if path == "values-prod.yaml")
        );
    }

    #[test]
    fn v1_defaults_max_history_and_refuses_helm_2() {
        let hr: v1::HelmRelease = from_yaml(
            "metadata: {name: app, namespace: demo}\nspec: {chart: {repository: 'https://r/', name: a, version: 1.0.0}}",
        );
        assert_eq!(
            hr.to_release().unwrap().options.max_history,
            Some(DEFAULT_MAX_HISTORY)
        );
        let hr: v1::HelmRelease = from_yaml(
            "metadata: {name: app, namespace: demo}\nspec: {helmVersion: v2, chart: {repository: 'https://r/', name: a, version: 1.0.0}}",
        );
        let err = hr.to_release().unwrap_err();
        assert!(matches!(err, Error::Helm2 { .. }), "{err}");
        assert!(
            err.to_string().contains("helm 2to3 convert demo-app"),
            "{err}"
        );
    }

    #[test]
    fn v1alpha2_takes_the_chart_from_the_daemon_repository() {
        let fhr: v1alpha2::FluxHelmRelease = from_yaml(
            r"
metadata: {name: mongo, namespace: demo}
spec:
  chartGitPath: charts/mongodb
  valueFileSecrets: [{name: mongo-values}]
  values: {image: mongo}
",
        );
        let r = fhr.to_release().unwrap();
        assert_eq!(r.kind, ReleaseKind::FluxHelmRelease);
        assert_eq!(r.release_name, "demo-mongo");
        assert_eq!(
            r.chart,
            ChartRef::DaemonRepository {
                path: "charts/mongodb".into(),
                skip_dep_update: false
            }
        );
        assert_eq!(r.values_from.len(), 1);
        assert_eq!(r.resource_id(), "demo:FluxHelmRelease/mongo");
    }

    #[test]
    fn bad_specs_say_what_to_fix() {
        let cases = [
            ("spec: {chart: {}, values: {}}", "either git and path"),
            (
                "spec: {chart: {git: g, path: p, repository: 'https://r', name: n, version: v}, values: {}}",
                "both a git source",
            ),
            (
                "spec: {chart: {git: g}, values: {}}",
                "chart.path is missing",
            ),
            (
                "spec: {chart: {repository: 'https://r', name: n}, values: {}}",
                "missing version",
            ),
            (
                "spec: {chart: {repository: 'ftp://r', name: n, version: v}, values: {}}",
                "must be an http://",
            ),
            (
                "spec: {chart: {git: g, path: ../../etc}, values: {}}",
                "must not leave the repository",
            ),
            (
                "spec: {releaseName: Bad_Name, chart: {git: g, path: p}, values: {}}",
                "lower-case letters",
            ),
            (
                "spec: {timeout: -5, chart: {git: g, path: p}, values: {}}",
                "timeout must be a positive",
            ),
            (
                "spec: {chart: {git: g, path: p}, valuesFrom: [{}], values: {}}",
                "exactly one of",
            ),
            (
                "spec: {chart: {git: g, path: p}, valueFileSecrets: [{name: ''}], values: {}}",
                "without a name",
            ),
        ];
        for (spec, expected) in cases {
            let hr: v1beta1::HelmRelease =
                from_yaml(&format!("metadata: {{name: x, namespace: demo}}\n{spec}"));
            let err = hr.to_release().unwrap_err().to_string();
            assert!(err.contains(expected), "{spec}: {err}");
            assert!(err.contains("demo:HelmRelease/x"), "{err}");
        }
        let long = "a".repeat(60);
        let hr: v1beta1::HelmRelease = from_yaml(&format!(
            "metadata: {{name: {long}, namespace: demo}}\nspec: {{chart: {{git: g, path: p}}, values: {{}}}}"
        ));
        assert!(
            hr.to_release()
                .unwrap_err()
                .to_string()
                .contains("Helm allows 53")
        );
        let hr: v1beta1::HelmRelease =
            from_yaml("metadata: {name: x}\nspec: {chart: {git: g, path: p}}");
        assert!(
            hr.to_release()
                .unwrap_err()
                .to_string()
                .contains("no namespace")
        );
    }
}
