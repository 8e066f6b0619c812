# Sourced by scripts/test.sh and scripts/cuda/ptx-check.sh: the CUDA tools
# the GPU-less checks need, installed when missing. Sets CLANG (CUDA to PTX
# 6.5), PTXAS (from the nvidia-cuda-nvcc wheel: CUDA 12.x still targets
# sm_53, 13 does not) and NVRTC (libnvrtc from its wheel).
if ! command -v clang-14 >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14 >/dev/null
fi
CLANG=clang-14
cuda_tools="${XDG_CACHE_HOME:-$HOME/.cache}/groupscale/cuda-tools-venv"
find_cuda_tools() {
    PTXAS=$(find "$cuda_tools" -path '*cuda_nvcc/bin/ptxas' -type f 2>/dev/null | head -n1 || true)
    NVRTC=$(find "$cuda_tools" -path '*cuda_nvrtc/lib/libnvrtc.so.*' -name 'libnvrtc.so.[0-9]*' 2>/dev/null | head -n1 || true)
}
find_cuda_tools
if [ -z "$PTXAS" ] || [ -z "$NVRTC" ]; then
    [ -x "$cuda_tools/bin/pip" ] || python3 -m venv "$cuda_tools"
    "$cuda_tools/bin/pip" install -q 'nvidia-cuda-nvcc-cu12>=12,<13' 'nvidia-cuda-nvrtc-cu12>=12,<13'
    find_cuda_tools
fi
