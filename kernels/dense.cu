// Grouped linear layers and the classifier head. Each 32-thread slice of a
// 256-thread block computes one (batch item, output) dot product: lanes read
// consecutive weights, then a shared-memory tree sums the slice. The grid
// covers batch · out_len pairs, and out_len is k · og (linear) or the
// classes over a k-group reduction (head), so both shrink with k.
#include "groupscale.cuh"

#define GS_DENSE_THREADS 256
#define GS_DENSE_ROWS (GS_DENSE_THREADS / 32)

template <typename W>
GS_DEVICE void gs_dense(const DenseArgs& a) {
    __shared__ float partial[GS_DENSE_THREADS];
    const unsigned t = threadIdx.x, lane = t % 32;
    const unsigned pair = blockIdx.x * GS_DENSE_ROWS + t / 32;
    const bool valid = pair < a.batch * a.out_len;
    const unsigned n = valid ? pair / a.out_len : 0, o = valid ? pair % a.out_len : 0;
    const float* x = (const float*)a.input + (unsigned long long)n * a.in_len;
    const W* w = (const W*)a.weights;
    float sum = 0.0f;
    if (valid && a.head) {
        // logit o = b_{k-1}[o] + sum_j W_j[o] · h_j, W stored [G, classes, og].
        for (unsigned e = lane; e < a.k * a.og; e += 32) {
            const unsigned j = e / a.og, f = e % a.og;
            sum = gs_fma(gs_load(w, (j * a.classes + o) * a.og + f), x[e], sum);
        }
    } else if (valid) {
        const unsigned j = o / a.og;
        unsigned first, count;
        gs_group_inputs(a.connectivity, a.cg, j, &first, &count);
        const W* row = w + gs_group_weights(a.connectivity, a.og, a.cg, 1, j) +
                       (unsigned long long)(o % a.og) * count;
        for (unsigned e = lane; e < count; e += 32)
            sum = gs_fma(gs_load(row, e), x[first + e], sum);
    }
    // Every thread reaches the barriers: none returns early.
    partial[t] = sum;
    __syncthreads();
    for (unsigned s = 16; s > 0; s >>= 1) {
        if (lane < s) partial[t] += partial[t + s];
        __syncthreads();
    }
    if (!valid || lane != 0) return;
    const float* bias = (const float*)a.bias;
    float v = partial[t];
    if (a.head) v += bias[(a.k - 1) * a.classes + o];
    else if (bias) v += bias[o];
    if (a.relu) v = gs_max(v, 0.0f);
    ((float*)a.output)[(unsigned long long)n * a.out_len + o] = v;
}

extern "C" __global__ void __launch_bounds__(GS_DENSE_THREADS) dense_f32w(const DenseArgs a) {
    gs_dense<float>(a);
}
extern "C" __global__ void __launch_bounds__(GS_DENSE_THREADS) dense_f16w(const DenseArgs a) {
    gs_dense<gs_half>(a);
}
