//! The Helm operator's resync over 200 unchanged HelmReleases (time, and helm
//! invocations per resync: the goal is zero), and the cost of one real
//! upgrade, with the real helm against the real control plane, as the seed's
//! restricted `flux` ServiceAccount.
//!
//! Then the program itself: `fluxd helm-operator` as a process with
//! `--workers 2` and `4`, 200 HelmReleases created before it starts: the
//! time until all of them succeeded, the helm invocations of the no-op
//! resyncs that follow (goal: zero), and the process's idle RSS and CPU per
//! resync interval (read from /proc). `HELMOPS_BENCH_PROGRAM=0` skips it,
//! `HELMOPS_BENCH_PROGRAM=only` runs it alone.
//!
//! Run: `cargo bench -p tests --bench helmops` (needs the test tools and the
//! control plane binaries: tests/scripts/install-test-deps.sh and
//! tests/scripts/build-controlplane.sh).

// A benchmark's set-up failing is a failed run: say what broke and stop.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use helmops::ReconcileOutcome;
use helmops::api::v1beta1;
use helmops::{Operator, OperatorConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use tests::fluxd::FluxdCommand;
use tests::helm::operator::{cluster, fixture_policy, write_helm_wrapper};
use tests::helm::{ChartRepository, configmap_chart, package_into_repo};

const RELEASES: usize = 200;

struct Fixture {
    operator: Operator,
    releases: Api<v1beta1::HelmRelease>,
    _repo: ChartRepository,
    _work: tempfile::TempDir,
    _flux: tests::controlplane::Kubeconfig,
    _rbac: tests::controlplane::SeedRbac,
}

async fn fixture() -> Fixture {
    let cluster = cluster().await.expect("control plane");
    let rbac = cluster.seed_rbac().await.expect("seed RBAC");
    let flux = rbac.flux_kubeconfig().await.expect("flux kubeconfig");
    let client = flux.client().expect("client");
    let demo = rbac.demo.name().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let helm = tests::tools::helm().expect("helm");
    let chart = configmap_chart(&work.path().join("hello"), "hello", "1.0.0").expect("chart");
    package_into_repo(&helm, &chart, &work.path().join("repo")).expect("package");
    let repo = ChartRepository::start(work.path().join("repo"), Some(("charts", "s3cret")))
        .await
        .expect("chart repository");
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some("repo-auth".to_owned()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    secret.data = Some(
        [("username", "charts"), ("password", "s3cret")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    Api::<Secret>::namespaced(client.clone(), &demo)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    for i in 0..RELEASES {
        let hr: v1beta1::HelmRelease = serde_json::from_value(serde_json::json!({
            "apiVersion": "flux.weave.works/v1beta1",
            "kind": "HelmRelease",
            "metadata": {"name": format!("app-{i:03}")},
            "spec": {
                "chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0", "chartPullSecret": {"name": "repo-auth"}},
                "values": {"data": {"index": i.to_string()}}
            }
        }))
        .expect("HelmRelease");
        releases
            .create(&PostParams::default(), &hr)
            .await
            .expect("create");
    }
    let log = work.path().join("helm.log");
    let wrapper = write_helm_wrapper(work.path(), &helm, &log).expect("wrapper");
    let operator = Operator::new(
        client,
        OperatorConfig::new()
            .with_helm_binary(wrapper)
            .with_kubeconfig(flux.path().to_path_buf())
            .with_allow_namespaces([demo])
            .with_state_dir(work.path().join("state"))
            .with_policy(fixture_policy()),
        None,
        None,
    )
    .await
    .expect("operator");
    operator.ready().await;
    // Install all of them once, two at a time.
    let started = Instant::now();
    let all = releases
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    for pair in all.chunks(2) {
        let results =
            futures::future::join_all(pair.iter().map(|hr| operator.reconcile_once(hr))).await;
        for (hr, result) in pair.iter().zip(results) {
            if !matches!(result, Ok(ReconcileOutcome::Installed(1))) {
                let now = releases.get(&hr.name_any()).await.expect("get");
                panic!("{}: {result:?}: {:?}", hr.name_any(), now.status);
            }
        }
    }
    eprintln!("installed {RELEASES} releases in {:?}", started.elapsed());
    Fixture {
        operator,
        releases,
        _repo: repo,
        _work: work,
        _flux: flux,
        _rbac: rbac,
    }
}

fn resync(c: &mut Criterion) {
    if std::env::var("HELMOPS_BENCH_PROGRAM").as_deref() == Ok("only") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fixture = runtime.block_on(fixture());
    let helm_before = fixture.operator.helm_invocations();
    let mut resyncs = 0u64;
    let mut group = c.benchmark_group("helmops");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("resync 200 unchanged HelmReleases", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let all = fixture
                    .releases
                    .list(&ListParams::default())
                    .await
                    .expect("list")
                    .items;
                for hr in &all {
                    let outcome = fixture
                        .operator
                        .reconcile_once(hr)
                        .await
                        .expect("reconcile");
                    assert!(
                        matches!(outcome, ReconcileOutcome::Skipped(_)),
                        "{}: {outcome:?}",
                        hr.name_any()
                    );
                }
            });
            resyncs += 1;
        });
    });
    let helm_calls = fixture.operator.helm_invocations() - helm_before;
    eprintln!(
        "helm invocations per resync of {RELEASES} unchanged releases: {} ({helm_calls} over {resyncs} resyncs)",
        helm_calls.checked_div(resyncs).unwrap_or(0)
    );
    assert_eq!(helm_calls, 0, "an unchanged resync ran helm");

    let mut round = 0u64;
    group.bench_function("one real upgrade", |b| {
        b.iter(|| {
            round += 1;
            runtime.block_on(async {
                let hr = fixture
                    .releases
                    .patch(
                        "app-000",
                        &PatchParams::default(),
                        &Patch::Merge(serde_json::json!({"spec": {"values": {"data": {"round": round.to_string()}}}})),
                    )
                    .await
                    .expect("patch");
                let outcome = fixture.operator.reconcile_once(&hr).await.expect("reconcile");
                assert!(matches!(outcome, ReconcileOutcome::Upgraded(_)), "{outcome:?}");
            });
        });
    });
    group.finish();
}

/// utime + stime of `pid`, in clock ticks, and its RSS in KiB.
fn proc_usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after ')'.
    let cpu = ticks(11) + ticks(12);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

/// The pid of the fluxd process (not its watchdog) whose command line mentions `marker`.
fn find_pid(marker: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            // The watchdog shell's command line names fluxd too; fluxd's starts with it.
            let program = cmdline.split('\0').next()?;
            (program.ends_with("fluxd-e2e") && cmdline.contains(marker)).then_some(pid)
        })
}

/// `fluxd helm-operator` as a process with `workers` workers.
fn program(runtime: &tokio::runtime::Runtime, workers: usize) {
    const INTERVAL: Duration = Duration::from_secs(10);
    runtime.block_on(async {
        let cluster = cluster().await.expect("control plane");
        let rbac = cluster.seed_rbac().await.expect("seed RBAC");
        let flux = rbac.flux_kubeconfig().await.expect("flux kubeconfig");
        let client = flux.client().expect("client");
        let demo = rbac.demo.name().to_owned();
        let work = tempfile::tempdir().expect("tempdir");
        let helm = tests::tools::helm().expect("helm");
        let chart = configmap_chart(&work.path().join("hello"), "hello", "1.0.0").expect("chart");
        package_into_repo(&helm, &chart, &work.path().join("repo")).expect("package");
        let repo = ChartRepository::start(work.path().join("repo"), None)
            .await
            .expect("chart repository");
        let releases: Api<v1beta1::HelmRelease> = Api::namespaced(client.clone(), &demo);
        for i in 0..RELEASES {
            let hr: v1beta1::HelmRelease = serde_json::from_value(serde_json::json!({
                "apiVersion": "flux.weave.works/v1beta1",
                "kind": "HelmRelease",
                "metadata": {"name": format!("app-{i:03}")},
                "spec": {
                    "chart": {"repository": repo.url(), "name": "hello", "version": "1.0.0"},
                    "values": {"data": {"index": i.to_string()}}
                }
            }))
            .expect("HelmRelease");
            releases.create(&PostParams::default(), &hr).await.expect("create");
        }
        let log = work.path().join("helm.log");
        let wrapper = write_helm_wrapper(work.path(), &helm, &log).expect("wrapper");
        let state = work.path().join(format!("state-workers-{workers}"));
        let interval = format!("{}s", INTERVAL.as_secs());
        let started = Instant::now();
        let mut operator = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
            .expect("fluxd")
            .arg("helm-operator")
            .arg("--kubeconfig")
            .arg(flux.path())
            .args(["--allow-namespace", &demo, "--listen", "127.0.0.1:0"])
            .arg("--helm-binary")
            .arg(&wrapper)
            .arg("--state-dir")
            .arg(&state)
            .args(["--workers", &workers.to_string(), "--allow-internal-urls"])
            .args(["--charts-sync-interval", &interval, "--status-update-interval", &interval])
            .args(["--tiller-namespace", rbac.kube_system.name()])
            .start(work.path())
            .expect("fluxd helm-operator");
        loop {
            let all = releases.list(&ListParams::default()).await.expect("list").items;
            let done = all
                .iter()
                .filter(|hr| {
                    hr.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
                })
                .count();
            if done == RELEASES {
                break;
            }
            operator.check_running().expect("fluxd helm-operator runs");
            assert!(started.elapsed() < Duration::from_secs(1800), "{done} converged");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let converged = started.elapsed();
        let calls = |log: &std::path::Path| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with("version"))
                .count()
        };
        let pid = find_pid(&state.display().to_string()).expect("the operator's pid");
        // Settle one interval (the last installs' own requeues), then measure three.
        tokio::time::sleep(INTERVAL).await;
        let helm_before = calls(&log);
        let (cpu_before, _) = proc_usage(pid);
        tokio::time::sleep(INTERVAL * 3).await;
        let (cpu_after, rss_kib) = proc_usage(pid);
        let helm_during = calls(&log) - helm_before;
        let ticks_per_second = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(100);
        let cpu_ms_per_interval = (cpu_after - cpu_before) * 1000 / ticks_per_second / 3;
        eprintln!(
            "fluxd helm-operator --workers {workers}: {RELEASES} releases converged from nothing in {:.1}s; \
             {helm_during} helm invocations over 3 no-op resyncs of {}s; idle RSS {:.1} MiB; \
             CPU {cpu_ms_per_interval} ms per resync interval",
            converged.as_secs_f64(),
            INTERVAL.as_secs(),
            rss_kib as f64 / 1024.0,
        );
        operator.stop();
        assert_eq!(helm_during, 0, "a no-op resync ran helm");
    });
}

fn programs(_c: &mut Criterion) {
    if std::env::var("HELMOPS_BENCH_PROGRAM").as_deref() == Ok("0") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for workers in [2, 4] {
        program(&runtime, workers);
    }
}

criterion_group!(benches, resync, programs);
criterion_main!(benches);
