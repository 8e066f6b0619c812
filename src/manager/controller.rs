//! Budget-driven choice of operating points, with feedback.
//!
//! The manager predicts each point's cost as its profiled cost times a
//! slowdown factor learned per placement from what it observes (a co-running
//! load makes the factor grow). It picks the most accurate point whose
//! profiled *and* predicted cost meet the budget. Two rules stop it from
//! oscillating at a boundary: it moves to a costlier point only with
//! `headroom` to spare, and the factor moves smoothly: it follows the median
//! of the last few observations through an exponential average, so a single
//! outlier frame (a page fault, a preemption) does not move it at all.

use std::collections::{HashMap, VecDeque};

use super::budget::Budget;
use super::table::{ProfileTable, ProfiledPoint};
use crate::error::{Error, Result};

/// What one frame cost at a point.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// Index of the point in the table.
    pub point: usize,
    pub latency_ms: f64,
    pub energy_mj: Option<f64>,
}

/// The manager's choice and why it was made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    pub point: usize,
    /// Whether the point is predicted to meet the budget.
    pub meets: bool,
    pub reason: Reason,
}

/// Why a point was chosen: data, formatted only when someone prints it, so
/// choosing allocates nothing on the per-frame path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reason {
    /// The most accurate point predicted to meet the budget.
    MostAccurateMeeting { budget: Budget, predicted: f64 },
    /// None is predicted to meet it: the cheapest.
    CheapestMissing { budget: Budget, predicted: f64 },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::MostAccurateMeeting { budget, predicted } => write!(
                f,
                "most accurate point predicted to meet {budget} ({predicted:.3} predicted)"
            ),
            Reason::CheapestMissing { budget, predicted } => write!(
                f,
                "no point meets {budget}: the cheapest ({predicted:.3} predicted)"
            ),
        }
    }
}

/// Observations per placement in the median filter.
const MEDIAN_OF: usize = 5;

#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Weight of the newest observation in the slowdown average.
    pub smoothing: f64,
    /// Fraction of the budget a costlier point must leave free before the
    /// manager moves to it.
    pub headroom: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            smoothing: 0.35,
            headroom: 0.10,
        }
    }
}

pub struct Manager {
    table: ProfileTable,
    tuning: Tuning,
    /// Observed / profiled cost, per placement label.
    slowdown: HashMap<String, f64>,
    /// The last observed ratios per placement, for the median filter.
    recent: HashMap<String, VecDeque<f64>>,
    current: Option<usize>,
}

impl Manager {
    pub fn new(table: ProfileTable) -> Result<Self> {
        Self::with_tuning(table, Tuning::default())
    }

    /// A manager for the profile table at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        Self::new(ProfileTable::load(path)?)
    }

    pub fn with_tuning(table: ProfileTable, tuning: Tuning) -> Result<Self> {
        table.validate()?;
        Ok(Self {
            table,
            tuning,
            slowdown: HashMap::new(),
            recent: HashMap::new(),
            current: None,
        })
    }

    pub fn table(&self) -> &ProfileTable {
        &self.table
    }

    pub fn point(&self, index: usize) -> &ProfiledPoint {
        &self.table.points[index]
    }

    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// The learned slowdown of a placement (1 until observed).
    pub fn slowdown(&self, placement: &str) -> f64 {
        self.slowdown.get(placement).copied().unwrap_or(1.0)
    }

    fn predicted(&self, budget: Budget, p: &ProfiledPoint) -> Option<f64> {
        Some(budget.cost(p)? * self.slowdown(&p.point.placement.label))
    }

    /// The most accurate point meeting `budget` (cheaper on ties), or the
    /// cheapest predicted point when none does.
    pub fn select(&mut self, budget: Budget) -> Result<Choice> {
        if matches!(budget, Budget::EnergyMj(_)) && !self.table.has_energy() {
            return Err(Error::Profile(
                "an energy budget needs a profile with energy measurements (no power sensors were found when it was made)".into(),
            ));
        }
        let limit = budget.limit();
        let points = &self.table.points;
        let mut best: Option<(usize, f64)> = None;
        for (i, p) in points.iter().enumerate() {
            let (Some(table_cost), Some(predicted)) = (budget.cost(p), self.predicted(budget, p))
            else {
                continue;
            };
            // Moving to a costlier point than the current one needs headroom.
            let current_cost = self
                .current
                .and_then(|c| self.predicted(budget, &points[c]))
                .unwrap_or(f64::INFINITY);
            let allowed = if Some(i) != self.current && predicted > current_cost {
                limit * (1.0 - self.tuning.headroom)
            } else {
                limit
            };
            if table_cost > limit || predicted > allowed {
                continue;
            }
            let better = match best {
                None => true,
                Some((b, b_cost)) => {
                    p.accuracy > points[b].accuracy
                        || (p.accuracy == points[b].accuracy && predicted < b_cost)
                }
            };
            if better {
                best = Some((i, predicted));
            }
        }
        let choice = match best {
            Some((i, predicted)) => Choice {
                point: i,
                meets: true,
                reason: Reason::MostAccurateMeeting { budget, predicted },
            },
            None => {
                // Best effort: the cheapest predicted point, among those the
                // table says meet the budget when there are any.
                let cheapest = |table_meets: bool| {
                    points
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| !table_meets || budget.cost(p).is_some_and(|c| c <= limit))
                        .filter_map(|(i, p)| Some((i, self.predicted(budget, p)?)))
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                };
                let (i, predicted) = cheapest(true)
                    .or_else(|| cheapest(false))
                    .ok_or_else(|| Error::Profile("no point has a cost for this budget".into()))?;
                Choice {
                    point: i,
                    meets: false,
                    reason: Reason::CheapestMissing { budget, predicted },
                }
            }
        };
        self.current = Some(choice.point);
        Ok(choice)
    }

    /// Feeds back what a frame cost, updating its placement's slowdown.
    pub fn observe(&mut self, m: Measurement) {
        let Some(p) = self.table.points.get(m.point) else {
            return;
        };
        let ratio = match (m.energy_mj, p.energy_mj) {
            (Some(e), Some(profiled)) if profiled > 0.0 => e / profiled,
            _ => m.latency_ms / p.latency_ms,
        };
        if !ratio.is_finite() || ratio <= 0.0 {
            return;
        }
        let label = &p.point.placement.label;
        if !self.recent.contains_key(label) {
            self.recent
                .insert(label.clone(), VecDeque::with_capacity(MEDIAN_OF));
        }
        let recent = self.recent.get_mut(label).expect("inserted above");
        if recent.len() == MEDIAN_OF {
            recent.pop_front();
        }
        recent.push_back(ratio);
        let mut window = [0.0; MEDIAN_OF];
        let window = &mut window[..recent.len()];
        for (w, r) in window.iter_mut().zip(recent.iter()) {
            *w = *r;
        }
        window.sort_by(f64::total_cmp);
        let median = window[window.len() / 2];
        let a = self.tuning.smoothing;
        // Looked up before inserting: `entry` would clone the label (an
        // allocation) on every frame.
        match self.slowdown.get_mut(label) {
            Some(s) => *s = (1.0 - a) * *s + a * median,
            None => {
                self.slowdown.insert(label.clone(), (1.0 - a) + a * median);
            }
        }
    }
}
