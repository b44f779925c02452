//! The daemon's side of a sync pass, before the engine talks to a cluster:
//! the checkout of the head (reused once made), loading its manifests on the
//! blocking pool, naming the sync set, and the offline plan a `--dry-run`
//! prints (each alone, then together), over a generated repository of 1,000 and 10,000 resources (two per
//! file, in 100 directories).
//!
//! `cargo bench -p fluxd --bench sync_pass`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluxd::GitSource;
use gitsync::{GitUrl, Head, Mirror, Remote};
use manifests::LoadOptions;
use manifests::cluster::{EngineConfig, plan_offline};

/// A bare repository at `dir` whose `main` holds `resources` resources, a
/// Deployment and its ConfigMap per file.
fn generate(dir: &Path, resources: usize) {
    let repo = git2::Repository::init_bare(dir).unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    let files = resources / 2;
    let per_dir = files.div_ceil(100);
    for d in 0..100 {
        let mut sub = repo.treebuilder(None).unwrap();
        for f in 0..per_dir {
            let i = d * per_dir + f;
            if i >= files {
                break;
            }
            let yaml = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{d}\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/team-{d}/app-{i}:1.0.{i}\n        envFrom:\n        - configMapRef: {{name: app-{i}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}\n  namespace: team-{d}\ndata:\n  LOG_LEVEL: info\n  INDEX: \"{i}\"\n"
            );
            let blob = repo.blob(yaml.as_bytes()).unwrap();
            sub.insert(format!("app-{i}.yaml"), blob, 0o100_644)
                .unwrap();
        }
        let sub = sub.write().unwrap();
        root.insert(format!("team-{d}"), sub, 0o040_000).unwrap();
    }
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let signature = git2::Signature::new(
        "bench",
        "bench@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();
    repo.commit(
        Some("refs/heads/main"),
        &signature,
        &signature,
        "generated",
        &tree,
        &[],
    )
    .unwrap();
    repo.set_head("refs/heads/main").unwrap();
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("sync_pass");
    group.sample_size(10);
    for resources in [1_000, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        generate(&origin, resources);
        let remote = Remote::new(GitUrl::parse(&origin.display().to_string()).unwrap());
        let (source, head): (GitSource, Head) = runtime.block_on(async {
            let mirror = Mirror::open(remote, dir.path().join("mirror"), None)
                .await
                .unwrap();
            let head = mirror.fetch().await.unwrap();
            let source = GitSource {
                mirror,
                checkouts: dir.path().join("checkouts"),
                paths: Vec::new(),
                load_options: LoadOptions::default(),
            };
            (source, head)
        });
        // Once outside the measurement: the checkout is made, and the load is complete.
        let loaded = runtime.block_on(source.load(&head)).unwrap();
        assert!(loaded.errors.is_empty(), "{:?}", &loaded.errors[..1]);
        assert_eq!(loaded.set.resources.len(), resources);

        group.throughput(Throughput::Elements(resources as u64));
        group.bench_function(format!("load/{resources}"), |b| {
            b.iter(|| runtime.block_on(source.load(&head)).unwrap());
        });
        group.bench_function(format!("plan_offline/{resources}"), |b| {
            b.iter(|| plan_offline(&loaded.set, &EngineConfig::default()));
        });
        group.bench_function(format!("load_and_plan_offline/{resources}"), |b| {
            b.iter(|| {
                let loaded = runtime.block_on(source.load(&head)).unwrap();
                let plan = plan_offline(&loaded.set, &EngineConfig::default());
                assert_eq!(plan.resources.len(), resources);
                plan
            });
        });
    }
    group.finish();
}

criterion_group!(sync_pass, benches);
criterion_main!(sync_pass);
