#!/usr/bin/env python3
"""Incremental training of GroupAlexNet, exported for groupscale.

Stage s = 1..G trains only group s of every layer plus the head's W_s and b_s.
Groups < s are frozen (parameters and batch-norm statistics), so adding group s
never changes what k < s computes: the k-group network after stage s is the
k-group network after stage k.

Batch norm is used while training and folded into the conv weights and biases
at export, so the crate sees plain conv + bias + ReLU.

The code is the groupscale_train package next to this file (train/
groupscale_train/); this script runs its command line without installing it,
exactly as `python -m groupscale_train` does.

Usage (see train/README.md):
    python train/train.py --variant cumulative --out models/groupalexnet-cumulative
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from groupscale_train.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main()
