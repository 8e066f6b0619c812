//! Grouped linear layers and the dynamic classifier head on the CPU: dot
//! products over each output's contiguous weight row, parallel over outputs.

use crate::backend::cpu::kernels::DotFn;
use crate::backend::cpu::workers::{SharedMut, Workers};
use crate::backend::{check_run, Kernel};
use crate::error::Result;
use crate::model::head::{Head, HeadSpec};
use crate::model::linear::{Linear, LinearSpec};
use crate::model::shape::Shape4;

/// Output rows per task: enough work to amortise scheduling.
const ROWS_PER_TASK: usize = 16;

pub(crate) struct CpuLinear {
    spec: LinearSpec,
    dot: DotFn,
    weights: Vec<f32>,
    bias: Vec<f32>,
    workers: Workers,
}

impl CpuLinear {
    pub fn new(layer: &Linear, dot: DotFn, workers: Workers) -> Self {
        let spec = *layer.spec();
        Self {
            spec,
            dot,
            weights: layer.weights().to_f32().into_owned(),
            bias: layer
                .bias()
                .map_or_else(|| vec![0.0; spec.out_features], <[f32]>::to_vec),
            workers,
        }
    }
}

impl Kernel for CpuLinear {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The unsafe stores below rely on these checks.
        let out_shape = self.spec.output_shape(shape, k)?;
        check_run(shape, out_shape, input, output)?;
        let layout = self.spec.layout();
        let og = layout.outputs_per_group();
        let (in_len, out_len) = (layout.active_inputs(k), layout.active_outputs(k));
        let out = SharedMut::new(output);
        let relu = self.spec.relu;
        self.workers
            .run(out_len.div_ceil(ROWS_PER_TASK), |task, _| {
                for o in task * ROWS_PER_TASK..((task + 1) * ROWS_PER_TASK).min(out_len) {
                    let j = o / og;
                    let reads = layout.group_inputs(j);
                    let row_len = reads.len();
                    let start = layout.group_weights(j).start + (o - j * og) * row_len;
                    let w_row = &self.weights[start..start + row_len];
                    for n in 0..shape.n {
                        let x = &input[n * in_len..(n + 1) * in_len][reads.clone()];
                        let mut y = (self.dot)(w_row, x) + self.bias[o];
                        if relu {
                            y = y.max(0.0);
                        }
                        // SAFETY: output column `o` belongs to this task alone.
                        unsafe { *out.ptr().add(n * out_len + o) = y };
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct CpuHead {
    spec: HeadSpec,
    /// `[G, classes]`: row k−1 is the bias of k active groups.
    bias: Vec<f32>,
    dot: DotFn,
    weights: Vec<f32>,
    workers: Workers,
}

impl CpuHead {
    pub fn new(head: &Head, dot: DotFn, workers: Workers) -> Self {
        Self {
            dot,
            weights: head.weights().to_f32().into_owned(),
            spec: *head.spec(),
            bias: head.bias().to_vec(),
            workers,
        }
    }
}

impl Kernel for CpuHead {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The unsafe stores below rely on these checks.
        let out_shape = self.spec.output_shape(shape, k)?;
        check_run(shape, out_shape, input, output)?;
        let spec = self.spec;
        let (fg, classes) = (spec.features_per_group(), spec.classes);
        let bias = &self.bias[(k - 1) * classes..k * classes];
        let out = SharedMut::new(output);
        self.workers.run(shape.n, |n, _| {
            let x = &input[n * k * fg..(n + 1) * k * fg];
            for (c, b) in bias.iter().enumerate() {
                let logit = b
                    + (0..k)
                        .map(|j| {
                            let w =
                                &self.weights[(j * classes + c) * fg..(j * classes + c + 1) * fg];
                            (self.dot)(w, &x[j * fg..(j + 1) * fg])
                        })
                        .sum::<f32>();
                // SAFETY: batch row `n` belongs to this task alone.
                unsafe { *out.ptr().add(n * classes + c) = logit };
            }
        });
        Ok(())
    }
}
