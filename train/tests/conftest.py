"""Shared helpers: tiny synthetic data and configurations, so that every
test runs in seconds on a CPU. The package is imported from train/ even when
it is not installed."""

import os
import sys

import numpy as np
import pytest
import torch

TRAIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAIN_DIR not in sys.path:
    sys.path.insert(0, TRAIN_DIR)
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from groupscale_train import TrainConfig, write_idx  # noqa: E402

WIDTHS = [8, 8, 8, 8, 8, 16, 16]


def images(n, channels=1, seed=0):
    """n random normalised-looking images, N x C x 32 x 32."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, 32, 32, generator=g)


def labels(n, seed=0, classes=10):
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.randint(0, classes, (n,), generator=g)


def tiny_data(n_train=32, n_test=16, channels=1, seed=0):
    return (images(n_train, channels, seed), labels(n_train, seed),
            images(n_test, channels, seed + 1), labels(n_test, seed + 1))


def tiny_config(tmp_path, **kw):
    opts = dict(variant="isolated", out=str(tmp_path / "m"), groups=2, widths=list(WIDTHS), epochs=[1],
                batch=8, progress="off", fixture=4, freeze_probe=8)
    opts.update(kw)
    return TrainConfig(**opts)


def write_fashion_dir(path, n_train=48, n_test=16, seed=0):
    """A Fashion-MNIST-shaped directory of gzipped IDX files with random
    28 x 28 images; returns the path."""
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(os.path.join(path, f"{prefix}-images-idx3-ubyte.gz"),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(os.path.join(path, f"{prefix}-labels-idx1-ubyte.gz"),
                  rng.integers(0, 10, (n,), dtype=np.uint8))
    return str(path)


@torch.no_grad()
def randomize(model, seed=0, head_scale=4.0):
    """Non-trivial batch-norm statistics and affine parameters (so folding
    matters) and a larger head (so logits spread)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    for w in model.head_w:
        w.mul_(head_scale)
    for b in model.head_b:
        b.copy_(torch.randn(b.shape, generator=g) * 0.1)
    model.eval()
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    # The trainers set the thread count; keep tests alike and reproducible.
    torch.set_num_threads(1)
    yield
