//! fluxctl (our binary, in-process) against a real fluxd process: fluxd
//! syncs a seed-like tree over ssh with its deploy key from the Secret
//! (Deployments with and without automation, a HelmRelease) into the real
//! control plane, serves its API on a free port behind `--api-token-file`,
//! and fluxctl reaches it with `--url` and `--token`. Raw requests check
//! every route's status code and JSON field names against the reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;
use tests::controlplane::{ControlPlane, TestNamespace};
use tests::fluxd::{Daemon, FluxdCommand};
use tests::git::GitFixture;
use tests::registry::{DockerRegistry, ImageSpec, OciLayout, skopeo_copy};
use tests::sshd::Sshd;

use super::{Run, fluxctl};

/// Longest fluxd may take to log what a test waits for.
const LOG_TIMEOUT: Duration = Duration::from_secs(90);
const TOKEN: &str = "e2e-token-0123456789";

/// The seed-like tree: an automated, locked Deployment with an init
/// container and a tag filter, a plain Deployment, a HelmRelease.
fn tree(namespace: &str, registry: &str) -> Vec<(String, String)> {
    vec![
        (
            "apps/podinfo.yaml".to_owned(),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: {namespace}
  annotations:
    fluxcd.io/automated: \"true\"
    fluxcd.io/locked: \"true\"
    filter.fluxcd.io/podinfod: semver:~3.1
spec:
  selector:
    matchLabels: {{app: podinfo}}
  template:
    metadata:
      labels: {{app: podinfo}}
    spec:
      initContainers:
        - name: init
          image: alpine:3.10.1
      containers:
        - name: podinfod
          image: stefanprodan/podinfo:3.1.0
"
            ),
        ),
        (
            "apps/plain.yaml".to_owned(),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: plain
  namespace: {namespace}
spec:
  selector:
    matchLabels: {{app: plain}}
  template:
    metadata:
      labels: {{app: plain}}
    spec:
      containers:
        - name: web
          image: {registry}/library/nginx:1.27.0
"
            ),
        ),
        (
            "releases/ghost.yaml".to_owned(),
            format!(
                "apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: ghost
  namespace: {namespace}
spec:
  releaseName: ghost
  chart:
    repository: https://charts.example.com/
    name: ghost
    version: 1.0.0
  values:
    image: bitnami/ghost:3.1.1-debian-9-r0
"
            ),
        ),
    ]
}

/// A fluxd daemon serving its API, and what a test needs around it.
struct Setup {
    daemon: Daemon,
    url: String,
    metrics_url: String,
    demo: TestNamespace,
    flux: TestNamespace,
    repo: GitFixture,
    secrets: Api<Secret>,
    _sshd: Sshd,
    /// Holds `<host>/library/nginx` 1.27.0 and 1.27.1 (the plain
    /// Deployment's image); the other images are not scanned.
    registry: DockerRegistry,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(cluster: &ControlPlane) -> Self {
        crate::fluxd::migration::helm_release_crd(cluster).await;
        let demo = cluster.namespace("api-demo").await.unwrap();
        let flux = cluster.namespace("api-flux").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        let repo = GitFixture::new(&dir.path().join("repo"), "main").unwrap();
        let registry = DockerRegistry::start().unwrap();
        let mut layout = OciLayout::create(&dir.path().join("layout")).unwrap();
        for (tag, month) in [("1.27.0", 1), ("1.27.1", 2)] {
            let local = format!("nginx-{tag}");
            layout
                .add_image(
                    &local,
                    &ImageSpec::new(&format!("2024-{month:02}-01T00:00:00Z"), tag),
                )
                .unwrap();
            skopeo_copy(
                layout.dir(),
                &local,
                &format!("{}/library/nginx:{tag}", registry.host()),
                None,
            )
            .unwrap();
        }
        for (path, text) in tree(demo.name(), &registry.host()) {
            repo.write(&path, &text).unwrap();
        }
        repo.commit_and_push("a seed-like tree").unwrap();

        // The deploy key is in the Secret, and the server knows it.
        let key = gitsync::KeyPair::generate(gitsync::KeyType::Ed25519, "fluxd@e2e").unwrap();
        let secrets: Api<Secret> = Api::namespaced(cluster.client().unwrap(), flux.name());
        let data = BTreeMap::from([
            (
                "identity".to_owned(),
                ByteString(key.private_openssh().as_bytes().to_vec()),
            ),
            (
                "identity.pub".to_owned(),
                ByteString(format!("{}\n", key.public().openssh).into_bytes()),
            ),
        ]);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("flux-git-deploy".to_owned()),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..Secret::default()
        };
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let sshd = Sshd::start().unwrap();
        sshd.authorize(&[&key.public().openssh]).unwrap();
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

        let port = tests::net::free_port().unwrap();
        let metrics_port = tests::net::free_port().unwrap();
        let daemon = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
            .unwrap()
            .args(["--git-url", &sshd.url(repo.bare_path())])
            .args(["--git-poll-interval", "1s"])
            .args(["--k8s-namespace", flux.name()])
            .args(["--k8s-allow-namespace", demo.name()])
            .args(["--registry-insecure-host", &registry.host()])
            .args(["--registry-poll-interval", "1s"])
            // Only the local registry is scanned: no test reaches another address.
            .args(["--registry-exclude-image", "docker.io/*"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--listen-metrics", &format!("127.0.0.1:{metrics_port}")])
            .arg("--api-token-file")
            .arg(&token_file)
            .arg("--git-known-hosts")
            .arg(&known_hosts)
            .arg("--k8s-secret-volume-mount-path")
            .arg(dir.path().join("nothing-mounted"))
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
            .start(dir.path())
            .unwrap();
        Self {
            daemon,
            url: format!("http://127.0.0.1:{port}"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            demo,
            flux,
            repo,
            secrets,
            _sshd: sshd,
            registry,
            dir,
        }
    }

    /// [`Setup::start`], once the first revision is synced.
    async fn synced(cluster: &ControlPlane) -> Self {
        let mut setup = Self::start(cluster).await;
        let head = setup.repo.git(["rev-parse", "HEAD"]).unwrap();
        setup.wait_for_sync(head.trim());
        setup
    }

    /// Waits for the sync of `revision`.
    fn wait_for_sync(&mut self, revision: &str) {
        self.daemon
            .wait_for_log(LOG_TIMEOUT, &format!("the sync of {revision}"), |line| {
                line.is("sync finished") && line.str("revision") == Some(revision)
            })
            .unwrap();
    }

    /// `<registry>/library/nginx:<tag>`.
    fn nginx(&self, tag: &str) -> String {
        format!("{}/library/nginx:{tag}", self.registry.host())
    }

    /// `list-images -n <demo>` once the registry's tags of the plain
    /// Deployment's image are known (the poller runs every second).
    async fn image_data(&self) -> Run {
        let deadline = std::time::Instant::now() + LOG_TIMEOUT;
        loop {
            let run = self.fluxctl(&["list-images", "-n", self.demo.name()]).await;
            if run.stdout.contains("1.27.1") || std::time::Instant::now() > deadline {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// fluxctl with `--url` and `--token`.
    async fn fluxctl(&self, args: &[&str]) -> Run {
        let url = format!("{}/api/flux", self.url);
        let mut all = vec!["--url", &url, "--token", TOKEN];
        all.extend_from_slice(args);
        fluxctl(&all, &[]).await
    }
}

/// The cells of a tabwriter table, cut at the header's column starts (so
/// that misaligned columns show as wrong cells).
fn cells(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or("");
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' {
            starts.push(i);
        }
    }
    std::iter::once(header)
        .chain(lines)
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    line.get(start.min(line.len())..end)
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let answer = client
        .get(url)
        .header("Accept", "application/json")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The samples at a /metrics URL.
async fn scrape(client: &reqwest::Client, url: &str) -> BTreeMap<String, f64> {
    samples(&client.get(url).send().await.unwrap().text().await.unwrap())
}

/// `name{labels} value` lines of the Prometheus text format.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn fluxctl_lists_identifies_and_saves_against_a_real_fluxd() {
    let cluster = ControlPlane::shared().await.unwrap();
    let mut setup = Setup::synced(cluster).await;
    let demo = setup.demo.name().to_owned();
    let client = reqwest::Client::new();
    let api = format!("{}/api/flux", setup.url);

    // The workloads, as JSON first: the statuses the table shows.
    let (status, body) = get(&client, &format!("{api}/v6/services?namespace={demo}")).await;
    assert_eq!(status, 200, "{body}");
    let services: Value = serde_json::from_str(&body).unwrap();
    let listed = services.as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|w| w["ID"].as_str().unwrap()).collect();
    let (plain, podinfo, ghost) = (
        format!("{demo}:deployment/plain"),
        format!("{demo}:deployment/podinfo"),
        format!("{demo}:helmrelease/ghost"),
    );
    assert_eq!(
        ids,
        [plain.as_str(), podinfo.as_str(), ghost.as_str()],
        "{body}"
    );
    for workload in listed {
        assert_eq!(
            keys(workload),
            [
                "Antecedent",
                "Automated",
                "Containers",
                "ID",
                "Ignore",
                "Labels",
                "Locked",
                "Policies",
                "ReadOnly",
                "Rollout",
                "Status",
                "SyncError"
            ]
        );
        assert_eq!(workload["ReadOnly"], "", "{workload}");
        assert_eq!(
            keys(&workload["Rollout"]),
            [
                "Available",
                "Desired",
                "Messages",
                "Outdated",
                "Ready",
                "Updated"
            ]
        );
    }
    let status_of = |n: usize| listed[n]["Status"].as_str().unwrap().to_owned();
    assert!(
        ["started", "updating", "ready"].contains(&status_of(0).as_str()),
        "{body}"
    );
    assert_eq!(listed[1]["Automated"], true);
    assert_eq!(listed[1]["Locked"], true);
    assert_eq!(listed[1]["Policies"]["tag.podinfod"], "semver:~3.1");
    assert_eq!(listed[1]["Labels"]["app"], "podinfo");
    assert_eq!(
        listed[1]["Containers"][0],
        serde_json::json!({"Name":"podinfod","Current":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}})
    );
    // No helm operator here: the release has no status yet.
    assert_eq!(listed[2]["Status"], "");

    // list-workloads: Flux's table.
    let run = setup.fluxctl(&["list-workloads", "-n", &demo]).await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        cells(&run.stdout),
        [
            row(&["WORKLOAD", "CONTAINER", "IMAGE", "RELEASE", "POLICY"]),
            row(&[&plain, "web", &setup.nginx("1.27.0"), &status_of(0), ""]),
            row(&[
                &podinfo,
                "podinfod",
                "stefanprodan/podinfo:3.1.0",
                &status_of(1),
                "automated,locked"
            ]),
            row(&["", "init", "alpine:3.10.1", "", ""]),
            row(&[
                &ghost,
                "chart-image",
                "bitnami/ghost:3.1.1-debian-9-r0",
                "",
                ""
            ]),
        ],
        "{}",
        run.stdout
    );
    let run = setup
        .fluxctl(&["list-workloads", "-n", &demo, "-o", "json"])
        .await;
    let parsed: Vec<fluxd::api::ControllerStatus> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(parsed.len(), 3);
    // Another namespace than the allowed one lists nothing.
    let run = setup
        .fluxctl(&["list-workloads", "-n", setup.flux.name()])
        .await;
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);

    // list-images: the local registry's tags for the plain Deployment's
    // image; no image data for the images that are not scanned.
    let run = setup.image_data().await;
    assert!(run.ok, "{}", run.stderr);
    let table = cells(&run.stdout);
    assert_eq!(
        table[0],
        row(&["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"])
    );
    assert_eq!(
        table[1],
        row(&[
            &plain,
            "web",
            &format!("{}/library/nginx", setup.registry.host()),
            ""
        ]),
        "{}",
        run.stdout
    );
    // Flux's marks: `|` an available tag, `'->` the one running.
    assert_eq!(table[2][2], "|   1.27.1", "{}", run.stdout);
    assert_eq!(table[2][3], "01 Feb 24 00:00 UTC", "{}", run.stdout);
    assert_eq!(table[3][2], "'-> 1.27.0", "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("image data not available").count(),
        3,
        "{}",
        run.stdout
    );
    let run = setup
        .fluxctl(&["list-images", "-n", &demo, "-o", "json"])
        .await;
    let images: Vec<fluxd::api::ImageStatus> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(images.len(), 3);
    let (status, body) = get(&client, &format!("{api}/v10/images?service={podinfo}")).await;
    assert_eq!(status, 200, "{body}");
    let images: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys(&images[0]), ["Containers", "ID"]);
    assert_eq!(
        keys(&images[0]["Containers"][0]),
        ["AvailableError", "Current", "LatestFiltered", "Name"]
    );

    // identity: the key in the Secret; -l its md5 fingerprint, as ssh-keygen says.
    let before = secret_public(&setup.secrets).await;
    let run = setup.fluxctl(&["identity"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, before);
    let run = setup.fluxctl(&["identity", "-l"]).await;
    assert_eq!(
        run.stdout.trim(),
        ssh_keygen_md5(setup.dir.path(), &before),
        "{}",
        run.stderr
    );
    let (status, body) = get(&client, &format!("{api}/v6/identity.pub")).await;
    assert_eq!(status, 200);
    let key: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys(&key), ["fingerprints", "key"]);
    assert_eq!(keys(&key["fingerprints"]), ["md5", "sha256"]);

    // git-repo-config.
    let config = client
        .post(format!("{api}/v9/git-repo-config"))
        .bearer_auth(TOKEN)
        .header("Accept", "application/json")
        .body("false")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        keys(&config),
        ["errors", "publicSSHKey", "remote", "status"]
    );
    assert_eq!(config["status"], "ready");
    // No --git-branch: the remote's default, as the last sync found it.
    assert_eq!(config["remote"]["branch"], "main");

    // save: to stdout, and into a directory as Flux names the files.
    let run = setup.fluxctl(&["save"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.starts_with("---\n"), "{}", run.stdout);
    assert!(run.stdout.contains("name: podinfo"), "{}", run.stdout);
    assert!(!run.stdout.contains("resourceVersion"), "{}", run.stdout);
    let out = setup.dir.path().join("saved");
    std::fs::create_dir(&out).unwrap();
    let run = setup.fluxctl(&["save", "-o", out.to_str().unwrap()]).await;
    assert!(run.ok, "{}", run.stderr);
    let saved = std::fs::read_to_string(out.join(&demo).join("podinfo-dep.yaml")).unwrap();
    assert!(saved.contains("stefanprodan/podinfo:3.1.0"), "{saved}");
    assert!(
        run.stdout.contains("Saving Deployment 'podinfo' to "),
        "{}",
        run.stdout
    );

    // Every other route: status codes and Flux's errors.
    let (status, body) = get(&client, &format!("{api}/v11/version")).await;
    assert_eq!((status, body.starts_with('"')), (200, true), "{body}");
    assert_eq!(get(&client, &format!("{api}/v11/ping")).await.0, 204);
    let (status, body) = get(
        &client,
        &format!("{api}/v6/jobs?id=00000000-0000-0000-0000-000000000000"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys(&error), ["error", "help", "type"]);
    assert_eq!(error["type"], "missing", "{body}");
    assert!(
        error["error"].as_str().unwrap().starts_with("unknown job"),
        "{body}"
    );
    assert_eq!(get(&client, &format!("{api}/v3/services")).await.0, 410);
    assert_eq!(get(&client, &format!("{api}/v6/unknown")).await.0, 404);
    assert_eq!(get(&client, &format!("{api}/v6/jobs")).await.0, 404);
    let bad = client
        .post(format!("{api}/v9/update-manifests"))
        .bearer_auth(TOKEN)
        .header("Accept", "application/json")
        .body("{\"type\":\"image\",")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    // A client of its own: the server closes the connection after a 413.
    let oversized = reqwest::Client::new()
        .post(format!("{api}/v9/update-manifests"))
        .bearer_auth(TOKEN)
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await;
    // Refused with 413, or the connection closed while the rest was sent.
    if let Ok(answer) = oversized {
        assert_eq!(answer.status().as_u16(), 413);
    }
    let export = get(&client, &format!("{api}/v6/export")).await;
    let yaml = base64::engine::general_purpose::STANDARD
        .decode(serde_json::from_str::<String>(&export.1).unwrap())
        .unwrap();
    assert!(
        String::from_utf8(yaml)
            .unwrap()
            .contains("kind: HelmRelease")
    );

    // The token: refused without it, by fluxctl too.
    let refused = client
        .get(format!("{api}/v6/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let run = fluxctl(&["--url", &api, "list-workloads", "-n", &demo], &[]).await;
    assert!(!run.ok);
    assert!(
        run.stderr.contains("The request failed authentication"),
        "{}",
        run.stderr
    );

    // Probes (no token) and metrics on --listen-metrics only.
    let probe = |path: &'static str| {
        let client = client.clone();
        let url = format!("{}{path}", setup.url);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(probe("/healthz").await, 200);
    assert_eq!(probe("/readyz").await, 200);
    assert_eq!(probe("/metrics").await, 404);
    let before_sync = scrape(&client, &setup.metrics_url).await;
    assert_eq!(before_sync.get("flux_git_ready"), Some(&1.0));
    assert_eq!(
        before_sync.get("flux_daemon_sync_manifests{success=\"true\"}"),
        Some(&3.0)
    );
    assert_eq!(
        before_sync.get("flux_daemon_sync_manifests{success=\"false\"}"),
        Some(&0.0)
    );
    // The local registry was scanned (its tag lists and tags' metadata
    // fetched), and list-images read what the poller knew.
    for scanned in [
        "flux_client_fetch_duration_seconds_count{kind=\"tags\",success=\"true\"}",
        "flux_client_fetch_duration_seconds_count{kind=\"metadata\",success=\"true\"}",
        "flux_registry_fetch_duration_seconds_count{success=\"true\"}",
    ] {
        assert!(
            before_sync.get(scanned).copied().unwrap_or(0.0) >= 1.0,
            "{scanned}: {before_sync:?}"
        );
    }
    let listed_key = "flux_request_duration_seconds_count{method=\"GET\",route=\"ListServices\",status_code=\"200\"}";
    assert!(
        before_sync.get(listed_key).copied().unwrap_or(0.0) >= 3.0,
        "{before_sync:?}"
    );

    // A commit adds a manifest: the gauges follow the next sync.
    setup
        .repo
        .write(
            "apps/settings.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {demo}\ndata:\n  a: \"1\"\n"),
        )
        .unwrap();
    let next = setup.repo.commit_and_push("one more").unwrap();
    setup.wait_for_sync(&next);
    let after = scrape(&client, &setup.metrics_url).await;
    assert_eq!(
        after.get("flux_daemon_sync_manifests{success=\"true\"}"),
        Some(&4.0)
    );
    let syncs = "flux_daemon_sync_duration_seconds_count{success=\"true\"}";
    assert!(after[syncs] > before_sync[syncs], "{after:?}");

    // identity -r: a new key, the one now in the Secret.
    let run = setup.fluxctl(&["identity", "-r"]).await;
    assert!(run.ok, "{}", run.stderr);
    let now = secret_public(&setup.secrets).await;
    assert_ne!(now, before);
    assert_eq!(run.stdout, now);
    setup.daemon.check_running().unwrap();
}

/// `identity.pub` of the deploy-key Secret.
async fn secret_public(secrets: &Api<Secret>) -> String {
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    String::from_utf8(secret.data.unwrap()["identity.pub"].0.clone()).unwrap()
}

/// `ssh-keygen -l -E md5` of a public key line, without `MD5:`.
fn ssh_keygen_md5(dir: &Path, public: &str) -> String {
    let path = dir.join("shown.pub");
    std::fs::write(&path, public).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .args(["-l", "-E", "md5", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    out.split_whitespace()
        .nth(1)
        .unwrap()
        .trim_start_matches("MD5:")
        .to_owned()
}

/// What one commit changed in a file: the removed and the added lines.
fn changed_lines(repo: &GitFixture, stderr: &str, path: &str) -> (Vec<String>, Vec<String>) {
    // The commit fluxctl reported, not the branch's head: fluxd's automation
    // may commit after it (an automated workload whose registry has a newer
    // tag is released at once).
    let pushed = reported(stderr, "Commit pushed:")
        .unwrap_or_else(|| panic!("no `Commit pushed:` line in {stderr}"));
    repo.git(["pull", "-q", "--ff-only"]).unwrap();
    let diff = repo
        .git(["diff", "-U0", &format!("{pushed}~1"), &pushed, "--", path])
        .unwrap();
    let pick = |sign: char| -> Vec<String> {
        diff.lines()
            .filter(|line| {
                line.starts_with(sign) && !line.starts_with(&format!("{sign}{sign}{sign}"))
            })
            .map(|line| line[1..].trim().to_owned())
            .collect()
    };
    (pick('-'), pick('+'))
}

/// The short revision of a `Commit pushed:` (or `applied`) line.
fn reported(stderr: &str, label: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
}

#[tokio::test]
async fn release_commits_waits_for_and_reports_the_apply() {
    let cluster = ControlPlane::shared().await.unwrap();
    let setup = Setup::synced(cluster).await;
    let demo = setup.demo.name().to_owned();
    // Flux releases only images its registry scan knows.
    assert!(setup.image_data().await.stdout.contains("1.27.1"));
    let run = setup
        .fluxctl(&[
            "release",
            "-n",
            &demo,
            "--workload",
            "deployment/plain",
            "--update-image",
            &setup.nginx("1.27.1"),
        ])
        .await;
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("Submitting release ...\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        cells(&run.stdout)[1],
        row(&[
            &format!("{demo}:deployment/plain"),
            "success",
            &format!("web: {} -> 1.27.1", setup.nginx("1.27.0"))
        ]),
        "{}",
        run.stdout
    );
    let pushed = reported(&run.stderr, "Commit pushed:").unwrap();
    assert_eq!(
        reported(&run.stderr, "Commit applied:"),
        Some(pushed.clone())
    );
    assert_eq!(
        changed_lines(&setup.repo, &run.stderr, "apps/plain.yaml"),
        (
            vec![format!("image: {}", setup.nginx("1.27.0"))],
            vec![format!("image: {}", setup.nginx("1.27.1"))]
        )
    );
    let head = setup.repo.git(["rev-parse", "HEAD"]).unwrap();
    assert!(head.starts_with(&pushed), "{head} {pushed}");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster.client().unwrap(), &demo);
    let live = serde_json::to_value(deployments.get("plain").await.unwrap()).unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        setup.nginx("1.27.1").as_str()
    );
}

#[tokio::test]
async fn automate_lock_and_policy_change_only_their_annotations() {
    let cluster = ControlPlane::shared().await.unwrap();
    let setup = Setup::synced(cluster).await;
    let demo = setup.demo.name().to_owned();

    let run = setup
        .fluxctl(&["automate", "-n", &demo, "-w", "deployment/plain"])
        .await;
    assert!(run.ok, "{}", run.stderr);
    assert!(
        reported(&run.stderr, "Commit pushed:").is_some(),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Submitting"), "{}", run.stderr);
    let (removed, added) = changed_lines(&setup.repo, &run.stderr, "apps/plain.yaml");
    assert!(removed.is_empty(), "{removed:?}");
    assert!(
        added.contains(&"fluxcd.io/automated: \"true\"".to_owned()),
        "{added:?}"
    );

    let run = setup
        .fluxctl(&[
            "lock",
            "-n",
            &demo,
            "-w",
            "deployment/plain",
            "-m",
            "hold on",
            "--user",
            "Ops <ops@example.com>",
        ])
        .await;
    assert!(run.ok, "{}", run.stderr);
    let (removed, added) = changed_lines(&setup.repo, &run.stderr, "apps/plain.yaml");
    assert!(removed.is_empty(), "{removed:?}");
    for line in [
        "fluxcd.io/locked: \"true\"",
        "fluxcd.io/locked_msg: hold on",
        "fluxcd.io/locked_user: Ops <ops@example.com>",
    ] {
        assert!(
            added.iter().any(|a| a
                .replace('\'', "\"")
                .starts_with(&line[..line.find(':').unwrap()])),
            "{line} in {added:?}"
        );
    }

    let run = setup
        .fluxctl(&[
            "policy",
            "-n",
            &demo,
            "-w",
            "deployment/podinfo",
            "--tag",
            "podinfod=3.2.*",
        ])
        .await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        changed_lines(&setup.repo, &run.stderr, "apps/podinfo.yaml"),
        (
            vec!["filter.fluxcd.io/podinfod: semver:~3.1".to_owned()],
            vec!["filter.fluxcd.io/podinfod: glob:3.2.*".to_owned()]
        )
    );
}

#[tokio::test]
async fn sync_waits_until_the_revision_is_applied() {
    let cluster = ControlPlane::shared().await.unwrap();
    let setup = Setup::synced(cluster).await;
    let demo = setup.demo.name().to_owned();
    setup
        .repo
        .write(
            "apps/settings.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: synced-now\n  namespace: {demo}\n"),
        )
        .unwrap();
    let next = setup.repo.commit_and_push("sync me").unwrap();
    let run = setup.fluxctl(&["sync"]).await;
    assert!(run.ok, "{}", run.stderr);
    let short = &next[..7];
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("Synchronizing with ssh://"),
        "{}",
        run.stderr
    );
    assert!(
        lines.contains(&format!("Revision of main to apply is {short}").as_str()),
        "{}",
        run.stderr
    );
    assert!(
        lines.contains(&format!("Waiting for {short} to be applied ...").as_str()),
        "{}",
        run.stderr
    );
    assert_eq!(lines.last(), Some(&"Done."), "{}", run.stderr);
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client().unwrap(), &demo);
    assert!(maps.get_opt("synced-now").await.unwrap().is_some());
}
