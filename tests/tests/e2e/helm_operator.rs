//! The Helm operator as a program: `fluxd helm-operator` (the chart's
//! second Deployment) and `fluxd --helm-operator` (beside the sync), each
//! as a process (the tests' `fluxd-e2e`) under the seed's restricted
//! ServiceAccount, with real helm, a real sshd serving the chart with the
//! mounted deploy key, and its HTTP listener.

// Test helpers may unwrap, like `#[test]` functions: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use helmops::api::{HelmReleaseStatus, v1, v1alpha2};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use tests::fluxd::FluxdCommand;
use tests::git::GitFixture;
use tests::helm::operator::{cluster, wait_for, write_helm_wrapper};
use tests::helm::umbrella_chart;
use tests::sshd::Sshd;

const WAIT: Duration = Duration::from_secs(120);
const SECRET: &str = "hunter2-PROGRAM-secret";

fn fluxd() -> FluxdCommand {
    FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e")).unwrap()
}

fn status<K: helmops::model::HelmReleaseResource>(obj: &K) -> HelmReleaseStatus {
    obj.release_status().cloned().unwrap_or_default()
}

fn succeeded<K: helmops::model::HelmReleaseResource>(obj: &K) -> bool {
    status(obj).phase.as_deref() == Some("Succeeded")
}

/// The deploy key mounted as the chart mounts it, and known_hosts.
struct Keys {
    mount: PathBuf,
    known_hosts: PathBuf,
}

fn keys(sshd: &Sshd, dir: &Path) -> Keys {
    let mount = dir.join("ssh");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(mount.join("identity"), sshd.client_key().unwrap()).unwrap();
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
    Keys { mount, known_hosts }
}

/// The seed's namespaces and account, an sshd, and a repository holding the
/// seed's umbrella chart (not committed yet) served with the deploy key.
struct Scene {
    rbac: tests::controlplane::SeedRbac,
    flux: tests::controlplane::Kubeconfig,
    client: kube::Client,
    demo: String,
    sshd: Sshd,
    work: tempfile::TempDir,
    repo: GitFixture,
    keys: Keys,
}

async fn scene() -> Scene {
    let cluster = cluster().await.unwrap();
    let rbac = cluster.seed_rbac().await.unwrap();
    let flux = rbac.flux_kubeconfig().await.unwrap();
    let client = flux.client().unwrap();
    let demo = rbac.demo.name().to_owned();
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("git")).unwrap();
    let repo = GitFixture::new(&work.path().join("git"), "master").unwrap();
    umbrella_chart(&repo.work_path().join("charts"), "umbrella", "xposer").unwrap();
    let keys = keys(&sshd, work.path());
    Scene {
        rbac,
        flux,
        client,
        demo,
        sshd,
        work,
        repo,
        keys,
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let code = response.status().as_u16();
    (code, response.text().await.unwrap())
}

async fn wait_for_metric(url: &str, line: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, text) = get(url).await;
        if text.contains(line) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{line} never appeared:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn fluxd_helm_operator_releases_the_seed_umbrella_over_ssh_as_the_seed_account() {
    let Scene {
        rbac,
        flux,
        client,
        demo,
        sshd,
        work,
        repo,
        keys,
    } = scene().await;
    let first = repo.commit_and_push("the seed's umbrella chart").unwrap();
    let helm_log = work.path().join("helm.log");
    let helm = write_helm_wrapper(work.path(), &tests::tools::helm().unwrap(), &helm_log).unwrap();
    let port = tests::net::free_port().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut operator = fluxd()
        .arg("helm-operator")
        .arg("--kubeconfig")
        .arg(flux.path())
        .args([
            "--allow-namespace",
            &demo,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--helm-binary")
        .arg(&helm)
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .arg("--k8s-secret-volume-mount-path")
        .arg(&keys.mount)
        .arg("--git-known-hosts")
        .arg(&keys.known_hosts)
        .args([
            "--git-ssh-allowed-hosts",
            &format!("127.0.0.1:{}", sshd.port()),
        ])
        // The 0.x operator's flags: FluxHelmRelease charts from this repository.
        .args([
            "--git-url",
            &sshd.url(repo.bare_path()),
            "--git-branch",
            "master",
        ])
        .args([
            "--charts-sync-interval",
            "2s",
            "--status-update-interval",
            "1s",
            "--git-poll-interval",
            "1s",
        ])
        .args([
            "--tiller-namespace",
            rbac.kube_system.name(),
            "--tiller-tls-enable",
            "--tiller-tls-verify",
        ])
        .args(["--log-format", "json"])
        .start(work.path())
        .unwrap();
    operator
        .wait_for_log(WAIT, "the operator to run", |line| {
            line.is("helm operator running")
        })
        .unwrap();
    assert!(
        operator.count_logs(|line| line.message().contains("there is no Tiller")
            && line.str("flags") == Some("--tiller-tls-enable --tiller-tls-verify"))
            == 1,
        "{}",
        operator.log_text()
    );
    assert_eq!(
        get(&format!("{base}/healthz")).await,
        (200, "OK".to_owned())
    );

    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &demo)
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "leaky"},
                "stringData": {"values.yaml": format!("password: {SECRET}\nbroken: [1,\n  x: y\n")}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = serde_json::json!({"git": sshd.url(repo.bare_path()), "path": "charts/umbrella", "ref": "master"});
    for (name, spec) in [
        (
            "xposer",
            serde_json::json!({"releaseName": "xposer", "chart": chart, "values": {"xposer": {"data": {"team": "demo"}}}}),
        ),
        (
            "leaky",
            serde_json::json!({"chart": chart, "valuesFrom": [{"secretKeyRef": {"name": "leaky"}}]}),
        ),
    ] {
        let hr: v1::HelmRelease = serde_json::from_value(serde_json::json!({
            "apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease",
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap();
        releases.create(&PostParams::default(), &hr).await.unwrap();
    }
    let hr = wait_for(&releases, "xposer", "released", WAIT, succeeded)
        .await
        .unwrap();
    let st = status(&hr);
    assert_eq!(st.release_name.as_deref(), Some("xposer"));
    assert_eq!(st.release_status.as_deref(), Some("deployed"));
    assert_eq!(st.revision.as_deref(), Some(first.as_str()));
    let released = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Released")
        .unwrap();
    assert_eq!(
        (
            released.status.as_str(),
            released.reason.as_deref(),
            released.message.as_deref()
        ),
        (
            "True",
            Some("Succeeded"),
            Some(format!("Release was successful for Helm release 'xposer' in '{demo}'.").as_str())
        )
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &demo);
    let data = config_maps
        .get("xposer-xposer")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["greeting"], "from-umbrella");
    assert_eq!(data["team"], "demo");
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &demo)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ReleaseSynced")
                && e.note.as_deref()
                    == Some(
                        format!("managed release 'xposer' in namespace '{demo}' synchronized")
                            .as_str()
                    )),
        "{events:?}"
    );
    // The gauges: conditions as they are written, the count every status interval.
    for line in [
        format!(
            "flux_helm_operator_release_condition_info{{target_namespace=\"{demo}\",release_name=\"xposer\",condition=\"Released\"}} 1"
        ),
        format!(
            "flux_helm_operator_release_condition_info{{target_namespace=\"{demo}\",release_name=\"xposer\",condition=\"ChartFetched\"}} 1"
        ),
        "flux_helm_operator_release_count 2".to_owned(),
    ] {
        wait_for_metric(&format!("{base}/metrics"), &line).await;
    }

    // A FluxHelmRelease takes its chart from --git-url, under --git-charts-path.
    let legacy: Api<v1alpha2::FluxHelmRelease> = Api::namespaced(client.clone(), &demo);
    legacy
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "helm.integrations.flux.weave.works/v1alpha2",
                "kind": "FluxHelmRelease",
                "metadata": {"name": "legacy"},
                "spec": {"chartGitPath": "xposer", "values": {"data": {"era": "0.x"}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_for(
        &legacy,
        "legacy",
        "released from --git-url",
        WAIT,
        succeeded,
    )
    .await
    .unwrap();
    assert_eq!(
        config_maps
            .get(&format!("{demo}-legacy-xposer"))
            .await
            .unwrap()
            .data
            .unwrap()["era"],
        "0.x"
    );

    // The release whose values Secret is malformed fails, and its secret
    // appears nowhere: not in the status, not in an Event, not in the log.
    let leaky = wait_for(&releases, "leaky", "failed", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Failed")
    })
    .await
    .unwrap();
    assert!(
        !serde_json::to_string(&leaky.status)
            .unwrap()
            .contains("hunter2")
    );
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &demo)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedReleaseSync"))
    );
    assert!(!format!("{events:?}").contains("hunter2"));

    // A values change upgrades; a new commit of the chart too.
    releases
        .patch(
            "xposer",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"values": {"xposer": {"data": {"team": "platform"}}}}}),
            ),
        )
        .await
        .unwrap();
    wait_for(&releases, "xposer", "upgraded", WAIT, |hr| {
        status(hr).helm_revision == Some(2) && succeeded(hr)
    })
    .await
    .unwrap();
    assert_eq!(
        config_maps
            .get("xposer-xposer")
            .await
            .unwrap()
            .data
            .unwrap()["team"],
        "platform"
    );
    repo.write(
        "charts/xposer/values.yaml",
        "data:\n  greeting: hello\n  extra: added\nfail: false\n",
    )
    .unwrap();
    let second = repo.commit_and_push("xposer: one more key").unwrap();
    let (code, body) = {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v1/sync-git"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!((code, body.as_str()), (200, "OK"));
    wait_for(&releases, "xposer", "at the new commit", WAIT, |hr| {
        status(hr).revision.as_deref() == Some(second.as_str())
    })
    .await
    .unwrap();

    // Deleting the HelmRelease uninstalls the release.
    releases
        .delete("xposer", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while config_maps
        .get_opt("xposer-xposer")
        .await
        .unwrap()
        .is_some()
        || releases.get_opt("xposer").await.unwrap().is_some()
    {
        assert!(std::time::Instant::now() < deadline, "not uninstalled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        std::fs::read_to_string(&helm_log)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("uninstall xposer"))
    );

    operator.check_running().unwrap();
    operator.stop();
    let log = operator.log_text();
    assert!(!log.contains("hunter2"), "the log quotes a secret:\n{log}");
    assert!(
        operator
            .logs()
            .iter()
            .any(|l| l.is("helm operator stopped")),
        "{log}"
    );
}

#[tokio::test]
async fn fluxd_with_helm_operator_releases_what_the_sync_applies() {
    let Scene {
        rbac,
        flux,
        client,
        demo,
        sshd,
        work,
        repo,
        keys,
    } = scene().await;
    let url = sshd.url(repo.bare_path());
    let release = |team: &str| {
        format!(
            "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: xposer\n  namespace: {demo}\nspec:\n  releaseName: xposer\n  chart:\n    git: {url}\n    path: charts/umbrella\n    ref: master\n  values:\n    xposer:\n      data:\n        team: {team}\n"
        )
    };
    repo.write("deploy/xposer.yaml", &release("demo")).unwrap();
    repo.write(
        "deploy/legacy.yaml",
        &format!(
            "apiVersion: helm.integrations.flux.weave.works/v1alpha2\nkind: FluxHelmRelease\nmetadata:\n  name: legacy\n  namespace: {demo}\nspec:\n  chartGitPath: xposer\n  values:\n    data:\n      era: v1alpha2\n"
        ),
    )
    .unwrap();
    repo.commit_and_push("HelmReleases and their charts")
        .unwrap();
    let helm_log = work.path().join("helm.log");
    let helm = write_helm_wrapper(work.path(), &tests::tools::helm3().unwrap(), &helm_log).unwrap();
    let port = tests::net::free_port().unwrap();
    let mut daemon = fluxd()
        .args([
            "--git-url",
            &url,
            "--git-branch",
            "master",
            "--git-path",
            "deploy",
            "--git-readonly",
        ])
        .arg("--kubeconfig")
        .arg(flux.path())
        .args([
            "--k8s-allow-namespace",
            &demo,
            "--k8s-namespace",
            rbac.flux.name(),
        ])
        .arg("--k8s-secret-volume-mount-path")
        .arg(&keys.mount)
        .arg("--git-known-hosts")
        .arg(&keys.known_hosts)
        .args(["--git-poll-interval", "1s", "--sync-interval", "2s"])
        .arg("--helm-operator")
        .args(["--helm-operator-listen", &format!("127.0.0.1:{port}")])
        .arg("--helm-binary")
        .arg(&helm)
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args([
            "--charts-sync-interval",
            "2s",
            "--status-update-interval",
            "1s",
        ])
        .args(["--tiller-namespace", rbac.kube_system.name()])
        .start(work.path())
        .unwrap();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let hr = wait_for(
        &releases,
        "xposer",
        "synced from git and released",
        WAIT,
        succeeded,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    assert_eq!(status(&hr).release_name.as_deref(), Some("xposer"));
    let legacy: Api<v1alpha2::FluxHelmRelease> = Api::namespaced(client.clone(), &demo);
    wait_for(
        &legacy,
        "legacy",
        "released from the synced revision",
        WAIT,
        succeeded,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &demo);
    assert_eq!(
        config_maps
            .get("xposer-xposer")
            .await
            .unwrap()
            .data
            .unwrap()["team"],
        "demo"
    );
    assert_eq!(
        config_maps
            .get(&format!("{demo}-legacy-xposer"))
            .await
            .unwrap()
            .data
            .unwrap()["era"],
        "v1alpha2"
    );
    wait_for_metric(
        &format!("http://127.0.0.1:{port}/metrics"),
        &format!("flux_helm_operator_release_condition_info{{target_namespace=\"{demo}\",release_name=\"xposer\",condition=\"Released\"}} 1"),
    )
    .await;

    // A commit that changes the HelmRelease: the sync applies it, the
    // operator upgrades.
    repo.write("deploy/xposer.yaml", &release("platform"))
        .unwrap();
    repo.commit_and_push("xposer: another team").unwrap();
    wait_for(&releases, "xposer", "upgraded", WAIT, |hr| {
        status(hr).helm_revision == Some(2) && succeeded(hr)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    assert_eq!(
        config_maps
            .get("xposer-xposer")
            .await
            .unwrap()
            .data
            .unwrap()["team"],
        "platform"
    );
    assert!(
        std::fs::read_to_string(&helm_log)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("upgrade xposer")),
        "helm 3 ran the release"
    );
    daemon.check_running().unwrap();
    daemon.stop();
    let logs = daemon.logs();
    assert!(
        logs.iter().any(|l| l.is("helm operator stopped")),
        "{}",
        daemon.log_text()
    );
    assert!(
        logs.iter().any(|l| l.is("stopped")),
        "{}",
        daemon.log_text()
    );
}

/// The README's two ways to run the operator parse as fluxd's command line.
#[test]
fn the_readme_commands_parse() {
    use clap::Parser;
    let readme = std::fs::read_to_string(tests::tools::workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("## The Helm operator")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let joined = section.replace("\\\n", " ");
    let commands: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("fluxd "))
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    for command in commands {
        let flags = fluxd::Flags::try_parse_from(command.split_whitespace())
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        assert!(
            flags.helm_operator || matches!(flags.command, Some(fluxd::Command::HelmOperator(_))),
            "{command}"
        );
    }
}

/// The operator started while the API server answers 503 to everything (an
/// HTTPS proxy answering for it, `tests::api_proxy`): it does not exit, says
/// it cannot look for the CRDs yet, and once the API server answers again it
/// finds them and releases a HelmRelease created after the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluxd_helm_operator_survives_an_api_server_answering_503_and_releases_after() {
    use tests::api_proxy::{ApiProxy, Fault};

    let cluster = cluster().await.unwrap();
    let ns = cluster.namespace("operator-api-faults").await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let helm = tests::tools::helm().unwrap();
    let chart =
        tests::helm::configmap_chart(&work.path().join("src/hello"), "hello", "1.0.0").unwrap();
    tests::helm::package_into_repo(&helm, &chart, &work.path().join("repo")).unwrap();
    let charts = tests::helm::ChartRepository::start(work.path().join("repo"), None)
        .await
        .unwrap();
    let proxy = ApiProxy::start(cluster).unwrap();
    proxy.fail(Fault::status(503));
    let kubeconfig = proxy.kubeconfig(cluster, work.path()).unwrap();
    let port = tests::net::free_port().unwrap();
    let mut operator = fluxd()
        .arg("helm-operator")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "--allow-namespace",
            ns.name(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--helm-binary")
        .arg(&helm)
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .arg("--allow-internal-urls")
        .args([
            "--charts-sync-interval",
            "2s",
            "--status-update-interval",
            "1s",
        ])
        .args(["--log-format", "json"])
        .start(work.path())
        .unwrap();
    let waiting = operator
        .wait_for_log(WAIT, "the operator saying it cannot look yet", |line| {
            line.message()
                .starts_with("cannot look for the HelmRelease CRDs yet")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log_text()));
    assert!(
        waiting
            .str("error")
            .is_some_and(|e| e.contains("503") || e.contains("unable to handle")),
        "{waiting}"
    );
    operator
        .wait_for_log(WAIT, "the operator to run", |line| {
            line.is("helm operator running")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log_text()));
    operator.check_running().unwrap();
    assert!(proxy.failed() > 0);

    proxy.heal();
    let releases: Api<v1::HelmRelease> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let hr: v1::HelmRelease = serde_json::from_value(serde_json::json!({
        "apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease",
        "metadata": {"name": "after"},
        "spec": {"chart": {"repository": charts.url(), "name": "hello", "version": "1.0.0"}, "values": {}}
    }))
    .unwrap();
    releases.create(&PostParams::default(), &hr).await.unwrap();
    wait_for(
        &releases,
        "after",
        "released after the fault",
        WAIT,
        succeeded,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log_text()));
    operator.check_running().unwrap();
    operator.stop();
}
