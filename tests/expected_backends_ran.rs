//! CI must fail when a backend that should run on its machine did not. The
//! test script decides what should run from the machine's own description
//! (/proc/cpuinfo), independently of the crate's detection, and passes it in
//! `GROUPSCALE_EXPECT_BACKENDS` (labels as `groupscale selftest` prints them).

use groupscale::check::selftest::targets;

#[test]
fn every_expected_backend_runs_here() {
    let Ok(expected) = std::env::var("GROUPSCALE_EXPECT_BACKENDS") else {
        eprintln!(
            "SKIPPED every_expected_backend_runs_here: GROUPSCALE_EXPECT_BACKENDS is unset, \
             so this run cannot know which backends belong on this machine (scripts/test.sh sets it)"
        );
        return;
    };
    let running: Vec<String> = targets(None).into_iter().map(|t| t.label).collect();
    let missing: Vec<&str> = expected
        .split(',')
        .map(str::trim)
        .filter(|want| !want.is_empty() && !running.iter().any(|r| r == want))
        .collect();
    let reasons: Vec<String> = groupscale::registry()
        .probes()
        .iter()
        .filter_map(|p| {
            p.backend
                .as_ref()
                .err()
                .map(|why| format!("{}: {why}", p.kind))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "expected on this machine but not running: {missing:?}; running: {running:?}; unavailable: {reasons:?}"
    );
    eprintln!("every expected backend runs: {expected}");
}
