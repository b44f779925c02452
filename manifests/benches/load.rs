//! Loading a generated tree of 10,000 resources in ~500 files, beside the bare
//! parse of the same bytes into `serde_json::Value`: with serde-saphyr (the
//! parser the crate uses) and with `serde_yaml` 0.9 as an outside reference.
//!
//! `cargo bench -p manifests --bench load`. Each benchmark reports
//! resources/s and bytes/s; the goal is load <= 1.5x the serde-saphyr bare
//! parse. Every benchmark keeps what it parsed until the end of the
//! iteration, as a loader's caller does, so all of them pay for freeing the
//! same 10,000 values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tree.rs"]
mod tree;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use manifests::{LoadOptions, Loader, load};
use serde::Deserialize;
use serde_json::Value;

/// The files of the tree, read into memory once.
fn read_files(root: &Path, tree: &tree::Tree) -> Vec<(PathBuf, String)> {
    tree.files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(root.join(&file.path)).unwrap();
            (file.path.clone(), text)
        })
        .collect()
}

/// Checks, once, that loading finds what the generator wrote, where it wrote
/// it: a benchmark of a loader that loses resources would be worthless.
fn check_load(root: &Path, tree: &tree::Tree) {
    let loaded = load(root, &["."], &LoadOptions::default());
    assert!(
        loaded.is_complete(),
        "{:?}",
        &loaded.errors[..3.min(loaded.errors.len())]
    );
    assert_eq!(loaded.resources.len(), tree.resources());
    let mut expected: Vec<(PathBuf, usize, String)> = tree
        .files
        .iter()
        .flat_map(|file| {
            file.resources
                .iter()
                .map(|r| (file.path.clone(), r.line, r.name.clone()))
        })
        .collect();
    let mut found: Vec<(PathBuf, usize, String)> = loaded
        .resources
        .iter()
        .map(|r| {
            (
                r.source().path.clone(),
                r.source().line,
                r.name().to_owned(),
            )
        })
        .collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}

/// serde-saphyr with the options the loader uses (no comment events, no
/// error snippets, YAML 1.1 octals, limits).
fn loader_like_saphyr_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 100;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.legacy_octal_numbers = true;
    options.emit_comments = false;
    options.with_snippet = false;
    options
}

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tree = tree::write_tree(root, tree::TreeSpec::default());
    let files = read_files(root, &tree);
    check_load(root, &tree);
    let resources = tree.resources() as u64;
    let bytes = tree.bytes() as u64;
    eprintln!(
        "tree: {} files, {resources} resources, {bytes} bytes",
        tree.files.len()
    );

    let mut group = c.benchmark_group("load_10k");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::ElementsAndBytes {
        elements: resources,
        bytes,
    });

    group.bench_function("manifests::load (from disk)", |b| {
        b.iter(|| {
            let loaded = load(black_box(root), &["."], &LoadOptions::default());
            assert_eq!(loaded.resources.len() as u64, resources);
            loaded
        });
    });

    group.bench_function("manifests::Loader (from memory)", |b| {
        b.iter(|| {
            let mut loader = Loader::new(LoadOptions::default());
            for (path, text) in &files {
                loader.add_file(path, black_box(text.as_bytes()));
            }
            loader.finish()
        });
    });

    group.bench_function("serde-saphyr bare parse (default options)", |b| {
        b.iter(|| {
            let parsed: Vec<Vec<Value>> = files
                .iter()
                .map(|(_, text)| serde_saphyr::from_multiple(black_box(text)).unwrap())
                .collect();
            assert_eq!(parsed.iter().map(Vec::len).sum::<usize>() as u64, resources);
            parsed
        });
    });

    let options = loader_like_saphyr_options();
    group.bench_function("serde-saphyr bare parse (loader's options)", |b| {
        b.iter(|| {
            let parsed: Vec<Vec<Value>> = files
                .iter()
                .map(|(_, text)| {
                    serde_saphyr::from_multiple_with_options(black_box(text), options.clone())
                        .unwrap()
                })
                .collect();
            assert_eq!(parsed.iter().map(Vec::len).sum::<usize>() as u64, resources);
            parsed
        });
    });

    group.bench_function("serde_yaml 0.9 bare parse", |b| {
        b.iter(|| {
            let parsed: Vec<Vec<Value>> = files
                .iter()
                .map(|(_, text)| {
                    serde_yaml::Deserializer::from_str(black_box(text))
                        .map(|document| Value::deserialize(document).unwrap())
                        .filter(|value| !value.is_null())
                        .collect()
                })
                .collect();
            assert_eq!(parsed.iter().map(Vec::len).sum::<usize>() as u64, resources);
            parsed
        });
    });

    group.finish();

    interleaved_ratio(root, &files, resources);
}

/// The goal as one number: criterion runs its benchmarks one after the
/// other, so on a shared machine a change of load between them skews their
/// ratio. Here loading and the bare parse alternate, and the best of each is
/// kept.
fn interleaved_ratio(root: &Path, files: &[(PathBuf, String)], resources: u64) {
    const ROUNDS: usize = 7;
    let mut best_load = Duration::MAX;
    let mut best_parse = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let loaded = load(black_box(root), &["."], &LoadOptions::default());
        assert_eq!(loaded.resources.len() as u64, resources);
        drop(loaded);
        best_load = best_load.min(start.elapsed());

        let start = Instant::now();
        let parsed: Vec<Vec<Value>> = files
            .iter()
            .map(|(_, text)| serde_saphyr::from_multiple(black_box(text)).unwrap())
            .collect();
        drop(parsed);
        best_parse = best_parse.min(start.elapsed());
    }
    eprintln!(
        "load_10k interleaved, best of {ROUNDS}: manifests::load {best_load:.2?}, \
         serde-saphyr bare parse {best_parse:.2?}: load = {:.2}x the bare parse (goal <= 1.5x)",
        best_load.as_secs_f64() / best_parse.as_secs_f64()
    );
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
