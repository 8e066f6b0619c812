//! Accuracy, confidence and latency of a session at each active group
//! count: the trade-off the dynamic model offers.

use std::time::Instant;

use crate::data::RawImages;
use crate::error::Result;
use crate::loader::Model;
use crate::session::Session;

/// One row of the trade-off table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub k: usize,
    pub images: usize,
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    /// Mean softmax probability of the true class.
    pub confidence: f64,
    /// Median time of one inference of `EvalOptions::latency_batch` images,
    /// in milliseconds.
    pub latency_ms: f64,
    /// Images per second while classifying the whole set in batches.
    pub throughput: f64,
    /// Weight and bias bytes that k groups read.
    pub weight_bytes: usize,
}

/// How [`evaluate`] runs.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// Images per batch for the accuracy pass.
    pub batch: usize,
    /// Inferences timed for the latency median.
    pub latency_runs: usize,
    /// Images per timed inference (1: the latency of one frame).
    pub latency_batch: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            batch: 50,
            latency_runs: 30,
            latency_batch: 1,
        }
    }
}

/// Evaluates `session` (made from `model`) on `data` at k = 1..=G.
pub fn evaluate(
    model: &Model,
    session: &mut Session,
    data: &RawImages,
    options: EvalOptions,
) -> Result<Vec<Evaluation>> {
    let batch = options.batch.max(1);
    let item = model.input().item_len();
    // Checks that a batch of the model's inputs is within the model limits
    // before any of them is built; the inputs are then made one batch at a
    // time, so memory follows the batch, not the data set.
    let latency_batch = options.latency_batch.max(1);
    if !data.is_empty() && latency_batch > data.len() {
        return Err(crate::error::Error::Data(format!(
            "a latency batch of {latency_batch} needs at least that many images; the data has {}",
            data.len()
        )));
    }
    session.reserve(batch.min(data.len()).max(latency_batch))?;
    let mut inputs = Vec::new();
    // Checks that the images fit the model's input, even when there are none.
    data.to_input(model.input(), 0..0, &mut inputs)?;
    let mut rows = Vec::new();
    for k in 1..=model.groups() {
        session.set_active_groups(k)?;
        let (mut correct, mut confidence) = (0usize, 0.0f64);
        let mut seconds = 0.0f64;
        for first in (0..data.len()).step_by(batch) {
            let n = batch.min(data.len() - first);
            data.to_input(model.input(), first..first + n, &mut inputs)?;
            let start = Instant::now();
            let logits = session.infer(&inputs, n)?;
            for (row, &label) in logits
                .chunks_exact(model.classes().len())
                .zip(&data.labels[first..first + n])
            {
                let p = softmax(row);
                correct += usize::from(argmax(&p) == usize::from(label));
                confidence += f64::from(p.get(usize::from(label)).copied().unwrap_or(0.0));
            }
            seconds += start.elapsed().as_secs_f64();
        }
        let latency_ms = if data.is_empty() {
            f64::NAN
        } else {
            data.to_input(model.input(), 0..latency_batch, &mut inputs)?;
            median_latency_ms(
                session,
                &inputs[..item * latency_batch],
                latency_batch,
                options.latency_runs,
            )?
        };
        let images = data.len();
        rows.push(Evaluation {
            k,
            images,
            accuracy: correct as f64 / images.max(1) as f64,
            confidence: confidence / images.max(1) as f64,
            latency_ms,
            throughput: images as f64 / seconds.max(1e-12),
            weight_bytes: model.weight_bytes(k),
        });
    }
    Ok(rows)
}

fn median_latency_ms(session: &mut Session, input: &[f32], n: usize, runs: usize) -> Result<f64> {
    session.infer(input, n)?; // warm-up
    let capacity = runs.clamp(1, 1 << 16); // grows with the runs made, not those asked for
    let mut times = Vec::with_capacity(capacity);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        session.infer(input, n)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Class probabilities from logits (numerically stable).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}
