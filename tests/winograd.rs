//! The Winograd convolution paths (F(2×2, 3×3), F(4×4, 3×3) and F(2×2,
//! 5×5)) on every
//! CPU instruction set here, against the scalar oracle under the derived
//! per-output bound (`check::winograd_tolerances`), on the cases Winograd
//! gets wrong first: tile remainders in both dimensions, outputs smaller
//! than one tile, k < G in every connectivity, batches, padding wider than
//! the output, and large magnitudes.

use std::sync::Arc;

use groupscale::backend::cpu::ConvAlgo;
use groupscale::backend::Arithmetic;
use groupscale::check::cases::{conv_case, Case};
use groupscale::check::selftest::{check, oracle_outputs, Target};
use groupscale::presets::alexnet_cifar;
use groupscale::{Backend, Connectivity, Conv2dSpec, CpuBackend, CpuConfig, CpuIsa, Layer};

/// The 3×3 tilings.
const THREE: [ConvAlgo; 2] = [ConvAlgo::WinogradF2, ConvAlgo::WinogradF4];
/// F(2×2, 5×5), the one 5×5 tiling.
const FIVE: [ConvAlgo; 1] = [ConvAlgo::WinogradF2];

fn winograd_targets(algos: &[ConvAlgo]) -> Vec<Target> {
    let mut targets = Vec::new();
    for isa in CpuIsa::supported() {
        for &conv in algos {
            let backend = CpuBackend::new(CpuConfig {
                isa: Some(isa),
                threads: Some(2),
                conv: Some(conv),
                ..CpuConfig::default()
            })
            .unwrap();
            targets.push(Target {
                label: format!("cpu/{isa}/{conv}"),
                backend: Arc::new(backend),
            });
        }
    }
    targets
}

fn named_cases() -> Vec<Case> {
    use Connectivity::*;
    let conv = |cin, cout, pad, g, c| Conv2dSpec::new(cin, cout, 3, pad, g, c);
    let mut cases = vec![
        // 7×5 outputs: remainders of both tiles in both dimensions; 35
        // channels per group: remainders of every sliver width.
        conv_case("remainders", conv(8, 140, 1, 4, Isolated), 1, [7, 5], 4, 1),
        conv_case(
            "remainders-cumulative",
            conv(8, 140, 1, 4, Cumulative).with_relu(true),
            2,
            [7, 5],
            3,
            2,
        ),
        conv_case("remainders-full", conv(12, 48, 1, 4, Full), 1, [9, 6], 2, 3),
        // Full connectivity whose groups fill whole slivers: one merged segment.
        conv_case(
            "full-merged",
            conv(16, 128, 1, 4, Full).with_relu(true),
            2,
            [8, 8],
            3,
            4,
        ),
        // One output pixel, and outputs smaller than one F(4×4) tile.
        conv_case("one-pixel", conv(8, 16, 0, 2, Isolated), 1, [3, 3], 2, 5),
        conv_case(
            "smaller-than-tile",
            conv(8, 16, 0, 2, Cumulative),
            3,
            [5, 4],
            2,
            6,
        ),
        // Padding 4 on a 2×2 input: most windows see only zeros.
        conv_case(
            "padding-larger-than-output",
            conv(4, 8, 4, 2, Isolated).with_relu(true),
            1,
            [2, 2],
            2,
            7,
        ),
        conv_case(
            "k-less-than-g-isolated",
            conv(16, 64, 1, 4, Isolated),
            1,
            [8, 8],
            1,
            8,
        ),
        conv_case(
            "k-less-than-g-cumulative",
            conv(16, 64, 1, 4, Cumulative),
            1,
            [8, 8],
            2,
            9,
        ),
        conv_case(
            "k-less-than-g-full",
            conv(16, 64, 1, 4, Full),
            1,
            [8, 8],
            3,
            10,
        ),
        conv_case(
            "depthwise",
            conv(16, 16, 1, 16, Isolated),
            1,
            [9, 9],
            11,
            11,
        ),
        conv_case(
            "batch",
            conv(32, 64, 1, 2, Isolated).with_relu(true),
            5,
            [12, 10],
            2,
            12,
        ),
        conv_case(
            "no-padding",
            conv(24, 48, 0, 3, Cumulative),
            2,
            [10, 13],
            3,
            13,
        ),
        // More than two blocks of tiles for both tilings (F(4×4): 50 tiles,
        // F(2×2): 200): the per-worker blocked schedule, with the inputs of
        // cumulative groups transformed as each group first needs them.
        conv_case(
            "blocked-cumulative",
            conv(16, 64, 1, 4, Cumulative).with_relu(true),
            2,
            [20, 20],
            3,
            15,
        ),
        conv_case(
            "blocked-full-merged",
            conv(16, 128, 1, 4, Full),
            2,
            [20, 20],
            2,
            16,
        ),
        conv_case(
            "blocked-isolated-remainders",
            conv(12, 36, 1, 3, Isolated),
            3,
            [17, 19],
            3,
            17,
        ),
    ];
    // Large magnitudes: the bound scales with them, the relative error not.
    let mut large = conv_case(
        "large-magnitude",
        conv(32, 32, 1, 2, Isolated),
        1,
        [8, 8],
        2,
        14,
    );
    for v in large.input.data.iter_mut() {
        *v *= 1.0e4;
    }
    cases.push(large);
    cases
}

fn assert_all_pass(cases: &[Case], algos: &[ConvAlgo], context: &str) {
    let expected = oracle_outputs(cases);
    let mut report = String::new();
    for target in winograd_targets(algos) {
        // Every case here must really run the Winograd path.
        for case in cases {
            assert!(
                matches!(
                    target.backend.arithmetic(&case.layer),
                    Arithmetic::Winograd { .. }
                ),
                "{} does not run {} by Winograd",
                target.label,
                case.name
            );
        }
        let outcome = check(&target, cases, &expected);
        for (case, why) in &outcome.failures {
            report.push_str(&format!("{} / {case}: {why}\n", target.label));
        }
        eprintln!(
            "{}: {} of {} cases pass ({context}), worst error {:.3} of the derived bound",
            target.label,
            outcome.passed,
            cases.len(),
            outcome.worst
        );
    }
    assert!(report.is_empty(), "{context}:\n{report}");
}

#[test]
fn named_cases_match_the_oracle_within_the_derived_bound() {
    assert_all_pass(&named_cases(), &THREE, "named Winograd cases");
}

/// Seeded random r×r, stride-1 shapes (the seed is printed on failure).
fn random_cases(seed: u64, count: usize, r: usize) -> Vec<Case> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let groups = rng.random_range(1..=4);
            let connectivity = [
                Connectivity::Isolated,
                Connectivity::Cumulative,
                Connectivity::Full,
            ][rng.random_range(0..3)];
            let cin = groups * rng.random_range(1..=12);
            let cout = groups * rng.random_range(1..=40);
            let pad = rng.random_range(0..=r - 1);
            let (h, w) = (rng.random_range(1..=14), rng.random_range(1..=14));
            // Outputs of at least one pixel: h + 2·pad ≥ r.
            let least = r.saturating_sub(2 * pad).max(1);
            let (h, w) = (h.max(least), w.max(least));
            let spec = Conv2dSpec::new(cin, cout, r, pad, groups, connectivity)
                .with_relu(rng.random_bool(0.5));
            let k = rng.random_range(1..=groups);
            let batch = rng.random_range(1..=3);
            conv_case(
                &format!("random-{i}"),
                spec,
                batch,
                [h, w],
                k,
                seed ^ i as u64,
            )
        })
        .collect()
}

#[test]
fn seeded_random_3x3_convolutions_match_the_oracle() {
    let seed = std::env::var("GROUPSCALE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x3a3_2019);
    assert_all_pass(
        &random_cases(seed, 40, 3),
        &THREE,
        &format!("random 3×3 shapes, GROUPSCALE_TEST_SEED={seed}"),
    );
}

/// F(2×2, 5×5) on the cases its 6×6 tiles get wrong first: remainders,
/// outputs smaller than a tile, padding wider than the output, k < G in
/// every connectivity, depthwise, batches, large magnitudes.
fn named_5x5_cases() -> Vec<Case> {
    use Connectivity::*;
    let conv = |cin, cout, pad, g, c| Conv2dSpec::new(cin, cout, 5, pad, g, c);
    let mut cases = vec![
        conv_case(
            "5x5-remainders",
            conv(8, 140, 2, 4, Isolated),
            1,
            [7, 5],
            4,
            31,
        ),
        conv_case(
            "5x5-remainders-cumulative",
            conv(8, 140, 2, 4, Cumulative).with_relu(true),
            2,
            [9, 7],
            3,
            32,
        ),
        conv_case(
            "5x5-remainders-full",
            conv(12, 48, 2, 4, Full),
            1,
            [9, 6],
            2,
            33,
        ),
        conv_case(
            "5x5-full-merged",
            conv(16, 128, 2, 4, Full),
            2,
            [8, 8],
            3,
            34,
        ),
        conv_case(
            "5x5-one-pixel",
            conv(8, 16, 0, 2, Isolated),
            1,
            [5, 5],
            2,
            35,
        ),
        conv_case(
            "5x5-smaller-than-tile",
            conv(8, 16, 1, 2, Cumulative),
            3,
            [4, 3],
            2,
            36,
        ),
        conv_case(
            "5x5-padding-larger-than-output",
            conv(4, 8, 4, 2, Isolated).with_relu(true),
            1,
            [2, 2],
            2,
            37,
        ),
        conv_case(
            "5x5-k-less-than-g-isolated",
            conv(16, 64, 2, 4, Isolated),
            1,
            [8, 8],
            1,
            38,
        ),
        conv_case(
            "5x5-k-less-than-g-cumulative",
            conv(16, 64, 2, 4, Cumulative),
            1,
            [8, 8],
            2,
            39,
        ),
        conv_case(
            "5x5-k-less-than-g-full",
            conv(16, 64, 2, 4, Full),
            1,
            [8, 8],
            3,
            40,
        ),
        conv_case(
            "5x5-depthwise",
            conv(16, 16, 2, 16, Isolated),
            1,
            [9, 9],
            11,
            41,
        ),
        conv_case(
            "5x5-batch",
            conv(32, 64, 2, 2, Isolated).with_relu(true),
            5,
            [12, 10],
            2,
            42,
        ),
        // conv2 of the shipped models at k = 1 and 4 (16×16 outputs: 64
        // tiles, more than two blocks at batch 3: the blocked schedule).
        conv_case(
            "5x5-conv2-k1",
            conv(64, 192, 2, 4, Cumulative).with_relu(true),
            1,
            [16, 16],
            1,
            43,
        ),
        conv_case(
            "5x5-conv2-blocked",
            conv(64, 192, 2, 4, Isolated).with_relu(true),
            3,
            [16, 16],
            4,
            44,
        ),
    ];
    let mut large = conv_case(
        "5x5-large-magnitude",
        conv(32, 32, 2, 2, Isolated),
        1,
        [8, 8],
        2,
        45,
    );
    for v in large.input.data.iter_mut() {
        *v *= 1.0e4;
    }
    cases.push(large);
    cases
}

#[test]
fn named_5x5_cases_match_the_oracle_within_the_derived_bound() {
    assert_all_pass(&named_5x5_cases(), &FIVE, "named 5×5 Winograd cases");
}

#[test]
fn seeded_random_5x5_convolutions_match_the_oracle() {
    let seed = std::env::var("GROUPSCALE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5a5_2019);
    assert_all_pass(
        &random_cases(seed, 30, 5),
        &FIVE,
        &format!("random 5×5 shapes, GROUPSCALE_TEST_SEED={seed}"),
    );
}

/// One prepared layer reused across batches and k, as a session does: every
/// run matches the oracle, so buffers sized for a larger batch or k (stale
/// channels, longer rows of products) never leak into a result.
#[test]
fn a_reused_layer_matches_the_oracle_at_every_k_and_batch() {
    use groupscale::check::selftest::compare_case;
    use groupscale::PreparedLayer;
    let spec = Conv2dSpec::new(16, 64, 3, 1, 4, Connectivity::Cumulative).with_relu(true);
    for target in winograd_targets(&THREE) {
        let mut layer: Option<PreparedLayer> = None;
        for (i, (k, batch)) in [(4, 3), (1, 1), (3, 2), (2, 3), (4, 1), (1, 3)]
            .into_iter()
            .enumerate()
        {
            // Same weights every time (the seed), new inputs.
            let mut case = conv_case("reused", spec, 3, [12, 12], k, 21);
            let shape = groupscale::Shape4::new(batch, case.input.shape.c, 12, 12);
            case.input = groupscale::Tensor::new(
                shape,
                (0..shape.len())
                    .map(|j| ((j * 7 + i * 13) % 23) as f32 / 11.0 - 1.0)
                    .collect(),
            )
            .unwrap();
            let want = &oracle_outputs(std::slice::from_ref(&case))[0];
            let layer = layer.get_or_insert_with(|| {
                let mut l = PreparedLayer::new(&target.backend, case.layer.clone()).unwrap();
                l.reserve(3, 12, 12).unwrap();
                l
            });
            let got = layer.forward(&case.input, k).unwrap();
            if let Err(m) = compare_case(&target, &case, &want.data, &got.data) {
                panic!("{} at k = {k}, batch {batch}: {m}", target.label);
            }
        }
    }
}

/// The shape rule: `auto` runs the preset 3×3 layers by Winograd and the
/// 5×5 ones directly (F(2×2, 5×5) measured slower there); a forced Winograd
/// falls back to direct on layers it cannot compute (the strict mode's error
/// is tested in tests/knobs.rs).
#[test]
fn auto_picks_winograd_for_the_preset_3x3_layers_only() {
    let auto = CpuBackend::new(CpuConfig {
        conv: Some(ConvAlgo::Auto),
        ..CpuConfig::default()
    })
    .unwrap();
    let forced = CpuBackend::new(CpuConfig {
        conv: Some(ConvAlgo::WinogradF2),
        ..CpuConfig::default()
    })
    .unwrap();
    for preset in alexnet_cifar() {
        let layer: Layer = preset.layer(1).unwrap().into();
        let three = preset.spec.kernel == [3, 3];
        assert_eq!(
            matches!(auto.arithmetic(&layer), Arithmetic::Winograd { .. }),
            three,
            "{}",
            preset.name
        );
        // Forced F(2×2) runs the 5×5 layers by F(2×2, 5×5) as well.
        let expected = if three || preset.spec.kernel == [5, 5] {
            Arithmetic::Winograd { tile: 2 }
        } else {
            Arithmetic::Direct
        };
        assert_eq!(forced.arithmetic(&layer), expected, "{}", preset.name);
    }
    let strided: Layer = conv_case(
        "stride-2",
        Conv2dSpec::new(8, 16, 3, 1, 2, Connectivity::Isolated).with_stride(2),
        1,
        [9, 9],
        2,
        1,
    )
    .layer;
    assert_eq!(forced.arithmetic(&strided), Arithmetic::Direct);
}
