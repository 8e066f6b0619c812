"""Incremental training of GroupAlexNet, exported for groupscale.

Stage s = 1..G trains only group s of every layer plus the head's W_s and b_s.
Groups < s are frozen (parameters and batch-norm statistics), so adding group s
never changes what k < s computes: the k-group network after stage s is the
k-group network after stage k.

Batch norm is used while training and folded into the conv weights and biases
at export, so the crate sees plain conv + bias + ReLU.

Usage (see train/README.md):
    python -m groupscale_train --variant cumulative --out models/groupalexnet-cumulative
    python train/train.py ...          (the same, without installing the package)
"""

import argparse
import sys

from .data import DATASETS
from .export import ExportMismatch
from .model import DEFAULT_WIDTHS
from .trainer import FreezeViolation, TrainConfig, train


def probability(text):
    """An argparse type: a float in [0, 1], refused at parse time (not at the
    first batch, minutes into a run)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1]")
    return value


def parser():
    p = argparse.ArgumentParser(prog="python -m groupscale_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["isolated", "cumulative"], required=True)
    p.add_argument("--out", required=True, help="path prefix: writes PREFIX.safetensors and PREFIX.fixture.safetensors")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="fashion-mnist",
                   help="fashion-mnist (IDX files) or cifar10 (python or binary batches; 3 input channels)")
    p.add_argument("--data", default=None,
                   help="data set directory (default for fashion-mnist: /usr/share/datasets/fashion-mnist)")
    p.add_argument("--widths", type=int, nargs=7, default=list(DEFAULT_WIDTHS),
                   metavar=("C1", "C2", "C3", "C4", "C5", "F6", "F7"))
    p.add_argument("--groups", type=int, default=4, help="G: groups per layer (must divide every width)")
    p.add_argument("--epochs", type=int, nargs="+", default=[6], help="epochs per stage (last value repeats)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--smoothing", type=float, default=0.1, help="label smoothing of the k = s loss")
    p.add_argument("--aux-weight", type=float, default=0.5, help="weight of group s's own classifier loss")
    p.add_argument("--reset-from-stage", type=int, default=0,
                   help="resume from a checkpoint, re-initialising groups >= this stage and training them again")
    p.add_argument("--tie-aux", action="store_true",
                   help="group s's auxiliary classifier uses its head slice W_s (an ensemble of groups)")
    p.add_argument("--ensemble", action="store_true",
                   help="--tie-aux, and the k = s loss on the groups' average logits: each group a whole classifier")
    p.add_argument("--joint", action="store_true",
                   help="train every group at once on the k = G loss and write PREFIX.teacher.pt")
    p.add_argument("--nested", action="store_true",
                   help="train every group at once on the loss at every k (k = G weighted as all k < G together), "
                        "then export: not the paper's incremental recipe (docs/training.md)")
    p.add_argument("--teacher", help="a PREFIX.teacher.pt to distil from (soft targets of its k = G logits)")
    p.add_argument("--distill-from-stage", type=int, default=2, help="first stage that distils")
    p.add_argument("--distill-weight", type=float, default=0.7, help="share of the soft-target loss")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--offline-teacher", action="store_true",
                   help="distil from the teacher's logits of the un-augmented training images, computed once "
                        "per run, instead of a teacher pass on every augmented batch (several times faster)")
    p.add_argument("--erase", type=probability, default=0.0,
                   help="random erasing: the probability that a training image has a rectangle blanked (0: off)")
    p.add_argument("--stop-after-stage", type=int, default=0, help="stop (checkpointed) after this stage")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke runs)")
    p.add_argument("--fixture", type=int, default=8, help="test images in the fixture")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                   help="a progress bar per epoch on stderr (auto: only on a terminal)")
    return p


def config(argv=None):
    """The TrainConfig for command-line arguments `argv` (default sys.argv)."""
    return TrainConfig(**vars(parser().parse_args(argv)))


def main(argv=None):
    cfg = config(argv)
    try:
        train(cfg)
    except (FreezeViolation, ExportMismatch) as e:
        raise SystemExit(str(e)) from e


if __name__ == "__main__":
    sys.exit(main())
