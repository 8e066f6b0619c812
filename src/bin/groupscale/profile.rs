//! `groupscale profile`: measure every operating point this machine allows
//! (k × placement × clocks), write the table the manager reads, and plot it.

use std::path::PathBuf;

use groupscale::loader::builtin;
use groupscale::manager::{self, PointSet, ProfileOptions, ProfileTable};
use groupscale::Model;

use crate::clock_flags::ClockFlags;
use crate::{plots, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` (the nested model) or `builtin:VARIANT`
    /// (`nested`, `cumulative`, `isolated`).
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
    #[command(flatten)]
    pub clock: ClockFlags,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

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

/// The library's sweep ([`manager::profile`]) with a progress bar.
pub fn profile(model: &Model, args: &Args) -> anyhow::Result<ProfileTable> {
    let mut data = groupscale::data::load(&args.data)?;
    data.truncate(args.images.max(1));
    let options = ProfileOptions {
        points: args.points.parse::<PointSet>()?,
        runs: args.runs,
        sysfs: args.clock.sysfs(),
        guard: args.clock.guard(),
    };
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let table = manager::profile(model, &data, &options, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        bar.set_message(p.point.label());
    });
    bar.finish_and_clear();
    Ok(table?)
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
