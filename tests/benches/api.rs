//! fluxd's HTTP API on the real control plane.
//!
//! 1. **Listings at scale**: 1,000 Deployments over ten namespaces, synced
//!    by the engine from a git repository; fluxd's API (in this process, as
//!    the daemon builds it: the cluster view with policies from git at the
//!    synced revision) on 127.0.0.1. `GET /v6/services` and `GET
//!    /v10/images` (no registry data: each container says "image data not
//!    available"), timed over `API_BENCH_REQUESTS` requests each (p50, p95)
//!    with the heap allocations per request (dhat, over two more requests:
//!    this whole process, the server and the HTTP client), next to `kubectl get
//!    deployments,daemonsets,statefulsets,cronjobs -A -o json`, what a user
//!    would otherwise run to see the same workloads.
//! 2. **Polling during a sync**: fluxd as a daemon (in this process, its
//!    HTTP API on a loopback port) over a repository of its own. A policy
//!    job (lock a workload) is submitted through `POST /v9/update-manifests`
//!    and runs; then each commit replaces a generated tree of 1,000 new
//!    objects, fluxd is told (`notify`) and syncs it, in
//!    `API_BENCH_ROUNDS` (3) rounds of four: alone, while 50 clients poll
//!    `GET /v6/jobs?id=<that job>` every `API_BENCH_POLL_MS` (500 ms;
//!    fluxctl's job wait polls from 100 ms backing off to 5 s), while 50
//!    poll `GET /v11/services?services=<id>` (as 50 `fluxctl release
//!    --watch` would), and alone again. The sync's time is fluxd's own
//!    (`flux_daemon_sync_duration_seconds`); each polled sync is compared
//!    with the mean of its round's two syncs alone (the cluster slows as
//!    trees come and go), and the median over rounds is quoted. Every poll
//!    must succeed.
//!
//! Run with `cargo bench -p tests --bench api`.
//!
//! Before the workload cache, measured once as a debug build (`cargo build
//! -p tests --bench api`, then the binary; the release build did not fit
//! the time), on 2 cores shared with other builds (load average 14):
//! `/v6/services` p50 604 ms, p95 761 ms, 398k allocations (74 MiB) per
//! request; `/v10/images` p50 772 ms, p95 1.31 s, 423k allocations;
//! kubectl's listing of the same kinds p50 1.21 s. The sync of 1,000
//! objects took 5.33 s alone and 14.6 s with 50 pollers every 500 ms
//! (+173%): every request listed five kinds from the API server.
//!
//! With the watch-backed cache (`ClusterView::watching`), debug build
//! (`cargo test -p tests --bench api`), same shared machine: `/v6/services`
//! p50 35.9 ms, p95 50.4 ms, 21k allocations (5.3 MiB) per request;
//! `/v10/images` p50 37.6 ms, p95 44.6 ms, 32k allocations; kubectl p50
//! 736 ms. Release build (`cargo bench -p tests --bench api`, once, other
//! builds running): `/v6/services` p50 9.3 ms, p95 14.3 ms; `/v10/images`
//! p50 7.3 ms, p95 10.2 ms; kubectl p50 649 ms.
//!
//! Polling during the daemon's sync, debug build, three runs on 2 cores
//! shared with five other builds (load average 17 to 25; two syncs alone
//! of the same size differed by up to 70% in one run): with 50 clients on
//! `/v6/jobs` the sync took -8.8%, +6.6% and +24% against the mean of its
//! runs alone (12.5 to 13.9 s); on `/v11/services?services=<id>` +33%,
//! +125% and +19%. Every one of the 9,300 poll requests succeeded. The
//! pollers add no API server request (the counts by verb and kind during
//! a sync are the same with and without them: the sync's 1,000 applies,
//! the controller manager's updates) and, in this process, which also runs
//! the 50 clients, 0.6 to 1.1 CPU seconds over 1,400 to 1,700 requests
//! (about 0.5 ms a request, server and client together, debug build). So
//! what slows the sync is CPU on the shared cores, not the API server;
//! the goal (at most 10%) needs a quiet machine to be shown, and is not
//! shown here.
//!
//! On a quiet machine (the same 2 cores, nothing else running, load
//! average under 2), release build, pollers on `/v6/jobs` for a real job,
//! `API_BENCH_ROUNDS=5`: `/v6/services` p50 7.7 ms, p95 10.4 ms, 21k
//! allocations (5.3 MiB) per request; `/v10/images` p50 7.0 ms, p95
//! 9.3 ms; kubectl p50 671 ms. The syncs alone took 2.00 to 5.55 s,
//! growing round by round (the API server's CPU for the same 1,000
//! applies went from 2.5 to 6.6 s as trees came and went). Against the
//! syncs alone of their round, 50 clients on `/v6/jobs` every 500 ms
//! changed the sync by -4.2%, +19.6%, +0.7%, +10.4% and +4.6% (median
//! +4.6%); on `/v11/services?services=<id>` by +5.2%, -3.2%, +0.4%, +5.3%
//! and +6.2% (median +5.2%). 6,000 poll requests, none failed. The goal
//! (at most 10%) is met at the median; single rounds vary by up to 20%,
//! as two syncs alone of one round do (2.00 and 2.40 s in the first).

// A benchmark that cannot set up has nothing to measure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fluxd::internals::Metrics;
use fluxd::internals::{Api, ClusterView, GitView, WorkloadsConfig};
use fluxd::internals::{DEFAULT_STUCK_AFTER, Health};
use manifests::cluster::{Engine, EngineConfig, SyncSet};
use manifests::{LoadOptions, load};
use tests::controlplane::ControlPlane;
use tests::git::GitFixture;

mod support;

use support::{NAMESPACES, secs, settle};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const WORKLOADS: usize = 1000;
const POLLERS: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = support::runtime("warn")?;
    runtime.block_on(run())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A tree of `WORKLOADS` Deployments over `<prefix>-0..9`.
fn deployments(dir: &Path, prefix: &str) -> std::io::Result<()> {
    for namespace in 0..NAMESPACES {
        let ns = format!("{prefix}-{namespace}");
        let mut file = String::new();
        for index in (namespace..WORKLOADS).step_by(NAMESPACES) {
            file.push_str(&support::deployment(&ns, index));
            file.push_str("---\n");
        }
        std::fs::create_dir_all(dir.join(&ns))?;
        std::fs::write(dir.join(&ns).join("deployments.yaml"), file)?;
    }
    Ok(())
}

fn set_of(root: &Path, name: &str) -> SyncSet {
    let loaded = load(root, &["."], &LoadOptions::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    SyncSet {
        name: name.to_owned(),
        complete: true,
        resources: loaded.resources,
    }
}

async fn sync(cluster: &ControlPlane, set: &SyncSet) -> Duration {
    let engine = Engine::new(cluster.client().unwrap(), EngineConfig::default()).unwrap();
    let started = Instant::now();
    let report = engine.sync(set).await;
    let took = started.elapsed();
    assert!(
        report.failures().next().is_none(),
        "{:?}",
        report.failures().next()
    );
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let requests = env_number("API_BENCH_REQUESTS", 30) as usize;
    let cluster = ControlPlane::private().await?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("repo"))?;
    let repo = GitFixture::new(&dir.path().join("repo"), "main")?;
    deployments(repo.work_path(), "wl")?;
    repo.commit_and_push("1,000 workloads")?;
    // The polling part's trees, four a round (see below).
    let rounds = env_number("API_BENCH_ROUNDS", 3).max(1);
    let mut prefixes = vec!["wl".to_owned()];
    for round in 0..rounds {
        prefixes.extend(["a", "b", "c", "d"].map(|letter| format!("s{letter}{round}")));
    }
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    cluster
        .admin()
        .apply_yaml(&support::namespaces(&prefixes), "namespaces")
        .await?;
    cluster
        .admin()
        .apply_yaml(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: watched\n",
            "namespace",
        )
        .await?;
    let synced = sync(&cluster, &set_of(repo.work_path(), "workloads")).await;
    println!("synced {WORKLOADS} Deployments in {}", secs(synced));
    let watched = set_of_text(dir.path(), "watched", &support::deployment("watched", 0));
    sync(&cluster, &watched).await;
    settle(&cluster).await?;

    // The API as the daemon builds it, policies from git at the synced revision.
    let url = gitsync::GitUrl::parse(&format!("file://{}", repo.bare_path().display()))?;
    let mirror = gitsync::Mirror::open(
        gitsync::Remote::new(url),
        dir.path().join("mirror"),
        Some("main".to_owned()),
    )
    .await?;
    let head = mirror.fetch().await?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(metrics.clone(), DEFAULT_STUCK_AFTER));
    health.cloned();
    health.sync_finished(synced, Some(head), WORKLOADS, 0);
    let source = fluxd::GitSource {
        mirror,
        checkouts: dir.path().join("checkouts"),
        paths: Vec::new(),
        load_options: LoadOptions::default(),
    };
    let view = ClusterView::new(
        cluster.client()?,
        WorkloadsConfig::default(),
        Some(GitView::new(source, health.clone())),
    )
    .watching();
    let router = Api::new(metrics, health).with_cluster(view).router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/flux", listener.local_addr()?);
    let listing_server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();

    println!("\n== listings of {WORKLOADS} workloads, {requests} requests each ==");
    for route in ["v6/services", "v10/images"] {
        let url = format!("{base}/{route}");
        // The first answer loads git at the synced revision: not timed.
        let first = client.get(&url).send().await?;
        assert_eq!(first.status(), 200);
        let size = first.bytes().await?.len();
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            let answer = client.get(&url).send().await?;
            assert_eq!(answer.status(), 200);
            let _ = answer.bytes().await?;
            times.push(started.elapsed());
        }
        times.sort();
        // Allocations apart from the timings: dhat's profiler records a
        // backtrace per allocation, which would swamp them.
        let profiler = dhat::Profiler::builder()
            .testing()
            .trim_backtraces(Some(1))
            .build();
        let heap_before = dhat::HeapStats::get();
        const COUNTED: u64 = 2;
        for _ in 0..COUNTED {
            let _ = client.get(&url).send().await?.bytes().await?;
        }
        let heap_after = dhat::HeapStats::get();
        drop(profiler);
        let blocks = (heap_after.total_blocks - heap_before.total_blocks) / COUNTED;
        let bytes = (heap_after.total_bytes - heap_before.total_bytes) / COUNTED;
        println!(
            "GET /{route:<12} p50 {}  p95 {}  {blocks} allocations ({:.1} MiB) per request, answer {:.1} KiB",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            bytes as f64 / 1048576.0,
            size as f64 / 1024.0
        );
    }
    let mut kubectl_times = Vec::new();
    for _ in 0..5 {
        let mut command = cluster.admin().kubectl()?;
        command.args([
            "get",
            "deployments,daemonsets,statefulsets,cronjobs",
            "-A",
            "-o",
            "json",
        ]);
        command.stdout(std::process::Stdio::null());
        let started = Instant::now();
        assert!(command.status()?.success());
        kubectl_times.push(started.elapsed());
    }
    kubectl_times.sort();
    println!(
        "kubectl get (4 kinds) -A -o json   p50 {}  (5 runs)",
        ms(percentile(&kubectl_times, 0.5))
    );

    // The listing server (and its cache's watches) is done.
    listing_server.abort();

    // Polling during a daemon's sync.
    let poll = Duration::from_millis(env_number("API_BENCH_POLL_MS", 500));
    println!(
        "\n== fluxd syncing {WORKLOADS} new objects, alone and with {POLLERS} clients polling every {} ==",
        ms(poll)
    );
    let mut polling = PollingDaemon::start(&cluster, dir.path()).await?;
    let job = polling.policy_job(&client).await?;
    let jobs_url = format!("{}/v6/jobs?id={job}", polling.base);
    let services_url = format!("{}/v11/services?services=dj:deployment/app-0", polling.base);
    // Rounds of four syncs (alone, pollers on jobs, pollers on services,
    // alone), so each condition's median is over several syncs.
    let conditions: [(&str, Option<&str>); 4] = [
        ("a", None),
        ("b", Some("GET /v6/jobs?id=<job>")),
        ("c", Some("GET /v11/services?services=<id>")),
        ("d", None),
    ];
    let mut alone = Vec::new();
    let mut polled: Vec<(&str, Vec<Duration>, usize, usize)> = conditions
        .iter()
        .filter_map(|(_, what)| what.map(|w| (w, Vec::new(), 0, 0)))
        .collect();
    for round in 0..rounds {
        for (letter, pollers) in conditions {
            let tree = format!("s{letter}{round}");
            let url = match pollers {
                Some(what) if what.contains("jobs") => Some(&jobs_url),
                Some(_) => Some(&services_url),
                None => None,
            };
            let swarm = url.map(|url| Pollers::start(&client, url, poll));
            if swarm.is_some() {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let requests_before = cluster.request_counts().await?;
            let cpu_before = support::cpu_seconds(&cluster);
            let took = polling.sync_tree(&tree).await?;
            let requests = cluster.request_counts().await?.since(&requests_before);
            let cpu = cpu_used(&cpu_before, &support::cpu_seconds(&cluster));
            let what = match (swarm, pollers) {
                (Some(swarm), Some(what)) => {
                    let (served, failed) = swarm.stop().await;
                    if let Some(row) = polled.iter_mut().find(|row| row.0 == what) {
                        row.1.push(took);
                        row.2 += served;
                        row.3 += failed;
                    }
                    what
                }
                _ => {
                    alone.push(took);
                    "alone"
                }
            };
            println!(
                "  tree {tree} ({what}): {}; {} API server requests; CPU seconds: {cpu}",
                secs(took),
                requests.total()
            );
            if std::env::var_os("API_BENCH_REQUESTS_DETAIL").is_some() {
                let mut top: Vec<_> = requests.iter().collect();
                top.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
                for (key, count) in top.into_iter().take(8) {
                    println!("    {count:>6} {} {}/{}", key.verb, key.group, key.resource);
                }
            }
        }
    }
    // The cluster grows slower as trees come and go, so each polled sync is
    // compared with the two syncs alone of its own round (before and after).
    let rounds = rounds as usize;
    let mut alone_by_round = alone
        .chunks(2)
        .map(|pair| pair.iter().sum::<Duration>().as_secs_f64() / pair.len() as f64);
    let baselines: Vec<f64> = (0..rounds).filter_map(|_| alone_by_round.next()).collect();
    println!(
        "sync alone, {} runs                       {}",
        alone.len(),
        alone
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (what, times, served, failed) in polled {
        let mut changes: Vec<f64> = times
            .iter()
            .zip(&baselines)
            .map(|(took, baseline)| (took.as_secs_f64() / baseline - 1.0) * 100.0)
            .collect();
        let listed = changes
            .iter()
            .map(|change| format!("{change:+.1}%"))
            .collect::<Vec<_>>()
            .join(", ");
        changes.sort_by(f64::total_cmp);
        let median = changes[changes.len() / 2];
        println!(
            "sync with {POLLERS} x {what:<32} median {median:+.1}% against its round's syncs alone (rounds: {listed}); {served} requests answered, {failed} failed"
        );
        assert_eq!(failed, 0, "poll requests failed during the sync");
    }
    polling.process.stop(Duration::from_secs(30)).await;
    Ok(())
}

/// fluxd as a daemon (in this process, with its HTTP API on a loopback
/// port) over a repository of its own, synced into the same cluster.
struct PollingDaemon {
    process: tests::fluxd::InProcess,
    repo: GitFixture,
    url: String,
    base: String,
    metrics: String,
    previous: Option<String>,
}

impl PollingDaemon {
    async fn start(cluster: &ControlPlane, dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        std::fs::create_dir(dir.join("daemon-repo"))?;
        let repo = GitFixture::new(&dir.join("daemon-repo"), "main")?;
        repo.write(
            "dj/app.yaml",
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dj\n---\n{}",
                support::deployment("dj", 0)
            ),
        )?;
        let first = repo.commit_and_push("one workload")?;
        let url = format!("file://{}", repo.bare_path().display());
        let port = tests::net::free_port()?;
        let args = [
            "fluxd".to_owned(),
            format!("--git-url={url}"),
            "--git-branch=main".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
            format!("--git-mirror-dir={}", dir.join("daemon-work").display()),
            format!("--listen=127.0.0.1:{port}"),
            "--registry-include-image=127.0.0.1:*".to_owned(),
            "--git-poll-interval=1h".to_owned(),
            "--sync-interval=1h".to_owned(),
            "--automation-interval=1h".to_owned(),
        ];
        let process = tests::fluxd::InProcess::start(args, Duration::from_secs(120)).await?;
        let daemon = Self {
            process,
            repo,
            url,
            base: format!("http://127.0.0.1:{port}/api/flux"),
            metrics: format!("http://127.0.0.1:{port}/metrics"),
            previous: None,
        };
        daemon.applied(&first).await?;
        Ok(daemon)
    }

    /// Waits until the daemon applied `revision`.
    async fn applied(&self, revision: &str) -> Result<(), Box<dyn std::error::Error>> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self
            .process
            .daemon
            .applied()
            .map(|r| r.to_string())
            .as_deref()
            != Some(revision)
        {
            if Instant::now() > deadline {
                return Err(format!("fluxd did not apply {revision} within 5 minutes").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// A finished policy job (the workload locked), whose status the
    /// pollers ask for, as `fluxctl` does while it waits.
    async fn policy_job(
        &self,
        client: &reqwest::Client,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let body = serde_json::json!({
            "type": "policy",
            "cause": {"Message": "bench", "User": "bench"},
            "spec": {"dj:deployment/app-0": {"add": {"locked": "true"}, "remove": {}}},
        });
        let answer = client
            .post(format!("{}/v9/update-manifests", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)
            .send()
            .await?;
        let status = answer.status();
        let bytes = answer.bytes().await?;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let job: String = serde_json::from_slice(&bytes)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status: serde_json::Value = serde_json::from_slice(
                &client
                    .get(format!("{}/v6/jobs?id={job}", self.base))
                    .send()
                    .await?
                    .bytes()
                    .await?,
            )?;
            match status["StatusString"].as_str() {
                Some("succeeded") => break,
                Some("failed") => return Err(format!("the policy job failed: {status}").into()),
                _ if Instant::now() > deadline => {
                    return Err(format!("the policy job did not finish: {status}").into());
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.repo.git(["pull", "--quiet", "origin", "main"])?;
        let head = self.repo.git(["rev-parse", "HEAD"])?;
        // The job syncs its own commit.
        self.applied(head.trim()).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(job)
    }

    async fn notify(&self) -> Result<(), Box<dyn std::error::Error>> {
        use fluxd::contract::JobQueue as _;
        self.process
            .daemon
            .notify(fluxd::api::Change::Git(fluxd::api::GitUpdate {
                url: self.url.clone(),
                branch: "main".to_owned(),
            }))
            .await
            .map_err(|e| format!("notify: {e}"))?;
        Ok(())
    }

    /// The sum and count of successful syncs' durations, from `/metrics`.
    async fn sync_seconds(&self) -> Result<(f64, u64), Box<dyn std::error::Error>> {
        let text = reqwest::get(&self.metrics).await?.text().await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("flux_daemon_sync_duration_seconds_sum{success=\"true\"}"),
            value("flux_daemon_sync_duration_seconds_count{success=\"true\"}") as u64,
        ))
    }

    /// Replaces the previous generated tree with `prefix`'s (1,000 new
    /// objects; garbage collection is off, so nothing is deleted), tells
    /// the daemon, and returns the sync's duration as fluxd measured it.
    async fn sync_tree(&mut self, prefix: &str) -> Result<Duration, Box<dyn std::error::Error>> {
        if let Some(previous) = self.previous.take() {
            self.repo.git(["rm", "-r", "-q", previous.as_str()])?;
        }
        support::write_tree(&self.repo.work_path().join(prefix), prefix, WORKLOADS)?;
        let revision = self.repo.commit_and_push(&format!("tree {prefix}"))?;
        self.previous = Some(prefix.to_owned());
        let (sum, count) = self.sync_seconds().await?;
        self.notify().await?;
        self.applied(&revision).await?;
        let (sum_after, count_after) = self.sync_seconds().await?;
        if count_after != count + 1 {
            println!(
                "({} syncs while applying tree {prefix})",
                count_after - count
            );
        }
        Ok(Duration::from_secs_f64(sum_after - sum))
    }
}

/// Clients polling one URL until stopped.
struct Pollers {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pollers {
    fn start(client: &reqwest::Client, url: &str, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks = (0..POLLERS)
            .map(|_| {
                let (client, stop, served, failed) =
                    (client.clone(), stop.clone(), served.clone(), failed.clone());
                let url = url.to_owned();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let ok = match client.get(&url).send().await {
                            Ok(answer) if answer.status() == 200 => answer.bytes().await.is_ok(),
                            _ => false,
                        };
                        let counter = if ok { &served } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(every).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            served,
            failed,
            tasks,
        }
    }

    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        (
            self.served.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// CPU seconds each process used between two readings, as one line.
fn cpu_used(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> String {
    after
        .iter()
        .map(|(name, seconds)| {
            let used = seconds - before.get(name).copied().unwrap_or(0.0);
            format!("{name} {used:.1}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A set of one manifest, written under `dir/<name>`.
fn set_of_text(dir: &Path, name: &str, yaml: &str) -> SyncSet {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("manifest.yaml"), yaml).unwrap();
    set_of(&root, name)
}
