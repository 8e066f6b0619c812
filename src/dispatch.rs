//! Which backend runs: detected once per process, overridable from the
//! environment, strict on request.

use std::sync::{Arc, OnceLock};

use crate::backend::scalar::ScalarBackend;
use crate::backend::{self, Backend, BackendKind};
use crate::error::{Error, Result};
use crate::settings;

/// Preference when nothing is forced: the first available wins.
const PREFERENCE: [BackendKind; 5] = [
    BackendKind::Cuda,
    BackendKind::Wgpu,
    BackendKind::Neon,
    BackendKind::Cpu,
    BackendKind::Scalar,
];

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
}

/// The backends of this process, each detected on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        probes: Default::default(),
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
    /// strict mode an error, else the preferred available backend.
    pub fn select(&self) -> Result<Selection> {
        let mut fallback = None;
        if let Some(name) = settings::BACKEND.value() {
            let kind: BackendKind = name.parse()?;
            match self.get(kind) {
                Ok(backend) => return Ok(Selection { backend, fallback }),
                Err(e) if settings::strict() => return Err(e),
                Err(e) => fallback = Some(e.to_string()),
            }
        }
        let backend = PREFERENCE
            .into_iter()
            .find_map(|kind| {
                let backend = self.probe(kind).backend.clone().ok()?;
                (!backend.software_device()).then_some(backend)
            })
            .expect("the scalar backend is always available");
        Ok(Selection { backend, fallback })
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
