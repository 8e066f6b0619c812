//! The rounding-error bound of a Winograd convolution, per output.
//!
//! Winograd F(m×m, r×r) computes each output as
//! `y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A + b`, a chain of at most
//! `n = 4α + C + 3` roundings along any path (α = m + r − 1: two α-term passes
//! of the input transform, the filter transform rounded once to f32, `C`
//! terms over the input channels, two α-term passes of the output transform,
//! the bias). The standard forward analysis of sums of products (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, §3.1) bounds the computed
//! result by `|ŷ − y| ≤ γ_n · E`, `γ_n = n·u / (1 − n·u)`, `u = 2⁻²⁴`, where
//! `E` is the same expression with every matrix, filter and input replaced
//! by its absolute value. `E` grows with the transforms' coefficients, which
//! is why F(4×4) is less accurate than F(2×2) and both less than direct
//! convolution (whose `E` is `Σ|g||d| + |b|`).
//!
//! The oracle's own result carries the direct bound, `γ_{r²C+1}·(Σ|g||d| +
//! |b|)`, so a Winograd result may differ from it by the sum of both.

use crate::backend::cpu::winograd::{Tiling, F2, F2R5, F4};
use crate::check::cases::Case;
use crate::model::layer::Layer;

fn gamma(n: usize) -> f64 {
    let nu = n as f64 * f64::from(f32::EPSILON) / 2.0;
    nu / (1.0 - nu)
}

/// The largest difference from the oracle each output of `case` may show
/// when computed by Winograd F(`tile`×`tile`, r×r), r the case's kernel
/// side. `None` when no tiling has that tile and kernel (F(2×2) and F(4×4)
/// for 3×3, F(2×2) for 5×5) or the case is not a convolution.
pub fn winograd_tolerances(case: &Case, tile: usize) -> Option<Vec<f32>> {
    let Layer::Conv2d(conv) = &case.layer else {
        return None;
    };
    match (tile, conv.spec().kernel) {
        (2, [3, 3]) => tolerances::<2, 4, F2>(case),
        (4, [3, 3]) => tolerances::<4, 6, F4>(case),
        (2, [5, 5]) => tolerances::<2, 6, F2R5>(case),
        _ => None,
    }
}

fn tolerances<const M: usize, const A: usize, T: Tiling<M, A>>(case: &Case) -> Option<Vec<f32>> {
    let Layer::Conv2d(conv) = &case.layer else {
        return None;
    };
    let spec = conv.spec();
    let r = T::R;
    if spec.kernel != [r, r] {
        return None;
    }
    let layout = spec.layout();
    let shape = case.input.shape;
    let out = spec.output_shape(shape, case.k).ok()?;
    let weights = conv.weights().to_f32();
    let x = &case.input.data;
    let [ph, pw] = spec.padding;
    let og = layout.outputs_per_group();
    let abs_bt = T::BT.map(|row| row.map(|v| f64::from(v).abs()));
    let abs_at = T::AT.map(|row| row.map(|v| f64::from(v).abs()));
    let abs_g: Vec<Vec<f64>> = T::G
        .iter()
        .map(|row| row.iter().map(|v| v.abs()).collect())
        .collect();
    // |x| at (image, channel, y, x) of the padded input, zero outside.
    let pixel = |n: usize, c: usize, y: isize, xx: isize| -> f64 {
        let (y, xx) = (y - ph as isize, xx - pw as isize);
        if y < 0 || xx < 0 || y >= shape.h as isize || xx >= shape.w as isize {
            0.0
        } else {
            f64::from(x[((n * shape.c + c) * shape.h + y as usize) * shape.w + xx as usize]).abs()
        }
    };
    let (tiles_y, tiles_x) = (out.h.div_ceil(M), out.w.div_ceil(M));
    // |Bᵀ||d||B| of every tile of every input channel, computed once.
    let mut abs_v = vec![[[0.0f64; A]; A]; shape.n * shape.c * tiles_y * tiles_x];
    for n in 0..shape.n {
        for c in 0..shape.c {
            for ty in 0..tiles_y {
                for tx in 0..tiles_x {
                    let (y0, x0) = ((ty * M) as isize, (tx * M) as isize);
                    let d: [[f64; A]; A] = std::array::from_fn(|r| {
                        std::array::from_fn(|s| pixel(n, c, y0 + r as isize, x0 + s as isize))
                    });
                    let v = &mut abs_v[((n * shape.c + c) * tiles_y + ty) * tiles_x + tx];
                    for i in 0..A {
                        for j in 0..A {
                            v[i][j] = (0..A)
                                .flat_map(|r| (0..A).map(move |s| (r, s)))
                                .map(|(r, s)| abs_bt[i][r] * d[r][s] * abs_bt[j][s])
                                .sum();
                        }
                    }
                }
            }
        }
    }
    let mut tolerances = vec![0.0f32; out.len()];
    for co in 0..out.c {
        let j = co / og;
        let inputs = layout.group_inputs(j);
        let depth = inputs.len();
        let taps = r * r;
        let row = &weights[layout.group_weights(j)][(co % og) * depth * taps..][..depth * taps];
        let bias = conv.bias().map_or(0.0, |b| f64::from(b[co]).abs());
        // |G||g||Gᵀ| of each of the channel's filters.
        let abs_u: Vec<[[f64; A]; A]> = (0..depth)
            .map(|local| {
                let g = &row[local * taps..][..taps];
                std::array::from_fn(|i| {
                    std::array::from_fn(|jj| {
                        (0..taps)
                            .map(|t| abs_g[i][t / r] * f64::from(g[t]).abs() * abs_g[jj][t % r])
                            .sum()
                    })
                })
            })
            .collect();
        for n in 0..shape.n {
            for ty in 0..tiles_y {
                for tx in 0..tiles_x {
                    // Σ_c |U_c| ⊙ |V_c| for this tile.
                    let mut product = [[0.0f64; A]; A];
                    for (local, c) in inputs.clone().enumerate() {
                        let v = &abs_v[((n * shape.c + c) * tiles_y + ty) * tiles_x + tx];
                        for i in 0..A {
                            for jj in 0..A {
                                product[i][jj] += abs_u[local][i][jj] * v[i][jj];
                            }
                        }
                    }
                    for a in 0..M.min(out.h - ty * M) {
                        for b in 0..M.min(out.w - tx * M) {
                            let (oy, ox) = (ty * M + a, tx * M + b);
                            let mut winograd = 0.0;
                            for i in 0..A {
                                for jj in 0..A {
                                    winograd += abs_at[a][i] * product[i][jj] * abs_at[b][jj];
                                }
                            }
                            let mut direct = 0.0;
                            for (local, c) in inputs.clone().enumerate() {
                                for t in 0..taps {
                                    direct += f64::from(row[local * taps + t]).abs()
                                        * pixel(n, c, (oy + t / r) as isize, (ox + t % r) as isize);
                                }
                            }
                            let bound = gamma(4 * A + depth + 3) * (winograd + bias)
                                + gamma(taps * depth + 1) * (direct + bias);
                            let at = ((n * out.c + co) * out.h + oy) * out.w + ox;
                            // Rounded up, so the f32 bound is never below the f64 one.
                            tolerances[at] = (bound * (1.0 + 1e-6)) as f32 + f32::MIN_POSITIVE;
                        }
                    }
                }
            }
        }
    }
    Some(tolerances)
}
