//! The dispatcher's hardware half: CPU and device frequencies (DVFS), power
//! modes, CPU hotplug, power sensors and energy, on a Jetson Nano, an Odroid
//! XU3 or any Linux machine, under a configurable sysfs root.
//!
//! Every change goes through a [`ClockGuard`], which restores it.

pub mod cpufreq;
pub mod detect;
pub mod devfreq;
pub mod emc;
pub mod energy;
pub mod error;
pub mod freq;
pub mod guard;
pub mod hotplug;
pub mod mali;
pub mod nvpmodel;
pub mod power;
pub mod snapshot;
pub mod state;
pub mod sysfs;
pub mod topology;

pub use detect::{Board, Platform};
pub use error::PlatformError;
pub use freq::Snap;
pub use guard::{restore_state_file, ClockGuard, GuardOptions, Tools};
pub use snapshot::ClockSnapshot;
pub use sysfs::Sysfs;
