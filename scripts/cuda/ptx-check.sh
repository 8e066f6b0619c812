#!/usr/bin/env bash
# Every CUDA kernel compiles for the Jetson Nano (sm_53) at PTX ISA 6.5, the
# newest its CUDA 10.2 driver accepts, and ptxas accepts the result for
# sm_53. Needs no GPU and no CUDA toolkit: clang-14 emits the PTX, and ptxas
# comes from NVIDIA's PyPI wheel (scripts/cuda/tools.sh installs both when
# missing). Prints each kernel's registers and spills.
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/cuda/tools.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for source in kernels/*.cu; do
    name=$(basename "$source" .cu)
    ptx="$work/$name.ptx"
    "$CLANG" -x cuda --cuda-device-only --cuda-gpu-arch=sm_53 -nocudainc -nocudalib \
        -Xclang -target-feature -Xclang +ptx65 -O3 -Wall -Werror \
        -include scripts/cuda/clang_shim.h -Ikernels -S -o "$ptx" "$source"
    if ! grep -qx '.version 6.5' "$ptx" || ! grep -qx '.target sm_53' "$ptx"; then
        echo "$source: expected PTX ISA 6.5 for sm_53, got: $(grep -E '^\.(version|target)' "$ptx" | tr '\n' ' ')"
        status=1
        continue
    fi
    if ! "$PTXAS" -arch=sm_53 -v "$ptx" -o "$work/$name.cubin" 2>"$work/$name.log"; then
        cat "$work/$name.log"
        echo "$source: ptxas -arch=sm_53 rejected the PTX"
        status=1
        continue
    fi
    # One line per kernel: name, registers, spills, shared memory.
    awk -v file="$source" '
        /Compiling entry function/ { gsub(/\x27/, "", $0); match($0, /function [^ ]+/); fn = substr($0, RSTART + 9, RLENGTH - 9) }
        /spill stores/ { spill = $0; sub(/.*frame, /, "", spill) }
        /Used [0-9]+ registers/ { reg = $0; sub(/.*Used /, "", reg); printf "  %-14s %-12s %s; %s\n", file, fn, reg, spill }
    ' "$work/$name.log"
done
[ "$status" = 0 ] && echo "every kernel: PTX ISA 6.5, accepted by ptxas -arch=sm_53 ($("$PTXAS" --version | grep -o 'release [0-9.]*'))"
exit "$status"
