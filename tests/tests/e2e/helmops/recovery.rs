//! Stopping and starting: a shutdown stops a running helm within its grace
//! and the release is retried; an operator killed in the middle of an
//! upgrade leaves `pending-upgrade`, which the next start rolls back and
//! releases again; CRDs applied after the operator started are watched
//! without a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helmops::api::{v1, v1beta1};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tests::controlplane::ControlPlane;
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, install_crds, wait_for};
use tests::helm::{add_deployment, configmap_chart};

use super::support::{RESYNC, WAIT, phase_is, repository_of, status, v1_release, v1beta1_release};

fn slow_chart(dir: &Path) {
    configmap_chart(dir, "slow", "1.0.0").unwrap();
    add_deployment(dir).unwrap();
}

/// Helm's statuses of a release's revisions, by revision.
fn history(run: &OperatorRun, release: &str) -> Vec<(i64, String)> {
    let output = tests::controlplane::run(run.flux.helm().unwrap().args([
        "history",
        release,
        "--namespace",
        run.demo(),
        "--output",
        "json",
    ]))
    .unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(output.trim()).unwrap();
    entries
        .iter()
        .map(|e| {
            (
                e["revision"].as_i64().unwrap_or_default(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until a helm process whose arguments contain all of `parts` has
/// started, beyond the first `seen` helm processes; its pid.
async fn helm_running(run: &OperatorRun, parts: &[&str], seen: usize) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((pid, _)) = run
            .helm_processes()
            .into_iter()
            .skip(seen)
            .find(|(_, args)| parts.iter().all(|p| args.contains(p)))
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "helm {parts:?} never started: {:?}",
            run.helm_calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn latest_status_is(run: &OperatorRun, release: &str, wanted: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let history = history(run, release);
        if history.last().is_some_and(|(_, s)| s == wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{release} never became {wanted}: {history:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn interrupted_helm_runs_are_stopped_and_recovered() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(work.path(), &[("slow", &slow_chart)]).await;
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    options.configure = Some(Arc::new(|config| {
        config.shutdown_grace = Duration::from_secs(1);
    }));
    let mut run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
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
    let name = format!("{demo}-slow");
    wait_for(&releases, "slow", "installed", WAIT, phase_is("Succeeded"))
        .await
        .unwrap();
    let waiting = |replicas: u32| serde_json::json!({"spec": {"wait": true, "values": {"replicas": replicas}}});
    let not_waiting = serde_json::json!({"spec": {"wait": false}});

    // A shutdown while helm waits for pods that never come: helm is sent
    // SIGTERM once the grace is over, and records the upgrade as failed.
    let seen = run.helm_processes().len();
    releases
        .patch("slow", &PatchParams::default(), &Patch::Merge(waiting(2)))
        .await
        .unwrap();
    helm_running(&run, &["upgrade", &name, "--wait"], seen).await;
    let stopping = Instant::now();
    run.stop().await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "the operator took {:?} to stop",
        stopping.elapsed()
    );
    latest_status_is(&run, &name, "failed").await;
    releases
        .patch(
            "slow",
            &PatchParams::default(),
            &Patch::Merge(not_waiting.clone()),
        )
        .await
        .unwrap();
    run.restart().await.unwrap();
    wait_for(
        &releases,
        "slow",
        "released after the restart",
        WAIT,
        |hr| {
            status(hr).phase.as_deref() == Some("Succeeded")
                && status(hr).observed_generation == hr.metadata.generation
        },
    )
    .await
    .unwrap();

    // An operator killed (helm with it) mid-upgrade leaves pending-upgrade;
    // the next start rolls it back to the deployed revision and releases again.
    let seen = run.helm_processes().len();
    releases
        .patch("slow", &PatchParams::default(), &Patch::Merge(waiting(3)))
        .await
        .unwrap();
    let pid = helm_running(&run, &["upgrade", &name, "--wait"], seen).await;
    latest_status_is(&run, &name, "pending-upgrade").await;
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    run.abort();
    let hr = releases.get("slow").await.unwrap();
    assert_eq!(status(&hr).phase.as_deref(), Some("Upgrading"));
    assert_eq!(
        history(&run, &name).last().map(|(_, s)| s.as_str()),
        Some("pending-upgrade")
    );
    releases
        .patch("slow", &PatchParams::default(), &Patch::Merge(not_waiting))
        .await
        .unwrap();
    run.restart().await.unwrap();
    wait_for(&releases, "slow", "recovered", WAIT, |hr| {
        status(hr).phase.as_deref() == Some("Succeeded")
            && status(hr).observed_generation == hr.metadata.generation
    })
    .await
    .unwrap();
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with(&format!("rollback {name}"))),
        "{:?}",
        run.helm_calls()
    );
    assert_eq!(
        history(&run, &name).last().map(|(_, s)| s.as_str()),
        Some("deployed")
    );
}

#[tokio::test]
async fn crds_applied_after_the_start_are_watched() {
    let cluster = ControlPlane::private().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(
        work.path(),
        &[("hello", &|d: &Path| {
            configmap_chart(d, "hello", "1.0.0").unwrap();
        })],
    )
    .await;
    let run = OperatorRun::start(
        &cluster,
        OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC),
    )
    .await
    .unwrap();
    install_crds(&cluster).await.unwrap();
    let client = run.flux.client().unwrap();
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client, run.demo());
    releases
        .create(
            &PostParams::default(),
            &v1beta1_release(
                "late",
                &serde_json::json!({"chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0"}, "values": {}}),
            ),
        )
        .await
        .unwrap();
    wait_for(
        &releases,
        "late",
        "released without a restart",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
}
