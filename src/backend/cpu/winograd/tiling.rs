//! The Winograd tilings F(m×m, r×r): the transform matrices, and the filter
//! transform done once at prepare time.
//!
//! For one α×α input tile `d` (α = m + r − 1) and an r×r filter `g`, the m×m
//! output tile of the correlation is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Over `c`
//! input channels the element-wise product becomes α² independent matrix
//! products (one per position ξ of the tile), which `mod.rs` runs on the
//! convolution tile kernels: 36 multiplications per 16 outputs for F(4×4,
//! 3×3) instead of 144, 16 per 4 for F(2×2, 3×3) instead of 36, and 36 per 4
//! for F(2×2, 5×5) instead of 100.
//!
//! The 3×3 matrices are Lavin and Gray's ("Fast Algorithms for Convolutional
//! Neural Networks", 2016, interpolation points 0, ±1, ±2, ∞ for F(4×4)).
//! F(2×2, 5×5) uses the same six points: `Bᵀ` depends only on the points, so
//! it is F(4×4, 3×3)'s, while `G` evaluates the filter's five taps and `Aᵀ`
//! the output's two at those points (the modified Toom-Cook construction).
//! They are associated constants, so after monomorphisation every
//! coefficient is a literal and the zero terms vanish from the transforms.

/// A group of lanes the transforms compute at once: one AVX2 register, two
/// NEON ones. Small enough for the compiler to keep in registers and to turn
/// the element-wise helpers below into single vector instructions.
pub(crate) type Lanes = [f32; LANE_GROUP];
pub(crate) const LANE_GROUP: usize = 8;
/// Half a lane group (one SSE or NEON register), for a remainder of at most
/// this many: an F(4×4) layer on an 8×8 output has 4 tiles per image, and
/// at batch 1 the output transform would otherwise compute (and spill) 8
/// lanes to use 4.
pub(crate) const HALF_GROUP: usize = LANE_GROUP / 2;

#[inline(always)]
fn add<const L: usize>(a: [f32; L], b: [f32; L]) -> [f32; L] {
    std::array::from_fn(|l| a[l] + b[l])
}

#[inline(always)]
fn sub<const L: usize>(a: [f32; L], b: [f32; L]) -> [f32; L] {
    std::array::from_fn(|l| a[l] - b[l])
}

#[inline(always)]
fn mul<const L: usize>(m: f32, a: [f32; L]) -> [f32; L] {
    a.map(|v| m * v)
}

/// One tiling: `M` outputs per tile side, `A = M + R − 1` inputs for an
/// `R`×`R` filter.
///
/// The matrices define it; `input_1d` and `output_1d` apply `Bᵀ` and `Aᵀ`
/// to one column of lanes as hand-factored straight-line code (the compiler
/// does not unroll the matrix loops reliably), and a unit test holds them
/// equal to the matrices.
pub(crate) trait Tiling<const M: usize, const A: usize>: Send + Sync + 'static {
    /// `Bᵀ·d` for one column `d`.
    fn input_1d<const L: usize>(d: &[[f32; L]; A]) -> [[f32; L]; A];
    /// `Aᵀ·m` for one column `m`.
    fn output_1d<const L: usize>(m: &[[f32; L]; A]) -> [[f32; L]; M];

    /// `Bᵀ`: the input transform.
    const BT: [[f32; A]; A];
    /// The filter's side `R`.
    const R: usize = A + 1 - M;
    /// `G` (`A` rows of `R`): the filter transform, applied in f64 and
    /// rounded once.
    const G: &'static [&'static [f64]];
    /// `Aᵀ`: the output transform.
    const AT: [[f32; A]; M];
    /// For messages and docs: `F(2×2, 3×3)`.
    const NAME: &'static str;
}

/// F(2×2, 3×3): 4×4 input tiles; only additions in the transforms.
pub(crate) struct F2;

impl Tiling<2, 4> for F2 {
    #[inline(always)]
    fn input_1d<const L: usize>(d: &[[f32; L]; 4]) -> [[f32; L]; 4] {
        [
            sub(d[0], d[2]),
            add(d[1], d[2]),
            sub(d[2], d[1]),
            sub(d[1], d[3]),
        ]
    }

    #[inline(always)]
    fn output_1d<const L: usize>(m: &[[f32; L]; 4]) -> [[f32; L]; 2] {
        [add(add(m[0], m[1]), m[2]), sub(sub(m[1], m[2]), m[3])]
    }

    const BT: [[f32; 4]; 4] = [
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ];
    const G: &'static [&'static [f64]] = &[
        &[1.0, 0.0, 0.0],
        &[0.5, 0.5, 0.5],
        &[0.5, -0.5, 0.5],
        &[0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
    const NAME: &'static str = "F(2×2, 3×3)";
}

/// F(4×4, 3×3): 6×6 input tiles.
pub(crate) struct F4;

impl Tiling<4, 6> for F4 {
    #[inline(always)]
    fn input_1d<const L: usize>(d: &[[f32; L]; 6]) -> [[f32; L]; 6] {
        let d1_d2 = add(d[1], d[2]);
        let d4_d3 = add(d[4], d[3]);
        let d1_m_d2 = sub(d[1], d[2]);
        let d4_m_d3 = sub(d[4], d[3]);
        let d4_m_d2 = sub(d[4], d[2]);
        let d3_m_d1 = sub(d[3], d[1]);
        [
            add(sub(mul(4.0, d[0]), mul(5.0, d[2])), d[4]),
            sub(d4_d3, mul(4.0, d1_d2)),
            add(d4_m_d3, mul(4.0, d1_m_d2)),
            add(d4_m_d2, mul(2.0, d3_m_d1)),
            sub(d4_m_d2, mul(2.0, d3_m_d1)),
            add(sub(mul(4.0, d[1]), mul(5.0, d[3])), d[5]),
        ]
    }

    #[inline(always)]
    fn output_1d<const L: usize>(m: &[[f32; L]; 6]) -> [[f32; L]; 4] {
        let m1_p_m2 = add(m[1], m[2]);
        let m1_m_m2 = sub(m[1], m[2]);
        let m3_p_m4 = add(m[3], m[4]);
        let m3_m_m4 = sub(m[3], m[4]);
        [
            add(add(m[0], m1_p_m2), m3_p_m4),
            add(m1_m_m2, mul(2.0, m3_m_m4)),
            add(m1_p_m2, mul(4.0, m3_p_m4)),
            add(add(m1_m_m2, mul(8.0, m3_m_m4)), m[5]),
        ]
    }

    const BT: [[f32; 6]; 6] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ];
    const G: &'static [&'static [f64]] = &[
        &[1.0 / 4.0, 0.0, 0.0],
        &[-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        &[-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        &[1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        &[1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        &[0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 6]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ];
    const NAME: &'static str = "F(4×4, 3×3)";
}

/// F(2×2, 5×5): 6×6 input tiles, the same points as F(4×4, 3×3).
pub(crate) struct F2R5;

impl Tiling<2, 6> for F2R5 {
    #[inline(always)]
    fn input_1d<const L: usize>(d: &[[f32; L]; 6]) -> [[f32; L]; 6] {
        F4::input_1d(d)
    }

    #[inline(always)]
    fn output_1d<const L: usize>(m: &[[f32; L]; 6]) -> [[f32; L]; 2] {
        let m1_p_m2 = add(m[1], m[2]);
        let m3_p_m4 = add(m[3], m[4]);
        let m1_m_m2 = sub(m[1], m[2]);
        let m3_m_m4 = sub(m[3], m[4]);
        [
            add(add(m[0], m1_p_m2), m3_p_m4),
            add(add(m1_m_m2, mul(2.0, m3_m_m4)), m[5]),
        ]
    }

    const BT: [[f32; 6]; 6] = F4::BT;
    // Row ξ: the point's powers 0..4 over F(4×4)'s scale (4, −6, −6, 24,
    // 24); the last row takes the leading tap (the point at infinity).
    const G: &'static [&'static [f64]] = &[
        &[1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
        &[-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        &[-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        &[1.0 / 24.0, 2.0 / 24.0, 4.0 / 24.0, 8.0 / 24.0, 16.0 / 24.0],
        &[
            1.0 / 24.0,
            -2.0 / 24.0,
            4.0 / 24.0,
            -8.0 / 24.0,
            16.0 / 24.0,
        ],
        &[0.0, 0.0, 0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 6]; 2] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 1.0],
    ];
    const NAME: &'static str = "F(2×2, 5×5)";
}

/// `G g Gᵀ` for one R×R filter (row-major), computed in f64 and rounded
/// once: `u[ξ]` with ξ = i·A + j.
pub(crate) fn transform_filter<const M: usize, const A: usize, T: Tiling<M, A>>(
    g: &[f32],
) -> [[f32; A]; A] {
    let r = T::R;
    // (G g)[i][c], for the largest R (5) of any tiling.
    let mut gg = [[0.0f64; 5]; A];
    for (i, row) in gg.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate().take(r) {
            *v = (0..r).map(|t| T::G[i][t] * g[t * r + c] as f64).sum();
        }
    }
    let mut u = [[0.0f32; A]; A];
    for (i, row) in u.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..r).map(|c| gg[i][c] * T::G[j][c]).sum::<f64>() as f32;
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiling computes the 2-D correlation exactly (in f64, up to
    /// rounding of the coefficients), for every output of the tile.
    fn exact<const M: usize, const A: usize, T: Tiling<M, A>>() {
        let d: Vec<f64> = (0..A * A)
            .map(|i| ((i * 7919) % 23) as f64 - 11.0)
            .collect();
        let r = T::R;
        let g: Vec<f64> = (0..r * r).map(|i| ((i * 31) % 7) as f64 - 3.0).collect();
        let mut u = [[0.0f64; A]; A];
        let mut v = [[0.0f64; A]; A];
        for i in 0..A {
            for j in 0..A {
                for t in 0..r {
                    for c in 0..r {
                        u[i][j] += T::G[i][t] * g[t * r + c] * T::G[j][c];
                    }
                }
                for r in 0..A {
                    for c in 0..A {
                        v[i][j] += T::BT[i][r] as f64 * d[r * A + c] * T::BT[j][c] as f64;
                    }
                }
            }
        }
        for a in 0..M {
            for b in 0..M {
                let mut y = 0.0;
                for i in 0..A {
                    for j in 0..A {
                        y += T::AT[a][i] as f64 * u[i][j] * v[i][j] * T::AT[b][j] as f64;
                    }
                }
                let direct: f64 = (0..r * r)
                    .map(|t| g[t] * d[(a + t / r) * A + b + t % r])
                    .sum();
                assert!(
                    (y - direct).abs() < 1e-9,
                    "{} ({a},{b}): {y} vs {direct}",
                    T::NAME
                );
            }
        }
    }

    /// The hand-factored transforms equal the matrices they stand for.
    #[allow(clippy::needless_range_loop)]
    fn transforms_match_matrices<const M: usize, const A: usize, T: Tiling<M, A>>() {
        let x: [Lanes; A] =
            std::array::from_fn(|r| std::array::from_fn(|l| ((r * 13 + l * 7) % 11) as f32 - 5.0));
        let input = T::input_1d(&x);
        let output = T::output_1d(&x);
        // The half-width instantiation computes the same first lanes.
        let half: [[f32; HALF_GROUP]; A] =
            std::array::from_fn(|r| std::array::from_fn(|l| x[r][l]));
        let (half_input, half_output) = (T::input_1d(&half), T::output_1d(&half));
        for l in 0..HALF_GROUP {
            for i in 0..A {
                assert_eq!(
                    half_input[i][l],
                    input[i][l],
                    "{} half-width Bᵀ row {i}",
                    T::NAME
                );
            }
            for a in 0..M {
                assert_eq!(
                    half_output[a][l],
                    output[a][l],
                    "{} half-width Aᵀ row {a}",
                    T::NAME
                );
            }
        }
        for l in 0..LANE_GROUP {
            for i in 0..A {
                let want: f32 = (0..A).map(|r| T::BT[i][r] * x[r][l]).sum();
                assert_eq!(input[i][l], want, "{} Bᵀ row {i}", T::NAME);
            }
            for a in 0..M {
                let want: f32 = (0..A).map(|r| T::AT[a][r] * x[r][l]).sum();
                assert_eq!(output[a][l], want, "{} Aᵀ row {a}", T::NAME);
            }
        }
    }

    #[test]
    fn hand_written_transforms_match_the_matrices() {
        transforms_match_matrices::<2, 4, F2>();
        transforms_match_matrices::<4, 6, F4>();
        transforms_match_matrices::<2, 6, F2R5>();
    }

    #[test]
    fn f2_is_exact() {
        exact::<2, 4, F2>();
    }

    #[test]
    fn f4_is_exact() {
        exact::<4, 6, F4>();
    }

    #[test]
    fn f2_5x5_is_exact() {
        exact::<2, 6, F2R5>();
    }

    #[test]
    fn every_tiling_has_a_rows_of_r_taps() {
        fn shape<const M: usize, const A: usize, T: Tiling<M, A>>() {
            assert_eq!(T::G.len(), A, "{}", T::NAME);
            assert!(T::G.iter().all(|row| row.len() == T::R), "{}", T::NAME);
            assert!(
                T::R <= 5,
                "{}: transform_filter holds at most 5 taps",
                T::NAME
            );
        }
        shape::<2, 4, F2>();
        shape::<4, 6, F4>();
        shape::<2, 6, F2R5>();
    }
}
