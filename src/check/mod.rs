//! Checking backends against the scalar oracle: the cases, the tolerance and
//! the comparison, shared by the test suite and `groupscale selftest`.

pub mod cases;
pub mod selftest;
#[cfg(feature = "cpu")]
mod winograd;

#[cfg(feature = "cpu")]
pub use winograd::winograd_tolerances;

/// The largest difference allowed between two f32 results of a reduction
/// over `depth` products: the summation orders of two correct kernels differ,
/// and each rounding can add up to one ulp of the running sum.
pub fn tolerance(depth: usize, expected: f32) -> f32 {
    2.0 * f32::EPSILON * depth.max(1) as f32 * (1.0 + expected.abs())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub index: usize,
    pub expected: f32,
    pub got: f32,
    pub tolerance: f32,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "element {}: expected {}, got {} (tolerance {:.2e})",
            self.index, self.expected, self.got, self.tolerance
        )
    }
}

/// The worst element relative to its tolerance: `Ok(ratio ≤ 1)` or the
/// first element past it. NaN anywhere is a mismatch.
pub fn compare(expected: &[f32], got: &[f32], depth: usize) -> Result<f32, Mismatch> {
    compare_by(expected, got, |_, e| tolerance(depth, e))
}

/// As [`compare`], with one tolerance per element.
pub fn compare_each(expected: &[f32], got: &[f32], tolerances: &[f32]) -> Result<f32, Mismatch> {
    compare_by(expected, got, |i, _| {
        tolerances.get(i).copied().unwrap_or(0.0)
    })
}

fn compare_by(
    expected: &[f32],
    got: &[f32],
    tolerance: impl Fn(usize, f32) -> f32,
) -> Result<f32, Mismatch> {
    if expected.len() != got.len() {
        return Err(Mismatch {
            index: expected.len().min(got.len()),
            expected: f32::NAN,
            got: f32::NAN,
            tolerance: 0.0,
        });
    }
    let mut worst = 0.0f32;
    for (index, (&e, &g)) in expected.iter().zip(got).enumerate() {
        let tolerance = tolerance(index, e);
        let diff = (e - g).abs();
        if diff.is_nan() || diff > tolerance {
            if e.is_infinite() && e == g {
                continue;
            }
            return Err(Mismatch {
                index,
                expected: e,
                got: g,
                tolerance,
            });
        }
        worst = worst.max(diff / tolerance);
    }
    Ok(worst)
}
