// Row-wise softmax, one thread per row: the rows are a batch of logits,
// short and few.
#include "groupscale.cuh"

extern "C" __global__ void __launch_bounds__(256) softmax(const SoftmaxArgs a) {
    const unsigned r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= a.rows) return;
    const float* x = (const float*)a.input + (unsigned long long)r * a.cols;
    float* y = (float*)a.output + (unsigned long long)r * a.cols;
    float max = gs_neg_inf();
    for (unsigned c = 0; c < a.cols; ++c) max = gs_max(max, x[c]);
    float sum = 0.0f;
    for (unsigned c = 0; c < a.cols; ++c) {
        y[c] = gs_exp_nonpositive(x[c] - max);
        sum += y[c];
    }
    for (unsigned c = 0; c < a.cols; ++c) y[c] /= sum;
}
