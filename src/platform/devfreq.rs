//! Device frequencies through devfreq (Hz): the Jetson Nano GPU, the Odroid
//! XU3 Mali on newer kernels, memory controllers. Devices are found by
//! scanning `/sys/class/devfreq`, never by a hard-coded name.

use std::path::PathBuf;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::freq::{choose, pin, Snap};
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::Sysfs;

const DEVFREQ: &str = "/sys/class/devfreq";

#[derive(Clone, Debug, Serialize)]
pub struct DevfreqDevice {
    pub name: String,
    #[serde(skip)]
    pub dir: PathBuf,
    pub governor: String,
    pub governors: Vec<String>,
    /// Available frequencies in Hz, ascending.
    pub frequencies: Vec<u64>,
    pub min_hz: u64,
    pub max_hz: u64,
    pub cur_hz: Option<u64>,
}

impl DevfreqDevice {
    /// A GPU, by the names the boards use (`57000000.gpu`, `11800000.gpu`, `*.mali`).
    pub fn is_gpu(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        name.contains("gpu") || name.contains("mali")
    }
}

pub fn devices(sysfs: &Sysfs) -> Result<Vec<DevfreqDevice>> {
    let Ok(entries) = std::fs::read_dir(sysfs.path(DEVFREQ)) else {
        return Ok(Vec::new());
    };
    let mut devices = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let read = |name: &str| sysfs.read(&dir.join(name));
        let mut frequencies = sysfs
            .read_list(&dir.join("available_frequencies"))
            .unwrap_or_default();
        frequencies.sort_unstable();
        devices.push(DevfreqDevice {
            name: entry.file_name().to_string_lossy().into_owned(),
            governor: read("governor")?,
            governors: read("available_governors")
                .map(|g| g.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            frequencies,
            min_hz: sysfs.read_u64(&dir.join("min_freq"))?,
            max_hz: sysfs.read_u64(&dir.join("max_freq"))?,
            cur_hz: sysfs.read_u64(&dir.join("cur_freq")).ok(),
            dir,
        });
    }
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(devices)
}

/// The first GPU devfreq device, or "not supported".
pub fn gpu(sysfs: &Sysfs) -> Result<DevfreqDevice> {
    devices(sysfs)?
        .into_iter()
        .find(DevfreqDevice::is_gpu)
        .ok_or_else(|| PlatformError::NotSupported {
            what: "GPU frequency control (devfreq)".into(),
            path: sysfs.path(DEVFREQ),
        })
}

/// Pins the device at `hz` (min = max), all or nothing, and returns the
/// frequency it reports afterwards (`cur_freq`).
pub fn set_frequency(
    guard: &mut ClockGuard,
    sysfs: &Sysfs,
    device: &DevfreqDevice,
    hz: u64,
    snap: Snap,
) -> Result<u64> {
    let hz = choose(&device.name, &device.frequencies, hz, snap, "Hz")?;
    guard.atomically(|g| {
        pin(
            g,
            &device.dir.join("min_freq"),
            &device.dir.join("max_freq"),
            device.max_hz,
            hz,
        )
    })?;
    if guard.is_dry_run() {
        return Ok(hz);
    }
    Ok(sysfs.read_u64(&device.dir.join("cur_freq")).unwrap_or(hz))
}
