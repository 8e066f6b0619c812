//! x86-64 kernels, one instance of the same tile per instruction set.

/// How far ahead the weight stream is prefetched, in reduction steps. A
/// tile's weights (`depth × 2·lanes` floats) outgrow L1 on most layers and are
/// re-read for every pixel tile; without the hint the loads wait on L2
/// (measured: 172 → 191 GFLOP/s on L4 with AVX-512). 8 to 32 performed alike.
pub(crate) const PREFETCH_STEPS: usize = 16;

/// Defines a [`TileKernel`](super::tile::TileKernel) for one x86 vector
/// width. The loop nest is written once here; only the intrinsics differ.
macro_rules! x86_tile_kernel {
    (
        $name:ident, isa: $isa:expr, feature: $feature:literal, lanes: $lanes:literal, pixels: $pixels:literal,
        zero: $zero:ident, load: $load:ident, store: $store:ident, splat: $splat:ident,
        fma: $fma:ident, add: $add:ident, max: $max:ident, full_tile_store: $full_tile_store:path,
        full_row_store: $full_row_store:path
    ) => {
        pub(crate) struct $name;

        impl $crate::backend::cpu::tile::TileKernel for $name {
            const ISA: $crate::backend::cpu::isa::CpuIsa = $isa;
            const LANES: usize = $lanes;
            const PIXELS: usize = $pixels;
            const ROW_PIXELS: usize = 2 * $pixels;

            unsafe fn tile(t: &$crate::backend::cpu::tile::TileArgs, vectors: usize) {
                if vectors == 2 {
                    tile::<2>(t)
                } else {
                    tile::<1>(t)
                }
            }

            unsafe fn tile_row(t: &$crate::backend::cpu::tile::TileArgs) {
                tile_row(t)
            }
        }

        // Index loops over the register arrays unroll fully into registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = $feature)]
        unsafe fn tile_row(t: &$crate::backend::cpu::tile::TileArgs) {
            const NP: usize = 2 * $pixels;
            let mut acc = [$zero(); NP];
            let first = t.x.add(t.pix[0]);
            for d in 0..t.depth {
                let x = first.add(*t.kofs.add(d) as usize);
                _mm_prefetch::<_MM_HINT_T0>(
                    t.a[0].wrapping_add((d + $crate::backend::cpu::x86::PREFETCH_STEPS) * $lanes)
                        as *const i8,
                );
                let a = $load(t.a[0].add(d * $lanes));
                for i in 0..NP {
                    acc[i] = $fma($splat(*x.add(i)), a, acc[i]);
                }
            }
            let bias = $load(t.bias);
            let mut out = [$zero(); NP];
            for i in 0..NP {
                out[i] = $add(acc[i], bias);
                if t.relu {
                    out[i] = $max(out[i], $zero());
                }
            }
            if t.rows == $lanes && t.cols == NP {
                $full_row_store(&out, t);
            } else {
                let mut tmp = [0.0f32; NP * $lanes];
                for i in 0..NP {
                    $store(tmp.as_mut_ptr().add(i * $lanes), out[i]);
                }
                $crate::backend::cpu::tile::store_transposed(&tmp, $lanes, t);
            }
        }

        // Index loops over the register arrays unroll fully into registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = $feature)]
        unsafe fn tile<const MV: usize>(t: &$crate::backend::cpu::tile::TileArgs) {
            let mut acc = [[$zero(); MV]; $pixels];
            let pix = t.pix;
            for d in 0..t.depth {
                let x = t.x.add(*t.kofs.add(d) as usize);
                let mut a = [$zero(); MV];
                for v in 0..MV {
                    _mm_prefetch::<_MM_HINT_T0>(
                        t.a[v]
                            .wrapping_add((d + $crate::backend::cpu::x86::PREFETCH_STEPS) * $lanes)
                            as *const i8,
                    );
                    a[v] = $load(t.a[v].add(d * $lanes));
                }
                for i in 0..$pixels {
                    let xi = $splat(*x.add(pix[i]));
                    for v in 0..MV {
                        acc[i][v] = $fma(xi, a[v], acc[i][v]);
                    }
                }
            }
            let mut out = [[$zero(); MV]; $pixels];
            for v in 0..MV {
                let bias = $load(t.bias.add(v * $lanes));
                for i in 0..$pixels {
                    out[i][v] = $add(acc[i][v], bias);
                    if t.relu {
                        out[i][v] = $max(out[i][v], $zero());
                    }
                }
            }
            if t.rows == MV * $lanes && t.cols == $pixels {
                $full_tile_store(&out, t);
            } else {
                let mut tmp = [0.0f32; $pixels * 2 * $lanes];
                let width = MV * $lanes;
                for i in 0..$pixels {
                    for v in 0..MV {
                        $store(tmp.as_mut_ptr().add(i * width + v * $lanes), out[i][v]);
                    }
                }
                $crate::backend::cpu::tile::store_transposed(&tmp, width, t);
            }
        }
    };
}

pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use crate::backend::cpu::tile::TileArgs;

    x86_tile_kernel!(Avx512, isa: crate::CpuIsa::Avx512, feature: "avx512f", lanes: 16, pixels: 8,
        zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps, splat: _mm512_set1_ps,
        fma: _mm512_fmadd_ps, add: _mm512_add_ps, max: _mm512_max_ps, full_tile_store: store_full_tile,
        full_row_store: store_full_row);

    /// A row tile is two 8-pixel tiles side by side.
    #[inline(always)]
    unsafe fn store_full_row(out: &[__m512; 16], t: &TileArgs) {
        for half in 0..2 {
            let block: [[__m512; 1]; 8] = std::array::from_fn(|i| [out[8 * half + i]]);
            let t = TileArgs {
                out: t.out.add(8 * half),
                ..*t
            };
            store_full_tile::<1>(&block, &t);
        }
    }

    /// Writes 8 pixels × `16·MV` channels: each 8×8 block is transposed in
    /// registers, so every output channel gets one 8-float store.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn store_full_tile<const MV: usize>(out: &[[__m512; MV]; 8], t: &TileArgs) {
        for v in 0..MV {
            for half in 0..2 {
                let rows: [__m256; 8] = std::array::from_fn(|i| {
                    let wide = _mm512_castps_pd(out[i][v]);
                    _mm256_castpd_ps(if half == 0 {
                        _mm512_castpd512_pd256(wide)
                    } else {
                        _mm512_extractf64x4_pd::<1>(wide)
                    })
                });
                let columns = transpose8x8(rows);
                let first_channel = v * 16 + half * 8;
                for (c, column) in columns.iter().enumerate() {
                    _mm256_storeu_ps(t.out.add((first_channel + c) * t.ld), *column);
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn transpose8x8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use crate::backend::cpu::tile::TileArgs;

    x86_tile_kernel!(Avx2, isa: crate::CpuIsa::Avx2, feature: "avx2,fma", lanes: 8, pixels: 6,
        zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps, splat: _mm256_set1_ps,
        fma: _mm256_fmadd_ps, add: _mm256_add_ps, max: _mm256_max_ps, full_tile_store: store_full_tile,
        full_row_store: store_full_row);

    #[inline(always)]
    unsafe fn store_full_row(out: &[__m256; 12], t: &TileArgs) {
        let mut tmp = [0.0f32; 12 * 8];
        for (i, lanes) in out.iter().enumerate() {
            _mm256_storeu_ps(tmp.as_mut_ptr().add(i * 8), *lanes);
        }
        crate::backend::cpu::tile::store_transposed(&tmp, 8, t);
    }

    /// Six pixels do not fill a vector: store through a small buffer.
    #[inline(always)]
    unsafe fn store_full_tile<const MV: usize>(out: &[[__m256; MV]; 6], t: &TileArgs) {
        let mut tmp = [0.0f32; 6 * 16];
        let width = MV * 8;
        for (i, pixel) in out.iter().enumerate() {
            for (v, lanes) in pixel.iter().enumerate() {
                _mm256_storeu_ps(tmp.as_mut_ptr().add(i * width + v * 8), *lanes);
            }
        }
        crate::backend::cpu::tile::store_transposed(&tmp, width, t);
    }
}
