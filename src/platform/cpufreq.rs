//! CPU frequency per cpufreq policy (one per cluster), in kHz.

use std::path::PathBuf;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::freq::{choose, pin, Snap};
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::{parse_cpu_list, Sysfs};

const CPUFREQ: &str = "/sys/devices/system/cpu/cpufreq";

#[derive(Clone, Debug, Serialize)]
pub struct CpuPolicy {
    pub id: usize,
    #[serde(skip)]
    pub dir: PathBuf,
    /// Every CPU of the policy (`related_cpus`), online or not.
    pub cpus: Vec<usize>,
    pub driver: Option<String>,
    pub governor: String,
    pub governors: Vec<String>,
    /// Available frequencies in kHz, ascending (empty when not published).
    pub frequencies: Vec<u64>,
    pub min_khz: u64,
    pub max_khz: u64,
    pub cur_khz: Option<u64>,
}

impl CpuPolicy {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn name(&self) -> String {
        format!("cpufreq policy{}", self.id)
    }
}

/// Every cpufreq policy, by id; empty (not an error) where there is no cpufreq.
pub fn policies(sysfs: &Sysfs) -> Result<Vec<CpuPolicy>> {
    let dir = sysfs.path(CPUFREQ);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut policies = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("policy").and_then(|n| n.parse().ok()) else {
            continue;
        };
        policies.push(read_policy(sysfs, id, entry.path())?);
    }
    policies.sort_by_key(|p| p.id);
    Ok(policies)
}

pub fn policy(sysfs: &Sysfs, id: usize) -> Result<CpuPolicy> {
    let dir = sysfs.path(&format!("{CPUFREQ}/policy{id}"));
    if !dir.exists() {
        return Err(PlatformError::NotSupported {
            what: format!("cpufreq policy{id}"),
            path: dir,
        });
    }
    read_policy(sysfs, id, dir)
}

fn read_policy(sysfs: &Sysfs, id: usize, dir: PathBuf) -> Result<CpuPolicy> {
    let read = |name: &str| sysfs.read(&dir.join(name));
    let cpus_text = read("related_cpus")?;
    let cpus = parse_cpu_list(&cpus_text).ok_or_else(|| PlatformError::Parse {
        path: dir.join("related_cpus"),
        why: format!("{cpus_text:?} is not a CPU list"),
    })?;
    let mut frequencies = sysfs
        .read_list(&dir.join("scaling_available_frequencies"))
        .unwrap_or_default();
    frequencies.sort_unstable();
    Ok(CpuPolicy {
        id,
        cpus,
        driver: read("scaling_driver").ok(),
        governor: read("scaling_governor")?,
        governors: read("scaling_available_governors")
            .map(|g| g.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        frequencies,
        min_khz: sysfs.read_u64(&dir.join("scaling_min_freq"))?,
        max_khz: sysfs.read_u64(&dir.join("scaling_max_freq"))?,
        cur_khz: sysfs.read_u64(&dir.join("scaling_cur_freq")).ok(),
        dir,
    })
}

/// Fixes the policy at `khz` (or its nearest table entry with
/// [`Snap::Nearest`]), all or nothing, and returns the frequency the kernel
/// reports afterwards (`scaling_cur_freq`; the kernel may round a request).
///
/// With the `userspace` governor the limits are widened to admit the
/// frequency and `scaling_setspeed` sets it; without it min = max pins it.
pub fn set_frequency(
    guard: &mut ClockGuard,
    sysfs: &Sysfs,
    policy: &CpuPolicy,
    khz: u64,
    snap: Snap,
) -> Result<u64> {
    let khz = choose(&policy.name(), &policy.frequencies, khz, snap, "kHz")?;
    guard.atomically(|g| {
        if policy.governors.iter().any(|gov| gov == "userspace") {
            if khz > policy.max_khz {
                g.write(&policy.file("scaling_max_freq"), &khz.to_string())?;
            }
            if khz < policy.min_khz {
                g.write(&policy.file("scaling_min_freq"), &khz.to_string())?;
            }
            g.write(&policy.file("scaling_governor"), "userspace")?;
            g.write_unrecorded(&policy.file("scaling_setspeed"), &khz.to_string())
        } else {
            pin(
                g,
                &policy.file("scaling_min_freq"),
                &policy.file("scaling_max_freq"),
                policy.max_khz,
                khz,
            )
        }
    })?;
    if guard.is_dry_run() {
        return Ok(khz);
    }
    Ok(sysfs
        .read_u64(&policy.file("scaling_cur_freq"))
        .unwrap_or(khz))
}

/// Switches the policy's governor.
pub fn set_governor(guard: &mut ClockGuard, policy: &CpuPolicy, governor: &str) -> Result<()> {
    if !policy.governors.is_empty() && !policy.governors.iter().any(|g| g == governor) {
        return Err(PlatformError::UnsupportedGovernor {
            domain: policy.name(),
            wanted: governor.into(),
            available: policy.governors.join(" "),
        });
    }
    guard.write(&policy.file("scaling_governor"), governor)
}
