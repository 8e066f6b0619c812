//! The preset layer shapes: AlexNet for 32×32 inputs, G = 4, as the paper
//! evaluates it. Benchmarks and `groupscale bench` time these.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::Result;
use crate::model::conv::{Conv2d, Conv2dSpec};
use crate::model::group::Connectivity;
use crate::model::shape::Shape4;

pub const GROUPS: usize = 4;

#[derive(Clone, Copy, Debug)]
pub struct PresetConv {
    pub name: &'static str,
    pub spec: Conv2dSpec,
    /// Input height and width.
    pub input_hw: [usize; 2],
}

impl PresetConv {
    /// The input shape with `k` active groups.
    pub fn input_shape(&self, batch: usize, k: usize) -> Shape4 {
        let [h, w] = self.input_hw;
        Shape4::new(batch, self.spec.layout().active_inputs(k), h, w)
    }

    pub fn flops(&self, batch: usize, k: usize) -> f64 {
        let [h, w] = self.input_hw;
        self.spec.flops(batch, h, w, k)
    }

    /// The layer with seeded random weights and bias.
    pub fn layer(&self, seed: u64) -> Result<Conv2d> {
        let mut rng = StdRng::seed_from_u64(seed);
        let weights: Vec<f32> = (0..self.spec.layout().weight_len())
            .map(|_| rng.random_range(-0.1f32..0.1))
            .collect();
        let bias = (0..self.spec.out_channels)
            .map(|_| rng.random_range(-0.1f32..0.1))
            .collect();
        Conv2d::new(self.spec, weights, Some(bias))
    }
}

/// L1 full 3→64 5×5 pad 2 @32×32; L2 64→192 5×5 pad 2 @16×16;
/// L3 192→384, L4 384→256, L5 256→256, 3×3 pad 1 @8×8; L2–L5 isolated.
/// Every layer has a bias and a fused ReLU, as in the network.
pub fn alexnet_cifar() -> [PresetConv; 5] {
    let conv = |name, cin, cout, kernel, pad, hw, connectivity| PresetConv {
        name,
        spec: Conv2dSpec::new(cin, cout, kernel, pad, GROUPS, connectivity).with_relu(true),
        input_hw: [hw, hw],
    };
    [
        conv("L1", 3, 64, 5, 2, 32, Connectivity::Full),
        conv("L2", 64, 192, 5, 2, 16, Connectivity::Isolated),
        conv("L3", 192, 384, 3, 1, 8, Connectivity::Isolated),
        conv("L4", 384, 256, 3, 1, 8, Connectivity::Isolated),
        conv("L5", 256, 256, 3, 1, 8, Connectivity::Isolated),
    ]
}
