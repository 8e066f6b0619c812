//! The fast CPU backend: SIMD register-tile convolutions (AVX-512 or AVX2 on
//! x86-64, NEON on AArch64 and ARMv7, portable Rust elsewhere), on a worker
//! pool that can be pinned to chosen cores.

mod algo;
mod conv;
mod dense;
pub mod isa;
mod kernels;
mod neon;
mod pool;
mod portable;
mod tile;
pub(crate) mod winograd;
mod workers;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::backend::{Arithmetic, Backend, BackendKind, Kernel};
use crate::error::{Error, Result};
use crate::model::layer::Layer;
use crate::settings;
pub use algo::ConvAlgo;
use algo::ConvPath;
pub use isa::CpuIsa;
use kernels::CpuKernels;
use workers::Workers;

/// How to build a [`CpuBackend`]; `None` fields are detected.
#[derive(Clone, Debug, Default)]
pub struct CpuConfig {
    pub isa: Option<CpuIsa>,
    pub threads: Option<usize>,
    /// Cores to pin worker i to (`cores[i % len]`); `None` leaves the
    /// scheduler free.
    pub cores: Option<Vec<usize>>,
    /// The convolution algorithm; `None` reads `GROUPSCALE_CONV_ALGO`
    /// (default [`ConvAlgo::Auto`]).
    pub conv: Option<ConvAlgo>,
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
            conv: ConvAlgo::from_env()?,
        })
    }
}

#[derive(Clone)]
pub struct CpuBackend {
    isa: CpuIsa,
    conv: ConvAlgo,
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
        let conv = match config.conv {
            Some(conv) => conv,
            None => ConvAlgo::from_env()?.unwrap_or_default(),
        };
        Ok(Self {
            isa,
            conv,
            workers: Workers::new(threads, config.cores)?,
        })
    }

    /// The one way the crate builds a CPU backend from settings:
    /// `GROUPSCALE_CPU_ISA`, `GROUPSCALE_THREADS` and `GROUPSCALE_CORES`,
    /// each overridden by the caller's `Some` fields in `choice`. An ISA the
    /// caller names is required (the error says why it is unavailable); one
    /// that only the environment asks for falls back to the best supported
    /// unless `GROUPSCALE_STRICT` is set, and the second value says so.
    pub fn configured(choice: CpuConfig) -> Result<(Self, Option<String>)> {
        let env = CpuConfig::from_env()?;
        let caller_named_isa = choice.isa.is_some();
        let config = CpuConfig {
            isa: choice.isa.or(env.isa),
            threads: choice.threads.or(env.threads),
            cores: choice.cores.or(env.cores),
            conv: choice.conv.or(env.conv),
        };
        match Self::new(config.clone()) {
            Err(e @ Error::IsaUnavailable { .. }) if !caller_named_isa && !settings::strict() => {
                let best = Self::new(CpuConfig {
                    isa: None,
                    ..config
                })?;
                Ok((best, Some(format!("{e}; using the best supported instead"))))
            }
            other => other.map(|backend| (backend, None)),
        }
    }

    /// The CPU backend held to its NEON kernels (`--backend neon`), as
    /// [`configured`](Self::configured) with the ISA named.
    pub fn neon(choice: CpuConfig) -> Result<Self> {
        Self::configured(CpuConfig {
            isa: Some(CpuIsa::Neon),
            ..choice
        })
        .map(|(backend, _)| backend)
    }

    pub fn isa(&self) -> CpuIsa {
        self.isa
    }

    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    pub fn conv_algo(&self) -> ConvAlgo {
        self.conv
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
        let conv = match self.conv {
            ConvAlgo::Auto => String::new(),
            forced => format!(", {forced} convolutions"),
        };
        format!(
            "cpu: {} kernels, {} threads{pinned}{conv}",
            self.isa,
            self.threads()
        )
    }

    fn arithmetic(&self, layer: &Layer) -> Arithmetic {
        match layer {
            Layer::Conv2d(c) => match self.conv.path(c.spec()) {
                Ok(ConvPath::WinogradF2 | ConvPath::WinogradF2R5) => {
                    Arithmetic::Winograd { tile: 2 }
                }
                Ok(ConvPath::WinogradF4) => Arithmetic::Winograd { tile: 4 },
                _ => Arithmetic::Direct,
            },
            _ => Arithmetic::Direct,
        }
    }

    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>> {
        let workers = self.workers.clone();
        let conv = self.conv;
        // The one place the instruction set is chosen: its kernel table.
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => prepare_with::<x86::Avx512>(layer, conv, workers),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx2 => prepare_with::<x86::Avx2>(layer, conv, workers),
            #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
            CpuIsa::Neon => prepare_with::<neon::Neon>(layer, conv, workers),
            CpuIsa::Portable => prepare_with::<portable::Portable>(layer, conv, workers),
            #[allow(unreachable_patterns)]
            other => Err(Error::IsaUnavailable {
                isa: other.to_string(),
                reason: "not built for this architecture".into(),
            }),
        }
    }
}

/// Prepares `layer` with the kernel table `K`. Only called by
/// [`CpuBackend::prepare`] for the backend's own ISA, which
/// [`CpuBackend::new`] required this CPU to support: the invariant the
/// table's safe wrappers rely on.
fn prepare_with<K: CpuKernels>(
    layer: &Layer,
    conv: ConvAlgo,
    workers: Workers,
) -> Result<Box<dyn Kernel>> {
    Ok(match layer {
        // The one place a convolution's algorithm is chosen.
        Layer::Conv2d(c) => match conv.path(c.spec())? {
            ConvPath::Direct => Box::new(conv::CpuConv::<K>::new(c, workers)?),
            ConvPath::WinogradF2 => Box::new(winograd::CpuWinograd::<K, 2, 4, winograd::F2>::new(
                c, workers,
            )?),
            ConvPath::WinogradF4 => Box::new(winograd::CpuWinograd::<K, 4, 6, winograd::F4>::new(
                c, workers,
            )?),
            ConvPath::WinogradF2R5 => Box::new(
                winograd::CpuWinograd::<K, 2, 6, winograd::F2R5>::new(c, workers)?,
            ),
        },
        Layer::Linear(l) => Box::new(dense::CpuLinear::new(l, kernels::dot_fn::<K>(), workers)),
        Layer::Head(h) => Box::new(dense::CpuHead::new(h, kernels::dot_fn::<K>(), workers)),
        Layer::MaxPool2d(spec) => Box::new(pool::CpuMaxPool {
            spec: *spec,
            row: kernels::max_pool_row_fn::<K>(),
            workers,
        }),
        Layer::Softmax => Box::new(pool::CpuSoftmax),
    })
}
