#!/usr/bin/env bash
# The CPU convolution paths side by side on the preset 3×3 layers (L3–L5),
# one thread, k = 1..4, batch 1 and 32: alternated rounds of
# `groupscale bench`, one per GROUPSCALE_CONV_ALGO value, and the median
# over rounds of each layer's median time. docs/winograd.md records the
# output.
# Usage: scripts/compare-conv-algos.sh [rounds] [algos...]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
algos=("${@:-direct}")
[ $# -gt 0 ] || algos=(direct winograd-f2 winograd-f4 auto)
cargo build --release --quiet --no-default-features --features cpu,cli
bin=target/release/groupscale
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for batch in 1 32; do
    time_ms=$([ "$batch" = 1 ] && echo 300 || echo 1500)
    for round in $(seq "$rounds"); do
        for algo in "${algos[@]}"; do
            GROUPSCALE_CONV_ALGO=$algo "$bin" bench --backend cpu --threads 1 --layers L3,L4,L5 \
                --batch "$batch" --time-ms "$time_ms" --json |
                python3 -c "
import json, sys
for row in json.load(sys.stdin)['rows']:
    print('$algo', $batch, row['layer'], row['k'], row['median_ms'])" >> "$out"
        done
    done
done
python3 - "$out" "${algos[@]}" <<'PY'
import statistics, sys
from collections import defaultdict
path, algos = sys.argv[1], sys.argv[2:]
times = defaultdict(list)
for line in open(path):
    algo, batch, layer, k, ms = line.split()
    times[(int(batch), layer, int(k), algo)].append(float(ms))
keys = sorted({key[:3] for key in times})
print("| batch | layer | k | " + " | ".join(f"{a} ms" for a in algos) + " | direct / best other |")
print("|---" * (len(algos) + 4) + "|")
for batch, layer, k in keys:
    med = {a: statistics.median(times[(batch, layer, k, a)]) for a in algos}
    others = [med[a] for a in algos if a != "direct"]
    ratio = med["direct"] / min(others) if "direct" in med and others else float("nan")
    cells = " | ".join(f"{med[a]:.4f}" for a in algos)
    print(f"| {batch} | {layer} | {k} | {cells} | {ratio:.2f} |")
PY
