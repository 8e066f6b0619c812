//! The runtime manager on a simulated platform: a synthetic latency and
//! power model stands in for the board, frame-to-frame noise recorded on a
//! real machine perturbs it, and the fake sysfs trees stand in for its
//! clocks.

mod common;

use groupscale::manager::{
    Budget, ClockControl, Clocks, Manager, Measurement, OperatingPoint, Placement, ProfileTable,
    ProfiledPoint, Tuning,
};
use groupscale::platform::{GuardOptions, Sysfs};
use groupscale::BackendKind;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ACCURACY: [f64; 4] = [0.90, 0.915, 0.925, 0.93];

fn placement(label: &str, threads: usize) -> Placement {
    Placement {
        backend: BackendKind::Cpu,
        threads: Some(threads),
        cores: None,
        label: label.into(),
    }
}

/// Batch-1 latency over the median of its k, frame after frame, as measured
/// on the 2-vCPU CI machine by `examples/latency_noise.rs` (the command is in
/// its header): a heavy tail (p95 1.17, p99 1.34, max 19x), not a uniform
/// jitter, so a controller that plans on the median misses.
fn recorded_ratios() -> Vec<f64> {
    let ratios: Vec<f64> = include_str!("data/latency-noise.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().parse().expect("a ratio per line"))
        .collect();
    assert!(
        ratios.len() >= 1000,
        "tests/data/latency-noise.txt is too short"
    );
    ratios
}

/// The recording replayed in order (bursts stay bursts) from a seeded start.
fn recorded_noise(seed: u64) -> impl FnMut() -> f64 {
    let ratios = recorded_ratios();
    let mut at = StdRng::seed_from_u64(seed).random_range(0..ratios.len());
    move || {
        at = (at + 1) % ratios.len();
        ratios[at]
    }
}

/// The recording's 95th percentile: what a profile's p95 column holds.
fn recorded_p95() -> f64 {
    let mut ratios = recorded_ratios();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() * 95 / 100]
}

/// k = 1..4 on one or two cores at three clock rates: latency 1 ms per
/// group on two cores at 1.4 GHz, scaling with 1/f and doubling on one core;
/// power grows with f² and the core count. The p95 column is the median
/// times `p95_over_median`.
fn simulated_table_with(p95_over_median: f64) -> ProfileTable {
    let mut points = Vec::new();
    for (label, threads, speed, watts) in [("cpu x1", 1, 0.5, 1.0), ("cpu x2", 2, 1.0, 1.8)] {
        for mhz in [600u64, 1000, 1400] {
            for k in 1..=4 {
                let f = mhz as f64 / 1400.0;
                let latency_ms = k as f64 / speed / f;
                let power_mw = 1000.0 * watts * f * f + 300.0;
                points.push(ProfiledPoint {
                    point: OperatingPoint {
                        k,
                        placement: placement(label, threads),
                        clocks: Clocks {
                            cpu_khz: vec![(0, mhz * 1000)],
                            ..Clocks::default()
                        },
                    },
                    latency_ms,
                    p95_ms: latency_ms * p95_over_median,
                    power_mw: Some(power_mw),
                    energy_mj: Some(power_mw * latency_ms / 1000.0),
                    accuracy: ACCURACY[k - 1],
                    confidence: ACCURACY[k - 1] - 0.1,
                });
            }
        }
    }
    ProfileTable {
        model: "simulated".into(),
        groups: 4,
        machine: "simulation".into(),
        points,
        left_out: Vec::new(),
    }
}

/// The table a profile on the recorded machine gives: p95 from the data.
fn simulated_table() -> ProfileTable {
    simulated_table_with(recorded_p95())
}

/// Runs `frames` frames; `budget(frame)` and `load(frame)` shape the
/// scenario, `noise()` gives each frame's ratio to the profiled median.
/// Returns, per frame, (chosen point, actual latency, met).
fn simulate(
    manager: &mut Manager,
    frames: usize,
    budget: impl Fn(usize) -> f64,
    load: impl Fn(usize) -> f64,
    mut noise: impl FnMut() -> f64,
) -> Vec<(usize, f64, bool)> {
    (0..frames)
        .map(|frame| {
            let limit = budget(frame);
            let choice = manager.select(Budget::LatencyMs(limit)).unwrap();
            let profiled = manager.point(choice.point).latency_ms;
            let latency = profiled * load(frame) * noise();
            manager.observe(Measurement {
                point: choice.point,
                latency_ms: latency,
                energy_mj: None,
            });
            (choice.point, latency, latency <= limit)
        })
        .collect()
}

fn switches(trace: &[(usize, f64, bool)]) -> usize {
    trace.windows(2).filter(|w| w[0].0 != w[1].0).count()
}

/// Budgets that step up and down. Three steps down end 10 % above a point's
/// median latency (4.4, 2.2 and 3.3 ms over 4, 2 and 3 ms): a controller
/// that plans on the median stays on that point and misses the 16 % of
/// recorded frames that run more than 10 % slow.
const STEPS: [f64; 7] = [9.0, 4.4, 1.5, 6.6, 2.2, 9.0, 3.3];

fn met_fraction(trace: &[(usize, f64, bool)]) -> f64 {
    trace.iter().filter(|t| t.2).count() as f64 / trace.len() as f64
}

#[test]
fn stepped_budget_is_met_on_95_percent_of_frames() {
    for seed in 0..8 {
        let mut manager = Manager::new(simulated_table()).unwrap();
        let trace = simulate(
            &mut manager,
            7 * 200,
            |f| STEPS[f / 200],
            |_| 1.0,
            recorded_noise(seed),
        );
        let met = met_fraction(&trace);
        assert!(
            met >= 0.95,
            "seed {seed}: budget met on {:.1}% of frames",
            100.0 * met
        );
        // It uses the budget: at 9 ms the most accurate point fits.
        let at_9ms = trace[5 * 200 + 100].0;
        assert_eq!(manager.point(at_9ms).point.k, 4, "seed {seed}");
        // No oscillation: about one switch per budget step.
        assert!(
            switches(&trace) <= 2 * STEPS.len(),
            "seed {seed}: {} switches",
            switches(&trace)
        );
    }
}

/// The test above can fail: a static lookup that plans on the median (a
/// table whose p95 is its median, no learning from observations, no
/// headroom) misses the budget on more than 5 % of the frames under the
/// recorded noise, though it passed under the uniform ±3 % jitter this test
/// used before.
#[test]
fn a_static_lookup_on_the_median_fails_the_stepped_budget() {
    let static_lookup = Tuning {
        smoothing: 0.0,
        headroom: 0.0,
    };
    let run = |noise: &mut dyn FnMut() -> f64| {
        let mut manager = Manager::with_tuning(simulated_table_with(1.0), static_lookup).unwrap();
        met_fraction(&simulate(
            &mut manager,
            7 * 200,
            |f| STEPS[f / 200],
            |_| 1.0,
            noise,
        ))
    };
    // The stepped test runs the same eight replays and needs every one to
    // meet 95 %; the static lookup stays below that on average.
    let met: Vec<f64> = (0..8).map(|seed| run(&mut recorded_noise(seed))).collect();
    let mean = met.iter().sum::<f64>() / met.len() as f64;
    assert!(
        mean < 0.95,
        "a static median lookup met the budget on {:.1}% of frames on average ({met:?})",
        100.0 * mean
    );
    let mut rng = StdRng::seed_from_u64(1);
    let met = run(&mut || rng.random_range(0.97..1.03));
    assert_eq!(met, 1.0, "uniform jitter hides the tail");
}

#[test]
fn recovers_within_a_few_frames_after_injected_load() {
    let mut manager = Manager::new(simulated_table()).unwrap();
    let load = |f: usize| if (300..600).contains(&f) { 1.8 } else { 1.0 };
    let trace = simulate(&mut manager, 900, |_| 4.0, load, recorded_noise(2));
    let misses_after_injection = trace[300..600].iter().position(|t| t.2).unwrap_or(300);
    let last_miss = trace[300..600]
        .iter()
        .rposition(|t| !t.2)
        .map_or(0, |i| i + 1);
    assert!(
        last_miss <= 8,
        "still missing the budget {last_miss} frames after the load arrived (first met after {misses_after_injection})"
    );
    // Once the load is gone, it climbs back to the point it used before.
    let before = trace[299].0;
    let back = trace[600..].iter().position(|t| t.0 == before);
    assert!(back.is_some_and(|f| f <= 30), "back after {back:?} frames");
    assert!(switches(&trace[..300]) <= 1 && switches(&trace[620..]) <= 1);
}

#[test]
fn energy_budget_picks_the_most_accurate_point_within_it() {
    let table = simulated_table();
    let mut manager = Manager::new(table.clone()).unwrap();
    let choice = manager.select(Budget::EnergyMj(2.0)).unwrap();
    let chosen = &table.points[choice.point];
    assert!(chosen.energy_mj.unwrap() <= 2.0);
    let best = table
        .points
        .iter()
        .filter(|p| p.energy_mj.unwrap() <= 2.0)
        .map(|p| p.accuracy)
        .fold(0.0, f64::max);
    assert_eq!(chosen.accuracy, best);
}

#[test]
fn energy_budget_without_sensors_is_an_error() {
    let mut table = simulated_table();
    for p in &mut table.points {
        p.energy_mj = None;
    }
    let mut manager = Manager::new(table).unwrap();
    assert!(manager.select(Budget::EnergyMj(2.0)).is_err());
}

proptest! {
    /// Whatever it has observed, the manager never picks a point the table
    /// says misses the budget while one that meets it exists.
    #[test]
    fn never_picks_a_missing_point_while_a_meeting_one_exists(
        latencies in prop::collection::vec(0.1f64..20.0, 2..24),
        accuracies in prop::collection::vec(0.5f64..1.0, 24),
        observations in prop::collection::vec((0usize..24, 0.2f64..5.0), 0..20),
        budget in 0.1f64..25.0,
    ) {
        let points: Vec<ProfiledPoint> = latencies.iter().enumerate().map(|(i, &l)| ProfiledPoint {
            point: OperatingPoint {
                k: 1 + i % 4,
                placement: placement(if i % 3 == 0 { "a" } else { "b" }, 1),
                clocks: Clocks::default(),
            },
            latency_ms: l,
            p95_ms: l * 1.1,
            power_mw: None,
            energy_mj: None,
            accuracy: accuracies[i],
            confidence: 0.5,
        }).collect();
        let n = points.len();
        let table = ProfileTable { model: "p".into(), groups: 4, machine: String::new(), points, left_out: vec![] };
        let mut manager = Manager::new(table.clone()).unwrap();
        for (point, ratio) in observations {
            let point = point % n;
            manager.observe(Measurement { point, latency_ms: table.points[point].latency_ms * ratio, energy_mj: None });
        }
        let choice = manager.select(Budget::LatencyMs(budget)).unwrap();
        let meets = |p: &ProfiledPoint| p.p95_ms <= budget;
        if table.points.iter().any(meets) {
            prop_assert!(meets(&table.points[choice.point]), "picked {:?}", table.points[choice.point]);
        }
    }
}

#[test]
fn clocks_are_restored_after_a_run_and_after_an_error() {
    let tree = common::fake_boards::odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let before = tree.snapshot();
    let sysfs = Sysfs::new(tree.root());
    let options = GuardOptions {
        state_file: Some(state.path().join("state.json")),
        ..GuardOptions::none()
    };
    {
        let mut control = ClockControl::new(sysfs.clone(), options.clone(), None).unwrap();
        control
            .apply(&Clocks {
                cpu_khz: vec![(0, 1_000_000), (4, 1_200_000)],
                ..Clocks::default()
            })
            .unwrap();
        control
            .apply(&Clocks {
                cpu_khz: vec![(4, 800_000)],
                ..Clocks::default()
            })
            .unwrap();
        // Dropped here: every value goes back.
    }
    assert!(
        !state.path().join("state.json").exists(),
        "a full restore removes the state file"
    );
    tree.assert_unchanged(&before, "after a run");
    {
        let mut control = ClockControl::new(sysfs, options, None).unwrap();
        // The second policy cannot take this frequency: nothing may stay changed.
        let err = control.apply(&Clocks {
            cpu_khz: vec![(0, 1_000_000), (4, 1_234_567)],
            ..Clocks::default()
        });
        assert!(err.is_err());
    }
    assert!(
        !state.path().join("state.json").exists(),
        "a full restore removes the state file"
    );
    tree.assert_unchanged(&before, "after an error");
}

/// The serving loop in process: it follows the budget, counts the switches
/// and budget changes, and refuses what it cannot serve.
#[test]
fn the_server_follows_the_budget_frame_by_frame() {
    use groupscale::manager::Server;
    let model = groupscale::loader::builtin::model("cumulative").unwrap();
    let groups = model.groups();
    let mut server =
        Server::new(&model, common::serving::serving_table(groups), None, None).unwrap();
    let image = vec![0.1f32; model.input().item_len()];
    let mut ks = Vec::new();
    // Budgets far from every point's cost, so the choice does not depend
    // on how fast this machine (or qemu) runs the frames: the server learns
    // a slowdown from them.
    for budget in [1e9, 1e9, 1e-9, 1e-9, 1e9] {
        let report = server.run_frame(Budget::LatencyMs(budget), &image).unwrap();
        ks.push(server.manager().point(report.start.point).point.k);
        assert_eq!(server.session().active_groups(), *ks.last().unwrap());
    }
    assert_eq!(ks, [groups, groups, 1, 1, groups]);
    let stats = server.finish().unwrap();
    assert!(!stats.allocations_counted);
    assert_eq!(
        (stats.frames, stats.switches, stats.budget_changes),
        (5, 2, 2)
    );
    assert_eq!(stats.k_switch.count, 2);
    assert_eq!(stats.log.len(), 3, "{:?}", stats.log);
    assert!(stats.log[1].contains("no point meets"), "{:?}", stats.log);

    // Frames out of order, a table for another model, and clocks without
    // a clock control are errors, not panics.
    let mut server =
        Server::new(&model, common::serving::serving_table(groups), None, None).unwrap();
    assert!(server.end_frame(1.0, None).is_err());
    let e = Server::new(
        &model,
        common::serving::serving_table(groups + 1),
        None,
        None,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("groups"), "{e}");
    let mut table = common::serving::serving_table(groups);
    table.points[0].point.clocks.cpu_khz = vec![(0, 1_000_000)];
    let e = Server::new(&model, table, None, None).err().unwrap();
    assert!(e.to_string().contains("no clock control"), "{e}");
}
