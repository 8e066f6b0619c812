#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, for a machine with CUDA and PyTorch but
# no Rust toolchain. First, on a machine with Rust, from the repository root:
#     bash scripts/cuda/gpu-bundle.sh          # builds .gpu/
# then on the GPU machine, from the repository root, with .gpu carried there:
#     bash scripts/cuda/gpu-checks.sh [STEP...]
# Steps: correctness (tests, selftest, eval), sanitizer (compute-sanitizer on
# the selftest), speed (cuDNN side by side, criterion). Default: all three.
# Logs and results go to $OUT (else results/gpu); summary.txt has each
# command with its exit status and seconds. One step per device call keeps
# each call well inside its 10 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."

out=${OUT:-results/gpu}
mkdir -p "$out"
if [ ! -f .gpu/bin.tar.xz ]; then
    echo "error: .gpu/bin.tar.xz is missing: run scripts/cuda/gpu-bundle.sh and carry .gpu" >&2
    exit 2
fi
unpacked=/tmp/groupscale-gpu
rm -rf "$unpacked" && mkdir -p "$unpacked" && xz -dc .gpu/bin.tar.xz | tar -C "$unpacked" -xf -
bin=$unpacked/bin
steps=${*:-correctness sanitizer speed}
summary=$out/summary.txt
: > "$summary"
failed=0

# One command, its output in $out/NAME.log, its status and time in summary.txt.
check() {
    local name=$1; shift
    local start=$SECONDS rc
    echo "== $name: $*"
    "$@" > "$out/$name.log" 2>&1
    rc=$?
    printf '%-28s exit %-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - start))" "$*" | tee -a "$summary"
    [ "$rc" = 0 ] || failed=1
    tail -n 15 "$out/$name.log"
}

# The crate looks for NVRTC itself (src/backend/cuda/nvrtc.rs). If that
# fails here, name the newest libnvrtc found, so the other checks still run;
# device.txt records it.
nvrtc_note="found by the crate"
if "$bin/groupscale" info 2>&1 | grep -q "NVRTC failed"; then
    GROUPSCALE_NVRTC=$(find /usr/local/cuda*/ /usr/lib/x86_64-linux-gnu \
        "$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)/nvidia" \
        -name 'libnvrtc.so.[0-9]*' 2>/dev/null | sort -V | tail -n 1)
    export GROUPSCALE_NVRTC
    nvrtc_note="NOT found by the crate; GROUPSCALE_NVRTC=${GROUPSCALE_NVRTC:-(none found either)}"
fi

# Mesa and wgpu complain on every start without a private runtime directory.
export XDG_RUNTIME_DIR=/tmp/groupscale-xdg
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# Test executables look for models and the CLI binary under the directory
# they were built in; link it to this checkout.
built_in=$(cat .gpu/manifest-dir)
if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
    mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
fi
mkdir -p target/release && cp "$bin/groupscale" target/release/groupscale

{
    echo "commit $(cat .gpu/commit), $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,compute_cap,clocks.max.sm --format=csv,noheader
    echo "nvrtc: $nvrtc_note"
    "$bin/groupscale" info 2>&1 | grep -E '^  cuda'
} | tee "$out/device.txt"

for step in $steps; do
    case $step in
    correctness)
        check info "$bin/groupscale" info
        for test in "$bin"/test-*; do
            check "${test##*/}" "$test"
        done
        check selftest-cuda "$bin/groupscale" selftest --backend cuda
        check selftest-cuda-half2 env GROUPSCALE_CUDA_HALF2=1 "$bin/groupscale" selftest --backend cuda
        check eval-cuda "$bin/groupscale" eval --backend cuda
        ;;
    sanitizer)
        # The named cases and a few random ones: racecheck slows each launch
        # by orders of magnitude, and one device call may run 10 minutes.
        for tool in memcheck racecheck synccheck initcheck; do
            check "sanitizer-$tool" timeout 140 compute-sanitizer --tool "$tool" --error-exitcode 1 \
                "$bin/groupscale" selftest --backend cuda --random 8
        done
        ;;
    speed)
        check compare-cudnn env PYTHONUNBUFFERED=1 python3 scripts/cuda/compare_cudnn.py \
            --binary "$bin/groupscale" --json "$out/compare_cudnn.json"
        check criterion-cuda "$bin"/bench-cuda_layers --bench --warm-up-time 1 --measurement-time 2
        ;;
    *)
        echo "error: unknown step '$step' (correctness, sanitizer, speed)" >&2
        exit 2
        ;;
    esac
done

echo
cat "$summary"
exit "$failed"
