//! Records how much one machine's batch-1 latency varies from frame to frame,
//! as ratios to the median, for the manager's simulation
//! (`tests/data/latency-noise.txt`, read by `tests/manager.rs`):
//!
//! `cargo run --release --example latency_noise -- 4000 > tests/data/latency-noise.txt`
//!
//! It runs the shipped model on the CPU backend at k = 1 and k = G,
//! alternating in blocks of 50 frames, and prints one ratio per line (each
//! frame's latency over the median of its k), after a header of comments.

use std::time::Instant;

fn main() -> groupscale::Result<()> {
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4000);
    let model = groupscale::loader::builtin::model("cumulative")?;
    let backend = groupscale::default_backend()?;
    let mut session = groupscale::Session::new(&model, backend.clone(), 1)?;
    let image = vec![0.25f32; model.input().item_len()];
    let groups = model.groups();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(), Vec::new()];
    for block in 0..frames.div_ceil(50) {
        let which = block % 2;
        session.set_active_groups(if which == 0 { 1 } else { groups })?;
        session.infer(&image, 1)?; // the switch's first frame is not noise
        for _ in 0..50 {
            let t = Instant::now();
            session.infer(&image, 1)?;
            samples[which].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("# groupscale examples/latency_noise: batch-1 latency / median of its k");
    println!(
        "# backend {}, {} frames, k = 1 and k = {groups}",
        backend.describe(),
        frames
    );
    for s in &samples {
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        println!(
            "# k median {median:.4} ms, p95/median {:.3}, max/median {:.2}",
            sorted[sorted.len() * 95 / 100] / median,
            sorted[sorted.len() - 1] / median
        );
        for v in s {
            println!("{:.4}", v / median);
        }
    }
    Ok(())
}
