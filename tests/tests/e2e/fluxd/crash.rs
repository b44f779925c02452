//! Crash safety: fluxd killed with SIGKILL at chosen points and at random
//! ones, and started again, loses nothing and does nothing twice.
//!
//! A chosen point is the log line that marks it (`--log-level` debug for
//! fluxd's crates): fluxd's JSON log is followed as it grows and fluxd is
//! killed when the line appears, after a random delay within the phase the
//! line starts (the seeded RNG's seed is printed; `FLUXD_CRASH_SEED` picks
//! it). The points:
//! - during a sync's apply (after `live objects read and compared`),
//! - during garbage collection (`garbage collection started`, `deleting orphans`),
//! - while the sync marker is written (`writing the sync marker`), for the
//!   git tag and the Secret marker,
//! - between a job's commit and its push (`pushing commit`), during the
//!   push (a delay after it), between the push and the sync marker
//!   (`pushed commit`),
//! - at random while the test pushes commits and fluxd runs jobs.
//!
//! After every kill, before the restart: the marker is at the revision
//! synced before or at the new one, and every resource of the revision it
//! names is in the cluster with that revision's value (or a newer one: it
//! never points past what was applied); objects outside git's set (no gc
//! mark, another sync's mark, a mark copied from a synced object) are there;
//! a job's commit is in the branch at most once. After every restart: the
//! sync converges (every resource of the head, nothing removed from git
//! left, the marker at the head), each job ran to success and its commit is
//! in the branch exactly once. One line per point is printed at the end.
//!
//! The mirror and state directories outlive each fluxd, as a pod's volume
//! outlives a container restart. The tag marker and the jobs go over ssh
//! (the server writes the refs); the Secret marker scene over file://.
//!
//! What the kills found, now fixed: a job running when fluxd was killed was
//! reported failed and never run, so a kill between its commit and its push
//! lost its change (it now runs again, planned afresh on the head, so a
//! change already pushed is not committed twice); the loop synced a stale
//! new head after a job had synced a newer one, moving the marker back
//! (checked here on every run's log); a lock file a kill left in the mirror
//! failed every later fetch (`gitsync::fetch::locks_*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluxd::api::{Cause, JobState, JobStatus, PolicySet, PolicyUpdate, UpdateKind, UpdateSpec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use manifests::ResourceId;
use tests::controlplane::ControlPlane;
use tests::fluxd::{Daemon, FluxdCommand, LogLine};
use tests::git::GitFixture;
use tests::sshd::Sshd;

use super::{config_map, file_url, fluxd, repository, web_app};

/// fluxd's crates at debug (where the points' lines are), the rest at info.
const LOG_LEVEL: &str = "info,fluxd=debug,gitsync=debug,manifests=debug";
/// Longest a point may take to be reached, or a restart to converge.
const WAIT: Duration = Duration::from_secs(90);
/// ConfigMaps every revision of the sync scenes has (all change each time).
const KEPT: usize = 80;
/// ConfigMaps each revision adds; the previous revision's are removed.
const GROUP: usize = 30;
/// The Secret marker's annotation.
const MARKER_ANNOTATION: &str = "flux.weave.works/sync-hwm";
/// The objects outside git's set that must survive every kill.
const BYSTANDERS: [&str; 3] = ["keep-unmarked", "keep-other-set", "keep-copied-mark"];

/// A small seeded generator (xorshift64*), so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A delay of up to `max_ms` milliseconds.
    fn delay(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.next() % (max_ms + 1))
    }
}

/// What was done and checked at one point.
#[derive(Default)]
struct Tally {
    kills: usize,
    /// Kills after which the marker had moved to the new revision.
    marker_moved: usize,
    /// Kills after which the job's commit was already in the branch.
    landed: usize,
    checks: usize,
    ms: Vec<u64>,
}

#[derive(Default)]
struct Report {
    points: BTreeMap<&'static str, Tally>,
}

impl Report {
    fn tally(&mut self, point: &'static str) -> &mut Tally {
        self.points.entry(point).or_default()
    }

    fn total(&self) -> usize {
        self.points.values().map(|t| t.kills).sum()
    }

    fn print(&self, seed: u64, took: Duration) {
        println!(
            "crash report: seed {seed}, {} kills in {took:?}",
            self.total()
        );
        for (point, tally) in &self.points {
            let (min, max) = (
                tally.ms.iter().min().copied().unwrap_or_default(),
                tally.ms.iter().max().copied().unwrap_or_default(),
            );
            println!(
                "crash point {point:<24} kills {:>3}  marker moved {:>3}  commit landed {:>3}  checks {:>5}  restart to converged {min}..{max} ms",
                tally.kills, tally.marker_moved, tally.landed, tally.checks
            );
        }
    }
}

/// Where the sync marker is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarkerKind {
    Tag,
    Secret,
}

/// Reads the marker: the tag in the origin, or the Secret's annotation.
async fn marker(kind: MarkerKind, repo: &GitFixture, secrets: &Api<Secret>) -> Option<String> {
    match kind {
        MarkerKind::Tag => repo.origin_ref("refs/tags/flux-sync").unwrap(),
        MarkerKind::Secret => secrets
            .get_opt("flux-git-deploy")
            .await
            .unwrap()
            .and_then(|s| s.metadata.annotations)
            .and_then(|a| a.get(MARKER_ANNOTATION).cloned()),
    }
}

/// Fails if the fluxd that logged to `log` ever moved the marker back: to
/// an ancestor of where it was (it then applied an older revision over a
/// newer one). Returns how many moves were checked.
fn assert_marker_never_moved_back(repo: &GitFixture, log: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut checked = 0;
    for line in tests::fluxd::parse_logs(&text) {
        if !line.is("moved the sync marker") {
            continue;
        }
        let (Some(from), Some(to)) = (line.str("from"), line.str("to")) else {
            continue;
        };
        checked += 1;
        let back = from != to
            && repo
                .git_bare(["merge-base", "--is-ancestor", to, from])
                .is_ok();
        assert!(
            !back,
            "fluxd moved the marker back from {from} to its ancestor {to} ({})",
            log.display()
        );
    }
    checked
}

/// One revision of a sync scene: the ConfigMaps it defines and their value.
#[derive(Clone, Debug)]
struct Contents {
    revision: String,
    names: BTreeSet<String>,
    value: u64,
}

/// The ConfigMaps of revision `index` of a sync scene.
fn names_of(index: u64) -> BTreeSet<String> {
    (0..KEPT)
        .map(|k| format!("cm-{k}"))
        .chain((0..GROUP).map(|k| format!("g{index}-{k}")))
        .collect()
}

/// The values of the ConfigMaps the scene can define (theirs and old
/// groups'), by name.
async fn live_values(configmaps: &Api<ConfigMap>) -> BTreeMap<String, u64> {
    configmaps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| {
            let name = cm.metadata.name.clone()?;
            let value = cm
                .data
                .as_ref()
                .and_then(|d| d.get("value"))
                .and_then(|v| v.trim_start_matches('v').parse().ok())
                .unwrap_or(u64::MAX);
            Some((name, value))
        })
        .collect()
}

/// Creates the objects outside git's set; the one with a copied mark gets
/// the label of `cm-0` as applied.
async fn create_bystanders(configmaps: &Api<ConfigMap>, namespace: &str) {
    let copied = configmaps
        .get("cm-0")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    let other = manifests::cluster::gc_mark(
        "another-sync-set",
        &ResourceId::namespaced(namespace, "ConfigMap", "keep-other-set"),
    );
    for (name, labels) in [
        ("keep-unmarked", BTreeMap::new()),
        (
            "keep-other-set",
            BTreeMap::from([(manifests::cluster::GC_MARK_LABEL.to_owned(), other)]),
        ),
        ("keep-copied-mark", copied),
    ] {
        configmaps
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.to_owned()),
                        labels: Some(labels),
                        ..ObjectMeta::default()
                    },
                    data: Some(BTreeMap::from([("value".to_owned(), "outside".to_owned())])),
                    ..ConfigMap::default()
                },
            )
            .await
            .unwrap();
    }
}

/// Fails unless every object outside git's set is there.
fn assert_bystanders(live: &BTreeMap<String, u64>, when: &str) {
    for name in BYSTANDERS {
        assert!(
            live.contains_key(name),
            "{when}: {name}, outside git's set, was deleted"
        );
    }
}

/// A sync scene: a repository of ConfigMaps synced into one namespace with
/// garbage collection, the marker of `kind`, a mirror and state that
/// outlive each fluxd (as a pod's volume outlives a container restart).
struct SyncScene {
    kind: MarkerKind,
    namespace: String,
    repo: GitFixture,
    dir: PathBuf,
    configmaps: Api<ConfigMap>,
    secrets: Api<Secret>,
    kubeconfig: PathBuf,
    runs: usize,
    next: u64,
    /// Whether the objects outside git's set exist yet.
    bystanders: bool,
    /// The git server, for the tag marker (see [`sync_scene`]).
    sshd: Option<Sshd>,
}

impl SyncScene {
    fn command(&self) -> FluxdCommand {
        let url = match &self.sshd {
            Some(sshd) => sshd.url(self.repo.bare_path()),
            None => file_url(&self.repo),
        };
        let mut command = fluxd()
            .args(["--git-url", &url, "--git-path", "deploy"])
            .args(["--k8s-allow-namespace", &self.namespace])
            .args(["--k8s-namespace", &self.namespace])
            .args(["--sync-garbage-collection", "--registry-disable-scanning"])
            .args(["--git-poll-interval", "200ms", "--sync-interval", "1h"])
            .args(["--log-level", LOG_LEVEL])
            .arg("--git-mirror-dir")
            .arg(self.dir.join("work"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig);
        if self.kind == MarkerKind::Secret {
            command = command.args(["--sync-state", "secret"]);
        }
        if self.sshd.is_some() {
            command = command
                .arg("--k8s-secret-volume-mount-path")
                .arg(self.dir.join("mount"))
                .arg("--git-known-hosts")
                .arg(self.dir.join("known_hosts"));
        }
        command
    }

    fn start(&mut self) -> Daemon {
        self.runs += 1;
        let dir = self.dir.join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&dir).unwrap();
        self.command().start(&dir).unwrap()
    }

    /// Commits the next revision: every kept ConfigMap's value changes, a
    /// new group comes, the previous group goes.
    fn commit_next(&mut self) -> Contents {
        let index = self.next;
        self.next += 1;
        let names = names_of(index);
        let documents: Vec<String> = names
            .iter()
            .map(|name| config_map(&self.namespace, name, &format!("v{index}")))
            .collect();
        self.repo
            .write("deploy/all.yaml", &documents.join("---\n"))
            .unwrap();
        let revision = self.repo.commit_and_push(&format!("rev {index}")).unwrap();
        Contents {
            revision,
            names,
            value: index,
        }
    }

    /// Checks what a kill left: the marker at `before` or `after`, never
    /// past what was applied; nothing outside git's set gone. True when the
    /// marker had moved to `after`.
    async fn check_after_kill(&self, before: &Contents, after: &Contents, point: &str) -> bool {
        assert_marker_never_moved_back(&self.repo, &daemon_log(self));
        let at = marker(self.kind, &self.repo, &self.secrets).await;
        let live = live_values(&self.configmaps).await;
        let when = format!("after a kill at {point} ({:?} marker)", self.kind);
        assert_bystanders(&live, &when);
        let marked = if at.as_deref() == Some(after.revision.as_str()) {
            after
        } else {
            assert_eq!(
                at.as_deref(),
                Some(before.revision.as_str()),
                "{when}: the marker is at neither revision"
            );
            before
        };
        for name in &marked.names {
            let removed_since = !after.names.contains(name);
            match live.get(name) {
                // A later sync's garbage collection may have started.
                None if removed_since => {}
                None => panic!(
                    "{when}: the marker is at {} but {name} of it is not in the cluster",
                    marked.revision
                ),
                Some(value) => assert!(
                    *value >= marked.value && *value <= after.value,
                    "{when}: the marker is at {} (value v{}) but {name} has v{value}",
                    marked.revision,
                    marked.value
                ),
            }
        }
        std::ptr::eq(marked, after)
    }

    /// Waits until the cluster holds exactly `contents` (and the
    /// bystanders) and the marker is at it; the time it took.
    async fn converge(&self, contents: &Contents, daemon: &mut Daemon) -> Duration {
        let began = Instant::now();
        loop {
            daemon.check_running().unwrap();
            let at = marker(self.kind, &self.repo, &self.secrets).await;
            let live = live_values(&self.configmaps).await;
            if self.bystanders {
                assert_bystanders(&live, "while converging");
            }
            let ours: BTreeMap<&String, &u64> = live
                .iter()
                .filter(|(name, _)| name.starts_with("cm-") || name.starts_with('g'))
                .collect();
            let exact = ours.len() == contents.names.len()
                && contents
                    .names
                    .iter()
                    .all(|name| live.get(name) == Some(&contents.value));
            if exact && at.as_deref() == Some(contents.revision.as_str()) {
                return began.elapsed();
            }
            assert!(
                began.elapsed() < WAIT,
                "{:?} marker: never converged on {} (marker {at:?}, {} of ours live)\n{}",
                self.kind,
                contents.revision,
                ours.len(),
                daemon.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A chosen point of a sync: the line that starts it, and how long after
/// it the kill may land.
struct SyncPoint {
    name: &'static str,
    line: fn(&LogLine) -> bool,
    max_delay_ms: u64,
}

const SYNC_POINTS: [SyncPoint; 4] = [
    SyncPoint {
        name: "sync apply",
        line: |l| l.is("live objects read and compared") && l.u64("to_apply") > Some(0),
        max_delay_ms: 150,
    },
    SyncPoint {
        name: "gc: finding orphans",
        line: |l| l.is("garbage collection started"),
        max_delay_ms: 20,
    },
    SyncPoint {
        name: "gc: deleting",
        line: |l| l.is("deleting orphans"),
        max_delay_ms: 40,
    },
    SyncPoint {
        name: "writing the sync marker",
        line: |l| l.is("writing the sync marker"),
        max_delay_ms: 15,
    },
];

/// The sync scene of `kind`: `rounds` kills at each sync point.
async fn sync_scene(
    cluster: &ControlPlane,
    kind: MarkerKind,
    rounds: usize,
    rng: &mut Rng,
    report: &mut Report,
) {
    let ns = cluster
        .namespace(match kind {
            MarkerKind::Tag => "crash-tag",
            MarkerKind::Secret => "crash-secret",
        })
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let dir = Kept::new();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let mut scene = SyncScene {
        kind,
        namespace: ns.name().to_owned(),
        repo: repository(&dir.path().join("repo")),
        dir: dir.path().to_owned(),
        configmaps: Api::namespaced(client.clone(), ns.name()),
        secrets: Api::namespaced(client, ns.name()),
        kubeconfig: cluster.kubeconfig_path().to_owned(),
        runs: 0,
        next: 0,
        bystanders: false,
        sshd: None,
    };
    if kind == MarkerKind::Tag {
        // Over ssh: the server's receive-pack writes the tag, as in a real
        // deployment. Over file:// libgit2 writes the remote's refs inside
        // fluxd, and a kill in the middle leaves `refs/tags/flux-sync.lock`
        // in the remote, which only a person may remove (docs/reliability.md).
        let sshd = Sshd::start().unwrap();
        write_ssh_files(&sshd, dir.path());
        scene.sshd = Some(sshd);
    }
    let mut current = scene.commit_next();
    let mut daemon = scene.start();
    scene.converge(&current, &mut daemon).await;
    create_bystanders(&scene.configmaps, ns.name()).await;
    scene.bystanders = true;
    for _ in 0..rounds {
        for point in &SYNC_POINTS {
            let from = std::fs::metadata(daemon_log(&scene)).map_or(0, |m| m.len());
            let next = scene.commit_next();
            let delay = rng.delay(point.max_delay_ms);
            daemon
                .kill_when(from, WAIT, delay, point.line)
                .unwrap_or_else(|e| panic!("{}: {e}", point.name));
            let moved = scene.check_after_kill(&current, &next, point.name).await;
            let restarted = Instant::now();
            daemon = scene.start();
            scene.converge(&next, &mut daemon).await;
            let took = restarted.elapsed();
            let name = match (kind, point.name) {
                (MarkerKind::Secret, "writing the sync marker") => "writing the Secret marker",
                (MarkerKind::Tag, "writing the sync marker") => "writing the tag marker",
                (_, other) => other,
            };
            let tally = report.tally(name);
            tally.kills += 1;
            tally.marker_moved += usize::from(moved);
            tally.checks += 2 * (next.names.len() + BYSTANDERS.len()) + 2;
            tally
                .ms
                .push(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
            current = next;
        }
    }
    daemon.stop();
}

/// The deploy key as a Secret volume mounts it (`<dir>/mount/identity`) and
/// `<dir>/known_hosts` for `sshd`.
fn write_ssh_files(sshd: &Sshd, dir: &std::path::Path) {
    std::fs::create_dir(dir.join("mount")).unwrap();
    std::fs::write(
        dir.join("mount").join("identity"),
        sshd.client_key().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("known_hosts"), sshd.known_hosts_line().unwrap()).unwrap();
}

/// The log of the scene's running fluxd.
fn daemon_log(scene: &SyncScene) -> PathBuf {
    scene
        .dir
        .join(format!("run-{}", scene.runs))
        .join("fluxd.log")
}

/// The jobs scene: a repository over ssh with write access, the tag marker,
/// fluxd's API on a free port, jobs that each set one policy.
struct JobScene {
    namespace: String,
    repo: GitFixture,
    sshd: Sshd,
    dir: PathBuf,
    kubeconfig: PathBuf,
    api: String,
    port: u16,
    http: reqwest::Client,
    deployments: Api<Deployment>,
    configmaps: Api<ConfigMap>,
    runs: usize,
    jobs: usize,
    /// Values the test itself pushed to the `busy` ConfigMap.
    busy: u64,
}

impl JobScene {
    fn start(&mut self) -> Daemon {
        self.runs += 1;
        let dir = self.dir.join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&dir).unwrap();
        fluxd()
            .args(["--git-url", &self.sshd.url(self.repo.bare_path())])
            .args(["--git-path", "deploy"])
            .args(["--k8s-allow-namespace", &self.namespace])
            .args(["--k8s-namespace", &self.namespace])
            .args(["--sync-garbage-collection", "--registry-disable-scanning"])
            .args(["--git-poll-interval", "200ms", "--sync-interval", "1h"])
            .args(["--log-level", LOG_LEVEL])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--k8s-secret-volume-mount-path")
            .arg(self.dir.join("mount"))
            .arg("--git-known-hosts")
            .arg(self.dir.join("known_hosts"))
            .arg("--git-mirror-dir")
            .arg(self.dir.join("work"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .start(&dir)
            .unwrap()
    }

    fn log(&self) -> PathBuf {
        self.dir
            .join(format!("run-{}", self.runs))
            .join("fluxd.log")
    }

    fn log_length(&self) -> u64 {
        std::fs::metadata(self.log()).map_or(0, |m| m.len())
    }

    /// Waits for the API to answer.
    async fn api_up(&self, daemon: &mut Daemon) {
        let began = Instant::now();
        loop {
            daemon.check_running().unwrap();
            if let Ok(answer) = self.http.get(format!("{}/v11/ping", self.api)).send().await
                && answer.status().is_success()
            {
                return;
            }
            assert!(began.elapsed() < WAIT, "the API never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Submits the next job: set `tag.web` to `glob:1.N.*`; its number and id.
    async fn submit(&mut self) -> (usize, String) {
        self.jobs += 1;
        let number = self.jobs;
        let resource: fluxd::api::ResourceId = format!("{}:deployment/web", self.namespace)
            .parse()
            .unwrap();
        let mut add = PolicySet::default();
        add.set("tag.web", &format!("glob:1.{number}.*"));
        let spec = UpdateSpec {
            cause: Cause {
                message: job_message(number),
                user: "Crash Test <crash@example.com>".to_owned(),
            },
            kind: UpdateKind::Policy(BTreeMap::from([(
                resource,
                PolicyUpdate {
                    add,
                    remove: PolicySet::default(),
                },
            )])),
        };
        let answer = self
            .http
            .post(format!("{}/v9/update-manifests", self.api))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&spec).unwrap())
            .send()
            .await
            .unwrap();
        let code = answer.status();
        let body = answer.text().await.unwrap();
        assert!(code.is_success(), "{code}: {body}");
        let id: String = serde_json::from_str(&body).unwrap();
        (number, id)
    }

    async fn status(&self, id: &str) -> Option<JobStatus> {
        let answer = self
            .http
            .get(format!("{}/v6/jobs?id={id}", self.api))
            .send()
            .await
            .ok()?;
        serde_json::from_str(&answer.text().await.ok()?).ok()
    }

    /// Waits for job `id` to succeed.
    async fn succeeded(&self, id: &str, daemon: &mut Daemon) {
        let began = Instant::now();
        loop {
            daemon.check_running().unwrap();
            if let Some(status) = self.status(id).await {
                match status.status_string {
                    JobState::Succeeded => return,
                    JobState::Failed => panic!(
                        "job {id} failed after the restart: {}\n{}",
                        status.err,
                        daemon.log_text()
                    ),
                    _ => {}
                }
            }
            assert!(
                began.elapsed() < WAIT,
                "job {id} never finished\n{}",
                daemon.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many commits of the branch carry job `number`'s message.
    fn commits_of_job(&self, number: usize) -> usize {
        self.repo
            .git_bare(["log", "--format=%s", "main"])
            .unwrap()
            .lines()
            .filter(|subject| *subject == job_message(number))
            .count()
    }

    /// The number in `tag.web` (`glob:1.N.*`) in `text`, 0 if none.
    fn job_in(text: &str) -> u64 {
        text.split("glob:1.")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The number in the `busy` ConfigMap's value (`vN`) in `text`.
    fn busy_in(text: &str) -> u64 {
        text.split("value: \"v")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// What the cluster has: the job number of `web`'s tag policy and the
    /// `busy` value.
    async fn live(&self) -> (u64, u64) {
        let web = self.deployments.get("web").await.unwrap();
        let tag = web
            .metadata
            .annotations
            .unwrap_or_default()
            .get("fluxcd.io/tag.web")
            .map(|v| Self::job_in(v))
            .unwrap_or(0);
        let busy = self
            .configmaps
            .get("busy")
            .await
            .unwrap()
            .data
            .unwrap_or_default()
            .get("value")
            .and_then(|v| v.trim_start_matches('v').parse().ok())
            .unwrap_or(0);
        (tag, busy)
    }

    /// What revision `revision` of the branch defines: the job number and
    /// the `busy` value.
    fn defined_at(&self, revision: &str) -> (u64, u64) {
        let show = |path: &str| {
            self.repo
                .git_bare(["show", &format!("{revision}:{path}")])
                .unwrap()
        };
        (
            Self::job_in(&show("deploy/web.yaml")),
            Self::busy_in(&show("deploy/busy.yaml")),
        )
    }

    /// Checks what a kill left: each job's commit at most once, the marker
    /// never past what was applied; true when the last job's commit landed.
    async fn check_after_kill(&self, number: usize, point: &str) -> bool {
        let point = format!("{point} (log {})", self.log().display());
        assert_marker_never_moved_back(&self.repo, &self.log());
        let landed = self.commits_of_job(number);
        assert!(
            landed <= 1,
            "after a kill at {point}: job {number}'s commit is in the branch {landed} times"
        );
        let at = self
            .repo
            .origin_ref("refs/tags/flux-sync")
            .unwrap()
            .unwrap();
        let (job, busy) = self.defined_at(&at);
        let (live_job, live_busy) = self.live().await;
        assert!(
            live_job >= job && live_busy >= busy,
            "after a kill at {point}: the marker {at} has job {job} and busy v{busy}, the cluster job {live_job} and busy v{live_busy}"
        );
        landed == 1
    }

    /// Waits until the head's contents are live and the marker is at the
    /// head; checks each job's commit is in the branch once.
    async fn converge(&self, daemon: &mut Daemon) -> Duration {
        let began = Instant::now();
        loop {
            daemon.check_running().unwrap();
            let head = self.repo.origin_ref("refs/heads/main").unwrap().unwrap();
            let at = self.repo.origin_ref("refs/tags/flux-sync").unwrap();
            if at.as_deref() == Some(head.as_str()) && self.live().await == self.defined_at(&head) {
                break;
            }
            assert!(
                began.elapsed() < WAIT,
                "never converged on {head} (marker {at:?})\n{}",
                daemon.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for number in 1..=self.jobs {
            assert_eq!(
                self.commits_of_job(number),
                1,
                "job {number}'s commit is not in the branch exactly once"
            );
        }
        began.elapsed()
    }

    /// Pushes a new `busy` value from outside fluxd, on top of whatever
    /// fluxd pushed meanwhile.
    fn push_busy(&mut self) {
        self.busy += 1;
        loop {
            self.repo.git(["fetch", "--quiet", "origin"]).unwrap();
            self.repo
                .git(["reset", "--quiet", "--hard", "origin/main"])
                .unwrap();
            self.repo
                .write(
                    "deploy/busy.yaml",
                    &config_map(&self.namespace, "busy", &format!("v{}", self.busy)),
                )
                .unwrap();
            self.repo.commit(&format!("busy {}", self.busy)).unwrap();
            if self.repo.push().is_ok() {
                return;
            }
        }
    }
}

fn job_message(number: usize) -> String {
    format!("crash job {number}")
}

/// A chosen point of a job's commit: the line, and the delay range after it.
struct JobPoint {
    name: &'static str,
    line: fn(&LogLine) -> bool,
    min_delay_ms: u64,
    max_delay_ms: u64,
}

const JOB_POINTS: [JobPoint; 3] = [
    JobPoint {
        name: "commit, before its push",
        line: |l| l.is("pushing commit"),
        min_delay_ms: 0,
        max_delay_ms: 0,
    },
    JobPoint {
        name: "during a push",
        line: |l| l.is("pushing commit"),
        min_delay_ms: 1,
        max_delay_ms: 60,
    },
    JobPoint {
        name: "push, before the marker",
        line: |l| l.is("pushed commit"),
        min_delay_ms: 0,
        max_delay_ms: 0,
    },
];

async fn job_scene(
    cluster: &ControlPlane,
    rounds: usize,
    random: usize,
    rng: &mut Rng,
    report: &mut Report,
) {
    let ns = cluster.namespace("crash-jobs").await.unwrap();
    let client = cluster.client().unwrap();
    let sshd = Sshd::start().unwrap();
    let dir = Kept::new();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    write_ssh_files(&sshd, dir.path());
    let repo = repository(&dir.path().join("repo"));
    // The Deployment whose policies the jobs change (no image automation runs).
    repo.write("deploy/web.yaml", &web_app(ns.name(), 1))
        .unwrap();
    repo.write("deploy/busy.yaml", &config_map(ns.name(), "busy", "v0"))
        .unwrap();
    repo.commit_and_push("first").unwrap();
    let port = tests::net::free_port().unwrap();
    let mut scene = JobScene {
        namespace: ns.name().to_owned(),
        repo,
        sshd,
        dir: dir.path().to_owned(),
        kubeconfig: cluster.kubeconfig_path().to_owned(),
        api: format!("http://127.0.0.1:{port}/api/flux"),
        port,
        http: reqwest::Client::new(),
        deployments: Api::namespaced(client.clone(), ns.name()),
        configmaps: Api::namespaced(client, ns.name()),
        runs: 0,
        jobs: 0,
        busy: 0,
    };
    let mut daemon = scene.start();
    scene.api_up(&mut daemon).await;
    scene.converge(&mut daemon).await;

    for _ in 0..rounds {
        for point in &JOB_POINTS {
            let from = scene.log_length();
            let (number, id) = scene.submit().await;
            let delay = Duration::from_millis(point.min_delay_ms)
                + rng.delay(point.max_delay_ms - point.min_delay_ms);
            daemon
                .kill_when(from, WAIT, delay, point.line)
                .unwrap_or_else(|e| panic!("{}: {e}", point.name));
            let landed = scene.check_after_kill(number, point.name).await;
            let restarted = Instant::now();
            daemon = scene.start();
            scene.api_up(&mut daemon).await;
            scene.succeeded(&id, &mut daemon).await;
            scene.converge(&mut daemon).await;
            let took = restarted.elapsed();
            let tally = report.tally(point.name);
            tally.kills += 1;
            tally.landed += usize::from(landed);
            tally.checks += 4 + scene.jobs;
            tally
                .ms
                .push(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        }
    }

    // Random points of a busy run: the test pushes a commit and submits a
    // job, and fluxd is killed at a random moment of what follows.
    for _ in 0..random {
        let (number, id) = scene.submit().await;
        scene.push_busy();
        let delay = rng.delay(4000);
        std::thread::sleep(delay);
        daemon.kill().unwrap();
        let landed = scene.check_after_kill(number, "a random point").await;
        let restarted = Instant::now();
        daemon = scene.start();
        scene.api_up(&mut daemon).await;
        scene.succeeded(&id, &mut daemon).await;
        scene.converge(&mut daemon).await;
        let took = restarted.elapsed();
        let tally = report.tally("random (0..4000 ms)");
        tally.kills += 1;
        tally.landed += usize::from(landed);
        tally.checks += 4 + scene.jobs;
        tally
            .ms
            .push(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
    }
    // Over the whole run: one commit per job, no other commit of fluxd's.
    let subjects = scene.repo.git_bare(["log", "--format=%s", "main"]).unwrap();
    let by_fluxd = subjects
        .lines()
        .filter(|s| s.starts_with("crash job "))
        .count();
    assert_eq!(by_fluxd, scene.jobs, "{subjects}");
    daemon.stop();
}

/// A temporary directory removed when dropped, unless the test is failing:
/// then it is kept (and named) so fluxd's logs of each run can be read.
struct Kept(Option<tempfile::TempDir>);

impl Kept {
    fn new() -> Self {
        Self(Some(
            tempfile::Builder::new()
                .prefix("fluxd-crash-")
                .tempdir()
                .unwrap(),
        ))
    }

    fn path(&self) -> &std::path::Path {
        self.0.as_ref().map(tempfile::TempDir::path).unwrap()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!("fluxd's runs are kept in {}", dir.keep().display());
        }
    }
}

fn seed() -> u64 {
    std::env::var("FLUXD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// Kills at each sync point of the tag marker scene, of the Secret marker
/// scene, and of the job scene (its chosen points, then random ones): 50 in
/// all, in three tests that run side by side.
const TAG_ROUNDS: usize = 2;
const SECRET_ROUNDS: usize = 4;
const JOB_ROUNDS: usize = 4;
const RANDOM_KILLS: usize = 14;
const _: () = assert!(
    (TAG_ROUNDS + SECRET_ROUNDS) * SYNC_POINTS.len() + JOB_ROUNDS * JOB_POINTS.len() + RANDOM_KILLS
        >= 50
);

/// One scene's run: its seed printed first, its report last, and the number
/// of kills it was to make checked.
struct SceneRun {
    began: Instant,
    seed: u64,
    rng: Rng,
    report: Report,
}

impl SceneRun {
    fn new(scene: &str) -> Self {
        let seed = seed();
        println!("crash scene {scene}: seed {seed} (FLUXD_CRASH_SEED={seed} repeats it)");
        Self {
            began: Instant::now(),
            seed,
            rng: Rng::new(seed),
            report: Report::default(),
        }
    }

    fn finish(self, kills: usize) {
        self.report.print(self.seed, self.began.elapsed());
        assert_eq!(self.report.total(), kills, "kills made");
    }
}

#[tokio::test]
async fn sigkills_during_syncs_with_the_tag_marker_lose_nothing() {
    let mut run = SceneRun::new("tag");
    let cluster = ControlPlane::shared().await.unwrap();
    sync_scene(
        cluster,
        MarkerKind::Tag,
        TAG_ROUNDS,
        &mut run.rng,
        &mut run.report,
    )
    .await;
    run.finish(TAG_ROUNDS * SYNC_POINTS.len());
}

#[tokio::test]
async fn sigkills_during_syncs_with_the_secret_marker_lose_nothing() {
    let mut run = SceneRun::new("secret");
    let cluster = ControlPlane::shared().await.unwrap();
    sync_scene(
        cluster,
        MarkerKind::Secret,
        SECRET_ROUNDS,
        &mut run.rng,
        &mut run.report,
    )
    .await;
    run.finish(SECRET_ROUNDS * SYNC_POINTS.len());
}

#[tokio::test]
async fn sigkills_during_jobs_and_at_random_points_do_nothing_twice() {
    let mut run = SceneRun::new("jobs");
    let cluster = ControlPlane::shared().await.unwrap();
    job_scene(
        cluster,
        JOB_ROUNDS,
        RANDOM_KILLS,
        &mut run.rng,
        &mut run.report,
    )
    .await;
    run.finish(JOB_ROUNDS * JOB_POINTS.len() + RANDOM_KILLS);
}
