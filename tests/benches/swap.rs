//! The swap from Flux v1 at scale: the first sync after fluxd replaces Flux
//! v1 on a cluster Flux v1 synced, beside a no-op sync of a cluster fluxd
//! created itself.
//!
//! For each size (1,000 and 5,000 objects by default: a quarter each of
//! ConfigMaps, Secrets, Services and Deployments over ten namespaces), on a
//! private control plane:
//!
//! 1. **fluxd's own cluster**: the engine's first sync creates one tree;
//!    then a fresh engine (a restarted daemon: no memory of earlier syncs)
//!    syncs it again, changing nothing: the baseline.
//! 2. **Flux v1's sync**: what Flux v1.25 sent (the Flux v1 judge: its
//!    re-encoding, marks and checksums) applied with the real client-side
//!    `kubectl apply`, as Flux did: timed, as the tool it replaces.
//! 3. **the swap**: a fresh engine's first sync of that tree, unchanged
//!    since Flux's last sync: nothing to write.
//! 4. **the swap with changes**: a fresh engine's first sync once about a
//!    tenth of the manifests (every tenth document of a file: 120 of 1,000,
//!    520 of 5,000) changed since Flux's last sync: those, and only those,
//!    are written, each after its field ownership is taken over from kubectl
//!    (a metadata GET and a JSON patch before the apply).
//!
//! Each phase: time, the requests it caused (the apiserver's counters, the
//! controllers' included, and the engine's own client by method), writes,
//! CPU seconds, this process's peak memory since the phase began.
//! `SYNC_SWAP_SIZES=1000,5000`. Run with `cargo bench -p tests --bench swap`.
//!
//! Measured once on 2 cores shared with other builds (load average 7 to 8):
//! at 1,000 objects the swap's first sync took 0.33 s with 0 writes (a
//! restarted fluxd's no-op sync of its own cluster: 0.32 s), 1.25 s and 240
//! writes with 120 changed; Flux v1's kubectl apply of the same took 9.4 s.
//! At 5,000: 0.58 s, 0 writes (no-op: 0.55 s); 3.5 s, 1,040 writes with 520
//! changed; kubectl 34.7 s. Peak memory is higher than the no-op's (136 MiB
//! against 83 MiB at 5,000): Flux's objects carry kubectl's last-applied
//! annotation, a second copy of each object, until fluxd next applies them.

// A benchmark that cannot set up has nothing to measure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use manifests::cluster::{
    Engine, EngineConfig, GarbageCollection, ResourceOutcome, SyncReport, SyncSet,
};
use manifests::{LoadOptions, load};
use tests::controlplane::ControlPlane;
use tests::fluxv1::{apply_as_flux, flux_sync};
use tests::recording::recording_client;

mod support;

use support::{
    cpu_seconds, peak_rss_kib, report_cpu, report_phase, reset_peak_rss, secs, settle, write_tree,
};

/// The repository Flux v1 synced, as its `--git-url`, branch and path.
const URL: &str = "ssh://git@example.com/team/config";
/// The repository of the cluster fluxd created itself (another sync set:
/// neither prunes the other's objects).
const OWN_URL: &str = "ssh://git@example.com/team/own";
const BRANCH: &str = "master";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = support::runtime("warn")?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::var("SYNC_SWAP_SIZES")
        .unwrap_or_else(|_| "1000,5000".to_owned())
        .split(',')
        .filter_map(|size| size.trim().parse().ok())
        .collect();
    for size in sizes {
        let cluster = ControlPlane::private().await?;
        println!(
            "\n== {size} objects ({} namespaces) ==",
            support::NAMESPACES
        );
        bench_size(&cluster, size).await?;
    }
    Ok(())
}

async fn bench_size(cluster: &ControlPlane, size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let own = dir.path().join("own");
    let flux = dir.path().join("flux");
    write_tree(&own, "fx", size)?;
    write_tree(&flux, "fl", size)?;
    cluster
        .admin()
        .apply_yaml(&support::namespaces(&["fx", "fl"]), "namespaces")
        .await?;
    settle(cluster).await?;

    // 1. fluxd's own cluster, and a restarted daemon's no-op sync of it.
    let own_set = set_of(&own, OWN_URL);
    let created = timed(cluster, &own_set, "fluxd: first sync (creates)").await?;
    assert_eq!(created.counts().created, size);
    settle(cluster).await?;
    let baseline = timed(cluster, &own_set, "fluxd: no-op sync, restarted").await?;
    assert_eq!(baseline.counts().unchanged, size);

    // 2. Flux v1's sync, through the real client-side kubectl apply.
    let started = Instant::now();
    let synced = flux_sync(&flux, URL, BRANCH, &[], "default", &["Namespace"])?;
    let judged = started.elapsed();
    assert_eq!(synced.resources.len(), size);
    let before = cluster.request_counts().await?;
    let cpu_before = cpu_seconds(cluster);
    let started = Instant::now();
    apply_as_flux(cluster.admin(), &synced.yaml)?;
    let flux_time = started.elapsed();
    let requests = cluster.request_counts().await?.since(&before);
    report_phase(
        "Flux v1: kubectl apply (client-side)",
        flux_time,
        &requests,
        None,
        0,
    );
    report_cpu(&cpu_before, &cpu_seconds(cluster));
    println!(
        "    (its input computed by the Flux v1 judge in {})",
        secs(judged)
    );
    settle(cluster).await?;

    // 3. The swap, git unchanged since Flux's last sync.
    let flux_set = set_of(&flux, URL);
    let unchanged = timed(cluster, &flux_set, "swap: first sync, nothing changed").await?;
    assert_eq!(
        unchanged.counts().unchanged,
        size,
        "{:?}",
        unchanged.failures().next()
    );

    // 4. The swap, a tenth of the manifests changed since.
    let changed = change_a_tenth(&flux)?;
    let flux_set = set_of(&flux, URL);
    let swap = timed(cluster, &flux_set, "swap: first sync, ~a tenth changed").await?;
    assert_eq!(
        swap.counts().configured,
        changed,
        "{:?}",
        swap.failures().next()
    );
    assert_eq!(swap.counts().unchanged, size - changed);
    println!(
        "\n{size} objects: the swap's first sync takes {:.2}x a restarted fluxd's no-op sync \
         with nothing changed, {:.2}x with about a tenth changed; Flux v1's kubectl apply took {:.1}x",
        ratio(&unchanged, &baseline),
        ratio(&swap, &baseline),
        flux_time.as_secs_f64() / baseline.duration.as_secs_f64(),
    );
    Ok(())
}

fn ratio(a: &SyncReport, b: &SyncReport) -> f64 {
    a.duration.as_secs_f64() / b.duration.as_secs_f64()
}

/// The tree at `root` as fluxd loads it, its set named as Flux v1 named the
/// set of `url`'s `master`.
fn set_of(root: &Path, url: &str) -> SyncSet {
    let loaded = load(root, &["."], &LoadOptions::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let none: &[&str] = &[];
    SyncSet {
        name: manifests::cluster::sync_set_name(url, BRANCH, none),
        complete: true,
        resources: loaded.resources,
    }
}

/// Changes one manifest in ten (ConfigMaps' `LOG_LEVEL`, Secrets' token,
/// Services' port name, Deployments' env value); returns how many.
fn change_a_tenth(root: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let mut changed = 0;
    for entry in walk(root)? {
        let text = std::fs::read_to_string(&entry)?;
        let mut out = String::with_capacity(text.len());
        for (index, document) in text.split("---\n").enumerate() {
            if document.trim().is_empty() {
                continue;
            }
            let document = if index % 10 == 0 {
                changed += 1;
                document
                    .replacen("LOG_LEVEL: info", "LOG_LEVEL: debug", 1)
                    .replacen("token: dG9rZW4tMTIzNDU2", "token: dG9rZW4tNjU0MzIx", 1)
                    .replacen("- name: http\n    port: 80", "- name: web\n    port: 80", 1)
                    .replacen("value: \"", "value: \"changed-", 1)
            } else {
                document.to_owned()
            };
            out.push_str(&document);
            out.push_str("---\n");
        }
        std::fs::write(&entry, out)?;
    }
    Ok(changed)
}

fn walk(root: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for namespace in std::fs::read_dir(root)? {
        for file in std::fs::read_dir(namespace?.path())? {
            files.push(file?.path());
        }
    }
    files.sort();
    Ok(files)
}

/// A fresh engine's sync of `set`, timed and reported.
async fn timed(
    cluster: &ControlPlane,
    set: &SyncSet,
    name: &str,
) -> Result<SyncReport, Box<dyn std::error::Error>> {
    let (client, log) = recording_client(cluster.admin().config())?;
    let engine = Engine::new(client, EngineConfig::new().with_gc(GarbageCollection::On))?;
    reset_peak_rss();
    let before = cluster.request_counts().await?;
    let cpu_before = cpu_seconds(cluster);
    let report = engine.sync(set).await;
    let cpu_after = cpu_seconds(cluster);
    let requests = cluster.request_counts().await?.since(&before);
    let failures: Vec<_> = report.failures().take(3).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    for request in log.all() {
        *methods.entry(request.method).or_default() += 1;
    }
    report_phase(
        name,
        report.duration,
        &requests,
        Some((&methods, log.writes().len())),
        peak_rss_kib(),
    );
    report_cpu(&cpu_before, &cpu_after);
    if name.contains("nothing changed") {
        assert!(
            report
                .results
                .iter()
                .all(|r| r.outcome == ResourceOutcome::Unchanged)
        );
        assert_eq!(
            log.writes().len(),
            0,
            "the swap wrote to an unchanged cluster"
        );
    }
    Ok(report)
}
