//! Swapping fluxd in for Flux v1: same repository, same cluster, same
//! command line, and nothing moves.
//!
//! The cluster starts in the state Flux v1 leaves it in: every object of the
//! repository (namespaced and cluster-scoped ones, namespace-less manifests,
//! a HelmRelease, automation annotations; the chart directory skipped) as
//! Flux v1.25's sync sent it to the real client-side `kubectl apply`, with
//! Flux's marks and checksums (the Flux v1 judge); the `flux-sync` tag on
//! the synced revision; the deploy-key Secret with Flux's keys. Then fluxd
//! runs where Flux ran: in a pod of the `flux` ServiceAccount with the
//! arguments of Flux's chart 1.13.3 (garbage collection on), the chart's
//! kubeconfig, the deploy key mounted at `/etc/fluxd/ssh` and the known
//! hosts at `~/.ssh/known_hosts`, as the chart mounts them. Its first sync
//! deletes nothing, recreates nothing, keeps every id and mark, and writes
//! only the one object git changed since Flux's last sync; a field removed
//! from git then disappears from the cluster, and garbage collection prunes
//! only the object that left git. The seed-era chart 0.6.3's arguments start
//! fluxd unchanged too.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use tests::controlplane::ControlPlane;
use tests::fluxd::pod::Pod;
use tests::fluxd::{Daemon, LogLine};
use tests::fluxv1::{apply_as_flux, chart, deploy_key_secret, flux_sync, tag_as_flux};
use tests::git::GitFixture;
use tests::sshd::Sshd;
use tests::tools::workspace_root;

use super::{LOG_TIMEOUT, fluxd};
use crate::engine::get;

/// The kinds of the repository that are cluster-scoped, as discovery told Flux.
const CLUSTER_SCOPED: &[&str] = &["Namespace", "ClusterRole"];

/// `(apiVersion, kind)` of each kind in the repository, by Flux's kind.
fn api_version_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "namespace" => ("v1", "Namespace"),
        "configmap" => ("v1", "ConfigMap"),
        "service" => ("v1", "Service"),
        "deployment" => ("apps/v1", "Deployment"),
        "clusterrole" => ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        "helmrelease" => ("helm.fluxcd.io/v1", "HelmRelease"),
        other => panic!("no kind {other} in the repository"),
    }
}

/// What a test notes of a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    uid: String,
    generation: Option<i64>,
    mark: Option<String>,
    managers: Vec<String>,
}

async fn seen(client: &kube::Client, id: &str) -> Option<(Seen, DynamicObject)> {
    let (namespace, rest) = id.split_once(':').unwrap();
    let (kind, name) = rest.split_once('/').unwrap();
    let (api_version, kind) = api_version_of(kind);
    let namespace = (namespace != "<cluster>").then_some(namespace);
    let object = get(client, api_version, kind, namespace, name).await?;
    let seen = Seen {
        uid: object.metadata.uid.clone().unwrap_or_default(),
        generation: object.metadata.generation,
        mark: object
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("fluxcd.io/sync-gc-mark").cloned()),
        managers: object
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|entry| entry.manager.clone())
            .collect(),
    };
    Some((seen, object))
}

fn deployment(namespace: &str, with_env: bool) -> String {
    let env = if with_env {
        "        env:\n        - name: MODE\n          value: production\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
  annotations:
    fluxcd.io/automated: \"true\"
    filter.fluxcd.io/web: semver:~1.27
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27.0
        ports:
        - containerPort: 80
{env}        resources:
          requests:
            cpu: 0.1
            memory: 64Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {namespace}
  annotations:
    flux.weave.works/locked: \"true\"
spec:
  selector:
    app: web
  ports:
  - port: 80
"
    )
}

/// Namespace-less: it goes to the kubeconfig context's namespace.
fn settings(a: &str, with_b: bool) -> String {
    let b = if with_b { "  b: \"2\"\n" } else { "" };
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    fluxcd.io/ignore: \"false\"\ndata:\n  a: \"{a}\"\n{b}"
    )
}

fn release(namespace: &str) -> String {
    format!(
        "apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: app
  namespace: {namespace}
  annotations:
    fluxcd.io/automated: \"true\"
    filter.fluxcd.io/chart-image: glob:1.*
spec:
  releaseName: app
  chart:
    git: ssh://git@example.com/team/charts
    ref: master
    path: charts/app
  values:
    image:
      registry: registry.example.com
      repository: team/apps/app
      tag: 1.2.0
    replicas: 2
"
    )
}

/// Writes the repository's first revision: what Flux v1 last synced.
fn first_revision(repo: &GitFixture, apps: &str) -> String {
    repo.write(
        "namespaces.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {apps}\n  labels:\n    team: apps\n"),
    )
    .unwrap();
    repo.write(
        "cluster/reader.yaml",
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {apps}-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n"
        ),
    )
    .unwrap();
    repo.write("apps/web.yaml", &deployment(apps, true))
        .unwrap();
    repo.write("apps/settings.yaml", &settings("1", true))
        .unwrap();
    repo.write(
        "apps/leftover.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leftover\n  namespace: {apps}\ndata:\n  x: \"1\"\n"),
    )
    .unwrap();
    repo.write("releases/app.yaml", &release(apps)).unwrap();
    // A chart in the repository: Flux skipped it, and so must fluxd.
    repo.write(
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    )
    .unwrap();
    repo.write("charts/app/values.yaml", "replicas: 1\n")
        .unwrap();
    repo.write(
        "charts/app/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
    )
    .unwrap();
    repo.commit_and_push("what Flux v1 synced").unwrap()
}

/// Applies the HelmRelease CRD (a cluster admin's job, as in the seed) and
/// waits until it is served.
pub(crate) async fn helm_release_crd(cluster: &ControlPlane) {
    let crd = std::fs::read_to_string(
        workspace_root().join("deploy/crds/helmreleases.helm.fluxcd.io.yaml"),
    )
    .unwrap();
    cluster
        .admin()
        .apply_yaml(&crd, "the HelmRelease CRD")
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    for _ in 0..100 {
        let discovery = kube::discovery::pinned_kind(
            &client,
            &kube::core::GroupVersionKind::gvk("helm.fluxcd.io", "v1", "HelmRelease"),
        )
        .await;
        if discovery.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the HelmRelease CRD is not served");
}

/// The `sync finished` line of `revision`.
fn wait_for_sync(daemon: &mut Daemon, revision: &str) -> LogLine {
    daemon
        .wait_for_log(LOG_TIMEOUT, &format!("the sync of {revision}"), |line| {
            line.is("sync finished") && line.str("revision") == Some(revision)
        })
        .unwrap()
}

#[tokio::test]
async fn flux_v1s_cluster_is_taken_over_with_its_chart_arguments_and_nothing_moves() {
    let cluster = ControlPlane::shared().await.unwrap();
    let flux_ns = cluster.namespace("swap-flux").await.unwrap();
    let apps_ns = cluster.namespace("swap-apps").await.unwrap();
    let (flux, apps) = (flux_ns.name(), apps_ns.name());
    // The chart's default RBAC: the flux ServiceAccount is cluster-admin.
    cluster
        .admin()
        .apply_yaml(
            &format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: flux\n  namespace: {flux}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {flux}-flux\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: flux\n  namespace: {flux}\n"
            ),
            "flux's RBAC",
        )
        .await
        .unwrap();
    helm_release_crd(cluster).await;

    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = GitFixture::new(&dir.path().join("repo"), "master").unwrap();
    let url = sshd.url(repo.bare_path());
    let synced = first_revision(&repo, apps);

    // The state Flux v1 leaves: its sync through the real kubectl, as the
    // flux ServiceAccount; namespace-less objects in the kubeconfig's
    // namespace; the sync tag; the deploy key in Flux's Secret.
    let flux_sync = flux_sync(repo.work_path(), &url, "master", &[], flux, CLUSTER_SCOPED).unwrap();
    let ids: Vec<String> = flux_sync.resources.iter().map(|r| r.id.clone()).collect();
    let mut expected_ids = vec![
        format!("<cluster>:clusterrole/{apps}-reader"),
        format!("<cluster>:namespace/{apps}"),
        format!("{apps}:configmap/leftover"),
        format!("{apps}:deployment/web"),
        format!("{apps}:helmrelease/app"),
        format!("{apps}:service/web"),
        format!("{flux}:configmap/settings"),
    ];
    expected_ids.sort();
    assert_eq!(ids, expected_ids, "the chart's templates are no resources");
    let flux_user = cluster
        .service_account_kubeconfig(flux, "flux")
        .await
        .unwrap();
    apply_as_flux(&flux_user, &flux_sync.yaml).unwrap();
    tag_as_flux(&repo, "flux-sync", &synced).unwrap();
    let private = sshd.client_key().unwrap();
    let public = std::fs::read_to_string(sshd.client_key_path().with_extension("pub")).unwrap();
    cluster
        .admin()
        .apply_yaml(
            &deploy_key_secret("flux-git-deploy", flux, &private, &public),
            "the deploy key",
        )
        .await
        .unwrap();

    let admin = cluster.client().unwrap();
    let mut before: BTreeMap<String, Seen> = BTreeMap::new();
    for resource in &flux_sync.resources {
        let (seen, _) = seen(&admin, &resource.id).await.expect(&resource.id);
        assert_eq!(
            seen.mark.as_deref(),
            Some(resource.mark.as_str()),
            "{}",
            resource.id
        );
        assert!(
            seen.managers
                .iter()
                .any(|m| m == "kubectl-client-side-apply"),
            "{seen:?}"
        );
        before.insert(resource.id.clone(), seen);
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(admin.clone(), flux);
    let secret_data = secrets.get("flux-git-deploy").await.unwrap().data;

    // git moves on once after Flux's last sync: one object differs.
    repo.write("apps/settings.yaml", &settings("10", true))
        .unwrap();
    let changed = repo.commit_and_push("a new value").unwrap();

    // The swap: fluxd in Flux's pod, with the chart's arguments.
    let pod = Pod::new(cluster, flux, "flux").await.unwrap();
    pod.write_etc("/etc/fluxd/ssh/identity", private.as_bytes(), 0o400)
        .unwrap();
    // With clusterRole.create=true the chart's kubeconfig names `default`;
    // `kube.config` names the release's namespace here, as it does in the
    // chart's restricted mode.
    let kubeconfig = pod
        .write_file("kubeconfig", chart::kubeconfig(flux).as_bytes())
        .unwrap();
    let pod = pod.with_env("KUBECONFIG", kubeconfig);
    let mut values = chart::Values::new(flux, &url);
    values.git_poll_interval = "2s".to_owned();
    values.sync_garbage_collection = true;
    let args = chart::accepted_now(&chart::args_1_13_3(&values), fluxd::compat::accepts_flag);
    let daemon_dir = tempfile::tempdir().unwrap();
    let command = fluxd().with_args_as_given().args(&args);
    // The chart mounts its `ssh.known_hosts` as the user's known_hosts.
    let ssh_dir = command.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(
        ssh_dir.join("known_hosts"),
        sshd.known_hosts_line().unwrap(),
    )
    .unwrap();
    let mut daemon = pod.run(command).start(daemon_dir.path()).unwrap();

    let summary = wait_for_sync(&mut daemon, &changed);
    let text = daemon.log_text();
    assert!(text.starts_with("ts="), "logfmt, as the chart asks: {text}");
    assert_eq!(summary.u64("created"), Some(0), "{summary}\n{text}");
    assert_eq!(summary.u64("configured"), Some(1), "{summary}\n{text}");
    assert_eq!(summary.u64("unchanged"), Some(6), "{summary}\n{text}");
    assert_eq!(summary.u64("pruned"), Some(0), "{summary}");
    assert_eq!(summary.u64("failed"), Some(0), "{summary}\n{text}");
    assert_eq!(summary.u64("load_errors"), Some(0), "{summary}\n{text}");
    let loaded = daemon
        .logs()
        .into_iter()
        .find(|line| line.is("loaded manifests"))
        .unwrap();
    assert_eq!(loaded.u64("charts_skipped"), Some(1), "{loaded}");
    // The Flux flags it does not act on each got one warning naming them.
    for flag in ["--memcached-hostname", "--memcached-service"] {
        let warnings =
            daemon.count_logs(|line| line.level() == "WARN" && line.str("flag") == Some(flag));
        assert_eq!(warnings, 1, "{flag}: {text}");
    }

    let settings_id = format!("{flux}:configmap/settings");
    for (id, was) in &before {
        let (now, object) = seen(&admin, id)
            .await
            .unwrap_or_else(|| panic!("{id} is gone"));
        assert_eq!(now.uid, was.uid, "{id} was recreated");
        assert_eq!(now.mark, was.mark, "{id}'s mark changed");
        if id == &settings_id {
            assert_eq!(object.data["data"]["a"], "10");
            assert!(now.managers.iter().any(|m| m == "fluxd"), "{now:?}");
        } else {
            assert!(
                !now.managers.iter().any(|m| m == "fluxd"),
                "fluxd wrote {id}: {now:?}"
            );
            assert_eq!(now.generation, was.generation, "{id}");
        }
    }
    assert_eq!(
        secrets.get("flux-git-deploy").await.unwrap().data,
        secret_data
    );
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(changed.clone())
    );

    // A field, a key and an env var leave git, and a whole object does.
    repo.write("apps/settings.yaml", &settings("10", false))
        .unwrap();
    repo.write("apps/web.yaml", &deployment(apps, false))
        .unwrap();
    repo.remove("apps/leftover.yaml").unwrap();
    let removed = repo.commit_and_push("less").unwrap();
    let summary = wait_for_sync(&mut daemon, &removed);
    let text = daemon.log_text();
    assert_eq!(summary.u64("pruned"), Some(1), "{summary}\n{text}");
    assert_eq!(summary.u64("configured"), Some(2), "{summary}\n{text}");
    assert_eq!(summary.u64("failed"), Some(0), "{summary}\n{text}");
    daemon.stop();

    let (_, settings) = seen(&admin, &settings_id).await.unwrap();
    assert_eq!(settings.data["data"], serde_json::json!({"a": "10"}));
    let (web, deployment) = seen(&admin, &format!("{apps}:deployment/web"))
        .await
        .unwrap();
    let container = &deployment.data["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("env").is_none(), "{container}");
    assert!(
        !web.managers
            .iter()
            .any(|m| m == "kubectl-client-side-apply"),
        "{web:?}"
    );
    assert!(
        seen(&admin, &format!("{apps}:configmap/leftover"))
            .await
            .is_none()
    );
    for (id, was) in &before {
        if id.ends_with("configmap/leftover") {
            continue;
        }
        let (now, _) = seen(&admin, id)
            .await
            .unwrap_or_else(|| panic!("{id} is gone"));
        assert_eq!(now.uid, was.uid, "{id} was recreated");
    }

    // Cluster-scoped leftovers of this test.
    let roles: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::rbac::v1::ClusterRole>(&()),
    );
    let _ = roles
        .delete(&format!("{apps}-reader"), &Default::default())
        .await;
    let bindings: Api<DynamicObject> = Api::all_with(
        admin,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(&()),
    );
    let _ = bindings
        .delete(&format!("{flux}-flux"), &Default::default())
        .await;
}

/// The seed's chart 0.6.3 with the seed's values, in a pod of the seed's
/// restricted `flux` ServiceAccount: the arguments start fluxd as they
/// are, and it syncs `demo` (the Namespaces skipped as outside the scope).
#[tokio::test]
async fn the_seeds_chart_0_6_arguments_start_fluxd_unchanged() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, flux) = (seed.demo.name(), seed.flux.name());
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = GitFixture::new(&dir.path().join("repo"), "master").unwrap();
    repo.write(
        "namespaces.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {demo}\n"),
    )
    .unwrap();
    repo.write("demo/web.yaml", &deployment(demo, true))
        .unwrap();
    let revision = repo.commit_and_push("the seed's layout").unwrap();

    let pod = Pod::new(cluster, flux, "flux").await.unwrap();
    pod.write_etc(
        "/etc/fluxd/ssh/identity",
        sshd.client_key().unwrap().as_bytes(),
        0o400,
    )
    .unwrap();
    pod.write_etc(
        "/etc/ssh/ssh_known_hosts",
        sshd.known_hosts_line().unwrap().as_bytes(),
        0o644,
    )
    .unwrap();
    let kubeconfig = pod
        .write_file("kubeconfig", chart::kubeconfig("default").as_bytes())
        .unwrap();
    let pod = pod.with_env("KUBECONFIG", kubeconfig);
    let args = chart::accepted_now(
        &chart::args_0_6_3_seed(&sshd.url(repo.bare_path()), demo),
        fluxd::compat::accepts_flag,
    );
    // The old chart set no --log-format: Flux's default, logfmt.
    assert!(!args.iter().any(|arg| arg.starts_with("--log-format")));
    let daemon_dir = tempfile::tempdir().unwrap();
    let mut daemon = pod
        .run(fluxd().with_args_as_given().args(&args))
        .start(daemon_dir.path())
        .unwrap();
    let summary = wait_for_sync(&mut daemon, &revision);
    let text = daemon.log_text();
    daemon.stop();
    assert!(text.starts_with("ts="), "{text}");
    assert_eq!(summary.u64("created"), Some(2), "{summary}\n{text}");
    assert_eq!(summary.u64("skipped"), Some(1), "{summary}\n{text}");
    assert_eq!(summary.u64("failed"), Some(0), "{summary}\n{text}");
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(revision)
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster.client().unwrap(), demo);
    assert!(deployments.get_opt("web").await.unwrap().is_some());
}

/// In a pod without a kubeconfig, resources that name no namespace go to
/// `default`, as Flux v1 put them, not to the pod's own namespace (which
/// would change their ids and garbage-collection marks); the sync marker
/// still lives in the pod's namespace.
#[tokio::test]
async fn in_a_pod_without_a_kubeconfig_namespace_less_resources_go_to_default() {
    let cluster = ControlPlane::shared().await.unwrap();
    let flux_ns = cluster.namespace("swap-pod").await.unwrap();
    let flux = flux_ns.name();
    cluster
        .admin()
        .apply_yaml(
            &format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: flux\n  namespace: {flux}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {flux}-flux\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: flux\n  namespace: {flux}\n"
            ),
            "flux's RBAC",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = GitFixture::new(dir.path(), "main").unwrap();
    let name = format!("{flux}-settings");
    repo.write(
        "settings.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"1\"\n"),
    )
    .unwrap();
    repo.commit_and_push("a namespace-less ConfigMap").unwrap();
    let pod = Pod::new(cluster, flux, "flux").await.unwrap();
    let finished = pod
        .run(fluxd().args([
            "--git-url",
            &format!("file://{}", repo.bare_path().display()),
            "--git-readonly",
            "--once",
        ]))
        .run(super::RUN_TIMEOUT)
        .unwrap();
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    let in_cluster = finished
        .logs()
        .into_iter()
        .find(|line| line.is("cluster configuration"))
        .unwrap();
    assert_eq!(
        in_cluster.str("source"),
        Some("in-cluster ServiceAccount"),
        "{in_cluster}"
    );

    let admin = cluster.client().unwrap();
    let in_default: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(admin.clone(), "default");
    let created = in_default.get_opt(&name).await.unwrap();
    assert!(created.is_some(), "{}", finished.output());
    let in_pod: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(admin.clone(), flux);
    assert!(in_pod.get_opt(&name).await.unwrap().is_none());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(admin.clone(), flux);
    assert!(
        secrets.get_opt("flux-git-deploy").await.unwrap().is_some(),
        "the marker is in the pod's namespace"
    );

    let _ = in_default.delete(&name, &Default::default()).await;
    let bindings: Api<DynamicObject> = Api::all_with(
        admin,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(&()),
    );
    let _ = bindings
        .delete(&format!("{flux}-flux"), &Default::default())
        .await;
}
