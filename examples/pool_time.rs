//! Times max-pooling the preset L1 output (64×32×32 → 64×16×16), to compare
//! with the convolutions around it: `cargo run --release --example pool_time`.

use std::time::Instant;

use groupscale::{MaxPool2dSpec, PreparedLayer, Shape4};

fn main() -> groupscale::Result<()> {
    let backend = groupscale::default_backend()?;
    let mut pool = PreparedLayer::new(&backend, MaxPool2dSpec::square(2).into())?;
    let shape = Shape4::new(1, 64, 32, 32);
    let input: Vec<f32> = (0..shape.len()).map(|i| (i % 97) as f32).collect();
    let mut output = vec![0.0; pool.output_shape(shape, 1)?.len()];
    let mut samples: Vec<f64> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            pool.run(&input, shape, 1, &mut output).expect("valid");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    println!(
        "{}: max-pool 2x2 of 64x32x32: median {:.4} ms",
        backend.describe(),
        samples[1000]
    );
    Ok(())
}
