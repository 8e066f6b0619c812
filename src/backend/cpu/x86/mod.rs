//! x86-64 kernels, one instance of the same tile per instruction set.

/// Defines a [`TileKernel`](super::tile::TileKernel) for one x86 vector
/// width. The loop nest is written once here; only the intrinsics differ.
macro_rules! x86_tile_kernel {
    (
        $name:ident, isa: $isa:expr, feature: $feature:literal, lanes: $lanes:literal, pixels: $pixels:literal,
        zero: $zero:ident, load: $load:ident, store: $store:ident, splat: $splat:ident,
        fma: $fma:ident, add: $add:ident, max: $max:ident
    ) => {
        pub(crate) struct $name;

        impl $crate::backend::cpu::tile::TileKernel for $name {
            const ISA: $crate::backend::cpu::isa::CpuIsa = $isa;
            const LANES: usize = $lanes;
            const PIXELS: usize = $pixels;

            unsafe fn tile(t: &$crate::backend::cpu::tile::TileArgs, vectors: usize) {
                if vectors == 2 {
                    tile::<2>(t)
                } else {
                    tile::<1>(t)
                }
            }
        }

        // Index loops over the register arrays unroll fully into registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = $feature)]
        unsafe fn tile<const MV: usize>(t: &$crate::backend::cpu::tile::TileArgs) {
            use std::arch::x86_64::*;
            let mut acc = [[$zero(); MV]; $pixels];
            let pix = t.pix;
            for d in 0..t.depth {
                let x = t.x.add(*t.kofs.add(d) as usize);
                let mut a = [$zero(); MV];
                for v in 0..MV {
                    a[v] = $load(t.a[v].add(d * $lanes));
                }
                for i in 0..$pixels {
                    let xi = $splat(*x.add(pix[i]));
                    for v in 0..MV {
                        acc[i][v] = $fma(xi, a[v], acc[i][v]);
                    }
                }
            }
            let mut tmp = [0.0f32; $pixels * 2 * $lanes];
            let width = MV * $lanes;
            for v in 0..MV {
                let bias = $load(t.bias.add(v * $lanes));
                for i in 0..$pixels {
                    let mut r = $add(acc[i][v], bias);
                    if t.relu {
                        r = $max(r, $zero());
                    }
                    $store(tmp.as_mut_ptr().add(i * width + v * $lanes), r);
                }
            }
            $crate::backend::cpu::tile::store_transposed(&tmp, width, t);
        }
    };
}

pub(crate) mod avx512 {
    x86_tile_kernel!(Avx512, isa: crate::CpuIsa::Avx512, feature: "avx512f", lanes: 16, pixels: 8,
        zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps, splat: _mm512_set1_ps,
        fma: _mm512_fmadd_ps, add: _mm512_add_ps, max: _mm512_max_ps);
}

pub(crate) mod avx2 {
    x86_tile_kernel!(Avx2, isa: crate::CpuIsa::Avx2, feature: "avx2,fma", lanes: 8, pixels: 6,
        zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps, splat: _mm256_set1_ps,
        fma: _mm256_fmadd_ps, add: _mm256_add_ps, max: _mm256_max_ps);
}
