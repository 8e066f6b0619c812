//! Test cases: named regressions for the shapes kernels get wrong, and seeded
//! random shapes. Each case is a layer, an input and an active group count.

use half::f16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::conv::{Conv2d, Conv2dSpec};
use crate::model::group::Connectivity;
use crate::model::head::{Head, HeadSpec};
use crate::model::layer::Layer;
use crate::model::linear::{Linear, LinearSpec};
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::{Shape4, Tensor};
use crate::model::weights::WeightData;

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub layer: Layer,
    pub input: Tensor,
    pub k: usize,
}

impl Case {
    /// The longest reduction one output sums over, for the tolerance.
    pub fn depth(&self) -> usize {
        match &self.layer {
            Layer::Conv2d(c) => (0..self.k)
                .map(|j| c.spec().layout().group_row_len(j))
                .max()
                .unwrap_or(1),
            Layer::Linear(l) => (0..self.k)
                .map(|j| l.spec().layout().group_row_len(j))
                .max()
                .unwrap_or(1),
            Layer::Head(h) => self.k * h.spec().features_per_group() + 1,
            Layer::MaxPool2d(_) => 1,
            Layer::Softmax => self.input.shape.item_len(),
        }
    }
}

fn values(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn weights(rng: &mut StdRng, n: usize, as_f16: bool) -> WeightData {
    let w = values(rng, n);
    if as_f16 {
        WeightData::F16(w.into_iter().map(f16::from_f32).collect())
    } else {
        WeightData::F32(w)
    }
}

/// A convolution case with random weights, bias and input.
pub fn conv_case(
    name: &str,
    spec: Conv2dSpec,
    batch: usize,
    hw: [usize; 2],
    k: usize,
    seed: u64,
) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let layout = spec.layout();
    let w = weights(&mut rng, layout.weight_len(), seed.is_multiple_of(5));
    let bias = (!seed.is_multiple_of(3)).then(|| values(&mut rng, spec.out_channels));
    let shape = Shape4::new(batch, layout.active_inputs(k), hw[0], hw[1]);
    Case {
        name: name.into(),
        layer: Conv2d::new(spec, w, bias).expect("valid case").into(),
        input: Tensor::new(shape, values(&mut rng, shape.len())).expect("sized"),
        k,
    }
}

fn linear_case(name: &str, spec: LinearSpec, batch: usize, k: usize, seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let layout = spec.layout();
    let w = weights(&mut rng, layout.weight_len(), seed.is_multiple_of(2));
    let bias = Some(values(&mut rng, spec.out_features));
    let shape = Shape4::flat(batch, layout.active_inputs(k));
    Case {
        name: name.into(),
        layer: Linear::new(spec, w, bias).expect("valid case").into(),
        input: Tensor::new(shape, values(&mut rng, shape.len())).expect("sized"),
        k,
    }
}

fn head_case(name: &str, spec: HeadSpec, batch: usize, k: usize, seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = weights(&mut rng, spec.weight_len(), false);
    let bias = values(&mut rng, spec.bias_len());
    let shape = Shape4::flat(batch, k * spec.features_per_group());
    Case {
        name: name.into(),
        layer: Head::new(spec, w, bias).expect("valid case").into(),
        input: Tensor::new(shape, values(&mut rng, shape.len())).expect("sized"),
        k,
    }
}

fn plain_case(name: &str, layer: Layer, shape: Shape4, seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    Case {
        name: name.into(),
        layer,
        input: Tensor::new(shape, values(&mut rng, shape.len())).expect("sized"),
        k: 1,
    }
}

/// The regression cases every backend must pass, by name.
pub fn named() -> Vec<Case> {
    use Connectivity::*;
    let conv = |cin, cout, kernel, pad, g, c| Conv2dSpec::new(cin, cout, kernel, pad, g, c);
    let mut cases = vec![
        // 35 channels per group and 7×5 outputs leave remainders for every
        // kernel's channel tile (8, 16, 32) and pixel tile (4, 6, 8).
        conv_case(
            "tile-remainders",
            conv(8, 140, 3, 1, 4, Isolated),
            1,
            [7, 5],
            4,
            1,
        ),
        conv_case(
            "tile-remainders-cumulative",
            conv(8, 140, 3, 1, 4, Cumulative).with_relu(true),
            2,
            [7, 5],
            3,
            2,
        ),
        conv_case(
            "depthwise",
            conv(16, 16, 3, 1, 16, Isolated),
            1,
            [9, 9],
            16,
            3,
        ),
        conv_case(
            "depthwise-k-less-than-g",
            conv(16, 16, 3, 1, 16, Isolated),
            1,
            [9, 9],
            5,
            4,
        ),
        conv_case(
            "stride-2",
            conv(8, 16, 3, 1, 2, Isolated).with_stride(2),
            1,
            [11, 10],
            2,
            5,
        ),
        conv_case(
            "dilation-2",
            conv(8, 16, 3, 2, 2, Cumulative).with_dilation(2),
            1,
            [9, 9],
            2,
            6,
        ),
        // Padding 4 with a 2×2 input: most windows see only zeros.
        conv_case(
            "padding-larger-than-output",
            Conv2dSpec {
                stride: [3, 3],
                ..conv(4, 8, 3, 4, 2, Isolated)
            }
            .with_relu(true),
            1,
            [2, 2],
            2,
            7,
        ),
        conv_case(
            "k-less-than-g-isolated",
            conv(16, 64, 3, 1, 4, Isolated),
            1,
            [8, 8],
            1,
            8,
        ),
        conv_case(
            "k-less-than-g-cumulative",
            conv(16, 64, 3, 1, 4, Cumulative),
            1,
            [8, 8],
            2,
            9,
        ),
        conv_case(
            "k-less-than-g-full",
            conv(3, 64, 5, 2, 4, Full).with_relu(true),
            1,
            [12, 12],
            1,
            10,
        ),
        conv_case(
            "full-merged-groups",
            conv(3, 128, 3, 1, 4, Full),
            2,
            [6, 6],
            3,
            11,
        ),
        conv_case(
            "pointwise-1x1",
            conv(32, 64, 1, 0, 4, Isolated),
            1,
            [5, 7],
            4,
            12,
        ),
        conv_case(
            "no-padding",
            conv(8, 32, 3, 0, 2, Cumulative).with_relu(true),
            3,
            [6, 9],
            2,
            13,
        ),
        conv_case(
            "rectangular-kernel-and-stride",
            Conv2dSpec {
                kernel: [3, 1],
                stride: [2, 1],
                padding: [1, 0],
                ..conv(6, 12, 1, 0, 3, Isolated)
            },
            2,
            [9, 4],
            3,
            15,
        ),
        conv_case(
            "f16-weights",
            conv(8, 32, 3, 1, 4, Cumulative),
            1,
            [6, 6],
            4,
            20,
        ),
        conv_case(
            "single-output-pixel",
            conv(8, 48, 3, 0, 2, Isolated),
            1,
            [3, 3],
            2,
            17,
        ),
        linear_case(
            "linear-isolated",
            LinearSpec {
                in_features: 64,
                out_features: 40,
                groups: 4,
                connectivity: Isolated,
                relu: true,
            },
            3,
            3,
            30,
        ),
        linear_case(
            "linear-cumulative",
            LinearSpec {
                in_features: 64,
                out_features: 40,
                groups: 4,
                connectivity: Cumulative,
                relu: false,
            },
            2,
            4,
            31,
        ),
        linear_case(
            "linear-full-k1",
            LinearSpec {
                in_features: 37,
                out_features: 40,
                groups: 4,
                connectivity: Full,
                relu: true,
            },
            1,
            1,
            32,
        ),
        head_case(
            "head-k-less-than-g",
            HeadSpec {
                in_features: 64,
                classes: 10,
                groups: 4,
            },
            3,
            2,
            40,
        ),
        head_case(
            "head-all-groups",
            HeadSpec {
                in_features: 64,
                classes: 10,
                groups: 4,
            },
            2,
            4,
            41,
        ),
        plain_case(
            "max-pool-2x2",
            MaxPool2dSpec::square(2).into(),
            Shape4::new(2, 5, 9, 8),
            50,
        ),
        plain_case(
            "max-pool-3x3-stride-2-padded",
            MaxPool2dSpec {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
            }
            .into(),
            Shape4::new(1, 3, 7, 7),
            51,
        ),
        // Wide enough for four-at-a-time vector steps plus a remainder.
        plain_case(
            "max-pool-2x2-wide",
            MaxPool2dSpec::square(2).into(),
            Shape4::new(1, 3, 6, 22),
            53,
        ),
        plain_case(
            "max-pool-3x3-stride-1",
            MaxPool2dSpec {
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
            }
            .into(),
            Shape4::new(1, 2, 5, 6),
            54,
        ),
        plain_case(
            "max-pool-3x1-stride-3",
            MaxPool2dSpec {
                kernel: [3, 1],
                stride: [3, 3],
                padding: [1, 0],
            }
            .into(),
            Shape4::new(1, 2, 8, 9),
            55,
        ),
        plain_case("softmax", Layer::Softmax, Shape4::flat(3, 10), 52),
    ];
    // Single-sliver segments over rows of at least 16 pixels at stride 1 take
    // the row tiles (16 pixels on AVX-512, 12 on AVX2), full and partial.
    cases.push(conv_case(
        "row-tiles-full-16",
        conv(3, 64, 5, 2, 4, Full),
        1,
        [6, 37],
        1,
        61,
    ));
    cases.push(conv_case(
        "row-tiles-full-8",
        conv(8, 16, 3, 1, 2, Isolated).with_relu(true),
        2,
        [5, 30],
        2,
        62,
    ));
    cases.push(conv_case(
        "row-tiles-narrow-strided-dilated",
        Conv2dSpec {
            stride: [2, 1],
            dilation: [1, 2],
            ..conv(4, 10, 3, 2, 2, Isolated)
        },
        2,
        [7, 27],
        2,
        63,
    ));
    // Batches of at least twice the threads run one image per task, padding
    // each image into its worker's slot.
    cases.push(conv_case(
        "batch-image-major-padded",
        conv(8, 48, 3, 1, 4, Cumulative).with_relu(true),
        7,
        [6, 5],
        3,
        64,
    ));
    cases.push(conv_case(
        "batch-image-major-unpadded",
        conv(6, 24, 3, 0, 3, Isolated),
        8,
        [5, 7],
        2,
        65,
    ));
    // The WGSL convolution's 64-channel × 64-pixel tile over 16 reduction
    // steps: 70 channels per group (a second, 6-channel tile), 9 × 8 = 72
    // pixels (a second, 8-pixel tile), 6 × 9 = 54 steps (a 6-step last pass),
    // over several groups, images and both grouped connectivities.
    cases.push(conv_case(
        "gpu-tile-remainders",
        conv(12, 140, 3, 1, 2, Isolated).with_relu(true),
        2,
        [9, 8],
        2,
        66,
    ));
    cases.push(conv_case(
        "gpu-tile-remainders-cumulative",
        conv(6, 210, 3, 1, 3, Cumulative),
        2,
        [9, 8],
        3,
        67,
    ));
    // An output far smaller than one tile: one channel per group, 2 × 1 pixels.
    cases.push(conv_case(
        "output-smaller-than-gpu-tile",
        conv(4, 4, 3, 1, 4, Isolated),
        1,
        [2, 1],
        3,
        68,
    ));
    // The WGSL linear layer's 4-output blocks straddle groups (5 outputs per
    // group), and its 64-invocation reduction wraps (70 inputs per group).
    cases.push(linear_case(
        "linear-blocks-across-groups",
        LinearSpec {
            in_features: 210,
            out_features: 15,
            groups: 3,
            connectivity: Cumulative,
            relu: true,
        },
        2,
        3,
        69,
    ));
    // A first layer's shape at full width, as the network runs it.
    cases.push(conv_case(
        "alexnet-l1-like",
        conv(3, 64, 5, 2, 4, Full).with_relu(true),
        1,
        [16, 16],
        4,
        60,
    ));
    cases
}

/// `count` random convolution cases drawn from `seed`; the name of each
/// carries the seed that reproduces it alone.
pub fn random_convs(seed: u64, count: usize, max_hw: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let case_seed = rng.random::<u64>();
            random_conv(case_seed, max_hw)
                .unwrap_or_else(|| panic!("case {i} of seed {seed} is invalid"))
        })
        .collect()
}

/// One random convolution case, fully determined by `seed`.
pub fn random_conv(seed: u64, max_hw: usize) -> Option<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let groups = rng.random_range(1..=4);
    let connectivity = Connectivity::ALL[rng.random_range(0..3)];
    let in_per_group = rng.random_range(1..=6);
    let in_channels = match connectivity {
        Connectivity::Full => rng.random_range(1..=8),
        _ => groups * in_per_group,
    };
    let out_channels = groups * rng.random_range(1..=40);
    let kernel = [rng.random_range(1..=5), rng.random_range(1..=5)];
    let stride = [rng.random_range(1..=3), rng.random_range(1..=3)];
    let dilation = [rng.random_range(1..=2), rng.random_range(1..=2)];
    let padding = [
        rng.random_range(0..=kernel[0]),
        rng.random_range(0..=kernel[1]),
    ];
    let spec = Conv2dSpec {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        connectivity,
        relu: rng.random(),
    };
    // Inputs from just big enough for one output up to `max_hw`.
    let hw = [0, 1].map(|a| {
        let span = dilation[a] * (kernel[a] - 1) + 1;
        let min = span.saturating_sub(2 * padding[a]).max(1);
        rng.random_range(min..=min.max(max_hw))
    });
    let batch = rng.random_range(1..=3);
    let k = rng.random_range(1..=groups);
    spec.output_hw(hw[0], hw[1]).ok()?;
    Some(conv_case(
        &format!("random-conv seed={seed}"),
        spec,
        batch,
        hw,
        k,
        seed,
    ))
}
