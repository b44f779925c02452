//! The order objects are applied in: Flux v1's ranks of kinds.

use std::cmp::Ordering;

use crate::ResourceId;

/// The rank of a kind in the apply order, as Flux v1's `rankOfKind` has it
/// (the kind compared case-insensitively, whatever its group):
///
/// | rank | kinds |
/// |---|---|
/// | 0 | Namespace |
/// | 1 | CustomResourceDefinition, ServiceAccount, ClusterRole, Role, PersistentVolume, Service |
/// | 2 | ResourceQuota, LimitRange, Secret, ConfigMap, RoleBinding, ClusterRoleBinding, PersistentVolumeClaim, Ingress |
/// | 3 | DaemonSet, Deployment, ReplicationController, ReplicaSet, Job, CronJob, StatefulSet |
/// | 4 | everything else (custom resources, ...) |
///
/// Lower ranks are applied first; garbage collection deletes in reverse.
///
/// ```
/// use manifests::cluster::rank_of_kind;
///
/// assert!(rank_of_kind("Namespace") < rank_of_kind("ConfigMap"));
/// assert!(rank_of_kind("ConfigMap") < rank_of_kind("Deployment"));
/// assert_eq!(rank_of_kind("HelmRelease"), 4);
/// ```
pub fn rank_of_kind(kind: &str) -> u8 {
    const RANKS: &[(&str, u8)] = &[
        ("namespace", 0),
        ("customresourcedefinition", 1),
        ("serviceaccount", 1),
        ("clusterrole", 1),
        ("role", 1),
        ("persistentvolume", 1),
        ("service", 1),
        ("resourcequota", 2),
        ("limitrange", 2),
        ("secret", 2),
        ("configmap", 2),
        ("rolebinding", 2),
        ("clusterrolebinding", 2),
        ("persistentvolumeclaim", 2),
        ("ingress", 2),
        ("daemonset", 3),
        ("deployment", 3),
        ("replicationcontroller", 3),
        ("replicaset", 3),
        ("job", 3),
        ("cronjob", 3),
        ("statefulset", 3),
    ];
    RANKS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(kind))
        .map_or(LAST_RANK, |(_, rank)| *rank)
}

/// The rank of kinds Flux did not name.
pub(crate) const LAST_RANK: u8 = 4;

/// Flux's apply order of two resources: by rank, then by name.
pub(crate) fn apply_order(a: &ResourceId, b: &ResourceId) -> Ordering {
    rank_of_kind(a.kind())
        .cmp(&rank_of_kind(b.kind()))
        .then_with(|| a.name().cmp(b.name()))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_ranks() {
        assert_eq!(rank_of_kind("Namespace"), 0);
        assert_eq!(rank_of_kind("namespace"), 0);
        for kind in [
            "CustomResourceDefinition",
            "ServiceAccount",
            "Service",
            "Role",
        ] {
            assert_eq!(rank_of_kind(kind), 1, "{kind}");
        }
        for kind in ["Secret", "ConfigMap", "ClusterRoleBinding", "Ingress"] {
            assert_eq!(rank_of_kind(kind), 2, "{kind}");
        }
        for kind in ["Deployment", "StatefulSet", "CronJob"] {
            assert_eq!(rank_of_kind(kind), 3, "{kind}");
        }
        for kind in ["HelmRelease", "Pod", "HorizontalPodAutoscaler"] {
            assert_eq!(rank_of_kind(kind), 4, "{kind}");
        }
    }

    #[test]
    fn orders_by_rank_then_name() {
        let mut ids = [
            ResourceId::namespaced("demo", "Deployment", "a"),
            ResourceId::namespaced("demo", "ConfigMap", "z"),
            ResourceId::cluster_scoped("Namespace", "demo"),
            ResourceId::namespaced("demo", "ConfigMap", "b"),
            ResourceId::namespaced("demo", "HelmRelease", "a"),
        ];
        ids.sort_by(apply_order);
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "<cluster>:namespace/demo",
                "demo:configmap/b",
                "demo:configmap/z",
                "demo:deployment/a",
                "demo:helmrelease/a"
            ]
        );
    }
}
