//! Per-layer batch-1 times of a model on the CPU backend at every k
//! (medians): where a small k spends its time.
//!
//! `cargo run --release --example layer_times -- [MODEL] [THREADS]`

use std::sync::Arc;
use std::time::Instant;

use groupscale::{Backend, CpuBackend, CpuConfig, Model, PreparedLayer, Shape4};

fn main() -> groupscale::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "models/groupalexnet-cumulative.safetensors".into());
    let threads: usize = args
        .next()
        .map_or(1, |t| t.parse().expect("THREADS is a number"));
    let model = Model::load(&path)?;
    let mut config = CpuConfig::from_env()?;
    config.threads = Some(threads);
    let backend: Arc<dyn Backend> = Arc::new(CpuBackend::new(config)?);
    let input = model.input();
    for k in 1..=model.groups() {
        let mut shape = Shape4::new(1, input.channels, input.height, input.width);
        let mut x = vec![0.5f32; shape.len()];
        let mut total = 0.0;
        let mut row = Vec::new();
        for layer in model.layers() {
            let mut prepared = PreparedLayer::new(&backend, layer.clone())?;
            prepared.reserve(1, shape.h, shape.w)?;
            // The output buffer is allocated once: only the layer is timed.
            let out_shape = prepared.output_shape(shape, k)?;
            let mut y = vec![0.0f32; out_shape.len()];
            prepared.run(&x, shape, k, &mut y)?;
            let mut times = Vec::with_capacity(300);
            for _ in 0..300 {
                let t = Instant::now();
                prepared.run(&x, shape, k, &mut y)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            total += median;
            row.push(format!("{median:.4}"));
            shape = out_shape;
            x = y;
        }
        println!("k = {k}: total {total:.4} ms; per layer {}", row.join(" "));
    }
    Ok(())
}
