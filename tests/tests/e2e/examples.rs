//! The library crates' examples (`<crate>/examples/*.rs`), built with cargo
//! as a user builds them and run as programs against the real servers: the
//! test control plane, Debian's docker-registry, git repositories on disk.
//! Each test checks what the example prints and what it did to the server.
//!
//! The examples are built once per test binary, with
//! `cargo build --workspace --examples --locked` in the same target
//! directory (under `cargo test --workspace` they are already built, and
//! this finds them fresh).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;
use tests::controlplane::ControlPlane;
use tests::git::GitFixture;
use tests::registry::{DockerRegistry, ImageSpec, OciLayout, skopeo_copy};

/// Longest an example may run (a fluxd sync against the control plane is
/// the slowest: a few seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the build of every example may take (seconds when they are
/// fresh; minutes on a cold target directory).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// What an example did.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The exit status and both streams, for assertion messages.
    fn output(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Panics unless the example exited 0.
    fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "{}", self.output());
        self
    }

    /// The stdout lines, each split at tabs.
    fn rows(&self) -> Vec<Vec<&str>> {
        self.stdout
            .lines()
            .map(|line| line.split('\t').collect())
            .collect()
    }
}

/// The example binaries by name, built once.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    match BUILT.get_or_init(build_examples) {
        Ok(built) => built
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no example {name:?} was built; built: {built:?}")),
        Err(error) => panic!("{error}"),
    }
}

/// `cargo build --workspace --examples`: every example's path, from cargo's
/// JSON messages.
fn build_examples() -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temp dir: {e}"))?;
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let mut command = Command::new(&cargo);
    command
        .current_dir(tests::tools::workspace_root())
        .args(["build", "--workspace", "--examples", "--locked"])
        .arg("--message-format=json-render-diagnostics");
    let ran = run_to_files(&mut command, &stdout_path, &stderr_path, BUILD_TIMEOUT)?;
    if ran.code != Some(0) {
        return Err(format!(
            "`cargo build --workspace --examples` failed: {}",
            ran.output()
        ));
    }
    let mut built = HashMap::new();
    for line in ran.stdout.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
        if message["reason"] == "compiler-artifact"
            && is_example
            && let (Some(name), Some(path)) = (
                message["target"]["name"].as_str(),
                message["executable"].as_str(),
            )
        {
            built.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    Ok(built)
}

/// Runs `command` with its output in two files, killing it after `timeout`.
fn run_to_files(
    command: &mut Command,
    stdout_path: &Path,
    stderr_path: &Path,
    timeout: Duration,
) -> Result<Ran, String> {
    let file = |path: &Path| {
        std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file(stdout_path)?)
        .stderr(file(stderr_path)?)
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", command.get_program()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {:?}: {e}", command.get_program())),
        }
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let ran = Ran {
        code: status.and_then(|s| s.code()),
        stdout: read(stdout_path),
        stderr: read(stderr_path),
    };
    if status.is_none() {
        return Err(format!(
            "{:?} did not finish within {timeout:?}: {}",
            command.get_program(),
            ran.output()
        ));
    }
    Ok(ran)
}

/// Runs example `name` with `args` in `dir`, with a clean environment: `HOME`
/// is `dir` (no `~/.kube/config`), no `KUBECONFIG` or `RUST_LOG` unless
/// `env` sets them.
fn run(name: &str, dir: &Path, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Ran {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let logs = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    run_to_files(
        &mut command,
        &logs.path().join("stdout"),
        &logs.path().join("stderr"),
        RUN_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// `args` as the `&OsStr`s [`run`] takes.
fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|arg| OsStr::new(*arg)).collect()
}

/// A fixture repository on `main` in `<dir>/repo`.
fn repository(dir: &Path) -> GitFixture {
    let root = dir.join("repo");
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
    GitFixture::new(&root, "main").unwrap_or_else(|e| panic!("a repository: {e}"))
}

/// A ConfigMap in `namespace` with one data key.
fn config_map(namespace: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  key: {value:?}\n"
    )
}

/// The ConfigMap `name` of `namespace`, if it exists.
async fn get_config_map(cluster: &ControlPlane, namespace: &str, name: &str) -> Option<ConfigMap> {
    let client = cluster.client().unwrap_or_else(|e| panic!("a client: {e}"));
    Api::<ConfigMap>::namespaced(client, namespace)
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("reading ConfigMap {namespace}/{name}: {e}"))
}

/// The row whose action and id are these.
fn has_row(ran: &Ran, action: &str, id: &str) -> bool {
    ran.rows()
        .iter()
        .any(|row| row.first() == Some(&action) && row.get(1) == Some(&id))
}

#[tokio::test]
async fn manifests_apply_dir_plans_applies_and_only_reports_prunes() {
    let cluster = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("the control plane: {e}"));
    let ns = cluster
        .namespace("examples-apply")
        .await
        .unwrap_or_else(|e| panic!("a namespace: {e}"));
    let n = ns.name();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let manifests = dir.path().join("config");
    std::fs::create_dir_all(manifests.join("deploy")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let write = |file: &str, text: &str| {
        std::fs::write(manifests.join("deploy").join(file), text)
            .unwrap_or_else(|e| panic!("writing {file}: {e}"));
    };
    write("a.yaml", &config_map(n, "a", "one"));
    write("b.yaml", &config_map(n, "b", "one"));
    let kubeconfig = cluster.kubeconfig_path().as_os_str();
    let dir_arg = manifests.as_os_str();
    let base = [dir_arg, OsStr::new("--path"), OsStr::new("deploy")];
    let id = |name: &str| format!("{n}:configmap/{name}");

    // A plan (the default) changes nothing.
    let plan = run(
        "apply_dir",
        dir.path(),
        &[&base[..], &[OsStr::new("--kubeconfig"), kubeconfig]].concat(),
        &[],
    )
    .success();
    assert!(has_row(&plan, "create", &id("a")), "{}", plan.output());
    assert!(has_row(&plan, "create", &id("b")), "{}", plan.output());
    assert!(
        plan.stdout.contains("deploy/a.yaml:1"),
        "the plan names the file: {}",
        plan.output()
    );
    assert!(
        plan.stdout
            .ends_with("planned 2 resources, changed nothing\n"),
        "{}",
        plan.output()
    );
    assert!(get_config_map(cluster, n, "a").await.is_none());

    // --apply creates them (the cluster found through KUBECONFIG this time).
    let env = [("KUBECONFIG", kubeconfig)];
    let apply = [&base[..], &[OsStr::new("--apply")]].concat();
    let applied = run("apply_dir", dir.path(), &apply, &env).success();
    assert!(
        has_row(&applied, "created", &id("a")),
        "{}",
        applied.output()
    );
    assert!(
        has_row(&applied, "created", &id("b")),
        "{}",
        applied.output()
    );
    assert!(get_config_map(cluster, n, "a").await.is_some());

    // b leaves the directory and a changes: the plan shows the change and
    // the prune; the apply configures a and only reports b.
    std::fs::remove_file(manifests.join("deploy/b.yaml")).unwrap_or_else(|e| panic!("rm: {e}"));
    write("a.yaml", &config_map(n, "a", "two"));
    let plan = run("apply_dir", dir.path(), &base, &env).success();
    let change = plan
        .rows()
        .into_iter()
        .find(|row| row.first() == Some(&"change") && row.get(1) == Some(&id("a").as_str()))
        .map(|row| row.join("\t"))
        .unwrap_or_else(|| panic!("a should change: {}", plan.output()));
    assert!(change.contains("data.key"), "{change}");
    assert!(has_row(&plan, "prune", &id("b")), "{}", plan.output());

    let applied = run("apply_dir", dir.path(), &apply, &env).success();
    assert!(
        has_row(&applied, "configured", &id("a")),
        "{}",
        applied.output()
    );
    assert!(
        has_row(&applied, "would-prune", &id("b")),
        "{}",
        applied.output()
    );
    assert!(
        applied.stdout.contains("would_prune=1"),
        "{}",
        applied.output()
    );
    let a = get_config_map(cluster, n, "a").await;
    assert_eq!(
        a.and_then(|cm| cm.data).and_then(|d| d.get("key").cloned()),
        Some("two".to_owned())
    );
    assert!(
        get_config_map(cluster, n, "b").await.is_some(),
        "garbage collection in dry-run mode deleted b"
    );

    // A bad command line exits 2 and says what is wrong.
    let bad = run("apply_dir", dir.path(), &os(&["--frobnicate"]), &[]);
    assert_eq!(bad.code, Some(2), "{}", bad.output());
    assert!(bad.stderr.contains("--frobnicate"), "{}", bad.output());
}

#[tokio::test]
async fn registry_poller_newest_tag_prints_the_newest_version() {
    let registry = DockerRegistry::start().unwrap_or_else(|e| panic!("docker-registry: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let mut layout =
        OciLayout::create(&dir.path().join("layout")).unwrap_or_else(|e| panic!("layout: {e}"));
    let repository = format!("{}/team/app", registry.host());
    let mut digests = HashMap::new();
    for (i, tag) in ["1.2.0", "v1.10.0", "1.9.3", "latest", "2.0.0-rc.1"]
        .into_iter()
        .enumerate()
    {
        let created = format!("2024-0{}-01T00:00:00Z", i + 1);
        let digest = layout
            .add_image(tag, &ImageSpec::new(&created, &format!("app {tag}")))
            .unwrap_or_else(|e| panic!("image {tag}: {e}"));
        skopeo_copy(layout.dir(), tag, &format!("{repository}:{tag}"), None)
            .unwrap_or_else(|e| panic!("pushing {tag}: {e}"));
        digests.insert(tag, digest);
    }

    let ran = run(
        "newest_tag",
        dir.path(),
        &os(&[repository.as_str(), "--insecure"]),
        &[],
    )
    .success();
    assert!(ran.stdout.contains("tags 5 semver 3\n"), "{}", ran.output());
    let expected = format!(
        "newest v1.10.0 {} 2024-02-01T00:00:00Z\n",
        digests["v1.10.0"]
    );
    assert!(ran.stdout.contains(&expected), "{}", ran.output());

    // With pre-releases, 2.0.0-rc.1 is newer.
    let ran = run(
        "newest_tag",
        dir.path(),
        &os(&[repository.as_str(), "--insecure", "--pre"]),
        &[],
    )
    .success();
    assert!(
        ran.stdout
            .contains(&format!("newest 2.0.0-rc.1 {}", digests["2.0.0-rc.1"])),
        "{}",
        ran.output()
    );

    // A repository the registry does not have: one line naming it, exit 1.
    let missing = format!("{}/team/nothing", registry.host());
    let ran = run(
        "newest_tag",
        dir.path(),
        &os(&[missing.as_str(), "--insecure"]),
        &[],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.output());
    assert!(ran.stderr.contains("team/nothing"), "{}", ran.output());
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.output());
}

#[tokio::test]
async fn helmops_merged_values_merges_configmaps_secrets_and_inline_values() {
    let cluster = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("the control plane: {e}"));
    let ns = cluster
        .namespace("examples-values")
        .await
        .unwrap_or_else(|e| panic!("a namespace: {e}"));
    let n = ns.name();
    let password = "correct-horse-battery-staple";
    cluster
        .admin()
        .apply_yaml(
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: base, namespace: {n}}}\ndata:\n  values.yaml: |\n    replicas: 2\n    image: {{repository: team/app, tag: '1.0'}}\n    hosts: [a.example.com, b.example.com]\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {n}}}\nstringData:\n  values.yaml: |\n    database: {{password: {password}}}\n"
            ),
            "the values sources",
        )
        .await
        .unwrap_or_else(|e| panic!("applying: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let release = dir.path().join("release.yaml");
    std::fs::write(
        &release,
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: app\nspec:\n  chart:\n    repository: https://charts.example.com/\n    name: app\n    version: 1.0.0\n  valuesFrom:\n  - configMapKeyRef: {name: base}\n  - secretKeyRef: {name: creds, key: values.yaml}\n  values:\n    image: {tag: '2.0'}\n    hosts: [c.example.com]\n",
    )
    .unwrap_or_else(|e| panic!("writing the release: {e}"));
    let kubeconfig = cluster.kubeconfig_path().as_os_str();
    let args = [
        release.as_os_str(),
        OsStr::new("--namespace"),
        OsStr::new(n),
        OsStr::new("--kubeconfig"),
        kubeconfig,
    ];

    let ran = run("merged_values", dir.path(), &args, &[]).success();
    let values: Value = serde_saphyr::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("the output is not YAML ({e}): {}", ran.output()));
    // Maps merge key by key; lists are replaced; inline values come last.
    assert_eq!(values["replicas"], 2, "{}", ran.output());
    assert_eq!(
        values["image"]["repository"],
        "team/app",
        "{}",
        ran.output()
    );
    assert_eq!(values["image"]["tag"], "2.0", "{}", ran.output());
    assert_eq!(values["hosts"], serde_json::json!(["c.example.com"]));
    // What came from the Secret is redacted unless asked for.
    assert_eq!(
        values["database"]["password"],
        "<redacted>",
        "{}",
        ran.output()
    );
    assert!(!ran.stdout.contains(password) && !ran.stderr.contains(password));

    let shown = run(
        "merged_values",
        dir.path(),
        &[&args[..], &[OsStr::new("--show-secrets")]].concat(),
        &[],
    )
    .success();
    assert!(shown.stdout.contains(password), "{}", shown.output());

    // A Secret that is not there: the message names it, exit 1.
    let missing = dir.path().join("missing.yaml");
    std::fs::write(
        &missing,
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: app}\nspec:\n  chart: {repository: https://charts.example.com/, name: app, version: 1.0.0}\n  valuesFrom:\n  - secretKeyRef: {name: nowhere}\n",
    )
    .unwrap_or_else(|e| panic!("writing: {e}"));
    let ran = run(
        "merged_values",
        dir.path(),
        &[
            missing.as_os_str(),
            OsStr::new("--namespace"),
            OsStr::new(n),
        ],
        &[("KUBECONFIG", kubeconfig)],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.output());
    assert!(ran.stderr.contains("nowhere"), "{}", ran.output());

    // Inline values only: no cluster needed (none is configured here).
    let inline = dir.path().join("inline.yaml");
    std::fs::write(
        &inline,
        "apiVersion: flux.weave.works/v1beta1\nkind: HelmRelease\nmetadata: {name: app, namespace: demo}\nspec:\n  chart: {repository: https://charts.example.com/, name: app, version: 1.0.0}\n  values: {replicas: 3}\n",
    )
    .unwrap_or_else(|e| panic!("writing: {e}"));
    let ran = run("merged_values", dir.path(), &[inline.as_os_str()], &[]).success();
    assert_eq!(ran.stdout.trim(), "replicas: 3", "{}", ran.output());
}

#[tokio::test]
async fn gitsync_mirror_prints_each_new_revision() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let repo = repository(dir.path());
    let commit = |file: &str| {
        repo.write(file, "x\n")
            .unwrap_or_else(|e| panic!("writing {file}: {e}"));
        repo.commit_and_push(file)
            .unwrap_or_else(|e| panic!("committing {file}: {e}"))
    };
    let first = commit("one");
    let url = format!("file://{}", repo.bare_path().display());
    let mirror = dir.path().join("mirror");
    let mirror = mirror.to_string_lossy();

    // The first fetch prints the head alone.
    let ran = run(
        "mirror",
        dir.path(),
        &os(&[url.as_str(), &mirror, "--branch", "main", "--once"]),
        &[],
    )
    .success();
    assert_eq!(
        ran.stdout,
        format!("head main {first}\n"),
        "{}",
        ran.output()
    );

    // Two commits later: both, oldest first, then the head.
    let second = commit("two");
    let third = commit("three");
    let ran = run(
        "mirror",
        dir.path(),
        &os(&[url.as_str(), &mirror, "--once", "--since", &first]),
        &[],
    )
    .success();
    assert_eq!(
        ran.stdout,
        format!("new {second}\nnew {third}\nhead main {third}\n"),
        "{}",
        ran.output()
    );

    // Polling: a commit pushed while it runs is printed as it arrives.
    let mut child = Command::new(example("mirror"))
        .args([url.as_str(), &*mirror, "--interval", "1", "--since", &third])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the mirror example: {e}"));
    let stdout = child.stdout.take();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        if let Some(stdout) = stdout {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if lines.send(line).is_err() {
                    break;
                }
            }
        }
    });
    let fourth = commit("four");
    let mut seen = Vec::new();
    let deadline = Instant::now() + RUN_TIMEOUT;
    while !seen.contains(&format!("head main {fourth}")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen,
        [format!("new {fourth}"), format!("head main {fourth}")],
        "what the polling mirror printed"
    );
}

#[tokio::test]
async fn fluxd_embed_syncs_a_repository_once() {
    let cluster = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("the control plane: {e}"));
    let ns = cluster
        .namespace("examples-embed")
        .await
        .unwrap_or_else(|e| panic!("a namespace: {e}"));
    let n = ns.name();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let repo = repository(dir.path());
    repo.write(
        "deploy/settings.yaml",
        &config_map(n, "settings", "embedded"),
    )
    .unwrap_or_else(|e| panic!("writing: {e}"));
    let head = repo
        .commit_and_push("settings")
        .unwrap_or_else(|e| panic!("committing: {e}"));
    let url = format!("file://{}", repo.bare_path().display());
    let state = dir.path().join("state");
    let kubeconfig = cluster.kubeconfig_path().to_string_lossy().into_owned();

    let ran = run(
        "embed",
        dir.path(),
        &os(&[
            url.as_str(),
            "--path",
            "deploy",
            "--namespace",
            n,
            "--kubeconfig",
            &kubeconfig,
            "--state-dir",
            &state.to_string_lossy(),
            "--once",
        ]),
        &[],
    )
    .success();
    assert_eq!(ran.stdout, "outcome clean\n", "{}", ran.output());
    assert!(ran.stderr.contains("sync finished"), "{}", ran.output());
    let settings = get_config_map(cluster, n, "settings").await;
    assert_eq!(
        settings
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("key").cloned()),
        Some("embedded".to_owned()),
        "{}",
        ran.output()
    );
    // The sync marker moved to the synced commit, as fluxd's does.
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync")
            .unwrap_or_else(|e| panic!("reading the tag: {e}")),
        Some(head),
        "{}",
        ran.output()
    );
}
