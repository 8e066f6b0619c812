//! Property tests over small shapes: the CPU backend, at each instruction set
//! and at 1 and 3 threads, equals the oracle; switching k never changes the
//! outputs of the groups that stay active.

use std::sync::Arc;

use groupscale::check::cases::random_conv;
use groupscale::check::compare;
use groupscale::{
    Backend, CpuBackend, CpuConfig, CpuIsa, Layer, PreparedLayer, ScalarBackend, Tensor,
};
use proptest::prelude::*;

fn cpu(isa: CpuIsa, threads: usize) -> Arc<dyn Backend> {
    Arc::new(
        CpuBackend::new(CpuConfig {
            isa: Some(isa),
            threads: Some(threads),
            cores: None,
            conv: None,
        })
        .unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn cpu_matches_oracle_on_small_shapes(seed in any::<u64>(), threads in 1usize..=3) {
        let Some(case) = random_conv(seed, 7) else { return Ok(()) };
        let oracle: Arc<dyn Backend> = Arc::new(ScalarBackend);
        let want = PreparedLayer::new(&oracle, case.layer.clone()).unwrap().forward(&case.input, case.k).unwrap();
        for isa in CpuIsa::supported() {
            let got = PreparedLayer::new(&cpu(isa, threads), case.layer.clone()).unwrap().forward(&case.input, case.k).unwrap();
            prop_assert_eq!(got.shape, want.shape);
            if let Err(m) = compare(&want.data, &got.data, case.depth()) {
                prop_assert!(false, "{} on {isa} with {threads} threads: {m}", case.name);
            }
        }
    }

    /// Adding groups never changes what the earlier groups compute: the first
    /// channels of the output at k+1 equal the output at k (the property that
    /// lets incremental training freeze earlier groups).
    #[test]
    fn earlier_groups_are_unchanged_by_later_ones(seed in any::<u64>()) {
        let Some(case) = random_conv(seed, 7) else { return Ok(()) };
        let Layer::Conv2d(conv) = &case.layer else { unreachable!() };
        let spec = *conv.spec();
        let layout = spec.layout();
        prop_assume!(layout.groups > 1);
        let mut layer = PreparedLayer::new(&cpu(CpuIsa::best(), 2), case.layer.clone()).unwrap();
        // Inputs for every k are prefixes of the input for k = G.
        let full_shape = groupscale::Shape4 { c: layout.active_inputs(layout.groups), ..case.input.shape };
        let input: Vec<f32> = (0..full_shape.len()).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
        let mut previous: Option<Tensor> = None;
        for k in 1..=layout.groups {
            let shape = groupscale::Shape4 { c: layout.active_inputs(k), ..full_shape };
            let x = Tensor::new(shape, per_item_prefix(&input, full_shape, shape)).unwrap();
            let y = layer.forward(&x, k).unwrap();
            if let Some(prev) = &previous {
                let prev_c = prev.shape.c;
                for n in 0..y.shape.n {
                    let plane = y.shape.plane();
                    let now = &y.data[n * y.shape.c * plane..][..prev_c * plane];
                    let before = &prev.data[n * prev_c * plane..][..prev_c * plane];
                    prop_assert_eq!(now, before, "k={} changed group outputs of k={}", k, k - 1);
                }
            }
            previous = Some(y);
        }
    }
}

/// The first `shape.c` channels of each batch item of `full`.
fn per_item_prefix(data: &[f32], full: groupscale::Shape4, shape: groupscale::Shape4) -> Vec<f32> {
    (0..full.n)
        .flat_map(|n| {
            data[n * full.item_len()..][..shape.item_len()]
                .iter()
                .copied()
        })
        .collect()
}
