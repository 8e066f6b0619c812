"""GroupAlexNet: the same parameters (names, order, initial values) as the
original train.py, checkpoints that load unchanged, and k-group networks
that are prefixes of the whole."""

import glob
import os

import pytest
import torch

import legacy_train
from conftest import TRAIN_DIR, WIDTHS, images, randomize
from groupscale_train import GroupAlexNet


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
@pytest.mark.parametrize("groups", [2, 4])
def test_same_parameters_and_initial_values_as_train_py(variant, groups):
    torch.manual_seed(7)
    old = legacy_train.GroupAlexNet(variant, WIDTHS, groups=groups)
    after_old = torch.rand(1)
    torch.manual_seed(7)
    new = GroupAlexNet(variant, WIDTHS, groups=groups)
    after_new = torch.rand(1)
    # Same random numbers consumed, in the same order.
    assert torch.equal(after_old, after_new)
    assert [n for n, _ in old.named_parameters()] == [n for n, _ in new.named_parameters()]
    so, sn = old.state_dict(), new.state_dict()
    assert list(so) == list(sn)
    for key in so:
        assert torch.equal(so[key], sn[key]), key
    x = images(3)
    old.eval(), new.eval()
    with torch.no_grad():
        for k in range(1, groups + 1):
            assert torch.equal(old(x, k), new(x, k))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(TRAIN_DIR, "checkpoints", "*.pt"))))
def test_committed_checkpoints_load_strictly(path):
    state = torch.load(path, weights_only=False)
    a = state["arch"]
    model = GroupAlexNet(a["variant"], a["widths"], groups=a["groups"])
    model.load_state_dict(state["model"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(images(2), 1)
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("variant", ["isolated", "cumulative"])
def test_k_group_network_is_a_prefix_of_the_whole(variant):
    torch.manual_seed(3)
    groups = 4
    model = randomize(GroupAlexNet(variant, WIDTHS, groups=groups))
    x = images(4)
    with torch.no_grad():
        whole = model.features(x, groups)
        for k in range(1, groups + 1):
            part = model.features(x, k)
            for layer, (p, w) in enumerate(zip(part, whole)):
                per = w.shape[1] // groups
                assert torch.equal(p, w[:, :k * per]), f"layer {layer} at k = {k}"


def test_forward_stage_matches_forward_in_eval_mode():
    torch.manual_seed(4)
    model = randomize(GroupAlexNet("cumulative", WIDTHS, groups=2))
    x = images(4)
    with torch.no_grad():
        for s in (1, 2):
            logits, aux = model.forward_stage(x, s)
            torch.testing.assert_close(logits, model(x, s), atol=1e-6, rtol=1e-6)
            assert aux.shape == (4, 10)


def test_head_view_shares_parameters():
    model = GroupAlexNet("isolated", WIDTHS, groups=2)
    h = torch.randn(3, 16)
    assert model.head.weights is model.head_w
    assert torch.equal(model.head(h, 2), model.logits_from(h, 2))
    assert not any(n.startswith("head.") for n, _ in model.named_parameters())
