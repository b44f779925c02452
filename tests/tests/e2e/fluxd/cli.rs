//! The command line's failures: bad flags are errors naming the flag; a git
//! URL that cannot be reached fails a `--once` run with a clear message (and
//! never its credentials) but only gets logged, again and again, by a daemon
//! that keeps running; SIGTERM during a `--once` run gets the daemon's grace.

use std::time::Duration;

use tests::controlplane::ControlPlane;
use tests::git::silent::SilentServer;
use tests::net::free_port;

use super::{LOG_TIMEOUT, fluxd, run};

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (&["--git-poll-interval=5"], "--git-poll-interval"),
        (&["--sync-interval=5 minutes"], "--sync-interval"),
        (&["--git-timeout=0"], "--git-timeout"),
        (&["--sync-state=etcd"], "--sync-state"),
        (
            &["--k8s-allow-namespace=Not_A_Namespace"],
            "--k8s-allow-namespace",
        ),
        (&["--git-path=../outside"], "--git-path"),
        (&["--git-ssh-key=/nonexistent/identity"], "--git-ssh-key"),
        (&["--kubeconfig=/nonexistent/kubeconfig"], "--kubeconfig"),
    ];
    for (args, flag) in cases {
        let finished = run(&fluxd()
            .args(["--git-url", "file:///nonexistent/repo", "--once"])
            .args(args.iter().copied()));
        assert_eq!(finished.code(), Some(2), "{args:?}: {}", finished.output());
        assert!(
            finished.stderr.contains(flag),
            "{args:?}: {}",
            finished.output()
        );
    }
    let missing = run(&fluxd().arg("--once"));
    assert_eq!(missing.code(), Some(2), "{}", missing.output());
    assert!(missing.stderr.contains("--git-url"), "{}", missing.output());
    let bad_url = run(&fluxd().args(["--git-url", "ftp://example.com/repo", "--once"]));
    assert_eq!(bad_url.code(), Some(2), "{}", bad_url.output());
    assert!(bad_url.stderr.contains("--git-url"), "{}", bad_url.output());
}

#[tokio::test]
async fn an_unreachable_repository_fails_once_and_keeps_a_daemon_running() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-unreachable").await.unwrap();
    // Nothing listens on this port; the URL carries a password that must never show.
    let url = format!(
        "http://bot:hunter2@127.0.0.1:{}/team/config.git",
        free_port().unwrap()
    );
    let command = || {
        fluxd()
            .args(["--git-url", &url, "--git-timeout", "5s"])
            .args(["--k8s-allow-namespace", ns.name()])
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
    };

    let once = run(&command().arg("--once"));
    assert_eq!(once.code(), Some(1), "{}", once.output());
    assert!(once.stderr.contains("127.0.0.1"), "{}", once.output());
    assert!(!once.output().contains("hunter2"), "{}", once.output());

    let dir = tempfile::tempdir().unwrap();
    let mut daemon = command()
        .args(["--git-poll-interval", "1s"])
        .start(dir.path())
        .unwrap();
    let failures =
        |daemon: &tests::fluxd::Daemon| daemon.count_logs(|line| line.is("fetch failed"));
    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    while failures(&daemon) < 2 && std::time::Instant::now() < deadline {
        daemon.check_running().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(failures(&daemon) >= 2, "{}", daemon.log_text());
    daemon.check_running().unwrap();
    assert!(
        !daemon.log_text().contains("hunter2"),
        "{}",
        daemon.log_text()
    );
    daemon.stop();
}

/// SIGTERM while a `--once` run waits on a git server that never answers:
/// fluxd says it is stopping, lets the work go on for its grace, abandons
/// it and exits with errors, without waiting for the git timeout (5 min).
#[tokio::test]
async fn sigterm_during_a_once_run_gets_the_grace_then_exits() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-sigterm").await.unwrap();
    let silent = SilentServer::start().unwrap();
    let url = format!("http://127.0.0.1:{}/team/config.git", silent.addr().port());
    let command = fluxd()
        .args(["--git-url", &url, "--git-timeout", "5m", "--once"])
        .args(["--k8s-allow-namespace", ns.name()])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path());
    let finished = tokio::task::spawn_blocking(move || {
        command.run_terminated_at(Duration::from_secs(120), |line| line.is("starting"))
    })
    .await
    .unwrap()
    .unwrap();

    assert_eq!(finished.code(), Some(1), "{}", finished.output());
    let logs = finished.logs();
    let stopping = logs.iter().find(|line| line.is("stopping"));
    assert_eq!(
        stopping.and_then(|line| line.str("signal")),
        Some("SIGTERM"),
        "{}",
        finished.output()
    );
    assert!(
        logs.iter()
            .any(|line| line.is("stopping: abandoned start-up")),
        "{}",
        finished.output()
    );
}

/// `--help` lists the environment variables a flag reads, never their
/// values: a git URL with a token in `FLUXD_GIT_URL` stays out of it.
#[test]
fn help_never_prints_a_value_from_the_environment() {
    let finished = run(&fluxd()
        .env(
            "FLUXD_GIT_URL",
            "https://bot:ghp_s3cretT0ken@github.com/team/config",
        )
        .env("FLUXD_GIT_BRANCH", "secret-branch")
        .arg("--help"));
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    assert!(
        finished.stdout.contains("FLUXD_GIT_URL"),
        "{}",
        finished.output()
    );
    for secret in ["s3cret", "ghp_", "secret-branch"] {
        assert!(!finished.output().contains(secret), "{}", finished.output());
    }
}

/// Flux v1's flags: those asking for what fluxd does not do are usage
/// errors naming the flag and what to do; those meaning nothing here are one
/// warning each, and the run goes on; set to Flux's defaults they are quiet.
#[test]
fn flux_v1_flags_are_refused_warned_about_or_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let repo = super::repository(dir.path());
    repo.write("cm.yaml", &super::config_map("demo", "settings", "1"))
        .unwrap();
    repo.commit_and_push("a ConfigMap").unwrap();
    let url = super::file_url(&repo);
    let base = || fluxd().args(["--git-url", &url, "--dry-run"]);

    for (arg, flag) in [
        ("--connect=wss://cloud.weave.works/api/flux", "--connect"),
        ("--sops", "--sops"),
        ("--git-secret=true", "--git-secret"),
        ("--manifest-generation=true", "--manifest-generation"),
        ("--registry-require=ecr", "--registry-require"),
    ] {
        let refused = run(&base().arg(arg));
        assert_eq!(refused.code(), Some(2), "{arg}: {}", refused.output());
        let message = refused
            .stderr
            .lines()
            .find(|line| line.starts_with("fluxd: "))
            .unwrap_or_else(|| panic!("{arg}: {}", refused.output()));
        assert!(
            message.starts_with(&format!("fluxd: {flag}: ")),
            "{message}"
        );
        assert!(message.contains("remove"), "{message}");
    }

    let warned = run(&base().args([
        "--memcached-hostname=flux-memcached",
        "--k8s-in-cluster",
        "--kubernetes-kubectl=/usr/local/bin/kubectl",
        "--registry-use-labels=index.docker.io/example/*",
        "--sops=false",
        "--connect=",
    ]));
    assert_eq!(warned.code(), Some(0), "{}", warned.output());
    let warnings: Vec<String> = warned
        .logs()
        .iter()
        .filter(|line| line.level() == "WARN")
        .filter_map(|line| line.str("flag").map(str::to_owned))
        .collect();
    assert_eq!(
        warnings,
        // `--registry-use-labels` is acted on: no warning.
        [
            "--memcached-hostname",
            "--k8s-in-cluster",
            "--kubernetes-kubectl"
        ],
        "{}",
        warned.output()
    );
}

/// `--log-format fmt`, Flux v1's default: every line fluxd writes is
/// logfmt, values quoted only where Go's encoder quotes them, and the first
/// quoted value of a line is its first such field, so `cut -d '"' -f2`
/// (the seed's pipeline) picks it out of fluxd's real stderr.
#[test]
fn logfmt_lines_parse_and_cut_picks_the_first_quoted_field() {
    let dir = tempfile::tempdir().unwrap();
    let spaced = dir.path().join("a repo");
    std::fs::create_dir(&spaced).unwrap();
    let repo = super::repository(&spaced);
    repo.write("cm.yaml", &super::config_map("demo", "settings", "1"))
        .unwrap();
    repo.commit_and_push("a ConfigMap").unwrap();
    let url = super::file_url(&repo);
    let finished = run(&fluxd().args(["--git-url", &url, "--dry-run", "--log-format", "fmt"]));
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert!(!lines.is_empty(), "{}", finished.output());
    for line in &lines {
        assert!(line.starts_with("ts="), "{line}");
        assert!(
            tests::fluxd::parse_logfmt(line).is_some(),
            "not logfmt: {line}"
        );
    }
    let starting = finished
        .logs()
        .into_iter()
        .find(|line| line.is("starting"))
        .unwrap();
    assert_eq!(starting.str("url"), Some(url.as_str()), "{starting}");

    let mut shell = std::process::Command::new("sh")
        .args(["-c", "grep 'msg=starting' | cut -d '\"' -f2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut shell.stdin.take().unwrap(), finished.stderr.as_bytes())
        .unwrap();
    let output = shell.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{url}\n")
    );
}
