//! Crash safety of the Helm operator as a program (`fluxd helm-operator`):
//! killed with SIGKILL, helm with it (as when its container dies), while
//! helm upgrades or installs a release. Helm is left `pending-upgrade` or
//! `pending-install`; the restarted operator recovers it (a rollback to the
//! deployed revision, or an uninstall of a release that never deployed) and
//! releases again, ending `deployed` and `Succeeded`. The kills wait for
//! helm's pending record, then a random delay (seed printed,
//! `FLUXD_CRASH_SEED` picks it). One report line at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use helmops::api::v1;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tests::controlplane::Kubeconfig;
use tests::fluxd::{Daemon, FluxdCommand};
use tests::helm::operator::{cluster, wait_for, write_helm_wrapper_with_pids};
use tests::helm::{add_deployment, configmap_chart};

use super::support::{WAIT, repository_of, status, v1_release};

/// Upgrades killed; one install is killed besides.
const UPGRADE_KILLS: usize = 3;

fn slow_chart(dir: &Path) {
    configmap_chart(dir, "slow", "1.0.0").unwrap();
    add_deployment(dir).unwrap();
}

/// Helm's statuses of a release's revisions, oldest first.
fn history(flux: &Kubeconfig, namespace: &str, release: &str) -> Vec<String> {
    let output = tests::controlplane::run(flux.helm().unwrap().args([
        "history",
        release,
        "--namespace",
        namespace,
        "--output",
        "json",
    ]));
    let Ok(output) = output else {
        return Vec::new();
    };
    let entries: Vec<serde_json::Value> = serde_json::from_str(output.trim()).unwrap_or_default();
    entries
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until the newest revision of `release` is `wanted`.
async fn latest_is(flux: &Kubeconfig, namespace: &str, release: &str, wanted: &str) {
    let began = Instant::now();
    loop {
        let found = history(flux, namespace, release);
        if found.last().is_some_and(|s| s == wanted) {
            return;
        }
        assert!(
            began.elapsed() < WAIT,
            "{release} never became {wanted}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s != "Z"))
        })
        .unwrap_or(false)
}

struct Operator {
    command: FluxdCommand,
    dir: PathBuf,
    runs: usize,
    pids: PathBuf,
    calls: PathBuf,
}

impl Operator {
    fn start(&mut self) -> Daemon {
        self.runs += 1;
        let dir = self.dir.join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&dir).unwrap();
        self.command.start(&dir).unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(ToOwned::to_owned)
            .collect()
    }

    /// Fails if a helm this operator started outlived it.
    fn assert_no_helm_left(&self) {
        let pids = std::fs::read_to_string(&self.pids).unwrap_or_default();
        for line in pids.lines() {
            let pid = line.split_whitespace().next().unwrap_or_default();
            // SIGKILL is delivered, not waited for: give it a moment.
            let began = Instant::now();
            while alive(pid) && began.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(!alive(pid), "helm {line} outlived the killed operator");
        }
    }
}

/// Turns `wait` off on HelmRelease `name` (so its next release can finish
/// on a node-less control plane), starts the operator again and waits for
/// the release to succeed at its new generation; the operator and the helm
/// calls it made since.
async fn restart_without_wait(
    operator: &mut Operator,
    releases: &Api<v1::HelmRelease>,
    name: &str,
) -> (Daemon, Vec<String>) {
    releases
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"wait": false}})),
        )
        .await
        .unwrap();
    let before = operator.calls().len();
    let daemon = operator.start();
    wait_for(releases, name, "recovered after the restart", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Succeeded")
            && status(hr).observed_generation == hr.metadata.generation
    })
    .await
    .unwrap();
    (daemon, operator.calls().split_off(before))
}

#[tokio::test]
async fn a_killed_operator_leaves_pending_releases_that_its_restart_recovers() {
    let began = Instant::now();
    let seed = std::env::var("FLUXD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| u64::from(d.subsec_nanos()))
        });
    println!("crash seed {seed} (FLUXD_CRASH_SEED={seed} repeats it)");
    let mut state = seed.max(1);
    let mut delay = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_millis(state % 500)
    };
    let cluster = cluster().await.unwrap();
    let rbac = cluster.seed_rbac().await.unwrap();
    let flux = rbac.flux_kubeconfig().await.unwrap();
    let demo = rbac.demo.name().to_owned();
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(work.path(), &[("slow", &slow_chart)]).await;
    let pids = work.path().join("helm-pids.log");
    let calls = work.path().join("helm-calls.log");
    let helm = write_helm_wrapper_with_pids(
        work.path(),
        &tests::tools::helm().unwrap(),
        &calls,
        Some(&pids),
    )
    .unwrap();
    let command = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap()
        .arg("helm-operator")
        .arg("--kubeconfig")
        .arg(flux.path())
        .args(["--allow-namespace", &demo, "--allow-internal-urls"])
        .arg("--helm-binary")
        .arg(&helm)
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args([
            "--charts-sync-interval",
            "2s",
            "--status-update-interval",
            "1s",
        ])
        .args(["--tiller-namespace", rbac.kube_system.name()])
        .args(["--log-level", "info,helmops=debug,fluxd=debug"]);
    let mut operator = Operator {
        command,
        dir: work.path().to_owned(),
        runs: 0,
        pids,
        calls,
    };
    let mut daemon = operator.start();
    let releases: Api<v1::HelmRelease> = Api::namespaced(flux.client().unwrap(), &demo);
    let chart = serde_json::json!({"repository": repo.url(), "name": "slow", "version": "1.0.0"});
    releases
        .create(
            &PostParams::default(),
            &v1_release(
                "slow",
                &serde_json::json!({"chart": chart, "wait": false, "timeout": 600}),
            ),
        )
        .await
        .unwrap();
    wait_for(&releases, "slow", "installed", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Succeeded")
    })
    .await
    .unwrap();

    // Kills during `helm upgrade --wait` (pods never come on a node-less
    // control plane, so helm holds the release pending until killed).
    let name = format!("{demo}-slow");
    let mut kills = 0;
    let mut rollbacks = 0;
    for round in 0..UPGRADE_KILLS {
        let waiting =
            serde_json::json!({"spec": {"wait": true, "values": {"replicas": round + 2}}});
        releases
            .patch("slow", &PatchParams::default(), &Patch::Merge(waiting))
            .await
            .unwrap();
        latest_is(&flux, &demo, &name, "pending-upgrade").await;
        std::thread::sleep(delay());
        daemon.kill().unwrap();
        kills += 1;
        operator.assert_no_helm_left();
        let hr = releases.get("slow").await.unwrap();
        assert_eq!(
            status(&hr).phase.as_deref(),
            Some("Upgrading"),
            "round {round}"
        );
        assert_eq!(
            history(&flux, &demo, &name).last().map(String::as_str),
            Some("pending-upgrade")
        );
        let since;
        (daemon, since) = restart_without_wait(&mut operator, &releases, "slow").await;
        assert!(
            since
                .iter()
                .any(|c| c.starts_with(&format!("rollback {name}"))),
            "no rollback after the restart: {since:?}"
        );
        rollbacks += 1;
        assert_eq!(
            history(&flux, &demo, &name).last().map(String::as_str),
            Some("deployed")
        );
    }

    // A kill during the first install: the release never deployed, so the
    // restart removes it and installs again.
    let fresh = format!("{demo}-fresh");
    releases
        .create(
            &PostParams::default(),
            &v1_release(
                "fresh",
                &serde_json::json!({"chart": {"repository": repo.url(), "name": "slow", "version": "1.0.0"}, "wait": true, "timeout": 600}),
            ),
        )
        .await
        .unwrap();
    latest_is(&flux, &demo, &fresh, "pending-install").await;
    std::thread::sleep(delay());
    daemon.kill().unwrap();
    kills += 1;
    operator.assert_no_helm_left();
    let since;
    (daemon, since) = restart_without_wait(&mut operator, &releases, "fresh").await;
    assert!(
        since
            .iter()
            .any(|c| c.starts_with(&format!("uninstall {fresh}"))),
        "no uninstall after the restart: {since:?}"
    );
    assert_eq!(
        history(&flux, &demo, &fresh).last().map(String::as_str),
        Some("deployed")
    );
    daemon.stop();
    println!(
        "crash point {:<24} kills {kills:>3}  recovered {:>3} (rollbacks {rollbacks}, reinstalls 1)  in {:?}",
        "helm upgrade/install",
        rollbacks + 1,
        began.elapsed()
    );
}
