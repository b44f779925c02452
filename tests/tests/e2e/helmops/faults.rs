//! Faults from outside, under a deployed release: a chart repository that
//! is down, hangs, or lies (garbage `index.yaml`, an archive that is not the
//! one the index names, a redirect to another host serving such an archive),
//! and the Secrets and ConfigMaps a release reads deleted under the
//! operator. Each time the status says what is wrong, helm is not run (the
//! release is neither upgraded to something unverified, nor rolled back,
//! nor removed), and the release is as it was once the fault clears.
//!
//! The releases are `flux.weave.works/v1beta1`, whose conditions carry the
//! reason (as the 0.x operator's did); `helm.fluxcd.io/v1` keeps Flux 1.x's
//! fixed condition messages, and the reason is in the Warning Event of
//! every kind, which the first fault checks too.

use std::path::Path;

use helmops::api::v1beta1;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use tests::helm::configmap_chart;
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, wait_for};
use tests::proxy::{Proxy, ProxyMode};

use super::support::{
    RESYNC, WAIT, calls_starting, condition_triple, create_secret, events_about, phase_is,
    repository_of, secret, status, storage_revisions, v1beta1_release,
};

/// Helm calls that change a release.
fn changes(run: &OperatorRun) -> Vec<String> {
    run.helm_calls()
        .into_iter()
        .filter(|c| {
            ["upgrade", "install", "rollback", "uninstall"]
                .iter()
                .any(|verb| c.starts_with(verb))
        })
        .collect()
}

/// The release `hello` is still there as deployed: its ConfigMap with the
/// greeting, `revisions` revisions in Helm's storage, no helm call since
/// `calls`.
async fn still_deployed(
    run: &OperatorRun,
    client: &kube::Client,
    revisions: usize,
    greeting: &str,
    calls: &[String],
) {
    let demo = run.demo();
    let config_map = Api::<ConfigMap>::namespaced(client.clone(), demo)
        .get_opt("hello-hello")
        .await
        .unwrap_or_else(|e| panic!("reading the release's ConfigMap: {e}"))
        .unwrap_or_else(|| panic!("the release's ConfigMap is gone"));
    let data = config_map.data.unwrap_or_default();
    assert_eq!(
        data.get("greeting").map(String::as_str),
        Some(greeting),
        "{data:?}"
    );
    assert_eq!(storage_revisions(client, demo, "hello").await, revisions);
    assert_eq!(changes(run), calls, "helm ran during the fault");
}

/// Waits until `hello`'s phase is `phase` and the message of condition
/// `type_` holds every one of `parts`; the message.
async fn fails_with(
    releases: &Api<v1beta1::HelmRelease>,
    phase: &'static str,
    type_: &str,
    parts: &[&str],
) -> String {
    let hr = wait_for(releases, "hello", phase, WAIT, |hr| {
        let (_, _, message) = condition_triple(hr, type_);
        status(hr).phase.as_deref() == Some(phase) && parts.iter().all(|p| message.contains(p))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    condition_triple(&hr, type_).2
}

async fn succeeds(releases: &Api<v1beta1::HelmRelease>, what: &str) -> v1beta1::HelmRelease {
    wait_for(releases, "hello", what, WAIT, phase_is("Succeeded"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_repository_down_hanging_or_lying_leaves_the_release_as_it_was() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = repository_of(
        &work.path().join("hello"),
        &[
            ("hello-1.0.0", &|d: &Path| {
                configmap_chart(d, "hello", "1.0.0").unwrap_or_else(|e| panic!("{e}"));
            }),
            ("hello-1.1.0", &|d: &Path| {
                configmap_chart(d, "hello", "1.1.0").unwrap_or_else(|e| panic!("{e}"));
            }),
        ],
    )
    .await;
    let other = repository_of(
        &work.path().join("other"),
        &[("other", &|d: &Path| {
            configmap_chart(d, "other", "1.0.0").unwrap_or_else(|e| panic!("{e}"));
        })],
    )
    .await;
    let elsewhere_dir = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere_dir).unwrap_or_else(|e| panic!("{e}"));
    let elsewhere = tests::helm::ChartRepository::start(elsewhere_dir.clone(), None)
        .await
        .unwrap_or_else(|e| panic!("starting the second host: {e}"));
    let proxy = Proxy::start(repo.addr()).unwrap_or_else(|e| panic!("proxy: {e}"));
    let url = format!("http://127.0.0.1:{}/", proxy.port());
    let dir = work.path().join("hello").join("repo");
    let helm = tests::tools::helm().unwrap_or_else(|e| panic!("{e}"));
    let run = OperatorRun::start(
        cluster().await.unwrap_or_else(|e| panic!("{e}")),
        OperatorOptions::new(helm, RESYNC),
    )
    .await
    .unwrap_or_else(|e| panic!("starting the operator: {e}"));
    let client = run.flux.client().unwrap_or_else(|e| panic!("{e}"));
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), run.demo());
    let spec = |version: &str| {
        serde_json::json!({
            "releaseName": "hello",
            "chart": {"repository": url, "name": "hello", "version": version},
            "values": {},
        })
    };
    releases
        .create(
            &PostParams::default(),
            &v1beta1_release("hello", &spec("1.0.0")),
        )
        .await
        .unwrap_or_else(|e| panic!("creating hello: {e}"));
    succeeds(&releases, "deployed").await;
    let calls = changes(&run);
    assert_eq!(calls.len(), 1, "{calls:?}");

    // Down.
    proxy.set_mode(ProxyMode::Refuse);
    let host = format!("127.0.0.1:{}", proxy.port());
    fails_with(&releases, "ChartFetchFailed", "ChartFetched", &[&host]).await;
    let events = events_about(&client, run.demo(), "hello").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "FailedReleaseSync"
                && note.contains(&format!("chart repository http://{host}/index.yaml"))),
        "{events:?}"
    );
    still_deployed(&run, &client, 1, "hello", &calls).await;
    proxy.set_mode(ProxyMode::Forward);
    succeeds(&releases, "back after the repository came up").await;

    // Garbage index.yaml.
    let index = read(&dir.join("index.yaml"));
    write(&dir.join("index.yaml"), b"{{{ this is not: [an index\n");
    fails_with(
        &releases,
        "ChartFetchFailed",
        "ChartFetched",
        &[&host, "index.yaml is not a Helm repository index"],
    )
    .await;
    still_deployed(&run, &client, 1, "hello", &calls).await;
    write(&dir.join("index.yaml"), &index);
    succeeds(&releases, "back after the index was fixed").await;

    // 1.1.0 wanted, but its archive is not the one the index names.
    let genuine = read(&dir.join("hello-1.1.0.tgz"));
    let impostor = read(&dir.join("hello-1.0.0.tgz"));
    write(&dir.join("hello-1.1.0.tgz"), &impostor);
    releases
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": spec("1.1.0")})),
        )
        .await
        .unwrap_or_else(|e| panic!("patching hello: {e}"));
    fails_with(
        &releases,
        "ChartFetchFailed",
        "ChartFetched",
        &["hello-1.1.0.tgz", "digest mismatch"],
    )
    .await;
    still_deployed(&run, &client, 1, "hello", &calls).await;

    // Redirected to another host, which serves the impostor too.
    std::fs::remove_file(dir.join("hello-1.1.0.tgz")).unwrap_or_else(|e| panic!("{e}"));
    write(&elsewhere_dir.join("hello-1.1.0.tgz"), &impostor);
    write(
        &dir.join("hello-1.1.0.tgz.redirect"),
        format!("{}hello-1.1.0.tgz", elsewhere.url()).as_bytes(),
    );
    wait_for(
        &releases,
        "hello",
        "the impostor fetched elsewhere",
        WAIT,
        |_| {
            elsewhere
                .requests()
                .iter()
                .any(|r| r == "200 hello-1.1.0.tgz")
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    fails_with(
        &releases,
        "ChartFetchFailed",
        "ChartFetched",
        &["digest mismatch"],
    )
    .await;
    still_deployed(&run, &client, 1, "hello", &calls).await;
    // The other host turns honest: the redirect is followed and 1.1.0 released.
    write(&elsewhere_dir.join("hello-1.1.0.tgz"), &genuine);
    let hr = wait_for(&releases, "hello", "upgraded to 1.1.0", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Succeeded") && status(hr).helm_revision == Some(2)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&hr).revision.as_deref(), Some("1.1.0"));
    let calls = changes(&run);
    assert_eq!(calls_starting(&calls, "upgrade"), 2, "{calls:?}");

    // Hanging: hello waits on it, but a release from another repository
    // goes ahead meanwhile; when the connection breaks, hello is back.
    proxy.set_mode(ProxyMode::Silent);
    // The index kept in memory goes stale after the refresh interval
    // (RESYNC): from then on hello's reconciles ask the hanging repository.
    tokio::time::sleep(RESYNC * 2).await;
    releases
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"values": {"data": {"greeting": "again"}}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("patching hello: {e}"));
    releases
        .create(
            &PostParams::default(),
            &v1beta1_release(
                "other",
                &serde_json::json!({
                    "releaseName": "other",
                    "chart": {"repository": other.url(), "name": "other", "version": "1.0.0"},
                    "values": {},
                }),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("creating other: {e}"));
    wait_for(
        &releases,
        "other",
        "deployed while hello's repository hangs",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    still_deployed(
        &run,
        &client,
        2,
        "hello",
        &calls_with(&calls, &run, "other"),
    )
    .await;
    proxy.set_mode(ProxyMode::Forward);
    wait_for(&releases, "hello", "upgraded after the hang", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Succeeded") && status(hr).helm_revision == Some(3)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// `calls` and the calls since for release `name` only.
fn calls_with(calls: &[String], run: &OperatorRun, name: &str) -> Vec<String> {
    let mut expected = calls.to_vec();
    expected.extend(
        changes(run)
            .into_iter()
            .skip(calls.len())
            .filter(|c| c.contains(name)),
    );
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_credentials_deleted_under_the_operator_leave_the_release_as_it_was() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let helm = tests::tools::helm().unwrap_or_else(|e| panic!("{e}"));
    let chart = configmap_chart(&work.path().join("hello"), "hello", "1.0.0")
        .unwrap_or_else(|e| panic!("{e}"));
    tests::helm::package_into_repo(&helm, &chart, &work.path().join("repo"))
        .unwrap_or_else(|e| panic!("{e}"));
    let repo =
        tests::helm::ChartRepository::start(work.path().join("repo"), Some(("charts", "s3cret")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let run = OperatorRun::start(
        cluster().await.unwrap_or_else(|e| panic!("{e}")),
        OperatorOptions::new(helm, RESYNC),
    )
    .await
    .unwrap_or_else(|e| panic!("starting the operator: {e}"));
    let client = run.flux.client().unwrap_or_else(|e| panic!("{e}"));
    let demo = run.demo().to_owned();
    let auth = secret(
        "repo-auth",
        &[("username", "charts"), ("password", "s3cret")],
    );
    let values = secret(
        "vals",
        &[("values.yaml", "data:\n  greeting: from-secret\n")],
    );
    let more = ConfigMap {
        metadata: ObjectMeta {
            name: Some("more".to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            [(
                "values.yaml".to_owned(),
                "data:\n  color: from-configmap\n".to_owned(),
            )]
            .into(),
        ),
        ..ConfigMap::default()
    };
    create_secret(&client, &demo, &auth).await;
    create_secret(&client, &demo, &values).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &demo);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &demo);
    config_maps
        .create(&PostParams::default(), &more)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    releases
        .create(
            &PostParams::default(),
            &v1beta1_release(
                "hello",
                &serde_json::json!({
                    "releaseName": "hello",
                    "chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0",
                              "chartPullSecret": {"name": "repo-auth"}},
                    "valuesFrom": [
                        {"secretKeyRef": {"name": "vals"}},
                        {"configMapKeyRef": {"name": "more"}},
                    ],
                    "values": {},
                }),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("creating hello: {e}"));
    succeeds(&releases, "deployed").await;
    let calls = changes(&run);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let data = config_maps
        .get("hello-hello")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .data
        .unwrap_or_default();
    assert_eq!(data["color"], "from-configmap", "{data:?}");

    // The values Secret, then the values ConfigMap, then the chart
    // repository's credentials: each deleted, named in the status,
    // re-created, and the release was never touched.
    secrets
        .delete("vals", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fails_with(
        &releases,
        "Failed",
        "Released",
        &[&format!("Secret {demo}/vals"), "does not exist"],
    )
    .await;
    still_deployed(&run, &client, 1, "from-secret", &calls).await;
    create_secret(&client, &demo, &values).await;
    succeeds(&releases, "back once the Secret is there again").await;

    config_maps
        .delete("more", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fails_with(
        &releases,
        "Failed",
        "Released",
        &[&format!("ConfigMap {demo}/more"), "does not exist"],
    )
    .await;
    still_deployed(&run, &client, 1, "from-secret", &calls).await;
    config_maps
        .create(&PostParams::default(), &more)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    succeeds(&releases, "back once the ConfigMap is there again").await;

    secrets
        .delete("repo-auth", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let message = fails_with(
        &releases,
        "ChartFetchFailed",
        "ChartFetched",
        &["repo-auth"],
    )
    .await;
    assert!(!message.contains("s3cret"), "{message}");
    still_deployed(&run, &client, 1, "from-secret", &calls).await;
    create_secret(&client, &demo, &auth).await;
    succeeds(&releases, "back once the credentials are there again").await;
    still_deployed(&run, &client, 1, "from-secret", &calls).await;
}
