//! The control plane itself in trouble, on control planes of these tests'
//! own: kube-apiserver stopped and started again (a restart; connections
//! refused meanwhile), and etcd slow behind a TCP proxy that delays every
//! chunk between kube-apiserver and etcd. fluxd keeps running, says what
//! failed, keeps the marker where it was while nothing could be applied, and
//! converges once the fault clears; with a slow etcd the sync completes,
//! only slower (the durations are printed, never asserted).

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::controlplane::{ControlPlane, StartOptions};
use tests::fluxd::Daemon;

use super::{
    LOG_TIMEOUT, config_map, fluxd_on, repository, wait_for_cache_watch, wait_for_incomplete,
    wait_for_marker,
};

/// Waits for the `sync finished` line of `revision` once its marker moved;
/// returns the pass's duration in milliseconds.
fn wait_for_sync(daemon: &mut Daemon, revision: &str) -> u64 {
    wait_for_marker(daemon, revision);
    daemon
        .wait_for_log(LOG_TIMEOUT, "its summary", |line| {
            line.is("sync finished") && line.str("revision") == Some(revision)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()))
        .u64("duration_ms")
        .unwrap_or_default()
}

#[tokio::test]
async fn a_restarted_api_server_is_survived_and_the_next_sync_converges() {
    let cluster = ControlPlane::private().await.unwrap();
    let ns = cluster.namespace("fluxd-apiserver-restart").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("a.yaml", &config_map(ns.name(), "a", "1"))
        .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let port = tests::net::free_port().unwrap();
    let mut daemon = fluxd_on(&repo, &cluster, ns.name())
        .args(["--git-poll-interval", "1s", "--sync-interval", "2s"])
        .arg("--sync-garbage-collection")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .start(dir.path())
        .unwrap();
    wait_for_sync(&mut daemon, &first);

    cluster.stop_apiserver();
    repo.write("a.yaml", &config_map(ns.name(), "a", "2"))
        .unwrap();
    let second = repo.commit_and_push("second").unwrap();
    let stayed = wait_for_incomplete(&mut daemon, &second);
    assert_eq!(stayed.str("at"), Some(first.as_str()), "{stayed}");
    wait_for_cache_watch(&mut daemon, false);
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(first.clone())
    );
    daemon.check_running().unwrap();

    let down = std::time::Instant::now();
    cluster.start_apiserver().await.unwrap();
    eprintln!("kube-apiserver restarted in {:?}", down.elapsed());
    wait_for_sync(&mut daemon, &second);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let a = maps.get("a").await.unwrap();
    assert_eq!(
        a.data.unwrap_or_default().get("value").map(String::as_str),
        Some("2")
    );
    wait_for_cache_watch(&mut daemon, true);
    daemon.check_running().unwrap();
    daemon.stop();
}

#[tokio::test]
async fn a_slow_etcd_slows_the_sync_down_and_it_completes() {
    const MAPS: usize = 20;
    let cluster = ControlPlane::start_with(StartOptions::default().with_etcd_proxy())
        .await
        .unwrap();
    let etcd = cluster.etcd_proxy().unwrap();
    let ns = cluster.namespace("fluxd-slow-etcd").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    let write_all = |value: &str| {
        for n in 0..MAPS {
            repo.write(
                &format!("m{n}.yaml"),
                &config_map(ns.name(), &format!("m{n}"), value),
            )
            .unwrap();
        }
    };
    write_all("1");
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = fluxd_on(&repo, &cluster, ns.name())
        .args(["--git-poll-interval", "1s", "--sync-interval", "1h"])
        .start(dir.path())
        .unwrap();
    let created = wait_for_sync(&mut daemon, &first);

    // A delay before every chunk between kube-apiserver and etcd, both ways.
    let mut figures = vec![format!("created in {created} ms")];
    for (n, delay) in [20, 200].into_iter().enumerate() {
        etcd.set_delay(Duration::from_millis(delay));
        write_all(&format!("slow-{n}"));
        let slow = repo.commit_and_push(&format!("slow {n}")).unwrap();
        let took = wait_for_sync(&mut daemon, &slow);
        figures.push(format!(
            "changed with etcd {delay} ms slower per chunk in {took} ms"
        ));
    }
    etcd.set_delay(Duration::ZERO);
    write_all("3");
    let fast = repo.commit_and_push("fast again").unwrap();
    let fast_ms = wait_for_sync(&mut daemon, &fast);
    figures.push(format!("changed again without the delay in {fast_ms} ms"));
    eprintln!("sync of {MAPS} ConfigMaps: {}", figures.join("; "));
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    for n in 0..MAPS {
        let map = maps.get(&format!("m{n}")).await.unwrap();
        assert_eq!(
            map.data
                .unwrap_or_default()
                .get("value")
                .map(String::as_str),
            Some("3")
        );
    }
    daemon.check_running().unwrap();
    daemon.stop();
}
