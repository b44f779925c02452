//! The seed's walkthrough, step by step, with this project's chart:
//!
//! 1. a cluster admin applies `deploy/crds`, creates `flux` and `demo`, and
//!    applies the seed's RBAC (its `v1beta1` objects rewritten to `v1`);
//! 2. `helm template flux deploy/chart/flux -n flux -f <the seed's values>`
//!    with `git.url` at a local sshd-served repository modelled on
//!    stakater/flux-helm-test; the rendered objects applied as the `flux`
//!    ServiceAccount;
//! 3. no kubelet: what the rendered Deployments run (fluxd, `fluxd
//!    helm-operator`) runs as processes with exactly their arguments and
//!    environment, in pods of `flux:flux` whose volumes are filled as the
//!    kubelet fills them ([`Pod`]); both start at once, the operator with
//!    the Secret still empty, and its volume is refilled once fluxd wrote
//!    the key, as the kubelet refreshes Secret volumes;
//! 4. the key read with the seed's pipeline from fluxd's log, authorised in
//!    sshd with write access only then;
//! 5. fluxd syncs, the operator installs the umbrella chart into `demo`;
//! 6. a value changed in git upgrades it, the HelmRelease removed from git
//!    (garbage collection on) uninstalls it, and the sync tag follows.
//!
//! Besides the seed's values, the test sets only what a local test needs:
//! `git.url`, `ssh.known_hosts` (the seed relied on GitHub's host keys in
//! Flux's image), `syncGarbageCollection.enabled` (step 6), and listen
//! addresses on 127.0.0.1 with free ports (tests never bind `:3030`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::controlplane::{ControlPlane, Kubeconfig, render_seed_rbac, run};
use tests::fluxd::pod::Pod;
use tests::fluxd::{Daemon, FluxdCommand, LogLine};
use tests::git::GitFixture;
use tests::sshd::Sshd;

use super::{chart_dir, container_args, fixture, helm, object};

const WAIT: Duration = Duration::from_secs(180);

/// Copies the fixture repository into `repo`'s work tree, with `${GIT_URL}` filled in.
fn write_fixture_repo(repo: &GitFixture, from: &Path, prefix: &str, git_url: &str) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            write_fixture_repo(repo, &entry.path(), &format!("{name}/"), git_url);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            repo.write(&name, &text.replace("${GIT_URL}", git_url))
                .unwrap();
        }
    }
}

/// Fills `pod`'s volumes as the kubelet would for `container` of the
/// rendered `pod_spec`: ConfigMaps from the rendered objects, Secrets as the
/// cluster has them now, emptyDirs fresh; and sets the container's env.
async fn kubelet(
    cluster: &ControlPlane,
    rendered: &[serde_json::Value],
    pod_spec: &serde_json::Value,
    mut pod: Pod,
) -> Pod {
    let container = &pod_spec["containers"][0];
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(cluster.client().unwrap(), pod.namespace());
    for mount in container["volumeMounts"].as_array().unwrap() {
        let path = mount["mountPath"].as_str().unwrap();
        let volume = pod_spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        if let Some(name) = volume["configMap"]["name"].as_str() {
            let config_map = object(rendered, "ConfigMap", name);
            if let Some(data) = config_map["data"].as_object() {
                for (key, value) in data {
                    pod.write_etc(
                        &format!("{path}/{key}"),
                        value.as_str().unwrap().as_bytes(),
                        0o644,
                    )
                    .unwrap();
                }
            }
        } else if let Some(name) = volume["secret"]["secretName"].as_str() {
            pod.make_etc_dir(path).unwrap();
            mount_secret(&pod, &secrets, volume, name, path).await;
        } else if volume.get("emptyDir").is_some() {
            // The machine's /tmp stands for the pod's.
            if path != "/tmp" {
                pod = pod.with_empty_dir(path).unwrap();
            }
        } else {
            panic!("a volume the walkthrough does not mount: {volume}");
        }
    }
    if let Some(env) = container["env"].as_array() {
        for variable in env {
            pod = pod.with_env(
                variable["name"].as_str().unwrap(),
                variable["value"].as_str().unwrap(),
            );
        }
    }
    // The image's PATH: fluxd and helm.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tests::tools::tools_dir().join("bin")];
    dirs.extend(std::env::split_paths(&path));
    pod.with_env("PATH", std::env::join_paths(dirs).unwrap())
}

/// Writes the files of Secret `name` as it is in the cluster now under
/// `path` in `pod`, as the kubelet (re)fills a Secret volume.
async fn mount_secret(
    pod: &Pod,
    secrets: &kube::Api<k8s_openapi::api::core::v1::Secret>,
    volume: &serde_json::Value,
    name: &str,
    path: &str,
) {
    let mode = volume["secret"]["defaultMode"].as_u64().unwrap_or(0o644);
    let data = secrets.get(name).await.unwrap().data.unwrap_or_default();
    for (key, value) in data {
        pod.write_etc(
            &format!("{path}/{key}"),
            &value.0,
            u32::try_from(mode).unwrap(),
        )
        .unwrap();
    }
}

/// Runs `command` and returns stdout, panicking with stderr on failure.
fn ok(command: &mut Command) -> String {
    run(command).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `check` until it gives `Some`, at most [`WAIT`].
async fn eventually<T>(
    what: &str,
    daemons: &mut [&mut Daemon],
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        for daemon in daemons.iter_mut() {
            daemon.check_running().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not after {WAIT:?}\n{}",
            daemons
                .iter()
                .map(|d| d.log_text())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `helm list -n demo -o json` as `user`: (name, status, revision) of each release.
fn helm_list(user: &Kubeconfig) -> Vec<(String, String, String)> {
    let text = ok(user
        .helm()
        .unwrap()
        .args(["list", "-n", "demo", "-o", "json"]));
    let releases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    releases
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["revision"].to_string().trim_matches('"').to_owned(),
            )
        })
        .collect()
}

fn wait_for_sync(daemon: &mut Daemon, revision: &str) -> LogLine {
    daemon
        .wait_for_log(WAIT, &format!("the sync of {revision}"), |line| {
            line.is("sync finished") && line.str("revision") == Some(revision)
        })
        .unwrap()
}

#[tokio::test]
async fn the_seeds_walkthrough_from_the_admins_crds_to_an_uninstalled_release() {
    // 1. The cluster admin's part. A cluster of its own: the CRDs and the
    // namespaces are the seed's own names.
    let cluster = ControlPlane::private().await.unwrap();
    let admin = cluster.admin();
    let crds = tests::tools::workspace_root().join("deploy/crds");
    ok(admin.kubectl().unwrap().arg("apply").arg("-f").arg(&crds));
    ok(admin.kubectl().unwrap().args([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/helmreleases.flux.weave.works",
        "crd/helmreleases.helm.fluxcd.io",
        "crd/fluxhelmreleases.helm.integrations.flux.weave.works",
    ]));
    ok(admin
        .kubectl()
        .unwrap()
        .args(["create", "namespace", "flux"]));
    ok(admin
        .kubectl()
        .unwrap()
        .args(["create", "namespace", "demo"]));
    let rbac = render_seed_rbac("demo", "flux", "kube-system").unwrap();
    assert!(
        !rbac.contains("rbac.authorization.k8s.io/v1beta1\n"),
        "{rbac}"
    );
    admin.apply_yaml(&rbac, "the seed's RBAC").await.unwrap();
    let flux = cluster
        .service_account_kubeconfig("flux", "flux")
        .await
        .unwrap();

    // The repository, modelled on stakater/flux-helm-test, on a real sshd
    // that knows no key yet.
    let sshd = Sshd::start().unwrap();
    sshd.authorize(&[]).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("repo")).unwrap();
    let repo = GitFixture::new(&work.path().join("repo"), "master").unwrap();
    let git_url = sshd.url(repo.bare_path());
    write_fixture_repo(&repo, &fixture("repo"), "", &git_url);
    let first = repo
        .commit_and_push("the umbrella chart and its HelmRelease")
        .unwrap();

    // 2. helm template with the seed's values.
    let operator_port = tests::net::free_port().unwrap();
    let fluxd_port = tests::net::free_port().unwrap();
    let local = serde_json::json!({
        "git": {"url": git_url},
        "ssh": {"known_hosts": sshd.known_hosts_line().unwrap()},
        "syncGarbageCollection": {"enabled": true},
        "additionalArgs": ["--k8s-namespace-whitelist=demo", format!("--listen=127.0.0.1:{fluxd_port}")],
        "helmOperator": {"additionalArgs": [format!("--listen=127.0.0.1:{operator_port}")]},
    });
    let local_values = work.path().join("local-values.yaml");
    std::fs::write(&local_values, local.to_string()).unwrap();
    let helm_home = tempfile::tempdir().unwrap();
    let manifests = ok(helm(helm_home.path())
        .args(["template", "flux"])
        .arg(chart_dir())
        .args(["-n", "flux", "-f"])
        .arg(fixture("values.yaml"))
        .arg("-f")
        .arg(&local_values));
    let rendered: Vec<serde_json::Value> = serde_saphyr::from_multiple(&manifests).unwrap();
    let rendered: Vec<serde_json::Value> = rendered.into_iter().filter(|d| !d.is_null()).collect();
    assert!(
        !rendered.iter().any(
            |o| o["kind"].as_str().is_some_and(|k| k.starts_with("Cluster"))
                || o["kind"] == "CustomResourceDefinition"
        ),
        "the seed turned rbac.create and createCRD off"
    );
    let manifests_file = work.path().join("flux.yaml");
    std::fs::write(&manifests_file, &manifests).unwrap();
    // Applied as the flux ServiceAccount may.
    ok(flux
        .kubectl()
        .unwrap()
        .args(["apply", "-n", "flux", "-f"])
        .arg(&manifests_file));

    // 3. fluxd as the rendered Deployment runs it.
    let fluxd_spec = &object(&rendered, "Deployment", "flux")["spec"]["template"]["spec"];
    assert_eq!(fluxd_spec["serviceAccountName"], "flux");
    let fluxd_pod = kubelet(
        &cluster,
        &rendered,
        fluxd_spec,
        Pod::new(&cluster, "flux", "flux").await.unwrap(),
    )
    .await;
    let fluxd_dir = tempfile::tempdir().unwrap();
    let command = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap()
        .with_args_as_given()
        .args(container_args(&rendered, "flux"));
    let mut fluxd = fluxd_pod.run(command).start(fluxd_dir.path()).unwrap();

    // The operator, in its own pod, started with fluxd: the Secret it
    // mounts is still empty.
    let operator_spec =
        &object(&rendered, "Deployment", "flux-helm-operator")["spec"]["template"]["spec"];
    let operator_pod = kubelet(
        &cluster,
        &rendered,
        operator_spec,
        Pod::new(&cluster, "flux", "flux").await.unwrap(),
    )
    .await;
    let container = &operator_spec["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["fluxd"]));
    let operator_dir = tempfile::tempdir().unwrap();
    let command = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap()
        .with_args_as_given()
        .args(container_args(&rendered, "flux-helm-operator"));
    let mut operator = operator_pod
        .run(command)
        .start(operator_dir.path())
        .unwrap();
    let admin_secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(cluster.client().unwrap(), "flux");

    // 4. The key, as the seed reads it; until it is authorised fluxd says
    // it cannot read the repository, and keeps trying.
    fluxd
        .wait_for_log(WAIT, "identity.pub", |line| {
            line.str("identity.pub").is_some()
        })
        .unwrap();
    let public = tests::fluxd::seed_key_pipeline(&fluxd.log_text()).unwrap();
    let public = public.trim();
    assert!(
        public.starts_with("ssh-"),
        "{public:?}\n{}",
        fluxd.log_text()
    );
    assert_eq!(public.lines().count(), 1, "{public}");
    let failed_fetches = |daemon: &Daemon| daemon.count_logs(|line| line.is("fetch failed"));
    eventually("fluxd to try the repository twice", &mut [], async || {
        (failed_fetches(&fluxd) >= 2).then_some(())
    })
    .await;
    fluxd.check_running().unwrap();
    assert!(!fluxd.log_text().contains("PRIVATE KEY"));
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(flux.client().unwrap(), "flux");
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    let stored = secret.data.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stored["identity.pub"].0).trim(),
        public
    );
    // The kubelet updates the operator's Secret volume with the key.
    let git_key = operator_spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "git-key")
        .unwrap();
    mount_secret(
        &operator_pod,
        &admin_secrets,
        git_key,
        "flux-git-deploy",
        "/etc/fluxd/ssh",
    )
    .await;
    // The user adds it as a deploy key with write access.
    sshd.authorize(&[public]).unwrap();

    // 5. fluxd syncs the HelmRelease into demo and tags the revision.
    let summary = wait_for_sync(&mut fluxd, &first);
    assert_eq!(
        summary.u64("failed"),
        Some(0),
        "{summary}\n{}",
        fluxd.log_text()
    );
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(first.clone())
    );

    let released = |user: &Kubeconfig| {
        ok(user.kubectl().unwrap().args([
            "get",
            "helmreleases.flux.weave.works",
            "-n",
            "demo",
            "umbrella-chart",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Released\")].status} {.status.releaseStatus}",
        ]))
    };
    eventually(
        "the umbrella release deployed",
        &mut [&mut fluxd, &mut operator],
        async || {
            let list = helm_list(&flux);
            (list
                == [(
                    "umbrella-chart".to_owned(),
                    "deployed".to_owned(),
                    "1".to_owned(),
                )]
                && released(&flux) == "True deployed")
                .then_some(())
        },
    )
    .await;
    let table =
        ok(flux
            .kubectl()
            .unwrap()
            .args(["get", "helmreleases.flux.weave.works", "-n", "demo"]));
    assert!(table.contains("umbrella-chart"), "{table}");
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(flux.client().unwrap(), "demo");
    let config = |cm: Option<k8s_openapi::api::core::v1::ConfigMap>| {
        cm.and_then(|cm| cm.data)
            .and_then(|d| d.get("config.yml").cloned())
    };
    let first_config = config(config_maps.get_opt("umbrella-chart-xposer").await.unwrap()).unwrap();
    assert!(
        first_config.contains("domain: stakater.com"),
        "{first_config}"
    );

    // 6. A value changed in git: an upgrade.
    let release_file = "releases/umbrella.yaml";
    let text = std::fs::read_to_string(repo.work_path().join(release_file)).unwrap();
    repo.write(
        release_file,
        &text.replace("domain: stakater.com", "domain: example.org"),
    )
    .unwrap();
    let second = repo.commit_and_push("xposer: another domain").unwrap();
    wait_for_sync(&mut fluxd, &second);
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second.clone())
    );
    eventually(
        "the upgrade",
        &mut [&mut fluxd, &mut operator],
        async || {
            let list = helm_list(&flux);
            let now = config(config_maps.get_opt("umbrella-chart-xposer").await.ok()?)?;
            (list
                == [(
                    "umbrella-chart".to_owned(),
                    "deployed".to_owned(),
                    "2".to_owned(),
                )]
                && now.contains("domain: example.org")
                && released(&flux) == "True deployed")
                .then_some(())
        },
    )
    .await;

    // The HelmRelease removed from git: garbage collection deletes it, and
    // the operator uninstalls the release.
    repo.remove(release_file).unwrap();
    let third = repo.commit_and_push("no more xposer").unwrap();
    let summary = wait_for_sync(&mut fluxd, &third);
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(third.clone())
    );
    eventually(
        "the release uninstalled",
        &mut [&mut fluxd, &mut operator],
        async || {
            let gone = config_maps
                .get_opt("umbrella-chart-xposer")
                .await
                .ok()?
                .is_none();
            (helm_list(&flux).is_empty() && gone).then_some(())
        },
    )
    .await;
    let left = ok(flux.kubectl().unwrap().args([
        "get",
        "helmreleases.flux.weave.works",
        "-n",
        "demo",
        "-o",
        "name",
    ]));
    assert_eq!(left.trim(), "", "{summary}");
    operator.stop();
    fluxd.stop();
}
