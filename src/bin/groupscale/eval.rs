//! `groupscale eval`: the accuracy / latency trade-off of a model at every
//! active group count, on every available backend.

use std::sync::Arc;

use groupscale::eval::{evaluate, EvalOptions, Evaluation};
use groupscale::loader::builtin;
use groupscale::{Backend, BackendKind, Session};
use serde::Serialize;

use crate::{choose_backend, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` (the shipped nested model, G = 8) or
    /// `builtin:VARIANT` (`nested`, `cumulative`, `isolated`).
    #[arg(long, default_value = "builtin")]
    model: String,
    /// `builtin` (1,000 shipped Fashion-MNIST test images) or a directory
    /// with Fashion-MNIST IDX files or CIFAR-10's test_batch.bin.
    #[arg(long, default_value = "builtin")]
    data: String,
    /// Only this backend (repeatable; default: every available one but the
    /// scalar oracle).
    #[arg(long)]
    backend: Vec<String>,
    /// Evaluate only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images per batch for the accuracy pass.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Runs timed for the latency median.
    #[arg(long, default_value_t = 30)]
    latency_runs: usize,
    /// Images per timed run (the latency of a batch, for throughput comparisons).
    #[arg(long, default_value_t = 1)]
    latency_batch: usize,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    data: String,
    images: usize,
    groups: usize,
    /// Bytes of the dynamic model's weights (all G groups, as stored).
    dynamic_weight_bytes: usize,
    /// Bytes of G static models as wide as 1..=G groups.
    static_models_weight_bytes: usize,
    backends: Vec<BackendReport>,
}

#[derive(Serialize)]
struct BackendReport {
    backend: String,
    rows: Vec<Evaluation>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let model = builtin::open(&args.model)?;
    let mut data = groupscale::data::load(&args.data)?;
    if let Some(n) = args.limit {
        data.truncate(n);
    }
    if data.is_empty() {
        anyhow::bail!("no images to evaluate");
    }
    let backends = backends(&args)?;
    let options = EvalOptions {
        batch: args.batch,
        latency_runs: args.latency_runs,
        latency_batch: args.latency_batch,
    };
    let groups = model.groups();
    let mut report = Report {
        model: model.name().to_string(),
        data: data.name.clone(),
        images: data.len(),
        groups,
        dynamic_weight_bytes: model.weight_bytes(groups),
        static_models_weight_bytes: (1..=groups).map(|k| model.weight_bytes(k)).sum(),
        backends: Vec::new(),
    };
    if !args.json {
        println!(
            "{} (G = {groups}) on {} ({} images)",
            report.model, report.data, report.images
        );
        println!(
            "{:<8} {:>2} {:>9} {:>11} {:>12} {:>10} {:>10}",
            "backend", "k", "accuracy", "confidence", "latency ms", "images/s", "weights MB"
        );
    }
    for backend in backends {
        let label = backend.describe();
        let mut session = Session::new(&model, backend, args.batch)?;
        let rows = evaluate(&model, &mut session, &data, options)?;
        if !args.json {
            for r in &rows {
                println!(
                    "{:<8} {:>2} {:>8.2}% {:>11.3} {:>12.3} {:>10.0} {:>10.2}",
                    session.backend(),
                    r.k,
                    100.0 * r.accuracy,
                    r.confidence,
                    r.latency_ms,
                    r.throughput,
                    r.weight_bytes as f64 / 1e6
                );
            }
        }
        report.backends.push(BackendReport {
            backend: label,
            rows,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "latency: median of {} batch-{} runs; images/s: batches of {}",
            args.latency_runs, args.latency_batch, args.batch
        );
        println!(
            "memory: the dynamic model holds all {groups} configurations in {:.2} MB; \
             {groups} static models of widths 1/{groups}..{groups}/{groups} need {:.2} MB ({:.2}x)",
            report.dynamic_weight_bytes as f64 / 1e6,
            report.static_models_weight_bytes as f64 / 1e6,
            report.static_models_weight_bytes as f64 / report.dynamic_weight_bytes as f64
        );
    }
    Ok(Outcome::Done)
}

/// The named backends, or every available one but the oracle (the CPU
/// backend stands for `neon`, which is the CPU backend on NEON kernels) and
/// GPU backends on software adapters, which are slow and only tested.
fn backends(args: &Args) -> anyhow::Result<Vec<Arc<dyn Backend>>> {
    if args.backend.is_empty() {
        let mut available: Vec<Arc<dyn Backend>> = Vec::new();
        for backend in groupscale::registry().available() {
            if matches!(backend.kind(), BackendKind::Scalar | BackendKind::Neon) {
                continue;
            }
            if backend.software_device() {
                if !args.json {
                    println!(
                        "skipping {}: a software adapter (name it with --backend {})",
                        backend.describe(),
                        backend.kind()
                    );
                }
                continue;
            }
            available.push(backend);
        }
        return available
            .into_iter()
            .map(|b| match b.kind() {
                BackendKind::Cpu => choose_backend(Some("cpu"), args.threads, None),
                _ => Ok(b),
            })
            .collect();
    }
    args.backend
        .iter()
        .map(|name| {
            let threads = if name.parse::<BackendKind>()? == BackendKind::Cpu {
                args.threads
            } else {
                None
            };
            choose_backend(Some(name), threads, None)
        })
        .collect()
}
