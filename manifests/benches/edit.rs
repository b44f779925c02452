//! Format-preserving image edits over generated manifests: 1,000 edits spread
//! over Deployments with several containers and HelmReleases of every values
//! shape, in single- and multi-document files; plus one edit per shape.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use manifests::{SourceLocation, edit};

#[path = "../tests/it/corpus.rs"]
#[allow(dead_code)]
mod corpus;

fn edits(c: &mut Criterion) {
    let files = corpus::generate(300, 7);
    let jobs: Vec<(
        SourceLocation,
        &corpus::CorpusFile,
        &corpus::EditTarget,
        String,
    )> = files
        .iter()
        .flat_map(|file| file.targets.iter().map(move |t| (file, t)))
        .take(1000)
        .enumerate()
        .map(|(i, (file, target))| {
            let source = SourceLocation {
                path: file.name.clone().into(),
                document: target.document,
                line: 1,
            };
            (
                source,
                file,
                target,
                format!("{}:9.{i}.0", target.repository),
            )
        })
        .collect();
    assert_eq!(jobs.len(), 1000);
    let bytes: usize = files.iter().map(|f| f.text.len()).sum();
    eprintln!(
        "corpus: {} files, {} KiB, {} edit targets used",
        files.len(),
        bytes / 1024,
        jobs.len()
    );

    let mut group = c.benchmark_group("edit");
    group.throughput(Throughput::Elements(jobs.len() as u64));
    group.sample_size(10);
    group.bench_function("1000_image_edits", |b| {
        b.iter(|| {
            for (source, file, target, image) in &jobs {
                let out = edit::set_image(&file.text, source, &target.id, &target.container, image);
                black_box(out.is_ok());
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("edit_one");
    for container in ["c0", "split", "three", "nested", "mapped"] {
        let Some((source, file, target, image)) =
            jobs.iter().find(|(_, _, t, _)| t.container == container)
        else {
            continue;
        };
        let label = format!(
            "{container}_in_{}_docs",
            file.text.matches("\n---\n").count() + 1
        );
        group.bench_function(label, |b| {
            b.iter(|| {
                edit::set_image(
                    black_box(&file.text),
                    source,
                    &target.id,
                    &target.container,
                    image,
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, edits);
criterion_main!(benches);
