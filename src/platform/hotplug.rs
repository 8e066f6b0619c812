//! CPU hotplug (`cpuN/online`) for task mapping.

use crate::platform::error::{PlatformError, Result};
use crate::platform::guard::ClockGuard;
use crate::platform::sysfs::{format_cpu_list, parse_cpu_list, Sysfs};

const CPU: &str = "/sys/devices/system/cpu";

fn cpu_list(sysfs: &Sysfs, name: &str) -> Result<Vec<usize>> {
    let path = sysfs.path(&format!("{CPU}/{name}"));
    let text = sysfs.read(&path)?;
    parse_cpu_list(&text).ok_or_else(|| PlatformError::Parse {
        path,
        why: format!("{text:?} is not a CPU list"),
    })
}

/// CPUs online now. Re-read it before setting affinity: nvpmodel modes take
/// cores offline.
pub fn online(sysfs: &Sysfs) -> Result<Vec<usize>> {
    cpu_list(sysfs, "online")
}

pub fn possible(sysfs: &Sysfs) -> Result<Vec<usize>> {
    cpu_list(sysfs, "possible")
}

/// Brings exactly `wanted` online, all or nothing: new CPUs come online
/// before others go offline, so the set never shrinks below what stays.
pub fn set_online(guard: &mut ClockGuard, sysfs: &Sysfs, wanted: &[usize]) -> Result<()> {
    let possible = possible(sysfs)?;
    if wanted.is_empty() {
        return Err(PlatformError::Invalid(
            "at least one CPU must stay online".into(),
        ));
    }
    if let Some(cpu) = wanted.iter().find(|c| !possible.contains(c)) {
        return Err(PlatformError::Invalid(format!(
            "CPU {cpu} does not exist here (possible: {})",
            format_cpu_list(&possible)
        )));
    }
    let current = online(sysfs)?;
    guard.atomically(|g| {
        let bring_up = wanted.iter().filter(|c| !current.contains(c));
        let take_down = current.iter().filter(|c| !wanted.contains(c));
        for (cpu, value) in bring_up
            .map(|c| (c, "1"))
            .chain(take_down.map(|c| (c, "0")))
        {
            let path = sysfs.path(&format!("{CPU}/cpu{cpu}/online"));
            if !path.exists() {
                return Err(PlatformError::NotSupported {
                    what: format!("hotplug of CPU {cpu}"),
                    path,
                });
            }
            g.write(&path, value)?;
        }
        Ok(())
    })
}
