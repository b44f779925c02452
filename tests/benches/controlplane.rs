//! How long a test control plane takes to start (to `/readyz` ok and the
//! controllers running) and to stop.
//!
//! `cargo bench -p tests --bench controlplane`

// A benchmark that cannot start its control plane has nothing to measure.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tests::controlplane::ControlPlane;

fn start_and_stop(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    // Build (or find) the binaries outside the measurement.
    drop(
        runtime
            .block_on(ControlPlane::start())
            .expect("control plane"),
    );

    let mut group = c.benchmark_group("controlplane");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("start", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let began = Instant::now();
                let cluster = runtime
                    .block_on(ControlPlane::start())
                    .expect("control plane");
                total += began.elapsed();
                drop(cluster);
            }
            total
        });
    });
    group.bench_function("stop", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let cluster = runtime
                    .block_on(ControlPlane::start())
                    .expect("control plane");
                let began = Instant::now();
                drop(cluster);
                total += began.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, start_and_stop);
criterion_main!(benches);
