//! Every clock setting a machine exposes, read at once: what `groupscale
//! clocks show` prints, as a value a program can keep or serialise.

use std::path::Path;

use serde::Serialize;

use super::cpufreq::{self, CpuPolicy};
use super::detect::{Board, Platform};
use super::devfreq::{self, DevfreqDevice};
use super::emc::{self, Emc};
use super::error::Result;
use super::hotplug;
use super::mali::{self, LegacyMali};
use super::nvpmodel::{NvpConfig, Nvpmodel};
use super::sysfs::Sysfs;

#[derive(Clone, Debug, Serialize)]
pub struct ClockSnapshot {
    pub board: Board,
    /// The device tree's `model`, where there is one.
    pub model: Option<String>,
    /// `None` where the kernel has no CPU hotplug file.
    pub online_cpus: Option<Vec<usize>>,
    pub cpufreq: Vec<CpuPolicy>,
    pub devfreq: Vec<DevfreqDevice>,
    /// The Jetson's memory clock, where there is one.
    pub emc: Option<Emc>,
    /// The Odroid XU3's Mali under the vendor kernel's own DVFS files.
    pub legacy_mali: Option<LegacyMali>,
    /// `None` where there is no nvpmodel binary.
    pub nvpmodel: Option<NvpmodelState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NvpmodelState {
    /// The current mode's id and name (`nvpmodel -q`).
    pub mode: Option<(u32, String)>,
    pub modes: Option<NvpConfig>,
    /// Why the mode could not be queried, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_error: Option<String>,
}

impl ClockSnapshot {
    /// Reads the clocks under `sysfs`; nvpmodel is the binary at
    /// `nvpmodel_bin`, else `GROUPSCALE_NVPMODEL` or the standard path.
    /// Only an unreadable cpufreq or devfreq tree is an error; the optional
    /// parts are `None` when absent.
    pub fn read(sysfs: &Sysfs, nvpmodel_bin: Option<&Path>) -> Result<Self> {
        let platform = Platform::detect(sysfs.clone());
        let nvpmodel = Nvpmodel::find(nvpmodel_bin).map(|n| {
            let (mode, mode_error) = match n.query() {
                Ok(mode) => (Some(mode), None),
                Err(e) => (None, Some(e.to_string())),
            };
            NvpmodelState {
                mode,
                modes: n.modes(sysfs).ok(),
                mode_error,
            }
        });
        Ok(Self {
            board: platform.board,
            model: platform.model,
            online_cpus: hotplug::online(sysfs).ok(),
            cpufreq: cpufreq::policies(sysfs)?,
            devfreq: devfreq::devices(sysfs)?,
            emc: emc::read(sysfs).ok(),
            legacy_mali: mali::read(sysfs).ok(),
            nvpmodel,
        })
    }
}
