//! Checkout and commit-and-push over a generated repository of manifests, at
//! the sizes a GitOps repository reaches (1,000 and 5,000 YAML files in 100
//! directories).
//!
//! `cargo bench -p fluxd-gitsync --bench checkout`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fluxd_gitsync::{CommitRequest, GitUrl, Identity, Mirror, Remote, Revision};

/// A bare repository at `dir` whose `main` holds `files` manifests.
fn generate(dir: &Path, files: usize) {
    let repo = git2::Repository::init_bare(dir).unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    let per_dir = files.div_ceil(100);
    for d in 0..100 {
        let mut sub = repo.treebuilder(None).unwrap();
        for f in 0..per_dir {
            let i = d * per_dir + f;
            if i >= files {
                break;
            }
            let yaml = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{d}\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/team-{d}/app-{i}:1.0.{i}\n"
            );
            let blob = repo.blob(yaml.as_bytes()).unwrap();
            sub.insert(format!("app-{i}.yaml"), blob, 0o100644).unwrap();
        }
        let sub = sub.write().unwrap();
        root.insert(format!("team-{d}"), sub, 0o040000).unwrap();
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

struct Fixture {
    _dir: tempfile::TempDir,
    mirror: Mirror,
    head: Revision,
}

fn fixture(runtime: &tokio::runtime::Runtime, files: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin.git");
    generate(&origin, files);
    let remote = Remote::new(GitUrl::parse(&origin.display().to_string()).unwrap());
    let (mirror, head) = runtime.block_on(async {
        let mirror = Mirror::open(remote, dir.path().join("mirror"), None)
            .await
            .unwrap();
        let head = mirror.fetch().await.unwrap().revision;
        (mirror, head)
    });
    Fixture {
        _dir: dir,
        mirror,
        head,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("gitsync");
    group.sample_size(20);
    for files in [1_000, 5_000] {
        let fixture = fixture(&runtime, files);
        group.bench_function(format!("checkout/{files}-files"), |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |root| {
                    runtime
                        .block_on(fixture.mirror.checkout(fixture.head, root.path()))
                        .unwrap();
                    root
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("fetch-unchanged/{files}-files"), |b| {
            b.iter(|| runtime.block_on(fixture.mirror.fetch()).unwrap());
        });
        let mut n = 0u64;
        group.bench_function(format!("commit-and-push-one-edit/{files}-files"), |b| {
            b.iter(|| {
                n += 1;
                let tag = n;
                runtime
                    .block_on(fixture.mirror.commit_and_push(
                        CommitRequest::new("bump", Identity::new("bench", "bench@example.com")),
                        move |dir| {
                            let path = dir.join("team-0/app-0.yaml");
                            let text = std::fs::read_to_string(&path)?;
                            let at = text.rfind(':').unwrap_or(text.len());
                            std::fs::write(&path, format!("{}:{tag}\n", &text[..at]))?;
                            Ok(())
                        },
                    ))
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(checkout, benches);
criterion_main!(checkout);
