//! Registry polling at scale, beside `skopeo list-tags`.
//!
//! 200 repositories of 100 tags each (every tag a distinct image) are pushed
//! over HTTP to a local docker-registry. Then, in one run:
//!
//! 1. `skopeo list-tags` for every repository (four at a time, as the poller
//!    polls four repositories at a time), and `skopeo inspect` (manifest and
//!    config, what the poller reads per tag) of a sample of tags, extrapolated
//!    to all of them;
//! 2. the poller's first scan (tag lists, every manifest and config);
//! 3. re-polls with nothing new (goal: one request per repository);
//! 4. the first scan again in a fresh poller under dhat's heap statistics:
//!    heap held per 1,000 tags and the peak.
//!
//! This is a bench-like binary (`harness = false`) rather than a criterion
//! group: one first scan sends some 40,000 requests and takes seconds, and
//! criterion's minimum of ten samples (each needing a fresh poller) would
//! multiply the run for no better number; the re-poll is repeated and its
//! spread printed. Sizes can be changed with `REGISTRY_BENCH_REPOS` and
//! `REGISTRY_BENCH_TAGS`. Run with
//! `cargo bench -p tests --bench registry_poll`.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use registry_poller::{ClientConfig, Credentials, Poller, PollerConfig, Repository};
use tests::registry::{BulkPusher, DockerRegistry, skopeo_inspect};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Repositories polled (and skopeo processes run) at once.
const CONCURRENCY: usize = 4;
/// Re-polls timed.
const REPOLLS: usize = 5;
/// Tags `skopeo inspect`ed to estimate what skopeo would take to read every tag.
const INSPECT_SAMPLE: usize = 40;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

fn poller_config(host: &str) -> PollerConfig {
    PollerConfig::new()
        .with_concurrency(CONCURRENCY)
        .with_client(
            ClientConfig::new()
                .with_insecure_hosts([host])
                // Unthrottled: this measures the client, not the rate limit.
                .with_rps(1e9)
                .with_burst(1_000_000),
        )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let repos = env_usize("REGISTRY_BENCH_REPOS", 200);
    let tags = env_usize("REGISTRY_BENCH_TAGS", 100);
    let total_tags = repos * tags;
    println!("registry_poll: {repos} repositories x {tags} tags = {total_tags} tags");

    let registry = DockerRegistry::start()?;
    let host = registry.host();
    let paths: Vec<String> = (0..repos).map(|i| format!("bench/app{i:03}")).collect();

    let started = Instant::now();
    let pusher = BulkPusher::new(&registry.url(), None);
    pusher
        .push_generated_all(&paths, tags, 1_700_000_000, 16)
        .await?;
    println!("push (setup)           {}", secs(started.elapsed()));

    // skopeo list-tags, CONCURRENCY processes at a time.
    let started = Instant::now();
    let skopeo_tags = tests::registry::skopeo_list_all(&host, &paths, CONCURRENCY).await?;
    let skopeo_time = started.elapsed();
    println!(
        "skopeo list-tags       {} for {repos} repositories ({skopeo_tags} tags)",
        secs(skopeo_time)
    );

    // skopeo inspect of a sample of tags, CONCURRENCY at a time.
    let sample = INSPECT_SAMPLE.min(total_tags);
    let started = Instant::now();
    let inspected: Vec<Result<serde_json::Value, tests::Error>> = futures::stream::iter(0..sample)
        .map(|i| {
            let reference = format!("{host}/{}:t{:03}", paths[i % repos], i / repos % tags);
            async move {
                tokio::task::spawn_blocking(move || skopeo_inspect(&reference, None))
                    .await
                    .map_err(|e| tests::Error::http("skopeo task", e))?
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for result in inspected {
        result?;
    }
    let inspect_time = started.elapsed();
    let inspect_all = inspect_time.mul_f64(total_tags as f64 / sample as f64);
    println!(
        "skopeo inspect         {} for {sample} tags; {} extrapolated to all {total_tags}",
        secs(inspect_time),
        secs(inspect_all)
    );

    let repositories: Vec<(Repository, Credentials)> = paths
        .iter()
        .map(|p| {
            Ok((
                Repository::parse(&format!("{host}/{p}"))?,
                Credentials::none(),
            ))
        })
        .collect::<Result<_, registry_poller::Error>>()?;

    let poller = Poller::new(poller_config(&host))?;
    poller.set_repositories(repositories.clone());
    let started = Instant::now();
    let round = poller.poll_all().await;
    let scan_time = started.elapsed();
    let snapshot = poller.snapshot();
    if round.failed > 0 || snapshot.tag_count() != total_tags {
        return Err(format!(
            "first scan: {} failed, {} of {total_tags} tags",
            round.failed,
            snapshot.tag_count()
        )
        .into());
    }
    let r = round.requests;
    println!(
        "first scan             {} ({} requests: {} tags, {} manifest, {} blob, {} token; {:.0} requests/s)",
        secs(scan_time),
        r.total(),
        r.tags,
        r.manifest,
        r.blob,
        r.token,
        r.total() as f64 / scan_time.as_secs_f64()
    );
    println!(
        "first scan / skopeo    {:.2}x list-tags (which reads no manifests); {:.2}x list-tags + inspect of every tag (extrapolated)",
        scan_time.as_secs_f64() / skopeo_time.as_secs_f64(),
        scan_time.as_secs_f64() / (skopeo_time + inspect_all).as_secs_f64()
    );

    let mut times = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..REPOLLS {
        let started = Instant::now();
        let round = poller.poll_all().await;
        times.push(started.elapsed());
        requests.push(round.requests);
        if round.failed > 0 {
            return Err("re-poll failed".into());
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let per_repo = requests[0].total() as f64 / repos as f64;
    println!(
        "re-poll, nothing new   median {} (min {}, max {}); {} requests = {per_repo:.2} per repository ({} tags, {} manifest, {} blob)",
        secs(median),
        secs(times[0]),
        secs(times[times.len() - 1]),
        requests[0].total(),
        requests[0].tags,
        requests[0].manifest,
        requests[0].blob
    );
    println!(
        "re-poll / skopeo       {:.2}x (both read {repos} tag lists)",
        median.as_secs_f64() / skopeo_time.as_secs_f64()
    );
    drop(snapshot);
    drop(poller);

    // Memory: a fresh first scan under dhat's heap statistics.
    let profiler = dhat::Profiler::builder()
        .testing()
        .trim_backtraces(Some(1))
        .build();
    let poller = Poller::new(poller_config(&host))?;
    poller.set_repositories(repositories);
    let before = dhat::HeapStats::get();
    let round = poller.poll_all().await;
    let after = dhat::HeapStats::get();
    if round.failed > 0 {
        return Err("memory scan failed".into());
    }
    let held = after.curr_bytes.saturating_sub(before.curr_bytes);
    println!(
        "heap held after scan   {:.1} MiB = {:.1} KiB per 1,000 tags (snapshot, digest cache, client)",
        held as f64 / 1048576.0,
        held as f64 / 1024.0 / (total_tags as f64 / 1000.0)
    );
    println!(
        "heap peak              {:.1} MiB (whole process, during the scan)",
        after.max_bytes as f64 / 1048576.0
    );
    drop(poller);
    drop(profiler);
    println!(
        "peak RSS               {:.1} MiB (whole process, whole run)",
        peak_rss_kib() as f64 / 1024.0
    );
    Ok(())
}
