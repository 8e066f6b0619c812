//! The fast CPU backend: SIMD register-tile convolutions (AVX-512 or AVX2 on
//! x86-64, NEON on AArch64 and ARMv7, portable Rust elsewhere), on a worker
//! pool that can be pinned to chosen cores.

mod conv;
mod dense;
mod dot;
pub mod isa;
mod neon;
mod pool;
mod portable;
mod tile;
mod workers;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::backend::{Backend, BackendKind, Kernel};
use crate::error::{Error, Result};
use crate::model::layer::Layer;
use crate::settings;
pub use isa::CpuIsa;
use workers::Workers;

/// How to build a [`CpuBackend`]; `None` fields are detected.
#[derive(Clone, Debug, Default)]
pub struct CpuConfig {
    pub isa: Option<CpuIsa>,
    pub threads: Option<usize>,
    /// Cores to pin worker i to (`cores[i % len]`); `None` leaves the
    /// scheduler free.
    pub cores: Option<Vec<usize>>,
}

impl CpuConfig {
    /// The configuration `GROUPSCALE_CPU_ISA`, `GROUPSCALE_THREADS` and
    /// `GROUPSCALE_CORES` ask for. Malformed values are errors, whatever the
    /// strict mode says, since they are never what the user meant.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            isa: settings::CPU_ISA.value().map(|v| v.parse()).transpose()?,
            threads: settings::THREADS
                .value()
                .map(|v| settings::parse_count(settings::THREADS.name, &v))
                .transpose()?,
            cores: settings::CORES
                .value()
                .map(|v| settings::parse_cpu_list(settings::CORES.name, &v))
                .transpose()?,
        })
    }
}

#[derive(Clone)]
pub struct CpuBackend {
    isa: CpuIsa,
    workers: Workers,
}

impl CpuBackend {
    /// Fails when the requested ISA is unsupported here (no silent fallback:
    /// a caller who names an ISA wants that one).
    pub fn new(config: CpuConfig) -> Result<Self> {
        let isa = match config.isa {
            Some(isa) => isa.require()?,
            None => CpuIsa::best(),
        };
        let threads = config
            .threads
            .or_else(|| config.cores.as_ref().map(Vec::len))
            .unwrap_or_else(default_threads);
        Ok(Self {
            isa,
            workers: Workers::new(threads, config.cores)?,
        })
    }

    pub fn isa(&self) -> CpuIsa {
        self.isa
    }

    pub fn threads(&self) -> usize {
        self.workers.threads()
    }
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Backend for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn describe(&self) -> String {
        let pinned = match self.workers.cores() {
            Some(cores) => format!(", pinned to cores {cores:?}"),
            None => String::new(),
        };
        format!(
            "cpu: {} kernels, {} threads{pinned}",
            self.isa,
            self.threads()
        )
    }

    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>> {
        let workers = self.workers.clone();
        Ok(match layer {
            Layer::Conv2d(c) => match self.isa {
                #[cfg(target_arch = "x86_64")]
                CpuIsa::Avx512 => Box::new(conv::CpuConv::<x86::avx512::Avx512>::new(c, workers)?),
                #[cfg(target_arch = "x86_64")]
                CpuIsa::Avx2 => Box::new(conv::CpuConv::<x86::avx2::Avx2>::new(c, workers)?),
                #[cfg(target_arch = "aarch64")]
                CpuIsa::Neon => Box::new(conv::CpuConv::<neon::aarch64::Neon>::new(c, workers)?),
                #[cfg(target_arch = "arm")]
                CpuIsa::Neon => Box::new(conv::CpuConv::<neon::armv7::Neon>::new(c, workers)?),
                CpuIsa::Portable => Box::new(conv::CpuConv::<portable::Portable>::new(c, workers)?),
                #[allow(unreachable_patterns)]
                other => {
                    return Err(Error::IsaUnavailable {
                        isa: other.to_string(),
                        reason: "not built for this architecture".into(),
                    })
                }
            },
            Layer::Linear(l) => Box::new(dense::CpuLinear::new(l, dot::for_isa(self.isa), workers)),
            Layer::Head(h) => Box::new(dense::CpuHead::new(h, dot::for_isa(self.isa), workers)),
            Layer::MaxPool2d(spec) => Box::new(pool::CpuMaxPool {
                spec: *spec,
                neon: self.isa == CpuIsa::Neon,
                workers,
            }),
            Layer::Softmax => Box::new(pool::CpuSoftmax),
        })
    }
}
