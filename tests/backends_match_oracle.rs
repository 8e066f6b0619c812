//! Every backend that runs here against the scalar oracle: named regression
//! cases, seeded random shapes (the seed is printed on failure), and property
//! tests over small shapes.

use groupscale::check::cases::{self, Case};
use groupscale::check::selftest::{check, oracle_outputs, targets, Target};

fn assert_all_pass(targets: &[Target], cases: &[Case], context: &str) {
    assert!(
        !targets.is_empty(),
        "no backend to check besides the oracle"
    );
    let expected = oracle_outputs(cases);
    let mut report = String::new();
    for target in targets {
        let outcome = check(target, cases, &expected);
        for (case, why) in &outcome.failures {
            report.push_str(&format!("{} / {case}: {why}\n", target.label));
        }
        eprintln!(
            "{}: {} of {} cases pass ({context}), worst error {:.2} of tolerance",
            target.label,
            outcome.passed,
            cases.len(),
            outcome.worst
        );
    }
    assert!(report.is_empty(), "{context}:\n{report}");
}

#[test]
fn named_regression_cases() {
    assert_all_pass(&targets(None), &cases::named(), "named cases");
}

#[test]
fn seeded_random_convolutions() {
    let seed = std::env::var("GROUPSCALE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2019);
    let cases = cases::random_convs(seed, 60, 12);
    assert_all_pass(
        &targets(None),
        &cases,
        &format!("random shapes, GROUPSCALE_TEST_SEED={seed}"),
    );
}

/// Pooling must treat NaN as `f32::max` does (ignored; an all-NaN window
/// gives −∞), on every backend and every pooling path.
#[test]
fn max_pool_handles_nan_like_the_oracle() {
    use groupscale::{Layer, MaxPool2dSpec, PreparedLayer, ScalarBackend, Shape4, Tensor};
    let shape = Shape4::new(1, 2, 4, 12);
    let data: Vec<f32> = (0..shape.len())
        .map(|i| match i % 7 {
            0 | 3 => f32::NAN,
            _ if i < 8 => f32::NAN, // an all-NaN 2×2 window at the start
            _ => i as f32 - 40.0,
        })
        .collect();
    let input = Tensor::new(shape, data).unwrap();
    let oracle: std::sync::Arc<dyn groupscale::Backend> = std::sync::Arc::new(ScalarBackend);
    for spec in [
        MaxPool2dSpec::square(2),
        MaxPool2dSpec {
            kernel: [3, 3],
            stride: [1, 2],
            padding: [1, 1],
        },
    ] {
        let want = PreparedLayer::new(&oracle, Layer::MaxPool2d(spec))
            .unwrap()
            .forward(&input, 1)
            .unwrap();
        for target in targets(None) {
            let got = PreparedLayer::new(&target.backend, Layer::MaxPool2d(spec))
                .unwrap()
                .forward(&input, 1)
                .unwrap();
            let same = want
                .data
                .iter()
                .zip(&got.data)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{} {spec:?}: {:?} vs oracle {:?}",
                target.label, got.data, want.data
            );
        }
    }
}
