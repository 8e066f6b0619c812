//! The default backend is chosen by measurement: when more than one backend
//! could be the default (the CPU kernels and a hardware GPU through CUDA or
//! wgpu), each runs one layer a few times and the fastest wins. A GPU behind
//! a slow driver, a small integrated GPU, or a discrete one across a bus
//! that costs more than the layer is then never preferred to the CPU
//! kernels by rule alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendKind};
use crate::error::{Error, Result};
use crate::exec::PreparedLayer;
use crate::presets;

/// The layer timed: the preset L3 (192→384 channels, 3×3, 8×8, G = 4) with
/// every group active, at batch 1. A middle layer of the paper's network,
/// with the weights and work of a typical grouped convolution, run through
/// the same per-layer path (upload, kernels, read-back) every backend has.
const LAYER: usize = 2;
/// Runs before timing: pipeline builds, JIT compilation, first-touch
/// allocation.
const WARM_UP_RUNS: usize = 2;
const TIMED_RUNS: usize = 5;
/// A backend whose last warm-up run takes longer than this is not timed
/// further: it has lost already, and calibration must not stall a first
/// command. Only after the warm-ups: a first run that includes JIT
/// compilation or pipeline builds says nothing about the steady state.
const SLOW_RUN: Duration = Duration::from_millis(500);

/// What the calibration measured.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// What was timed, for reports.
    pub workload: String,
    /// Per candidate, in the order given: its median time, or why it could
    /// not be timed.
    pub times: Vec<(BackendKind, std::result::Result<Duration, String>)>,
    /// Index into `times` of the fastest candidate.
    pub chosen: usize,
}

impl Calibration {
    /// One line, as `groupscale info` prints it.
    pub fn summary(&self) -> String {
        let times: Vec<String> = self
            .times
            .iter()
            .map(|(kind, time)| match time {
                Ok(t) => format!("{kind} {:.3} ms", t.as_secs_f64() * 1e3),
                Err(why) => format!("{kind} failed ({why})"),
            })
            .collect();
        format!("measured on {}: {}", self.workload, times.join(", "))
    }
}

/// Times each candidate on the calibration layer and picks the fastest.
/// Fails only when no candidate could run it.
pub fn calibrate(candidates: &[Arc<dyn Backend>]) -> Result<Calibration> {
    let preset = presets::alexnet_cifar()[LAYER];
    let layer = preset.layer(0x0ca1_1b8a)?;
    let k = preset.spec.groups;
    let shape = preset.input_shape(1, k);
    let input: Vec<f32> = (0..shape.len())
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let times: Vec<_> = candidates
        .iter()
        .map(|backend| {
            let time = time_layer(backend, &layer, shape, k, &input).map_err(|e| e.to_string());
            (backend.kind(), time)
        })
        .collect();
    let chosen = times
        .iter()
        .enumerate()
        .filter_map(|(i, (_, t))| t.as_ref().ok().map(|t| (i, *t)))
        .min_by_key(|&(_, t)| t)
        .map(|(i, _)| i)
        .ok_or_else(|| {
            Error::Calibration(format!(
                "no backend could run the calibration layer: {}",
                times
                    .iter()
                    .map(|(kind, t)| format!("{kind}: {}", t.as_ref().err().map_or("", |e| e)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
    Ok(Calibration {
        workload: format!("preset {} at k = {k}, batch 1", preset.name),
        times,
        chosen,
    })
}

/// The median time of one run of `layer` on `backend`.
fn time_layer(
    backend: &Arc<dyn Backend>,
    layer: &crate::Conv2d,
    shape: crate::Shape4,
    k: usize,
    input: &[f32],
) -> Result<Duration> {
    let mut prepared = PreparedLayer::new(backend, crate::Layer::Conv2d(layer.clone()))?;
    let out_shape = prepared.output_shape(shape, k)?;
    let mut output = vec![0.0; out_shape.len()];
    prepared.reserve(shape.n, shape.h, shape.w)?;
    let mut run = || -> Result<Duration> {
        let start = Instant::now();
        prepared.run(input, shape, k, &mut output)?;
        Ok(start.elapsed())
    };
    let mut warm = Duration::ZERO;
    for _ in 0..WARM_UP_RUNS {
        warm = run()?;
    }
    if warm > SLOW_RUN {
        return Ok(warm);
    }
    let mut samples = Vec::with_capacity(TIMED_RUNS);
    for _ in 0..TIMED_RUNS {
        samples.push(run()?);
    }
    samples.sort();
    Ok(samples[TIMED_RUNS / 2])
}
