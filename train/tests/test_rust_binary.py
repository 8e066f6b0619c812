"""End to end with the crate: export a tiny model, run it with the
`groupscale` binary (`groupscale eval` on a tiny Fashion-MNIST-shaped IDX
directory) and compare with PyTorch at every k, per image.

GROUPSCALE_BIN names the binary (e.g. target/release/groupscale). Without
it the test is skipped, saying why; with GROUPSCALE_REQUIRE_BIN=1 a missing
binary is a failure instead.
"""

import argparse
import json
import os
import subprocess

import pytest
import torch

from conftest import WIDTHS, randomize, write_fashion_dir
from groupscale_train import GroupAlexNet, export, load_fashion, read_model_file, reference_logits

IMAGES = 6


def groupscale_binary():
    path = os.environ.get("GROUPSCALE_BIN", "")
    required = os.environ.get("GROUPSCALE_REQUIRE_BIN") == "1"
    if not path:
        reason = ("GROUPSCALE_BIN is not set: build the crate (cargo build --release) and set "
                  "GROUPSCALE_BIN=target/release/groupscale to run exported models through the Rust binary")
    elif not (os.path.isfile(path) and os.access(path, os.X_OK)):
        reason = f"GROUPSCALE_BIN={path} is not an executable file"
    else:
        return os.path.abspath(path)
    if required:
        pytest.fail(f"GROUPSCALE_REQUIRE_BIN=1: {reason}")
    pytest.skip(reason)


def crate_eval(binary, model, data, limit, backends):
    cmd = [binary, "eval", "--model", model, "--data", data, "--limit", str(limit), "--batch", str(limit),
           "--latency-runs", "1", "--threads", "1", "--json"]
    for b in backends:
        cmd += ["--backend", b]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout)
    assert report["images"] == limit
    return report


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
def test_groupscale_eval_matches_pytorch_at_every_k(tmp_path, variant):
    binary = groupscale_binary()
    groups = 2 if variant == "isolated" else 4
    torch.manual_seed(11)
    model = randomize(GroupAlexNet(variant, WIDTHS, groups=groups), seed=11, head_scale=8.0)
    data = write_fashion_dir(tmp_path / "data", n_train=1, n_test=IMAGES, seed=5)
    x, y = load_fashion(data, "test")
    args = argparse.Namespace(out=str(tmp_path / "m"), variant=variant, widths=list(WIDTHS), epochs=[1],
                              batch=8, lr=0.05, seed=1, threads=1, dtype="f16", fixture=4)
    export(model, args, x, [], [], 0)
    tensors, layers, _ = read_model_file(args.out + ".safetensors")

    # PyTorch, from the stored tensors (f16 weights as stored, f64 sums):
    # per k, each image's softmax probability of its label and whether the
    # argmax is right.
    want = {}
    for k in range(1, groups + 1):
        logits = reference_logits(tensors, layers, groups, x, k)
        p = logits.softmax(1)
        top2 = logits.topk(2, 1).values
        want[k] = (p.gather(1, y.view(-1, 1)).flatten(), p.argmax(1) == y, top2[:, 0] - top2[:, 1])
        assert p.gather(1, y.view(-1, 1)).std() > 1e-3, "logits too flat to tell images apart"

    # The crate reports means over the first n images; n = 1..IMAGES gives
    # every image's probability (n * mean_n - (n - 1) * mean_{n-1}).
    backends = ["cpu", "scalar"]
    sums = {(b, k): [0.0] for b in backends for k in range(1, groups + 1)}
    correct = {(b, k): [0] for b in backends for k in range(1, groups + 1)}
    for n in range(1, IMAGES + 1):
        report = crate_eval(binary, args.out + ".safetensors", data, n, backends)
        assert report["groups"] == groups and len(report["backends"]) == len(backends)
        for b, entry in zip(backends, report["backends"]):
            assert entry["backend"].startswith(b)
            assert [row["k"] for row in entry["rows"]] == list(range(1, groups + 1))
            for row in entry["rows"]:
                sums[(b, row["k"])].append(row["confidence"] * n)
                correct[(b, row["k"])].append(round(row["accuracy"] * n))
    for (b, k), s in sums.items():
        conf, right, margin = want[k]
        got = torch.tensor([s[i] - s[i - 1] for i in range(1, IMAGES + 1)], dtype=torch.float64)
        assert torch.allclose(got, conf, atol=2e-5), f"{b}, k = {k}: {got.tolist()} vs {conf.tolist()}"
        c = correct[(b, k)]
        got_right = torch.tensor([c[i] - c[i - 1] == 1 for i in range(1, IMAGES + 1)])
        # Only a near tie between the two largest logits may flip the argmax.
        differ = got_right != right
        assert (margin[differ] < 1e-4).all(), f"{b}, k = {k}: argmax differs on images {differ.nonzero().tolist()}"
