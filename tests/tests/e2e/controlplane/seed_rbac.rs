//! The seed's RBAC, applied over fresh namespaces: the flux and tiller
//! ServiceAccounts may do anything in `demo` and `flux`, only read Services
//! (flux) in `kube-system`, and nothing anywhere else.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use tests::controlplane::{ControlPlane, run, run_failing};

use super::write_file;

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-flux\ndata:\n  a: \"1\"\n";

#[tokio::test]
async fn kubectl_as_flux_is_confined_to_demo_and_flux() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let elsewhere = cluster.namespace("elsewhere").await.unwrap();
    let flux = seed.flux_kubeconfig().await.unwrap();
    assert_eq!(
        flux.user(),
        format!("system:serviceaccount:{}:flux", seed.flux.name())
    );
    let can_i = |verb: &str, resource: &str, namespace: &str| {
        let output = flux
            .kubectl()
            .unwrap()
            .args(["auth", "can-i", verb, resource, "-n", namespace])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    assert_eq!(can_i("create", "deployments.apps", seed.demo.name()), "yes");
    assert_eq!(can_i("delete", "secrets", seed.flux.name()), "yes");
    assert_eq!(can_i("list", "services", seed.kube_system.name()), "yes");
    assert_eq!(can_i("create", "services", seed.kube_system.name()), "no");
    assert_eq!(can_i("list", "configmaps", seed.kube_system.name()), "no");
    assert_eq!(can_i("create", "deployments.apps", elsewhere.name()), "no");
    // Cluster-scoped objects are out of reach. (Not asked with `can-i`: it
    // would send the kubeconfig's namespace along, which a Role matches.)
    let err = run_failing(
        flux.kubectl()
            .unwrap()
            .args(["create", "namespace", "made-by-flux"]),
    )
    .unwrap();
    assert!(err.contains("Forbidden"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "cm.yaml", CONFIG_MAP);
    for namespace in [seed.demo.name(), seed.flux.name()] {
        let out = run(flux
            .kubectl()
            .unwrap()
            .args(["apply", "--server-side", "-n", namespace, "-f"])
            .arg(&file))
        .unwrap();
        assert!(out.contains("serverside-applied"), "{out}");
    }
    for namespace in [elsewhere.name(), seed.kube_system.name()] {
        let err = run_failing(
            flux.kubectl()
                .unwrap()
                .args(["apply", "--server-side", "-n", namespace, "-f"])
                .arg(&file),
        )
        .unwrap();
        assert!(err.contains("Forbidden"), "{namespace}: {err}");
        assert!(err.contains(flux.user()), "{err}");
    }
}

#[tokio::test]
async fn kube_client_as_tiller_gets_forbidden_outside_its_namespaces() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let elsewhere = cluster.namespace("elsewhere").await.unwrap();
    let tiller = seed.tiller_kubeconfig().await.unwrap();
    let client = tiller.client().unwrap();
    let object = ConfigMap {
        metadata: ObjectMeta {
            name: Some("from-tiller".to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    for namespace in [seed.demo.name(), seed.flux.name(), seed.kube_system.name()] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        api.create(&PostParams::default(), &object).await.unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(client, elsewhere.name());
    match api.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}
