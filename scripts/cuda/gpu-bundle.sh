#!/usr/bin/env bash
# Builds, on this x86-64 machine, everything scripts/cuda/gpu-checks.sh runs
# on a GPU machine that has CUDA and PyTorch but no Rust toolchain: the
# release binary, the integration-test executables and the CUDA criterion
# bench, stripped, in .gpu/ (ignored by git). Carry .gpu to that machine
# and run `bash scripts/cuda/gpu-checks.sh` from the repository root there.
set -euo pipefail
cd "$(dirname "$0")/../.."

bundle=.gpu
rm -rf "$bundle" && mkdir -p "$bundle/bin"

# The GPU machine's nvcc (CUDA 13) cannot make compute_53 PTX, so nothing is
# prebuilt here either: the kernels are compiled there by NVRTC, for the GPU
# found, from the source embedded in every executable.
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_BENCH_DEBUG=false

executables() { # cargo's JSON messages -> "name path" of each test or bench built
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m["target"]["kind"] in (["test"], ["bench"]):
        print(m["target"]["name"], m["executable"])'
}

# The integration tests that run on whatever backends the machine offers;
# the rest ran in CI and do not change with a GPU.
gpu_tests="backends_match_oracle errors_not_panics expected_backends_ran model_fixture
    switching_k_allocates_nothing cli"

cargo build --release --quiet
cp target/release/groupscale "$bundle/bin/"
cargo test --release --no-run $(printf -- ' --test %s' $gpu_tests) --message-format=json 2>/dev/null |
    executables | while read -r name path; do cp "$path" "$bundle/bin/test-$name"; done
cargo bench --no-run --bench cuda_layers --message-format=json 2>/dev/null | executables |
    while read -r name path; do cp "$path" "$bundle/bin/bench-$name"; done
strip "$bundle"/bin/*

# The device tool carries at most 64 MiB, and the executables are about twice
# that; xz brings them under.
tar -C "$bundle" -cf - bin | xz -T0 -6 > "$bundle/bin.tar.xz"
rm -r "$bundle/bin"
# Test executables keep the manifest directory they were built in (models,
# the CLI binary); gpu-checks.sh links it to the checkout there.
echo "$PWD" > "$bundle/manifest-dir"
git rev-parse HEAD > "$bundle/commit"
ls -l "$bundle"
