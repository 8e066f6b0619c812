"""Export: the crate's tensor names, shapes and dtypes, the metadata, the
stored network computing what the model does at every k, the fixture, and
byte-identical output to the original train.py's export."""

import argparse
import json

import pytest
import torch
from safetensors import safe_open

import legacy_train
from conftest import WIDTHS, images, randomize
from groupscale_train import (CIFAR10_CLASSES, FASHION_CLASSES, MEAN, STD, ExportMismatch, GroupAlexNet,
                             check_export, export, read_model_file, reference_logits)


def export_args(out, variant, dtype="f32", **kw):
    opts = dict(out=str(out), variant=variant, widths=list(WIDTHS), epochs=[1], batch=8, lr=0.05, seed=1,
                threads=1, dtype=dtype, fixture=4)
    opts.update(kw)
    return argparse.Namespace(**opts)


def tiny_model(variant, groups, in_channels=1, seed=0):
    torch.manual_seed(seed)
    return randomize(GroupAlexNet(variant, WIDTHS, groups=groups, in_channels=in_channels), seed)


def expected_shapes(variant, groups, in_channels=1, classes=10):
    c1, c2, c3, c4, c5, f6, f7 = WIDTHS
    shapes = {}

    def rows(conn, n_in, j):
        return n_in if conn == "full" else n_in // groups if conn == "isolated" else (j + 1) * n_in // groups

    convs = [("conv1", in_channels, c1, 5, "full"), ("conv2", c1, c2, 5, variant), ("conv3", c2, c3, 3, variant),
             ("conv4", c3, c4, 3, variant), ("conv5", c4, c5, 3, variant)]
    for name, cin, cout, kernel, conn in convs:
        for j in range(groups):
            shapes[f"{name}.weight.{j}"] = [cout // groups, rows(conn, cin, j), kernel, kernel]
        shapes[f"{name}.bias"] = [cout]
    for name, fin, fout in (("fc6", c5 * 16, f6), ("fc7", f6, f7)):
        for j in range(groups):
            shapes[f"{name}.weight.{j}"] = [fout // groups, rows(variant, fin, j)]
        shapes[f"{name}.bias"] = [fout]
    shapes["head.weight"] = [groups, classes, f7 // groups]
    shapes["head.bias"] = [groups, classes]
    return shapes


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
@pytest.mark.parametrize("groups", [2, 4])
def test_exported_file_runs_like_the_model_at_every_k(tmp_path, variant, groups, capsys):
    model = tiny_model(variant, groups)
    xte = images(12, seed=3)
    args = export_args(tmp_path / "m", variant)
    export(model, args, xte, log=[{"stage": 1}], table=[{"k": 1}], seconds=3.4)
    tensors, layers, meta = read_model_file(args.out + ".safetensors")

    shapes = expected_shapes(variant, groups)
    assert sorted(tensors) == sorted(shapes)
    for name, t in tensors.items():
        assert list(t.shape) == shapes[name], name
        assert t.dtype == torch.float32, name

    assert meta["format"] == "groupscale-model" and meta["version"] == 1
    assert meta["name"] == f"groupalexnet-{variant}" and meta["groups"] == groups
    assert meta["input"] == dict(channels=1, height=32, width=32, mean=[MEAN], std=[STD],
                                 preprocess="pixels/255, zero-pad 28x28 to 32x32 centred, then (x-mean)/std")
    assert meta["classes"] == FASHION_CLASSES
    assert [layer["type"] for layer in layers] == ["conv2d", "max_pool2d", "conv2d", "max_pool2d", "conv2d",
                                                   "conv2d", "conv2d", "max_pool2d", "linear", "linear", "head"]
    assert [layer.get("connectivity") for layer in layers if layer["type"] != "max_pool2d"][:7] == \
        ["full"] + [variant] * 6
    assert meta["training"]["dataset"] == "Fashion-MNIST" and meta["training"]["seconds"] == 3

    model.eval()
    with torch.no_grad():
        for k in range(1, groups + 1):
            want = model(xte, k).double()
            got = reference_logits(tensors, layers, groups, xte, k)
            rel = ((got - want).abs().max() / want.abs().max()).item()
            assert rel <= 1e-5, f"k = {k}: relative difference {rel:.2e}"

    with safe_open(args.out + ".fixture.safetensors", "pt") as f:
        assert sorted(f.keys()) == ["input"] + [f"logits.{k}" for k in range(1, groups + 1)]
        assert torch.equal(f.get_tensor("input"), xte[:4])
        for k in range(1, groups + 1):
            assert torch.equal(f.get_tensor(f"logits.{k}"),
                               reference_logits(tensors, layers, groups, xte[:4], k).float())
    out = capsys.readouterr().out
    assert all(f"export check k={k}" in out for k in range(1, groups + 1))


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
@pytest.mark.parametrize("dtype", ["f16", "f32"])
def test_export_is_byte_identical_to_train_py(tmp_path, variant, dtype):
    model = tiny_model(variant, 2, seed=1)
    xte = images(300, seed=4)  # more than the 256 images the export check reads
    log, table = [{"stage": 1, "epoch": 1, "loss": 2.3}], [{"k": 1, "accuracy": 0.5}]
    new = export_args(tmp_path / "new", variant, dtype)
    old = export_args(tmp_path / "old", variant, dtype)
    export(model, new, xte, log, table, 12.0)
    legacy_train.export(model, old, xte, log, table, 12.0)
    for suffix in (".safetensors", ".fixture.safetensors"):
        with open(new.out + suffix, "rb") as a, open(old.out + suffix, "rb") as b:
            assert a.read() == b.read(), suffix


def test_f16_weights_and_f32_biases(tmp_path):
    model = tiny_model("cumulative", 2)
    args = export_args(tmp_path / "m", "cumulative", dtype="f16")
    export(model, args, images(8), [], [], 0)
    tensors, _, _ = read_model_file(args.out + ".safetensors")
    for name, t in tensors.items():
        want = torch.float32 if name.endswith("bias") else torch.float16
        assert t.dtype == want, name


def test_cifar10_export_describes_three_channels(tmp_path):
    model = tiny_model("isolated", 2, in_channels=3)
    xte = images(8, channels=3)
    args = export_args(tmp_path / "c", "isolated", dataset="cifar10")
    export(model, args, xte, [], [], 0)
    tensors, layers, meta = read_model_file(args.out + ".safetensors")
    assert meta["name"] == "groupalexnet-isolated-cifar10"
    assert meta["input"]["channels"] == 3 and len(meta["input"]["mean"]) == 3 and len(meta["input"]["std"]) == 3
    assert meta["classes"] == CIFAR10_CLASSES and meta["training"]["dataset"] == "CIFAR-10"
    assert list(tensors["conv1.weight.0"].shape) == [4, 3, 5, 5]
    assert check_export(model, tensors, layers, xte, tolerance=1e-5, verbose=False)


def test_a_wrong_export_is_caught(tmp_path):
    model = tiny_model("isolated", 2)
    xte = images(8)
    args = export_args(tmp_path / "m", "isolated")
    tensors, layers = export(model, args, xte, [], [], 0)
    tensors = dict(tensors)
    tensors["conv3.bias"] = tensors["conv3.bias"] + 1.0
    with pytest.raises(ExportMismatch, match="k=1"):
        check_export(model, tensors, layers, xte, verbose=False)


def test_metadata_is_one_json_entry(tmp_path):
    model = tiny_model("isolated", 2)
    args = export_args(tmp_path / "m", "isolated")
    export(model, args, images(4), [], [], 0)
    with safe_open(args.out + ".safetensors", "pt") as f:
        assert list(f.metadata()) == ["groupscale"]
        json.loads(f.metadata()["groupscale"])
