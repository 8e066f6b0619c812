#!/usr/bin/env python3
"""groupscale against onnxruntime on the preset AlexNet-CIFAR layers, in one run.

For each (batch, threads) setting and each layer it times groupscale
(`groupscale bench --json --layers L`) and onnxruntime on the same shapes,
alternating the two tools for several rounds so that the noise of a shared
machine hits both, and prints the median over rounds of each round's median,
and the ratio onnxruntime / groupscale (above 1: groupscale is faster). The k active groups of a layer are, for onnxruntime, a Conv with
k·Cin/G inputs, k·Cout/G outputs and group=k (group=1 for the full first
layer), with bias and a ReLU that it fuses: the same work groupscale does.

Run it through scripts/compare-peers.sh, which makes the venv.
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

G = 4
# name, cin, cout, kernel, pad, hw, full
LAYERS = [
    ("L1", 3, 64, 5, 2, 32, True),
    ("L2", 64, 192, 5, 2, 16, False),
    ("L3", 192, 384, 3, 1, 8, False),
    ("L4", 384, 256, 3, 1, 8, False),
    ("L5", 256, 256, 3, 1, 8, False),
]


def conv_model(cin, cout, kernel, pad, hw, full, k, batch):
    cin_k = cin if full else k * cin // G
    cout_k = k * cout // G
    groups = 1 if full else k
    rng = np.random.default_rng(7)
    w = rng.uniform(-0.1, 0.1, (cout_k, cin_k // groups, kernel, kernel)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, (cout_k,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], group=groups, pads=[pad] * 4, kernel_shape=[kernel, kernel]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin_k, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.flatten()), helper.make_tensor("b", TensorProto.FLOAT, b.shape, b)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString(), (batch, cin_k, hw, hw)


def ort_sessions(layer, threads, batch):
    """One warmed-up onnxruntime session and input per k for this layer."""
    _, cin, cout, kernel, pad, hw, full = layer
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = []
    for k in range(1, G + 1):
        model, shape = conv_model(cin, cout, kernel, pad, hw, full, k, batch)
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(k).uniform(-0.5, 0.5, shape).astype(np.float32)
        for _ in range(3):
            sess.run(None, {"x": x})
        sessions.append((sess, x))
    return sessions


def time_ort(sessions, budget_s):
    """Median ms for k = 1..G, k interleaved round by round as groupscale does."""
    samples = [[] for _ in range(G)]
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s or len(samples[0]) < 5:
        for i, (sess, x) in enumerate(sessions):
            t0 = time.perf_counter()
            sess.run(None, {"x": x})
            samples[i].append(time.perf_counter() - t0)
    return [float(np.median(s)) * 1e3 for s in samples]


def time_groupscale(binary, layer, threads, batch, budget_s):
    report = json.loads(
        subprocess.run(
            [binary, "bench", "--json", "--layers", layer, "--batch", str(batch), "--threads", str(threads),
             "--time-ms", str(int(budget_s * 1000))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return [r["median_ms"] for r in report["rows"]], report["describe"]


def flops(name, k, batch):
    _, cin, cout, kernel, pad, hw, full = next(l for l in LAYERS if l[0] == name)
    cin_group = cin if full else cin // G
    return 2.0 * batch * hw * hw * (k * cout // G) * cin_group * kernel * kernel


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groupscale", default="target/release/groupscale")
    parser.add_argument("--settings", default="1x1,1x2,32x1,32x2", help="batch x threads, comma-separated")
    parser.add_argument("--time-ms", type=int, default=300, help="timed ms per layer, tool and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per layer")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    budget = args.time_ms / 1000
    print(f"onnxruntime {ort.__version__}; cpu: {cpu_model()}")
    results = []
    for setting in args.settings.split(","):
        batch, threads = (int(v) for v in setting.split("x"))
        gs, ref = {}, {}
        for layer in LAYERS:
            sessions = ort_sessions(layer, threads, batch)
            gs_rounds, ort_rounds = [], []
            for _ in range(args.rounds):
                medians, describe = time_groupscale(args.groupscale, layer[0], threads, batch, budget)
                gs_rounds.append(medians)
                ort_rounds.append(time_ort(sessions, budget))
            del sessions
            for k in range(1, G + 1):
                gs[(layer[0], k)] = float(np.median([r[k - 1] for r in gs_rounds]))
                ref[(layer[0], k)] = float(np.median([r[k - 1] for r in ort_rounds]))
        print(f"\nbatch {batch}, {threads} thread(s), median of {args.rounds} alternating rounds; groupscale: {describe}")
        print(f"{'layer':<6}{'k':>2}{'groupscale ms':>15}{'GFLOP/s':>9}{'onnxruntime ms':>16}{'GFLOP/s':>9}{'ort/gs':>8}")
        for name, *_ in LAYERS:
            for k in range(1, G + 1):
                g, o = gs[(name, k)], ref[(name, k)]
                f = flops(name, k, batch)
                print(f"{name:<6}{k:>2}{g:>15.4f}{f / g / 1e6:>9.1f}{o:>16.4f}{f / o / 1e6:>9.1f}{o / g:>8.2f}")
                results.append(dict(batch=batch, threads=threads, layer=name, k=k, groupscale_ms=g, onnxruntime_ms=o))
        gs_stack = sum(gs[(n, G)] for n, *_ in LAYERS)
        ort_stack = sum(ref[(n, G)] for n, *_ in LAYERS)
        print(f"conv stack at k={G}: groupscale {gs_stack:.3f} ms, onnxruntime {ort_stack:.3f} ms, ratio {ort_stack / gs_stack:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(onnxruntime=ort.__version__, cpu=cpu_model(), results=results), f, indent=1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
