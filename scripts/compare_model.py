#!/usr/bin/env python3
"""The whole shipped model: groupscale at k active groups against onnxruntime
running the same network exported as a static ONNX model of width k.

The static networks come from `train/groupscale_train/onnx_export.py` (the
"separately built static models" of the paper's comparison): dense Conv and
Gemm weights of width k, with zeros where a cumulative group does not read,
grouped Conv for isolated layers. Before timing, each export's logits are
checked against the PyTorch reference logits in the model's fixture.

For each (batch, threads) setting, rounds alternate the two tools:
groupscale (`groupscale eval --latency-batch B --latency-runs R --json`,
the CPU backend, every k) and onnxruntime (R timed runs per k after a
warm-up). The table shows the median over rounds of each round's median
time per batch, and onnxruntime / groupscale (above 1: groupscale is
faster). onnxruntime is called from Python; its per-call overhead (about
0.01 ms, measured by compare_peers.py) is included in its times.

Run it through scripts/compare-model.sh, which makes the venv.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train", "groupscale_train"))
import onnx_export  # noqa: E402  (numpy and onnx only; no PyTorch)


def groupscale_ms(binary, model, batch, threads, runs):
    """{k: median ms per batch} from one `groupscale eval` run."""
    out = subprocess.run(
        [binary, "eval", "--model", model, "--backend", "cpu", "--threads", str(threads),
         "--limit", str(max(batch, 32)), "--batch", str(batch), "--latency-batch", str(batch),
         "--latency-runs", str(runs), "--json"],
        check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    (backend,) = report["backends"]
    return {row["k"]: row["latency_ms"] for row in backend["rows"]}


def ort_session(onnx_model, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_ms(session, x, runs):
    for _ in range(3):
        session.run(None, {"input": x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {"input": x})
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groupscale", default="target/release/groupscale")
    parser.add_argument("--model", default="models/groupalexnet-cumulative",
                        help="model path without .safetensors (its .fixture.safetensors is used to check)")
    parser.add_argument("--settings", default="1x1,32x1,1x2,32x2", help="batch x threads, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per k, tool and round")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    model_file = args.model + ".safetensors"
    fixture, _ = onnx_export.read_safetensors(args.model + ".fixture.safetensors")
    desc = onnx_export.model_description(onnx_export.read_safetensors(model_file)[1])
    groups = int(desc["groups"])
    exports = {}
    for k in range(1, groups + 1):
        exports[k] = onnx_export.export(model_file, k)
        got = ort_session(exports[k], 1).run(None, {"input": fixture["input"]})[0]
        ref = fixture[f"logits.{k}"]
        err = float(np.abs(got - ref).max())
        if err > 1e-3 * max(1.0, float(np.abs(ref).max())):
            sys.exit(f"the ONNX export at k = {k} differs from the fixture's logits by {err}")
    print(f"{desc['name']} (G = {groups}); onnxruntime {ort.__version__}; "
          f"the ONNX exports match the fixture's PyTorch logits at every k")

    results = []
    for setting in args.settings.split(","):
        batch, threads = (int(v) for v in setting.split("x"))
        x = np.ascontiguousarray(np.resize(fixture["input"], (batch,) + fixture["input"].shape[1:]))
        sessions = {k: ort_session(m, threads) for k, m in exports.items()}
        rounds = {"groupscale": {k: [] for k in exports}, "onnxruntime": {k: [] for k in exports}}
        for _ in range(args.rounds):
            for k, ms in groupscale_ms(args.groupscale, model_file, batch, threads, args.runs).items():
                rounds["groupscale"][k].append(ms)
            for k, s in sessions.items():
                rounds["onnxruntime"][k].append(ort_ms(s, x, args.runs))
        print(f"\nbatch {batch}, {threads} thread(s), median of {args.rounds} alternating rounds, ms per batch")
        print(f"{'k':>2} {'groupscale':>11} {'onnxruntime':>12} {'ort/gs':>7} {'gs t(k)/t(G)':>13}")
        med = {tool: {k: statistics.median(v) for k, v in per_k.items()} for tool, per_k in rounds.items()}
        for k in exports:
            gs, onnx_ms = med["groupscale"][k], med["onnxruntime"][k]
            print(f"{k:>2} {gs:>11.3f} {onnx_ms:>12.3f} {onnx_ms / gs:>7.2f} {gs / med['groupscale'][groups]:>13.3f}")
            results.append(dict(batch=batch, threads=threads, k=k, groupscale_ms=gs, onnxruntime_ms=onnx_ms))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(model=desc["name"], onnxruntime=ort.__version__, results=results), f, indent=1)


if __name__ == "__main__":
    main()
