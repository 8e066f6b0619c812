// A CPU emulator for the CUDA kernels: the same sources, compiled as C++,
// launched block by block with each thread a fiber. It exists so the
// kernels' index arithmetic, tiling and barriers are checked against the
// oracle on machines without a GPU (CI); it says nothing about speed.
//
// A barrier that not every thread of a block reaches is reported as an
// error, as it would hang or corrupt a real launch.
#define GS_EMULATE 1
#include "../groupscale.cuh"

#include "../conv.cu"
#include "../dense.cu"
#include "../pool.cu"
#include "../softmax.cu"

#include <ucontext.h>

#include <cstdio>
#include <vector>

thread_local gs_dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

struct Fiber {
    ucontext_t context;
    bool done;
    bool waiting;
};

struct Scheduler {
    ucontext_t main;
    std::vector<Fiber> fibers;
    std::vector<char> stacks;
    unsigned current = 0;
    void (*entry)(const void*) = nullptr;
    const void* args = nullptr;
};

thread_local Scheduler scheduler;
constexpr size_t kStack = 64 * 1024;

void fiber_main() {
    scheduler.entry(scheduler.args);
    scheduler.fibers[scheduler.current].done = true;
    // Returning resumes uc_link: the scheduler.
}

void set_thread(unsigned i) {
    threadIdx.x = i % blockDim.x;
    threadIdx.y = i / blockDim.x % blockDim.y;
    threadIdx.z = i / (blockDim.x * blockDim.y);
}

// Runs one block to completion; false when a barrier was left unmatched.
bool run_block(unsigned threads) {
    Scheduler& s = scheduler;
    for (unsigned i = 0; i < threads; ++i) {
        Fiber& f = s.fibers[i];
        f.done = f.waiting = false;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = s.stacks.data() + i * kStack;
        f.context.uc_stack.ss_size = kStack;
        f.context.uc_link = &s.main;
        makecontext(&f.context, fiber_main, 0);
    }
    for (;;) {
        unsigned done = 0, waiting = 0;
        for (unsigned i = 0; i < threads; ++i) {
            Fiber& f = s.fibers[i];
            if (f.done) {
                ++done;
                continue;
            }
            s.current = i;
            set_thread(i);
            f.waiting = false;
            swapcontext(&s.main, &f.context);
            if (f.done) ++done;
            else if (f.waiting) ++waiting;
        }
        if (done == threads) return true;
        if (done != 0) return false;  // some exited while others wait at a barrier
    }
}

struct KernelEntry {
    const char* name;
    void (*entry)(const void*);
};

#define GS_ENTRY(name, Args) {#name, [](const void* a) { name(*(const Args*)a); }}
const KernelEntry kKernels[] = {
    GS_ENTRY(conv_f32w_64, ConvArgs), GS_ENTRY(conv_f32w_32, ConvArgs),
    GS_ENTRY(conv_f16w_64, ConvArgs), GS_ENTRY(conv_f16w_32, ConvArgs),
    GS_ENTRY(conv_h2_64, ConvArgs),   GS_ENTRY(conv_h2_32, ConvArgs),
    GS_ENTRY(max_pool, PoolArgs),     GS_ENTRY(dense_f32w, DenseArgs),
    GS_ENTRY(dense_f16w, DenseArgs),  GS_ENTRY(softmax, SoftmaxArgs),
};

}  // namespace

void gs_emu_syncthreads() {
    Scheduler& s = scheduler;
    Fiber& f = s.fibers[s.current];
    f.waiting = true;
    swapcontext(&f.context, &s.main);
}

// Launches `name` over grid × block with one by-value argument struct.
// Returns 0, or -1 with a message in `error`.
extern "C" int gs_emu_launch(const char* name, const unsigned* grid, const unsigned* block,
                             const void* args, char* error, size_t error_len) {
    const KernelEntry* kernel = nullptr;
    for (const KernelEntry& k : kKernels)
        if (std::strcmp(k.name, name) == 0) kernel = &k;
    if (!kernel) {
        std::snprintf(error, error_len, "no kernel named %s", name);
        return -1;
    }
    const unsigned threads = block[0] * block[1] * block[2];
    if (threads == 0 || threads > 1024) {
        std::snprintf(error, error_len, "%s: %u threads per block", name, threads);
        return -1;
    }
    Scheduler& s = scheduler;
    if (s.fibers.size() < threads) {
        s.fibers.resize(threads);
        s.stacks.resize(threads * kStack);
    }
    s.entry = kernel->entry;
    s.args = args;
    blockDim = {block[0], block[1], block[2]};
    gridDim = {grid[0], grid[1], grid[2]};
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; ++x) {
                blockIdx = {x, y, z};
                if (!run_block(threads)) {
                    std::snprintf(error, error_len,
                                  "%s: block (%u,%u,%u) left a __syncthreads unmatched", name, x,
                                  y, z);
                    return -1;
                }
            }
    return 0;
}
