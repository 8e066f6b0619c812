"""Data sets as normalised N x C x 32 x 32 float tensors, and augmentation.

The normalisation (pixels / 255, zero-padded to 32x32, then (x - mean) / std
per channel) is what groupscale's loader applies to raw images, with the
mean and std stored in the model file.
"""

import gzip
import math
import os
import pickle
import struct
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
# Pixels are scaled to [0, 1], zero-padded from 28x28 to 32x32, then
# normalised with these (the Fashion-MNIST training-set statistics of the
# padded images). The same numbers go into the model file for the loader.
MEAN, STD = 0.2214, 0.3312

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
# Per-channel (R, G, B) mean and standard deviation of CIFAR-10's 50,000
# training images scaled to [0, 1].
CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR10_STD = [0.2470, 0.2435, 0.2616]


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set puts into the model file and what the model reads."""
    key: str            # the --dataset value
    title: str          # training.dataset in the model file
    channels: int
    classes: list
    mean: list          # one value, or one per channel
    std: list
    preprocess: str
    default_root: str   # "" when there is no usual place

    def load(self, root, split):
        return LOADERS[self.key](root, split)

    def background(self):
        """The normalised value of a zero pixel, per channel (what padding
        and shifted-in borders hold)."""
        if len(self.mean) == 1:
            return -self.mean[0] / self.std[0]
        return [-m / s for m, s in zip(self.mean, self.std)]


DATASETS = {
    "fashion-mnist": DatasetInfo(
        key="fashion-mnist", title="Fashion-MNIST", channels=1, classes=FASHION_CLASSES,
        mean=[MEAN], std=[STD],
        preprocess="pixels/255, zero-pad 28x28 to 32x32 centred, then (x-mean)/std",
        default_root="/usr/share/datasets/fashion-mnist"),
    "cifar10": DatasetInfo(
        key="cifar10", title="CIFAR-10", channels=3, classes=CIFAR10_CLASSES,
        mean=CIFAR10_MEAN, std=CIFAR10_STD,
        preprocess="pixels/255 per RGB plane, then (x-mean[c])/std[c]",
        default_root=""),
}


def dataset_info(key):
    try:
        return DATASETS[key]
    except KeyError:
        raise ValueError(f"unknown dataset {key!r}: expected one of " + ", ".join(DATASETS)) from None


# ---------------------------------------------------------------- Fashion-MNIST

def read_idx(path):
    """An IDX file (gzipped when its name ends in .gz) as a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX file")
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#010x})")
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path, array):
    """Writes a uint8 array as a (gzipped, for .gz names) IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _idx_path(root, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no {name}[.gz] in {root}")


def load_fashion(root, split):
    """Fashion-MNIST's `split` ("train" or "test"): N x 1 x 32 x 32, padded
    and normalised, and the labels (int64)."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_idx_path(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_idx_path(root, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = F.pad(x, (2, 2, 2, 2)).unsqueeze(1)  # N,1,32,32
    x = (x - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------- CIFAR-10

def _cifar_dir(root, suffix):
    for sub in ("", f"cifar-10-batches-{suffix}"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            name = "test_batch.bin" if suffix == "bin" else "test_batch"
            if os.path.exists(os.path.join(d, name)):
                return d
    return None


def _cifar_files(split, ext):
    if split == "train":
        return [f"data_batch_{i}{ext}" for i in range(1, 6)]
    return [f"test_batch{ext}"]


def load_cifar10_raw(root, split):
    """CIFAR-10's `split` as uint8 N x 3 x 32 x 32 and labels, from the
    python version (pickled batches, `cifar-10-batches-py/`) or the binary
    version (`cifar-10-batches-bin/`, records of a label byte and 3072 pixel
    bytes) in `root` or the usual subdirectory of it."""
    d = _cifar_dir(root, "py")
    if d is not None and all(os.path.exists(os.path.join(d, n)) for n in _cifar_files(split, "")):
        images, labels = [], []
        for name in _cifar_files(split, ""):
            with open(os.path.join(d, name), "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)
    d = _cifar_dir(root, "bin")
    if d is not None and all(os.path.exists(os.path.join(d, n)) for n in _cifar_files(split, ".bin")):
        records = []
        for name in _cifar_files(split, ".bin"):
            raw = np.fromfile(os.path.join(d, name), dtype=np.uint8)
            if raw.size % 3073 != 0:
                raise ValueError(f"{name}: {raw.size} bytes is not a whole number of 3073-byte records")
            records.append(raw.reshape(-1, 3073))
        records = np.concatenate(records)
        labels = records[:, 0].astype(np.int64)
        if (labels >= 10).any():
            raise ValueError(f"CIFAR-10 {split}: a label is not a class (>= 10)")
        return records[:, 1:].reshape(-1, 3, 32, 32), labels
    raise FileNotFoundError(
        f"no CIFAR-10 {split} split in {root}: expected the python batches "
        f"({', '.join(_cifar_files(split, ''))}) or the binary ones "
        f"({', '.join(_cifar_files(split, '.bin'))}), there or in cifar-10-batches-py/ or -bin/")


def load_cifar10(root, split):
    """CIFAR-10's `split`: N x 3 x 32 x 32 normalised per channel, and labels."""
    images, labels = load_cifar10_raw(root, split)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(labels)


LOADERS = {"fashion-mnist": load_fashion, "cifar10": load_cifar10}


# ---------------------------------------------------------------- augmentation

def augment(x, background=-MEAN / STD):
    """Random shifts of up to 2 pixels and horizontal flips. `background`
    (the normalised zero pixel: a number, or one per channel) fills what
    shifts in."""
    n = x.shape[0]
    if isinstance(background, (int, float)):
        padded = F.pad(x, (2, 2, 2, 2), value=background)
    else:
        fill = torch.as_tensor(background, dtype=x.dtype).view(1, -1, 1, 1)
        padded = fill.expand(n, x.shape[1], x.shape[2] + 4, x.shape[3] + 4).clone()
        padded[:, :, 2:-2, 2:-2] = x
    dx = torch.randint(0, 5, (n,))
    dy = torch.randint(0, 5, (n,))
    idx_y = (dy.view(n, 1) + torch.arange(32).view(1, 32))  # n,32
    idx_x = (dx.view(n, 1) + torch.arange(32).view(1, 32))
    rows = padded[torch.arange(n).view(n, 1), :, idx_y]  # n,32,C,40
    rows = rows.permute(0, 2, 1, 3)  # n,C,32,40
    out = torch.gather(rows, 3, idx_x.view(n, 1, 1, 32).expand(-1, rows.shape[1], 32, -1))
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def random_erase(x, probability, background=-MEAN / STD):
    """Random erasing (Zhong et al., 2017): with `probability`, one rectangle
    of each image, 2-40 % of its area with an aspect ratio between 0.3 and
    3.3, is set to `background` (the normalised zero pixel, as `augment`
    fills). A regulariser for training sets a network fits completely: on
    Fashion-MNIST an eighth-width GroupAlexNet reaches the floor of the
    label-smoothed loss, which leaves the later groups nothing to learn.
    Returns a new tensor; `probability` 0 returns `x` unchanged."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"the erasing probability must be in [0, 1], not {probability}")
    if probability == 0.0:
        return x
    n, c, h, w = x.shape
    out = x.clone()
    fill = torch.as_tensor(background, dtype=x.dtype).view(-1, 1, 1).expand(c, 1, 1)
    area = torch.empty(n).uniform_(0.02, 0.4) * h * w
    log_ratio = torch.empty(n).uniform_(math.log(0.3), math.log(1 / 0.3))
    ratio = log_ratio.exp()
    eh = (area * ratio).sqrt().round().long().clamp(1, h)
    ew = (area / ratio).sqrt().round().long().clamp(1, w)
    erase = torch.rand(n) < probability
    for i in torch.nonzero(erase).flatten().tolist():
        top = int(torch.randint(0, h - int(eh[i]) + 1, ()))
        left = int(torch.randint(0, w - int(ew[i]) + 1, ()))
        out[i, :, top:top + int(eh[i]), left:left + int(ew[i])] = fill
    return out
