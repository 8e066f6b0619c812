//! What cpufreq and devfreq share: choosing a frequency from a table and
//! pinning min = max without the kernel ever seeing min > max.

use std::path::Path;

use crate::platform::error::{PlatformError, Result};
use crate::platform::guard::ClockGuard;

/// How to treat a frequency that is not in the available table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snap {
    /// Refuse it, listing the available ones.
    Exact,
    /// Use the nearest available one.
    Nearest,
}

/// The table entry to use for `wanted`, per `snap`. An empty table (the
/// driver publishes none) accepts any value.
pub fn choose(
    domain: &str,
    available: &[u64],
    wanted: u64,
    snap: Snap,
    unit: &'static str,
) -> Result<u64> {
    if available.is_empty() || available.contains(&wanted) {
        return Ok(wanted);
    }
    match snap {
        Snap::Nearest => Ok(*available
            .iter()
            .min_by_key(|&&f| f.abs_diff(wanted))
            .expect("non-empty")),
        Snap::Exact => Err(PlatformError::UnsupportedFrequency {
            domain: domain.into(),
            value: wanted,
            unit,
            available: available
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

/// Sets both limits to `freq`, ordered so that min ≤ max holds after each
/// write: raising writes max first, lowering writes min first (older
/// kernels reject the other order with EINVAL).
pub fn pin(
    guard: &mut ClockGuard,
    min_file: &Path,
    max_file: &Path,
    current_max: u64,
    freq: u64,
) -> Result<()> {
    let value = freq.to_string();
    if freq > current_max {
        guard.write(max_file, &value)?;
        guard.write(min_file, &value)
    } else {
        guard.write(min_file, &value)?;
        guard.write(max_file, &value)
    }
}
