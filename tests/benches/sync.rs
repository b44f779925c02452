//! The apply engine at scale, beside `kubectl apply --server-side`.
//!
//! For each size (1,000 and 10,000 objects by default: a quarter each of
//! ConfigMaps, Secrets, Services and Deployments, over ten namespaces), in
//! one run, on a private control plane for each of two orders (kubectl
//! first, then the engine first: whoever applies second meets a fuller
//! cluster and is slower for it):
//!
//! 1. `kubectl apply --server-side -R -f` of the generated tree into ten
//!    namespaces of its own;
//! 2. the engine's first sync of the same tree (loaded with
//!    `manifests::load`) into ten other namespaces;
//! 3. after the second order only, a no-op re-sync by the same engine; then a restarted daemon, a child
//!    process that loads the tree, runs discovery and syncs once, with and
//!    without garbage collection;
//!
//! each timed, with the requests it caused counted by verb from the
//! apiserver's `apiserver_request_total` (the controllers' included) and,
//! for the engine, by method from its own client; CPU seconds of every
//! process involved. Peak memory: kubectl's and the restarted daemon's
//! high-water mark for the whole process; for phases 2 and 3 this process's
//! high-water mark since the phase began (reset through
//! `/proc/self/clear_refs`, so it includes heap kept from earlier phases).
//!
//! This is a bench-like binary (`harness = false`): one run of a size takes
//! minutes (kubectl), and criterion's ten samples would multiply that for no
//! better number. Sizes: `SYNC_BENCH_SIZES=1000,10000`; engine concurrency:
//! `SYNC_BENCH_CONCURRENCY` (default the engine's); `SYNC_BENCH_HEADLESS=1`
//! makes the Services headless (no ClusterIP, and no IPAddress object, to
//! allocate); `SYNC_BENCH_ENGINE_FIRST=1` (or `0`) runs only the order with
//! the engine (or kubectl) first. The ratio quoted is the geometric mean of
//! the orders'. Run with
//! `cargo bench -p tests --bench sync`.

// A benchmark that cannot set up has nothing to measure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use manifests::cluster::{Engine, EngineConfig, GarbageCollection, ResourceOutcome, SyncSet};
use manifests::{LoadOptions, load};
use tests::controlplane::ControlPlane;
use tests::recording::{RequestLog, recording_client};

mod support;

use support::{
    NAMESPACES, cpu_seconds, field_kib, peak_rss_kib, report_cpu, report_phase, reset_peak_rss,
    secs, settle, stat_cpu_seconds, write_tree,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The engine's phase timings: RUST_LOG=manifests=info (the default).
    let runtime = support::runtime("manifests=info")?;
    match std::env::var(CHILD_ENV) {
        Ok(spec) => runtime.block_on(child(&spec)),
        Err(_) => runtime.block_on(run()),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::var("SYNC_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".to_owned())
        .split(',')
        .filter_map(|size| size.trim().parse().ok())
        .collect();
    let concurrency = std::env::var("SYNC_BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(EngineConfig::default().concurrency);
    // Whoever applies second meets a fuller cluster and is slower for it
    // (measured: kubectl 21.8 s first, 28 to 31 s second, at 10,000): both
    // orders run, each on a fresh control plane, unless one is asked for.
    let orders: &[bool] = match std::env::var("SYNC_BENCH_ENGINE_FIRST").as_deref() {
        Ok("1") => &[true],
        Ok("0") => &[false],
        _ => &[false, true],
    };
    for size in sizes {
        let mut ratios = Vec::new();
        for (index, &engine_first) in orders.iter().enumerate() {
            let cluster = ControlPlane::private().await?;
            println!(
                "\n== {size} objects ({NAMESPACES} namespaces), engine concurrency {concurrency}, {} first ==",
                if engine_first { "engine" } else { "kubectl" }
            );
            let last = index + 1 == orders.len();
            ratios.push(bench_size(&cluster, size, concurrency, engine_first, last).await?);
        }
        let mean = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
        println!(
            "\n{size} objects: first sync {:.2}x kubectl's time (geometric mean of {} orders)",
            mean.exp(),
            ratios.len()
        );
    }
    Ok(())
}

/// One size in one order; the no-op phases only with `no_ops`. Returns
/// kubectl's time over the engine's for the first sync.
async fn bench_size(
    cluster: &ControlPlane,
    size: usize,
    concurrency: usize,
    engine_first: bool,
    no_ops: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let kubectl_dir = dir.path().join("kubectl");
    let engine_dir = dir.path().join("engine");
    write_tree(&kubectl_dir, "kc", size)?;
    write_tree(&engine_dir, "fx", size)?;
    cluster
        .admin()
        .apply_yaml(&support::namespaces(&["kc", "fx"]), "namespaces")
        .await?;
    settle(cluster).await?;

    // 1. kubectl, unless the engine goes first.
    let mut kubectl_time = None;
    if !engine_first {
        kubectl_time = Some(kubectl_phase(cluster, &kubectl_dir, dir.path()).await?);
    }

    // 2. The engine's first sync.
    let started = Instant::now();
    let loaded = load(&engine_dir, &["."], &LoadOptions::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let set = SyncSet {
        name: manifests::cluster::sync_set_name("ssh://git@example.com/bench", "main", &["."]),
        complete: true,
        resources: loaded.resources,
    };
    println!(
        "loaded {} resources in {}",
        set.resources.len(),
        secs(started.elapsed())
    );
    let config = EngineConfig::new()
        .with_concurrency(concurrency)
        .with_gc(GarbageCollection::On);
    let (engine, log) = engine(cluster, &config)?;
    let first = phase(cluster, &engine, &set, &log, "engine: first sync").await?;
    assert_eq!(
        first.counts().created,
        size,
        "{:?}",
        first.failures().next()
    );
    settle(cluster).await?;
    let kubectl_time = match kubectl_time {
        Some(time) => time,
        None => kubectl_phase(cluster, &kubectl_dir, dir.path()).await?,
    };
    let ratio = kubectl_time.as_secs_f64() / first.duration.as_secs_f64();
    println!(
        "first sync: {ratio:.2}x kubectl's time ({} first)",
        if engine_first { "engine" } else { "kubectl" }
    );
    if !no_ops {
        return Ok(ratio);
    }

    // 3. No-op re-syncs: the same engine, then a restarted daemon (a
    // process of its own, so its peak memory is all a daemon needs: loading,
    // discovery and the sync), with and without garbage collection.
    let again = phase(cluster, &engine, &set, &log, "engine: no-op re-sync").await?;
    assert_eq!(again.counts().unchanged, size);
    for gc in [true, false] {
        let name = if gc {
            "restarted daemon: no-op sync"
        } else {
            "restarted daemon: no-op, gc off"
        };
        let before = cluster.request_counts().await?;
        let cpu_before = cpu_seconds(cluster);
        let child = restarted_daemon(cluster, &engine_dir, concurrency, gc)?;
        let mut cpu_after = cpu_seconds(cluster);
        cpu_after.insert("daemon".to_owned(), child.cpu_seconds);
        let requests = cluster.request_counts().await?.since(&before);
        assert_eq!(child.unchanged, size, "{child:?}");
        let methods = BTreeMap::from([("GET".to_owned(), child.gets)]);
        report_phase(
            name,
            child.sync,
            &requests,
            Some((&methods, child.writes)),
            child.peak_kib,
        );
        println!(
            "    the daemon's whole run (load, discovery, sync): {}; resident after loading: {:.1} MiB",
            secs(child.total),
            child.loaded_kib as f64 / 1024.0
        );
        report_cpu(&cpu_before, &cpu_after);
    }
    Ok(ratio)
}

/// `kubectl apply --server-side -R -f <tree>`, timed and reported.
async fn kubectl_phase(
    cluster: &ControlPlane,
    tree: &Path,
    scratch: &Path,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let before = cluster.request_counts().await?;
    let cpu_before = cpu_seconds(cluster);
    let started = Instant::now();
    let mut command = cluster.admin().kubectl()?;
    command
        .args(["apply", "--server-side", "-R", "-f"])
        .arg(tree);
    let kubectl_peak = run_measuring_peak(command, &scratch.join("kubectl.stderr"))?;
    let kubectl_time = started.elapsed();
    let kubectl_requests = cluster.request_counts().await?.since(&before);
    report_phase(
        "kubectl apply --server-side",
        kubectl_time,
        &kubectl_requests,
        None,
        kubectl_peak.0,
    );
    let mut cpu_after = cpu_seconds(cluster);
    cpu_after.insert("kubectl".to_owned(), kubectl_peak.1);
    report_cpu(&cpu_before, &cpu_after);
    settle(cluster).await?;

    Ok(kubectl_time)
}

/// What a restarted daemon (a child process) reported.
#[derive(Debug)]
struct ChildReport {
    sync: Duration,
    total: Duration,
    unchanged: usize,
    gets: usize,
    writes: usize,
    peak_kib: u64,
    /// Resident memory once the tree is loaded, before the sync.
    loaded_kib: u64,
    cpu_seconds: f64,
}

/// The environment variable that makes this binary a restarted daemon:
/// `<kubeconfig>\t<tree>\t<concurrency>\t<gc: on|off>`.
const CHILD_ENV: &str = "SYNC_BENCH_CHILD";

/// Runs this binary as a restarted daemon over `tree` and reads its report.
fn restarted_daemon(
    cluster: &ControlPlane,
    tree: &Path,
    concurrency: usize,
    gc: bool,
) -> Result<ChildReport, Box<dyn std::error::Error>> {
    let spec = format!(
        "{}\t{}\t{concurrency}\t{}",
        cluster.kubeconfig_path().display(),
        tree.display(),
        if gc { "on" } else { "off" }
    );
    let output = Command::new(std::env::current_exe()?)
        .env(CHILD_ENV, spec)
        .env("RUST_LOG", "warn")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("CHILD "))
        .ok_or_else(|| {
            format!(
                "the restarted daemon reported nothing: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [
        sync,
        total,
        unchanged,
        gets,
        writes,
        peak_kib,
        cpu_seconds,
        loaded_kib,
    ] = fields[..]
    else {
        return Err(format!("bad child report: {line}").into());
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(ChildReport {
        sync: Duration::from_secs_f64(sync),
        total: Duration::from_secs_f64(total),
        unchanged: unchanged as usize,
        gets: gets as usize,
        writes: writes as usize,
        peak_kib: peak_kib as u64,
        loaded_kib: loaded_kib as u64,
        cpu_seconds,
    })
}

/// The restarted daemon: loads the tree, syncs it once, reports on stdout.
async fn child(spec: &str) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let parts: Vec<&str> = spec.split('\t').collect();
    let [kubeconfig, tree, concurrency, gc] = parts[..] else {
        return Err(format!("bad {CHILD_ENV}: {spec}").into());
    };
    let file = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default()).await?;
    let loaded = load(Path::new(tree), &["."], &LoadOptions::default());
    let set = SyncSet {
        name: manifests::cluster::sync_set_name("ssh://git@example.com/bench", "main", &["."]),
        complete: loaded.is_complete(),
        resources: loaded.resources,
    };
    let loaded_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| field_kib(&s, "VmRSS:"))
        .unwrap_or(0);
    let (client, log) = recording_client(&config)?;
    let engine = Engine::new(
        client,
        EngineConfig::new()
            .with_concurrency(concurrency.parse()?)
            .with_gc(if gc == "on" {
                GarbageCollection::On
            } else {
                GarbageCollection::Off
            }),
    )?;
    let report = engine.sync(&set).await;
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| stat_cpu_seconds(&stat))
        .unwrap_or(0.0);
    println!(
        "CHILD {} {} {} {} {} {} {own} {loaded_kib}",
        report.duration.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        report.counts().unchanged,
        log.count("GET"),
        log.writes().len(),
        peak_rss_kib(),
    );
    Ok(())
}

fn engine(
    cluster: &ControlPlane,
    config: &EngineConfig,
) -> Result<(Engine, RequestLog), Box<dyn std::error::Error>> {
    let (client, log) = recording_client(cluster.admin().config())?;
    Ok((Engine::new(client, config.clone())?, log))
}

/// One timed sync, reported.
async fn phase(
    cluster: &ControlPlane,
    engine: &Engine,
    set: &SyncSet,
    log: &RequestLog,
    name: &str,
) -> Result<manifests::cluster::SyncReport, Box<dyn std::error::Error>> {
    log.clear();
    reset_peak_rss();
    let before = cluster.request_counts().await?;
    let cpu_before = cpu_seconds(cluster);
    let report = engine.sync(set).await;
    let cpu_after = cpu_seconds(cluster);
    let requests = cluster.request_counts().await?.since(&before);
    let failures: Vec<_> = report.failures().take(3).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let writes = log.writes().len();
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    for request in log.all() {
        *methods.entry(request.method).or_default() += 1;
    }
    report_phase(
        name,
        report.duration,
        &requests,
        Some((&methods, writes)),
        peak_rss_kib(),
    );
    report_cpu(&cpu_before, &cpu_after);
    if report.counts().created == 0 && report.counts().pruned == 0 {
        assert!(
            report
                .results
                .iter()
                .all(|r| r.outcome == ResourceOutcome::Unchanged),
            "a no-op sync changed something"
        );
    }
    Ok(report)
}

/// Runs `command` to completion, failing on a non-zero exit; returns the
/// process's peak resident memory in KiB, as last read from /proc while it
/// ran, and its CPU seconds.
fn run_measuring_peak(
    mut command: Command,
    stderr: &Path,
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(stderr)?)
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let stat_path = format!("/proc/{}/stat", child.id());
    let (mut peak, mut cpu) = (0, 0.0);
    loop {
        if let Some(seconds) = std::fs::read_to_string(&stat_path)
            .ok()
            .and_then(|s| stat_cpu_seconds(&s))
        {
            cpu = seconds;
        }
        if let Some(kib) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| field_kib(&s, "VmHWM:"))
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            let errors = std::fs::read_to_string(stderr).unwrap_or_default();
            if !status.success() {
                return Err(format!("kubectl failed: {errors}").into());
            }
            if !errors.is_empty() {
                let lines = errors.lines().count();
                let first = errors.lines().next().unwrap_or_default();
                println!("kubectl wrote {lines} lines to stderr, the first: {first}");
            }
            return Ok((peak, cpu));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
