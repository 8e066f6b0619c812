//! Criterion benches of the preset AlexNet-CIFAR layers: one group per layer,
//! k as the parameter, throughput in FLOPs (criterion's "elements/s" read as
//! FLOP/s).
//!
//! `GROUPSCALE_BACKEND` picks the backend (default: the dispatcher's choice),
//! `GROUPSCALE_BENCH_BATCH` the batch (default 1). `PreparedLayer::run`
//! returns only once the output is written, so a device backend is synchronised
//! inside every timed iteration.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use groupscale::presets::{alexnet_cifar, GROUPS};
use groupscale::PreparedLayer;

fn conv_layers(c: &mut Criterion) {
    let backend = groupscale::default_backend().expect("a backend");
    let batch: usize = std::env::var("GROUPSCALE_BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1);
    eprintln!("backend: {}, batch {batch}", backend.describe());
    for preset in alexnet_cifar() {
        let [h, w] = preset.input_hw;
        let mut layer = PreparedLayer::new(&backend, preset.layer(7).unwrap().into()).unwrap();
        layer.reserve(batch, h, w).unwrap();
        let full = preset.input_shape(batch, GROUPS);
        let input: Vec<f32> = (0..full.len())
            .map(|i| (i % 97) as f32 / 97.0 - 0.5)
            .collect();
        let mut output = vec![0.0f32; layer.output_shape(full, GROUPS).unwrap().len()];

        let mut group = c.benchmark_group(format!("conv/{}/batch{batch}", preset.name));
        for k in 1..=GROUPS {
            let shape = preset.input_shape(batch, k);
            let out_len = layer.output_shape(shape, k).unwrap().len();
            group.throughput(Throughput::Elements(preset.flops(batch, k) as u64));
            group.bench_with_input(BenchmarkId::new("k", k), &k, |b, &k| {
                b.iter(|| {
                    layer
                        .run(
                            black_box(&input[..shape.len()]),
                            shape,
                            k,
                            &mut output[..out_len],
                        )
                        .unwrap();
                    black_box(&output);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, conv_layers);
criterion_main!(benches);
