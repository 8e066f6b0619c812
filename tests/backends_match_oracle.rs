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
