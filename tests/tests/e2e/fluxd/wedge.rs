//! Nothing outside wedges the daemon: a git server that accepts connections
//! and never answers makes each fetch fail within --git-timeout (never
//! "still blocked"), and once it answers again the next poll syncs, with no
//! restart; an API server that cannot be reached during a sync leaves the
//! sync marker where it was, and the next sync that completes moves it.

use std::time::Duration;

use tests::controlplane::ControlPlane;
use tests::proxy::{Proxy, ProxyMode};
use tests::sshd::Sshd;

use super::{LOG_TIMEOUT, config_map, file_url, fluxd, repository, wait_for_incomplete};

#[tokio::test]
async fn a_silent_git_server_times_out_and_the_next_poll_syncs_once_it_answers() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-silent").await.unwrap();
    let sshd = Sshd::start().unwrap();
    let proxy = Proxy::start(tests::net::loopback(sshd.port())).unwrap();
    proxy.set_mode(ProxyMode::Silent);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("a.yaml", &config_map(ns.name(), "after-silence", "1"))
        .unwrap();
    let revision = repo.commit_and_push("first").unwrap();
    let mount = dir.path().join("mount");
    std::fs::create_dir(&mount).unwrap();
    std::fs::write(mount.join("identity"), sshd.client_key().unwrap()).unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        sshd.known_hosts_line_for_port(proxy.port()).unwrap(),
    )
    .unwrap();
    let url = format!(
        "ssh://root@127.0.0.1:{}{}",
        proxy.port(),
        repo.bare_path().display()
    );
    let mut daemon = fluxd()
        .args(["--git-url", &url, "--git-readonly"])
        .args([
            "--git-timeout",
            "2s",
            "--git-poll-interval",
            "1s",
            "--sync-interval",
            "1h",
        ])
        .args([
            "--k8s-namespace",
            ns.name(),
            "--k8s-allow-namespace",
            ns.name(),
        ])
        .arg("--k8s-secret-volume-mount-path")
        .arg(&mount)
        .arg("--git-known-hosts")
        .arg(&known_hosts)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .start(dir.path())
        .unwrap();
    // Two fetches in a row time out: the first left nothing blocked.
    daemon
        .wait_for_log(LOG_TIMEOUT, "two timed-out fetches", {
            let mut seen = 0;
            move |line| {
                if line.is("fetch failed")
                    && line.str("error").is_some_and(|e| e.contains("timed out"))
                {
                    seen += 1;
                }
                seen >= 2
            }
        })
        .unwrap();
    assert!(
        !daemon.log_text().contains("still blocked"),
        "{}",
        daemon.log_text()
    );

    // The server answers again: the next poll syncs.
    proxy.set_mode(ProxyMode::Forward);
    daemon
        .wait_for_log(LOG_TIMEOUT, "the sync after the silence", |line| {
            line.is("sync finished") && line.str("revision") == Some(revision.as_str())
        })
        .unwrap();
    daemon.check_running().unwrap();
    daemon.stop();
}

#[tokio::test]
async fn the_marker_stays_while_the_api_server_is_unreachable_and_moves_after() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-unreachable").await.unwrap();
    let api: std::net::SocketAddr = cluster
        .url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(api).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(cluster.kubeconfig_path()).unwrap();
    assert!(text.contains(cluster.url()), "{text}");
    std::fs::write(
        &kubeconfig,
        text.replace(cluster.url(), &format!("https://{}", proxy.addr())),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("a.yaml", &config_map(ns.name(), "a", "1"))
        .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = fluxd()
        .args(["--git-url", &file_url(&repo)])
        .args(["--git-poll-interval", "1s", "--sync-interval", "2s"])
        .args(["--k8s-allow-namespace", ns.name()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .start(dir.path())
        .unwrap();
    daemon
        .wait_for_log(LOG_TIMEOUT, "the marker at the first commit", |line| {
            line.is("moved the sync marker") && line.str("to") == Some(first.as_str())
        })
        .unwrap();

    // The API server cannot be reached: the new commit's sync does not
    // complete, and the marker stays at the first commit.
    proxy.set_mode(ProxyMode::Refuse);
    repo.write("b.yaml", &config_map(ns.name(), "b", "1"))
        .unwrap();
    let second = repo.commit_and_push("second").unwrap();
    let stayed = wait_for_incomplete(&mut daemon, &second);
    assert_eq!(stayed.str("at"), Some(first.as_str()), "{stayed}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(first.clone())
    );

    // It can be reached again: the next sync completes and moves the marker.
    proxy.set_mode(ProxyMode::Forward);
    daemon
        .wait_for_log(LOG_TIMEOUT, "the marker at the second commit", |line| {
            line.is("moved the sync marker") && line.str("to") == Some(second.as_str())
        })
        .unwrap();
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second)
    );
    daemon.stop();
}
