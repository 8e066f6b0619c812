"""The trainers on tiny synthetic data: frozen groups stay frozen, the
freeze check catches a leak, checkpoints resume at the right stage, the
joint teacher and distillation run."""

import os
import re

import pytest
import torch

from conftest import images, tiny_config, tiny_data
from groupscale_train import FreezeViolation, train, train_joint
from groupscale_train import trainer as trainer_module

GROUP_KEY = re.compile(r"(?:convs|norms|fcs|head_w|head_b|aux)\.(\d+)")


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def group_of(key):
    m = GROUP_KEY.search(key)
    return int(m.group(1)) if m else None


@torch.no_grad()
def logits_at(model, x, ks):
    model.eval()
    return {k: model(x, k) for k in ks}


@pytest.mark.parametrize("variant,tie_aux,ensemble", [("isolated", False, False), ("cumulative", False, False),
                                                      ("isolated", True, False), ("isolated", False, True)])
def test_each_stage_leaves_earlier_groups_bit_identical(tmp_path, variant, tie_aux, ensemble):
    data = tiny_data()
    probe = images(8, seed=99)
    model = train(tiny_config(tmp_path, variant=variant, groups=4, stop_after_stage=1, tie_aux=tie_aux,
                              ensemble=ensemble), data)
    for s in (2, 3):
        before_logits = logits_at(model, probe, range(1, s))
        before = snapshot(model)
        model = train(tiny_config(tmp_path, variant=variant, groups=4, stop_after_stage=s, tie_aux=tie_aux,
                                  ensemble=ensemble), data)
        after = snapshot(model)
        after_logits = logits_at(model, probe, range(1, s))
        for k in range(1, s):
            assert torch.equal(before_logits[k], after_logits[k]), f"stage {s} moved k = {k}"
        for key in before:
            j = group_of(key)
            if j is not None and j < s - 1:
                # Parameters and batch-norm statistics of groups < s.
                assert torch.equal(before[key], after[key]), f"stage {s} changed {key}"
        trained = [key for key in before if group_of(key) == s - 1 and not torch.equal(before[key], after[key])]
        assert trained, f"stage {s} trained nothing of group {s}"
        assert any(key.startswith("head_b.") for key in trained), "b_s is trained in stage s"


def test_freeze_check_raises_when_a_stage_moves_an_earlier_k(tmp_path, monkeypatch):
    data = tiny_data()
    cfg = tiny_config(tmp_path, groups=2)
    train(tiny_config(tmp_path, groups=2, stop_after_stage=1), data)
    real = trainer_module.set_stage

    def leaky(model, s):
        params = real(model, s)
        # Group 1's parameters trainable again: of them, W_1 gets gradient in
        # stage 2 (groups < s run under no_grad, the head does not).
        leaked = model.group_params(0)[0]
        for p in leaked:
            p.requires_grad_(True)
        return params + leaked

    monkeypatch.setattr(trainer_module, "set_stage", leaky)
    with pytest.raises(FreezeViolation, match="stage 2 changed the k = 1 network"):
        train(cfg, data)
    # Nothing of the bad stage was saved.
    assert torch.load(cfg.out + ".ckpt.pt")["next_stage"] == 2
    assert not os.path.exists(cfg.out + ".safetensors")


def test_checkpoint_resumes_at_the_next_stage(tmp_path, capsys):
    data = tiny_data()
    cfg = tiny_config(tmp_path, groups=2, stop_after_stage=1)
    first = train(cfg, data)
    out = capsys.readouterr().out
    assert "stopped after stage 1; run again to resume" in out
    state = torch.load(cfg.out + ".ckpt.pt")
    assert sorted(state) == ["arch", "log", "model", "next_stage"]
    assert state["next_stage"] == 2
    assert state["arch"] == dict(variant="isolated", widths=cfg.widths, groups=2)
    assert [line["stage"] for line in state["log"]] == [1]
    assert not os.path.exists(cfg.out + ".safetensors")

    probe = images(4, seed=5)
    k1 = logits_at(first, probe, [1])[1]
    second = train(tiny_config(tmp_path, groups=2, epochs=[1, 2]), data)
    out = capsys.readouterr().out
    assert "resumed at stage 2" in out
    state = torch.load(cfg.out + ".ckpt.pt")
    assert state["next_stage"] == 3
    assert [(line["stage"], line["epoch"]) for line in state["log"]] == [(1, 1), (2, 1), (2, 2)]
    assert torch.equal(logits_at(second, probe, [1])[1], k1)
    assert os.path.exists(cfg.out + ".safetensors") and os.path.exists(cfg.out + ".fixture.safetensors")

    # A finished run resumes past the last stage: nothing is trained again.
    train(tiny_config(tmp_path, groups=2), data)
    out = capsys.readouterr().out
    assert "resumed at stage 3" in out and '"stage"' not in out


def test_restart_ignores_the_checkpoint(tmp_path, capsys):
    data = tiny_data()
    train(tiny_config(tmp_path, groups=2, stop_after_stage=1), data)
    capsys.readouterr()
    train(tiny_config(tmp_path, groups=2, stop_after_stage=1, restart=True), data)
    assert "resumed" not in capsys.readouterr().out


def test_reset_from_stage_retrains_later_groups_only(tmp_path, capsys):
    data = tiny_data()
    model = train(tiny_config(tmp_path, groups=2), data)
    before = snapshot(model)
    model = train(tiny_config(tmp_path, groups=2, reset_from_stage=2, seed=5), data)
    after = snapshot(model)
    assert "resumed at stage 2" in capsys.readouterr().out
    for key in before:
        if group_of(key) == 0:
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["fc7.fcs.1.weight"], after["fc7.fcs.1.weight"])
    log = torch.load(str(tmp_path / "m.ckpt.pt"))["log"]
    assert [line["stage"] for line in log] == [1, 2]


def test_joint_teacher_then_distilled_stages(tmp_path, capsys):
    data = tiny_data()
    tcfg = tiny_config(tmp_path, out=str(tmp_path / "teacher"), groups=2, joint=True, epochs=[2])
    teacher = train(tcfg, data)
    ckpt = torch.load(tcfg.out + ".teacher-ckpt.pt", weights_only=False)
    assert sorted(ckpt) == ["arch", "epoch", "log", "model", "opt", "rng", "sched", "seconds"]
    assert ckpt["epoch"] == 2
    final = torch.load(tcfg.out + ".teacher.pt")
    assert sorted(final) == ["arch", "log", "model"]
    assert [line["epoch"] for line in final["log"]] == [1, 2]
    # Run again: resumes after the last epoch and writes the same teacher.
    capsys.readouterr()
    again = train_joint(tcfg, data)
    assert "resumed after epoch 2" in capsys.readouterr().out
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key

    cfg = tiny_config(tmp_path, groups=2, teacher=tcfg.out + ".teacher.pt")
    model = train(cfg, data)
    assert os.path.exists(cfg.out + ".safetensors")
    assert model.groups == 2

    # Offline distillation: the same stages from the teacher's stored logits
    # of the un-augmented images, which are its k = G logits, batch by batch.
    from groupscale_train.trainer import load_teacher, teacher_logits
    frozen = load_teacher(tcfg.out + ".teacher.pt")
    x = data[0][:7]
    with torch.no_grad():
        direct = frozen(x, frozen.groups)
    torch.testing.assert_close(teacher_logits(frozen, x, batch=3), direct)
    offline = tiny_config(tmp_path, out=str(tmp_path / "offline"), groups=2,
                          teacher=tcfg.out + ".teacher.pt", offline_teacher=True)
    model = train(offline, data)
    assert os.path.exists(offline.out + ".safetensors")


def test_ensemble_loss_sees_the_average_and_the_export_the_sum(tmp_path):
    """--ensemble trains on the groups' average logits; the model (and so the
    export) keeps the sum, whose argmax is the same."""
    model = train(tiny_config(tmp_path, groups=4, stop_after_stage=2, ensemble=True), tiny_data())
    assert model.tie_aux and model.average_logits
    x = images(8, seed=5)
    model.eval()
    with torch.no_grad():
        stage_logits, _ = model.forward_stage(x, 2)
        summed = model(x, 2)
    torch.testing.assert_close(stage_logits * 2, summed)
    assert torch.equal(stage_logits.argmax(1), summed.argmax(1))


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
def test_nested_loss_is_the_loss_at_every_k(tmp_path, variant):
    """--nested takes every k's logits from one k = G pass: they must be what
    the model computes at that k (a group never reads a later group)."""
    from groupscale_train.trainer import build_model, nested_loss
    torch.manual_seed(3)
    model = build_model(tiny_config(tmp_path, variant=variant, groups=4))
    model.eval()
    x = images(6, seed=4)
    y = torch.arange(6) % 10
    with torch.no_grad():
        got = nested_loss(model, x, y, smoothing=0.1)
        per_k = [torch.nn.functional.cross_entropy(model(x, k), y, label_smoothing=0.1) for k in range(1, 5)]
    want = per_k[3] + sum(per_k[:3]) / 3
    torch.testing.assert_close(got, want)


def test_nested_training_exports_and_records_its_recipe(tmp_path, capsys):
    import json as json_module

    from safetensors import safe_open
    cfg = tiny_config(tmp_path, groups=2, nested=True, epochs=[1])
    model = train(cfg, tiny_data())
    out = capsys.readouterr().out
    assert '"test_acc_k1"' in out and '{"k": 2,' in out
    with safe_open(cfg.out + ".safetensors", "pt") as f:
        meta = json_module.loads(f.metadata()["groupscale"])
    assert meta["training"]["recipe"] == "nested" and meta["groups"] == model.groups == 2
    assert meta["name"] == "groupalexnet-isolated-g2-nested"
    assert os.path.exists(cfg.out + ".fixture.safetensors")
