//! Every environment setting ("knob") that the crate, its build script, its
//! tests and its benches read, registered once in [`KNOBS`] with the values
//! it accepts and its effect. The library reads its knobs only through
//! [`Knob::value`]; `groupscale info` prints them with their current values;
//! docs/knobs.md is generated from this table, and tests/knobs.rs fails when
//! a `GROUPSCALE_*` name in the sources is not registered or the page is not
//! current. The parsers for the values are here too.

use crate::error::{Error, Result};

/// Who reads a knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The library and the binary, at run time.
    Run,
    /// The build script, when the crate is compiled.
    Build,
    /// The test suite and the benches only.
    Test,
}

impl Scope {
    pub fn heading(self) -> &'static str {
        match self {
            Self::Run => "Run time: the library and the binary",
            Self::Build => "Build: build.rs",
            Self::Test => "Tests and benches",
        }
    }
}

/// One environment setting.
#[derive(Debug)]
pub struct Knob {
    pub name: &'static str,
    /// What it accepts, as a user would write it.
    pub values: &'static str,
    /// What it changes, and the default when unset.
    pub effect: &'static str,
    pub scope: Scope,
}

impl Knob {
    /// The variable's value, if set and non-empty.
    pub fn value(&self) -> Option<String> {
        std::env::var(self.name)
            .ok()
            .filter(|v| !v.trim().is_empty())
    }
}

const fn knob(
    name: &'static str,
    values: &'static str,
    effect: &'static str,
    scope: Scope,
) -> Knob {
    Knob {
        name,
        values,
        effect,
        scope,
    }
}

pub const BACKEND: Knob = knob(
    "GROUPSCALE_BACKEND",
    "scalar|cpu|neon|cuda|wgpu",
    "the default backend (`dispatch`); falls back, with a note in `groupscale info`, when unavailable",
    Scope::Run,
);
pub const STRICT: Knob = knob(
    "GROUPSCALE_STRICT",
    "1|0",
    "a forced backend or CPU ISA that is unavailable is an error instead of a fallback",
    Scope::Run,
);
pub const CPU_ISA: Knob = knob(
    "GROUPSCALE_CPU_ISA",
    "avx512|avx2|neon|portable",
    "the CPU kernels (default: the best this CPU runs)",
    Scope::Run,
);
pub const CONV_ALGO: Knob = knob(
    "GROUPSCALE_CONV_ALGO",
    "auto|direct|winograd|winograd-f2|winograd-f4",
    "the CPU convolution algorithm per stride-1 layer (default auto: Winograd on the 3×3 layers where the measured rule in docs/winograd.md favours it); winograd-f2 also runs 5×5 layers by F(2×2, 5×5); a forced Winograd falls back to direct on other layers unless GROUPSCALE_STRICT is set",
    Scope::Run,
);
pub const THREADS: Knob = knob(
    "GROUPSCALE_THREADS",
    "N (at least 1)",
    "CPU worker threads (default: one per listed core, else all online cores)",
    Scope::Run,
);
pub const CORES: Knob = knob(
    "GROUPSCALE_CORES",
    "a CPU list such as 0-3,6",
    "pins the CPU workers to these online cores (task mapping on big.LITTLE); at most 4096 entries",
    Scope::Run,
);
pub const CUDA_DEVICE: Knob = knob(
    "GROUPSCALE_CUDA_DEVICE",
    "N",
    "which CUDA GPU (default 0)",
    Scope::Run,
);
pub const CUDA_HALF2: Knob = knob(
    "GROUPSCALE_CUDA_HALF2",
    "1|0",
    "half2 arithmetic for f16 weights on GPUs with fast f16 (default 0: f16 widened to f32)",
    Scope::Run,
);
pub const NVRTC: Knob = knob(
    "GROUPSCALE_NVRTC",
    "/path/libnvrtc.so.N",
    "the NVRTC library that compiles the kernels when no PTX was built for the GPU (default: searched for)",
    Scope::Run,
);
pub const STATE_FILE: Knob = knob(
    "GROUPSCALE_STATE_FILE",
    "PATH",
    "the clock state file (default /run/groupscale/clocks.json as root, else under XDG_STATE_HOME); see docs/security.md",
    Scope::Run,
);
pub const NVPMODEL: Knob = knob(
    "GROUPSCALE_NVPMODEL",
    "PATH",
    "the nvpmodel binary that sets and restores Jetson power modes (default /usr/sbin/nvpmodel)",
    Scope::Run,
);
pub const JETSON_CLOCKS: Knob = knob(
    "GROUPSCALE_JETSON_CLOCKS",
    "PATH",
    "the jetson_clocks binary that pins and restores Jetson clocks (default /usr/bin/jetson_clocks)",
    Scope::Run,
);
pub const EMULATOR_GUARD: Knob = knob(
    "GROUPSCALE_EMULATOR_GUARD",
    "end|start",
    "where the CUDA emulator puts a device buffer between its guard pages: at the end (default; over-reads fault) or the start (under-reads fault)",
    Scope::Test,
);
pub const NVCC: Knob = knob(
    "GROUPSCALE_NVCC",
    "PATH",
    "the nvcc that build.rs compiles the kernels to PTX with (default: PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda)",
    Scope::Build,
);
pub const CUDA_ARCH: Knob = knob(
    "GROUPSCALE_CUDA_ARCH",
    "compute_NN",
    "the virtual architecture of the PTX build.rs embeds (default compute_53, the Jetson Nano)",
    Scope::Build,
);
pub const PTX_ARCH: Knob = knob(
    "GROUPSCALE_PTX_ARCH",
    "(set by build.rs)",
    "passed from build.rs to the crate: the architecture of the embedded PTX; not a user setting",
    Scope::Build,
);
pub const TEST_SEED: Knob = knob(
    "GROUPSCALE_TEST_SEED",
    "N",
    "the seed of the random-shape tests (default: a fresh one, printed on failure)",
    Scope::Test,
);
pub const TEST_RUNNER: Knob = knob(
    "GROUPSCALE_TEST_RUNNER",
    "a command, such as qemu-arm -L /usr/arm-linux-gnueabihf",
    "runs the groupscale binary in the CLI tests (the ARM suites run it under qemu)",
    Scope::Test,
);
pub const EXPECT_BACKENDS: Knob = knob(
    "GROUPSCALE_EXPECT_BACKENDS",
    "a comma list such as cpu/neon,cpu/portable",
    "the backends and CPU kernels that must have run (default: what /proc/cpuinfo and the features say); tests/expected_backends_ran.rs fails otherwise",
    Scope::Test,
);
pub const EXPECT_NVRTC: Knob = knob(
    "GROUPSCALE_EXPECT_NVRTC",
    "1",
    "tests/cuda_nvrtc.rs fails instead of skipping when NVRTC is missing",
    Scope::Test,
);
pub const PTXAS: Knob = knob(
    "GROUPSCALE_PTXAS",
    "PATH",
    "the ptxas that tests/cuda_nvrtc.rs checks NVRTC's PTX with",
    Scope::Test,
);
pub const NVRTC_CHILD: Knob = knob(
    "GROUPSCALE_NVRTC_CHILD",
    "(set by the test)",
    "marks tests/cuda_nvrtc.rs's child process; not a user setting",
    Scope::Test,
);
pub const EMULATOR_PLANT: Knob = knob(
    "GROUPSCALE_EMULATOR_PLANT",
    "(set by the test)",
    "names the planted bug a CUDA emulator test's child process runs; not a user setting",
    Scope::Test,
);
pub const BENCH_BATCH: Knob = knob(
    "GROUPSCALE_BENCH_BATCH",
    "N",
    "the batch size of benches/conv_layers.rs (default 1)",
    Scope::Test,
);

pub const BIN: Knob = knob(
    "GROUPSCALE_BIN",
    "PATH",
    "the groupscale binary that the training kit's tests (train/tests) run exported models with; they skip, saying so, without it",
    Scope::Test,
);
pub const REQUIRE_BIN: Knob = knob(
    "GROUPSCALE_REQUIRE_BIN",
    "1",
    "the training kit's tests fail instead of skipping when GROUPSCALE_BIN is missing (CI sets it)",
    Scope::Test,
);

pub const VENV: Knob = knob(
    "GROUPSCALE_VENV",
    "PATH",
    "the Python venv scripts/test-python.sh runs the training kit's tests in (default target/train-venv; CI keeps one under ~/.cache/groupscale)",
    Scope::Test,
);

/// Every knob, in the order docs/knobs.md lists them.
pub const KNOBS: &[Knob] = &[
    BACKEND,
    STRICT,
    CPU_ISA,
    CONV_ALGO,
    THREADS,
    CORES,
    CUDA_DEVICE,
    CUDA_HALF2,
    NVRTC,
    STATE_FILE,
    NVPMODEL,
    JETSON_CLOCKS,
    NVCC,
    CUDA_ARCH,
    PTX_ARCH,
    EMULATOR_GUARD,
    TEST_SEED,
    TEST_RUNNER,
    EXPECT_BACKENDS,
    EXPECT_NVRTC,
    PTXAS,
    NVRTC_CHILD,
    EMULATOR_PLANT,
    BENCH_BATCH,
    BIN,
    REQUIRE_BIN,
    VENV,
];

/// The registered knob called `name`.
pub fn knob_named(name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.name == name)
}

/// docs/knobs.md: the registry as a Markdown page.
pub fn knobs_markdown() -> String {
    let mut page = String::from(
        "# Environment settings\n\n\
         Generated from `src/settings.rs` (`KNOBS`); `tests/knobs.rs` fails when this page\n\
         is out of date (`UPDATE_KNOBS_DOC=1 cargo test --test knobs` rewrites it).\n\
         `groupscale info` prints the run-time ones with their current values.\n",
    );
    for scope in [Scope::Run, Scope::Build, Scope::Test] {
        page.push_str(&format!(
            "\n## {}\n\n| variable | values | effect |\n|---|---|---|\n",
            scope.heading()
        ));
        for k in KNOBS.iter().filter(|k| k.scope == scope) {
            page.push_str(&format!(
                "| `{}` | {} | {} |\n",
                k.name,
                k.values.replace('|', "\\|"),
                k.effect
            ));
        }
    }
    page
}

pub fn strict() -> bool {
    STRICT
        .value()
        .is_some_and(|v| !matches!(v.trim(), "0" | "false" | "no"))
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
