//! A runtime author's serving loop: profile the machine once (or load a
//! saved table), then per frame let the manager pick the most accurate
//! operating point that meets the budget, run it, and report what it cost.
//! Clocks are left as found here (`PointSet::NoClocks`): changing them needs
//! root, and `manager::apply` restores them when dropped.
//!
//! `cargo run --release --example manager_loop -- [BUDGET_MS]`

use std::collections::HashMap;
use std::time::Instant;

use groupscale::manager::{self, Budget, Manager, Measurement, PointSet, ProfileOptions};
use groupscale::Session;

fn main() -> groupscale::Result<()> {
    let budget_ms: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .filter(|b: &f64| b.is_finite() && *b > 0.0)
        .unwrap_or(0.5);
    let model = groupscale::loader::builtin::model("cumulative")?;
    let mut data = groupscale::data::load("builtin")?;
    data.truncate(100);

    let options = ProfileOptions {
        points: PointSet::NoClocks,
        runs: 10,
        ..ProfileOptions::new()
    };
    let table = manager::profile(&model, &data, &options, &mut |_| {})?;
    println!(
        "profiled {} points on {}",
        table.points.len(),
        table.machine
    );

    // One session per placement, prepared before the first frame.
    let mut sessions = HashMap::new();
    for p in &table.points {
        let placement = &p.point.placement;
        if !sessions.contains_key(&placement.label) {
            let backend = manager::sweep::backend_for(placement)?;
            sessions.insert(placement.label.clone(), Session::new(&model, backend, 1)?);
        }
    }
    let mut images = Vec::new();
    data.to_input(model.input(), 0..data.len(), &mut images)?;
    let item = model.input().item_len();

    let mut manager = Manager::new(table)?;
    let mut met = 0;
    let frames = 200;
    for frame in 0..frames {
        let choice = manager.select(Budget::LatencyMs(budget_ms))?;
        let point = manager.point(choice.point).point.clone();
        let session = sessions
            .get_mut(&point.placement.label)
            .expect("a session per placement");
        session.set_active_groups(point.k)?; // no allocation, no reload
        let image = &images[(frame % data.len()) * item..][..item];
        let started = Instant::now();
        session.infer(image, 1)?;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        met += usize::from(latency_ms <= budget_ms);
        manager.observe(Measurement {
            point: choice.point,
            latency_ms,
            energy_mj: None,
        });
        if frame % 50 == 0 {
            println!("frame {frame}: {} ({:?})", point.label(), choice.reason);
        }
    }
    println!("budget {budget_ms} ms met on {met} of {frames} frames");
    Ok(())
}
