"""Whole runs through the command line against the original train.py on the
same synthetic Fashion-MNIST directory and seed: the same stdout (timings
aside), checkpoints and exported files."""

import json
import os
import sys

import pytest
import torch
from safetensors import safe_open

import legacy_train
from conftest import WIDTHS, write_fashion_dir
from groupscale_train.__main__ import main

TIMINGS = {"seconds", "epoch_s", "elapsed_s"}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def run_both(tmp_path, monkeypatch, capsys, argv):
    data = write_fashion_dir(tmp_path / "data")
    outs = {}
    for name, run in (("new", lambda a: main(a)), ("old", None)):
        out = str(tmp_path / name / "m")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        args = argv + ["--data", data, "--out", out]
        if run is None:
            monkeypatch.setattr(sys, "argv", ["train.py"] + args)
            legacy_train.main()
        else:
            run(args + ["--progress", "off"])
        outs[name] = (out, capsys.readouterr().out)
    return outs


def stdout_lines(text, root):
    lines = []
    for line in text.splitlines():
        line = line.replace(root, "ROOT")
        if line.startswith("{"):
            lines.append(json.dumps(strip(json.loads(line))))
        elif line.startswith("wrote"):
            # The file size varies with the timings' digits in the metadata.
            lines.append(line.split(" (")[0].replace("/new/", "/X/").replace("/old/", "/X/"))
        else:
            lines.append(line)
    return lines


def assert_same_files(new, old, suffixes):
    for suffix in suffixes:
        with safe_open(new + suffix, "pt") as a, safe_open(old + suffix, "pt") as b:
            assert list(a.keys()) == list(b.keys())
            for key in a.keys():
                ta, tb = a.get_tensor(key), b.get_tensor(key)
                assert ta.dtype == tb.dtype and torch.equal(ta, tb), f"{suffix}: {key}"
            ma, mb = a.metadata(), b.metadata()
            assert list(ma) == list(mb)
            for key in ma:
                if key == "groupscale":
                    ja, jb = json.loads(ma[key]), json.loads(mb[key])
                    assert json.dumps(strip(ja)) == json.dumps(strip(jb))
                else:
                    assert ma[key] == mb[key]


def assert_same_checkpoints(new, old, suffix):
    a = torch.load(new + suffix, weights_only=False)
    b = torch.load(old + suffix, weights_only=False)
    assert list(a) == list(b)
    assert list(a["model"]) == list(b["model"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert strip(a["log"]) == strip(b["log"])
    assert a["arch"] == b["arch"]


@pytest.mark.parametrize("extra", [
    ["--variant", "isolated", "--groups", "2"],
    ["--variant", "cumulative", "--groups", "4", "--epochs", "1", "2", "--tie-aux"],
    ["--variant", "isolated", "--groups", "2", "--dtype", "f32", "--seed", "3", "--limit", "24"],
])
def test_incremental_run_matches_train_py(tmp_path, monkeypatch, capsys, extra):
    argv = extra + ["--widths", *map(str, WIDTHS), "--batch", "16", "--fixture", "4"]
    if "--epochs" not in argv:
        argv += ["--epochs", "1"]
    outs = run_both(tmp_path, monkeypatch, capsys, argv)
    (new, new_out), (old, old_out) = outs["new"], outs["old"]
    assert stdout_lines(new_out, str(tmp_path)) == stdout_lines(old_out, str(tmp_path))
    assert_same_checkpoints(new, old, ".ckpt.pt")
    assert_same_files(new, old, [".safetensors", ".fixture.safetensors"])


def test_stop_and_resume_match_train_py(tmp_path, monkeypatch, capsys):
    base = ["--variant", "isolated", "--groups", "2", "--widths", *map(str, WIDTHS), "--epochs", "1",
            "--batch", "16"]
    first = run_both(tmp_path, monkeypatch, capsys, base + ["--stop-after-stage", "1"])
    assert "stopped after stage 1" in first["new"][1]
    second = run_both(tmp_path, monkeypatch, capsys, base)
    assert "resumed at stage 2" in second["new"][1] and "resumed at stage 2" in second["old"][1]
    assert_same_checkpoints(second["new"][0], second["old"][0], ".ckpt.pt")
    assert_same_files(second["new"][0], second["old"][0], [".safetensors", ".fixture.safetensors"])


def test_joint_teacher_and_distillation_match_train_py(tmp_path, monkeypatch, capsys):
    common = ["--variant", "isolated", "--groups", "2", "--widths", *map(str, WIDTHS), "--batch", "16"]
    teacher = run_both(tmp_path, monkeypatch, capsys, common + ["--joint", "--epochs", "2"])
    (new, _), (old, _) = teacher["new"], teacher["old"]
    assert_same_checkpoints(new, old, ".teacher-ckpt.pt")
    assert_same_checkpoints(new, old, ".teacher.pt")
    data = str(tmp_path / "data")
    outs = {}
    for name, path in (("new", new), ("old", old)):
        out = str(tmp_path / name / "student")
        args = common + ["--epochs", "1", "--teacher", path + ".teacher.pt", "--data", data, "--out", out]
        if name == "old":
            monkeypatch.setattr(sys, "argv", ["train.py"] + args)
            legacy_train.main()
        else:
            main(args + ["--progress", "off"])
        outs[name] = out
    capsys.readouterr()
    assert_same_checkpoints(outs["new"], outs["old"], ".ckpt.pt")
    assert_same_files(outs["new"], outs["old"], [".safetensors", ".fixture.safetensors"])


def test_train_py_shim_runs_the_package(tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "train.py"), "--help"], capture_output=True,
                         text=True, check=True).stdout
    for flag in ["--variant", "--out", "--data", "--dataset", "--widths", "--groups", "--epochs", "--batch",
                 "--lr", "--smoothing", "--aux-weight", "--reset-from-stage", "--tie-aux", "--joint",
                 "--teacher", "--distill-from-stage", "--distill-weight", "--temperature",
                 "--stop-after-stage", "--seed", "--threads", "--dtype", "--limit", "--fixture", "--restart",
                 "--progress"]:
        assert flag in out, flag
    assert "Incremental training of GroupAlexNet" in out
