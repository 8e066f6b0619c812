//! `groupscale run`: serve inference frame by frame, each frame on the most
//! accurate operating point that meets the current budget.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Instant, SystemTime};

use groupscale::loader::builtin;
use groupscale::manager::sweep::backend_for;
use groupscale::manager::{Budget, ClockControl, Manager, Measurement, ProfileTable};
use groupscale::platform::{GuardOptions, Sysfs};
use groupscale::Session;
use serde::Serialize;

use crate::{alloc_count, profile, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` or `builtin:isolated`.
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
    #[arg(long, default_value = "/")]
    sysfs_root: PathBuf,
    #[arg(long)]
    state_file: Option<PathBuf>,
    #[arg(long)]
    nvpmodel_bin: Option<PathBuf>,
}

#[derive(Default, Serialize)]
struct SwitchCost {
    count: usize,
    total_us: f64,
    allocations: usize,
    /// The first frame after each switch, in ms: a switch that only picks
    /// a prepared session costs nothing itself, but the new placement's
    /// first frame pays for cold caches and waking its threads.
    first_frames_ms: f64,
}

impl SwitchCost {
    fn add(&mut self, us: f64, allocations: usize) {
        self.count += 1;
        self.total_us += us;
        self.allocations += allocations;
    }
}

#[derive(Serialize)]
struct Summary {
    frames: usize,
    budget_met: usize,
    budget_met_rate: f64,
    switches: usize,
    /// Changing k alone: time and heap allocations.
    k_switch: SwitchCost,
    clock_switch: SwitchCost,
    placement_switch: SwitchCost,
    budget_changes: usize,
    median_latency_ms: f64,
    /// Frames with no switch and no new budget, and the heap allocations
    /// made while they ran (choosing, inferring, feeding back): 0 is the
    /// goal. The count is process-wide, so with `--budget-file -` the stdin
    /// reader's line buffers land here too.
    steady_frames: usize,
    steady_allocations: usize,
    log: Vec<String>,
}

/// Where budgets come from during the run.
enum BudgetSource {
    Fixed(Budget),
    File {
        path: PathBuf,
        modified: Option<SystemTime>,
        current: Budget,
    },
    Lines {
        rx: mpsc::Receiver<String>,
        current: Budget,
    },
}

fn parse_budget(text: &str) -> anyhow::Result<Budget> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (text[..i].trim(), text[i..].trim().to_ascii_lowercase()),
        None => (text, "ms".to_string()),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("budget `{text}` is not a number with ms or mJ"))?;
    if !(value.is_finite() && value > 0.0) {
        anyhow::bail!("budget `{text}` must be positive");
    }
    match unit.as_str() {
        "ms" => Ok(Budget::LatencyMs(value)),
        "mj" => Ok(Budget::EnergyMj(value)),
        other => anyhow::bail!("budget unit `{other}` (expected ms or mJ)"),
    }
}

impl BudgetSource {
    fn new(args: &Args) -> anyhow::Result<Self> {
        if let Some(ms) = args.budget_ms {
            return Ok(Self::Fixed(parse_budget(&format!("{ms} ms"))?));
        }
        if let Some(mj) = args.budget_mj {
            return Ok(Self::Fixed(parse_budget(&format!("{mj} mJ"))?));
        }
        let Some(path) = &args.budget_file else {
            anyhow::bail!("give a budget: --budget-ms, --budget-mj or --budget-file");
        };
        if path.as_os_str() == "-" {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            // The first budget must be there before the first frame.
            let first = rx
                .recv()
                .map_err(|_| anyhow::anyhow!("stdin closed before the first budget"))?;
            return Ok(Self::Lines {
                current: parse_budget(&first)?,
                rx,
            });
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self::File {
            modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            current: parse_budget(&text)?,
            path: path.clone(),
        })
    }

    /// The budget for the next frame, and whether it changed.
    fn poll(&mut self) -> (Budget, bool) {
        match self {
            Self::Fixed(b) => (*b, false),
            Self::File {
                path,
                modified,
                current,
            } => {
                let now = std::fs::metadata(&*path).and_then(|m| m.modified()).ok();
                if now != *modified {
                    *modified = now;
                    // A half-written or bad file keeps the last budget.
                    if let Ok(b) = std::fs::read_to_string(&*path)
                        .map_err(anyhow::Error::from)
                        .and_then(|t| parse_budget(&t))
                    {
                        let changed = b != *current;
                        *current = b;
                        return (b, changed);
                    }
                }
                (*current, false)
            }
            Self::Lines { rx, current } => {
                let mut changed = false;
                while let Ok(line) = rx.try_recv() {
                    if let Ok(b) = parse_budget(&line) {
                        changed |= b != *current;
                        *current = b;
                    }
                }
                (*current, changed)
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let model = builtin::open(&args.model)?;
    let mut budgets = BudgetSource::new(&args)?;
    let table = match &args.profile {
        Some(path) => ProfileTable::load(path)?,
        None => {
            eprintln!("no --profile: profiling this machine at the clocks as found (groupscale profile does the full sweep)");
            let mut data = groupscale::data::load(&args.input)?;
            data.truncate(200);
            let options = groupscale::manager::ProfileOptions {
                points: groupscale::manager::PointSet::NoClocks,
                runs: 15,
                sysfs: groupscale::platform::Sysfs::new(&args.sysfs_root),
                guard: profile::guard_options(
                    args.state_file.as_deref(),
                    args.nvpmodel_bin.as_deref(),
                ),
            };
            groupscale::manager::profile(&model, &data, &options, &mut |_| {})?
        }
    };
    if table.groups != model.groups() {
        anyhow::bail!(
            "the profile is for {} groups, the model has {}",
            table.groups,
            model.groups()
        );
    }
    let mut data = groupscale::data::load(&args.input)?;
    if data.is_empty() {
        anyhow::bail!("no input images");
    }
    let frames = args.frames.unwrap_or(data.len());
    data.truncate(frames);
    let item = model.input().item_len();
    let mut inputs = Vec::new();
    data.to_input(model.input(), 0..data.len(), &mut inputs)?;

    // One session per placement in the table, prepared before the first frame.
    let mut labels: Vec<_> = table
        .points
        .iter()
        .map(|p| p.point.placement.clone())
        .collect();
    labels.sort_by(|a, b| a.label.cmp(&b.label));
    labels.dedup_by(|a, b| a.label == b.label);
    let mut sessions = Vec::new();
    for placement in &labels {
        let session = Session::new(&model, backend_for(placement)?, 1)?;
        sessions.push((placement.label.clone(), session));
    }
    let state_file = args
        .state_file
        .clone()
        .unwrap_or_else(groupscale::platform::guard::default_state_file);
    let mut control = ClockControl::new(
        Sysfs::new(&args.sysfs_root),
        GuardOptions {
            dry_run: false,
            state_file: Some(state_file),
            tools: groupscale::platform::Tools::find(args.nvpmodel_bin.as_deref(), None),
            wait_for_lock: false,
        },
        args.nvpmodel_bin.as_deref(),
    )?;
    let mut manager = Manager::new(table)?;

    let mut summary = Summary {
        frames,
        budget_met: 0,
        budget_met_rate: 0.0,
        switches: 0,
        k_switch: SwitchCost::default(),
        clock_switch: SwitchCost::default(),
        placement_switch: SwitchCost::default(),
        budget_changes: 0,
        median_latency_ms: 0.0,
        steady_frames: 0,
        steady_allocations: 0,
        log: Vec::new(),
    };
    let mut latencies = Vec::with_capacity(frames.min(1 << 16));
    let mut current: Option<usize> = None;
    let mut active = 0usize;
    for frame in 0..frames {
        let frame_allocations = alloc_count::allocations();
        let (budget, changed) = budgets.poll();
        if changed {
            summary.budget_changes += 1;
        }
        let choice = manager.select(budget)?;
        let switching = current != Some(choice.point);
        let current_was_some = current.is_some();
        let mut placement_switched = false;
        if switching {
            let point = manager.point(choice.point).point.clone();
            let previous = current.map(|c| manager.point(c).point.clone());
            let line = format!("frame {frame}: -> {} ({})", point.label(), choice.reason);
            if args.verbose && !args.json {
                println!("{line}");
            }
            summary.log.push(line);
            if previous.is_some() {
                summary.switches += 1;
            }
            if previous.as_ref().map(|p| &p.clocks) != Some(&point.clocks) {
                let t = Instant::now();
                control.apply(&point.clocks)?;
                if previous.is_some() {
                    summary.clock_switch.add(t.elapsed().as_secs_f64() * 1e6, 0);
                }
            }
            let placement_changed =
                previous.as_ref().map(|p| &p.placement.label) != Some(&point.placement.label);
            let t = Instant::now();
            let before = alloc_count::allocations();
            placement_switched = placement_changed;
            if placement_changed {
                active = sessions
                    .iter()
                    .position(|(label, _)| label == &point.placement.label)
                    .expect("a session per placement");
            }
            sessions[active].1.set_active_groups(point.k)?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            let allocations = alloc_count::allocations() - before;
            if previous.is_some() {
                if placement_changed {
                    summary.placement_switch.add(us, allocations);
                } else if previous.as_ref().map(|p| p.k) != Some(point.k) {
                    summary.k_switch.add(us, allocations);
                }
            }
            current = Some(choice.point);
        }
        let image = frame % data.len();
        let t = Instant::now();
        sessions[active]
            .1
            .infer(&inputs[image * item..(image + 1) * item], 1)?;
        let latency_ms = t.elapsed().as_secs_f64() * 1e3;
        if switching {
            let cost = if placement_switched {
                &mut summary.placement_switch
            } else {
                &mut summary.k_switch
            };
            if current_was_some {
                cost.first_frames_ms += latency_ms;
            }
        }
        let met = match budget {
            Budget::LatencyMs(limit) => latency_ms <= limit,
            // Without a per-frame energy reading, the profile's energy at the
            // observed slowdown stands in for it.
            Budget::EnergyMj(limit) => {
                let p = manager.point(choice.point);
                p.energy_mj.unwrap_or(f64::INFINITY) * latency_ms / p.latency_ms <= limit
            }
        };
        summary.budget_met += usize::from(met);
        manager.observe(Measurement {
            point: choice.point,
            latency_ms,
            energy_mj: None,
        });
        if !switching && !changed {
            summary.steady_frames += 1;
            summary.steady_allocations += alloc_count::allocations() - frame_allocations;
        }
        latencies.push(latency_ms);
    }
    control.restore()?;
    summary.budget_met_rate = summary.budget_met as f64 / frames.max(1) as f64;
    summary.median_latency_ms = groupscale::manager::sweep::percentiles(&mut latencies).0;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(Outcome::Done)
}

fn print_summary(s: &Summary) {
    println!(
        "frames {}  budget met {} ({:.1}%)  switches {}  budget changes {}  median latency {:.3} ms",
        s.frames,
        s.budget_met,
        100.0 * s.budget_met_rate,
        s.switches,
        s.budget_changes,
        s.median_latency_ms
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
        } else {
            println!(
                "switch cost, {name:<10}: {} switches, mean {:.1} µs, {} allocations{}",
                cost.count,
                cost.total_us / cost.count as f64,
                cost.allocations,
                if name == "clocks" {
                    String::new()
                } else {
                    format!(
                        "; first frame after it {:.3} ms (mean)",
                        cost.first_frames_ms / cost.count as f64
                    )
                }
            );
        }
    }
}
