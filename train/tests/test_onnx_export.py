"""The ONNX export at width k against the PyTorch reference logits in the
shipped models' fixtures, run by onnxruntime; and bad inputs."""

import os

import numpy as np
import onnxruntime as ort
import pytest

from groupscale_train import onnx_export

MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "models")


@pytest.mark.parametrize("variant,groups", [("cumulative", 4), ("isolated", 4), ("nested", 8)])
def test_export_matches_the_fixture_at_every_k(variant, groups):
    path = os.path.join(MODELS, f"groupalexnet-{variant}")
    fixture, _ = onnx_export.read_safetensors(path + ".fixture.safetensors")
    assert f"logits.{groups}" in fixture and f"logits.{groups + 1}" not in fixture
    for k in range(1, groups + 1):
        model = onnx_export.export(path + ".safetensors", k)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": fixture["input"]})[0]
        ref = fixture[f"logits.{k}"]
        # f32 sums of up to 4096 terms in another order: a few ulps of the
        # logits' magnitude, far below a planted weight error.
        assert np.abs(got - ref).max() < 1e-4 * np.abs(ref).max(), (variant, k)


def test_a_planted_weight_error_is_caught(tmp_path):
    path = os.path.join(MODELS, "groupalexnet-cumulative")
    fixture, _ = onnx_export.read_safetensors(path + ".fixture.safetensors")
    original = onnx_export._dense_weight

    def shifted(tensors, name, layer, k, *rest):
        w = original(tensors, name, layer, k, *rest)
        return np.roll(w, 1, axis=1) if name == "conv3" else w

    onnx_export._dense_weight = shifted
    try:
        model = onnx_export.export(path + ".safetensors", 2)
    finally:
        onnx_export._dense_weight = original
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": fixture["input"]})[0]
    assert np.abs(got - fixture["logits.2"]).max() > 1e-2


def test_bad_inputs_raise_clear_errors(tmp_path):
    path = os.path.join(MODELS, "groupalexnet-cumulative.safetensors")
    with pytest.raises(ValueError, match="outside 1..4"):
        onnx_export.export(path, 5)
    with pytest.raises(ValueError, match="outside 1..4"):
        onnx_export.export(path, 0)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(open(path, "rb").read()[:1000])
    with pytest.raises(ValueError, match="does not fit"):
        onnx_export.export(str(truncated), 1)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="too short"):
        onnx_export.read_safetensors(str(short))
