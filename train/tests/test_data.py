"""Data loaders on tiny synthetic files, augmentation, the progress bar."""

import io
import os
import pickle

import numpy as np
import pytest
import torch

import legacy_train
from conftest import tiny_config, write_fashion_dir
from groupscale_train import (CIFAR10_MEAN, CIFAR10_STD, MEAN, STD, Progress, augment, load_cifar10,
                              load_fashion, read_idx, train, write_idx)
from groupscale_train.data import load_cifar10_raw, random_erase


def test_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.gz", "a"):
        write_idx(tmp_path / name, a)
        assert np.array_equal(read_idx(str(tmp_path / name)), a)


def test_idx_rejects_other_files(tmp_path):
    (tmp_path / "x").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(str(tmp_path / "x"))


def test_fashion_is_padded_and_normalised_like_train_py(tmp_path):
    root = write_fashion_dir(tmp_path, n_train=5, n_test=3)
    for split in ("train", "test"):
        x, y = load_fashion(root, split)
        xo, yo = legacy_train.load_fashion(root, split)
        assert torch.equal(x, xo) and torch.equal(y, yo)
    x, y = load_fashion(root, "test")
    assert x.shape == (3, 1, 32, 32) and y.dtype == torch.int64
    # The two-pixel border is the normalised zero pixel.
    assert torch.allclose(x[:, :, :2], torch.tensor(-MEAN / STD))
    raw = read_idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"))
    torch.testing.assert_close(x[:, 0, 2:30, 2:30], (torch.from_numpy(raw.copy()).float() / 255 - MEAN) / STD)


def cifar_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def write_cifar_py(root, split_sizes, seed=0):
    d = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(d)
    arrays = {}
    for i, (name, n) in enumerate(split_sizes.items()):
        x, y = cifar_arrays(n, seed + i)
        arrays[name] = (x, y)
        with open(os.path.join(d, name), "wb") as f:
            pickle.dump({b"data": x.reshape(n, -1), b"labels": list(map(int, y))}, f)
    return arrays


def write_cifar_bin(root, arrays):
    for name, (x, y) in arrays.items():
        records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(y), -1)], 1)
        records.tofile(os.path.join(root, name + ".bin"))


def test_cifar10_python_and_binary_batches_agree(tmp_path):
    sizes = {f"data_batch_{i}": 2 for i in range(1, 6)}
    sizes["test_batch"] = 3
    arrays = write_cifar_py(str(tmp_path / "py"), sizes)
    os.makedirs(tmp_path / "bin")
    write_cifar_bin(str(tmp_path / "bin"), arrays)
    for split, n in (("train", 10), ("test", 3)):
        xp, yp = load_cifar10(str(tmp_path / "py"), split)
        xb, yb = load_cifar10(str(tmp_path / "bin"), split)
        assert xp.shape == (n, 3, 32, 32)
        assert torch.equal(xp, xb) and torch.equal(yp, yb)
    raw, _ = load_cifar10_raw(str(tmp_path / "py"), "test")
    x, _ = load_cifar10(str(tmp_path / "py"), "test")
    want = (torch.from_numpy(raw).float() / 255 - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x, want)


def test_cifar10_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 test split"):
        load_cifar10(str(tmp_path), "test")


def test_cifar10_training_runs(tmp_path):
    sizes = {f"data_batch_{i}": 4 for i in range(1, 6)}
    sizes["test_batch"] = 6
    write_cifar_py(str(tmp_path / "cifar"), sizes)
    model = train(tiny_config(tmp_path, dataset="cifar10", data=str(tmp_path / "cifar")))
    assert model.conv1.cin == 3
    assert os.path.exists(str(tmp_path / "m.safetensors"))
    assert torch.load(str(tmp_path / "m.ckpt.pt"))["arch"]["in_channels"] == 3


def test_augment_matches_train_py_and_keeps_shapes():
    x = torch.randn(6, 1, 32, 32)
    torch.manual_seed(0)
    a = augment(x)
    torch.manual_seed(0)
    b = legacy_train.augment(x)
    assert torch.equal(a, b)
    x3 = torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    out = augment(x3, background=[-1.0, -2.0, -3.0])
    assert out.shape == x3.shape
    # Whatever was shifted in holds the channel's background; the rest comes from x.
    for c, bg in enumerate([-1.0, -2.0, -3.0]):
        vals = out[:, c]
        from_x = torch.isin(vals, x3[:, c])
        assert torch.all(from_x | (vals == bg))


def test_random_erase_blanks_one_rectangle_per_chosen_image():
    x3 = torch.randn(64, 3, 32, 32)
    torch.manual_seed(2)
    out = random_erase(x3, 1.0, background=[-1.0, -2.0, -3.0])
    assert out.shape == x3.shape
    assert not torch.equal(out, x3)
    for i in range(len(x3)):
        changed = (out[i] != x3[i]).any(0)
        rows, cols = torch.nonzero(changed, as_tuple=True)
        # One rectangle: every changed pixel lies in the box they span, all of
        # it holds the channels' backgrounds, and it covers at most 40 % (plus
        # rounding) of the image.
        box = out[i, :, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        for c, bg in enumerate([-1.0, -2.0, -3.0]):
            assert torch.all(box[c] == bg)
        assert box[0].numel() <= 0.45 * 32 * 32
    assert torch.equal(random_erase(x3, 0.0), x3)
    with pytest.raises(ValueError, match="probability"):
        random_erase(x3, 1.5)


def test_progress_bar_is_silent_off_a_terminal_unless_asked():
    stream = io.StringIO()
    with Progress(3, "epoch", stream=stream) as bar:
        for _ in range(3):
            bar.update(1, loss=1.5)
    assert stream.getvalue() == ""
    stream = io.StringIO()
    with Progress(3, "epoch 1/1", enabled=True, stream=stream) as bar:
        for _ in range(3):
            bar.update(1, loss=1.5)
    text = stream.getvalue()
    assert text.count("\n") == 1 and "epoch 1/1" in text and "3/3" in text and "loss=1.5" in text


def test_progress_bar_redraws_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    with Progress(2, "stage 1", stream=stream, interval=0) as bar:
        bar.update(1)
        bar.update(1)
    text = stream.getvalue()
    assert "\r" in text and "2/2" in text and text.endswith("\r\x1b[K")
