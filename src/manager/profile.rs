//! The profile sweep: measures every operating point this machine allows
//! (k × placement × clocks) on a model and returns the table the manager
//! reads. The clocks are restored before it returns, error or not.

use std::str::FromStr;
use std::time::Duration;

use super::sweep::{backend_for, clock_settings, placements, time_inference};
use super::{ClockControl, Clocks, OperatingPoint, ProfileTable, ProfiledPoint};
use crate::backend::BackendKind;
use crate::data::RawImages;
use crate::error::{Error, Result};
use crate::eval::{evaluate, EvalOptions};
use crate::platform::energy::EnergyMeter;
use crate::platform::{power, GuardOptions, Sysfs, Tools};
use crate::{Model, Session};

/// Which operating points a sweep measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointSet {
    /// k × placements × clock settings.
    All,
    /// k × placements, the clocks left as found.
    NoClocks,
    /// k alone, on the CPU with every core, the clocks left as found.
    Groups,
}

impl FromStr for PointSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "all" => Ok(Self::All),
            "no-clocks" => Ok(Self::NoClocks),
            "groups" => Ok(Self::Groups),
            other => Err(Error::Profile(format!(
                "unknown point set `{other}` (expected all, no-clocks or groups)"
            ))),
        }
    }
}

/// What to sweep and how.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    pub points: PointSet,
    /// Timed batch-1 inferences per point (more when power sensors need a
    /// longer window).
    pub runs: usize,
    /// The sysfs tree whose clocks and sensors are used.
    pub sysfs: Sysfs,
    /// Where and how clock changes are recorded before they are made.
    pub guard: GuardOptions,
}

impl ProfileOptions {
    /// Every point, 30 runs each, on this machine's clocks, with the state
    /// file at its default place and the standard Jetson tools.
    pub fn new() -> Self {
        Self {
            points: PointSet::All,
            runs: 30,
            sysfs: Sysfs::system(),
            guard: GuardOptions {
                dry_run: false,
                state_file: Some(crate::platform::guard::default_state_file()),
                tools: Tools::find(None, None),
                wait_for_lock: false,
            },
        }
    }
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a sweep is: called before each point is measured.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Points measured so far.
    pub done: usize,
    pub total: usize,
    pub point: &'a OperatingPoint,
}

/// Power sampling interval while profiling.
const ENERGY_INTERVAL: Duration = Duration::from_millis(5);

/// Measures `model` at every point `options` asks for, timing batch-1
/// inferences on the images of `data` (which also give each k's accuracy).
/// Points that cannot be measured here are listed in `left_out`, with why.
pub fn profile(
    model: &Model,
    data: &RawImages,
    options: &ProfileOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ProfileTable> {
    let sysfs = &options.sysfs;
    let mut inputs = Vec::new();
    data.to_input(model.input(), 0..data.len(), &mut inputs)?;
    let item = model.input().item_len();

    // Accuracy and confidence depend on k only: evaluate them once.
    let mut eval_session = Session::new(model, crate::dispatch::backend(BackendKind::Cpu)?, 50)?;
    let quality = evaluate(
        model,
        &mut eval_session,
        data,
        EvalOptions {
            batch: 50,
            latency_runs: 1,
            latency_batch: 1,
        },
    )?;
    drop(eval_session);

    let mut left_out = Vec::new();
    let mut all_placements = placements(sysfs);
    let (mut clocks, clock_notes) = match options.points {
        PointSet::All => clock_settings(sysfs),
        PointSet::NoClocks => (
            vec![Clocks::default()],
            vec!["clocks: not swept (points: no-clocks)".into()],
        ),
        PointSet::Groups => {
            all_placements.retain(|p| p.backend == BackendKind::Cpu);
            all_placements = all_placements
                .into_iter()
                .max_by_key(|p| p.threads)
                .into_iter()
                .collect();
            (
                vec![Clocks::default()],
                vec!["placements and clocks: not swept (points: groups)".into()],
            )
        }
    };
    left_out.extend(clock_notes);
    let rails = power::rails(sysfs);
    if rails.is_empty() {
        left_out.push("power and energy: no power sensors found".into());
    }

    let nvpmodel = options.guard.tools.nvpmodel.as_ref();
    let mut control = ClockControl::new(
        sysfs.clone(),
        options.guard.clone(),
        nvpmodel.map(|n| n.binary.as_path()),
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
                progress(Progress {
                    done: points.len(),
                    total,
                    point: &point,
                });
                session.set_active_groups(k)?;
                // With sensors, time long enough for several power samples.
                let (meter, min_seconds) = if rails.is_empty() {
                    (None, 0.0)
                } else {
                    let meter = EnergyMeter::start(sysfs, rails.clone(), ENERGY_INTERVAL);
                    (Some(meter), 10.0 * ENERGY_INTERVAL.as_secs_f64())
                };
                let (latency_ms, p95_ms, timed) =
                    time_inference(session, &inputs, item, options.runs, min_seconds)?;
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
            }
        }
    }
    control.restore()?;
    Ok(ProfileTable {
        model: model.name().to_string(),
        groups: model.groups(),
        machine: machine_description(),
        points,
        left_out,
    })
}

/// The CPU model and the cores online, for the table's header.
pub fn machine_description() -> String {
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
