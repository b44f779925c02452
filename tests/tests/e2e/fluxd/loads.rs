//! One load of a revision's manifests, shared: with the HTTP API and image
//! automation on, each revision is loaded once (one `loaded manifests`
//! line), however often it is synced again, listed by the API or read by
//! automation runs; the API lists the policies of the revision synced.

use serde_json::Value;
use tests::fluxd::{Daemon, LogLine};

use super::{LOG_TIMEOUT, config_map, fluxd_on, repository, web_app};

/// The number of lines with `message` (and `revision`, when given).
fn count(daemon: &Daemon, message: &str, revision: Option<&str>) -> usize {
    daemon.count_logs(|line: &LogLine| {
        line.is(message) && revision.is_none_or(|r| line.str("revision") == Some(r))
    })
}

/// Waits until `daemon` has synced `revision` `syncs` times and run
/// automation twice more than `runs_before` times.
fn wait_for_repeats(daemon: &mut Daemon, revision: &str, syncs: usize, runs_before: usize) {
    let what = format!("{syncs} syncs of {revision} and two automation runs after");
    let started = std::time::Instant::now();
    loop {
        let synced = count(daemon, "sync finished", Some(revision));
        let runs = count(
            daemon,
            "polling for new images for automated workloads",
            None,
        );
        if synced >= syncs && runs >= runs_before + 2 {
            return;
        }
        assert!(
            started.elapsed() < LOG_TIMEOUT,
            "waiting for {what}: {synced} syncs, {runs} runs\n{}",
            daemon.log_text()
        );
        daemon
            .check_running()
            .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The workload `id` as `/api/flux/v6/services` lists it in `namespace`.
async fn listed(api: &str, namespace: &str, id: &str) -> Value {
    let answer = reqwest::get(format!("{api}/api/flux/v6/services?namespace={namespace}"))
        .await
        .unwrap_or_else(|e| panic!("listing workloads: {e}"));
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    let workloads: Vec<Value> =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    workloads
        .into_iter()
        .find(|w| w["ID"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revision_is_loaded_once_for_the_sync_the_api_and_automation() {
    let cluster = tests::controlplane::ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-loads").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("deploy/web.yaml", &web_app(ns.name(), 1))
        .unwrap();
    repo.write(
        "deploy/settings.yaml",
        &config_map(ns.name(), "settings", "one"),
    )
    .unwrap();
    let first = repo.commit_and_push("first").unwrap();

    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-poll-interval", "1s", "--sync-interval", "1s"])
        .args(["--automation-interval", "1s"])
        .start(dir.path())
        .unwrap();
    let api = daemon
        .api_url(LOG_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let id = format!("{}:deployment/web", ns.name());

    // Synced again and again, listed, read by automation: loaded once.
    wait_for_repeats(&mut daemon, &first, 3, 0);
    let web = listed(&api, ns.name(), &id).await;
    assert_eq!(web["Automated"], true, "{web}");
    assert_eq!(web["Locked"], false, "{web}");
    assert_eq!(web["ReadOnly"], "", "{web}");
    let runs = count(
        &daemon,
        "polling for new images for automated workloads",
        None,
    );
    wait_for_repeats(&mut daemon, &first, 4, runs);
    assert_eq!(
        count(&daemon, "loaded manifests", Some(&first)),
        1,
        "{}",
        daemon.log_text()
    );

    // A new revision: loaded once more, and the API lists its policies.
    let locked = web_app(ns.name(), 1).replace(
        "fluxcd.io/automated: \"true\"",
        "fluxcd.io/automated: \"true\"\n    fluxcd.io/locked: \"true\"",
    );
    repo.write("deploy/web.yaml", &locked).unwrap();
    let second = repo.commit_and_push("second").unwrap();
    let runs = count(
        &daemon,
        "polling for new images for automated workloads",
        None,
    );
    wait_for_repeats(&mut daemon, &second, 3, runs);
    let web = listed(&api, ns.name(), &id).await;
    assert_eq!(web["Locked"], true, "{web}");
    let runs = count(
        &daemon,
        "polling for new images for automated workloads",
        None,
    );
    wait_for_repeats(&mut daemon, &second, 4, runs);
    assert_eq!(
        count(&daemon, "loaded manifests", Some(&second)),
        1,
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        count(&daemon, "loaded manifests", Some(&first)),
        1,
        "{}",
        daemon.log_text()
    );
}
