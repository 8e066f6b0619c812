//! A runtime author's first grouped layer: validate it once, prepare it once
//! on a backend (weights packed, buffers reserved), then run it at any k
//! into your own buffer, with no allocation per call.
//!
//! `cargo run --release --example one_layer`

use groupscale::{Connectivity, Conv2d, Conv2dSpec, PreparedLayer, Shape4};

fn main() -> groupscale::Result<()> {
    // conv3 of the shipped GroupAlexNet: 192 -> 384 channels, 3x3, G = 4.
    let groups = 4;
    let spec = Conv2dSpec::new(192, 384, 3, 1, groups, Connectivity::Isolated).with_relu(true);
    let weights: Vec<f32> = (0..spec.layout().weight_len())
        .map(|i| ((i % 7) as f32 - 3.0) * 0.01)
        .collect();
    let conv = Conv2d::new(spec, weights, Some(vec![0.1; 384]))?; // checked here, once
    let backend = groupscale::default_backend()?;
    let mut layer = PreparedLayer::new(&backend, conv.into())?; // packed here, once
    layer.reserve(1, 8, 8)?;

    let mut output = vec![0.0f32; 384 * 8 * 8];
    for k in 1..=groups {
        // k groups read k/G of the input channels and write k/G of the outputs.
        let channels = 192 * k / groups;
        let input = vec![0.5f32; channels * 8 * 8];
        let in_shape = Shape4::new(1, channels, 8, 8);
        // The output must be exactly k/G of the channels long.
        let written = layer.output_shape(in_shape, k)?.len();
        let shape = layer.run(&input, in_shape, k, &mut output[..written])?;
        let mean = output[..written].iter().sum::<f32>() / written as f32;
        println!(
            "k = {k}: {channels:>3} input channels -> output {shape:?}, mean {mean:.4} ({})",
            backend.describe()
        );
    }
    Ok(())
}
