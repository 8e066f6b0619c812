#!/usr/bin/env python3
"""groupscale's CUDA kernels against cuDNN (through PyTorch) on the preset
AlexNet-CIFAR layers, at k = 1..4 and batch 1 and 32, in one run.

k active groups are, for cuDNN, F.conv2d with k·Cin/G inputs, k·Cout/G
outputs and groups=k (groups=1 for the full first layer) followed by
ReLU: the work groupscale's fused kernel does. cuDNN is timed with CUDA
events around 50 back-to-back calls on device tensors; groupscale with
`groupscale bench --backend cuda --json`, which times each launch plus a
device synchronisation on device-resident data. The two tools alternate
for several rounds and the medians over rounds are printed, with the
ratio cudnn / groupscale (above 1: groupscale is faster) and
time(1)/time(4) for each.

Needs a GPU, PyTorch with CUDA, and a release build of groupscale:
    cargo build --release && python3 scripts/cuda/compare_cudnn.py --json out.json
(scripts/cuda/gpu-checks.sh runs it with the binary gpu-bundle.sh built.)
"""

import argparse
import json
import statistics
import subprocess

import torch
import torch.nn.functional as F

G = 4
# name, cin, cout, kernel, pad, hw, full
LAYERS = [
    ("L1", 3, 64, 5, 2, 32, True),
    ("L2", 64, 192, 5, 2, 16, False),
    ("L3", 192, 384, 3, 1, 8, False),
    ("L4", 384, 256, 3, 1, 8, False),
    ("L5", 256, 256, 3, 1, 8, False),
]


def cudnn_ms(layer, k, batch, reps=50):
    _, cin, cout, kernel, pad, hw, full = layer
    cin_k = cin if full else k * cin // G
    cout_k = k * cout // G
    groups = 1 if full else k
    x = torch.randn(batch, cin_k, hw, hw, device="cuda")
    w = torch.randn(cout_k, cin_k // groups, kernel, kernel, device="cuda")
    b = torch.randn(cout_k, device="cuda")
    for _ in range(5):
        F.relu(F.conv2d(x, w, b, padding=pad, groups=groups))
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        F.relu(F.conv2d(x, w, b, padding=pad, groups=groups))
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def groupscale_ms(binary, batch, time_ms):
    out = subprocess.run(
        [binary, "bench", "--backend", "cuda", "--batch", str(batch), "--json",
         "--time-ms", str(time_ms)],
        check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report["describe"], {(r["layer"], r["k"]): r["median_ms"] for r in report["rows"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/groupscale")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-ms", type=int, default=500)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "cudnn": torch.backends.cudnn.version(), "rows": []}
    for batch in (1, 32):
        ours, theirs = {}, {}
        for _ in range(args.rounds):
            describe, times = groupscale_ms(args.binary, batch, args.time_ms)
            for key, t in times.items():
                ours.setdefault(key, []).append(t)
            for layer in LAYERS:
                for k in range(1, G + 1):
                    theirs.setdefault((layer[0], k), []).append(cudnn_ms(layer, k, batch))
        results["groupscale"] = describe
        print(f"\nbatch {batch}  ({describe}; cuDNN {results['cudnn']})")
        print(f"{'layer':<6}{'k':>3}{'groupscale ms':>15}{'cuDNN ms':>11}{'cuDNN/ours':>12}")
        for layer in LAYERS:
            for k in range(1, G + 1):
                a = statistics.median(ours[(layer[0], k)])
                b = statistics.median(theirs[(layer[0], k)])
                results["rows"].append({"batch": batch, "layer": layer[0], "k": k,
                                        "groupscale_ms": a, "cudnn_ms": b})
                print(f"{layer[0]:<6}{k:>3}{a:>15.4f}{b:>11.4f}{b / a:>12.2f}")
            r_ours = statistics.median(ours[(layer[0], 1)]) / statistics.median(ours[(layer[0], G)])
            r_theirs = statistics.median(theirs[(layer[0], 1)]) / statistics.median(theirs[(layer[0], G)])
            print(f"{'':<6}time(1)/time(4): groupscale {r_ours:.2f}, cuDNN {r_theirs:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
