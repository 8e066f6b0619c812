#!/usr/bin/env bash
# Executed instructions per multiply-accumulate of the preset layers (k = 4,
# batch 1, one thread) on emulated ARM cores, NEON kernels against the
# portable ones. A figure that does not depend on emulation speed: qemu
# logs every executed instruction (-singlestep -d nochain,exec), and the
# count of a process timing a layer twice minus one timing it once is one
# run of the layer. Needs what scripts/test.sh installs.
# Usage: scripts/arm-instructions-per-mac.sh [aarch64|armv7] [layers, e.g. L1,L3] [isa|conv]
# `conv` compares the NEON kernels' convolution paths instead (direct,
# Winograd F(2×2) and F(4×4); docs/winograd.md), per direct MAC.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
layers=${2:-L1,L2,L3,L4,L5}
mode=${3:-isa}
case "$arch" in
    aarch64) target=aarch64-unknown-linux-gnu; qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"; cpu=cortex-a57 ;;
    armv7) target=thumbv7neon-unknown-linux-gnueabihf; qemu="qemu-arm -L /usr/arm-linux-gnueabihf"; cpu=cortex-a15 ;;
    *) echo "usage: $0 [aarch64|armv7] [layers]" >&2; exit 2 ;;
esac
# The CPU backend and the CLI only: wgpu would double the build for nothing here.
cargo build --release --quiet --target "$target" --no-default-features --features cpu,cli
binary=target/$target/release/groupscale
fifo=$(mktemp -u)
mkfifo "$fifo"
trap 'rm -f "$fifo"' EXIT

count() { # isa layer runs [conv algorithm]
    grep -c '^Trace' "$fifo" > "$fifo.count" &
    QEMU_CPU=$cpu GROUPSCALE_CPU_ISA=$1 GROUPSCALE_STRICT=1 GROUPSCALE_CONV_ALGO=${4:-direct} \
        $qemu -singlestep -d nochain,exec -D "$fifo" "$binary" bench --threads 1 --k 4 --runs "$3" --layers "$2" >/dev/null
    wait
    cat "$fifo.count"
    rm -f "$fifo.count"
}

# Multiply-accumulates per layer at k = 4 (batch 1): output pixels × Cout × Cin/G × taps.
declare -A macs=([L1]=$((1024 * 64 * 3 * 25)) [L2]=$((256 * 192 * 16 * 25)) [L3]=$((64 * 384 * 48 * 9))
                 [L4]=$((64 * 256 * 96 * 9)) [L5]=$((64 * 256 * 64 * 9)))
if [ "$mode" = conv ]; then
    echo "executed instructions per direct MAC, NEON, $arch ($cpu under qemu), k = 4, batch 1, 1 thread"
    printf '%-6s %10s %12s %12s %14s\n' layer direct winograd-f2 winograd-f4 direct/f4
    for layer in ${layers//,/ }; do
        row=()
        for algo in direct winograd-f2 winograd-f4; do
            one=$(count neon "$layer" 1 "$algo")
            two=$(count neon "$layer" 2 "$algo")
            row+=("$(echo "scale=3; ($two - $one) / ${macs[$layer]}" | bc)")
        done
        printf '%-6s %10s %12s %12s %14s\n' "$layer" "${row[@]}" "$(echo "scale=2; ${row[0]} / ${row[2]}" | bc)"
    done
    exit 0
fi
echo "executed instructions per MAC, $arch ($cpu under qemu), k = 4, batch 1, 1 thread"
printf '%-6s %12s %12s %8s\n' layer neon portable ratio
for layer in ${layers//,/ }; do
    row=()
    for isa in neon portable; do
        one=$(count "$isa" "$layer" 1)
        two=$(count "$isa" "$layer" 2)
        row+=("$(echo "scale=3; ($two - $one) / ${macs[$layer]}" | bc)")
    done
    printf '%-6s %12s %12s %8s\n' "$layer" "${row[0]}" "${row[1]}" "$(echo "scale=2; ${row[1]} / ${row[0]}" | bc)"
done
