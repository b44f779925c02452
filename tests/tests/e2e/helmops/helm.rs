//! The helm subprocess wrapper against the real Helm 3 and Helm 4 binaries.

use helmops::internals::{Helm, HelmMajor, HelmSettings};

#[tokio::test]
async fn detects_helm_3_and_helm_4() {
    for (binary, major) in [
        (tests::tools::helm().unwrap(), HelmMajor::V4),
        (tests::tools::helm3().unwrap(), HelmMajor::V3),
    ] {
        let home = tempfile::tempdir().unwrap();
        let helm = Helm::detect(HelmSettings {
            binary,
            home: home.path().to_path_buf(),
            kubeconfig: None,
        })
        .await
        .unwrap();
        assert_eq!(helm.major(), major);
        assert_eq!(helm.invocations(), 1);
        assert!(home.path().join("cache").is_dir() && home.path().join("config").is_dir());
    }
    let home = tempfile::tempdir().unwrap();
    let err = Helm::detect(HelmSettings {
        binary: "/nonexistent/helm".into(),
        home: home.path().to_path_buf(),
        kubeconfig: None,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/nonexistent/helm") && err.contains("cannot start"),
        "{err}"
    );
}
