//! Starting, identifying and stopping control planes.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, ListParams};
use tests::controlplane::{ControlPlane, run};

#[tokio::test]
async fn reports_the_pinned_version_to_kube_and_kubectl() {
    let cluster = ControlPlane::shared().await.unwrap();
    let version = cluster.client().unwrap().apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.35.4");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "35")
    );

    let output = cluster
        .admin()
        .kubectl()
        .unwrap()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["serverVersion"]["gitVersion"], "v1.35.4");
    // No version-skew warning between kubectl 1.35 and the 1.35 server.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[tokio::test]
async fn controllers_fill_new_namespaces() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("controllers").await.unwrap();
    let client = cluster.client().unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns.name());
    let config_maps: Api<ConfigMap> = Api::namespaced(client, ns.name());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let account = accounts.get_opt("default").await.unwrap();
        let root_ca = config_maps.get_opt("kube-root-ca.crt").await.unwrap();
        if let (Some(_), Some(root_ca)) = (account, root_ca) {
            let published = &root_ca.data.unwrap()["ca.crt"];
            assert_eq!(published.trim(), cluster.ca_pem().trim());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no default ServiceAccount or kube-root-ca.crt"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn request_counts_see_a_clients_requests() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("metrics").await.unwrap();
    let before = cluster.request_counts().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), ns.name());
    for _ in 0..3 {
        pods.list(&ListParams::default()).await.unwrap();
    }
    let after = cluster.request_counts().await.unwrap();
    let made = after.since(&before);
    assert!(made.get("LIST", "pods") >= 3, "{made:?}");
    assert!(after.total() > before.total());
}

#[tokio::test]
async fn a_private_control_plane_stops_and_cleans_up_on_drop() {
    let cluster = ControlPlane::private().await.unwrap();
    let shared = ControlPlane::shared().await.unwrap();
    assert_ne!(cluster.url(), shared.url());
    let kubeconfig = cluster.kubeconfig_path().to_owned();
    run(cluster
        .admin()
        .kubectl()
        .unwrap()
        .args(["get", "namespaces"]))
    .unwrap();
    let port: u16 = cluster.url().rsplit(':').next().unwrap().parse().unwrap();
    let dir = cluster.dir().to_owned();
    assert!(kubeconfig.starts_with(&dir));

    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        std::net::TcpStream::connect(tests::net::loopback(port)).is_err(),
        "apiserver still listening"
    );
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized() {
    let cluster = ControlPlane::shared().await.unwrap();
    let stranger = cluster
        .kubeconfig_with_token("stranger", "not-a-real-token", "default")
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(stranger.client().unwrap(), "default");
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("expected 401, got {other:?}"),
    }
    let err = tests::controlplane::run_failing(stranger.kubectl().unwrap().args(["get", "pods"]))
        .unwrap();
    assert!(
        err.contains("Unauthorized") || err.contains("credentials"),
        "{err}"
    );
}
