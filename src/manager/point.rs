//! Operating points: how many groups run, where, and at which clocks.

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;

/// Where inference runs: a backend, and for the CPU the worker count and
/// the cores they are pinned to (task mapping).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub backend: BackendKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<Vec<usize>>,
    /// Human name, e.g. `cpu x2`, `cpu big x4`, `wgpu`.
    pub label: String,
}

/// Clock settings; an empty setting leaves the clocks as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Clocks {
    /// (cpufreq policy id, kHz) pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_khz: Vec<(usize, u64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hz: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvpmodel: Option<u32>,
}

impl Clocks {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    pub fn label(&self) -> String {
        if self.is_default() {
            return "clocks as found".into();
        }
        let mut parts: Vec<String> = self
            .cpu_khz
            .iter()
            .map(|(p, khz)| format!("cpu{p} {} MHz", khz / 1000))
            .collect();
        if let Some(hz) = self.gpu_hz {
            parts.push(format!("gpu {} MHz", hz / 1_000_000));
        }
        if let Some(m) = self.nvpmodel {
            parts.push(format!("nvpmodel {m}"));
        }
        parts.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Active groups.
    pub k: usize,
    pub placement: Placement,
    #[serde(default)]
    pub clocks: Clocks,
}

impl OperatingPoint {
    pub fn label(&self) -> String {
        format!(
            "k={} on {} at {}",
            self.k,
            self.placement.label,
            self.clocks.label()
        )
    }
}
