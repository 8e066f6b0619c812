//! Times the preset layers at every k, interleaving the k values round by
//! round so that noise from a shared machine hits them alike.

use std::time::{Duration, Instant};

use anyhow::bail;
use groupscale::presets::{alexnet_cifar, PresetConv, GROUPS};
use groupscale::PreparedLayer;
use serde::Serialize;

use crate::{choose_backend, Outcome};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Pin CPU workers to these cores, e.g. 0-3 or 4,5.
    #[arg(long)]
    cores: Option<String>,
    #[arg(long)]
    backend: Option<String>,
    /// Only these layers, e.g. L1,L3.
    #[arg(long, value_delimiter = ',')]
    layers: Vec<String>,
    /// Timed milliseconds per layer (all k together), after warm-up.
    #[arg(long, default_value_t = 1000)]
    time_ms: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    layer: &'static str,
    k: usize,
    median_ms: f64,
    gflops: f64,
    /// time(k) / time(G)
    ratio_to_full: f64,
    runs: usize,
}

#[derive(Serialize)]
struct Report {
    backend: String,
    describe: String,
    batch: usize,
    rows: Vec<Row>,
    /// Sum of the layers' medians per k (only when every layer ran).
    stack_ms: Vec<f64>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let backend = choose_backend(args.backend.as_deref(), args.threads, args.cores.as_deref())?;
    let presets: Vec<PresetConv> = alexnet_cifar()
        .into_iter()
        .filter(|p| {
            args.layers.is_empty() || args.layers.iter().any(|l| l.eq_ignore_ascii_case(p.name))
        })
        .collect();
    if presets.is_empty() {
        bail!("--layers {:?} names none of L1..L5", args.layers);
    }
    let budget = Duration::from_millis(args.time_ms.max(1));
    let mut rows = Vec::new();
    for preset in &presets {
        let medians = time_preset(&backend, preset, args.batch, budget)?;
        for (k, (median, runs)) in medians.iter().enumerate().map(|(i, m)| (i + 1, *m)) {
            rows.push(Row {
                layer: preset.name,
                k,
                median_ms: median * 1e3,
                gflops: preset.flops(args.batch, k) / median / 1e9,
                ratio_to_full: median / medians[GROUPS - 1].0,
                runs,
            });
        }
    }
    let stack_ms = if presets.len() == alexnet_cifar().len() {
        (1..=GROUPS)
            .map(|k| rows.iter().filter(|r| r.k == k).map(|r| r.median_ms).sum())
            .collect()
    } else {
        Vec::new()
    };
    let report = Report {
        backend: backend.kind().to_string(),
        describe: backend.describe(),
        batch: args.batch,
        rows,
        stack_ms,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(Outcome::Done)
}

/// Median seconds and run count for k = 1..=G.
fn time_preset(
    backend: &std::sync::Arc<dyn groupscale::Backend>,
    preset: &PresetConv,
    batch: usize,
    budget: Duration,
) -> anyhow::Result<Vec<(f64, usize)>> {
    let [h, w] = preset.input_hw;
    let mut layer = PreparedLayer::new(backend, preset.layer(7)?.into())?;
    layer.reserve(batch, h, w)?;
    let full_in = preset.input_shape(batch, GROUPS);
    let input: Vec<f32> = (0..full_in.len())
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let full_out = layer.output_shape(full_in, GROUPS)?;
    let mut output = vec![0.0f32; full_out.len()];
    let mut run = |k: usize| -> anyhow::Result<Duration> {
        let shape = preset.input_shape(batch, k);
        let out_len = layer.output_shape(shape, k)?.len();
        let start = Instant::now();
        layer.run(&input[..shape.len()], shape, k, &mut output[..out_len])?;
        Ok(start.elapsed())
    };
    // Warm-up: caches, thread pool, page faults.
    for _ in 0..3 {
        for k in 1..=GROUPS {
            run(k)?;
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); GROUPS];
    let start = Instant::now();
    while start.elapsed() < budget || samples[0].len() < 5 {
        for k in 1..=GROUPS {
            samples[k - 1].push(run(k)?.as_secs_f64());
        }
    }
    Ok(samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            (s[s.len() / 2], s.len())
        })
        .collect())
}

fn print_table(report: &Report) {
    println!(
        "{} ({}), batch {}",
        report.backend, report.describe, report.batch
    );
    println!(
        "{:<6} {:>2} {:>10} {:>9} {:>11}",
        "layer", "k", "median ms", "GFLOP/s", "t(k)/t(4)"
    );
    for r in &report.rows {
        println!(
            "{:<6} {:>2} {:>10.4} {:>9.1} {:>11.3}",
            r.layer, r.k, r.median_ms, r.gflops, r.ratio_to_full
        );
    }
    if !report.stack_ms.is_empty() {
        let cells: Vec<String> = report
            .stack_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| format!("k={}: {ms:.3} ms", i + 1))
            .collect();
        println!("conv stack L1-L5 per batch: {}", cells.join(", "));
    }
}
