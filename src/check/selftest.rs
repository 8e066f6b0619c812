//! Runs backends against the oracle on a list of cases: what
//! `groupscale selftest` prints and the test suite asserts.

use std::sync::Arc;

use crate::backend::scalar::ScalarBackend;
use crate::backend::{Backend, BackendKind};
use crate::check::cases::Case;
use crate::check::compare;
use crate::dispatch;
use crate::exec::PreparedLayer;
use crate::model::shape::Tensor;

/// A backend to check, labelled with what makes it distinct (for the CPU
/// backend, the instruction set).
pub struct Target {
    pub label: String,
    pub backend: Arc<dyn Backend>,
}

/// Every available backend other than the oracle, restricted to `only` when
/// given; the CPU backend once per instruction set this CPU supports.
pub fn targets(only: Option<BackendKind>) -> Vec<Target> {
    let mut targets = Vec::new();
    // A named backend is the only one probed.
    let probes = match only {
        Some(kind) => vec![dispatch::registry().probe(kind)],
        None => dispatch::registry().probes(),
    };
    for probe in probes {
        let Ok(backend) = &probe.backend else {
            continue;
        };
        // Unless asked for by name, skip the oracle itself, and `neon`, which
        // is the CPU backend on its NEON kernels, checked as `cpu/neon`.
        let implied = matches!(probe.kind, BackendKind::Scalar | BackendKind::Neon);
        if only.is_some_and(|k| k != probe.kind) || (only.is_none() && implied) {
            continue;
        }
        #[cfg(feature = "cpu")]
        if probe.kind == BackendKind::Cpu {
            use crate::backend::cpu::{ConvAlgo, CpuBackend, CpuConfig, CpuIsa};
            // Each ISA as users get it (`auto`), and pinned to each
            // convolution path, so every path meets the oracle whatever the
            // shape rule picks.
            for isa in CpuIsa::supported() {
                for conv in [
                    ConvAlgo::Auto,
                    ConvAlgo::Direct,
                    ConvAlgo::WinogradF2,
                    ConvAlgo::WinogradF4,
                ] {
                    let config = CpuConfig {
                        isa: Some(isa),
                        conv: Some(conv),
                        ..CpuConfig::default()
                    };
                    if let Ok((cpu, _)) = CpuBackend::configured(config) {
                        targets.push(Target {
                            label: match conv {
                                ConvAlgo::Auto => format!("cpu/{isa}"),
                                pinned => format!("cpu/{isa}/{pinned}"),
                            },
                            backend: Arc::new(cpu),
                        });
                    }
                }
            }
            continue;
        }
        targets.push(Target {
            label: probe.kind.to_string(),
            backend: backend.clone(),
        });
    }
    // The CUDA kernels on the CPU emulator, where the build includes it: the
    // check they get on machines without a GPU.
    #[cfg(feature = "cuda-emulator")]
    if only.is_none_or(|k| k == BackendKind::Cuda) {
        use crate::backend::cuda::{CudaBackend, CudaOptions};
        targets.push(Target {
            label: "cuda/emulator".into(),
            backend: Arc::new(CudaBackend::emulated(CudaOptions::default(), false)),
        });
    }
    targets
}

/// Compares `got` with the oracle's `want` under the bound of the
/// arithmetic the target uses for the case's layer.
pub fn compare_case(
    target: &Target,
    case: &Case,
    want: &[f32],
    got: &[f32],
) -> Result<f32, crate::check::Mismatch> {
    match target.backend.arithmetic(&case.layer) {
        #[cfg(feature = "cpu")]
        crate::backend::Arithmetic::Winograd { tile } => {
            match crate::check::winograd_tolerances(case, tile) {
                Some(tolerances) => crate::check::compare_each(want, got, &tolerances),
                None => panic!("{}: no Winograd bound for case {}", target.label, case.name),
            }
        }
        _ => compare(want, got, case.depth()),
    }
}

/// The oracle's outputs for `cases`, computed once and shared by all targets.
pub fn oracle_outputs(cases: &[Case]) -> Vec<Tensor> {
    let oracle: Arc<dyn Backend> = Arc::new(ScalarBackend);
    cases
        .iter()
        .map(|case| {
            PreparedLayer::new(&oracle, case.layer.clone())
                .and_then(|mut l| l.forward(&case.input, case.k))
                .unwrap_or_else(|e| panic!("oracle failed on valid case {}: {e}", case.name))
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub label: String,
    pub passed: usize,
    /// (case, what went wrong)
    pub failures: Vec<(String, String)>,
    /// The worst error over all passing cases, as a fraction of its tolerance.
    pub worst: f32,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn check(target: &Target, cases: &[Case], expected: &[Tensor]) -> Outcome {
    let mut outcome = Outcome {
        label: target.label.clone(),
        ..Outcome::default()
    };
    for (case, want) in cases.iter().zip(expected) {
        let got = PreparedLayer::new(&target.backend, case.layer.clone())
            .and_then(|mut l| l.forward(&case.input, case.k));
        match got {
            Err(e) => outcome.failures.push((case.name.clone(), e.to_string())),
            Ok(got) if got.shape != want.shape => outcome.failures.push((
                case.name.clone(),
                format!("shape {} instead of {}", got.shape, want.shape),
            )),
            Ok(got) => match compare_case(target, case, &want.data, &got.data) {
                Ok(ratio) => {
                    outcome.passed += 1;
                    outcome.worst = outcome.worst.max(ratio);
                }
                Err(m) => outcome.failures.push((case.name.clone(), m.to_string())),
            },
        }
    }
    outcome
}
