"""Grouped layers: a layer split into G groups of output channels (or
features), of which the first k run.

Group j of a layer reads the input channels its connectivity gives it,
exactly as groupscale's `GroupLayout` does:

- ``full``: every input channel (conv1, which reads the image);
- ``isolated``: input group j only (block-diagonal);
- ``cumulative``: input groups 0..=j (block lower-triangular).

So the first k groups of a layer read only the first k groups of its input,
and a network of such layers can run any first k groups.
"""

import math
import operator

import torch
import torch.nn as nn
import torch.nn.functional as F

CONNECTIVITIES = ("full", "isolated", "cumulative")


def _positive(name, value):
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def check_groups(groups):
    """G as an int >= 1, or a ValueError."""
    return _positive("groups (G)", groups)


def check_k(k, groups):
    """k as an int in 1..=G, or a ValueError."""
    if isinstance(k, bool):
        raise ValueError(f"k must be an integer in 1..={groups}, not {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise ValueError(f"k must be an integer in 1..={groups}, not {k!r}") from None
    if not 1 <= k <= groups:
        raise ValueError(f"k = {k} is out of range: k must be in 1..={groups} (G = {groups})")
    return k


def check_connectivity(connectivity):
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"unknown connectivity {connectivity!r}: expected one of "
                         + ", ".join(CONNECTIVITIES))
    return connectivity


def _check_divides(groups, what, n):
    if n % groups != 0:
        raise ValueError(f"G = {groups} does not divide {what} = {n}")


def group_rows(connectivity, n_in, groups, j):
    """The input channels (features) group j reads, as a range."""
    if connectivity == "full":
        return range(0, n_in)
    per = n_in // groups
    if connectivity == "isolated":
        return range(j * per, (j + 1) * per)
    if connectivity == "cumulative":
        return range(0, (j + 1) * per)
    raise ValueError(f"unknown connectivity {connectivity!r}")


class _Grouped(nn.Module):
    """What grouped convs and linears share: sizes, connectivity, checks."""

    def _setup(self, n_in, n_out, groups, connectivity, in_name, out_name):
        check_connectivity(connectivity)
        groups = check_groups(groups)
        n_in = _positive(in_name, n_in)
        n_out = _positive(out_name, n_out)
        _check_divides(groups, out_name, n_out)
        if connectivity != "full":
            _check_divides(groups, f"{in_name} of a {connectivity} layer", n_in)
        return n_in, n_out, groups

    def _check_group(self, j):
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < self.groups:
            raise ValueError(f"group index j = {j!r} is out of range 0..{self.groups - 1}")

    def _check_input(self, x, j, n_in):
        rows = self.group_inputs(j)
        have = x.shape[1]
        if self.connectivity == "full":
            ok = have == n_in
        else:
            per = n_in // self.groups
            ok = have >= rows.stop and have % per == 0 and have <= n_in
        if not ok:
            raise ValueError(f"input has {have} channels/features; group {j} of this "
                             f"{self.connectivity} layer ({n_in} in, G = {self.groups}) "
                             f"reads {rows.start}..{rows.stop}")
        return rows

    def forward(self, x, k):
        """The first k groups' outputs, concatenated."""
        k = check_k(k, self.groups)
        return torch.cat([self.forward_group(x, j) for j in range(k)], 1)


class GroupedConv(_Grouped):
    """One conv layer as G per-group convs, each followed by batch norm and
    ReLU; group j reads the input channels its connectivity gives it."""

    def __init__(self, cin, cout, kernel, padding, groups, connectivity):
        super().__init__()
        cin, cout, groups = self._setup(cin, cout, groups, connectivity, "in_channels", "out_channels")
        self.cin, self.cout, self.groups = cin, cout, groups
        self.kernel, self.padding, self.connectivity = kernel, padding, connectivity
        og = cout // groups
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for j in range(groups):
            rows = self.group_inputs(j)
            self.convs.append(nn.Conv2d(rows.stop - rows.start, og, kernel, padding=padding, bias=False))
            self.norms.append(nn.BatchNorm2d(og))

    def group_inputs(self, j):
        return group_rows(self.connectivity, self.cin, self.groups, j)

    def forward_group(self, x, j):
        self._check_group(j)
        rows = self._check_input(x, j, self.cin)
        y = self.convs[j](x[:, rows.start:rows.stop])
        return F.relu(self.norms[j](y))

    def folded(self, j):
        """Group j's conv with its batch norm (running statistics) folded
        in: (weight, bias), detached."""
        self._check_group(j)
        conv, bn = self.convs[j], self.norms[j]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = conv.weight * scale.view(-1, 1, 1, 1)
        b = bn.bias - bn.running_mean * scale
        return w.detach(), b.detach()


class GroupedLinear(_Grouped):
    """One fully connected layer as G per-group linears, each followed by
    ReLU; group j reads the input features its connectivity gives it."""

    def __init__(self, fin, fout, groups, connectivity):
        super().__init__()
        fin, fout, groups = self._setup(fin, fout, groups, connectivity, "in_features", "out_features")
        self.fin, self.fout, self.groups, self.connectivity = fin, fout, groups, connectivity
        og = fout // groups
        self.fcs = nn.ModuleList()
        for j in range(groups):
            rows = self.group_inputs(j)
            self.fcs.append(nn.Linear(rows.stop - rows.start, og))

    def group_inputs(self, j):
        return group_rows(self.connectivity, self.fin, self.groups, j)

    def forward_group(self, x, j):
        self._check_group(j)
        rows = self._check_input(x, j, self.fin)
        return F.relu(self.fcs[j](x[:, rows.start:rows.stop]))


def head_logits(h, weights, biases, k):
    """logits_k = sum_{j<k} h_j W_j^T + b_k, where h_j is the j-th of the k
    equal slices of h's features."""
    per = h.shape[1] // k
    out = biases[k - 1]
    for j in range(k):
        out = out + h[:, j * per:(j + 1) * per] @ weights[j].t()
    return out


class GroupHead(nn.Module):
    """The per-group classifier: one weight slice W_j (classes x F/G) per
    group and one bias b_k per active group count k.

    GroupAlexNet keeps the parameters as its own `head_w` / `head_b` (the
    checkpoints' names) and wraps them in a GroupHead on demand; pass them as
    `weights` / `biases` to share them."""

    def __init__(self, features, classes, groups, weights=None, biases=None):
        super().__init__()
        groups = check_groups(groups)
        features = _positive("features", features)
        classes = _positive("classes", classes)
        _check_divides(groups, "head features", features)
        self.features, self.classes, self.groups = features, classes, groups
        per = features // groups
        if weights is None:
            weights = nn.ParameterList(
                [nn.Parameter(torch.randn(classes, per) * math.sqrt(1.0 / per)) for _ in range(groups)])
        if biases is None:
            biases = nn.ParameterList([nn.Parameter(torch.zeros(classes)) for _ in range(groups)])
        if len(weights) != groups or len(biases) != groups:
            raise ValueError(f"a head of G = {groups} needs {groups} weight slices and biases, "
                             f"got {len(weights)} and {len(biases)}")
        self.weights, self.biases = weights, biases

    def forward(self, h, k):
        k = check_k(k, self.groups)
        if h.shape[1] != k * (self.features // self.groups):
            raise ValueError(f"the head at k = {k} reads {k * (self.features // self.groups)} "
                             f"features, got {h.shape[1]}")
        return head_logits(h, self.weights, self.biases, k)
