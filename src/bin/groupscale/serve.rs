//! `groupscale run`: serve inference frame by frame, each frame on the most
//! accurate operating point that meets the current budget
//! ([`groupscale::manager::Server`]).

use std::path::PathBuf;

use groupscale::loader::builtin;
use groupscale::manager::{
    self, Budget, BudgetSource, ClockControl, PointSet, ProfileOptions, ProfileTable, ServeStats,
    Server,
};
use serde::Serialize;

use crate::clock_flags::ClockFlags;
use crate::{alloc_count, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` (the nested model) or `builtin:VARIANT`
    /// (`nested`, `cumulative`, `isolated`).
    #[arg(long, default_value = "builtin")]
    model: String,
    /// The profile table (`groupscale profile`); without one, this machine
    /// is profiled quickly at the clocks as found.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Latency budget per frame, in milliseconds.
    #[arg(long, group = "budget")]
    budget_ms: Option<f64>,
    /// Energy budget per frame, in millijoules (needs power sensors).
    #[arg(long, group = "budget")]
    budget_mj: Option<f64>,
    /// Read the budget from this file whenever it changes, or from stdin
    /// lines with `-`: `12.5` or `12.5 ms` or `3 mJ`.
    #[arg(long, group = "budget")]
    budget_file: Option<PathBuf>,
    /// `builtin` (the shipped test images) or a dataset directory.
    #[arg(long, default_value = "builtin")]
    input: String,
    /// Frames to serve (default: one per input image).
    #[arg(long)]
    frames: Option<usize>,
    /// Print each switch as it happens.
    #[arg(long)]
    verbose: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    clock: ClockFlags,
}

#[derive(Serialize)]
struct Summary {
    #[serde(flatten)]
    stats: ServeStats,
    budget_met_rate: f64,
    median_latency_ms: f64,
}

fn budget_source(args: &Args) -> anyhow::Result<BudgetSource> {
    // The flags go through the same parser as the file: one set of rules.
    Ok(match (args.budget_ms, args.budget_mj, &args.budget_file) {
        (Some(ms), _, _) => BudgetSource::fixed(format!("{ms} ms").parse::<Budget>()?),
        (_, Some(mj), _) => BudgetSource::fixed(format!("{mj} mJ").parse::<Budget>()?),
        (_, _, Some(path)) if path.as_os_str() == "-" => {
            BudgetSource::lines(std::io::BufReader::new(std::io::stdin()))?
        }
        (_, _, Some(path)) => BudgetSource::file(path)?,
        _ => anyhow::bail!("give a budget: --budget-ms, --budget-mj or --budget-file"),
    })
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let model = builtin::open(&args.model)?;
    let mut budgets = budget_source(&args)?;
    let table = match &args.profile {
        Some(path) => ProfileTable::load(path)?,
        None => {
            eprintln!("no --profile: profiling this machine at the clocks as found (groupscale profile does the full sweep)");
            let mut data = groupscale::data::load(&args.input)?;
            data.truncate(200);
            let options = ProfileOptions {
                points: PointSet::NoClocks,
                runs: 15,
                sysfs: args.clock.sysfs(),
                guard: args.clock.guard(),
            };
            manager::profile(&model, &data, &options, &mut |_| {})?
        }
    };
    let mut data = groupscale::data::load(&args.input)?;
    if data.is_empty() {
        anyhow::bail!("no input images");
    }
    let frames = args.frames.unwrap_or(data.len());
    data.truncate(frames);
    let item = model.input().item_len();
    let mut inputs = Vec::new();
    data.to_input(model.input(), 0..data.len(), &mut inputs)?;

    let clocks = ClockControl::new(
        args.clock.sysfs(),
        args.clock.guard(),
        args.clock.nvpmodel_bin.as_deref(),
    )?;
    let mut server = Server::new(&model, table, Some(clocks), Some(alloc_count::allocations))?;
    let mut latencies = Vec::with_capacity(frames.min(1 << 16));
    for frame in 0..frames {
        let image = frame % data.len();
        let report = server.run_frame(budgets.poll(), &inputs[image * item..(image + 1) * item])?;
        if args.verbose && !args.json && (report.start.switched || frame == 0) {
            println!("{}", server.stats().log.last().map_or("", String::as_str));
        }
        latencies.push(report.latency_ms);
    }
    let stats = server.finish()?;
    let summary = Summary {
        budget_met_rate: stats.budget_met as f64 / frames.max(1) as f64,
        median_latency_ms: manager::sweep::percentiles(&mut latencies).0,
        stats,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(Outcome::Done)
}

fn print_summary(summary: &Summary) {
    let s = &summary.stats;
    println!(
        "frames {}  budget met {} ({:.1}%)  switches {}  budget changes {}  median latency {:.3} ms",
        s.frames,
        s.budget_met,
        100.0 * summary.budget_met_rate,
        s.switches,
        s.budget_changes,
        summary.median_latency_ms
    );
    println!(
        "steady frames {} (no switch, no new budget): {} allocations",
        s.steady_frames, s.steady_allocations
    );
    for (name, cost) in [
        ("k alone", &s.k_switch),
        ("clocks", &s.clock_switch),
        ("placement", &s.placement_switch),
    ] {
        if cost.count == 0 {
            println!("switch cost, {name:<10}: no switches");
            continue;
        }
        let first_frame = if name == "clocks" {
            String::new()
        } else {
            format!(
                "; first frame after it {:.3} ms (mean)",
                cost.first_frames_ms / cost.count as f64
            )
        };
        println!(
            "switch cost, {name:<10}: {} switches, mean {:.1} µs, {} allocations{first_frame}",
            cost.count,
            cost.mean_us(),
            cost.allocations
        );
    }
}
