use crate::model::head::HeadSpec;
use crate::model::linear::LinearSpec;

pub(super) fn linear(
    spec: &LinearSpec,
    weights: &[f32],
    bias: Option<&[f32]>,
    input: &[f32],
    batch: usize,
    k: usize,
    output: &mut [f32],
) {
    let layout = spec.layout();
    let og = layout.outputs_per_group();
    let in_len = layout.active_inputs(k);
    let out_len = layout.active_outputs(k);
    for n in 0..batch {
        let x = &input[n * in_len..(n + 1) * in_len];
        for j in 0..k {
            let reads = layout.group_inputs(j);
            let row_len = reads.len();
            let group_w = &weights[layout.group_weights(j)];
            for o in 0..og {
                let w_row = &group_w[o * row_len..(o + 1) * row_len];
                let mut acc = 0.0f32;
                for (w, xi) in w_row.iter().zip(&x[reads.clone()]) {
                    acc += w * xi;
                }
                acc += bias.map_or(0.0, |b| b[j * og + o]);
                if spec.relu {
                    acc = acc.max(0.0);
                }
                output[n * out_len + j * og + o] = acc;
            }
        }
    }
}

pub(super) fn head(
    spec: &HeadSpec,
    weights: &[f32],
    bias: &[f32],
    input: &[f32],
    batch: usize,
    k: usize,
    output: &mut [f32],
) {
    let fg = spec.features_per_group();
    let classes = spec.classes;
    for n in 0..batch {
        let x = &input[n * k * fg..(n + 1) * k * fg];
        for c in 0..classes {
            let mut acc = bias[(k - 1) * classes + c];
            for j in 0..k {
                let w_row = &weights[(j * classes + c) * fg..(j * classes + c + 1) * fg];
                let h_j = &x[j * fg..(j + 1) * fg];
                for (w, h) in w_row.iter().zip(h_j) {
                    acc += w * h;
                }
            }
            output[n * classes + c] = acc;
        }
    }
}
