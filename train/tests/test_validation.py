"""Bad arguments raise ValueErrors that say what is wrong."""

import pytest
import torch

from conftest import WIDTHS, images, tiny_config, tiny_data
from groupscale_train import GroupAlexNet, GroupedConv, GroupedLinear, GroupHead, train


@pytest.mark.parametrize("make,match", [
    (lambda: GroupedConv(8, 6, 3, 1, 4, "isolated"), "G = 4 does not divide out_channels = 6"),
    (lambda: GroupedConv(6, 8, 3, 1, 4, "cumulative"), "G = 4 does not divide in_channels"),
    (lambda: GroupedLinear(16, 10, 4, "isolated"), "G = 4 does not divide out_features = 10"),
    (lambda: GroupedLinear(10, 16, 4, "isolated"), "G = 4 does not divide in_features"),
    (lambda: GroupHead(10, 5, 4), "G = 4 does not divide head features = 10"),
    (lambda: GroupAlexNet("isolated", [8, 8, 8, 8, 8, 16, 18], groups=4), "does not divide width F7 = 18"),
    (lambda: GroupAlexNet("isolated", [8, 8, 12, 8, 8, 16, 16], groups=8), "does not divide width C3 = 12"),
])
def test_groups_must_divide_widths(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_full_connectivity_needs_no_divisible_input():
    GroupedConv(1, 8, 5, 2, 4, "full")  # conv1 reads one channel with G = 4


@pytest.mark.parametrize("make", [
    lambda: GroupedConv(8, 8, 3, 1, 2, "dense"),
    lambda: GroupedLinear(8, 8, 2, "block"),
])
def test_unknown_connectivity(make):
    with pytest.raises(ValueError, match="unknown connectivity"):
        make()


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown variant 'dense'"):
        GroupAlexNet("dense", WIDTHS, groups=2)


@pytest.mark.parametrize("groups", [0, -1, 1.5])
def test_groups_must_be_a_positive_integer(groups):
    with pytest.raises(ValueError, match="groups"):
        GroupedConv(8, 8, 3, 1, groups, "isolated")


@pytest.mark.parametrize("k", [0, 3, -1, 1.0, True, None])
def test_k_outside_1_to_g(k):
    model = GroupAlexNet("isolated", WIDTHS, groups=2).eval()
    x = images(1)
    with pytest.raises(ValueError, match=r"k"):
        model(x, k)
    with pytest.raises(ValueError, match=r"k"):
        model.features(x, k)
    with pytest.raises(ValueError, match=r"k"):
        model.forward_stage(x, k)
    with pytest.raises(ValueError, match=r"k"):
        GroupHead(16, 10, 2)(torch.zeros(1, 16), k)
    with pytest.raises(ValueError, match=r"k"):
        GroupedConv(8, 8, 3, 1, 2, "isolated")(torch.zeros(1, 8, 4, 4), k)


def test_k_message_names_the_range():
    model = GroupAlexNet("isolated", WIDTHS, groups=2).eval()
    with pytest.raises(ValueError, match=r"k = 3 is out of range: k must be in 1..=2"):
        model(images(1), 3)


def test_wrong_input_width():
    layer = GroupedConv(8, 8, 3, 1, 2, "isolated")
    with pytest.raises(ValueError, match="input has 3 channels"):
        layer(torch.zeros(1, 3, 4, 4), 1)
    with pytest.raises(ValueError, match="group index"):
        layer.forward_group(torch.zeros(1, 8, 4, 4), 2)


def test_bad_stage_options(tmp_path):
    with pytest.raises(ValueError, match="--reset-from-stage"):
        train(tiny_config(tmp_path, reset_from_stage=3), tiny_data())
    with pytest.raises(ValueError, match="--stop-after-stage"):
        train(tiny_config(tmp_path, stop_after_stage=-1), tiny_data())


def test_cifar10_needs_a_data_directory(tmp_path):
    with pytest.raises(ValueError, match="--data DIR is needed for CIFAR-10"):
        train(tiny_config(tmp_path, dataset="cifar10"))


def test_checkpoint_of_another_network_is_refused(tmp_path):
    data = tiny_data()
    train(tiny_config(tmp_path, stop_after_stage=1), data)
    with pytest.raises(ValueError, match="holds a network"):
        train(tiny_config(tmp_path, variant="cumulative"), data)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "half"])
def test_erase_probability_is_checked_at_parse_time(value, capsys):
    from groupscale_train.__main__ import config
    with pytest.raises(SystemExit) as e:
        config(["--variant", "isolated", "--out", "x", "--erase", value])
    assert e.value.code == 2
    assert "--erase" in capsys.readouterr().err


def test_erase_probability_in_range_is_kept():
    from groupscale_train.__main__ import config
    assert config(["--variant", "isolated", "--out", "x", "--erase", "0.25"]).erase == 0.25
