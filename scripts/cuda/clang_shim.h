// What the CUDA headers would define, for compiling kernels/*.cu with clang
// and no CUDA toolkit (-nocudainc -nocudalib). The kernels use no libdevice
// function and no CUDA header, so this is all they need.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __shared__ __attribute__((shared))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <__clang_cuda_builtin_vars.h>
#define __syncthreads() __nvvm_bar_sync(0)
