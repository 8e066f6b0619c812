//! x86-64 kernel tables: AVX-512 and AVX2, one instance of the same tile
//! each, and what they share.

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

/// Hints the weight stream into L1 (a hint: never faults, even past a buffer).
#[inline(always)]
fn prefetch(p: *const f32) {
    // SAFETY: prefetching has no architectural effect and never faults.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
}

mod avx2;
mod avx512;

pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;
