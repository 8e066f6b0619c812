//! A profile table for serving tests: k = 1..G on one CPU thread at the
//! clocks as found, each group 1 ms, accuracy rising with k.

#![allow(dead_code)]

use groupscale::manager::{Clocks, OperatingPoint, Placement, ProfileTable, ProfiledPoint};
use groupscale::BackendKind;

pub fn serving_table(groups: usize) -> ProfileTable {
    let points = (1..=groups)
        .map(|k| ProfiledPoint {
            point: OperatingPoint {
                k,
                placement: Placement {
                    backend: BackendKind::Cpu,
                    threads: Some(1),
                    cores: None,
                    label: "cpu x1".into(),
                },
                clocks: Clocks::default(),
            },
            latency_ms: k as f64,
            p95_ms: 1.1 * k as f64,
            power_mw: None,
            energy_mj: None,
            accuracy: 0.8 + 0.01 * k as f64,
            confidence: 0.7,
        })
        .collect();
    ProfileTable {
        model: "serving test".into(),
        groups,
        machine: String::new(),
        points,
        left_out: Vec::new(),
    }
}
