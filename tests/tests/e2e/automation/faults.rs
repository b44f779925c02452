//! Registry faults, with fluxd as a process (its logs are the evidence): a
//! registry that is down, one answering `429` with `Retry-After`, one
//! returning garbage. No commit while the data is missing, the reason in
//! the log, and automation resumes when the registry recovers.

use std::collections::HashMap;

use tests::controlplane::wait_for;
use tests::fluxd::FluxdCommand;
use tests::proxy::{Proxy, ProxyMode};
use tests::registry::{FrontConfig, Misbehaviour, RegistryFront};

use super::{Setup, TIMEOUT, deployment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_down_rate_limited_or_garbled_commits_nothing_then_resumes() {
    let mut setup = Setup::new("auto-faults").await;
    for name in ["app", "limited", "garbage"] {
        setup.push(name, "1.0.0", 1);
    }
    let mut misbehaviour = HashMap::new();
    misbehaviour.insert(
        "team/limited".to_owned(),
        Misbehaviour::RateLimit {
            times: 2,
            retry_after: "1".to_owned(),
        },
    );
    misbehaviour.insert("team/garbage".to_owned(), Misbehaviour::GarbageTags);
    let front = RegistryFront::start(FrontConfig {
        backend: setup.registry.url(),
        misbehaviour,
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    let proxy = Proxy::start(front.host().parse().unwrap()).unwrap();
    proxy.set_mode(ProxyMode::Refuse);
    let host = format!("127.0.0.1:{}", proxy.port());
    let ns = setup.ns.name().to_owned();
    for name in ["app", "limited", "garbage"] {
        let image = format!("{host}/team/{name}:1.0.0");
        setup
            .repo
            .write(
                &format!("deploy/{name}.yaml"),
                &deployment(&ns, name, &image, &["fluxcd.io/automated: \"true\""]),
            )
            .unwrap();
    }
    let first = setup.repo.commit_and_push("first").unwrap();

    let mut flags = setup.args(&[]);
    flags.retain(|f| !f.starts_with("--registry-insecure-host"));
    flags.push(format!("--registry-insecure-host={host}"));
    flags.push("--automation-interval=2s".to_owned());
    let mut fluxd = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap()
        .args(flags)
        .start(setup.dir.path())
        .unwrap();

    // Down: each container is skipped with the reason; nothing is committed.
    let skipped = fluxd
        .wait_for_log(TIMEOUT, "a skip while the registry is down", |line| {
            line.is("automation skips a container")
                && line.str("workload") == Some(format!("{ns}:deployment/app").as_str())
                && line
                    .str("reason")
                    .is_some_and(|r| r.starts_with("image data not available: "))
        })
        .unwrap();
    assert!(skipped.str("reason").unwrap().contains(&host), "{skipped}");
    for name in ["app", "limited", "garbage"] {
        setup.push(name, "1.1.0", 2);
    }
    let skips = |fluxd: &tests::fluxd::Daemon| {
        fluxd.count_logs(|line| line.is("automation skips a container"))
    };
    let before = skips(&fluxd);
    wait_for(TIMEOUT, "more skips", || async {
        skips(&fluxd) > before + 3
    })
    .await
    .unwrap();
    assert_eq!(setup.head(), first, "{}", fluxd.log_text());

    // Back up: the plain and the rate-limited repositories are released;
    // the garbled one is skipped with the registry's fault.
    proxy.set_mode(ProxyMode::Forward);
    let app = format!("{host}/team/app:1.1.0");
    let limited = format!("{host}/team/limited:1.1.0");
    wait_for(TIMEOUT, "both releases in git", || async {
        let head = setup.head();
        setup.show(&head, "deploy/app.yaml").contains(&app)
            && setup.show(&head, "deploy/limited.yaml").contains(&limited)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    let garbled = fluxd
        .wait_for_log(TIMEOUT, "the garbled repository's reason", |line| {
            line.is("automation skips a container")
                && line.str("workload") == Some(format!("{ns}:deployment/garbage").as_str())
                && line.str("reason").is_some_and(|r| {
                    r.contains("image data not available: ") && r.contains("team/garbage")
                })
        })
        .unwrap();
    assert!(!garbled.str("reason").unwrap().is_empty());
    let head = setup.head();
    assert!(
        setup
            .show(&head, "deploy/garbage.yaml")
            .contains(&format!("{host}/team/garbage:1.0.0"))
    );
    wait_for(TIMEOUT, "the releases in the cluster", || async {
        setup.live_image("limited").await.as_deref() == Some(limited.as_str())
    })
    .await
    .unwrap();
    fluxd.stop();
}

/// A registry that hangs, one that lies (a config blob that is not the one
/// its digest names, claiming the image was built in 2099), and one that
/// redirects blobs to another host which lies: nothing committed while they
/// do, each skip names the image and the host that answered, and the
/// releases are made once they answer honestly (the redirect stays: an
/// honest blob store on another host is fine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_slow_or_lying_commits_nothing_then_resumes() {
    let mut setup = Setup::new("auto-lies").await;
    for name in ["liar", "redirected", "slow"] {
        setup.push(name, "1.0.0", 1);
    }
    let blob_store = RegistryFront::start(FrontConfig {
        backend: setup.registry.url(),
        misbehaviour: HashMap::from([("team/redirected".to_owned(), Misbehaviour::WrongBlobs)]),
        ..FrontConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("starting the blob store: {e}"));
    let front = RegistryFront::start(FrontConfig {
        backend: setup.registry.url(),
        misbehaviour: HashMap::from([
            ("team/liar".to_owned(), Misbehaviour::WrongBlobs),
            (
                "team/redirected".to_owned(),
                Misbehaviour::RedirectBlobs {
                    to: format!("http://{}", blob_store.host()),
                },
            ),
        ]),
        ..FrontConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("starting the front: {e}"));
    let hanging = Proxy::start(
        setup
            .registry
            .host()
            .parse()
            .unwrap_or_else(|e| panic!("registry address: {e}")),
    )
    .unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    hanging.set_mode(ProxyMode::Silent);
    let slow_host = format!("127.0.0.1:{}", hanging.port());
    let ns = setup.ns.name().to_owned();
    let host_of = |name: &str| {
        if name == "slow" {
            slow_host.clone()
        } else {
            front.host()
        }
    };
    for name in ["liar", "redirected", "slow"] {
        let image = format!("{}/team/{name}:1.0.0", host_of(name));
        setup
            .repo
            .write(
                &format!("deploy/{name}.yaml"),
                &deployment(&ns, name, &image, &["fluxcd.io/automated: \"true\""]),
            )
            .unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }
    let first = setup
        .repo
        .commit_and_push("first")
        .unwrap_or_else(|e| panic!("pushing: {e}"));
    for name in ["liar", "redirected", "slow"] {
        setup.push(name, "1.1.0", 2);
    }

    let mut flags = setup.args(&[]);
    flags.retain(|f| !f.starts_with("--registry-insecure-host"));
    flags.push(format!("--registry-insecure-host={}", front.host()));
    flags.push(format!("--registry-insecure-host={slow_host}"));
    flags.push(format!("--registry-insecure-host={}", blob_store.host()));
    flags.push("--automation-interval=2s".to_owned());
    let mut fluxd = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap_or_else(|e| panic!("fluxd: {e}"))
        .args(flags)
        .start(setup.dir.path())
        .unwrap_or_else(|e| panic!("starting fluxd: {e}"));

    // Each skip says which image, which host answered, and what was wrong.
    let skip_of = |fluxd: &mut tests::fluxd::Daemon, name: &str, parts: &[&str]| {
        let workload = format!("{ns}:deployment/{name}");
        fluxd
            .wait_for_log(TIMEOUT, &format!("the skip of {name}"), |line| {
                line.is("automation skips a container")
                    && line.str("workload") == Some(workload.as_str())
                    && line
                        .str("reason")
                        .is_some_and(|r| parts.iter().all(|part| r.contains(part)))
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()))
    };
    let liar = format!("http://{}/v2/team/liar/blobs/", front.host());
    skip_of(
        &mut fluxd,
        "liar",
        &[&liar, "config blob does not match its digest"],
    );
    let redirected_to = format!(
        "redirected to http://{}/v2/team/redirected/blobs/",
        blob_store.host()
    );
    skip_of(
        &mut fluxd,
        "redirected",
        &[&redirected_to, "config blob does not match its digest"],
    );
    skip_of(&mut fluxd, "slow", &[&slow_host, "team/slow", "timed out"]);
    assert_eq!(setup.head(), first, "{}", fluxd.log_text());

    // Honest again: every release is made, with the newest tag.
    front.set_misbehaviour("team/liar", None);
    blob_store.set_misbehaviour("team/redirected", None);
    hanging.set_mode(ProxyMode::Forward);
    wait_for(TIMEOUT, "the three releases in git", || async {
        let head = setup.head();
        ["liar", "redirected", "slow"].iter().all(|name| {
            setup
                .show(&head, &format!("deploy/{name}.yaml"))
                .contains(&format!("{}/team/{name}:1.1.0", host_of(name)))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    fluxd
        .check_running()
        .unwrap_or_else(|e| panic!("fluxd exited: {e}"));
    fluxd.stop();
}
