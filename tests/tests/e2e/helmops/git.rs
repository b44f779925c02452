//! Charts from git: the seed's umbrella chart with a `file://` subchart, a
//! missing chart path, and the legacy FluxHelmRelease from the daemon's own
//! repository, with gitsync mirrors of a real git repository.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use helmops::api::{HelmReleaseStatus, v1alpha2, v1beta1};
use helmops::gitcharts::{GitAccess, GitsyncCharts};
use helmops::{ChartCheckout, DaemonRepository, GitCharts};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use kube::api::PostParams;
use tests::git::GitFixture;
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, wait_for};
use tests::helm::umbrella_chart;

const WAIT: Duration = Duration::from_secs(90);

/// The daemon's repository, as fluxd would give it: its own mirror's checkout.
struct DaemonCheckout {
    charts: Arc<GitsyncCharts>,
    url: String,
}

impl DaemonRepository for DaemonCheckout {
    fn checkout(&self) -> BoxFuture<'_, Result<ChartCheckout, helmops::Error>> {
        self.charts.checkout(&self.url, "master", None).boxed()
    }
}

fn status_of<K: helmops::model::HelmReleaseResource>(obj: &K) -> HelmReleaseStatus {
    obj.release_status().cloned().unwrap_or_default()
}

#[tokio::test]
async fn umbrella_chart_from_git_and_legacy_flux_helm_release() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("git")).unwrap();
    let repo = GitFixture::new(&work.path().join("git"), "master").unwrap();
    umbrella_chart(&repo.work_path().join("charts"), "umbrella", "xposer").unwrap();
    let first = repo
        .commit_and_push("umbrella chart with a file:// subchart")
        .unwrap();
    let url = format!("file://{}", repo.bare_path().display());
    let charts = Arc::new(GitsyncCharts::new(
        work.path().join("gitcharts"),
        Duration::from_millis(500),
        GitAccess::new().with_policy(tests::helm::operator::fixture_policy()),
    ));
    let run = OperatorRun::start(
        cluster().await.unwrap(),
        OperatorOptions {
            helm: tests::tools::helm().unwrap(),
            resync: Duration::from_secs(2),
            git: Some(charts.clone()),
            daemon: Some(Arc::new(DaemonCheckout {
                charts: charts.clone(),
                url: url.clone(),
            })),
            configure: None,
        },
    )
    .await
    .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    for (name, path) in [("xposer", "charts/umbrella"), ("nowhere", "charts/nope")] {
        let hr: v1beta1::HelmRelease = serde_json::from_value(serde_json::json!({
            "apiVersion": "flux.weave.works/v1beta1",
            "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {
                "releaseName": name,
                "chart": {"git": url, "path": path, "ref": "master"},
                "values": {"xposer": {"data": {"team": "demo"}}}
            }
        }))
        .unwrap();
        releases.create(&PostParams::default(), &hr).await.unwrap();
    }
    let hr = wait_for(&releases, "xposer", "deployed", WAIT, |hr| {
        status_of(hr).phase.as_deref() == Some("Succeeded")
    })
    .await
    .unwrap();
    assert_eq!(status_of(&hr).revision.as_deref(), Some(first.as_str()));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &demo);
    let data = config_maps
        .get("xposer-xposer")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        data["greeting"], "from-umbrella",
        "the umbrella's values reached the subchart"
    );
    assert_eq!(data["team"], "demo");
    Api::<Service>::namespaced(client.clone(), &demo)
        .get("xposer-umbrella")
        .await
        .unwrap();
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with("dependency update")),
        "{:?}",
        run.helm_calls()
    );

    // A missing chart path is a clear condition; the other release went on.
    let hr = wait_for(&releases, "nowhere", "chart fetch failed", WAIT, |hr| {
        status_of(hr).phase.as_deref() == Some("ChartFetchFailed")
    })
    .await
    .unwrap();
    let message = status_of(&hr)
        .conditions
        .iter()
        .find(|c| c.type_ == "ChartFetched")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("charts/nope") && message.contains(&first),
        "{message}"
    );

    // A commit that changes the subchart upgrades the release.
    repo.write(
        "charts/xposer/values.yaml",
        "data:\n  greeting: hello\n  extra: added\nfail: false\n",
    )
    .unwrap();
    let second = repo.commit_and_push("xposer: one more key").unwrap();
    wait_for(
        &releases,
        "xposer",
        "upgraded to the new commit",
        WAIT,
        |hr| status_of(hr).revision.as_deref() == Some(second.as_str()),
    )
    .await
    .unwrap();
    let data = config_maps
        .get("xposer-xposer")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["extra"], "added");

    // The legacy FluxHelmRelease takes its chart from the daemon's repository.
    let legacy: Api<v1alpha2::FluxHelmRelease> = Api::namespaced(client.clone(), &demo);
    let fhr: v1alpha2::FluxHelmRelease = serde_json::from_value(serde_json::json!({
        "apiVersion": "helm.integrations.flux.weave.works/v1alpha2",
        "kind": "FluxHelmRelease",
        "metadata": {"name": "legacy"},
        "spec": {"chartGitPath": "charts/xposer", "values": {"data": {"era": "v1alpha2"}}}
    }))
    .unwrap();
    legacy.create(&PostParams::default(), &fhr).await.unwrap();
    let fhr = wait_for(&legacy, "legacy", "deployed", WAIT, |fhr| {
        status_of(fhr).phase.as_deref() == Some("Succeeded")
    })
    .await
    .unwrap();
    let release = format!("{demo}-legacy");
    assert_eq!(
        status_of(&fhr).release_name.as_deref(),
        Some(release.as_str())
    );
    let data = config_maps
        .get(&format!("{release}-xposer"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["era"], "v1alpha2");
}

/// A git chart behind HTTP basic auth takes its credentials from
/// `chart.secretRef`; without them it fails, and the password is never shown.
#[tokio::test]
async fn http_git_charts_use_chart_secret_ref() {
    use tests::git::http::{Access, GitHttpServer};

    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("git")).unwrap();
    let repo = GitFixture::new(&work.path().join("git"), "master").unwrap();
    umbrella_chart(&repo.work_path().join("charts"), "umbrella", "xposer").unwrap();
    repo.commit_and_push("chart").unwrap();
    let server = GitHttpServer::start(
        &work.path().join("git"),
        Access::Basic {
            username: "charts".to_owned(),
            password: "pa55-the-secret".to_owned(),
        },
    )
    .unwrap();
    let charts = Arc::new(GitsyncCharts::new(
        work.path().join("gitcharts"),
        Duration::from_millis(500),
        GitAccess::new().with_policy(tests::helm::operator::fixture_policy()),
    ));
    let mut options = tests::helm::operator::OperatorOptions::new(
        tests::tools::helm().unwrap(),
        Duration::from_secs(2),
    );
    options.git = Some(charts);
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    super::support::create_secret(
        &client,
        &demo,
        &super::support::secret(
            "git-auth",
            &[("username", "charts"), ("password", "pa55-the-secret")],
        ),
    )
    .await;
    let releases: Api<helmops::api::v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = serde_json::json!({"git": server.url("origin.git"), "path": "charts/umbrella", "ref": "master"});
    let mut with_secret = chart.clone();
    with_secret["secretRef"] = serde_json::json!({"name": "git-auth"});
    for (name, chart) in [("with-auth", with_secret), ("without", chart)] {
        releases
            .create(
                &PostParams::default(),
                &super::support::v1_release(name, &serde_json::json!({"chart": chart})),
            )
            .await
            .unwrap();
    }
    wait_for(
        &releases,
        "with-auth",
        "released",
        WAIT,
        super::support::phase_is("Succeeded"),
    )
    .await
    .unwrap();
    wait_for(
        &releases,
        "without",
        "refused",
        WAIT,
        super::support::phase_is("ChartFetchFailed"),
    )
    .await
    .unwrap();
    assert!(server.refused() > 0);
    let events = super::support::events_about(&client, &demo, "without").await;
    assert!(
        events.iter().any(|(r, _)| r == "FailedReleaseSync"),
        "{events:?}"
    );
    for hr in releases.list(&Default::default()).await.unwrap().items {
        assert!(!serde_json::to_string(&hr.status).unwrap().contains("pa55"));
    }
}
