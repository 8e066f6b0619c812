//! Times the preset layers at every k, interleaving the k values round by
//! round so that noise from a shared machine hits them alike.

use std::time::{Duration, Instant};

use anyhow::bail;
use groupscale::platform::sysfs::format_cpu_list;
use groupscale::platform::topology::{self, Cluster};
use groupscale::platform::Sysfs;
use groupscale::presets::{alexnet_cifar, PresetConv, GROUPS};
use groupscale::{Layer, PreparedLayer};
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
    #[arg(long, conflicts_with = "cluster")]
    cores: Option<String>,
    /// Pin CPU workers to a cluster: big, little, or a cpufreq policy id
    /// (task mapping on big.LITTLE; see `groupscale info`).
    #[arg(long)]
    cluster: Option<String>,
    /// Only this many active groups (default: every k).
    #[arg(long)]
    k: Option<usize>,
    /// Exactly this many timed runs per k, without warm-up (for instruction
    /// counting); default: warm up, then run for --time-ms.
    #[arg(long)]
    runs: Option<usize>,
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
    /// time(k) / time(G), when k = G was timed too
    ratio_to_full: Option<f64>,
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
    let cores = match &args.cluster {
        Some(name) => {
            let clusters = topology::clusters(&Sysfs::system())?;
            let Some(cluster) = topology::find(&clusters, name) else {
                bail!(
                    "no cluster {name:?} here (clusters: {})",
                    describe_clusters(&clusters)
                );
            };
            Some(format_cpu_list(&cluster.cpus))
        }
        None => args.cores.clone(),
    };
    let backend = choose_backend(args.backend.as_deref(), args.threads, cores.as_deref())?;
    let ks: Vec<usize> = match args.k {
        Some(k) if (1..=GROUPS).contains(&k) => vec![k],
        Some(k) => bail!("--k {k} is out of range 1..={GROUPS}"),
        None => (1..=GROUPS).collect(),
    };
    if args.runs == Some(0) {
        bail!("--runs must be at least 1");
    }
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
        let medians = time_preset(&backend, preset, args.batch, &ks, budget, args.runs)?;
        let full = ks.iter().position(|&k| k == GROUPS).map(|i| medians[i].0);
        for (&k, &(median, runs)) in ks.iter().zip(&medians) {
            rows.push(Row {
                layer: preset.name,
                k,
                median_ms: median * 1e3,
                gflops: preset.flops(args.batch, k) / median / 1e9,
                ratio_to_full: full.map(|f| median / f),
                runs,
            });
        }
    }
    let stack_ms = if presets.len() == alexnet_cifar().len() && ks.len() == GROUPS {
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

/// Median seconds and run count for each k in `ks`.
fn time_preset(
    backend: &std::sync::Arc<dyn groupscale::Backend>,
    preset: &PresetConv,
    batch: usize,
    ks: &[usize],
    budget: Duration,
    exact_runs: Option<usize>,
) -> anyhow::Result<Vec<(f64, usize)>> {
    let [h, w] = preset.input_hw;
    let conv: Layer = preset.layer(7)?.into();
    let full_in = preset.input_shape(batch, GROUPS);
    let input: Vec<f32> = (0..full_in.len())
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    // A device backend is timed on data already on the device, kernels and
    // synchronisation only, as cuDNN is timed; the CPU backends on host data.
    let mut run: Box<dyn FnMut(usize) -> anyhow::Result<Duration>> =
        match backend.prepare_chain(std::slice::from_ref(&conv)) {
            Some(chain) => {
                let mut chain = chain?;
                chain.reserve(full_in, GROUPS)?;
                Box::new(move |k| {
                    let shape = preset.input_shape(batch, k);
                    chain.upload(&input[..shape.len()], shape)?;
                    let start = Instant::now();
                    chain.run_resident(shape, k)?;
                    Ok(start.elapsed())
                })
            }
            None => {
                let mut layer = PreparedLayer::new(backend, conv)?;
                layer.reserve(batch, h, w)?;
                let full_out = layer.output_shape(full_in, GROUPS)?;
                let mut output = vec![0.0f32; full_out.len()];
                Box::new(move |k| {
                    let shape = preset.input_shape(batch, k);
                    let out_len = layer.output_shape(shape, k)?.len();
                    let start = Instant::now();
                    layer.run(&input[..shape.len()], shape, k, &mut output[..out_len])?;
                    Ok(start.elapsed())
                })
            }
        };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); ks.len()];
    if let Some(runs) = exact_runs {
        for _ in 0..runs {
            for (i, &k) in ks.iter().enumerate() {
                samples[i].push(run(k)?.as_secs_f64());
            }
        }
    } else {
        // Warm-up: caches, thread pool, page faults.
        for _ in 0..3 {
            for &k in ks {
                run(k)?;
            }
        }
        let start = Instant::now();
        while start.elapsed() < budget || samples[0].len() < 5 {
            for (i, &k) in ks.iter().enumerate() {
                samples[i].push(run(k)?.as_secs_f64());
            }
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
        let ratio = r.ratio_to_full.map_or("-".into(), |x| format!("{x:.3}"));
        println!(
            "{:<6} {:>2} {:>10.4} {:>9.1} {:>11}",
            r.layer, r.k, r.median_ms, r.gflops, ratio
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

pub fn describe_clusters(clusters: &[Cluster]) -> String {
    if clusters.is_empty() {
        return "none found: no cpufreq policies".into();
    }
    clusters
        .iter()
        .map(|c| {
            let core = c.core.map_or(String::new(), |core| format!(" {core:?}"));
            format!(
                "policy{} = CPUs {}{core} up to {} kHz",
                c.id,
                format_cpu_list(&c.cpus),
                c.max_khz
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
