//! The profile table: every operating point measured on this machine, as
//! `groupscale profile` writes it and the manager reads it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::point::OperatingPoint;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfiledPoint {
    pub point: OperatingPoint,
    /// Median batch-1 latency.
    pub latency_ms: f64,
    pub p95_ms: f64,
    /// Average power while running, where sensors exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_mw: Option<f64>,
    /// Energy per inference, where sensors exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_mj: Option<f64>,
    /// Top-1 accuracy with this k (from the evaluation).
    pub accuracy: f64,
    pub confidence: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileTable {
    pub model: String,
    pub groups: usize,
    /// Where and when it was measured, free-form.
    #[serde(default)]
    pub machine: String,
    pub points: Vec<ProfiledPoint>,
    /// Knobs that could not be swept here, and why.
    #[serde(default)]
    pub left_out: Vec<String>,
}

impl ProfileTable {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let table: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Profile(format!("profile table {}: {e}", path.display())))?;
        table.validate()?;
        Ok(table)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Profile(format!("profile table: {e}")))?;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.points.is_empty() {
            return Err(Error::Profile("the profile table has no points".into()));
        }
        for p in &self.points {
            if p.point.k == 0 || p.point.k > self.groups {
                return Err(Error::Profile(format!(
                    "profile point {} has k outside 1..={}",
                    p.point.label(),
                    self.groups
                )));
            }
            if !(p.latency_ms.is_finite() && p.latency_ms > 0.0) {
                return Err(Error::Profile(format!(
                    "profile point {} has latency {}",
                    p.point.label(),
                    p.latency_ms
                )));
            }
        }
        Ok(())
    }

    pub fn has_energy(&self) -> bool {
        self.points.iter().all(|p| p.energy_mj.is_some())
    }
}

/// Indices of the points no other point beats on both `cost` (lower) and
/// accuracy (higher), sorted by cost.
pub fn pareto_front(points: &[ProfiledPoint], cost: impl Fn(&ProfiledPoint) -> f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        cost(&points[a])
            .total_cmp(&cost(&points[b]))
            .then(points[b].accuracy.total_cmp(&points[a].accuracy))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].accuracy > best {
            best = points[i].accuracy;
            front.push(i);
        }
    }
    front
}
