//! The pod lookup of fluxctl's port-forward: Flux's selectors (labels, then
//! `name in (flux,fluxd,weave-flux-agent)`), only Running pods, and Flux's
//! messages when none or several match.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controlplane::ControlPlane;

use super::fluxctl;

/// Creates a pod with `labels` and, with `running`, sets its phase to
/// Running through the status subresource (no kubelet would).
async fn pod(api: &Api<Pod>, name: &str, labels: serde_json::Value, running: bool) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "flux", "image": "docker.io/fluxcd/flux:1.25.4"}]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &pod).await.unwrap();
    if running {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    }
}

fn env(cluster: &ControlPlane) -> Vec<(&'static str, String)> {
    vec![(
        "KUBECONFIG",
        cluster.kubeconfig_path().display().to_string(),
    )]
}

#[tokio::test]
async fn no_running_pod_names_both_selectors() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxctl-none").await.unwrap();
    let api: Api<Pod> = Api::namespaced(cluster.client().unwrap(), ns.name());
    // A matching pod that is not Running does not count, nor does a
    // Running pod with other labels.
    pod(&api, "pending", json!({"app": "flux"}), false).await;
    pod(&api, "other", json!({"app": "memcached"}), true).await;
    let run = fluxctl(
        &["--k8s-fwd-ns", ns.name(), "list-workloads"],
        &env(cluster),
    )
    .await;
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        format!(
            "Error: No pod found in namespace \"{ns}\" using the following selectors:
  app=flux
  name in (flux,fluxd,weave-flux-agent)

Make sure Flux is running in namespace \"{ns}\".
If Flux is running in another different namespace, please supply it to --k8s-fwd-ns.
Run 'fluxctl list-workloads --help' for usage.
"
        )
    );
}

#[tokio::test]
async fn several_running_pods_are_ambiguous() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxctl-several").await.unwrap();
    let api: Api<Pod> = Api::namespaced(cluster.client().unwrap(), ns.name());
    pod(
        &api,
        "flux-a",
        json!({"app": "flux", "release": "flux"}),
        true,
    )
    .await;
    pod(
        &api,
        "flux-b",
        json!({"app": "flux", "release": "flux"}),
        true,
    )
    .await;
    let env = [
        env(cluster),
        vec![("FLUX_FORWARD_NAMESPACE", ns.name().to_owned())],
    ]
    .concat();
    let run = fluxctl(&["identity"], &env).await;
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "Error: Could not create a dialer: Could not get pod name: Ambiguous pod: found more than one pod for selector: labels \"app=flux\"\nRun 'fluxctl identity --help' for usage.\n"
    );
    // Labels that pick one of them find it (and then fail to forward: see below).
    let run = fluxctl(
        &[
            "--k8s-fwd-ns",
            ns.name(),
            "--k8s-fwd-labels",
            "app=flux,release=nope",
            "sync",
        ],
        &env,
    )
    .await;
    assert!(
        run.stderr.starts_with("Error: No pod found in namespace"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\n  app=flux,release=nope\n  name in (flux,fluxd,weave-flux-agent)\n"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn one_running_pod_by_the_fallback_selector_is_forwarded_to() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxctl-one").await.unwrap();
    let api: Api<Pod> = Api::namespaced(cluster.client().unwrap(), ns.name());
    // `fluxctl install`'s label, found by the fallback selector.
    pod(&api, "fluxd", json!({"name": "fluxd"}), true).await;
    let run = fluxctl(&["--k8s-fwd-ns", ns.name(), "list-images"], &env(cluster)).await;
    assert!(!run.ok);
    // The pod is found; with no node behind it, the API refuses the
    // forward, and fluxctl says so as Flux did.
    assert_eq!(
        run.stderr,
        "Error: Could not create port forward: pod fluxd does not have a host assigned (400 BadRequest)\nRun 'fluxctl list-images --help' for usage.\n"
    );
}

#[tokio::test]
async fn a_missing_kubeconfig_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let run = fluxctl(
        &["list-workloads"],
        &[("KUBECONFIG", missing.display().to_string())],
    )
    .await;
    assert!(
        run.stderr.starts_with(&format!(
            "Error: Could not load kubernetes configuration file: {}",
            missing.display()
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_user_who_may_not_list_pods_is_told_so() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxctl-rbac").await.unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "nobody"}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let kubeconfig = cluster
        .service_account_kubeconfig(ns.name(), "nobody")
        .await
        .unwrap();
    let env = [("KUBECONFIG", kubeconfig.path().display().to_string())];
    let run = fluxctl(&["--k8s-fwd-ns", ns.name(), "list-workloads"], &env).await;
    assert_eq!(
        run.stderr,
        format!(
            "Error: Could not create a dialer: Could not get pod name: Listing pods in kubernetes: pods is forbidden: User \"system:serviceaccount:{ns}:nobody\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\" (403 Forbidden)\nRun 'fluxctl list-workloads --help' for usage.\n"
        )
    );
}
