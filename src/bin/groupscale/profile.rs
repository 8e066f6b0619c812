//! `groupscale profile`: measure every operating point this machine allows
//! (k × placement × clocks), write the table the manager reads, and plot it.

use std::path::PathBuf;
use std::time::Duration;

use groupscale::eval::{evaluate, EvalOptions};
use groupscale::loader::builtin;
use groupscale::manager::sweep::{backend_for, clock_settings, placements, time_inference};
use groupscale::manager::{ClockControl, Clocks, OperatingPoint, ProfileTable, ProfiledPoint};
use groupscale::platform::energy::EnergyMeter;
use groupscale::platform::{power, GuardOptions, Sysfs};
use groupscale::{Model, Session};

use crate::{choose_backend, plots, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` or `builtin:isolated`.
    #[arg(long, default_value = "builtin")]
    pub model: String,
    /// Which points: `all` (k × placements × clocks), `no-clocks` (leave
    /// the clocks as found), or `groups` (k alone, default placement).
    #[arg(long, default_value = "all")]
    pub points: String,
    /// Timed batch-1 inferences per point.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// `builtin` (the shipped test images) or a dataset directory, for the
    /// accuracy of each k and the timed inputs.
    #[arg(long, default_value = "builtin")]
    pub data: String,
    /// Use only the first N images.
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    #[arg(long, default_value = "profile.json")]
    pub output: PathBuf,
    /// Write SVG plots here.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Root of the sysfs tree (a fake board for tests).
    #[arg(long, default_value = "/")]
    pub sysfs_root: PathBuf,
    /// Where clock changes are recorded before they are made.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[arg(long)]
    pub nvpmodel_bin: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Power sampling interval while profiling.
const ENERGY_INTERVAL: Duration = Duration::from_millis(5);

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let model = builtin::open(&args.model)?;
    let table = profile(&model, &args)?;
    table.save(&args.output)?;
    println!(
        "{} points written to {}",
        table.points.len(),
        args.output.display()
    );
    for why in &table.left_out {
        println!("left out: {why}");
    }
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir)?;
        let written = plots::write_all(&table, dir)?;
        for path in written {
            println!("plot: {}", path.display());
        }
    }
    print_ranges(&table);
    Ok(Outcome::Done)
}

/// Measures the table; clocks are restored before it returns, error or not.
pub fn profile(model: &Model, args: &Args) -> anyhow::Result<ProfileTable> {
    let sysfs = Sysfs::new(&args.sysfs_root);
    let mut data = groupscale::data::load(&args.data)?;
    data.truncate(args.images.max(1));
    let mut inputs = Vec::new();
    data.to_input(model.input(), 0..data.len(), &mut inputs)?;
    let item = model.input().item_len();

    // Accuracy and confidence depend on k only: evaluate them once.
    let mut eval_session = Session::new(model, choose_backend(Some("cpu"), None, None)?, 50)?;
    let quality = evaluate(
        model,
        &mut eval_session,
        &data,
        EvalOptions {
            batch: 50,
            latency_runs: 1,
        },
    )?;
    drop(eval_session);

    let mut left_out = Vec::new();
    let mut all_placements = placements(&sysfs);
    let (mut clocks, clock_notes) = match args.points.as_str() {
        "all" => clock_settings(&sysfs),
        "no-clocks" => (
            vec![Clocks::default()],
            vec!["clocks: not swept (--points no-clocks)".into()],
        ),
        "groups" => {
            all_placements.retain(|p| p.backend == groupscale::BackendKind::Cpu);
            all_placements = all_placements
                .into_iter()
                .max_by_key(|p| p.threads)
                .into_iter()
                .collect();
            (
                vec![Clocks::default()],
                vec!["placements and clocks: not swept (--points groups)".into()],
            )
        }
        other => anyhow::bail!("unknown --points `{other}` (expected all, no-clocks or groups)"),
    };
    left_out.extend(clock_notes);
    let rails = power::rails(&sysfs);
    if rails.is_empty() {
        left_out.push("power and energy: no power sensors found".into());
    }

    let state_file = args
        .state_file
        .clone()
        .unwrap_or_else(groupscale::platform::guard::default_state_file);
    let mut control = ClockControl::new(
        sysfs.clone(),
        GuardOptions {
            dry_run: false,
            state_file: Some(state_file),
            tools: groupscale::platform::Tools::find(args.nvpmodel_bin.as_deref(), None),
            wait_for_lock: false,
        },
        args.nvpmodel_bin.as_deref(),
    )?;
    // Clocks that cannot be set (no permission) leave the rest to profile.
    if clocks.len() > 1 {
        if let Err(e) = control.apply(&clocks[1]).and_then(|()| control.restore()) {
            left_out.push(format!("clocks: cannot be set here: {e}"));
            clocks.truncate(1);
        }
    }

    let mut sessions = Vec::new();
    for placement in &all_placements {
        match backend_for(placement).and_then(|b| Session::new(model, b, 1)) {
            Ok(session) => sessions.push((placement.clone(), session)),
            Err(e) => left_out.push(format!("placement {}: {e}", placement.label)),
        }
    }
    let total = clocks.len() * sessions.len() * model.groups();
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut points = Vec::with_capacity(total);
    for setting in &clocks {
        control.apply(setting)?;
        for (placement, session) in &mut sessions {
            for k in 1..=model.groups() {
                let point = OperatingPoint {
                    k,
                    placement: placement.clone(),
                    clocks: setting.clone(),
                };
                bar.set_message(point.label());
                session.set_active_groups(k)?;
                // With sensors, time long enough for several power samples.
                let (meter, min_seconds) = if rails.is_empty() {
                    (None, 0.0)
                } else {
                    let meter = EnergyMeter::start(&sysfs, rails.clone(), ENERGY_INTERVAL);
                    (Some(meter), 10.0 * ENERGY_INTERVAL.as_secs_f64())
                };
                let (latency_ms, p95_ms, timed) =
                    time_inference(session, &inputs, item, args.runs, min_seconds)?;
                let (power_mw, energy_mj) = match meter {
                    Some(meter) => {
                        let report = meter.stop();
                        let mw = report.total_millijoules / report.seconds.max(1e-9);
                        // The warm-up ran inside the window too.
                        let inferences = (timed + 3) as f64;
                        (Some(mw), Some(report.total_millijoules / inferences))
                    }
                    None => (None, None),
                };
                let q = &quality[k - 1];
                points.push(ProfiledPoint {
                    point,
                    latency_ms,
                    p95_ms,
                    power_mw,
                    energy_mj,
                    accuracy: q.accuracy,
                    confidence: q.confidence,
                });
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    control.restore()?;
    Ok(ProfileTable {
        model: model.name().to_string(),
        groups: model.groups(),
        machine: machine_description(),
        points,
        left_out,
    })
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Hardware"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores online")
}

/// The dynamic range each knob adds, as the paper reports it.
fn print_ranges(table: &ProfileTable) {
    for range in plots::dynamic_ranges(table) {
        let energy = range
            .energy
            .map_or(String::from("-"), |e| format!("{e:.2}x"));
        println!(
            "dynamic range, {:<28} latency {:>6.2}x  energy {:>6}  ({} points)",
            range.name, range.latency, energy, range.points
        );
    }
}
