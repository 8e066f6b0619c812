// Grouped convolution as an implicit GEMM per group, with bias and ReLU
// fused into the store.
//
// Block (x, y): x tiles the batch·out_h·out_w output pixels by BN, y is
// group · channel_tiles + tile over the group's og output channels by BM.
// The host launches k · channel_tiles rows of blocks, so inactive groups
// never get a block. Each block walks the group's reduction (its input
// channels × kernel taps) in slices of GS_BK: the slice of weights and the
// matching im2col slice of the input go to shared memory, then each of
// the 256 threads accumulates a (BM/16)×(BN/16) micro-tile.
#include "groupscale.cuh"

#define GS_CONV_THREADS 256
#define GS_BK 16

// The output pixel a thread loads input for: fixed over the reduction,
// because 256 is a multiple of BN.
struct GsPixel {
    bool valid;
    int iy0, ix0;            // top-left input position of its window
    unsigned long long base; // its image's first active input channel
};

GS_DEVICE GsPixel gs_pixel(const ConvArgs& a, unsigned p, unsigned first) {
    GsPixel px;
    const unsigned plane = a.out_h * a.out_w;
    px.valid = p < a.batch * plane;
    const unsigned img = px.valid ? p / plane : 0, r = px.valid ? p % plane : 0;
    px.iy0 = (int)((r / a.out_w) * a.sh) - (int)a.ph;
    px.ix0 = (int)((r % a.out_w) * a.sw) - (int)a.pw;
    px.base = ((unsigned long long)img * a.in_c + first) * a.in_h * a.in_w;
    return px;
}

// Element `gk` of the pixel's im2col column (0 outside the image).
GS_DEVICE float gs_im2col(const ConvArgs& a, const float* in, const GsPixel& px, unsigned gk,
                          unsigned row_len) {
    if (!px.valid || gk >= row_len) return 0.0f;
    const unsigned taps = a.kh * a.kw;
    const unsigned ci = gk / taps, tap = gk % taps;
    const int iy = px.iy0 + (int)((tap / a.kw) * a.dh);
    const int ix = px.ix0 + (int)((tap % a.kw) * a.dw);
    if (iy < 0 || iy >= (int)a.in_h || ix < 0 || ix >= (int)a.in_w) return 0.0f;
    return in[px.base + ((unsigned long long)ci * a.in_h + iy) * a.in_w + ix];
}

// Adds bias, applies ReLU and stores the micro-tile.
template <int BM, int BN>
GS_DEVICE void gs_conv_store(const ConvArgs& a, unsigned j, unsigned m0, unsigned n0,
                             const float (&acc)[BM / 16][BN / 16]) {
    const unsigned t = threadIdx.x, ty = t / 16, tx = t % 16;
    const unsigned plane = a.out_h * a.out_w;
    const float* bias = (const float*)a.bias;
    float* out = (float*)a.output;
#pragma unroll
    for (int i = 0; i < BM / 16; ++i) {
        const unsigned m = m0 + ty + 16 * i;
        if (m >= a.og) continue;
        const unsigned co = j * a.og + m;
        const float b = bias ? bias[co] : 0.0f;
#pragma unroll
        for (int q = 0; q < BN / 16; ++q) {
            const unsigned p = n0 + tx + 16 * q;
            if (p >= a.batch * plane) continue;
            float v = acc[i][q] + b;
            if (a.relu) v = gs_max(v, 0.0f);
            out[((unsigned long long)(p / plane) * a.out_c + co) * plane + p % plane] = v;
        }
    }
}

// What a block works on: its group, the first output channel and pixel of
// its tile, the group's first input channel, its reduction length (input
// channels × taps), and where the group's weights start.
struct GsConvBlock {
    unsigned j, m0, n0, first, row_len;
    unsigned long long weights;
};

template <int BM, int BN>
GS_DEVICE GsConvBlock gs_conv_block(const ConvArgs& a) {
    GsConvBlock b;
    b.j = blockIdx.y / a.channel_tiles;
    b.m0 = (blockIdx.y % a.channel_tiles) * BM;
    b.n0 = blockIdx.x * BN;
    unsigned count;
    gs_group_inputs(a.connectivity, a.cg, b.j, &b.first, &count);
    const unsigned taps = a.kh * a.kw;
    b.row_len = count * taps;
    b.weights = gs_group_weights(a.connectivity, a.og, a.cg, taps, b.j);
    return b;
}

template <int BM, int BN>
GS_DEVICE void gs_zero(float (&acc)[BM / 16][BN / 16]) {
#pragma unroll
    for (int i = 0; i < BM / 16; ++i)
#pragma unroll
        for (int q = 0; q < BN / 16; ++q) acc[i][q] = 0.0f;
}

// f32 arithmetic; W (float or gs_half) is the stored weight type.
template <int BM, int BN, typename W>
GS_DEVICE void gs_conv_f32(const ConvArgs& a) {
    __shared__ float ws[GS_BK][BM + 1];  // +1: the transposing store hits distinct banks
    __shared__ float xs[GS_BK][BN];
    const unsigned t = threadIdx.x, ty = t / 16, tx = t % 16;
    const GsConvBlock b = gs_conv_block<BM, BN>(a);
    const unsigned m0 = b.m0, row_len = b.row_len;
    const W* wg = (const W*)a.weights + b.weights;
    const float* in = (const float*)a.input;
    const GsPixel px = gs_pixel(a, b.n0 + t % BN, b.first);
    float acc[BM / 16][BN / 16];
    gs_zero<BM, BN>(acc);

    for (unsigned k0 = 0; k0 < row_len; k0 += GS_BK) {
        // Consecutive threads read consecutive weights of one row.
        for (unsigned e = t; e < BM * GS_BK; e += GS_CONV_THREADS) {
            const unsigned m = m0 + e / GS_BK, gk = k0 + e % GS_BK;
            ws[e % GS_BK][e / GS_BK] =
                (m < a.og && gk < row_len) ? gs_load(wg, m * row_len + gk) : 0.0f;
        }
        for (unsigned kk = t / BN; kk < GS_BK; kk += GS_CONV_THREADS / BN)
            xs[kk][t % BN] = gs_im2col(a, in, px, k0 + kk, row_len);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GS_BK; ++kk) {
            float wv[BM / 16], xv[BN / 16];
#pragma unroll
            for (int i = 0; i < BM / 16; ++i) wv[i] = ws[kk][ty + 16 * i];
#pragma unroll
            for (int q = 0; q < BN / 16; ++q) xv[q] = xs[kk][tx + 16 * q];
#pragma unroll
            for (int i = 0; i < BM / 16; ++i)
#pragma unroll
                for (int q = 0; q < BN / 16; ++q) acc[i][q] = gs_fma(wv[i], xv[q], acc[i][q]);
        }
        __syncthreads();
    }
    gs_conv_store<BM, BN>(a, b.j, m0, b.n0, acc);
}

// f16 weights and f16 activations multiplied two at a time with
// fma.rn.f16x2 (twice the f32 rate on sm_53). Each half2 accumulator sums
// only the GS_BK/2 pairs of one slice before it is widened into the f32
// accumulator, which bounds the f16 rounding to a slice's worth.
template <int BM, int BN>
GS_DEVICE void gs_conv_half2(const ConvArgs& a) {
    __shared__ gs_half2 ws[GS_BK / 2][BM + 1];
    __shared__ gs_half2 xs[GS_BK / 2][BN];
    const unsigned t = threadIdx.x, ty = t / 16, tx = t % 16;
    const GsConvBlock b = gs_conv_block<BM, BN>(a);
    const unsigned m0 = b.m0, row_len = b.row_len;
    const gs_half* wg = (const gs_half*)a.weights + b.weights;
    const float* in = (const float*)a.input;
    const GsPixel px = gs_pixel(a, b.n0 + t % BN, b.first);
    const gs_half zero = 0;
    float acc[BM / 16][BN / 16];
    gs_zero<BM, BN>(acc);

    for (unsigned k0 = 0; k0 < row_len; k0 += GS_BK) {
        for (unsigned e = t; e < BM * (GS_BK / 2); e += GS_CONV_THREADS) {
            const unsigned m = m0 + e / (GS_BK / 2), gk = k0 + 2 * (e % (GS_BK / 2));
            const bool row = m < a.og;
            const gs_half lo = (row && gk < row_len) ? wg[m * row_len + gk] : zero;
            const gs_half hi = (row && gk + 1 < row_len) ? wg[m * row_len + gk + 1] : zero;
            ws[e % (GS_BK / 2)][e / (GS_BK / 2)] = gs_pack_half2(lo, hi);
        }
        for (unsigned kp = t / BN; kp < GS_BK / 2; kp += GS_CONV_THREADS / BN) {
            const unsigned gk = k0 + 2 * kp;
            xs[kp][t % BN] = gs_pack_half2(gs_float_to_half(gs_im2col(a, in, px, gk, row_len)),
                                           gs_float_to_half(gs_im2col(a, in, px, gk + 1, row_len)));
        }
        __syncthreads();
        gs_half2 part[BM / 16][BN / 16];
#pragma unroll
        for (int i = 0; i < BM / 16; ++i)
#pragma unroll
            for (int q = 0; q < BN / 16; ++q) part[i][q] = 0u;
#pragma unroll
        for (int kp = 0; kp < GS_BK / 2; ++kp) {
            gs_half2 wv[BM / 16], xv[BN / 16];
#pragma unroll
            for (int i = 0; i < BM / 16; ++i) wv[i] = ws[kp][ty + 16 * i];
#pragma unroll
            for (int q = 0; q < BN / 16; ++q) xv[q] = xs[kp][tx + 16 * q];
#pragma unroll
            for (int i = 0; i < BM / 16; ++i)
#pragma unroll
                for (int q = 0; q < BN / 16; ++q) part[i][q] = gs_hfma2(wv[i], xv[q], part[i][q]);
        }
#pragma unroll
        for (int i = 0; i < BM / 16; ++i)
#pragma unroll
            for (int q = 0; q < BN / 16; ++q) acc[i][q] += gs_half2_sum(part[i][q]);
        __syncthreads();
    }
    gs_conv_store<BM, BN>(a, b.j, m0, b.n0, acc);
}

// Entry points, one per (arithmetic, tile): 64×64 tiles for wide layers,
// 32×32 where 64-wide tiles would leave the multiprocessors idle.
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_f32w_64(const ConvArgs a) {
    gs_conv_f32<64, 64, float>(a);
}
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_f32w_32(const ConvArgs a) {
    gs_conv_f32<32, 32, float>(a);
}
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_f16w_64(const ConvArgs a) {
    gs_conv_f32<64, 64, gs_half>(a);
}
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_f16w_32(const ConvArgs a) {
    gs_conv_f32<32, 32, gs_half>(a);
}
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_h2_64(const ConvArgs a) {
    gs_conv_half2<64, 64>(a);
}
extern "C" __global__ void __launch_bounds__(GS_CONV_THREADS) conv_h2_32(const ConvArgs a) {
    gs_conv_half2<32, 32>(a);
}
