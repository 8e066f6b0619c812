//! The runtime manager's budget input: the budget-line parser that
//! `groupscale run --budget-file` applies to the whole file and, with
//! `--budget-file -`, to each stdin line; then each budget it accepts fed to
//! `Manager::select` and `Manager::observe`.
//!
//! The parser is the library's `impl FromStr for Budget`
//! (src/manager/budget.rs), which the CLI calls.
//!
//! Input: budget text (the file; its lines are the stdin lines). When it
//! holds a line `---`, the text before it is a profile table (JSON, as
//! `groupscale profile` writes it) and the text after it the budgets;
//! otherwise a fixed three-point table with energy is used.

#![no_main]

use groupscale::backend::BackendKind;
use groupscale::manager::{
    Budget, Clocks, Manager, Measurement, OperatingPoint, Placement, ProfileTable, ProfiledPoint,
};
use libfuzzer_sys::fuzz_target;

fn fixed_table() -> ProfileTable {
    let point = |k: usize, latency_ms: f64, energy_mj: f64, accuracy: f64, label: &str| {
        ProfiledPoint {
            point: OperatingPoint {
                k,
                placement: Placement {
                    backend: BackendKind::Cpu,
                    threads: Some(1),
                    cores: None,
                    label: label.into(),
                },
                clocks: Clocks::default(),
            },
            latency_ms,
            p95_ms: latency_ms * 1.2,
            power_mw: Some(1000.0 * energy_mj / latency_ms),
            energy_mj: Some(energy_mj),
            accuracy,
            confidence: 0.9,
        }
    };
    ProfileTable {
        model: "fuzz".into(),
        groups: 4,
        machine: String::new(),
        points: vec![
            point(1, 1.0, 2.0, 0.6, "cpu x1"),
            point(2, 2.0, 3.5, 0.8, "cpu x1"),
            point(4, 3.0, 9.0, 0.9, "cpu x2"),
        ],
        left_out: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (table, budgets) = match text.split_once("\n---\n") {
        Some((json, rest)) => match serde_json::from_str::<ProfileTable>(json) {
            Ok(table) => (table, rest),
            Err(_) => return,
        },
        None => (fixed_table(), text),
    };
    let Ok(mut manager) = Manager::new(table) else {
        return;
    };
    let has_energy = manager.table().has_energy();
    let parsed = std::iter::once(budgets.parse::<Budget>())
        .chain(budgets.lines().map(str::parse::<Budget>))
        .filter_map(Result::ok);
    for (i, budget) in parsed.enumerate().take(64) {
        let limit = match budget {
            Budget::LatencyMs(v) | Budget::EnergyMj(v) => v,
        };
        assert!(limit.is_finite() && limit > 0.0, "accepted budget {budget}");
        let _ = budget.to_string();
        let choice = match manager.select(budget) {
            Ok(c) => c,
            Err(e) => {
                // The one refusal documented: an energy budget on a table
                // without energy measurements.
                assert!(
                    matches!(budget, Budget::EnergyMj(_)) && !has_energy,
                    "select({budget}) failed: {e}"
                );
                continue;
            }
        };
        assert!(choice.point < manager.table().points.len());
        assert_eq!(manager.current(), Some(choice.point));
        let _ = choice.reason.to_string();
        // Feed back a frame that cost a varying fraction of the budget.
        let p = manager.point(choice.point).clone();
        let scale = [0.5, 0.9, 1.0, 1.5, 4.0][i % 5];
        manager.observe(Measurement {
            point: choice.point,
            latency_ms: p.latency_ms * scale,
            energy_mj: p.energy_mj.map(|e| e * scale),
        });
        let s = manager.slowdown(&p.point.placement.label);
        assert!(s.is_finite() && s > 0.0, "slowdown {s} after observing {scale}×");
    }
});
