//! Criterion benches of the CUDA kernels on the preset AlexNet-CIFAR layers:
//! k as the parameter, batch 1 and 32, throughput in FLOPs. Each iteration
//! launches on device-resident data and synchronises the device before the
//! clock stops (`Chain::run_resident`), so it times the kernels, not copies.
//!
//! Without a GPU it prints why and times nothing. `GROUPSCALE_CUDA_HALF2=1`
//! times the half2 kernels (f16 weights; the presets are converted).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use groupscale::backend::cuda::{CudaBackend, CudaOptions};
use groupscale::presets::{alexnet_cifar, GROUPS};
use groupscale::{Backend, Chain, Conv2d, Layer, WeightData};

fn cuda_layers(c: &mut Criterion) {
    let backend = match CudaOptions::from_env().and_then(CudaBackend::open) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cuda_layers: skipped, no CUDA device: {e}");
            return;
        }
    };
    let half2 = CudaOptions::from_env().is_ok_and(|o| o.half2);
    eprintln!("backend: {}", backend.describe());
    for batch in [1, 32] {
        for preset in alexnet_cifar() {
            let conv = preset.layer(7).unwrap();
            let conv = if half2 {
                let w = conv
                    .weights()
                    .to_f32()
                    .iter()
                    .map(|&v| half::f16::from_f32(v))
                    .collect();
                Conv2d::new(
                    preset.spec,
                    WeightData::F16(w),
                    conv.bias().map(<[f32]>::to_vec),
                )
                .unwrap()
            } else {
                conv
            };
            let mut chain = backend.chain(&[Layer::Conv2d(conv)]).unwrap();
            let full = preset.input_shape(batch, GROUPS);
            chain.reserve(full, GROUPS).unwrap();
            let input: Vec<f32> = (0..full.len())
                .map(|i| (i % 97) as f32 / 97.0 - 0.5)
                .collect();
            let mut group = c.benchmark_group(format!("cuda/{}/batch{batch}", preset.name));
            for k in 1..=GROUPS {
                let shape = preset.input_shape(batch, k);
                chain.upload(&input[..shape.len()], shape).unwrap();
                group.throughput(Throughput::Elements(preset.flops(batch, k) as u64));
                group.bench_with_input(BenchmarkId::new("k", k), &k, |b, &k| {
                    b.iter(|| chain.run_resident(black_box(shape), k).unwrap())
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, cuda_layers);
criterion_main!(benches);
