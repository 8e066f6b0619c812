use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;

pub(super) fn max_pool2d(spec: &MaxPool2dSpec, input: &[f32], shape: Shape4, output: &mut [f32]) {
    let out = spec.output_shape(shape).expect("validated by the caller");
    for plane in 0..shape.n * shape.c {
        max_pool_plane(
            spec,
            &input[plane * shape.plane()..(plane + 1) * shape.plane()],
            shape,
            &mut output[plane * out.plane()..(plane + 1) * out.plane()],
            out,
        );
    }
}

/// Pools one channel plane of `shape` into one plane of `out`.
fn max_pool_plane(spec: &MaxPool2dSpec, x: &[f32], shape: Shape4, y: &mut [f32], out: Shape4) {
    for oy in 0..out.h {
        for ox in 0..out.w {
            let mut best = f32::NEG_INFINITY;
            for ky in 0..spec.kernel[0] {
                let iy = (oy * spec.stride[0] + ky) as isize - spec.padding[0] as isize;
                for kx in 0..spec.kernel[1] {
                    let ix = (ox * spec.stride[1] + kx) as isize - spec.padding[1] as isize;
                    if (0..shape.h as isize).contains(&iy) && (0..shape.w as isize).contains(&ix) {
                        best = best.max(x[iy as usize * shape.w + ix as usize]);
                    }
                }
            }
            y[oy * out.w + ox] = best;
        }
    }
}

pub(super) fn softmax(input: &[f32], rows: usize, cols: usize, output: &mut [f32]) {
    for r in 0..rows {
        softmax_row(
            &input[r * cols..(r + 1) * cols],
            &mut output[r * cols..(r + 1) * cols],
        );
    }
}

pub(crate) fn softmax_row(x: &[f32], y: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = (xi - max).exp();
        sum += *yi;
    }
    for yi in y.iter_mut() {
        *yi /= sum;
    }
}
