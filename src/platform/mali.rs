//! The Odroid XU3's Mali-T628 on Hardkernel's 3.10 kernels, which predate
//! its devfreq driver: `/sys/devices/11800000.mali/{clock,dvfs_table,
//! dvfs_min_lock,dvfs_max_lock}`, all in MHz. Newer kernels expose the GPU
//! through devfreq instead (see `devfreq`).

use std::path::PathBuf;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::freq::{choose, pin, Snap};
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::Sysfs;

const MALI: &str = "/sys/devices/11800000.mali";

#[derive(Clone, Debug, Serialize)]
pub struct LegacyMali {
    /// Available frequencies in MHz, ascending.
    pub table_mhz: Vec<u64>,
    pub clock_mhz: u64,
    #[serde(skip)]
    dir: PathBuf,
}

pub fn read(sysfs: &Sysfs) -> Result<LegacyMali> {
    let dir = sysfs.path(MALI);
    if !dir.join("dvfs_table").exists() {
        return Err(PlatformError::NotSupported {
            what: "legacy Mali DVFS (Hardkernel 3.10 kernels)".into(),
            path: dir,
        });
    }
    let mut table_mhz = sysfs.read_list(&dir.join("dvfs_table"))?;
    table_mhz.sort_unstable();
    Ok(LegacyMali {
        clock_mhz: sysfs.read_u64(&dir.join("clock"))?,
        table_mhz,
        dir,
    })
}

/// Locks the GPU at `hz` (rounded to MHz) with min lock = max lock, and
/// returns the clock it reports afterwards, in Hz.
pub fn set_frequency(
    guard: &mut ClockGuard,
    sysfs: &Sysfs,
    mali: &LegacyMali,
    hz: u64,
    snap: Snap,
) -> Result<u64> {
    let mhz = choose("Mali (MHz)", &mali.table_mhz, hz / 1_000_000, snap, "MHz")?;
    // An unlocked max reads as 0 or -1 on some kernels: treat it as the top
    // of the table when ordering the writes.
    let top = mali.table_mhz.last().copied().unwrap_or(mhz);
    let current_max = sysfs
        .read(&mali.dir.join("dvfs_max_lock"))
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&v| v > 0)
        .unwrap_or(top);
    guard.atomically(|g| {
        pin(
            g,
            &mali.dir.join("dvfs_min_lock"),
            &mali.dir.join("dvfs_max_lock"),
            current_max,
            mhz,
        )
    })?;
    if guard.is_dry_run() {
        return Ok(mhz * 1_000_000);
    }
    Ok(sysfs.read_u64(&mali.dir.join("clock")).unwrap_or(mhz) * 1_000_000)
}
