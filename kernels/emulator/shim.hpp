// Host shim: compiles the CUDA sources as C++ for the CPU emulator
// (emulator.cpp). Each block's threads run as fibers on one OS thread;
// __syncthreads switches to the next fiber. Shared memory becomes
// thread-local statics, so test threads emulating at once do not share it.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static thread_local
#define GS_DEVICE static inline

struct gs_dim3 {
    unsigned x, y, z;
};
extern thread_local gs_dim3 threadIdx, blockIdx, blockDim, gridDim;

void gs_emu_syncthreads();
#define __syncthreads() gs_emu_syncthreads()

typedef unsigned short gs_half;
typedef unsigned int gs_half2;

// Rounds an exact value to the nearest binary16, ties to even: one
// rounding, as the hardware's cvt.rn and fma.rn.f16x2 do.
static inline gs_half gs_round_half(double v) {
    if (std::isnan(v)) return 0x7e00;
    const gs_half sign = std::signbit(v) ? 0x8000 : 0;
    const double a = std::fabs(v);
    if (a >= 65520.0) return sign | 0x7c00;
    if (a < 6.103515625e-05) return sign | (gs_half)std::nearbyint(a * 16777216.0);
    int e;
    const double m = std::frexp(a, &e);  // a = m · 2^e, m in [1/2, 1)
    double q = std::nearbyint(m * 2048.0);
    if (q == 2048.0) {
        q = 1024.0;
        e += 1;
    }
    const int field = e - 1 + 15;
    if (field >= 31) return sign | 0x7c00;
    return sign | (gs_half)(field << 10) | (gs_half)((unsigned)q - 1024);
}

static inline float gs_half_to_float(gs_half h) {
    const unsigned exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = std::ldexp((float)mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = std::ldexp((float)(mant | 0x400), (int)exp - 25);
    return (h & 0x8000) ? -v : v;
}

static inline gs_half gs_float_to_half(float f) { return gs_round_half(f); }

static inline gs_half2 gs_pack_half2(gs_half lo, gs_half hi) {
    return (gs_half2)lo | ((gs_half2)hi << 16);
}

static inline gs_half2 gs_hfma2(gs_half2 a, gs_half2 b, gs_half2 c) {
    gs_half2 d = 0;
    for (int lane = 0; lane < 2; ++lane) {
        const int s = 16 * lane;
        // The product of two halves and the sum are exact in double.
        const double v = (double)gs_half_to_float((gs_half)(a >> s)) *
                             gs_half_to_float((gs_half)(b >> s)) +
                         gs_half_to_float((gs_half)(c >> s));
        d |= (gs_half2)gs_round_half(v) << s;
    }
    return d;
}

static inline float gs_half2_sum(gs_half2 v) {
    return gs_half_to_float((gs_half)v) + gs_half_to_float((gs_half)(v >> 16));
}

static inline float gs_fma(float a, float b, float c) { return std::fma(a, b, c); }
static inline float gs_max(float a, float b) { return std::fmax(a, b); }
static inline float gs_bits_to_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static inline float gs_exp2_approx(float x) { return std::exp2(x); }
static inline float gs_round(float x) { return std::nearbyint(x); }
