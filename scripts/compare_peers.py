#!/usr/bin/env python3
"""groupscale against onnxruntime and ncnn on the preset AlexNet-CIFAR layers, in one run.

For each (batch, threads) setting and each layer it times groupscale
(`groupscale bench --json --layers L`), onnxruntime and ncnn on the same
shapes, alternating the tools for several rounds so that the noise of a
shared machine hits all of them, and prints the median over rounds of each
round's median, and the ratio best peer / groupscale (above 1: groupscale is
faster). The k active groups of a layer are, for the peers, one convolution
with k·Cin/G inputs, k·Cout/G outputs and k groups (one group for the full
first layer), with bias and a fused ReLU: the same work groupscale does.

ncnn runs with Winograd on (its default for 3×3 stride-1 layers) and has no
batch dimension: batch B is B extractions of one image, as its users run it.

The peers are timed through Python, groupscale in Rust: each peer's time
includes its per-call Python overhead, which the script measures on a
one-element network ("call floor") and prints. The last column subtracts
that floor from the peers' times, so the comparison is fair to them too.

Run it through scripts/compare-peers.sh, which makes the venv.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import ncnn
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
    w, b = layer_weights(cin_k, cout_k, groups, kernel)
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


def layer_weights(cin_k, cout_k, groups, kernel):
    rng = np.random.default_rng(7)
    w = rng.uniform(-0.1, 0.1, (cout_k, cin_k // groups, kernel, kernel)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, (cout_k,)).astype(np.float32)
    return w, b


def active_shape(layer, k):
    """(cin_k, cout_k, groups) of a layer with k active groups."""
    _, cin, cout, _, _, _, full = layer
    return (cin if full else k * cin // G), k * cout // G, (1 if full else k)


def ort_runs(layer, threads, batch):
    """One warmed-up onnxruntime call per k for this layer."""
    _, cin, cout, kernel, pad, hw, full = layer
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    runs = []
    for k in range(1, G + 1):
        model, shape = conv_model(cin, cout, kernel, pad, hw, full, k, batch)
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(k).uniform(-0.5, 0.5, shape).astype(np.float32)
        runs.append(lambda sess=sess, x=x: sess.run(None, {"x": x}))
    return runs


def ncnn_net(workdir, param, weights, threads):
    """An ncnn network from a .param text and its weight blobs."""
    name = os.path.join(workdir, f"net{len(os.listdir(workdir))}")
    with open(name + ".param", "w") as f:
        f.write(param)
    with open(name + ".bin", "wb") as f:
        for blob in weights:
            f.write(blob.tobytes())
    net = ncnn.Net()
    net.opt.use_winograd_convolution = True
    net.opt.num_threads = threads
    if net.load_param(name + ".param") != 0 or net.load_model(name + ".bin") != 0:
        raise RuntimeError(f"ncnn could not load {name}")
    return net


def ncnn_call(net, arrays):
    """Runs `net` on each image, one extractor each, as ncnn's users do."""
    # An ncnn.Mat made from an array borrows its memory: the closure keeps
    # the arrays alive with their Mats.
    images = [ncnn.Mat(a) for a in arrays]

    def run(arrays=arrays):
        for image in images:
            ex = net.create_extractor()
            ex.input("in0", image)
            ex.extract("out0")
    return run


def ncnn_runs(layer, threads, batch, workdir):
    """One warmed-up ncnn call per k for this layer (Winograd on)."""
    _, _, _, kernel, pad, hw, _ = layer
    runs = []
    for k in range(1, G + 1):
        cin_k, cout_k, groups = active_shape(layer, k)
        w, b = layer_weights(cin_k, cout_k, groups, kernel)
        kind = "Convolution" if groups == 1 else "ConvolutionDepthWise"
        # 0=outputs 1=kernel 4=pad 5=bias 6=weight count 7=groups 9=1: ReLU
        param = (
            "7767517\n2 2\n"
            f"Input in0 0 1 in0 0={hw} 1={hw} 2={cin_k}\n"
            f"{kind} conv 1 1 in0 out0 0={cout_k} 1={kernel} 4={pad} 5=1 6={w.size}"
            + (f" 7={groups}" if groups > 1 else "")
            + " 9=1\n"
        )
        # The weights after a zero tag (raw f32), the bias untagged.
        net = ncnn_net(workdir, param, [np.zeros(1, np.uint32), w, b], threads)
        rng = np.random.default_rng(k)
        arrays = [rng.uniform(-0.5, 0.5, (cin_k, hw, hw)).astype(np.float32) for _ in range(batch)]
        check_ncnn_against_ort(net, arrays[0], layer, k)
        runs.append(ncnn_call(net, arrays))
    return runs


def check_ncnn_against_ort(net, image, layer, k):
    """Times mean nothing unless both peers compute the same layer."""
    _, cin, cout, kernel, pad, hw, full = layer
    model, _ = conv_model(cin, cout, kernel, pad, hw, full, k, 1)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": image[None]})[0][0]
    ex = net.create_extractor()
    ex.input("in0", ncnn.Mat(image))
    status, out = ex.extract("out0")
    got = np.array(out)
    if status != 0 or got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-4):
        raise RuntimeError(f"ncnn and onnxruntime disagree on {layer[0]} k={k}")


def floors(threads, workdir):
    """Each peer's per-call cost on a one-element 1×1 convolution: its
    Python and dispatch overhead, included in every time it reports. (An
    ncnn network of a lone ReLU crashes the Python binding.)"""
    layer = ("floor", 1, G, 1, 0, 1, True)  # k = 1: one output channel
    model, _ = conv_model(*layer[1:], 1, 1)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    x = np.ones((1, 1, 1, 1), np.float32)
    w, b = layer_weights(1, 1, 1, 1)
    param = "7767517\n2 2\nInput in0 0 1 in0 0=1 1=1 2=1\nConvolution conv 1 1 in0 out0 0=1 1=1 5=1 6=1 9=1\n"
    net = ncnn_net(workdir, param, [np.zeros(1, np.uint32), w, b], threads)
    check_ncnn_against_ort(net, x[0], layer, 1)
    calls = {"onnxruntime": lambda: sess.run(None, {"x": x}), "ncnn": ncnn_call(net, [x[0]])}
    return {name: median_ms([call], 0.3)[0] for name, call in calls.items()}


def calls_per_run(peer, batch):
    """Python calls a timed run makes: ncnn one per image, onnxruntime one."""
    return batch if peer == "ncnn" else 1


def median_ms(runs, budget_s):
    """Median ms of each call, the calls interleaved round by round as
    groupscale interleaves k; each warmed up first."""
    for run in runs:
        for _ in range(3):
            run()
    samples = [[] for _ in runs]
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s or len(samples[0]) < 5:
        for i, run in enumerate(runs):
            t0 = time.perf_counter()
            run()
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
    print(f"onnxruntime {ort.__version__}, ncnn {ncnn.__version__}; cpu: {cpu_model()}")
    workdir = tempfile.mkdtemp(prefix="groupscale-peers-")
    peers = ["onnxruntime", "ncnn"]
    results = []
    for setting in args.settings.split(","):
        batch, threads = (int(v) for v in setting.split("x"))
        floor = floors(threads, workdir)
        times = {}  # (tool, layer, k) -> median over rounds
        for layer in LAYERS:
            runs = {"onnxruntime": ort_runs(layer, threads, batch), "ncnn": ncnn_runs(layer, threads, batch, workdir)}
            rounds = {tool: [] for tool in ["groupscale"] + peers}
            for _ in range(args.rounds):
                medians, describe = time_groupscale(args.groupscale, layer[0], threads, batch, budget)
                rounds["groupscale"].append(medians)
                for peer in peers:
                    rounds[peer].append(median_ms(runs[peer], budget))
            del runs
            for tool, per_round in rounds.items():
                for k in range(1, G + 1):
                    times[(tool, layer[0], k)] = float(np.median([r[k - 1] for r in per_round]))
        print(f"\nbatch {batch}, {threads} thread(s), median of {args.rounds} alternating rounds; groupscale: {describe}")
        print("call floor (ms, included in the peers' times): " + ", ".join(f"{p} {floor[p]:.4f}" for p in peers))
        print(
            f"{'layer':<6}{'k':>2}{'groupscale':>12}{'GFLOP/s':>9}{'onnxruntime':>13}{'ncnn':>10}"
            f"{'best/gs':>9}{'less floor':>12}"
        )
        for name, *_ in LAYERS:
            for k in range(1, G + 1):
                g = times[("groupscale", name, k)]
                peer_ms = {p: times[(p, name, k)] for p in peers}
                best = min(peer_ms.values())
                best_less_floor = min(peer_ms[p] - floor[p] * calls_per_run(p, batch) for p in peers)
                f = flops(name, k, batch)
                print(
                    f"{name:<6}{k:>2}{g:>12.4f}{f / g / 1e6:>9.1f}{peer_ms['onnxruntime']:>13.4f}"
                    f"{peer_ms['ncnn']:>10.4f}{best / g:>9.2f}{best_less_floor / g:>12.2f}"
                )
                results.append(
                    dict(batch=batch, threads=threads, layer=name, k=k, groupscale_ms=g,
                         onnxruntime_ms=peer_ms["onnxruntime"], ncnn_ms=peer_ms["ncnn"],
                         floor_ms=floor)
                )
        stack = {t: sum(times[(t, n, G)] for n, *_ in LAYERS) for t in ["groupscale"] + peers}
        print(
            f"conv stack at k={G}: groupscale {stack['groupscale']:.3f} ms, "
            + ", ".join(f"{p} {stack[p]:.3f} ms ({stack[p] / stack['groupscale']:.2f}x)" for p in peers)
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(onnxruntime=ort.__version__, ncnn=ncnn.__version__, cpu=cpu_model(), results=results), f, indent=1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
