#!/usr/bin/env bash
# Executed instructions per multiply-accumulate of the preset layers (k = 4,
# batch 1, one thread) on emulated ARM cores, NEON kernels against the
# portable ones. A figure that does not depend on emulation speed: qemu
# logs every executed instruction (-singlestep -d nochain,exec), and the
# count of a process timing a layer twice minus one timing it once is one
# run of the layer. Needs what scripts/test.sh installs.
# Usage: scripts/arm-instructions-per-mac.sh [aarch64|armv7] [layers, e.g. L1,L3]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
layers=${2:-L1,L2,L3,L4,L5}
case "$arch" in
    aarch64) target=aarch64-unknown-linux-gnu; qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"; cpu=cortex-a57 ;;
    armv7) target=thumbv7neon-unknown-linux-gnueabihf; qemu="qemu-arm -L /usr/arm-linux-gnueabihf"; cpu=cortex-a15 ;;
    *) echo "usage: $0 [aarch64|armv7] [layers]" >&2; exit 2 ;;
esac
cargo build --release --quiet --target "$target"
binary=target/$target/release/groupscale
fifo=$(mktemp -u)
mkfifo "$fifo"
trap 'rm -f "$fifo"' EXIT

count() { # isa layer runs
    grep -c '^Trace' "$fifo" > "$fifo.count" &
    QEMU_CPU=$cpu GROUPSCALE_CPU_ISA=$1 GROUPSCALE_STRICT=1 \
        $qemu -singlestep -d nochain,exec -D "$fifo" "$binary" bench --threads 1 --k 4 --runs "$3" --layers "$2" >/dev/null
    wait
    cat "$fifo.count"
    rm -f "$fifo.count"
}

# Multiply-accumulates per layer at k = 4 (batch 1): output pixels × Cout × Cin/G × taps.
declare -A macs=([L1]=$((1024 * 64 * 3 * 25)) [L2]=$((256 * 192 * 16 * 25)) [L3]=$((64 * 384 * 48 * 9))
                 [L4]=$((64 * 256 * 96 * 9)) [L5]=$((64 * 256 * 64 * 9)))
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
