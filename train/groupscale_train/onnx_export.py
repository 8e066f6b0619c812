"""A groupscale model at width k as a static ONNX network.

Reads the crate's model file (safetensors with the layer list in
`__metadata__["groupscale"]`, docs/design.md) and writes the network that
the first k groups compute, as ordinary ONNX operators: what a separately
built static model of that width would be, for onnxruntime or any other
ONNX runtime. The outputs are the crate's at that k:

- conv2d: `isolated` groups become an ONNX grouped Conv (group = k);
  `cumulative` and `full` become one dense Conv whose weight holds each
  group's rows and zeros for the input channels the group does not read.
- linear: one Gemm, zeros where a group does not read (ONNX has no grouped
  Gemm).
- head: one Gemm over the k groups' features, with the bias of k (b_k).
- max_pool2d, softmax: MaxPool, Softmax.

Needs only numpy and onnx, not PyTorch, so it also runs as a script:
    python train/groupscale_train/onnx_export.py MODEL.safetensors --k 2 --out model-k2.onnx
"""

import argparse
import json
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16}
# A model file is small (the shipped ones are 6 MB); refuse a header that
# claims more than this before reading it.
MAX_HEADER = 16 << 20


def read_safetensors(path):
    """Tensors as float32 numpy arrays, and the metadata dict."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(MAX_HEADER, len(data) - 8):
        raise ValueError(f"{path}: header of {n} bytes does not fit the file")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}")
        start, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if not 0 <= start <= end <= len(body) or end - start != count * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: {name} does not fit its bytes")
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"]).astype(np.float32)
    return tensors, header.get("__metadata__", {})


def model_description(metadata):
    if "groupscale" not in metadata:
        raise ValueError("not a groupscale model file: no __metadata__['groupscale']")
    return json.loads(metadata["groupscale"])


def _rows(connectivity, j, per_group, total):
    """(first input, count) that group j reads."""
    if connectivity == "isolated":
        return j * per_group, per_group
    if connectivity == "cumulative":
        return 0, (j + 1) * per_group
    return 0, total


def _dense_weight(tensors, name, layer, k, inputs, out_per_group, in_per_group):
    """[k·out_per_group, active inputs, ...]: each group's rows, zeros elsewhere."""
    connectivity = layer["connectivity"]
    active = inputs if connectivity == "full" else k * in_per_group
    first_w = tensors[f"{name}.weight.0"]
    w = np.zeros((k * out_per_group, active) + first_w.shape[2:], dtype=np.float32)
    for j in range(k):
        first, count = _rows(connectivity, j, in_per_group, inputs)
        wj = tensors[f"{name}.weight.{j}"]
        if wj.shape[:2] != (out_per_group, count):
            raise ValueError(f"{name}.weight.{j}: shape {wj.shape}, expected ({out_per_group}, {count}, ...)")
        w[j * out_per_group:(j + 1) * out_per_group, first:first + count] = wj
    return w


def export(model_path, k, batch=None):
    """The ONNX ModelProto of `model_path` at width k. `batch` fixes the
    batch dimension (None: symbolic)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    tensors, metadata = read_safetensors(model_path)
    desc = model_description(metadata)
    groups = int(desc["groups"])
    if not 1 <= k <= groups:
        raise ValueError(f"k = {k} is outside 1..{groups}")
    inp = desc["input"]
    shape = ["N" if batch is None else batch, inp["channels"], inp["height"], inp["width"]]
    nodes, inits = [], []
    current, flat = "input", False

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    for i, layer in enumerate(desc["layers"]):
        kind, out = layer["type"], f"t{i}"
        if kind == "conv2d":
            name, g = layer["name"], layer["groups"]
            cin, cout = layer["in_channels"], layer["out_channels"]
            og, cg = cout // g, cin // g
            isolated = layer["connectivity"] == "isolated"
            if isolated:
                w = np.concatenate([tensors[f"{name}.weight.{j}"] for j in range(k)])
            else:
                w = _dense_weight(tensors, name, layer, k, cin, og, cg)
            attrs = dict(kernel_shape=list(w.shape[2:]), strides=[layer["stride"]] * 2,
                         pads=[layer["padding"]] * 4, dilations=[layer["dilation"]] * 2,
                         group=k if isolated else 1)
            conv_out = out if not layer["relu"] else out + "_pre"
            nodes.append(helper.make_node("Conv", [current, const(name + ".w", w),
                                                   const(name + ".b", tensors[name + ".bias"][:k * og])],
                                          [conv_out], **attrs))
            if layer["relu"]:
                nodes.append(helper.make_node("Relu", [conv_out], [out]))
        elif kind == "max_pool2d":
            nodes.append(helper.make_node("MaxPool", [current], [out], kernel_shape=[layer["kernel"]] * 2,
                                          strides=[layer["stride"]] * 2, pads=[layer["padding"]] * 4))
        elif kind in ("linear", "head"):
            if not flat:
                nodes.append(helper.make_node("Flatten", [current], [out + "_flat"], axis=1))
                current, flat = out + "_flat", True
            name = layer["name"]
            if kind == "linear":
                g = layer["groups"]
                og, cg = layer["out_features"] // g, layer["in_features"] // g
                w = _dense_weight(tensors, name, layer, k, layer["in_features"], og, cg)
                b = tensors[name + ".bias"][:k * og]
                relu = layer["relu"]
            else:
                wh = tensors[name + ".weight"]  # [G, classes, F/G]
                w = np.concatenate([wh[j] for j in range(k)], axis=1)
                b = tensors[name + ".bias"][k - 1]
                relu = False
            gemm_out = out + "_pre" if relu else out
            nodes.append(helper.make_node("Gemm", [current, const(name + ".w", w), const(name + ".b", b)],
                                          [gemm_out], transB=1))
            if relu:
                nodes.append(helper.make_node("Relu", [gemm_out], [out]))
        elif kind == "softmax":
            nodes.append(helper.make_node("Softmax", [current], [out], axis=-1))
        else:
            raise ValueError(f"layer {i}: unknown type {kind!r}")
        current = out
    nodes.append(helper.make_node("Identity", [current], ["logits"]))
    graph = helper.make_graph(
        nodes, f"{desc['name']}-k{k}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [shape[0], len(desc["classes"])])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="groupscale_train.onnx_export")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a groupscale model file (.safetensors)")
    p.add_argument("--k", type=int, required=True, help="active groups: the width to export")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--batch", type=int, help="a fixed batch size (default: symbolic)")
    args = p.parse_args(argv)
    import onnx
    onnx.save(export(args.model, args.k, args.batch), args.out)
    print(f"wrote {args.out}: {args.model} at k = {args.k}")


if __name__ == "__main__":
    main()
