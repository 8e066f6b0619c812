//! CPU clusters for task mapping on big.LITTLE: one per cpufreq policy (its
//! `related_cpus`), each named by the cores' MIDR part numbers from
//! `/proc/cpuinfo`, read once per call.

use serde::Serialize;

use crate::platform::cpufreq;
use crate::platform::error::Result;
use crate::platform::sysfs::Sysfs;

/// ARM core types, by MIDR part number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Core {
    CortexA7,
    CortexA15,
    CortexA53,
    CortexA57,
    Other(u32),
}

impl Core {
    pub fn from_part(part: u32) -> Self {
        match part {
            0xc07 => Self::CortexA7,
            0xc0f => Self::CortexA15,
            0xd03 => Self::CortexA53,
            0xd07 => Self::CortexA57,
            other => Self::Other(other),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Cluster {
    /// The cpufreq policy id (the first CPU of the cluster).
    pub id: usize,
    pub cpus: Vec<usize>,
    pub core: Option<Core>,
    pub max_khz: u64,
}

/// CPU part numbers by processor, from `/proc/cpuinfo` (ARM only).
pub fn cpu_parts(sysfs: &Sysfs) -> Vec<(usize, u32)> {
    let Ok(text) = sysfs.read(&sysfs.path("/proc/cpuinfo")) else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let mut processor = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => processor = value.trim().parse().ok(),
            "CPU part" => {
                let part = u32::from_str_radix(value.trim().trim_start_matches("0x"), 16).ok();
                if let (Some(cpu), Some(part)) = (processor, part) {
                    parts.push((cpu, part));
                }
            }
            _ => {}
        }
    }
    parts
}

/// The clusters, slowest first (little before big). Empty without cpufreq.
pub fn clusters(sysfs: &Sysfs) -> Result<Vec<Cluster>> {
    let parts = cpu_parts(sysfs);
    let mut clusters: Vec<Cluster> = cpufreq::policies(sysfs)?
        .into_iter()
        .map(|p| Cluster {
            id: p.id,
            core: p
                .cpus
                .iter()
                .find_map(|cpu| parts.iter().find(|(c, _)| c == cpu))
                .map(|&(_, part)| Core::from_part(part)),
            max_khz: p.max_khz.max(p.frequencies.last().copied().unwrap_or(0)),
            cpus: p.cpus,
        })
        .collect();
    clusters.sort_by_key(|c| (c.max_khz, c.id));
    Ok(clusters)
}

/// Resolves a cluster name: `big` (fastest), `little` (slowest), or a policy id.
pub fn find<'a>(clusters: &'a [Cluster], name: &str) -> Option<&'a Cluster> {
    match name {
        "big" => clusters.last(),
        "little" => clusters.first(),
        id => id
            .parse::<usize>()
            .ok()
            .and_then(|id| clusters.iter().find(|c| c.id == id)),
    }
}
