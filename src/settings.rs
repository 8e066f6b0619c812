//! Environment overrides, parsed in one place.
//!
//! - `GROUPSCALE_BACKEND=scalar|cpu|neon|cuda|wgpu` forces the default backend.
//! - `GROUPSCALE_STRICT=1` turns a forced choice that cannot be honoured into
//!   an error instead of a fallback.
//! - `GROUPSCALE_CPU_ISA=avx512|avx2|neon|portable`, `GROUPSCALE_THREADS=N` and
//!   `GROUPSCALE_CORES=0-3,6` configure the CPU backend.
//! - `GROUPSCALE_CUDA_DEVICE=N` and `GROUPSCALE_CUDA_HALF2=1` configure the
//!   CUDA backend (parsed in `backend::cuda::CudaOptions::from_env`).
//! - `GROUPSCALE_STATE_FILE=PATH` moves the clock state file;
//!   `GROUPSCALE_NVPMODEL=PATH` and `GROUPSCALE_JETSON_CLOCKS=PATH` name the
//!   tools that change and restore Jetson clocks (`platform::guard`, and
//!   docs/security.md for what a state file may ask of them).
//! - `GROUPSCALE_EMULATOR_GUARD=end|start` puts the CUDA emulator's device
//!   buffers at the end (default: over-reads fault) or the start (under-reads
//!   fault) of their guard pages (`backend::cuda::emulator`).

use crate::error::{Error, Result};

/// The variable's value, if set and non-empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn strict() -> bool {
    var("GROUPSCALE_STRICT").is_some_and(|v| !matches!(v.trim(), "0" | "false" | "no"))
}

pub fn parse_count(name: &'static str, value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::Setting {
            name,
            value: value.into(),
            reason: "expected a whole number of at least 1".into(),
        }),
    }
}

/// The most cores a CPU list may name (counting repeats): 4096, Linux's
/// largest common `NR_CPUS`. Checked before a range is expanded, so
/// `0-100000000000` is refused instead of allocating for it.
pub const MAX_CPUS: usize = 4096;

/// Parses a Linux CPU list such as `0-3,6`, of at most [`MAX_CPUS`] entries.
/// Whether the cores exist is checked where the CPU backend is configured.
pub fn parse_cpu_list(name: &'static str, value: &str) -> Result<Vec<usize>> {
    let bad = |reason: String| Error::Setting {
        name,
        value: value.into(),
        reason,
    };
    let cores = cpu_list_entries(value).map_err(bad)?;
    if cores.is_empty() {
        return Err(bad("the list names no core".into()));
    }
    Ok(cores)
}

/// The cores a CPU list names (`0-3,6`; commas or spaces between parts; an
/// empty list is empty), or why it is refused. Shared by the settings and
/// the sysfs reader, so a hostile `online` file is capped like a variable.
pub(crate) fn cpu_list_entries(text: &str) -> std::result::Result<Vec<usize>, String> {
    let too_many = || format!("the list names more than {MAX_CPUS} cores");
    // u64, not usize: on 32-bit ARM `0-100000000000` must be refused as too
    // many cores, not as a malformed list.
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| "expected a list like 0-3,6".to_string())
    };
    let core = |n: u64| usize::try_from(n).map_err(|_| format!("no core is numbered {n}"));
    let mut cores = Vec::new();
    for part in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => (number(part)?, number(part)?),
        };
        if lo > hi {
            return Err("a range runs from low to high".into());
        }
        if hi - lo >= (MAX_CPUS - cores.len()) as u64 {
            return Err(too_many());
        }
        cores.extend(core(lo)?..=core(hi)?);
    }
    Ok(cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_sysfs() {
        assert_eq!(parse_cpu_list("X", "0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("X", " 4 ").unwrap(), vec![4]);
        assert!(parse_cpu_list("X", "3-1").is_err());
        assert!(parse_cpu_list("X", "a").is_err());
        assert!(parse_cpu_list("X", ",").is_err());
    }

    #[test]
    fn cpu_lists_are_capped_before_expanding() {
        assert_eq!(parse_cpu_list("X", "0-4095").unwrap().len(), MAX_CPUS);
        for list in ["0-4096", "0-100000000000", "0-4095,5", "1,0-4095"] {
            let err = parse_cpu_list("X", list).unwrap_err().to_string();
            assert!(err.contains("more than 4096 cores"), "{list}: {err}");
        }
        assert!(parse_cpu_list("X", &format!("0-{}", usize::MAX)).is_err());
        // The sysfs reader shares the cap: a hostile `online` file is data.
        assert_eq!(
            crate::platform::sysfs::parse_cpu_list("0-100000000000"),
            None
        );
        assert_eq!(crate::platform::sysfs::parse_cpu_list(" \n"), Some(vec![]));
        assert_eq!(
            crate::platform::sysfs::parse_cpu_list("0-1 4"),
            Some(vec![0, 1, 4])
        );
    }
}
