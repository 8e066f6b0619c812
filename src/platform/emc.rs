//! The Jetson memory clock (EMC). It is exposed only through debugfs, as
//! root: the current rate, nvpmodel's cap, and the bandwidth manager's
//! min/max rates, in Hz.

use std::path::PathBuf;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::freq::pin;
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::Sysfs;

const RATE: &str = "/sys/kernel/debug/clk/override.emc/clk_rate";
const CAP: &str = "/sys/kernel/nvpmodel_emc_cap/emc_iso_cap";
const MIN: &str = "/sys/kernel/debug/tegra_bwmgr/emc_min_rate";
const MAX: &str = "/sys/kernel/debug/tegra_bwmgr/emc_max_rate";

#[derive(Clone, Debug, Serialize)]
pub struct Emc {
    pub rate_hz: u64,
    pub cap_hz: Option<u64>,
    pub min_hz: Option<u64>,
    pub max_hz: Option<u64>,
    #[serde(skip)]
    min_file: PathBuf,
    #[serde(skip)]
    max_file: PathBuf,
}

/// The EMC state, or "not supported" where debugfs does not expose it (not a
/// Jetson, debugfs not mounted, or not root).
pub fn read(sysfs: &Sysfs) -> Result<Emc> {
    let rate = sysfs.path(RATE);
    if !rate.exists() {
        return Err(PlatformError::NotSupported {
            what: "the memory clock (EMC; Jetson debugfs, root only)".into(),
            path: rate,
        });
    }
    let (min_file, max_file) = (sysfs.path(MIN), sysfs.path(MAX));
    Ok(Emc {
        rate_hz: sysfs.read_u64(&rate)?,
        cap_hz: sysfs.read_u64(&sysfs.path(CAP)).ok(),
        min_hz: sysfs.read_u64(&min_file).ok(),
        max_hz: sysfs.read_u64(&max_file).ok(),
        min_file,
        max_file,
    })
}

/// Pins the EMC at `hz` through the bandwidth manager's limits and returns
/// the rate the clock reports afterwards.
pub fn set_rate(guard: &mut ClockGuard, sysfs: &Sysfs, emc: &Emc, hz: u64) -> Result<u64> {
    let current_max = emc.max_hz.ok_or_else(|| PlatformError::NotSupported {
        what: "setting the memory clock (tegra_bwmgr)".into(),
        path: emc.max_file.clone(),
    })?;
    if let Some(cap) = emc.cap_hz.filter(|&cap| cap > 0 && hz > cap) {
        return Err(PlatformError::Invalid(format!(
            "EMC rate {hz} Hz is above the current nvpmodel cap of {cap} Hz"
        )));
    }
    guard.atomically(|g| pin(g, &emc.min_file, &emc.max_file, current_max, hz))?;
    if guard.is_dry_run() {
        return Ok(hz);
    }
    Ok(sysfs.read_u64(&sysfs.path(RATE)).unwrap_or(hz))
}
