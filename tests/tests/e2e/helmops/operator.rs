//! The Helm operator end to end: real helm (4, and 3 once) against the real
//! control plane, as the seed's `flux` ServiceAccount restricted by RBAC to
//! its `demo` namespace.

use std::time::Duration;

use helmops::api::{HelmReleaseStatus, v1beta1};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, wait_for};
use tests::helm::{ChartRepository, configmap_chart, package_into_repo};

use super::support::secret;

const RESYNC: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(90);

fn helm_release(name: &str, spec: &serde_json::Value) -> v1beta1::HelmRelease {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn status(hr: &v1beta1::HelmRelease) -> HelmReleaseStatus {
    hr.status.clone().unwrap_or_default()
}

fn phase_is(phase: &'static str) -> impl Fn(&v1beta1::HelmRelease) -> bool {
    move |hr| status(hr).phase.as_deref() == Some(phase)
}

fn condition_message(hr: &v1beta1::HelmRelease, type_: &str) -> String {
    status(hr)
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .and_then(|c| c.message.clone())
        .unwrap_or_default()
}

/// A chart repository with basic auth serving `hello` 1.0.0.
async fn hello_repository(work: &std::path::Path) -> ChartRepository {
    let helm = tests::tools::helm().unwrap();
    let chart = configmap_chart(&work.join("hello"), "hello", "1.0.0").unwrap();
    package_into_repo(&helm, &chart, &work.join("repo")).unwrap();
    ChartRepository::start(work.join("repo"), Some(("charts", "s3cret")))
        .await
        .unwrap()
}

/// An operator running with `helm`, the `hello` repository, and the Secret
/// `repo-auth` holding its credentials in the run's `demo` namespace.
struct Scene {
    _work: tempfile::TempDir,
    repo: ChartRepository,
    run: OperatorRun,
    client: kube::Client,
    demo: String,
    releases: Api<v1beta1::HelmRelease>,
}

async fn scene(helm: std::path::PathBuf) -> Scene {
    let work = tempfile::tempdir().unwrap();
    let repo = hello_repository(work.path()).await;
    let run = OperatorRun::start(cluster().await.unwrap(), OperatorOptions::new(helm, RESYNC))
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    Api::<Secret>::namespaced(client.clone(), &demo)
        .create(
            &PostParams::default(),
            &secret(
                "repo-auth",
                &[("username", "charts"), ("password", "s3cret")],
            ),
        )
        .await
        .unwrap();
    let releases = Api::namespaced(client.clone(), &demo);
    Scene {
        _work: work,
        repo,
        run,
        client,
        demo,
        releases,
    }
}

/// Repository chart behind basic auth, valueFileSecrets merged under inline
/// values, no helm call on unchanged resyncs, an upgrade after a values
/// change, a manual `helm upgrade` brought back, and deletion uninstalling.
async fn repository_release_life_cycle(helm: std::path::PathBuf) {
    let Scene {
        _work: work,
        repo,
        run,
        client,
        demo,
        releases,
    } = scene(helm).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &demo);
    secrets
        .create(
            &PostParams::default(),
            &secret(
                "hello-values",
                &[(
                    "values.yaml",
                    "data:\n  greeting: from-secret\n  color: blue\n",
                )],
            ),
        )
        .await
        .unwrap();
    releases
        .create(
            &PostParams::default(),
            &helm_release(
                "hello",
                &serde_json::json!({
                    "releaseName": "hello",
                    "chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0", "chartPullSecret": {"name": "repo-auth"}},
                    "valueFileSecrets": [{"name": "hello-values"}],
                    "values": {"data": {"color": "green"}}
                }),
            ),
        )
        .await
        .unwrap();
    let hr = wait_for(&releases, "hello", "deployed", WAIT, phase_is("Succeeded"))
        .await
        .unwrap();
    let st = status(&hr);
    assert_eq!(st.release_name.as_deref(), Some("hello"));
    assert_eq!(st.revision.as_deref(), Some("1.0.0"));
    assert_eq!(st.helm_revision, Some(1));
    assert_eq!(st.observed_generation, hr.metadata.generation);
    assert_eq!(st.last_attempted_checksum, st.last_deployed_checksum);
    assert!(hr.finalizers().iter().any(|f| f == helmops::FINALIZER));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &demo);
    let data = config_maps.get("hello-hello").await.unwrap().data.unwrap();
    assert_eq!(data["greeting"], "from-secret", "valueFileSecrets merged");
    assert_eq!(data["color"], "green", "inline values win");

    // helm-operator's conditions, and its Event on the HelmRelease.
    let released = status(&hr)
        .conditions
        .iter()
        .find(|c| c.type_ == "Released")
        .cloned()
        .unwrap();
    assert_eq!(released.status, "True");
    assert_eq!(released.reason.as_deref(), Some("Succeeded"));
    assert_eq!(
        released.message.as_deref(),
        Some(format!("Release was successful for Helm release 'hello' in '{demo}'.").as_str())
    );
    assert_eq!(
        condition_message(&hr, "Deployed"),
        format!("Installation or upgrade succeeded for Helm release 'hello' in '{demo}'.")
    );
    assert_eq!(st.release_status.as_deref(), Some("deployed"));
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &demo);
    let published = events
        .list(&kube::api::ListParams::default())
        .await
        .unwrap();
    assert!(
        published
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("ReleaseSynced")
                && e.note.as_deref()
                    == Some(
                        format!("managed release 'hello' in namespace '{demo}' synchronized")
                            .as_str()
                    )
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("hello")),
        "{:?}",
        published.items
    );

    // Unchanged resyncs: no helm call at all.
    let calls = run.helm_calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("upgrade")).count(),
        1,
        "{calls:?}"
    );
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        run.helm_calls(),
        calls,
        "a resync with nothing changed ran helm"
    );

    // A values change upgrades.
    releases
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"values": {"data": {"color": "red"}}}})),
        )
        .await
        .unwrap();
    let hr = wait_for(&releases, "hello", "upgraded to revision 2", WAIT, |hr| {
        status(hr).helm_revision == Some(2) && status(hr).phase.as_deref() == Some("Succeeded")
    })
    .await
    .unwrap();
    assert_eq!(status(&hr).observed_generation, hr.metadata.generation);
    assert_eq!(
        config_maps.get("hello-hello").await.unwrap().data.unwrap()["color"],
        "red"
    );

    // A manual upgrade behind the operator's back is brought back.
    let values = work.path().join("manual.yaml");
    std::fs::write(&values, "data:\n  color: manual\n").unwrap();
    let chart_archive = work.path().join("repo").join("hello-1.0.0.tgz");
    tests::controlplane::run(run.flux.helm().unwrap().args([
        "upgrade".as_ref(),
        "hello".as_ref(),
        chart_archive.as_os_str(),
        "--namespace".as_ref(),
        demo.as_ref() as &std::ffi::OsStr,
        "--values".as_ref(),
        values.as_os_str(),
    ]))
    .unwrap();
    wait_for(
        &releases,
        "hello",
        "brought back after a manual upgrade",
        WAIT,
        |hr| status(hr).helm_revision == Some(4),
    )
    .await
    .unwrap();
    assert_eq!(
        config_maps.get("hello-hello").await.unwrap().data.unwrap()["color"],
        "red"
    );

    // Deleting the HelmRelease uninstalls the release first.
    releases
        .delete("hello", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while releases.get_opt("hello").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "HelmRelease not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        config_maps.get_opt("hello-hello").await.unwrap().is_none(),
        "release not uninstalled"
    );
    let storage = secrets
        .list(&kube::api::ListParams::default().labels("owner=helm,name=hello"))
        .await
        .unwrap();
    assert!(storage.items.is_empty(), "helm storage left behind");
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with("uninstall hello"))
    );
}

#[tokio::test]
async fn repository_release_life_cycle_with_helm_4() {
    repository_release_life_cycle(tests::tools::helm().unwrap()).await;
}

#[tokio::test]
async fn repository_release_life_cycle_with_helm_3() {
    repository_release_life_cycle(tests::tools::helm3().unwrap()).await;
}

/// A failing upgrade is rolled back; resyncs then leave it alone until
/// something changes.
#[tokio::test]
async fn failed_upgrade_is_rolled_back() {
    let Scene {
        _work,
        repo,
        run,
        client,
        demo,
        releases,
    } = scene(tests::tools::helm().unwrap()).await;
    releases
        .create(
            &PostParams::default(),
            &helm_release(
                "fragile",
                &serde_json::json!({
                    "chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0", "chartPullSecret": {"name": "repo-auth"}},
                    "rollback": {"enable": true},
                    "values": {"data": {"color": "green"}}
                }),
            ),
        )
        .await
        .unwrap();
    let release_name = format!("{demo}-fragile");
    wait_for(
        &releases,
        "fragile",
        "deployed",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
    releases
        .patch(
            "fragile",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"values": {"fail": true, "data": {"color": "red"}}}}),
            ),
        )
        .await
        .unwrap();
    let hr = wait_for(
        &releases,
        "fragile",
        "rolled back",
        WAIT,
        phase_is("RolledBack"),
    )
    .await
    .unwrap();
    let st = status(&hr);
    assert_eq!(st.rollback_count, Some(1));
    assert_ne!(st.last_attempted_checksum, st.last_deployed_checksum);
    let released = condition_message(&hr, "Released");
    assert!(
        released.starts_with(&format!(
            "Installation or upgrade failed for Helm release '{release_name}' in '{demo}': "
        )) && released.contains("is invalid"),
        "{released}"
    );
    assert_eq!(
        condition_message(&hr, "RolledBack"),
        format!("Rolled back Helm release '{release_name}' in '{demo}'.")
    );
    let data = Api::<ConfigMap>::namespaced(client.clone(), &demo)
        .get(&format!("{release_name}-hello"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        data["color"], "green",
        "the rollback restored the old values"
    );
    let calls = run.helm_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with(&format!("rollback {release_name} 1"))),
        "{calls:?}"
    );
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        run.helm_calls(),
        calls,
        "a rolled-back release was retried without a change"
    );
}

/// Bad releases end as clear conditions while a good one proceeds.
#[tokio::test]
async fn bad_releases_end_as_conditions_while_others_proceed() {
    let Scene {
        _work,
        repo,
        run,
        demo,
        releases,
        ..
    } = scene(tests::tools::helm().unwrap()).await;
    let chart = |version: &str| serde_json::json!({"repository": repo.url(), "name": "hello", "version": version, "chartPullSecret": {"name": "repo-auth"}});
    for (name, spec) in [
        (
            "bad-version",
            serde_json::json!({"chart": chart("9.9.9"), "values": {}}),
        ),
        (
            "missing-secret",
            serde_json::json!({"chart": chart("1.0.0"), "valueFileSecrets": [{"name": "does-not-exist"}], "values": {}}),
        ),
        (
            "bad-auth",
            serde_json::json!({"chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0"}, "values": {}}),
        ),
        (
            "forbidden-target",
            serde_json::json!({"chart": chart("1.0.0"), "targetNamespace": run.rbac.kube_system.name(), "values": {}}),
        ),
        (
            "good",
            serde_json::json!({"chart": chart("1.0.0"), "values": {}}),
        ),
    ] {
        releases
            .create(&PostParams::default(), &helm_release(name, &spec))
            .await
            .unwrap();
    }
    wait_for(&releases, "good", "deployed", WAIT, phase_is("Succeeded"))
        .await
        .unwrap();
    let hr = wait_for(
        &releases,
        "bad-version",
        "chart fetch failed",
        WAIT,
        phase_is("ChartFetchFailed"),
    )
    .await
    .unwrap();
    let message = condition_message(&hr, "ChartFetched");
    assert!(
        message.contains("9.9.9") && message.contains("available: 1.0.0"),
        "{message}"
    );
    let hr = wait_for(
        &releases,
        "missing-secret",
        "values unavailable",
        WAIT,
        phase_is("Failed"),
    )
    .await
    .unwrap();
    let message = condition_message(&hr, "Released");
    assert!(
        message.contains(&format!("Secret {demo}/does-not-exist"))
            && message.contains("does not exist"),
        "{message}"
    );
    let hr = wait_for(
        &releases,
        "bad-auth",
        "unauthorized",
        WAIT,
        phase_is("ChartFetchFailed"),
    )
    .await
    .unwrap();
    assert!(
        condition_message(&hr, "ChartFetched").contains("401"),
        "{hr:?}"
    );
    // The seed's RBAC keeps the operator out of kube-system: a clear condition.
    let hr = wait_for(
        &releases,
        "forbidden-target",
        "storage unreadable",
        WAIT,
        phase_is("Failed"),
    )
    .await
    .unwrap();
    let message = condition_message(&hr, "Released");
    assert!(
        message.contains(run.rbac.kube_system.name()) && message.contains("list Secrets there"),
        "{message}"
    );
    // None of the bad ones ran helm.
    let calls = run.helm_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("upgrade {demo}-good")),
        "{calls:?}"
    );
}
