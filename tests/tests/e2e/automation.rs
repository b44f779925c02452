//! Image automation and the job queue, end to end: fluxd in this process
//! (through `fluxd::run_with`, so the tests hold the `Daemon` handle the
//! HTTP API uses), a real docker-registry filled by skopeo, git over a real
//! sshd, and the real control plane.

// Test helpers may unwrap, like `#[test]` functions: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auto;
mod disk;
mod faults;
mod jobs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fluxd::Daemon;
use fluxd::api::{JobId, JobState, JobStatus};
use tests::controlplane::{ControlPlane, TestNamespace, wait_for};
use tests::fluxd::InProcess;
use tests::git::GitFixture;
use tests::registry::{DockerRegistry, ImageSpec, OciLayout, skopeo_copy};
use tests::sshd::Sshd;
pub(crate) use tests::workloads::deployment;

/// Longest anything a test waits for may take.
const TIMEOUT: Duration = Duration::from_secs(90);

/// A creation time `n` months into 2024 (`n` from 1 to 12).
fn created(month: u32) -> String {
    format!("2024-{month:02}-01T00:00:00Z")
}

/// A registry, a repository over ssh, a namespace.
struct Setup {
    cluster: &'static ControlPlane,
    ns: TestNamespace,
    registry: DockerRegistry,
    sshd: Sshd,
    dir: tempfile::TempDir,
    repo: GitFixture,
    layout: OciLayout,
}

impl Setup {
    async fn new(base: &str) -> Self {
        let cluster = ControlPlane::shared().await.unwrap();
        let ns = cluster.namespace(base).await.unwrap();
        let registry = DockerRegistry::start().unwrap();
        let sshd = Sshd::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        let repo = GitFixture::new(&dir.path().join("repo"), "main").unwrap();
        let layout = OciLayout::create(&dir.path().join("layout")).unwrap();
        std::fs::write(dir.path().join("key"), sshd.client_key().unwrap()).unwrap();
        std::fs::write(
            dir.path().join("known_hosts"),
            sshd.known_hosts_line().unwrap(),
        )
        .unwrap();
        Self {
            cluster,
            ns,
            registry,
            sshd,
            dir,
            repo,
            layout,
        }
    }

    /// `host/team/<name>`.
    fn image(&self, name: &str) -> String {
        format!("{}/team/{name}", self.registry.host())
    }

    /// Pushes `name:tag`, created in `month` of 2024.
    fn push(&mut self, name: &str, tag: &str, month: u32) {
        let local = format!("{name}-{tag}");
        self.layout
            .add_image(
                &local,
                &ImageSpec::new(&created(month), &format!("{name} {tag}")),
            )
            .unwrap();
        skopeo_copy(
            self.layout.dir(),
            &local,
            &format!("{}:{tag}", self.image(name)),
            None,
        )
        .unwrap();
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// fluxd's arguments for this setup (without the program), then `extra`.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        let mut args: Vec<String> = vec![
            format!("--git-url={}", self.sshd.url(self.repo.bare_path())),
            "--git-branch=main".into(),
            format!("--git-ssh-key={}", path(&self.dir.path().join("key"))),
            format!(
                "--git-known-hosts={}",
                path(&self.dir.path().join("known_hosts"))
            ),
            format!("--kubeconfig={}", path(self.cluster.kubeconfig_path())),
            format!("--k8s-allow-namespace={}", self.ns.name()),
            format!("--git-mirror-dir={}", path(&self.dir.path().join("work"))),
            format!("--daemon-state-dir={}", path(&self.state_dir())),
            format!("--registry-insecure-host={}", self.registry.host()),
            "--git-poll-interval=1s".into(),
            "--sync-interval=10m".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    }

    /// fluxd running in this process.
    async fn start(&self, extra: &[&str]) -> Running {
        let mut args = vec!["fluxd".to_owned()];
        args.extend(self.args(extra));
        let process = InProcess::start(args, TIMEOUT).await.unwrap();
        Running {
            daemon: process.daemon.clone(),
            process,
        }
    }

    /// The text of `file` at `revision` of the origin.
    fn show(&self, revision: &str, file: &str) -> String {
        self.repo
            .git_bare(["show", &format!("{revision}:{file}")])
            .unwrap()
    }

    fn head(&self) -> String {
        self.repo.origin_ref("refs/heads/main").unwrap().unwrap()
    }

    /// Waits for the origin's branch to move past `from`; the new head.
    async fn wait_for_commit(&self, from: &str) -> String {
        wait_for(TIMEOUT, "a commit by fluxd", || async {
            self.head() != from
        })
        .await
        .unwrap();
        self.head()
    }

    /// The image of the first container of Deployment `name` in the cluster.
    async fn live_image(&self, name: &str) -> Option<String> {
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(self.cluster.client().unwrap(), self.ns.name());
        let deployment = api.get_opt(name).await.unwrap()?;
        deployment.spec.template.spec?.containers[0].image.clone()
    }
}

/// fluxd running in this process; stopped on drop.
struct Running {
    daemon: Daemon,
    process: InProcess,
}

impl Running {
    /// Stops fluxd and waits for it.
    async fn stop(self) {
        self.process.stop(TIMEOUT).await;
    }

    /// Waits for job `id` to finish.
    async fn finished(&self, id: &JobId) -> JobStatus {
        wait_for(TIMEOUT, "the job to finish", || async {
            matches!(
                self.daemon.status(id).map(|s| s.status_string),
                Ok(JobState::Succeeded | JobState::Failed)
            )
        })
        .await
        .unwrap();
        self.daemon.status(id).unwrap()
    }
}
