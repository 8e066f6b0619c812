//! Setting a point's clocks on the platform, under a guard that puts every
//! changed value back when it is dropped (or on SIGINT/SIGTERM).

use std::path::Path;

use super::point::Clocks;
use crate::error::Result;
use crate::platform::freq::Snap;
use crate::platform::guard::{ClockGuard, GuardOptions};
use crate::platform::nvpmodel::Nvpmodel;
use crate::platform::{cpufreq, devfreq, Sysfs};

/// Sets `point`'s clocks and returns the guard: dropping it (or an error,
/// a panic, SIGINT or SIGTERM) puts every changed clock back.
pub fn apply(
    point: &super::point::OperatingPoint,
    sysfs: Sysfs,
    options: GuardOptions,
) -> Result<ClockControl> {
    let mut control = ClockControl::new(sysfs, options, None)?;
    control.apply(&point.clocks)?;
    Ok(control)
}

/// Owns the clock guard of a run: applying another point's clocks changes
/// only what differs, and dropping it restores everything.
pub struct ClockControl {
    sysfs: Sysfs,
    guard: ClockGuard,
    nvpmodel_bin: Option<std::path::PathBuf>,
    applied: Clocks,
}

impl ClockControl {
    pub fn new(sysfs: Sysfs, options: GuardOptions, nvpmodel_bin: Option<&Path>) -> Result<Self> {
        let guard = ClockGuard::new(sysfs.clone(), options)?;
        Ok(Self {
            sysfs,
            guard,
            nvpmodel_bin: nvpmodel_bin.map(Path::to_path_buf),
            applied: Clocks::default(),
        })
    }

    pub fn applied(&self) -> &Clocks {
        &self.applied
    }

    /// Sets `clocks` (all or nothing). A setting absent from `clocks` is as
    /// found: one that an earlier point pinned is put back first.
    pub fn apply(&mut self, clocks: &Clocks) -> Result<()> {
        if clocks == &self.applied {
            return Ok(());
        }
        if releases_a_pin(&self.applied, clocks) {
            self.restore()?;
        }
        let sysfs = self.sysfs.clone();
        let nvp_bin = self.nvpmodel_bin.clone();
        self.guard.atomically(|g| {
            if let Some(mode) = clocks.nvpmodel {
                let nvp = Nvpmodel::find(nvp_bin.as_deref()).ok_or_else(|| {
                    crate::platform::PlatformError::Tool {
                        tool: "nvpmodel".into(),
                        why: "not installed".into(),
                    }
                })?;
                nvp.set(g, &sysfs, mode)?;
            }
            for &(id, khz) in &clocks.cpu_khz {
                let policy = cpufreq::policy(&sysfs, id)?;
                cpufreq::set_frequency(g, &sysfs, &policy, khz, Snap::Exact)?;
            }
            if let Some(hz) = clocks.gpu_hz {
                let gpu = devfreq::gpu(&sysfs)?;
                devfreq::set_frequency(g, &sysfs, &gpu, hz, Snap::Exact)?;
            }
            Ok(())
        })?;
        self.applied = clocks.clone();
        Ok(())
    }

    /// Restores every value changed so far.
    pub fn restore(&mut self) -> Result<()> {
        self.guard.restore()?;
        self.applied = Clocks::default();
        Ok(())
    }
}

/// Whether going from `applied` to `next` leaves a setting unpinned that
/// `applied` pinned (writing `next` alone would leave the old pin in place).
fn releases_a_pin(applied: &Clocks, next: &Clocks) -> bool {
    let cpu_released = applied
        .cpu_khz
        .iter()
        .any(|(id, _)| !next.cpu_khz.iter().any(|(next_id, _)| next_id == id));
    cpu_released
        || (applied.gpu_hz.is_some() && next.gpu_hz.is_none())
        || (applied.nvpmodel.is_some() && next.nvpmodel.is_none())
}
