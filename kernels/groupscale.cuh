// Shared by every kernel: the launch-argument structs (mirrored field for
// field by src/backend/cuda/args.rs and passed by value), the f16 helpers,
// and the host shim that lets the same sources run in the CPU emulator.
//
// Kept to PTX ISA 6.5 / CUDA 10.2 features so that the Jetson Nano's driver
// accepts the PTX: no cuda_fp16.h (NVRTC and clang do not ship it), the f16
// arithmetic is written as inline PTX (sm_53 instructions).
#pragma once

#ifdef GS_EMULATE
#include "emulator/shim.hpp"
#else
#define GS_DEVICE __device__ __forceinline__
#endif

typedef unsigned short gs_half;   // IEEE binary16, stored
typedef unsigned int gs_half2;    // two binary16, low half first

// Pointers travel as 64-bit integers so the Rust side can mirror the
// structs without pointer types; the kernels cast them once.
typedef unsigned long long gs_ptr;

enum GsConnectivity { GS_ISOLATED = 0, GS_CUMULATIVE = 1, GS_FULL = 2 };

struct ConvArgs {
    gs_ptr input;    // [n, in_c, in_h, in_w], in_c = active input channels
    gs_ptr weights;  // f32 or f16, the crate's grouped layout
    gs_ptr bias;     // f32 [out_c_total], or 0
    gs_ptr output;   // [n, out_c, out_h, out_w], out_c = k * og
    unsigned batch, in_c, in_h, in_w;
    unsigned out_c, out_h, out_w;
    unsigned og;            // output channels per group
    unsigned cg;            // input channels per group (all inputs under full)
    unsigned connectivity;  // GsConnectivity
    unsigned kh, kw, sh, sw, ph, pw, dh, dw;
    unsigned relu;
    unsigned channel_tiles; // ceil(og / BM): blockIdx.y = group * channel_tiles + tile
};

struct PoolArgs {
    gs_ptr input;
    gs_ptr output;
    unsigned planes, in_h, in_w, out_h, out_w;
    unsigned kh, kw, sh, sw, ph, pw;
    unsigned _pad;
};

// Linear layers and the classifier head: one dot product per
// (batch item, output), reduced by a block-wide tree.
struct DenseArgs {
    gs_ptr input;
    gs_ptr weights;
    gs_ptr bias;     // 0 when the layer has none
    gs_ptr output;
    unsigned batch;
    unsigned in_len;    // active input features per item
    unsigned out_len;   // active outputs per item (k * og, or classes)
    unsigned og;        // outputs per group (linear) / features per group (head)
    unsigned cg;        // inputs per group (linear)
    unsigned connectivity;
    unsigned relu;
    unsigned head;      // 1: classifier head, out = b_{k-1} + sum_j W_j h_j
    unsigned k;
    unsigned classes;
};

struct SoftmaxArgs {
    gs_ptr input;
    gs_ptr output;
    unsigned rows, cols;
};

#ifdef __cplusplus
static_assert(sizeof(ConvArgs) == 112, "ConvArgs layout: keep args.rs in step");
static_assert(sizeof(PoolArgs) == 64, "PoolArgs layout: keep args.rs in step");
static_assert(sizeof(DenseArgs) == 72, "DenseArgs layout: keep args.rs in step");
static_assert(sizeof(SoftmaxArgs) == 24, "SoftmaxArgs layout: keep args.rs in step");
#endif

// Every member's offset, so that two swapped members fail the build, not
// only a changed size. Checked by the emulator's host compiler (the layout
// of these plain structs is the same on host and device); args.rs holds the
// same numbers, and its unit test reads this list.
#if defined(__cplusplus) && defined(GS_EMULATE)
#define GS_AT(S, m, offset) static_assert(__builtin_offsetof(S, m) == offset, #S "." #m ": keep args.rs in step")
GS_AT(ConvArgs, input, 0); GS_AT(ConvArgs, weights, 8); GS_AT(ConvArgs, bias, 16);
GS_AT(ConvArgs, output, 24); GS_AT(ConvArgs, batch, 32); GS_AT(ConvArgs, in_c, 36);
GS_AT(ConvArgs, in_h, 40); GS_AT(ConvArgs, in_w, 44); GS_AT(ConvArgs, out_c, 48);
GS_AT(ConvArgs, out_h, 52); GS_AT(ConvArgs, out_w, 56); GS_AT(ConvArgs, og, 60);
GS_AT(ConvArgs, cg, 64); GS_AT(ConvArgs, connectivity, 68); GS_AT(ConvArgs, kh, 72);
GS_AT(ConvArgs, kw, 76); GS_AT(ConvArgs, sh, 80); GS_AT(ConvArgs, sw, 84);
GS_AT(ConvArgs, ph, 88); GS_AT(ConvArgs, pw, 92); GS_AT(ConvArgs, dh, 96);
GS_AT(ConvArgs, dw, 100); GS_AT(ConvArgs, relu, 104); GS_AT(ConvArgs, channel_tiles, 108);
GS_AT(PoolArgs, input, 0); GS_AT(PoolArgs, output, 8); GS_AT(PoolArgs, planes, 16);
GS_AT(PoolArgs, in_h, 20); GS_AT(PoolArgs, in_w, 24); GS_AT(PoolArgs, out_h, 28);
GS_AT(PoolArgs, out_w, 32); GS_AT(PoolArgs, kh, 36); GS_AT(PoolArgs, kw, 40);
GS_AT(PoolArgs, sh, 44); GS_AT(PoolArgs, sw, 48); GS_AT(PoolArgs, ph, 52);
GS_AT(PoolArgs, pw, 56); GS_AT(PoolArgs, _pad, 60);
GS_AT(DenseArgs, input, 0); GS_AT(DenseArgs, weights, 8); GS_AT(DenseArgs, bias, 16);
GS_AT(DenseArgs, output, 24); GS_AT(DenseArgs, batch, 32); GS_AT(DenseArgs, in_len, 36);
GS_AT(DenseArgs, out_len, 40); GS_AT(DenseArgs, og, 44); GS_AT(DenseArgs, cg, 48);
GS_AT(DenseArgs, connectivity, 52); GS_AT(DenseArgs, relu, 56); GS_AT(DenseArgs, head, 60);
GS_AT(DenseArgs, k, 64); GS_AT(DenseArgs, classes, 68);
GS_AT(SoftmaxArgs, input, 0); GS_AT(SoftmaxArgs, output, 8); GS_AT(SoftmaxArgs, rows, 16);
GS_AT(SoftmaxArgs, cols, 20);
#undef GS_AT
#endif

#ifndef GS_EMULATE
// f16 <-> f32 and packed f16 arithmetic as PTX: cvt.f32.f16 needs sm_20 and
// fma.rn.f16x2 sm_53, PTX ISA 4.2; both are in the Nano's 6.5.
GS_DEVICE float gs_half_to_float(gs_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

GS_DEVICE gs_half gs_float_to_half(float f) {
    gs_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

GS_DEVICE gs_half2 gs_pack_half2(gs_half lo, gs_half hi) {
    gs_half2 r;
    asm("mov.b32 %0, {%1, %2};" : "=r"(r) : "h"(lo), "h"(hi));
    return r;
}

GS_DEVICE gs_half2 gs_hfma2(gs_half2 a, gs_half2 b, gs_half2 c) {
    gs_half2 d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// The sum of both lanes, in f32.
GS_DEVICE float gs_half2_sum(gs_half2 v) {
    gs_half lo, hi;
    asm("mov.b32 {%0, %1}, %2;" : "=h"(lo), "=h"(hi) : "r"(v));
    return gs_half_to_float(lo) + gs_half_to_float(hi);
}

GS_DEVICE float gs_fma(float a, float b, float c) {
    float d;
    asm("fma.rn.f32 %0, %1, %2, %3;" : "=f"(d) : "f"(a), "f"(b), "f"(c));
    return d;
}

// PTX max returns the other operand when one is NaN, as the oracle's
// f32::max does.
GS_DEVICE float gs_max(float a, float b) {
    float d;
    asm("max.f32 %0, %1, %2;" : "=f"(d) : "f"(a), "f"(b));
    return d;
}

GS_DEVICE float gs_bits_to_float(unsigned u) {
    float f;
    asm("mov.b32 %0, %1;" : "=f"(f) : "r"(u));
    return f;
}

GS_DEVICE float gs_exp2_approx(float x) {
    float y;
    asm("ex2.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

GS_DEVICE float gs_round(float x) {
    float y;
    asm("cvt.rni.f32.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#endif

GS_DEVICE float gs_neg_inf() { return gs_bits_to_float(0xff800000u); }

// e^x for x <= 0 without libdevice: x·log2(e) split into an integer i and a
// fraction f in [-1/2, 1/2], with the product's rounding error recovered by
// a second FMA, then 2^f (ex2.approx) scaled by 2^i through the
// exponent bits.
GS_DEVICE float gs_exp_nonpositive(float x) {
    const float log2e_hi = 1.44269502162933349609375f;  // float(log2 e)
    const float log2e_lo = 1.925963033500011079e-8f;    // log2 e - log2e_hi
    float t = x * log2e_hi;
    float i = gs_round(t);
    float f = gs_fma(x, log2e_hi, -i);
    f = gs_fma(x, log2e_lo, f);
    if (i < -126.0f) return 0.0f;
    return gs_exp2_approx(f) * gs_bits_to_float((unsigned)((int)i + 127) << 23);
}

// Weights are f32 or f16; the kernels are templated on the stored type and
// widen at load.
GS_DEVICE float gs_load(const float* p, unsigned i) { return p[i]; }
GS_DEVICE float gs_load(const gs_half* p, unsigned i) { return gs_half_to_float(p[i]); }
GS_DEVICE gs_half gs_load_half(const gs_half* p, unsigned i) { return p[i]; }

// The input channels output group `j` reads: [*first, *first + *count).
GS_DEVICE void gs_group_inputs(unsigned connectivity, unsigned cg, unsigned j,
                               unsigned* first, unsigned* count) {
    if (connectivity == GS_ISOLATED) {
        *first = j * cg;
        *count = cg;
    } else if (connectivity == GS_CUMULATIVE) {
        *first = 0;
        *count = (j + 1) * cg;
    } else {
        *first = 0;
        *count = cg;
    }
}

// Where group `j`'s weights start: rows of og outputs, each `row_len` long.
GS_DEVICE unsigned long long gs_group_weights(unsigned connectivity, unsigned og, unsigned cg,
                                              unsigned taps, unsigned j) {
    unsigned long long block = (unsigned long long)og * cg * taps;
    if (connectivity == GS_CUMULATIVE) return block * (j * (j + 1) / 2);
    return block * j;
}
