use crate::model::conv::Conv2dSpec;
use crate::model::shape::Shape4;

pub(super) fn conv2d(
    spec: &Conv2dSpec,
    weights: &[f32],
    bias: Option<&[f32]>,
    input: &[f32],
    shape: Shape4,
    k: usize,
    output: &mut [f32],
) {
    let layout = spec.layout();
    let [kh, kw] = spec.kernel;
    let [sh, sw] = spec.stride;
    let [ph, pw] = spec.padding;
    let [dh, dw] = spec.dilation;
    let (ho, wo) = spec
        .output_hw(shape.h, shape.w)
        .expect("validated by the caller");
    let og = layout.outputs_per_group();
    let out_c = layout.active_outputs(k);

    for n in 0..shape.n {
        for j in 0..k {
            let reads = layout.group_inputs(j);
            let row_len = layout.group_row_len(j);
            let group_w = &weights[layout.group_weights(j)];
            for o in 0..og {
                let co = j * og + o;
                let w_row = &group_w[o * row_len..(o + 1) * row_len];
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0f32;
                        for (ci_in_group, ci) in reads.clone().enumerate() {
                            for ky in 0..kh {
                                let iy = (oy * sh + ky * dh) as isize - ph as isize;
                                if iy < 0 || iy >= shape.h as isize {
                                    continue;
                                }
                                for kx in 0..kw {
                                    let ix = (ox * sw + kx * dw) as isize - pw as isize;
                                    if ix < 0 || ix >= shape.w as isize {
                                        continue;
                                    }
                                    let x = input[((n * shape.c + ci) * shape.h + iy as usize)
                                        * shape.w
                                        + ix as usize];
                                    acc += w_row[(ci_in_group * kh + ky) * kw + kx] * x;
                                }
                            }
                        }
                        acc += bias.map_or(0.0, |b| b[co]);
                        if spec.relu {
                            acc = acc.max(0.0);
                        }
                        output[((n * out_c + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
    }
}
