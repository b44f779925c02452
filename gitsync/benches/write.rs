//! The write path at the sizes a GitOps repository reaches: commit-and-push
//! of one intention (a format-preserving image edit of one manifest, with a
//! git note) on 1,000 and 5,000 files, beside the git CLI doing the same
//! (clone, edit, commit, push); the same while another pusher pushes a
//! commit every second, a busy repository (how long, how many attempts);
//! and deploy-key generation beside `ssh-keygen`.
//!
//! `cargo bench -p fluxd-gitsync --bench write`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fluxd_gitsync::{
    CommitOutcome, CommitRequest, GitUrl, Identity, KeyPair, KeyType, Mirror, Note, Remote,
};
use manifests::{ResourceId, SourceLocation};

const NAMESPACES: usize = 100;

fn manifest(i: usize, d: usize, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i} # app {i}\n  namespace: team-{d}\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/team-{d}/app-{i}:{tag}\n"
    )
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A bare `origin.git` under `dir` whose `main` holds `files` manifests.
fn generate(dir: &Path, files: usize) -> PathBuf {
    let work = dir.join("seed");
    std::fs::create_dir_all(&work).unwrap();
    let per_dir = files.div_ceil(NAMESPACES);
    for i in 0..files {
        let d = i / per_dir;
        let sub = work.join(format!("team-{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("app-{i}.yaml")), manifest(i, d, "1.0.0")).unwrap();
    }
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", "generated"]);
    let origin = dir.join("origin.git");
    git(
        dir,
        &[
            "clone",
            "--quiet",
            "--bare",
            "seed",
            origin.to_str().unwrap(),
        ],
    );
    origin
}

/// The one intention: set the image of container `app` of `team-0:deployment/app-0`.
fn set_image(dir: &Path, tag: u64) -> Result<(), fluxd_gitsync::BoxError> {
    let path = dir.join("team-0/app-0.yaml");
    let text = std::fs::read_to_string(&path)?;
    let source = SourceLocation {
        path: "team-0/app-0.yaml".into(),
        document: 0,
        line: 1,
    };
    let id = ResourceId::namespaced("team-0", "Deployment", "app-0");
    let image = format!("registry.example.com/team-0/app-0:1.0.{tag}");
    let edited = manifests::edit::set_image(&text, &source, &id, "app", &image)?;
    std::fs::write(&path, edited)?;
    Ok(())
}

fn request(tag: u64) -> CommitRequest {
    let bot = Identity::new("Weave Flux", "support@weave.works");
    CommitRequest::new(format!("Release app-0:1.0.{tag}"), bot.clone())
        .with_note(Note::new("flux", format!("{{\"jobID\":\"{tag}\"}}")).unwrap())
        .with_max_attempts(20)
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tag = AtomicU64::new(0);
    let next = || tag.fetch_add(1, Ordering::SeqCst) + 1;
    let mut group = c.benchmark_group("write");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for files in [1_000, 5_000] {
        let dir = tempfile::tempdir().unwrap();
        let origin = generate(dir.path(), files);
        let remote = Remote::new(GitUrl::parse(&origin.display().to_string()).unwrap());
        let mirror = runtime
            .block_on(Mirror::open(
                remote,
                dir.path().join("mirror"),
                Some("main".into()),
            ))
            .unwrap();
        runtime.block_on(mirror.fetch()).unwrap();

        let mut alone: Vec<u32> = Vec::new();
        group.bench_function(
            format!("gitsync-commit-and-push-one-intention/{files}-files"),
            |b| {
                b.iter(|| {
                    let tag = next();
                    let outcome = runtime
                        .block_on(
                            mirror.commit_and_push(request(tag), move |dir| set_image(dir, tag)),
                        )
                        .unwrap();
                    match outcome {
                        CommitOutcome::Pushed { attempts, .. } => alone.push(attempts),
                        other => panic!("{other:?}"),
                    }
                });
            },
        );
        println!(
            "alone, {files} files: {} commits, max {} attempts",
            alone.len(),
            alone.iter().max().copied().unwrap_or(0)
        );

        group.bench_function(
            format!("git-cli-clone-edit-commit-push/{files}-files"),
            |b| {
                b.iter(|| {
                    let tag = next();
                    let work = tempfile::tempdir().unwrap();
                    let clone = work.path().join("clone");
                    git(
                        work.path(),
                        &[
                            "clone",
                            "--quiet",
                            "--branch",
                            "main",
                            origin.to_str().unwrap(),
                            "clone",
                        ],
                    );
                    git(
                        &clone,
                        &["fetch", "--quiet", "origin", "+refs/notes/*:refs/notes/*"],
                    );
                    set_image(&clone, tag).unwrap();
                    git(
                        &clone,
                        &[
                            "commit",
                            "--quiet",
                            "-am",
                            &format!("Release app-0:1.0.{tag}"),
                        ],
                    );
                    git(&clone, &["notes", "--ref", "flux", "add", "-m", "{}"]);
                    git(
                        &clone,
                        &["push", "--quiet", "origin", "main", "refs/notes/flux"],
                    );
                });
            },
        );

        // Another pusher, pushing a commit every second from its own clone.
        let other = dir.path().join("other");
        git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                origin.to_str().unwrap(),
                "other",
            ],
        );
        let stop = Arc::new(AtomicBool::new(false));
        let pusher = {
            let stop = stop.clone();
            let other = other.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let quiet = |args: &[&str]| {
                    Command::new("git")
                        .args([
                            "-c",
                            "user.name=other",
                            "-c",
                            "user.email=other@example.com",
                        ])
                        .args(args)
                        .current_dir(&other)
                        .output()
                        .is_ok_and(|o| o.status.success())
                };
                let mut pushed = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    quiet(&["fetch", "--quiet", "origin", "main"]);
                    quiet(&["reset", "--quiet", "--hard", "origin/main"]);
                    std::fs::write(other.join("team-99-other.yaml"), format!("n: {n}\n")).unwrap();
                    quiet(&["add", "--all"]);
                    quiet(&["commit", "--quiet", "-m", "other"]);
                    if quiet(&["push", "--quiet", "origin", "HEAD:main"]) {
                        pushed += 1;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                pushed
            })
        };
        let mut attempts: Vec<u32> = Vec::new();
        let mut gave_up = 0usize;
        group.bench_function(
            format!("gitsync-commit-and-push-under-a-concurrent-pusher/{files}-files"),
            |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let tag = next();
                        let began = Instant::now();
                        let outcome = runtime.block_on(
                            mirror.commit_and_push(request(tag), move |dir| set_image(dir, tag)),
                        );
                        total += began.elapsed();
                        match outcome {
                            Ok(CommitOutcome::Pushed { attempts: a, .. }) => attempts.push(a),
                            Err(fluxd_gitsync::Error::RemoteKeptMoving { .. }) => gave_up += 1,
                            other => panic!("{other:?}"),
                        }
                    }
                    total
                });
            },
        );
        stop.store(true, Ordering::SeqCst);
        let pushed_by_other = pusher.join().unwrap();
        let retried = attempts.iter().filter(|a| **a > 1).count();
        let max = attempts.iter().max().copied().unwrap_or(0);
        let mean =
            attempts.iter().map(|a| f64::from(*a)).sum::<f64>() / attempts.len().max(1) as f64;
        println!(
            "under a concurrent pusher, {files} files: {} commits, {retried} needed more than one attempt, mean {mean:.2} attempts, max {max}, {gave_up} gave up after 20; the other pusher pushed {pushed_by_other} commits",
            attempts.len()
        );
    }
    group.finish();

    let mut keys = c.benchmark_group("keygen");
    keys.sample_size(10);
    for (name, key_type) in [
        ("ed25519", KeyType::Ed25519),
        ("ecdsa-p256", KeyType::Ecdsa { bits: 256 }),
        ("rsa-3072", KeyType::Rsa { bits: 3072 }),
    ] {
        keys.bench_function(format!("gitsync/{name}"), |b| {
            b.iter(|| KeyPair::generate(key_type, "fluxd@flux").unwrap());
        });
    }
    for (name, args) in [
        ("ed25519", &["-t", "ed25519"][..]),
        ("rsa-3072", &["-t", "rsa", "-b", "3072"][..]),
    ] {
        keys.bench_function(format!("ssh-keygen/{name}"), |b| {
            b.iter(|| {
                let dir = tempfile::tempdir().unwrap();
                let status = Command::new("ssh-keygen")
                    .args(["-q", "-N", "", "-C", "fluxd@flux", "-f"])
                    .arg(dir.path().join("identity"))
                    .args(args)
                    .status()
                    .unwrap();
                assert!(status.success());
            });
        });
    }
    keys.finish();
}

criterion_group!(write, benches);
criterion_main!(write);
