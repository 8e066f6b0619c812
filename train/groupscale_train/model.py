"""GroupAlexNet: AlexNet shaped for 32x32 inputs, every layer after the input
split into G groups, of which the first k run.

Module and parameter names are those of the original train/train.py, so its
checkpoints load unchanged: conv1..conv5 `.convs.N` / `.norms.N`, fc6 and fc7
`.fcs.N`, `head_w.N`, `head_b.N` and `aux.N`.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import GroupedConv, GroupedLinear, GroupHead, check_groups, check_k, head_logits

VARIANTS = ("isolated", "cumulative")
DEFAULT_WIDTHS = (64, 192, 384, 256, 256, 512, 512)


class GroupAlexNet(nn.Module):
    """conv1 (full) and conv2..fc7 (`variant`), then the per-group head.

    widths: (C1, C2, C3, C4, C5, F6, F7); G must divide each of them."""

    def __init__(self, variant, widths, groups=4, classes=10, in_channels=1):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}: expected one of " + ", ".join(VARIANTS)
                             + " (conv1 is always full)")
        groups = check_groups(groups)
        widths = list(widths)
        if len(widths) != 7:
            raise ValueError(f"widths must be 7 numbers (C1 C2 C3 C4 C5 F6 F7), got {len(widths)}")
        for name, w in zip(("C1", "C2", "C3", "C4", "C5", "F6", "F7"), widths):
            if w % groups != 0:
                raise ValueError(f"G = {groups} does not divide width {name} = {w}")
        c1, c2, c3, c4, c5, f6, f7 = widths
        self.groups, self.variant, self.widths = groups, variant, widths
        self.conv1 = GroupedConv(in_channels, c1, 5, 2, groups, "full")
        self.conv2 = GroupedConv(c1, c2, 5, 2, groups, variant)
        self.conv3 = GroupedConv(c2, c3, 3, 1, groups, variant)
        self.conv4 = GroupedConv(c3, c4, 3, 1, groups, variant)
        self.conv5 = GroupedConv(c4, c5, 3, 1, groups, variant)
        self.fc6 = GroupedLinear(c5 * 16, f6, groups, variant)
        self.fc7 = GroupedLinear(f6, f7, groups, variant)
        head = GroupHead(f7, classes, groups)
        self.head_w = head.weights
        self.head_b = head.biases
        self.dropout = nn.Dropout(0.3)
        # Training only (never exported): a classifier on each group's own
        # fc7 features. Without it a new group, added to frozen groups that
        # already fit the data, gets little gradient and learns little.
        self.aux = nn.ModuleList([nn.Linear(f7 // groups, classes) for _ in range(groups)])
        self.tie_aux = False
        # Training only: the k = s loss sees the groups' average logit, not
        # their sum (see forward_stage).
        self.average_logits = False

    @property
    def head(self):
        """The head as a GroupHead sharing this model's `head_w` / `head_b`."""
        return GroupHead(self.fc7.fout, self.head_w[0].shape[0], self.groups,
                         weights=self.head_w, biases=self.head_b)

    def group_params(self, j):
        """Group j's trainable parameters (its slice of every layer, its aux
        classifier, W_j and b_{j+1}) and the modules holding them."""
        mods = [self.conv1.convs[j], self.conv1.norms[j], self.conv2.convs[j], self.conv2.norms[j],
                self.conv3.convs[j], self.conv3.norms[j], self.conv4.convs[j], self.conv4.norms[j],
                self.conv5.convs[j], self.conv5.norms[j], self.fc6.fcs[j], self.fc7.fcs[j]]
        params = [p for m in mods for p in m.parameters()]
        mods.append(self.aux[j])
        return params + list(self.aux[j].parameters()) + [self.head_w[j], self.head_b[j]], mods

    def _layers(self):
        return [("conv", self.conv1, True), ("conv", self.conv2, True), ("conv", self.conv3, False),
                ("conv", self.conv4, False), ("conv", self.conv5, True),
                ("fc", self.fc6, False), ("fc", self.fc7, False)]

    def features(self, x, k, frozen=None):
        """Activations of groups 0..k-1, one tensor per layer. `frozen` holds
        the (detached) activations of groups 0..k-2 per layer, computed
        without gradients; then only group k-1 is computed."""
        k = check_k(k, self.groups)
        acts = []
        h = x
        first = 0 if frozen is None else k - 1
        for li, (kind, layer, pool) in enumerate(self._layers()):
            if kind == "fc" and h.dim() == 4:
                h = h.flatten(1)
            outs = [] if frozen is None else [frozen[li]]
            for j in range(first, k):
                y = layer.forward_group(h, j)
                if pool:
                    y = F.max_pool2d(y, 2)
                if kind == "fc":
                    y = self.dropout(y)
                outs.append(y)
            h = torch.cat(outs, 1)
            acts.append(h)
        return acts

    def logits_from(self, h, k):
        """The head at k on fc7's k-group output h."""
        k = check_k(k, self.groups)
        return head_logits(h, self.head_w, self.head_b, k)

    def forward(self, x, k):
        k = check_k(k, self.groups)
        return self.logits_from(self.features(x, k)[-1], k)

    def forward_stage(self, x, s):
        """Training forward for stage s, groups < s under no_grad: the
        k = s logits, and group s's auxiliary logits."""
        s = check_k(s, self.groups)
        if s == 1:
            h = self.features(x, 1)[-1]
        else:
            with torch.no_grad():
                frozen = self.features(x, s - 1)
            # Every layer of group s reads frozen activations of the groups
            # before it.
            h = self.features(x, s, frozen=frozen)[-1]
        per = h.shape[1] // s
        own = h[:, (s - 1) * per:]
        if self.tie_aux:
            # Group s's own classifier is its head slice W_s: the exported
            # logits then add up k whole classifiers (an ensemble, whose
            # argmax is the average's) instead of one classifier and k - 1
            # residual corrections.
            aux = own @ self.head_w[s - 1].t() + self.aux[s - 1].bias
        else:
            aux = self.aux[s - 1](own)
        logits = self.logits_from(h, s)
        if self.average_logits:
            # With tied classifiers each group's logits are full-scale, so
            # their sum grows with s; a loss on the sum (label smoothing
            # most of all) then pushes group s to cancel the frozen groups'
            # confidence instead of adding its own evidence. The average
            # keeps the scale of one classifier. Its argmax is the sum's, so
            # the export (the sum, plus b_s) classifies identically.
            logits = logits / s
        return logits, aux
