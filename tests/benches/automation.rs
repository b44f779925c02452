//! Image automation at scale, beside `skopeo list-tags`.
//!
//! 1,000 automated Deployments over 200 repositories of 100 tags each on a
//! local docker-registry, synced by fluxd (in this process) into a private
//! control plane from a git repository. Then:
//!
//! 1. an automation run when nothing is new, from the library's parts as
//!    the daemon's loop runs them (load the head's manifests, list the
//!    cluster's workloads, poll every repository, choose): its time, the
//!    registry requests per repository (goal 1) and the changes found (goal
//!    0, so no commit; the running daemon's commits are counted too), next
//!    to `skopeo list-tags` of the same 200 repositories, what a script
//!    watching for new tags would run;
//! 2. ten repositories get a newer tag: from the daemon being told
//!    (`notify`, as a registry webhook would) to the commit on the branch,
//!    and to the 50 Deployments using them running it;
//! 3. the end-to-end latency from `skopeo copy` of a newer tag to the
//!    cluster running it, with a 10 s poll interval and no notification.
//!
//! A bench-like binary (`harness = false`): setting up takes a minute and
//! each phase is measured a few times. Sizes: `AUTOMATION_BENCH_REPOS`,
//! `AUTOMATION_BENCH_TAGS`, `AUTOMATION_BENCH_WORKLOADS_PER_REPO`. The
//! registry rate limit is lifted (`--registry-rps`) so that fluxd, not the
//! limiter, is measured. Run with `cargo bench -p tests --bench automation`.

// A benchmark that cannot set up has nothing to measure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use fluxd::AutomationConfig;
use fluxd::api::{Change, ImageName, ImageUpdate};
use fluxd::contract::JobQueue as _;
use fluxd::internals::Automation;
use fluxd::internals::LiveWorkloads;
use tests::controlplane::ControlPlane;
use tests::fluxd::InProcess;
use tests::git::GitFixture;
use tests::registry::{BulkPusher, DockerRegistry, ImageSpec, OciLayout, skopeo_copy};
use tests::workloads::deployment;

/// Runs of the nothing-new automation.
const RUNS: usize = 5;
/// Runs of the skopeo copy to running latency.
const LATENCY_RUNS: usize = 3;
/// Longest any wait may take.
const TIMEOUT: Duration = Duration::from_secs(600);
/// The creation time of the generated tags' first image.
const BASE: i64 = 1_700_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run());
    // A git task of the stopped daemon may still block a thread.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Waits until `check` holds, polling every 50 ms.
async fn until<F, Fut>(what: &str, mut check: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !check().await {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// How many Deployments of `namespace` run an image ending in `suffix`.
async fn running(client: &kube::Client, namespace: &str, suffix: &str) -> usize {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&kube::api::ListParams::default()).await else {
        return 0;
    };
    list.items
        .iter()
        .filter(|d| {
            d.spec
                .template
                .spec
                .as_ref()
                .and_then(|s| s.containers[0].image.as_deref())
                .is_some_and(|i| i.ends_with(suffix))
        })
        .count()
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let repos = env_usize("AUTOMATION_BENCH_REPOS", 200);
    let tags = env_usize("AUTOMATION_BENCH_TAGS", 100);
    let per_repo = env_usize("AUTOMATION_BENCH_WORKLOADS_PER_REPO", 5);
    let workloads = repos * per_repo;
    println!("automation: {workloads} workloads over {repos} repositories x {tags} tags");

    let cluster = ControlPlane::private().await?;
    let ns = cluster.namespace("bench-auto").await?;
    let namespace = ns.name().to_owned();
    let client = cluster.client()?;
    let registry = DockerRegistry::start()?;
    let host = registry.host();
    let paths: Vec<String> = (0..repos).map(|i| format!("bench/app{i:03}")).collect();
    let pusher = BulkPusher::new(&registry.url(), None);
    let started = Instant::now();
    pusher.push_generated_all(&paths, tags, BASE, 16).await?;
    println!("push (setup)                 {}", secs(started.elapsed()));

    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("repo"))?;
    let repo = GitFixture::new(&dir.path().join("repo"), "main")?;
    let newest = format!("t{:03}", tags - 1);
    for (index, path) in paths.iter().enumerate() {
        let mut text = String::new();
        for copy in 0..per_repo {
            let _ = writeln!(
                text,
                "{}---",
                deployment(
                    &namespace,
                    &format!("w{index:03}-{copy}"),
                    &format!("{host}/{path}:{newest}"),
                    &["fluxcd.io/automated: \"true\""],
                )
            );
        }
        repo.write(&format!("deploy/app{index:03}.yaml"), &text)?;
    }
    let first = repo.commit_and_push("workloads")?;

    let fluxd = |interval: &str| {
        let args = [
            "fluxd".to_owned(),
            format!("--git-url=file://{}", repo.bare_path().display()),
            "--git-branch=main".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
            format!("--k8s-allow-namespace={namespace}"),
            format!("--git-mirror-dir={}", dir.path().join("work").display()),
            format!("--registry-insecure-host={host}"),
            "--registry-rps=100000".to_owned(),
            "--registry-burst=10000".to_owned(),
            format!("--automation-interval={interval}"),
            "--git-poll-interval=1s".to_owned(),
            "--sync-interval=10m".to_owned(),
        ];
        InProcess::start(args, TIMEOUT)
    };
    let started = Instant::now();
    // No polls of its own until phase 3: phase 2 tells it.
    let process = fluxd("1h").await?;
    let daemon = process.daemon.clone();
    until("the first sync", || async {
        running(&client, &namespace, &newest).await == workloads
    })
    .await?;
    println!(
        "first sync (setup)           {} for {workloads} Deployments",
        secs(started.elapsed())
    );

    // 1. Nothing new.
    let started = Instant::now();
    tests::registry::skopeo_list_all(&host, &paths, 4).await?;
    let skopeo_time = started.elapsed();
    println!(
        "skopeo list-tags             {} for {repos} repositories (4 at a time)",
        secs(skopeo_time)
    );
    let mut automation_config = AutomationConfig::default();
    automation_config.insecure_hosts = vec![host.clone()];
    automation_config.rps = 100_000.0;
    automation_config.burst = 10_000;
    let automation = Automation::new(
        automation_config,
        None,
        std::sync::Arc::new(fluxd::contract::NoObserver),
    )?;
    // The fixture's working copy is at the commit the daemon synced.
    let checkout = repo.work_path().to_owned();
    let loaded = manifests::load(&checkout, &["."], &manifests::LoadOptions::default());
    let live = LiveWorkloads::list(&client, std::slice::from_ref(&namespace)).await;
    automation
        .refresh_images(
            &loaded.resources,
            &live,
            Some(&client),
            std::slice::from_ref(&namespace),
        )
        .await;
    automation.poller().poll_all().await;
    let mut times = Vec::new();
    let mut requests = Vec::new();
    let mut found = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = manifests::load(&checkout, &["."], &manifests::LoadOptions::default());
        let live = LiveWorkloads::list(&client, std::slice::from_ref(&namespace)).await;
        let round = automation.poller().poll_all().await;
        let changes = automation.changes(&loaded.resources, &live);
        times.push(started.elapsed());
        requests.push(round.requests.total());
        found += changes.len();
    }
    let run_time = median(times.clone());
    println!(
        "automation run, nothing new  median {} (min {}, max {}); {:.2} registry requests per repository; {found} changes",
        secs(run_time),
        secs(*times.iter().min().unwrap()),
        secs(*times.iter().max().unwrap()),
        requests[0] as f64 / repos as f64
    );
    println!(
        "  / skopeo list-tags         {:.2}x",
        run_time.as_secs_f64() / skopeo_time.as_secs_f64()
    );
    let commits = repo.git_bare(["rev-list", "--count", &format!("{first}..main")])?;
    println!("commits by the daemon        {} (goal 0)", commits.trim());

    // 2. Ten repositories get a newer tag.
    let changed = 10.min(repos);
    let next = format!("t{tags:03}");
    for path in paths.iter().take(changed) {
        pusher.push_generated_tag(path, tags, BASE).await?;
    }
    let head = repo.origin_ref("refs/heads/main")?.unwrap_or_default();
    let started = Instant::now();
    for path in paths.iter().take(changed) {
        daemon
            .notify(Change::Image(ImageUpdate {
                name: ImageName {
                    domain: host.clone(),
                    image: path.clone(),
                },
            }))
            .await?;
    }
    until("the commit", || async {
        repo.origin_ref("refs/heads/main")
            .ok()
            .flatten()
            .unwrap_or_default()
            != head
    })
    .await?;
    let committed = started.elapsed();
    until("the cluster", || async {
        running(&client, &namespace, &next).await == changed * per_repo
    })
    .await?;
    let applied = started.elapsed();
    let message = repo.git_bare(["log", "-1", "--format=%s", "main"])?;
    println!(
        "{changed} new tags: notify to commit {}, to applied {} ({} Deployments); commit {:?}",
        secs(committed),
        secs(applied),
        changed * per_repo,
        message.trim()
    );

    // 3. skopeo copy to running, 10 s poll interval, no notification: a
    // restart (the state directory keeps the digest cache).
    process.stop(Duration::from_secs(30)).await;
    let process = fluxd("10s").await?;
    let mut layout = OciLayout::create(&dir.path().join("layout"))?;
    let mut latencies = Vec::new();
    for run in 0..LATENCY_RUNS.min(repos - changed) {
        let path = &paths[changed + run];
        let tag = format!("new{run}");
        layout.add_image(
            &tag,
            &ImageSpec::new("2030-01-01T00:00:00Z", &format!("{path} {tag}")),
        )?;
        let started = Instant::now();
        skopeo_copy(layout.dir(), &tag, &format!("{host}/{path}:{tag}"), None)?;
        until("the new image running", || async {
            running(&client, &namespace, &format!(":{tag}")).await == per_repo
        })
        .await?;
        latencies.push(started.elapsed());
    }
    println!(
        "skopeo copy to running       {} (10 s poll interval; median of {}, min {}, max {})",
        secs(median(latencies.clone())),
        latencies.len(),
        secs(*latencies.iter().min().unwrap()),
        secs(*latencies.iter().max().unwrap())
    );
    process.stop(Duration::from_secs(30)).await;
    Ok(())
}
