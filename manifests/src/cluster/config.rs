//! How an [`Engine`](super::Engine) applies: who it is, where it may write,
//! whether it prunes.

use serde::{Deserialize, Serialize};

use super::ResourceOutcome;
use crate::{Error, ResourceId};

/// The namespaces an engine may touch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceScope {
    /// Every namespace; cluster-scoped kinds too. Lists are cluster-wide.
    #[default]
    All,
    /// Only these namespaces (Flux's `--k8s-allow-namespace`). Nothing is
    /// listed or watched cluster-wide; a resource aimed at another namespace,
    /// or a cluster-scoped one (unless
    /// [`EngineConfig::allow_cluster_scoped`]), fails.
    Only(Vec<String>),
}

impl NamespaceScope {
    /// True when `namespace` is in scope.
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(namespaces) => namespaces.iter().any(|allowed| allowed == namespace),
        }
    }

    /// True when the scope is restricted to some namespaces.
    pub fn is_restricted(&self) -> bool {
        matches!(self, Self::Only(_))
    }
}

/// What a sync does with objects it applied once that are no longer in git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GarbageCollection {
    /// Leave them (Flux's default).
    #[default]
    Off,
    /// Report them as [`ResourceOutcome::WouldPrune`](super::ResourceOutcome::WouldPrune),
    /// delete nothing (`--sync-garbage-collection-dry`).
    DryRun,
    /// Delete them (`--sync-garbage-collection`).
    On,
}

/// How an [`Engine`](super::Engine) applies.
///
/// Start from [`EngineConfig::new`] (Flux's defaults) and change what differs
/// with the `with_*` setters; new settings come with defaults, so code
/// written this way keeps compiling as the engine grows.
///
/// ```
/// use manifests::cluster::{EngineConfig, GarbageCollection, NamespaceScope};
///
/// let config = EngineConfig::new()
///     .with_scope(NamespaceScope::Only(vec!["demo".to_owned()]))
///     .with_gc(GarbageCollection::DryRun);
/// config.validate()?;
/// assert_eq!(config.field_manager, "fluxd");
/// # Ok::<(), manifests::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The server-side apply field manager. Default `fluxd`.
    pub field_manager: String,
    /// Where the engine may write. Default [`NamespaceScope::All`].
    pub scope: NamespaceScope,
    /// With [`NamespaceScope::Only`], still apply (and prune) cluster-scoped
    /// kinds. Default false.
    pub allow_cluster_scoped: bool,
    /// The namespace of namespaced resources whose manifest names none
    /// (Flux's `--k8s-default-namespace`). Default `default`.
    pub default_namespace: String,
    /// Garbage collection. Default [`GarbageCollection::Off`].
    pub gc: GarbageCollection,
    /// Kinds garbage collection never lists (Flux's
    /// `--k8s-unsafe-exclude-resource`): globs, `*` matching anything, over
    /// `<apiVersion>/<Kind>` (`v1/Event`) or `<apiVersion>/` (every kind of
    /// a group version: `*metrics.k8s.io/*`). Default Flux's:
    /// [`DEFAULT_EXCLUDED_KINDS`].
    #[serde(default = "default_excluded_kinds")]
    pub exclude_kinds: Vec<String>,
    /// Most requests in flight at once (applies of one rank, lists, deletes).
    /// Default 16.
    pub concurrency: usize,
}

/// The kinds Flux v1 never listed by default (`--k8s-unsafe-exclude-resource`):
/// the metrics APIs, cert-manager's webhook API, and Events.
pub const DEFAULT_EXCLUDED_KINDS: [&str; 3] = [
    "*metrics.k8s.io/*",
    "webhook.certmanager.k8s.io/*",
    "v1/Event",
];

fn default_excluded_kinds() -> Vec<String> {
    DEFAULT_EXCLUDED_KINDS.map(str::to_owned).to_vec()
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            field_manager: "fluxd".to_owned(),
            scope: NamespaceScope::All,
            allow_cluster_scoped: false,
            default_namespace: "default".to_owned(),
            gc: GarbageCollection::Off,
            exclude_kinds: default_excluded_kinds(),
            concurrency: 16,
        }
    }
}

impl EngineConfig {
    /// Flux's defaults: field manager `fluxd`, every namespace, default
    /// namespace `default`, no garbage collection, Flux's excluded kinds,
    /// 16 requests at once (the same as [`EngineConfig::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`field_manager`](Self::field_manager).
    #[must_use]
    pub fn with_field_manager(mut self, field_manager: impl Into<String>) -> Self {
        self.field_manager = field_manager.into();
        self
    }

    /// Sets [`scope`](Self::scope).
    #[must_use]
    pub fn with_scope(mut self, scope: NamespaceScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets [`allow_cluster_scoped`](Self::allow_cluster_scoped).
    #[must_use]
    pub fn with_allow_cluster_scoped(mut self, allow_cluster_scoped: bool) -> Self {
        self.allow_cluster_scoped = allow_cluster_scoped;
        self
    }

    /// Sets [`default_namespace`](Self::default_namespace).
    #[must_use]
    pub fn with_default_namespace(mut self, default_namespace: impl Into<String>) -> Self {
        self.default_namespace = default_namespace.into();
        self
    }

    /// Sets [`gc`](Self::gc).
    #[must_use]
    pub fn with_gc(mut self, gc: GarbageCollection) -> Self {
        self.gc = gc;
        self
    }

    /// Sets [`exclude_kinds`](Self::exclude_kinds).
    #[must_use]
    pub fn with_exclude_kinds(
        mut self,
        exclude_kinds: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.exclude_kinds = exclude_kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Checks the configuration: a field manager, a valid default namespace,
    /// at least one allowed namespace when restricted, all of them valid, and
    /// a concurrency of at least one.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidEngineConfig { reason });
        if self.field_manager.is_empty() || self.field_manager.len() > 128 {
            return invalid(format!(
                "field manager {:?} must be 1 to 128 characters",
                self.field_manager
            ));
        }
        if !crate::names::is_dns_label(&self.default_namespace) {
            return invalid(format!(
                "default namespace {:?} is not a valid namespace name",
                self.default_namespace
            ));
        }
        if let NamespaceScope::Only(namespaces) = &self.scope {
            if namespaces.is_empty() {
                return invalid("the allowed namespaces are empty".to_owned());
            }
            if let Some(bad) = namespaces.iter().find(|ns| !crate::names::is_dns_label(ns)) {
                return invalid(format!(
                    "allowed namespace {bad:?} is not a valid namespace name"
                ));
            }
        }
        if self.concurrency == 0 {
            return invalid("concurrency must be at least 1".to_owned());
        }
        Ok(())
    }

    /// True when garbage collection never lists `kind` of `api_version`
    /// ([`Self::exclude_kinds`]).
    pub fn excludes_kind(&self, api_version: &str, kind: &str) -> bool {
        let full = format!("{api_version}/{kind}");
        let group_version = format!("{api_version}/");
        self.exclude_kinds
            .iter()
            .any(|glob| glob_matches(glob, &full) || glob_matches(glob, &group_version))
    }

    /// What becomes of `id` when the engine may not write it: under
    /// [`NamespaceScope::Only`], a resource aimed at another namespace fails
    /// (it is likely a mistake in git), and a cluster-scoped one, without
    /// [`Self::allow_cluster_scoped`], is skipped as [`OUTSIDE_SCOPE`] (the
    /// Namespace objects of the allowed namespaces are the usual case: a
    /// namespace-restricted daemon cannot manage them, and that is no error).
    pub fn out_of_scope(&self, id: &ResourceId) -> Option<ResourceOutcome> {
        let NamespaceScope::Only(namespaces) = &self.scope else {
            return None;
        };
        match id.namespace() {
            Some(namespace) if self.scope.allows(namespace) => None,
            Some(namespace) => Some(ResourceOutcome::Failed {
                message: format!(
                    "namespace {namespace:?} is not one of the allowed namespaces ({})",
                    namespaces.join(", ")
                ),
            }),
            None if self.allow_cluster_scoped => None,
            None => Some(ResourceOutcome::Skipped {
                reason: format!(
                    "{OUTSIDE_SCOPE}: cluster-scoped, and only the namespaces {} are allowed",
                    namespaces.join(", ")
                ),
            }),
        }
    }
}

/// The start of the reason of a resource skipped because it is outside the
/// allowed scope ([`ResourceOutcome::is_outside_scope`]).
pub const OUTSIDE_SCOPE: &str = "outside the allowed scope";

/// A glob where `*` matches any run of characters (slashes too) and every
/// other character itself, as Flux's glob package matched.
fn glob_matches(glob: &str, text: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_unrestricted() {
        let config = EngineConfig::default();
        config.validate().unwrap();
        assert_eq!(config.field_manager, "fluxd");
        assert!(!config.scope.is_restricted());
        let id = ResourceId::cluster_scoped("Namespace", "x");
        assert_eq!(config.out_of_scope(&id), None);
    }

    #[test]
    fn rejects_bad_configurations() {
        for (config, needle) in [
            (
                EngineConfig {
                    scope: NamespaceScope::Only(vec![]),
                    ..EngineConfig::default()
                },
                "empty",
            ),
            (
                EngineConfig {
                    scope: NamespaceScope::Only(vec!["demo".into(), "Bad_NS".into()]),
                    ..EngineConfig::default()
                },
                "\"Bad_NS\"",
            ),
            (
                EngineConfig {
                    default_namespace: String::new(),
                    ..EngineConfig::default()
                },
                "default namespace",
            ),
            (
                EngineConfig {
                    concurrency: 0,
                    ..EngineConfig::default()
                },
                "concurrency",
            ),
            (
                EngineConfig {
                    field_manager: String::new(),
                    ..EngineConfig::default()
                },
                "field manager",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn excluded_kinds_match_flux_globs() {
        let config = EngineConfig::default();
        assert!(config.excludes_kind("v1", "Event"));
        assert!(config.excludes_kind("metrics.k8s.io/v1beta1", "PodMetrics"));
        assert!(config.excludes_kind("custom.metrics.k8s.io/v1beta2", "MetricValueList"));
        assert!(config.excludes_kind("webhook.certmanager.k8s.io/v1beta1", "Anything"));
        assert!(!config.excludes_kind("v1", "ConfigMap"));
        assert!(!config.excludes_kind("events.k8s.io/v1", "Event"));
        for (glob, text, matches) in [
            ("*", "", true),
            ("a*", "a", true),
            ("*a", "ba", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob_matches(glob, text), matches, "{glob} ~ {text}");
        }
    }

    #[test]
    fn refusals_when_restricted() {
        let mut config = EngineConfig {
            scope: NamespaceScope::Only(vec!["demo".into(), "flux".into()]),
            ..EngineConfig::default()
        };
        let demo = ResourceId::namespaced("demo", "ConfigMap", "a");
        let other = ResourceId::namespaced("other", "ConfigMap", "a");
        let ns = ResourceId::cluster_scoped("Namespace", "demo");
        assert_eq!(config.out_of_scope(&demo), None);
        match config.out_of_scope(&other) {
            Some(ResourceOutcome::Failed { message }) => {
                assert!(message.contains("\"other\"") && message.contains("demo, flux"));
            }
            other => panic!("{other:?}"),
        }
        match config.out_of_scope(&ns) {
            Some(outcome @ ResourceOutcome::Skipped { .. }) => {
                assert!(outcome.is_outside_scope());
                let ResourceOutcome::Skipped { reason } = outcome else {
                    unreachable!()
                };
                assert!(reason.contains("cluster-scoped") && reason.contains("demo, flux"));
            }
            other => panic!("{other:?}"),
        }
        config.allow_cluster_scoped = true;
        assert_eq!(config.out_of_scope(&ns), None);
    }
}
