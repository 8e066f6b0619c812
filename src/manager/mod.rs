//! The runtime manager: operating points (k, placement, clocks), the
//! profile table that measures them, and the controller that picks one per
//! frame under a latency or energy budget.

pub mod apply;
pub mod budget;
pub mod controller;
pub mod point;
pub mod profile;
pub mod serving;
pub mod sweep;
pub mod table;

pub use apply::{apply, ClockControl};
pub use budget::{Budget, BudgetSource};
pub use controller::{Choice, Manager, Measurement, Reason, Tuning};
pub use point::{Clocks, OperatingPoint, Placement};
pub use profile::{profile, PointSet, ProfileOptions, Progress};
pub use serving::{AllocationCounter, FrameReport, FrameStart, ServeStats, Server, SwitchCost};
pub use table::{pareto_front, ProfileTable, ProfiledPoint};
