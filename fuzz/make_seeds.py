#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (standard library only).

Each seed is a small valid input (and a few near-misses) in the format the
target reads. Run from anywhere: python3 fuzz/make_seeds.py
"""

import gzip
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- model files
def f32s(values):
    return b"".join(struct.pack("<f", v) for v in values)


def f16s(values):
    return b"".join(struct.pack("<e", v) for v in values)


def safetensors(tensors, metadata):
    """tensors: list of (name, dtype, shape, bytes)."""
    header = {"__metadata__": metadata}
    offset = 0
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(raw)],
        }
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def pattern(n, seed):
    rng = random.Random(seed)
    return [round(rng.uniform(-0.5, 0.5), 3) for _ in range(n)]


def tiny_model(half_weights=False):
    """tests/common/tiny.rs: conv(full 1->4, 3x3) -> pool 2 ->
    conv(cumulative 4->4) -> linear(isolated 16->6) -> head(6->3), G = 2,
    4x4 inputs."""
    g = 2
    layers = [
        {"type": "conv2d", "name": "conv1", "in_channels": 1, "out_channels": 4,
         "kernel": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": g,
         "connectivity": "full", "relu": True},
        {"type": "max_pool2d", "kernel": 2, "stride": 2, "padding": 0},
        {"type": "conv2d", "name": "conv2", "in_channels": 4, "out_channels": 4,
         "kernel": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": g,
         "connectivity": "cumulative", "relu": True},
        {"type": "linear", "name": "fc", "in_features": 16, "out_features": 6,
         "groups": g, "connectivity": "isolated", "relu": True},
        {"type": "head", "name": "head", "in_features": 6, "classes": 3, "groups": g},
    ]
    meta = {
        "format": "groupscale-model", "version": 1, "name": "tiny", "groups": g,
        "input": {"channels": 1, "height": 4, "width": 4, "mean": [0.5], "std": [0.25]},
        "classes": ["a", "b", "c"], "layers": layers,
    }
    wdt, wpack = ("F16", f16s) if half_weights else ("F32", f32s)
    tensors = []
    seed = 0

    def add(name, dtype, shape, pack):
        nonlocal seed
        n = 1
        for d in shape:
            n *= d
        seed += 1
        tensors.append((name, dtype, shape, pack(pattern(n, seed))))

    # conv1, full: each group reads all 1 input channel.
    for j in range(g):
        add(f"conv1.weight.{j}", wdt, [2, 1, 3, 3], wpack)
    add("conv1.bias", "F32", [4], f32s)
    # conv2, cumulative: group j reads (j+1)*2 channels.
    for j in range(g):
        add(f"conv2.weight.{j}", wdt, [2, (j + 1) * 2, 3, 3], wpack)
    add("conv2.bias", "F32", [4], f32s)
    # fc, isolated: 16/2 inputs per group, 6/2 outputs per group.
    for j in range(g):
        add(f"fc.weight.{j}", wdt, [3, 8], wpack)
    add("fc.bias", "F32", [6], f32s)
    add("head.weight", wdt, [g, 3, 3], wpack)
    add("head.bias", "F32", [g, 3], f32s)
    return meta, safetensors(tensors, {"groupscale": json.dumps(meta)})


def model_seeds():
    meta, file = tiny_model()
    put("model_loader", "tiny-f32.safetensors", file)
    _, file16 = tiny_model(half_weights=True)
    put("model_loader", "tiny-f16.safetensors", file16)
    # The metadata path: the description alone (tensors are synthesised).
    put("model_loader", "tiny-meta.json", json.dumps(meta))
    alex = {
        "format": "groupscale-model", "version": 1, "name": "groupalexnet-isolated",
        "groups": 4,
        "input": {"channels": 1, "height": 32, "width": 32, "mean": [0.2214],
                  "std": [0.3312], "preprocess": "pixels/255, zero-pad to 32x32"},
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                    "Shirt", "Sneaker", "Bag", "Ankle boot"],
        "layers": [
            {"type": "conv2d", "name": "conv1", "in_channels": 1, "out_channels": 8,
             "kernel": 5, "stride": 1, "padding": 2, "dilation": 1, "groups": 4,
             "connectivity": "full", "relu": True},
            {"type": "max_pool2d", "kernel": 2, "stride": 2, "padding": 0},
            {"type": "conv2d", "name": "conv2", "in_channels": 8, "out_channels": 8,
             "kernel": 3, "stride": 2, "padding": 1, "dilation": 2, "groups": 4,
             "connectivity": "isolated", "relu": True},
            {"type": "max_pool2d", "kernel": 3, "stride": 2, "padding": 1},
            {"type": "linear", "name": "fc6", "in_features": 128, "out_features": 16,
             "groups": 4, "connectivity": "cumulative", "relu": True},
            {"type": "head", "name": "head", "in_features": 16, "classes": 10, "groups": 4},
        ],
        "training": {"accuracy": [0.7, 0.8, 0.85, 0.9]},
    }
    put("model_loader", "small-alexnet-meta.json", json.dumps(alex))
    # A safetensors file that is not a groupscale model.
    put("model_loader", "not-a-model.safetensors",
        safetensors([("x", "F32", [2], f32s([1.0, 2.0]))], {"what": "data"}))


# ----------------------------------------------------------------------- npy
def npy(descr, shape, payload, fortran=False, version=(1, 0)):
    shape_text = "(" + "".join(f"{d}, " for d in shape).rstrip(" ")
    if len(shape) > 1:
        shape_text = shape_text.rstrip(",")
    shape_text += ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape_text)
    size_bytes = 2 if version[0] == 1 else 4
    pre = 6 + 2 + size_bytes
    total = pre + len(header) + 1
    header += " " * (-total % 64) + "\n"
    size = struct.pack("<H" if size_bytes == 2 else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header.encode("latin1") + payload


def npy_seeds():
    put("npy", "f32-2x3.npy", npy("<f4", [2, 3], f32s([0, 1, -2, 3.5, 1e-3, -7])))
    put("npy", "f32-scalar.npy", npy("<f4", [], f32s([42.0])))
    put("npy", "f32-empty.npy", npy("<f4", [0], b""))
    put("npy", "f32-1x2x2x2.npy", npy("<f4", [1, 2, 2, 2], f32s(range(8))))
    put("npy", "f32-v2.npy", npy("<f4", [3], f32s([1, 2, 3]), version=(2, 0)))
    put("npy", "f64-refused.npy", npy("<f8", [2], struct.pack("<2d", 1, 2)))
    put("npy", "fortran-refused.npy", npy("<f4", [2, 2], f32s([1, 2, 3, 4]), fortran=True))


# ----------------------------------------------------------------------- idx
def idx(shape, data):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + data


def split_seed(images, labels):
    """The idx target's layout: a cut byte, then images and labels; the cut
    must land exactly at len(images)."""
    rest = images + labels
    for cut in range(256):
        if len(rest) * cut // 255 == len(images):
            return bytes([cut]) + rest
    return None


def idx_seeds():
    found = 0
    rng = random.Random(3)
    for n in range(1, 6):
        for h in range(1, 9):
            for w in range(1, 9):
                images = idx([n, h, w], bytes(rng.randrange(256) for _ in range(n * h * w)))
                labels = idx([n], bytes(rng.randrange(10) for _ in range(n)))
                seed = split_seed(images, labels)
                if seed and found < 3:
                    put("idx", f"pair-{n}x{h}x{w}.bin", seed)
                    found += 1
                gz = split_seed(gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0))
                if gz and found < 5 and n * h * w > 8:
                    put("idx", f"pair-gz-{n}x{h}x{w}.bin", gz)
                    found += 1
    assert found == 5, found
    # Whole files alone exercise parse() (the pair split then fails).
    put("idx", "labels-idx1.bin", idx([4], bytes([1, 2, 3, 9])))
    put("idx", "images-28x28.gz", gzip.compress(idx([1, 28, 28], bytes(range(256)) * 3 + bytes(16)), mtime=0))


# --------------------------------------------------------------------- cifar
def cifar_seeds():
    rng = random.Random(10)
    record = lambda label: bytes([label]) + bytes(rng.randrange(256) for _ in range(3072))
    put("cifar", "one-record.bin", record(3))
    put("cifar", "two-records.bin", record(0) + record(9))
    put("cifar", "bad-label.bin", record(10))


# ---------------------------------------------------------------- state file
def state_seeds():
    put("state_file", "docs-example.json", """{"version": 2, "changes": [
  {"kind": "file", "path": "/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "previous": "1479000\\n"},
  {"kind": "nvpmodel", "previous": 0},
  {"kind": "jetson_clocks"}
]}
""")
    put("state_file", "empty.json", '{"version": 2, "changes": []}')
    put("state_file", "version1-refused.json",
        '{"version": 1, "changes": [{"kind": "nvpmodel", "previous": 2, "binary": "/usr/sbin/nvpmodel"}]}')
    put("state_file", "escapes.json",
        '{"version":2,"changes":[{"kind":"file","path":"/sys/class/devfreq/17000000.gp10b/max_freq","previous":"\\u00e9\\t9\\r\\n"}]}')


# ------------------------------------------------------------------ nvpmodel
NANO = (
    "# Jetson Nano\n< PARAM TYPE=FILE NAME=CPU_ONLINE >\nCORE_0 /sys/devices/system/cpu/cpu0/online\n"
    "< PARAM TYPE=CLOCK NAME=CPU_A57 >\nMAX_FREQ /sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq\n"
    "< POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_0 1\nCPU_A57 MAX_FREQ -1\nGPU MAX_FREQ -1\n"
    "< POWER_MODEL ID=1 NAME=5W >\nCPU_ONLINE CORE_2 0\nCPU_A57 MAX_FREQ 918000\nGPU MAX_FREQ 640000000\n"
    "< POWER_MODEL ID=7 NAME=MY_CUSTOM_3W >\nCPU_A57 MAX_FREQ 614400\n"
    "< PM_CONFIG DEFAULT=0 >"
)


def nvpmodel_seeds():
    put("nvpmodel_conf", "jetson-nano.conf", NANO)  # tests/common/fake_boards.rs
    put("nvpmodel_conf", "minimal.conf", "< POWER_MODEL ID=3 NAME=10W >\r\nEMC MAX_FREQ 0\r\n< PM_CONFIG DEFAULT=3 >\n")
    put("nvpmodel_conf", "bad-line.conf", "< POWER_MODEL ID=0 NAME=X >\nONLY TWO\n")


# -------------------------------------------------------------------- budget
TABLE = {
    "model": "tiny", "groups": 2, "machine": "fuzz seed",
    "points": [
        {"point": {"k": 1, "placement": {"backend": "cpu", "threads": 1, "label": "cpu x1"},
                   "clocks": {"cpu_khz": [[0, 1400000]]}},
         "latency_ms": 1.5, "p95_ms": 1.9, "accuracy": 0.7, "confidence": 0.8},
        {"point": {"k": 2, "placement": {"backend": "cpu", "threads": 2, "cores": [0, 1], "label": "cpu x2"}},
         "latency_ms": 2.5, "p95_ms": 3.0, "power_mw": 2000.0, "energy_mj": 5.0,
         "accuracy": 0.85, "confidence": 0.9},
    ],
    "left_out": ["gpu clocks: no devfreq"],
}


def budget_seeds():
    put("budget", "plain.txt", "12.5")
    put("budget", "ms.txt", "12.5 ms\n")
    put("budget", "mj.txt", "3 mJ")
    put("budget", "lines.txt", "10\n2.5 ms\n0.5mj\n-1\n1e-3 MS\n")
    put("budget", "table.txt", json.dumps(TABLE) + "\n---\n2 ms\n4 mJ\n1.6\n")


# ---------------------------------------------------------------------- conv
def conv_seeds():
    # Any bytes decode into a case (arbitrary's derive); a few fixed ones.
    for i in range(6):
        rng = random.Random(100 + i)
        put("conv_scalar_vs_cpu", f"random-{i}.bin", bytes(rng.randrange(256) for _ in range(40 + 24 * i)))


if __name__ == "__main__":
    model_seeds()
    npy_seeds()
    idx_seeds()
    cifar_seeds()
    state_seeds()
    nvpmodel_seeds()
    budget_seeds()
    conv_seeds()
