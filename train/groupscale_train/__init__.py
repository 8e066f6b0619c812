"""groupscale_train: GroupAlexNet for groupscale, trained group by group.

Define a model, train it incrementally (stage s trains group s only, earlier
groups frozen), export it to the crate's safetensors model file, and run it
with `groupscale` at any k:

    from groupscale_train import GroupAlexNet, TrainConfig, train
    cfg = TrainConfig(variant="isolated", out="target/train/m", groups=4, epochs=[6])
    model = train(cfg)        # writes m.ckpt.pt, m.safetensors, m.fixture.safetensors

`python -m groupscale_train --help` (or train/train.py) is the command line.
"""

from .data import (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, DATASETS, FASHION_CLASSES, MEAN, STD,
                   DatasetInfo, augment, dataset_info, load_cifar10, load_fashion, read_idx, write_idx)
from .export import (ExportMismatch, build_tensors, check_export, export, read_model_file,
                     reference_logits, write_fixture)
from .layers import (CONNECTIVITIES, GroupedConv, GroupedLinear, GroupHead, check_k, group_rows,
                     head_logits)
from .model import DEFAULT_WIDTHS, VARIANTS, GroupAlexNet
from .progress import Progress
from .trainer import (FreezeViolation, TrainConfig, check_frozen, distill_loss, evaluate, load_data,
                      load_teacher, probe_logits, reset_groups, set_stage, train, train_incremental,
                      train_joint)

__version__ = "0.1.0"

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "CONNECTIVITIES", "DATASETS", "DEFAULT_WIDTHS",
    "FASHION_CLASSES", "MEAN", "STD", "VARIANTS", "DatasetInfo", "ExportMismatch", "FreezeViolation",
    "GroupAlexNet", "GroupHead", "GroupedConv", "GroupedLinear", "Progress", "TrainConfig", "augment",
    "build_tensors", "check_export", "check_frozen", "check_k", "dataset_info", "distill_loss", "evaluate",
    "export", "group_rows", "head_logits", "load_cifar10", "load_data", "load_fashion", "load_teacher",
    "probe_logits", "read_idx", "read_model_file", "reference_logits", "reset_groups", "set_stage", "train",
    "train_incremental", "train_joint", "write_fixture", "write_idx",
]
