//! `groupscale clocks` and `groupscale power`: show, set and restore clocks,
//! and measure power, under any sysfs root.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use groupscale::platform::energy::EnergyMeter;
use groupscale::platform::nvpmodel::{jetson_clocks, Nvpmodel};
use groupscale::platform::snapshot::NvpmodelState;
use groupscale::platform::{cpufreq, devfreq, emc, hotplug, mali, power, sysfs};
use groupscale::platform::{
    restore_state_file, ClockGuard, ClockSnapshot, GuardOptions, Snap, Sysfs, Tools,
};

use crate::Outcome;

#[derive(clap::Args)]
pub struct Common {
    /// Read and write under this root instead of / (a fake tree, a chroot).
    #[arg(long, global = true, default_value = "/")]
    sysfs_root: PathBuf,
    /// Print the writes instead of making them.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Where changes are recorded for `clocks restore` (default:
    /// GROUPSCALE_STATE_FILE, else /run/groupscale/clocks.json for root and
    /// ~/.local/state/groupscale/clocks.json for other users).
    #[arg(long, global = true)]
    state_file: Option<PathBuf>,
    /// The nvpmodel binary (default: GROUPSCALE_NVPMODEL or /usr/sbin/nvpmodel).
    #[arg(long, global = true)]
    nvpmodel_bin: Option<PathBuf>,
    /// The jetson_clocks binary that restores (default:
    /// GROUPSCALE_JETSON_CLOCKS or /usr/bin/jetson_clocks).
    #[arg(long, global = true)]
    jetson_clocks_bin: Option<PathBuf>,
    /// Wait for another groupscale that is changing clocks, instead of failing.
    #[arg(long, global = true)]
    wait_lock: bool,
}

impl Common {
    fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.sysfs_root)
    }

    fn state_file(&self) -> PathBuf {
        self.state_file
            .clone()
            .unwrap_or_else(groupscale::platform::guard::default_state_file)
    }

    /// The tools that may run: from the flags, the environment or their
    /// standard paths (never from a state file).
    fn tools(&self, jetson_clocks: Option<&std::path::Path>) -> Tools {
        Tools::find(
            self.nvpmodel_bin.as_deref(),
            jetson_clocks.or(self.jetson_clocks_bin.as_deref()),
        )
    }

    fn guard(&self, jetson_clocks: Option<&std::path::Path>) -> anyhow::Result<ClockGuard> {
        Ok(ClockGuard::new(
            self.sysfs(),
            GuardOptions {
                dry_run: self.dry_run,
                state_file: Some(self.state_file()),
                tools: self.tools(jetson_clocks),
                wait_for_lock: self.wait_lock,
            },
        )?)
    }
}

#[derive(clap::Subcommand)]
pub enum ClocksCommand {
    /// A table per clock domain (CPU policies, devfreq devices, nvpmodel, online CPUs).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change clocks. The changes stay (recorded for `clocks restore`) unless
    /// --hold-ms is given.
    Set(SetArgs),
    /// Undo the changes recorded in the state file, last first.
    Restore {
        /// Drop the state file without undoing anything, after printing what
        /// it held (for a corrupt or refused file; put the values back by hand).
        #[arg(long)]
        discard: bool,
    },
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// The cpufreq policy that --freq or --governor applies to.
    #[arg(long)]
    cpu_policy: Option<usize>,
    /// Fix the policy's frequency, in kHz.
    #[arg(long, requires = "cpu_policy", conflicts_with = "governor")]
    freq: Option<u64>,
    #[arg(long, requires = "cpu_policy")]
    governor: Option<String>,
    /// Fix the GPU's devfreq frequency, in Hz.
    #[arg(long)]
    gpu_freq: Option<u64>,
    /// Fix the Jetson memory clock (EMC), in Hz (debugfs, root only).
    #[arg(long)]
    emc_freq: Option<u64>,
    /// Use the nearest available frequency instead of refusing one not in the table.
    #[arg(long)]
    nearest: bool,
    /// Switch the Jetson power mode (nvpmodel -m M).
    #[arg(long)]
    nvpmodel: Option<u32>,
    /// Run jetson_clocks at this path (its current clocks are stored first).
    #[arg(long)]
    jetson_clocks: Option<PathBuf>,
    /// Exactly these CPUs online, e.g. 0-3.
    #[arg(long)]
    online: Option<String>,
    /// Hold the settings this long, then restore them (also on Ctrl-C).
    #[arg(long)]
    hold_ms: Option<u64>,
}

pub fn run(command: ClocksCommand, common: Common) -> anyhow::Result<Outcome> {
    match command {
        ClocksCommand::Show { json } => show(&common, json),
        ClocksCommand::Set(args) => set(&common, args),
        ClocksCommand::Restore { discard } => {
            let sysfs = common.sysfs();
            let path = common.state_file();
            if common.dry_run {
                println!("would restore the changes recorded in {}", path.display());
                return Ok(Outcome::Done);
            }
            if discard {
                match groupscale::platform::state::discard(&path)? {
                    None => println!("no state file at {}", path.display()),
                    Some(text) => {
                        println!("{} held (nothing of it was undone):", path.display());
                        // Escaped: the file may hold anything, terminal
                        // control sequences included.
                        for line in text.lines() {
                            println!("  {}", line.escape_debug());
                        }
                        println!("discarded {}", path.display());
                    }
                }
                return Ok(Outcome::Done);
            }
            let undone = restore_state_file(&sysfs, &path, &common.tools(None))?;
            println!("restored {undone} change(s) recorded in {}", path.display());
            Ok(Outcome::Done)
        }
    }
}

fn show(common: &Common, as_json: bool) -> anyhow::Result<Outcome> {
    let snapshot = ClockSnapshot::read(&common.sysfs(), common.nvpmodel_bin.as_deref())?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
        return Ok(Outcome::Done);
    }
    let ClockSnapshot {
        board,
        model,
        online_cpus: online,
        cpufreq: policies,
        devfreq: devices,
        emc: memory_clock,
        legacy_mali,
        nvpmodel,
    } = snapshot;
    println!(
        "board: {:?}{}",
        board,
        model.map(|m| format!(" ({m})")).unwrap_or_default()
    );
    match &online {
        Some(cpus) => println!("online CPUs: {}", sysfs::format_cpu_list(cpus)),
        None => println!("online CPUs: unknown (no /sys/devices/system/cpu/online)"),
    }
    if policies.is_empty() {
        println!("cpufreq: absent (no /sys/devices/system/cpu/cpufreq policies; a VM or a kernel without cpufreq)");
    }
    for p in &policies {
        println!(
            "cpufreq policy{} (CPUs {}): governor {} [{}], {}-{} kHz, now {}{}",
            p.id,
            sysfs::format_cpu_list(&p.cpus),
            p.governor,
            p.governors.join(" "),
            p.min_khz,
            p.max_khz,
            p.cur_khz.map_or("?".into(), |f| format!("{f} kHz")),
            if p.frequencies.is_empty() {
                String::new()
            } else {
                format!(
                    "; available: {}",
                    p.frequencies
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        );
    }
    if devices.is_empty() {
        println!("devfreq: absent (no /sys/class/devfreq devices)");
    }
    for d in &devices {
        println!(
            "devfreq {}: governor {}, {}-{} Hz, now {}; available: {}",
            d.name,
            d.governor,
            d.min_hz,
            d.max_hz,
            d.cur_hz.map_or("?".into(), |f| format!("{f} Hz")),
            d.frequencies
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if let Some(m) = &legacy_mali {
        let table: Vec<String> = m.table_mhz.iter().map(u64::to_string).collect();
        println!(
            "Mali (legacy DVFS): {} MHz; available: {} MHz",
            m.clock_mhz,
            table.join(" ")
        );
    }
    if let Some(e) = &memory_clock {
        println!(
            "EMC (memory clock): {} Hz{}{}",
            e.rate_hz,
            e.cap_hz
                .map(|c| format!(", nvpmodel cap {c} Hz"))
                .unwrap_or_default(),
            match (e.min_hz, e.max_hz) {
                (Some(lo), Some(hi)) => format!(", bwmgr limits {lo}-{hi} Hz"),
                _ => String::new(),
            }
        );
    }
    match &nvpmodel {
        Some(NvpmodelState {
            mode: Some((id, name)),
            ..
        }) => println!("nvpmodel: mode {id} ({name})"),
        Some(state) => println!(
            "nvpmodel: {}",
            state.mode_error.as_deref().unwrap_or("mode unknown")
        ),
        None => println!("nvpmodel: absent"),
    }
    if let Some(config) = nvpmodel.as_ref().and_then(|n| n.modes.as_ref()) {
        for m in &config.modes {
            let settings: Vec<String> = m
                .settings
                .iter()
                .map(|(p, a, v)| format!("{p} {a}={v}"))
                .collect();
            println!("  mode {} {}: {}", m.id, m.name, settings.join(", "));
        }
    }
    Ok(Outcome::Done)
}

fn set(common: &Common, args: SetArgs) -> anyhow::Result<Outcome> {
    let sysfs = common.sysfs();
    let snap = if args.nearest {
        Snap::Nearest
    } else {
        Snap::Exact
    };
    let mut guard = common.guard(args.jetson_clocks.as_deref())?;
    let mut report = Vec::new();
    // All or nothing: a failure undoes what this command already changed.
    guard.atomically(|g| {
        if let Some(mode) = args.nvpmodel {
            let nvp = Nvpmodel::find(common.nvpmodel_bin.as_deref()).ok_or_else(|| {
                groupscale::platform::PlatformError::NotSupported {
                    what: "nvpmodel".into(),
                    path: common
                        .nvpmodel_bin
                        .clone()
                        .unwrap_or_else(|| "/usr/sbin/nvpmodel".into()),
                }
            })?;
            nvp.set(g, &sysfs, mode)?;
            report.push(format!("nvpmodel mode {mode}"));
        }
        if let Some(binary) = &args.jetson_clocks {
            jetson_clocks(g, binary)?;
            report.push("jetson_clocks".into());
        }
        if let Some(id) = args.cpu_policy {
            let policy = cpufreq::policy(&sysfs, id)?;
            if let Some(khz) = args.freq {
                let now = cpufreq::set_frequency(g, &sysfs, &policy, khz, snap)?;
                report.push(format!(
                    "policy{id}: fixed at {khz} kHz; kernel reports {now} kHz"
                ));
            }
            if let Some(governor) = &args.governor {
                cpufreq::set_governor(g, &policy, governor)?;
                report.push(format!("policy{id}: governor {governor}"));
            }
        }
        if let Some(hz) = args.gpu_freq {
            // devfreq where the kernel has it; the Odroid's legacy Mali files otherwise.
            match (devfreq::gpu(&sysfs), mali::read(&sysfs)) {
                (Ok(gpu), _) => {
                    let now = devfreq::set_frequency(g, &sysfs, &gpu, hz, snap)?;
                    report.push(format!(
                        "{}: fixed at {hz} Hz; kernel reports {now} Hz",
                        gpu.name
                    ));
                }
                (Err(_), Ok(legacy)) => {
                    let now = mali::set_frequency(g, &sysfs, &legacy, hz, snap)?;
                    report.push(format!(
                        "Mali (legacy DVFS): fixed at {hz} Hz; kernel reports {now} Hz"
                    ));
                }
                (Err(e), Err(_)) => return Err(e),
            }
        }
        if let Some(hz) = args.emc_freq {
            let now = emc::set_rate(g, &sysfs, &emc::read(&sysfs)?, hz)?;
            report.push(format!("EMC: fixed at {hz} Hz; clock reports {now} Hz"));
        }
        if let Some(list) = &args.online {
            let cpus = sysfs::parse_cpu_list(list).ok_or_else(|| {
                groupscale::platform::PlatformError::Invalid(format!(
                    "--online {list:?} is not a CPU list like 0-3"
                ))
            })?;
            hotplug::set_online(g, &sysfs, &cpus)?;
            report.push(format!("online CPUs: {}", sysfs::format_cpu_list(&cpus)));
        }
        Ok(())
    })?;
    if guard.is_dry_run() {
        for line in guard.planned() {
            println!("dry run: {line}");
        }
        return Ok(Outcome::Done);
    }
    if report.is_empty() {
        bail!("nothing to set: give --cpu-policy with --freq or --governor, --gpu-freq, --emc-freq, --nvpmodel, --jetson-clocks or --online");
    }
    for line in &report {
        println!("{line}");
    }
    match args.hold_ms {
        Some(ms) => {
            println!("holding for {ms} ms, then restoring (Ctrl-C restores too)");
            std::thread::sleep(Duration::from_millis(ms));
            guard.restore().context("restoring")?;
            println!("restored");
        }
        None => {
            guard.keep();
            println!("kept; `groupscale clocks restore` undoes it");
        }
    }
    Ok(Outcome::Done)
}

#[derive(clap::Args)]
pub struct PowerArgs {
    #[command(flatten)]
    common: Common,
    /// Sampling interval (raised to the sensors' update period).
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    #[arg(long, default_value_t = 1000)]
    duration_ms: u64,
    #[arg(long)]
    json: bool,
}

pub fn power(args: PowerArgs) -> anyhow::Result<Outcome> {
    let sysfs = args.common.sysfs();
    let rails = power::rails(&sysfs);
    if rails.is_empty() {
        println!(
            "no power sensors found (no INA3221, INA231 or hwmon power*_input under {})",
            sysfs.root().display()
        );
        return Ok(Outcome::Done);
    }
    let mut guard = args.common.guard(None)?;
    power::enable(&mut guard, &sysfs, &rails)?;
    if guard.is_dry_run() {
        for line in guard.planned() {
            println!("dry run: {line}");
        }
        return Ok(Outcome::Done);
    }
    let meter = EnergyMeter::start(
        &sysfs,
        rails,
        Duration::from_millis(args.interval_ms.max(1)),
    );
    std::thread::sleep(Duration::from_millis(args.duration_ms));
    let report = meter.stop();
    guard.restore()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:.3} s, {} samples", report.seconds, report.samples);
        for r in &report.rails {
            println!(
                "  {:<16} {:>10.1} mW average {:>12.1} mJ",
                r.rail, r.average_mw, r.millijoules
            );
        }
        println!("  total            {:>12.1} mJ", report.total_millijoules);
    }
    Ok(Outcome::Done)
}
