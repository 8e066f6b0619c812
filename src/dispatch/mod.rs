//! Which backend runs: detected once per process, overridable from the
//! environment, strict on request, and chosen by measurement when more than
//! one could be the default (see [`mod@calibrate`]).

use std::sync::{Arc, OnceLock};

pub mod calibrate;

pub use calibrate::{calibrate, Calibration};

use crate::backend::scalar::ScalarBackend;
use crate::backend::{self, Backend, BackendKind};
use crate::error::{Error, Result};
use crate::settings;

/// Backends on a hardware device, candidates for the default when present
/// (a software adapter such as lavapipe never is).
const DEVICES: [BackendKind; 2] = [BackendKind::Cuda, BackendKind::Wgpu];
/// The CPU candidate: the first of these that is available.
const CPU_KERNELS: [BackendKind; 2] = [BackendKind::Neon, BackendKind::Cpu];

/// What detection found for one backend.
pub struct Probe {
    pub kind: BackendKind,
    pub backend: Result<Arc<dyn Backend>, String>,
    /// A note on a setting that could not be honoured (non-strict mode).
    pub note: Option<String>,
}

/// Each backend is probed the first time it is asked for, and only then:
/// `--backend cpu` never starts a Vulkan or CUDA driver (which can print
/// warnings, take seconds, or fail under a memory limit).
pub struct Registry {
    probes: [OnceLock<Probe>; BackendKind::ALL.len()],
    /// The default's calibration, made once, when first needed.
    calibration: OnceLock<std::result::Result<Calibration, String>>,
}

/// The backends of this process, each detected on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        probes: Default::default(),
        calibration: OnceLock::new(),
    })
}

/// The backend to use when the caller names none (see [`Registry::select`]).
pub fn default_backend() -> Result<Arc<dyn Backend>> {
    registry().select().map(|s| s.backend)
}

/// A named backend, or an error saying why it is unavailable. Probes that
/// backend alone.
pub fn backend(kind: BackendKind) -> Result<Arc<dyn Backend>> {
    registry().get(kind)
}

pub struct Selection {
    pub backend: Arc<dyn Backend>,
    /// Why the forced backend was not used, when the choice fell back.
    pub fallback: Option<String>,
    /// The measurement the choice was made by, when there was more than one
    /// candidate; or why it could not be made (the CPU kernels, the last
    /// candidate, were then chosen).
    pub calibration: Option<std::result::Result<Calibration, String>>,
}

fn detect(kind: BackendKind) -> Probe {
    let (backend, note) = match kind {
        BackendKind::Scalar => (Ok(Arc::new(ScalarBackend) as Arc<dyn Backend>), None),
        BackendKind::Cpu => probe_cpu(),
        BackendKind::Neon => (probe_neon(), None),
        BackendKind::Cuda => (backend::cuda::probe(), None),
        BackendKind::Wgpu => (backend::wgpu::probe(), None),
    };
    Probe {
        kind,
        backend,
        note,
    }
}

impl Registry {
    /// Every backend, probing those not probed yet.
    pub fn probes(&self) -> Vec<&Probe> {
        BackendKind::ALL
            .into_iter()
            .map(|kind| self.probe(kind))
            .collect()
    }

    /// One backend's probe, made now if it was not made yet.
    pub fn probe(&self, kind: BackendKind) -> &Probe {
        let index = BackendKind::ALL
            .iter()
            .position(|&k| k == kind)
            .expect("every kind is in ALL");
        self.probes[index].get_or_init(|| detect(kind))
    }

    pub fn get(&self, kind: BackendKind) -> Result<Arc<dyn Backend>> {
        self.probe(kind)
            .backend
            .clone()
            .map_err(|reason| Error::BackendUnavailable {
                backend: kind,
                reason,
            })
    }

    pub fn available(&self) -> Vec<Arc<dyn Backend>> {
        self.probes()
            .into_iter()
            .filter_map(|p| p.backend.clone().ok())
            .collect()
    }

    /// The forced backend (`GROUPSCALE_BACKEND`) if available; otherwise, in
    /// strict mode an error; else the default: of the CPU kernels and each
    /// backend on a hardware device (CUDA, a wgpu adapter that is not a
    /// software rasteriser), the one that runs a calibration layer fastest,
    /// measured once per process and only when there is more than one. With
    /// none of them, the scalar backend.
    pub fn select(&self) -> Result<Selection> {
        let mut fallback = None;
        if let Some(name) = settings::BACKEND.value() {
            let kind: BackendKind = name.parse()?;
            match self.get(kind) {
                Ok(backend) => {
                    return Ok(Selection {
                        backend,
                        fallback,
                        calibration: None,
                    })
                }
                Err(e) if settings::strict() => return Err(e),
                Err(e) => fallback = Some(e.to_string()),
            }
        }
        let candidates = self.default_candidates();
        if candidates.len() <= 1 {
            let backend = candidates
                .into_iter()
                .next()
                .unwrap_or_else(|| Arc::new(ScalarBackend));
            return Ok(Selection {
                backend,
                fallback,
                calibration: None,
            });
        }
        let calibration = self
            .calibration
            .get_or_init(|| calibrate(&candidates).map_err(|e| e.to_string()))
            .clone();
        // When nothing could be measured, the last candidate: the CPU
        // kernels, in any build that has them.
        let backend = match &calibration {
            Ok(c) => candidates[c.chosen].clone(),
            Err(_) => candidates[candidates.len() - 1].clone(),
        };
        Ok(Selection {
            backend,
            fallback,
            calibration: Some(calibration),
        })
    }

    /// The available hardware-device backends, then the CPU kernels.
    fn default_candidates(&self) -> Vec<Arc<dyn Backend>> {
        let devices = DEVICES
            .into_iter()
            .filter_map(|kind| self.probe(kind).backend.clone().ok())
            .filter(|b| !b.software_device());
        let cpu = CPU_KERNELS
            .into_iter()
            .find_map(|kind| self.probe(kind).backend.clone().ok());
        devices.chain(cpu).collect()
    }
}

#[cfg(feature = "cpu")]
fn probe_cpu() -> (Result<Arc<dyn Backend>, String>, Option<String>) {
    use crate::backend::cpu::{CpuBackend, CpuConfig};
    match CpuBackend::configured(CpuConfig::default()) {
        Ok((cpu, note)) => (Ok(Arc::new(cpu)), note),
        Err(e) => (Err(e.to_string()), None),
    }
}

#[cfg(feature = "cpu")]
fn probe_neon() -> Result<Arc<dyn Backend>, String> {
    use crate::backend::cpu::{CpuBackend, CpuConfig};
    CpuBackend::neon(CpuConfig::default())
        .map(|cpu| Arc::new(cpu) as Arc<dyn Backend>)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "cpu"))]
fn probe_neon() -> Result<Arc<dyn Backend>, String> {
    Err("built without the `cpu` feature".into())
}

#[cfg(not(feature = "cpu"))]
fn probe_cpu() -> (Result<Arc<dyn Backend>, String>, Option<String>) {
    (Err("built without the `cpu` feature".into()), None)
}
