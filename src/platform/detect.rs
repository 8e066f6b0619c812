//! Which board this is, from the device tree (or nothing, on a PC).

use serde::Serialize;

use crate::platform::sysfs::Sysfs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Board {
    JetsonNano,
    OdroidXu3,
    /// Any other Linux machine: its cpufreq, devfreq and hwmon still work.
    Generic,
}

#[derive(Clone, Debug)]
pub struct Platform {
    pub board: Board,
    /// The device tree's `model`, where there is one.
    pub model: Option<String>,
    pub sysfs: Sysfs,
}

impl Platform {
    /// Recognises the board under `sysfs`'s root from
    /// `/proc/device-tree/compatible` (NUL-separated strings).
    pub fn detect(sysfs: Sysfs) -> Self {
        let compatible =
            std::fs::read(sysfs.path("/proc/device-tree/compatible")).unwrap_or_default();
        let strings: Vec<String> = compatible
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
            .collect();
        let has = |needle: &str| strings.iter().any(|s| s.contains(needle));
        let board = if has("jetson-nano") || has("p3450") || has("tegra210") {
            Board::JetsonNano
        } else if has("odroid-xu3") || has("exynos5422") {
            Board::OdroidXu3
        } else {
            Board::Generic
        };
        let model = sysfs.read(&sysfs.path("/proc/device-tree/model")).ok();
        Self {
            board,
            model,
            sysfs,
        }
    }
}
