// Max-pooling, one thread per output element. The host sizes the grid by
// the active channels, so pooling inactive groups' planes costs nothing.
#include "groupscale.cuh"

extern "C" __global__ void __launch_bounds__(256) max_pool(const PoolArgs a) {
    const float* in = (const float*)a.input;
    float* out = (float*)a.output;
    const unsigned plane = a.out_h * a.out_w;
    const unsigned total = a.planes * plane;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += gridDim.x * blockDim.x) {
        const unsigned p = i / plane, oy = i % plane / a.out_w, ox = i % a.out_w;
        const float* x = in + (unsigned long long)p * a.in_h * a.in_w;
        float best = gs_neg_inf();
        for (unsigned ky = 0; ky < a.kh; ++ky) {
            const int iy = (int)(oy * a.sh + ky) - (int)a.ph;
            if (iy < 0 || iy >= (int)a.in_h) continue;
            for (unsigned kx = 0; kx < a.kw; ++kx) {
                const int ix = (int)(ox * a.sw + kx) - (int)a.pw;
                if (ix < 0 || ix >= (int)a.in_w) continue;
                best = gs_max(best, x[iy * a.in_w + ix]);
            }
        }
        out[i] = best;
    }
}
