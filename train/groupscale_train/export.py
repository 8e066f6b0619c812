"""Export to groupscale's model file, and the fixture its tests check.

The model file is safetensors; its `__metadata__["groupscale"]` is a JSON
description (format, version, name, G, input size and normalisation, class
names, the layer chain, how it was trained), so the crate's loader
(src/loader/) builds the network from the file alone. Batch norm is folded
into each conv group's weights and bias, so the crate runs plain conv + bias
+ ReLU. Weights are stored as f16 (or f32), biases as f32.

Tensors (README, "The dynamic model"):

    conv2d  {name}.weight.{j}, j < G   [Cout/G, rows_j, kh, kw]
            {name}.bias                [Cout]
    linear  {name}.weight.{j}          [Fout/G, rows_j]
            {name}.bias                [Fout]
    head    head.weight                [G, classes, F/G]
            head.bias                  [G, classes], row k-1 is b_k

The fixture (PREFIX.fixture.safetensors) holds the first test images
(normalised) and the logits of the stored network at every k, computed in
f64 by PyTorch from the exported tensors alone (`reference_logits`).
"""

import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from .data import DATASETS, dataset_info


class ExportMismatch(RuntimeError):
    """The stored network does not compute what the trained one does."""


# The largest relative difference (over the largest logit) between the
# stored network and the trained one that f16 storage explains.
EXPORT_TOLERANCE = 2e-2


def build_tensors(model, dtype=torch.float16):
    """The model's tensors and layer list as the crate stores them."""
    g = model.groups
    tensors = {}

    def conv_entry(name, layer, relu=True):
        for j in range(g):
            w, b = layer.folded(j)
            tensors[f"{name}.weight.{j}"] = w.to(dtype).contiguous()
            tensors.setdefault(f"{name}.bias", [])
            tensors[f"{name}.bias"].append(b)
        tensors[f"{name}.bias"] = torch.cat(tensors[f"{name}.bias"]).float().contiguous()
        return dict(type="conv2d", name=name, in_channels=layer.cin, out_channels=layer.cout,
                    kernel=layer.kernel, stride=1, padding=layer.padding, dilation=1,
                    groups=g, connectivity=layer.connectivity, relu=relu)

    def linear_entry(name, layer):
        for j in range(g):
            tensors[f"{name}.weight.{j}"] = layer.fcs[j].weight.detach().to(dtype).contiguous()
        tensors[f"{name}.bias"] = torch.cat([layer.fcs[j].bias.detach() for j in range(g)]).float()
        return dict(type="linear", name=name, in_features=layer.fin, out_features=layer.fout,
                    groups=g, connectivity=layer.connectivity, relu=True)

    pool = dict(type="max_pool2d", kernel=2, stride=2, padding=0)
    layers = [conv_entry("conv1", model.conv1), pool, conv_entry("conv2", model.conv2), pool,
              conv_entry("conv3", model.conv3), conv_entry("conv4", model.conv4),
              conv_entry("conv5", model.conv5), pool,
              linear_entry("fc6", model.fc6), linear_entry("fc7", model.fc7)]
    classes = model.head_w[0].shape[0]
    tensors["head.weight"] = torch.stack([w.detach() for w in model.head_w]).to(dtype).contiguous()
    tensors["head.bias"] = torch.stack([b.detach() for b in model.head_b]).float().contiguous()
    layers.append(dict(type="head", name="head", in_features=model.fc7.fout, classes=classes, groups=g))
    return tensors, layers


def model_metadata(model, args, layers, log, table, seconds, dataset=None):
    """The JSON description stored under `groupscale` (key order as
    train.py always wrote it)."""
    info = dataset_info(dataset or getattr(args, "dataset", None) or "fashion-mnist")
    nested = getattr(args, "nested", False)
    name = f"groupalexnet-{args.variant}"
    if nested:
        # Told apart from the incremental models in `groupscale eval`'s output.
        name += f"-g{model.groups}-nested"
    if info.key != "fashion-mnist":
        name += f"-{info.key}"
    return dict(
        format="groupscale-model", version=1, name=name,
        groups=model.groups,
        input=dict(channels=info.channels, height=32, width=32, mean=list(info.mean), std=list(info.std),
                   preprocess=info.preprocess),
        classes=list(info.classes), layers=layers,
        training=dict(dataset=info.title, variant=args.variant, widths=args.widths,
                      epochs_per_stage=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                      threads=args.threads, seconds=round(seconds), log=log, test=table,
                      # Only a nested model says so: incremental exports stay
                      # byte-identical to train.py's (the legacy tests).
                      **({"recipe": "nested"} if nested else {})),
    )


def export(model, args, xte, log, table, seconds, dataset=None):
    """Writes ARGS.out + ".safetensors" and ".fixture.safetensors", then
    checks the stored network against the trained one at every k.

    `args` needs out, variant, widths, epochs, batch, lr, seed, threads,
    dtype ("f16" or "f32") and fixture (images in the fixture); `dataset`
    (default: args.dataset, else Fashion-MNIST) sets the input description
    and class names. Returns (tensors, layers)."""
    g = model.groups
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    tensors, layers = build_tensors(model, dtype)
    meta = model_metadata(model, args, layers, log, table, seconds, dataset)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    path = args.out + ".safetensors"
    save_file(tensors, path, metadata={"groupscale": json.dumps(meta)})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)", flush=True)
    write_fixture(tensors, layers, g, xte[:args.fixture], args.out + ".fixture.safetensors")
    # The folded, stored network must compute what the trained one does (up to
    # the storage precision), or the export is wrong.
    check_export(model, tensors, layers, xte[:256])
    return tensors, layers


def check_export(model, tensors, layers, x, tolerance=EXPORT_TOLERANCE, verbose=True):
    """Raises ExportMismatch when the stored network's logits differ from the
    model's (eval mode) by more than `tolerance` relative to the largest
    logit, at any k. Returns the relative differences, one per k."""
    g = model.groups
    model.eval()
    rels = []
    with torch.no_grad():
        for k in range(1, g + 1):
            want = model(x, k).double()
            got = reference_logits(tensors, layers, g, x, k)
            rel = ((got - want).abs().max() / want.abs().max()).item()
            rels.append(rel)
            if verbose:
                print(f"export check k={k}: max relative difference {rel:.2e}", flush=True)
            if rel > tolerance:
                raise ExportMismatch(f"exported network differs from the trained one at k={k}")
    return rels


def reference_logits(tensors, layers, g, x, k):
    """Logits of the stored network (weights as stored, read back as f32),
    computed with plain torch ops from the exported tensors alone."""
    h = x.double()
    for layer in layers:
        t = layer["type"]
        if t == "max_pool2d":
            h = F.max_pool2d(h, layer["kernel"], layer["stride"])
            continue
        if t == "head":
            w = tensors["head.weight"].double()
            per = w.shape[2]
            out = tensors["head.bias"][k - 1].double()
            for j in range(k):
                out = out + h[:, j * per:(j + 1) * per] @ w[j].t()
            return out
        if t == "linear":
            h = h.flatten(1)
        name, conn = layer["name"], layer["connectivity"]
        nin = layer.get("in_channels", layer.get("in_features"))
        outs = []
        for j in range(k):
            per = nin // g
            rows = (range(0, nin) if conn == "full" else
                    range(j * per, (j + 1) * per) if conn == "isolated" else range(0, (j + 1) * per))
            w = tensors[f"{name}.weight.{j}"].double()
            og = w.shape[0]
            b = tensors[f"{name}.bias"][j * og:(j + 1) * og].double()
            xin = h[:, rows.start:rows.stop]
            if t == "conv2d":
                outs.append(F.conv2d(xin, w, b, padding=layer["padding"]))
            else:
                outs.append(xin.flatten(1) @ w.t() + b)
        h = F.relu(torch.cat(outs, 1))
    raise ValueError("no head")


def write_fixture(tensors, layers, g, x, path):
    """PREFIX.fixture.safetensors: `input` (the images, normalised) and
    `logits.k` for every k, from the stored tensors in f64, saved as f32."""
    fixture = {"input": x.contiguous()}
    for k in range(1, g + 1):
        fixture[f"logits.{k}"] = reference_logits(tensors, layers, g, x, k).float().contiguous()
    save_file(fixture, path, metadata={"what": "inputs (normalised) and reference logits per k"})
    print(f"wrote {path}", flush=True)


def read_model_file(path):
    """(tensors, layers, metadata) of a model file written by `export`."""
    from safetensors import safe_open
    with safe_open(path, framework="pt") as f:
        meta = json.loads(f.metadata()["groupscale"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    return tensors, meta["layers"], meta


__all__ = ["DATASETS", "EXPORT_TOLERANCE", "ExportMismatch", "build_tensors", "check_export", "export",
           "model_metadata", "read_model_file", "reference_logits", "write_fixture"]
