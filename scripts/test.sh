#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints (clippy
# --all-targets checks the benches and examples too) and every test that can
# run on this machine. It installs what it needs when missing, so it works on
# a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints the seconds spent so far: CI must stay under 40 minutes.
step() { printf '\n== [%d s] %s\n' "$SECONDS" "$*"; }

# Disk, not time, is what a clean CI build runs short of: the suite builds
# for three targets with several feature sets, and full debug info plus
# incremental caches took the target directory to 11 GB, and a CI run failed
# on a full disk. Without them a clean run writes 5.3-5.6 GB. It gains nothing
# from incremental caches, and test failures need only line numbers.
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
export CARGO_PROFILE_TEST_DEBUG=line-tables-only
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_BENCH_DEBUG=false
free_gb() { df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }'; }
if [ "$(free_gb)" -lt 6 ]; then
    echo "warning: $(free_gb) GB free here; a clean run of this suite writes about 6 GB" >&2
fi
trap 'rc=$?; [ "$rc" = 0 ] || echo "scripts/test.sh failed (exit $rc), $(free_gb) GB free" >&2' EXIT

step "toolchain components, cross linkers, qemu"
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        rustup component add "$component"
    fi
done
arm_targets="aarch64-unknown-linux-gnu thumbv7neon-unknown-linux-gnueabihf"
for target in $arm_targets; do
    if ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
done
missing=""
for tool in aarch64-linux-gnu-gcc arm-linux-gnueabihf-gcc qemu-aarch64 qemu-arm; do
    command -v "$tool" >/dev/null || missing=yes
done
[ -d /usr/aarch64-linux-gnu/lib ] && [ -d /usr/arm-linux-gnueabihf/lib ] || missing=yes
if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user >/dev/null
fi

# Mesa's software Vulkan driver (lavapipe): the wgpu backend's adapter here.
# tests/expected_backends_ran.rs then requires the wgpu backend to run.
if ! ls /usr/share/vulkan/icd.d/lvp_icd* >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
# Mesa warns on every start without a private runtime directory.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/groupscale-xdg-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

# tests/expected_backends_ran.rs reads /proc/cpuinfo for what must run here.
unset GROUPSCALE_BACKEND GROUPSCALE_STRICT GROUPSCALE_CPU_ISA GROUPSCALE_THREADS GROUPSCALE_CORES GROUPSCALE_EXPECT_BACKENDS

step "cargo fmt --check"
cargo fmt --all -- --check

# The x86 build adds the CUDA emulator (the kernels compiled as C++), so the
# CUDA kernels are checked against the oracle here, with no GPU.
emulator="--features cuda-emulator"

step "cargo clippy (x86-64, AArch64, ARMv7)"
cargo clippy --all-targets $emulator -- -D warnings
for target in $arm_targets; do
    cargo clippy --target "$target" --lib --tests -- -D warnings
done

step "feature subsets build"
cargo check --no-default-features --lib
cargo check --no-default-features --features cpu --lib
cargo check --no-default-features --features cuda --lib

# What a dependent crate gets: the docs build without a warning (broken
# links, missing code blocks), and the package holds the sources, kernels,
# shaders and shipped models, and none of the results, training runs or
# fuzzing corpus (Cargo.toml's exclude list).
step "cargo doc -D warnings, cargo package"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --quiet
packaged=$(cargo package --list --allow-dirty --quiet)
for needed in src/lib.rs kernels/conv.cu shaders/conv.wgsl models/groupalexnet-cumulative.safetensors \
    data/fashion-mnist/t10k-images-1000-idx3-ubyte.gz README.md; do
    grep -qx "$needed" <<<"$packaged" || { echo "cargo package leaves out $needed" >&2; exit 1; }
done
if grep -E '^(results|train|fuzz|scripts|target)/' <<<"$packaged"; then
    echo "cargo package ships the files above; see exclude in Cargo.toml" >&2
    exit 1
fi
cargo package --allow-dirty --no-verify --quiet
crate_bytes=$(stat -c %s target/package/groupscale-*.crate)
echo "package: $(wc -l <<<"$packaged") files, $((crate_bytes / 1024)) KiB compressed"
# crates.io takes at most 10 MB.
[ "$crate_bytes" -lt 10000000 ] || { echo "the package is over crates.io's 10 MB" >&2; exit 1; }

step "CUDA kernels: PTX ISA 6.5 for sm_53 (Jetson Nano), accepted by ptxas"
bash scripts/cuda/ptx-check.sh

step "cargo test"
# tests/cuda_nvrtc.rs compiles the embedded kernel source with NVRTC (the
# path of a GPU with no PTX built for it) and has ptxas check the result.
source scripts/cuda/tools.sh
GROUPSCALE_NVRTC=$NVRTC GROUPSCALE_PTXAS=$PTXAS GROUPSCALE_EXPECT_NVRTC=1 \
    cargo test --all-targets $emulator
# The emulator's device buffers end at a guard page by default (an
# over-read faults); this places them at the start instead (an under-read
# faults), for the tests that launch the CUDA kernels.
GROUPSCALE_EMULATOR_GUARD=start cargo test $emulator --test cuda_emulated --test device_chains -- \
    --skip half2_on_the_shipped_models
cargo test --doc

# The binary `cargo test` built for the CLI tests (the test profile:
# optimised, with debug assertions): a release build here would add 7
# minutes to CI for no further check.
bin=target/debug/groupscale
step "selftest from the command line"
$bin selftest
$bin selftest --backend wgpu
$bin selftest --backend cuda

# The training kit (train/, the groupscale_train package): its pytest suite,
# including exported models run by the binary above. The
# venv lives outside the checkout, so PyTorch (a large download) is installed
# once per machine, not on every CI run.
step "training kit: pytest"
GROUPSCALE_VENV="${GROUPSCALE_VENV:-$HOME/.cache/groupscale/train-venv}" GROUPSCALE_BIN="$PWD/$bin" \
    bash scripts/test-python.sh --require-bin

# The ARM suites, under qemu-user, for each core the boards have. They leave
# out the wgpu feature: qemu-user has no GPU adapter to offer, the shaders
# are validated and run on x86 above, and wgpu's build would double the
# suites' time. (The ARM clippy runs above do build it.) Every core
# emulated here has NEON (and VFPv4 on 32-bit), so NEON must run on each:
# tests/expected_backends_ran.rs fails otherwise.
#
# They run the unit tests and every test that exercises code that differs by
# architecture or by pointer width (the kernels, the shipped models, sizes
# and parsers on 32-bit), not the command-line and signal tests, which run
# the same code on every target and cost minutes under qemu.
arm_tests=(--lib --test backends_match_oracle --test properties --test model_fixture
    --test expected_backends_ran --test switching_k_allocates_nothing --test errors_not_panics
    --test oracle_matches_f64_reference --test model_file --test datasets --test platform
    --test state_file --test manager --test winograd)
# The A7 runs the A15's binary: qemu executes the same instructions on both
# models, so only the CPU detection and the kernels are run again there.
a7_tests=(--test expected_backends_ran --test backends_match_oracle)
arm_suite() {
    local target=$1 qemu=$2 sysroot=$3 cpu=$4
    shift 4
    step "ARM suite: $target on $cpu (qemu)"
    QEMU_CPU=$cpu GROUPSCALE_EXPECT_BACKENDS=cpu/neon,cpu/portable \
        GROUPSCALE_TEST_RUNNER="$qemu -L $sysroot" \
        cargo test --target "$target" --no-default-features --features cpu,cli "$@"
}
arm_suite aarch64-unknown-linux-gnu qemu-aarch64 /usr/aarch64-linux-gnu cortex-a57 "${arm_tests[@]}"
arm_suite thumbv7neon-unknown-linux-gnueabihf qemu-arm /usr/arm-linux-gnueabihf cortex-a15 "${arm_tests[@]}"
arm_suite thumbv7neon-unknown-linux-gnueabihf qemu-arm /usr/arm-linux-gnueabihf cortex-a7 "${a7_tests[@]}"


# libFuzzer on every parser and on random layers (scalar against cpu), from
# the seed corpus in fuzz/corpus; installs nightly and cargo-fuzz when
# missing. The long runs are recorded in docs/fuzzing.md.
step "fuzz targets: built, then 10 s each"
bash scripts/fuzz.sh 10

echo
echo "all checks passed"
