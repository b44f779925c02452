//! The Helm operator's resync over 200 unchanged HelmReleases (time, and helm
//! invocations per resync: the goal is zero), and the cost of one real
//! upgrade, with the real helm against the real control plane, as the seed's
//! restricted `flux` ServiceAccount.
//!
//! Run: `cargo bench -p tests --bench helmops` (needs the test tools and the
//! control plane binaries: tests/scripts/install-test-deps.sh and
//! tests/scripts/build-controlplane.sh).

// A benchmark's set-up failing is a failed run: say what broke and stop.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use helmops::api::v1beta1;
use helmops::reconcile::Outcome;
use helmops::{Operator, OperatorConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use tests::helm::operator::{cluster, write_helm_wrapper};
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
        OperatorConfig {
            helm_binary: wrapper,
            kubeconfig: Some(flux.path().to_path_buf()),
            allow_namespaces: vec![demo],
            state_dir: work.path().join("state"),
            ..OperatorConfig::default()
        },
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
            if !matches!(result, Ok(Outcome::Installed(1))) {
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
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fixture = runtime.block_on(fixture());
    let helm_before = fixture.operator.helm().invocations();
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
                        matches!(outcome, Outcome::Skipped(_)),
                        "{}: {outcome:?}",
                        hr.name_any()
                    );
                }
            });
            resyncs += 1;
        });
    });
    let helm_calls = fixture.operator.helm().invocations() - helm_before;
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
                assert!(matches!(outcome, Outcome::Upgraded(_)), "{outcome:?}");
            });
        });
    });
    group.finish();
}

criterion_group!(benches, resync);
criterion_main!(benches);
