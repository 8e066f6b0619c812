//! Power sensors: the Jetson Nano's INA3221 (iio, mW), the Odroid XU3's
//! INA231 (text watts, enabled on demand) and generic hwmon (µW).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::Sysfs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    Ina3221,
    Ina231,
    Hwmon,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rail {
    pub name: String,
    pub kind: SensorKind,
    #[serde(skip)]
    pub path: PathBuf,
    /// Multiplies the file's number into milliwatts.
    #[serde(skip)]
    to_mw: f64,
    /// The sensor's `enable` file, for sensors that start disabled.
    #[serde(skip)]
    pub enable: Option<PathBuf>,
    /// How often the sensor produces a new value, where it says.
    pub update_period: Option<Duration>,
    /// Measures the whole board's input, so it is the total and the other
    /// rails are parts of it.
    pub is_total: bool,
}

impl Rail {
    pub fn read_mw(&self, sysfs: &Sysfs) -> Result<f64> {
        let text = sysfs.read(&self.path)?;
        let value: f64 = text.trim().parse().map_err(|_| PlatformError::Parse {
            path: self.path.clone(),
            why: format!("{text:?} is not a number"),
        })?;
        Ok(value * self.to_mw)
    }
}

/// Every power rail found under the root.
pub fn rails(sysfs: &Sysfs) -> Vec<Rail> {
    let mut rails = ina3221(sysfs);
    rails.extend(ina231(sysfs));
    rails.extend(hwmon(sysfs));
    rails
}

fn dirs(sysfs: &Sysfs, pattern_dir: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(sysfs.path(pattern_dir))
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Jetson: `ina3221x/<bus>-<addr>/iio:deviceN/{rail_name_N,in_power_N_input}`.
fn ina3221(sysfs: &Sysfs) -> Vec<Rail> {
    let mut rails = Vec::new();
    for chip in dirs(sysfs, "/sys/bus/i2c/drivers/ina3221x") {
        for iio in std::fs::read_dir(&chip)
            .map(|e| e.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if !iio
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("iio:device"))
            {
                continue;
            }
            for channel in 0..8 {
                let (Ok(name), power) = (
                    sysfs.read(&iio.join(format!("rail_name_{channel}"))),
                    iio.join(format!("in_power{channel}_input")),
                ) else {
                    continue;
                };
                if power.exists() {
                    rails.push(Rail {
                        is_total: name.contains("_IN"),
                        name,
                        kind: SensorKind::Ina3221,
                        path: power,
                        to_mw: 1.0,
                        enable: None,
                        update_period: None,
                    });
                }
            }
        }
    }
    rails
}

/// Odroid XU3: `INA231/<bus>-00<addr>/sensor_W`, bus number varying.
fn ina231(sysfs: &Sysfs) -> Vec<Rail> {
    let mut rails = Vec::new();
    for chip in dirs(sysfs, "/sys/bus/i2c/drivers/INA231") {
        let Some(dir_name) = chip.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let name = match dir_name.rsplit('-').next() {
            Some("0040") => "A15",
            Some("0041") => "memory",
            Some("0044") => "GPU",
            Some("0045") => "A7",
            _ => continue,
        };
        let power = chip.join("sensor_W");
        if !power.exists() {
            continue;
        }
        let update_period = sysfs
            .read(&chip.join("update_period"))
            .ok()
            .and_then(|t| t.split_whitespace().next().and_then(|us| us.parse().ok()))
            .map(Duration::from_micros);
        rails.push(Rail {
            name: name.into(),
            kind: SensorKind::Ina231,
            path: power,
            to_mw: 1000.0,
            enable: Some(chip.join("enable")).filter(|p| p.exists()),
            update_period,
            is_total: false,
        });
    }
    rails
}

/// Generic hwmon: `hwmonN/power*_input` in µW, named by `power*_label` or `name`.
fn hwmon(sysfs: &Sysfs) -> Vec<Rail> {
    let mut rails = Vec::new();
    for dev in dirs(sysfs, "/sys/class/hwmon") {
        let device_name = sysfs
            .read(&dev.join("name"))
            .unwrap_or_else(|_| "hwmon".into());
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dev)
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        inputs.retain(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("power") && n.ends_with("_input")
            })
        });
        inputs.sort();
        for input in inputs {
            let stem = input
                .file_name()
                .expect("named")
                .to_string_lossy()
                .trim_end_matches("_input")
                .to_string();
            let label = sysfs.read(&dev.join(format!("{stem}_label"))).ok();
            rails.push(Rail {
                name: label.unwrap_or_else(|| format!("{device_name}/{stem}")),
                kind: SensorKind::Hwmon,
                path: input,
                to_mw: 1e-3,
                enable: None,
                update_period: None,
                is_total: false,
            });
        }
    }
    rails
}

/// Turns on sensors that start disabled (INA231), through the guard so they
/// are turned off again afterwards.
pub fn enable(guard: &mut ClockGuard, sysfs: &Sysfs, rails: &[Rail]) -> Result<()> {
    for enable in rails.iter().filter_map(|r| r.enable.as_ref()) {
        if sysfs.read(enable)?.trim() != "1" {
            guard.write(enable, "1")?;
        }
    }
    Ok(())
}
