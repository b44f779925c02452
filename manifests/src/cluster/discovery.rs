//! What the cluster serves: each group/version/kind's API resource, its
//! scope and verbs, read with aggregated discovery (two requests), or group
//! by group from servers older than Kubernetes 1.26.

use std::collections::HashMap;

use kube::discovery::{ApiResource, Discovery, Scope};

use crate::Error;

/// One kind the cluster serves, at one version.
#[derive(Debug, Clone)]
pub(crate) struct Kind {
    /// Group, version, kind and plural.
    pub(crate) resource: ApiResource,
    /// True for namespaced kinds.
    pub(crate) namespaced: bool,
    /// The verbs the resource supports (`list`, `patch`, `delete`, ...).
    pub(crate) verbs: Vec<String>,
}

impl Kind {
    pub(crate) fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|known| known == verb)
    }
}

/// Kinds that garbage collection never lists: no sync applies them, and
/// they are many (events) or deprecated (componentstatuses).
const NEVER_COLLECTED: &[(&str, &str)] = &[
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "ComponentStatus"),
];

/// Every kind the cluster serves.
#[derive(Debug, Default)]
pub(crate) struct Kinds {
    by_gvk: HashMap<(String, String, String), Kind>,
    /// The kinds of each group's preferred version.
    preferred: Vec<Kind>,
}

impl Kinds {
    /// Discovers what the cluster serves: aggregated discovery, falling back
    /// to one request per group version.
    pub(crate) async fn discover(client: &kube::Client) -> Result<Self, Error> {
        match Self::aggregated(client).await {
            Ok(kinds) => Ok(kinds),
            Err(error) => {
                tracing::debug!(%error, "aggregated discovery failed; asking group by group");
                Self::per_group(client).await
            }
        }
    }

    async fn aggregated(client: &kube::Client) -> Result<Self, kube::Error> {
        let (core, groups) = futures::try_join!(
            client.list_core_api_versions_aggregated(),
            client.list_api_groups_aggregated()
        )?;
        let mut kinds = Self::default();
        for group in core.items.into_iter().chain(groups.items) {
            let name = group
                .metadata
                .and_then(|metadata| metadata.name)
                .unwrap_or_default();
            // Versions come in order of preference.
            for (index, version) in group.versions.into_iter().enumerate() {
                let Some(version_name) = version.version else {
                    continue;
                };
                for resource in version.resources {
                    let (Some(plural), Some(kind)) = (
                        resource.resource,
                        resource.response_kind.and_then(|gvk| gvk.kind),
                    ) else {
                        continue;
                    };
                    kinds.insert(
                        Kind {
                            resource: api_resource(&name, &version_name, &kind, &plural),
                            namespaced: resource.scope.as_deref() == Some("Namespaced"),
                            verbs: resource.verbs,
                        },
                        index == 0,
                    );
                }
            }
        }
        if kinds.by_gvk.is_empty() {
            return Err(kube::Error::Discovery(
                kube::error::DiscoveryError::MissingResource("any kind".to_owned()),
            ));
        }
        Ok(kinds)
    }

    async fn per_group(client: &kube::Client) -> Result<Self, Error> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| Error::Kube {
                context: "discovering the cluster's API resources".to_owned(),
                source: Box::new(e),
            })?;
        let mut kinds = Self::default();
        for group in discovery.groups() {
            let preferred = group.preferred_version_or_latest().to_owned();
            for version in group.versions() {
                for (resource, capabilities) in group.versioned_resources(version) {
                    kinds.insert(
                        Kind {
                            resource,
                            namespaced: capabilities.scope == Scope::Namespaced,
                            verbs: capabilities.operations,
                        },
                        version == preferred,
                    );
                }
            }
        }
        Ok(kinds)
    }

    pub(crate) fn insert(&mut self, kind: Kind, preferred: bool) {
        let resource = &kind.resource;
        let key = (
            resource.group.clone(),
            resource.version.clone(),
            resource.kind.clone(),
        );
        if preferred {
            self.preferred.push(kind.clone());
        }
        // A kind served by two resources of a version (rare): keep the first.
        self.by_gvk.entry(key).or_insert(kind);
    }

    /// The kind `kind` of `api_version` (`apps/v1`), if served.
    pub(crate) fn get(&self, api_version: &str, kind: &str) -> Option<&Kind> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        self.by_gvk
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
    }

    /// The kinds garbage collection lists: each group's preferred version,
    /// listable and deletable, without the kinds no sync applies.
    pub(crate) fn collectable(&self) -> impl Iterator<Item = &Kind> {
        self.preferred.iter().filter(|kind| {
            kind.supports("list")
                && kind.supports("delete")
                && !NEVER_COLLECTED.iter().any(|(group, name)| {
                    kind.resource.group == *group && kind.resource.kind == *name
                })
        })
    }

    /// How many kinds at any version.
    pub(crate) fn len(&self) -> usize {
        self.by_gvk.len()
    }
}

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(group: &str, version: &str, name: &str, namespaced: bool, verbs: &[&str]) -> Kind {
        Kind {
            resource: api_resource(group, version, name, &format!("{}s", name.to_lowercase())),
            namespaced,
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn finds_kinds_by_api_version() {
        let mut kinds = Kinds::default();
        kinds.insert(kind("", "v1", "ConfigMap", true, &["list", "delete"]), true);
        kinds.insert(
            kind("apps", "v1", "Deployment", true, &["list", "delete"]),
            true,
        );
        kinds.insert(
            kind(
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                true,
                &["list", "delete"],
            ),
            true,
        );
        kinds.insert(
            kind(
                "autoscaling",
                "v1",
                "HorizontalPodAutoscaler",
                true,
                &["list", "delete"],
            ),
            false,
        );
        kinds.insert(kind("", "v1", "Event", true, &["list", "delete"]), true);
        kinds.insert(kind("", "v1", "Binding", true, &["create"]), true);
        assert_eq!(
            kinds.get("v1", "ConfigMap").unwrap().resource.plural,
            "configmaps"
        );
        assert_eq!(
            kinds
                .get("apps/v1", "Deployment")
                .unwrap()
                .resource
                .api_version,
            "apps/v1"
        );
        assert!(
            kinds
                .get("autoscaling/v1", "HorizontalPodAutoscaler")
                .is_some()
        );
        assert!(kinds.get("apps/v1beta1", "Deployment").is_none());
        assert!(kinds.get("v1", "Deployment").is_none());
        let collectable: Vec<String> = kinds
            .collectable()
            .map(|kind| kind.resource.api_version.clone() + "/" + &kind.resource.kind)
            .collect();
        assert_eq!(
            collectable,
            [
                "v1/ConfigMap",
                "apps/v1/Deployment",
                "autoscaling/v2/HorizontalPodAutoscaler"
            ]
        );
        assert_eq!(kinds.len(), 6);
    }
}
