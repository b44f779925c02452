//! HelmReleases written to turn the operator against its cluster, each
//! tried: secret text in values, symlinks and unbounded bodies, internal
//! URLs and local repositories, the deploy key sent where it should not
//! go, a repository answering garbage, and a reconcile that panics among
//! two hundred releases that must converge all the same.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use futures::FutureExt;
use futures::future::BoxFuture;
use helmops::api::{v1, v1beta1};
use helmops::gitcharts::{GitAccess, GitsyncCharts};
use helmops::{ChartCheckout, GitCharts, GitCredentials};
use kube::Api;
use kube::api::{ListParams, PostParams};
use tests::git::GitFixture;
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, fixture_policy, wait_for};
use tests::helm::{ChartRepository, configmap_chart};
use tests::sshd::Sshd;

use super::support::{
    RESYNC, WAIT, create_secret, events_about, message, phase_is, repository_of, secret, status,
    v1_release, v1beta1_release,
};

/// Serves `routes` (path, body) on 127.0.0.1; `/stream` streams 6 MiB in
/// chunks without a Content-Length. Stops with the runtime.
async fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> SocketAddr {
    let mut app = Router::new().route(
        "/stream",
        axum::routing::get(|| async {
            let chunks = futures::stream::iter(
                (0..96).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 64 * 1024])),
            );
            Body::from_stream(chunks)
        }),
    );
    for (path, body) in routes {
        app = app.route(
            path,
            axum::routing::get(move || async move { body.clone() }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A chart whose ConfigMap carries `.Values.label` as a label value, so the
/// API server refuses (and quotes) a value with spaces.
fn labelled_chart(dir: &Path) {
    configmap_chart(dir, "labelled", "1.0.0").unwrap();
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-labelled\n  labels:\n    token: {{ .Values.label | quote }}\ndata: {}\n",
    )
    .unwrap();
}

const SECRET: &str = "hunter2-TOP-SECRET-value";

#[tokio::test]
async fn secret_text_never_reaches_a_status_or_an_event() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(work.path(), &[("labelled", &labelled_chart)]).await;
    let run = OperatorRun::start(
        cluster().await.unwrap(),
        OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC),
    )
    .await
    .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    create_secret(
        &client,
        &demo,
        &secret(
            "malformed",
            &[(
                "values.yaml",
                &format!("password: {SECRET}\nlist: [1,\n  broken: x\n"),
            )],
        ),
    )
    .await;
    create_secret(
        &client,
        &demo,
        &secret(
            "refused",
            &[("values.yaml", &format!("label: \"{SECRET} has spaces\"\n"))],
        ),
    )
    .await;
    let chart =
        serde_json::json!({"repository": repo.url(), "name": "labelled", "version": "1.0.0"});
    let old: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let new: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    old.create(
        &PostParams::default(),
        &v1beta1_release("malformed-old", &serde_json::json!({"chart": chart, "valueFileSecrets": [{"name": "malformed"}], "values": {}})),
    )
    .await
    .unwrap();
    new.create(
        &PostParams::default(),
        &v1_release("malformed-new", &serde_json::json!({"chart": chart, "valuesFrom": [{"secretKeyRef": {"name": "malformed"}}]})),
    )
    .await
    .unwrap();
    old.create(
        &PostParams::default(),
        &v1beta1_release("refused-old", &serde_json::json!({"chart": chart, "valueFileSecrets": [{"name": "refused"}], "values": {}})),
    )
    .await
    .unwrap();
    let hr = wait_for(
        &old,
        "malformed-old",
        "values refused",
        WAIT,
        phase_is("Failed"),
    )
    .await
    .unwrap();
    let text = message(&hr, "Released");
    assert!(
        text.contains("not valid YAML") && text.contains("line"),
        "{text}"
    );
    wait_for(
        &new,
        "malformed-new",
        "values refused",
        WAIT,
        phase_is("Failed"),
    )
    .await
    .unwrap();
    let hr = wait_for(
        &old,
        "refused-old",
        "install refused",
        WAIT,
        phase_is("DeployFailed"),
    )
    .await
    .unwrap();
    let text = message(&hr, "Released");
    assert!(
        text.contains("<redacted>"),
        "the API server's refusal quoted the value: {text}"
    );
    for name in ["malformed-old", "malformed-new", "refused-old"] {
        let events = events_about(&client, &demo, name).await;
        assert!(
            events.iter().any(|(r, _)| r == "FailedReleaseSync"),
            "{name}: {events:?}"
        );
        let shown = format!("{events:?}");
        assert!(
            !shown.contains("hunter2"),
            "{name}: an Event quotes the secret: {shown}"
        );
    }
    for hr in old.list(&ListParams::default()).await.unwrap().items {
        let shown = serde_json::to_string(&hr.status).unwrap();
        assert!(
            !shown.contains("hunter2"),
            "a status quotes the secret: {shown}"
        );
    }
    for hr in new.list(&ListParams::default()).await.unwrap().items {
        let shown = serde_json::to_string(&hr.status).unwrap();
        assert!(
            !shown.contains("hunter2"),
            "a status quotes the secret: {shown}"
        );
    }
}

#[tokio::test]
async fn files_urls_and_git_sources_stay_confined() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("git")).unwrap();
    let repo = GitFixture::new(&work.path().join("git"), "master").unwrap();
    configmap_chart(&repo.work_path().join("charts/app"), "app", "0.1.0").unwrap();
    let outside = work.path().join("outside.yaml");
    std::fs::write(&outside, "stolen: outside-the-chart\n").unwrap();
    std::os::unix::fs::symlink(
        &outside,
        repo.work_path().join("charts/app/values-link.yaml"),
    )
    .unwrap();
    repo.commit_and_push("a chart with a symlink out of it")
        .unwrap();
    let url = format!("file://{}", repo.bare_path().display());
    let server = serve(Vec::new()).await;

    // Local git allowed, internal URLs allowed: the symlink and the endless
    // body are still refused.
    let charts = Arc::new(GitsyncCharts::new(
        work.path().join("gitcharts"),
        Duration::from_millis(500),
        GitAccess::new().with_policy(fixture_policy()),
    ));
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    options.git = Some(charts);
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), run.demo());
    let git_chart = serde_json::json!({"git": url, "path": "charts/app", "ref": "master"});
    releases
        .create(
            &PostParams::default(),
            &v1_release("link", &serde_json::json!({"chart": git_chart, "valuesFrom": [{"chartFileRef": {"path": "values-link.yaml"}}]})),
        )
        .await
        .unwrap();
    releases
        .create(
            &PostParams::default(),
            &v1_release("endless", &serde_json::json!({"chart": git_chart, "valuesFrom": [{"externalSourceRef": {"url": format!("http://{server}/stream")}}]})),
        )
        .await
        .unwrap();
    for (name, expected) in [("link", "symlink"), ("endless", "larger than")] {
        wait_for(&releases, name, "refused", WAIT, phase_is("Failed"))
            .await
            .unwrap();
        let events = events_about(&client, run.demo(), name).await;
        assert!(
            events
                .iter()
                .any(|(r, n)| r == "FailedReleaseSync" && n.contains(expected)),
            "{name}: {events:?}"
        );
        assert!(!format!("{events:?}").contains("outside-the-chart"));
    }

    // The default policy: no local repositories, no internal addresses.
    let chart_repo = repository_of(
        &work.path().join("repo"),
        &[("hello", &|d: &Path| {
            configmap_chart(d, "hello", "1.0.0").unwrap();
        })],
    )
    .await;
    let charts = Arc::new(GitsyncCharts::new(
        work.path().join("gitcharts-default"),
        Duration::from_millis(500),
        GitAccess::default(),
    ));
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    options.git = Some(charts);
    options.configure = Some(Arc::new(|config| {
        config.policy = helmops::AccessPolicy::default();
    }));
    let strict = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = strict.flux.client().unwrap();
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), strict.demo());
    let cases = [
        (
            "local-git",
            serde_json::json!({"chart": git_chart, "values": {}}),
            "--git-allow-local",
        ),
        (
            "metadata",
            serde_json::json!({"chart": {"repository": "http://169.254.169.254/latest/", "name": "hello", "version": "1.0.0"}, "values": {}}),
            "--allow-internal-urls",
        ),
        (
            "loopback-repo",
            serde_json::json!({"chart": {"repository": chart_repo.url(), "name": "hello", "version": "1.0.0"}, "values": {}}),
            "--allow-internal-urls",
        ),
    ];
    for (name, spec, _) in &cases {
        releases
            .create(&PostParams::default(), &v1beta1_release(name, spec))
            .await
            .unwrap();
    }
    for (name, _, expected) in cases {
        let hr = wait_for(&releases, name, "refused", WAIT, |hr| {
            status(hr)
                .phase
                .as_deref()
                .is_some_and(|p| p == "Failed" || p == "ChartFetchFailed")
        })
        .await
        .unwrap();
        let shown = format!("{:?}", status(&hr).conditions);
        assert!(shown.contains(expected), "{name}: {shown}");
    }
    assert!(
        chart_repo.requests().is_empty(),
        "{:?}",
        chart_repo.requests()
    );
    assert!(strict.helm_calls().is_empty(), "{:?}", strict.helm_calls());
}

#[tokio::test]
async fn the_deploy_key_goes_only_to_the_daemons_repository() {
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut urls = Vec::new();
    let mut repos = Vec::new();
    for name in ["daemon", "other"] {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = GitFixture::new(&dir, "master").unwrap();
        configmap_chart(&repo.work_path().join("charts/app"), "app", "0.1.0").unwrap();
        repo.commit_and_push("chart").unwrap();
        urls.push(sshd.url(repo.bare_path()));
        repos.push(repo);
    }
    let key = work.path().join("identity");
    std::fs::write(&key, sshd.client_key().unwrap()).unwrap();
    let known_hosts = work.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
    let charts = Arc::new(GitsyncCharts::new(
        work.path().join("gitcharts"),
        Duration::from_millis(500),
        GitAccess::new()
            .with_ssh_key(gitsync::SshKey::file(&key))
            .with_deploy_key_urls([urls[0].clone()])
            .with_known_hosts(gitsync::KnownHosts::from_file(&known_hosts).unwrap())
            .with_policy(fixture_policy()),
    ));
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    options.git = Some(charts);
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    create_secret(
        &client,
        &demo,
        &secret("other-key", &[("identity", &sshd.client_key().unwrap())]),
    )
    .await;
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = |url: &str| serde_json::json!({"git": url, "path": "charts/app", "ref": "master"});
    let mut with_secret = chart(&urls[1]);
    with_secret["secretRef"] = serde_json::json!({"name": "other-key"});
    for (name, chart) in [
        ("daemon", chart(&urls[0])),
        ("other", chart(&urls[1])),
        ("other-with-key", with_secret),
    ] {
        releases
            .create(
                &PostParams::default(),
                &v1_release(name, &serde_json::json!({"chart": chart})),
            )
            .await
            .unwrap();
    }
    wait_for(
        &releases,
        "daemon",
        "released with the deploy key",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
    wait_for(
        &releases,
        "other-with-key",
        "released with its own key",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
    wait_for(
        &releases,
        "other",
        "refused the deploy key",
        WAIT,
        phase_is("ChartFetchFailed"),
    )
    .await
    .unwrap();
    let events = events_about(&client, &demo, "other").await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "FailedReleaseSync" && n.contains("chart.secretRef")),
        "{events:?}"
    );
    let shown = format!("{events:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

/// A [`GitCharts`] that panics for one URL (a bug in a chart source) and
/// has nothing for any other.
struct PanickingCharts;

impl GitCharts for PanickingCharts {
    fn checkout<'a>(
        &'a self,
        url: &'a str,
        _git_ref: &'a str,
        _credentials: Option<&'a GitCredentials>,
    ) -> BoxFuture<'a, Result<ChartCheckout, helmops::Error>> {
        async move {
            assert!(!url.contains("panic"), "a chart source panicked on {url}");
            Err(helmops::Error::Chart {
                chart: url.to_owned(),
                reason: "no such repository".to_owned(),
            })
        }
        .boxed()
    }
}

#[tokio::test]
async fn two_hundred_releases_converge_past_a_garbage_repository_and_a_panic() {
    const GOOD: usize = 200;
    let work = tempfile::tempdir().unwrap();
    let repo: ChartRepository = repository_of(
        work.path(),
        &[("hello", &|d: &Path| {
            configmap_chart(d, "hello", "1.0.0").unwrap();
        })],
    )
    .await;
    let mut garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    garbage.extend_from_slice(b"\xff\xfe not yaml at all");
    let hostile = format!(
        "apiVersion: v1\nentries:\n  hello:\n  - name: hello\n    version: 1.0.0\n    urls: [hello-1.0.0.tgz]\n    digest: {}\n",
        "é".repeat(40)
    );
    let server = serve(vec![
        ("/garbage/index.yaml", garbage),
        ("/hostile/index.yaml", hostile.into_bytes()),
    ])
    .await;
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), Duration::from_secs(30));
    options.git = Some(Arc::new(PanickingCharts));
    options.configure = Some(Arc::new(|config| config.workers = 4));
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), run.demo());
    let good = serde_json::json!({"repository": repo.url(), "name": "hello", "version": "1.0.0"});
    for (name, chart) in [
        (
            "garbage",
            serde_json::json!({"repository": format!("http://{server}/garbage/"), "name": "hello", "version": "1.0.0"}),
        ),
        (
            "hostile-digest",
            serde_json::json!({"repository": format!("http://{server}/hostile/"), "name": "hello", "version": "1.0.0"}),
        ),
        (
            "panics",
            serde_json::json!({"git": "https://git.invalid/panic.git", "path": "chart"}),
        ),
    ] {
        releases
            .create(
                &PostParams::default(),
                &v1beta1_release(name, &serde_json::json!({"chart": chart, "values": {}})),
            )
            .await
            .unwrap();
    }
    for i in 0..GOOD {
        releases
            .create(
                &PostParams::default(),
                &v1beta1_release(
                    &format!("app-{i:03}"),
                    &serde_json::json!({"chart": good, "values": {"data": {"i": i.to_string()}}}),
                ),
            )
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    loop {
        let all = releases.list(&ListParams::default()).await.unwrap().items;
        let done = all
            .iter()
            .filter(|hr| {
                hr.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("app-"))
            })
            .filter(|hr| status(*hr).phase.as_deref() == Some("Succeeded"))
            .count();
        if done == GOOD {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{done} of {GOOD} releases converged"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for name in ["garbage", "hostile-digest"] {
        let hr = wait_for(
            &releases,
            name,
            "chart fetch failed",
            WAIT,
            phase_is("ChartFetchFailed"),
        )
        .await
        .unwrap();
        assert!(
            message(&hr, "ChartFetched").contains("index.yaml"),
            "{name}: {hr:?}"
        );
    }
    let hr = wait_for(&releases, "panics", "failed", WAIT, phase_is("Failed"))
        .await
        .unwrap();
    assert!(
        message(&hr, "Released").contains("internal error"),
        "{hr:?}"
    );
}
