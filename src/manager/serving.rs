//! Serving frame by frame: each frame on the most accurate operating point
//! that meets the current budget, switching k, placement and clocks as the
//! manager decides, and keeping the switch costs.
//!
//! A caller with its own inference loop calls [`Server::begin_frame`], runs
//! the frame on [`Server::session`] (or anything else at the chosen point)
//! and reports its cost with [`Server::end_frame`]; [`Server::run_frame`]
//! does all three.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::apply::ClockControl;
use super::budget::Budget;
use super::controller::{Manager, Measurement, Reason};
use super::point::OperatingPoint;
use super::sweep::backend_for;
use super::table::ProfileTable;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::loader::Model;
use crate::session::Session;

/// Counts the process's heap allocations so far (a counting global
/// allocator's counter); with one, the statistics say what switching and
/// steady frames allocated.
pub type AllocationCounter = fn() -> usize;

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SwitchCost {
    pub count: usize,
    pub total_us: f64,
    /// Heap allocations made while switching (0 without a counter).
    pub allocations: usize,
    /// The first frames after these switches, in ms: a switch that only
    /// picks a prepared session costs nothing itself, but the new
    /// placement's first frame pays for cold caches and waking its threads.
    pub first_frames_ms: f64,
}

impl SwitchCost {
    fn add(&mut self, us: f64, allocations: usize) {
        self.count += 1;
        self.total_us += us;
        self.allocations += allocations;
    }

    pub fn mean_us(&self) -> f64 {
        self.total_us / self.count.max(1) as f64
    }
}

/// What serving has cost so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServeStats {
    pub frames: usize,
    pub budget_met: usize,
    pub switches: usize,
    /// Changing k alone.
    pub k_switch: SwitchCost,
    pub clock_switch: SwitchCost,
    pub placement_switch: SwitchCost,
    pub budget_changes: usize,
    /// Frames with no switch and no new budget, and the heap allocations
    /// made while they were chosen, run and fed back: 0 is the goal.
    pub steady_frames: usize,
    pub steady_allocations: usize,
    /// Whether the allocation counts were counted (an
    /// [`AllocationCounter`] was given) or are 0 for want of one.
    pub allocations_counted: bool,
    /// One line per switch: frame, new point, reason.
    pub log: Vec<String>,
}

/// The frame the manager chose, before it runs.
#[derive(Clone, Copy, Debug)]
pub struct FrameStart {
    /// Index of the point in the profile table.
    pub point: usize,
    pub reason: Reason,
    /// Whether this frame switched point (the first frame does not count).
    pub switched: bool,
    pub budget: Budget,
}

/// A frame that ran.
#[derive(Clone, Copy, Debug)]
pub struct FrameReport {
    pub start: FrameStart,
    pub latency_ms: f64,
    /// Whether the frame met its budget (an energy budget is judged by the
    /// profiled energy scaled by the observed slowdown).
    pub met: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Pending {
    Steady,
    K,
    Placement,
    /// The first frame, or a switch of clocks alone.
    Other,
}

/// Serves a model under a changing budget: a manager over a profile table,
/// one prepared session per placement in the table, and the clocks.
pub struct Server {
    manager: Manager,
    /// One per placement label in the table.
    sessions: Vec<(String, Session)>,
    clocks: Option<ClockControl>,
    counter: Option<AllocationCounter>,
    current: Option<usize>,
    active: usize,
    last_budget: Option<Budget>,
    frame: usize,
    pending: Pending,
    frame_start_allocations: usize,
    frame_started: Option<FrameStart>,
    stats: ServeStats,
}

impl Server {
    /// Prepares a session for every placement in `table` (the backends are
    /// built by [`backend_for`]). `clocks` applies the points' clocks; a
    /// table with points that set clocks needs one.
    pub fn new(
        model: &Model,
        table: ProfileTable,
        clocks: Option<ClockControl>,
        counter: Option<AllocationCounter>,
    ) -> Result<Self> {
        Self::with_backends(model, table, clocks, counter, |p| backend_for(&p.placement))
    }

    /// As [`Server::new`], with the caller building each placement's backend
    /// (called once per distinct placement label).
    pub fn with_backends(
        model: &Model,
        table: ProfileTable,
        clocks: Option<ClockControl>,
        counter: Option<AllocationCounter>,
        mut backend: impl FnMut(&OperatingPoint) -> Result<Arc<dyn Backend>>,
    ) -> Result<Self> {
        if table.groups != model.groups() {
            return Err(Error::Profile(format!(
                "the profile is for {} groups, the model has {}",
                table.groups,
                model.groups()
            )));
        }
        if clocks.is_none() {
            if let Some(p) = table.points.iter().find(|p| !p.point.clocks.is_default()) {
                return Err(Error::Profile(format!(
                    "point {} sets clocks, and no clock control was given",
                    p.point.label()
                )));
            }
        }
        let mut sessions: Vec<(String, Session)> = Vec::new();
        for p in &table.points {
            let label = &p.point.placement.label;
            if !sessions.iter().any(|(l, _)| l == label) {
                sessions.push((label.clone(), Session::new(model, backend(&p.point)?, 1)?));
            }
        }
        Ok(Self {
            manager: Manager::new(table)?,
            sessions,
            clocks,
            counter,
            current: None,
            active: 0,
            last_budget: None,
            frame: 0,
            pending: Pending::Other,
            frame_start_allocations: 0,
            frame_started: None,
            stats: ServeStats {
                allocations_counted: counter.is_some(),
                ..ServeStats::default()
            },
        })
    }

    fn allocations(&self) -> usize {
        self.counter.map_or(0, |count| count())
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    pub fn stats(&self) -> &ServeStats {
        &self.stats
    }

    /// The session of the current point, at its k.
    pub fn session(&mut self) -> &mut Session {
        &mut self.sessions[self.active].1
    }

    /// Chooses the point for the next frame under `budget` and switches to
    /// it (clocks, placement, k).
    pub fn begin_frame(&mut self, budget: Budget) -> Result<FrameStart> {
        self.frame_start_allocations = self.allocations();
        let budget_changed = self.last_budget.is_some_and(|b| b != budget);
        self.last_budget = Some(budget);
        self.stats.budget_changes += usize::from(budget_changed);
        let choice = self.manager.select(budget)?;
        let switching = self.current != Some(choice.point);
        let first = self.current.is_none();
        self.pending = if budget_changed {
            Pending::Other
        } else {
            Pending::Steady
        };
        if switching {
            // Cloned only here: a steady frame allocates nothing.
            let previous = self.current.map(|c| self.manager.point(c).point.clone());
            self.switch_to(choice.point, previous.as_ref(), choice.reason)?;
        }
        let start = FrameStart {
            point: choice.point,
            reason: choice.reason,
            switched: switching && !first,
            budget,
        };
        self.frame_started = Some(start);
        Ok(start)
    }

    fn switch_to(
        &mut self,
        index: usize,
        previous: Option<&OperatingPoint>,
        reason: Reason,
    ) -> Result<()> {
        let point = self.manager.point(index).point.clone();
        self.stats.log.push(format!(
            "frame {}: -> {} ({reason})",
            self.frame,
            point.label()
        ));
        if previous.is_some() {
            self.stats.switches += 1;
        }
        if previous.map(|p| &p.clocks) != Some(&point.clocks) {
            let (t, before) = (Instant::now(), self.allocations());
            if let Some(clocks) = &mut self.clocks {
                clocks.apply(&point.clocks)?;
            }
            if previous.is_some() {
                let allocations = self.allocations() - before;
                self.stats
                    .clock_switch
                    .add(t.elapsed().as_secs_f64() * 1e6, allocations);
            }
        }
        let placement_changed =
            previous.map(|p| &p.placement.label) != Some(&point.placement.label);
        let (t, before) = (Instant::now(), self.allocations());
        if placement_changed {
            self.active = self
                .sessions
                .iter()
                .position(|(label, _)| label == &point.placement.label)
                .expect("a session per placement label in the table");
        }
        self.sessions[self.active].1.set_active_groups(point.k)?;
        let (us, allocations) = (t.elapsed().as_secs_f64() * 1e6, self.allocations() - before);
        self.pending = Pending::Other;
        if let Some(previous) = previous {
            if placement_changed {
                self.stats.placement_switch.add(us, allocations);
                self.pending = Pending::Placement;
            } else if previous.k != point.k {
                self.stats.k_switch.add(us, allocations);
                self.pending = Pending::K;
            }
        }
        // Only now: a switch that failed part-way (a clock write refused)
        // leaves the server on its old point, and the next frame retries.
        self.current = Some(index);
        Ok(())
    }

    /// Reports what the frame begun by [`Server::begin_frame`] cost, so the
    /// manager learns from it.
    pub fn end_frame(&mut self, latency_ms: f64, energy_mj: Option<f64>) -> Result<FrameReport> {
        let start = self
            .frame_started
            .take()
            .ok_or_else(|| Error::Profile("end_frame without begin_frame".into()))?;
        let p = self.manager.point(start.point);
        let met = match start.budget {
            Budget::LatencyMs(limit) => latency_ms <= limit,
            Budget::EnergyMj(limit) => match energy_mj {
                Some(e) => e <= limit,
                None => p.energy_mj.unwrap_or(f64::INFINITY) * latency_ms / p.latency_ms <= limit,
            },
        };
        self.manager.observe(Measurement {
            point: start.point,
            latency_ms,
            energy_mj,
        });
        self.stats.frames += 1;
        self.stats.budget_met += usize::from(met);
        match self.pending {
            Pending::Steady => {
                self.stats.steady_frames += 1;
                self.stats.steady_allocations += self.allocations() - self.frame_start_allocations;
            }
            Pending::K => self.stats.k_switch.first_frames_ms += latency_ms,
            Pending::Placement => self.stats.placement_switch.first_frames_ms += latency_ms,
            Pending::Other => {}
        }
        self.frame += 1;
        Ok(FrameReport {
            start,
            latency_ms,
            met,
        })
    }

    /// One whole frame: choose and switch, run `images` (one image) on the
    /// chosen point's session, and feed the latency back.
    pub fn run_frame(&mut self, budget: Budget, images: &[f32]) -> Result<FrameReport> {
        self.begin_frame(budget)?;
        let t = Instant::now();
        self.session().infer(images, 1)?;
        self.end_frame(t.elapsed().as_secs_f64() * 1e3, None)
    }

    /// Puts the clocks back and returns the statistics.
    pub fn finish(mut self) -> Result<ServeStats> {
        if let Some(clocks) = &mut self.clocks {
            clocks.restore()?;
        }
        Ok(std::mem::take(&mut self.stats))
    }
}
