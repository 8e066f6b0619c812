# The original train/train.py, verbatim from commit c0b131b (before it became
# the groupscale_train package). The tests use it as an oracle: the package
# must build, train and export exactly what this did. Do not edit.
"""Incremental training of GroupAlexNet, exported for groupscale.

Stage s = 1..G trains only group s of every layer plus the head's W_s and b_s.
Groups < s are frozen (parameters and batch-norm statistics), so adding group s
never changes what k < s computes: the k-group network after stage s is the
k-group network after stage k.

Batch norm is used while training and folded into the conv weights and biases
at export, so the crate sees plain conv + bias + ReLU.

Usage (see train/README.md):
    python train/train.py --variant cumulative --out models/groupalexnet-cumulative
"""

import argparse
import gzip
import json
import math
import os
import re
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
# Pixels are scaled to [0, 1], zero-padded from 28x28 to 32x32, then
# normalised with these (the Fashion-MNIST training-set statistics of the
# padded images). The same numbers go into the model file for the loader.
MEAN, STD = 0.2214, 0.3312


# ---------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion(root, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = F.pad(x, (2, 2, 2, 2)).unsqueeze(1)  # N,1,32,32
    x = (x - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x):
    """Random shifts of up to 2 pixels and horizontal flips."""
    n = x.shape[0]
    background = -MEAN / STD
    padded = F.pad(x, (2, 2, 2, 2), value=background)
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


# ---------------------------------------------------------------- model

class GroupedConv(nn.Module):
    """One conv layer as G per-group convs; group j reads the input channels
    its connectivity gives it, exactly as groupscale's GroupLayout does."""

    def __init__(self, cin, cout, kernel, padding, groups, connectivity):
        super().__init__()
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
        g = self.groups
        if self.connectivity == "full":
            return range(0, self.cin)
        per = self.cin // g
        if self.connectivity == "isolated":
            return range(j * per, (j + 1) * per)
        return range(0, (j + 1) * per)

    def forward_group(self, x, j):
        rows = self.group_inputs(j)
        y = self.convs[j](x[:, rows.start:rows.stop])
        return F.relu(self.norms[j](y))

    def folded(self, j):
        """Group j's conv with its batch norm folded in: (weight, bias)."""
        conv, bn = self.convs[j], self.norms[j]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = conv.weight * scale.view(-1, 1, 1, 1)
        b = bn.bias - bn.running_mean * scale
        return w.detach(), b.detach()


class GroupedLinear(nn.Module):
    def __init__(self, fin, fout, groups, connectivity):
        super().__init__()
        self.fin, self.fout, self.groups, self.connectivity = fin, fout, groups, connectivity
        og = fout // groups
        self.fcs = nn.ModuleList()
        for j in range(groups):
            rows = self.group_inputs(j)
            self.fcs.append(nn.Linear(rows.stop - rows.start, og))

    def group_inputs(self, j):
        per = self.fin // self.groups
        if self.connectivity == "isolated":
            return range(j * per, (j + 1) * per)
        return range(0, (j + 1) * per)

    def forward_group(self, x, j):
        rows = self.group_inputs(j)
        per = self.fin // self.groups
        assert x.shape[1] >= rows.stop and x.shape[1] % per == 0, "fc input does not match its layer"
        return F.relu(self.fcs[j](x[:, rows.start:rows.stop]))


class GroupAlexNet(nn.Module):
    def __init__(self, variant, widths, groups=4, classes=10, in_channels=1):
        super().__init__()
        c1, c2, c3, c4, c5, f6, f7 = widths
        self.groups, self.variant, self.widths = groups, variant, widths
        self.conv1 = GroupedConv(in_channels, c1, 5, 2, groups, "full")
        self.conv2 = GroupedConv(c1, c2, 5, 2, groups, variant)
        self.conv3 = GroupedConv(c2, c3, 3, 1, groups, variant)
        self.conv4 = GroupedConv(c3, c4, 3, 1, groups, variant)
        self.conv5 = GroupedConv(c4, c5, 3, 1, groups, variant)
        self.fc6 = GroupedLinear(c5 * 16, f6, groups, variant)
        self.fc7 = GroupedLinear(f6, f7, groups, variant)
        self.head_w = nn.ParameterList(
            [nn.Parameter(torch.randn(classes, f7 // groups) * math.sqrt(1.0 / (f7 // groups)))
             for _ in range(groups)])
        self.head_b = nn.ParameterList([nn.Parameter(torch.zeros(classes)) for _ in range(groups)])
        self.dropout = nn.Dropout(0.3)
        # Training only (never exported): a classifier on each group's own
        # fc7 features. Without it a new group, added to frozen groups that
        # already fit the data, gets little gradient and learns little.
        self.aux = nn.ModuleList([nn.Linear(f7 // groups, classes) for _ in range(groups)])
        self.tie_aux = False

    def group_params(self, j):
        mods = [self.conv1.convs[j], self.conv1.norms[j], self.conv2.convs[j], self.conv2.norms[j],
                self.conv3.convs[j], self.conv3.norms[j], self.conv4.convs[j], self.conv4.norms[j],
                self.conv5.convs[j], self.conv5.norms[j], self.fc6.fcs[j], self.fc7.fcs[j]]
        params = [p for m in mods for p in m.parameters()]
        mods.append(self.aux[j])
        return params + list(self.aux[j].parameters()) + [self.head_w[j], self.head_b[j]], mods

    def features(self, x, k, frozen=None):
        """Activations of groups 0..k-1. `frozen` holds the (detached)
        activations of groups 0..k-2 per layer, computed without gradients."""
        acts = []
        layers = [("conv", self.conv1, True), ("conv", self.conv2, True), ("conv", self.conv3, False),
                  ("conv", self.conv4, False), ("conv", self.conv5, True),
                  ("fc", self.fc6, False), ("fc", self.fc7, False)]
        h = x
        first = 0 if frozen is None else k - 1
        for li, (kind, layer, pool) in enumerate(layers):
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
        per = h.shape[1] // k
        out = self.head_b[k - 1]
        for j in range(k):
            out = out + h[:, j * per:(j + 1) * per] @ self.head_w[j].t()
        return out

    def forward(self, x, k):
        return self.logits_from(self.features(x, k)[-1], k)

    def forward_stage(self, x, s):
        """Training forward for stage s, groups < s under no_grad: the
        k = s logits, and group s's auxiliary logits."""
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
        return self.logits_from(h, s), aux


# ---------------------------------------------------------------- training

def set_stage(model, s):
    for p in model.parameters():
        p.requires_grad_(False)
    params, mods = model.group_params(s - 1)
    for p in params:
        p.requires_grad_(True)
    model.eval()  # frozen groups: batch norm uses and keeps running stats
    for m in mods:
        m.train()
    model.dropout.train()
    return params


@torch.no_grad()
def evaluate(model, x, y, k, batch=1000):
    model.eval()
    correct, conf = 0, 0.0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch], k)
        p = logits.softmax(1)
        correct += (p.argmax(1) == y[i:i + batch]).sum().item()
        conf += p.gather(1, y[i:i + batch].view(-1, 1)).sum().item()
    return correct / len(x), conf / len(x)


def reset_groups(model, args, first):
    """Re-initialises groups >= `first` (0-based) as a fresh model would."""
    torch.manual_seed(args.seed + first)
    fresh = GroupAlexNet(args.variant, args.widths, groups=args.groups).state_dict()
    state = model.state_dict()
    pattern = re.compile(r"(?:convs|norms|fcs|head_w|head_b|aux)\.(\d+)")
    for key in state:
        m = pattern.search(key)
        if m and int(m.group(1)) >= first:
            state[key] = fresh[key]
    model.load_state_dict(state)


def arch(args):
    return dict(variant=args.variant, widths=list(args.widths), groups=args.groups)


def load_teacher(path):
    """A jointly trained network (written by --joint) in eval mode, frozen."""
    state = torch.load(path)
    a = state["arch"]
    teacher = GroupAlexNet(a["variant"], a["widths"], groups=a["groups"])
    teacher.load_state_dict(state["model"])
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def distill_loss(student_logits, teacher_logits, temperature):
    """Hinton et al.'s soft-target term, scaled by T^2 so that its gradient
    keeps the hard-label term's size as T changes."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.softmax(teacher_logits / t, 1),
                    reduction="batchmean") * t * t


def train_joint(args):
    """The whole network, every group at once, trained on the k = G loss: the
    teacher for distillation, and the ceiling incremental training aims at."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr = load_fashion(args.data, "train")
    xte, yte = load_fashion(args.data, "test")
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    model = GroupAlexNet(args.variant, args.widths, groups=args.groups)
    g = model.groups
    params = [p for n, p in model.named_parameters() if not n.startswith("aux.")]
    epochs = args.epochs[0]
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * math.ceil(len(xtr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    # Resumable epoch by epoch: a teacher takes hours on two cores, longer
    # than one working session.
    ckpt = args.out + ".teacher-ckpt.pt"
    first_epoch, log, spent = 0, [], 0.0
    if os.path.exists(ckpt) and not args.restart:
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        first_epoch, log, spent = state["epoch"], state["log"], state["seconds"]
        print(f"resumed after epoch {first_epoch}", flush=True)
    t0 = time.time() - spent
    for epoch in range(first_epoch, epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        te = time.time()
        total, seen = 0.0, 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i:i + args.batch]
            loss = F.cross_entropy(model(augment(xtr[idx]), g), ytr[idx], label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        acc, conf = evaluate(model, xte, yte, g)
        line = dict(joint=True, epoch=epoch + 1, loss=total / seen, test_acc=acc, test_conf=conf,
                    epoch_s=time.time() - te, elapsed_s=time.time() - t0)
        log.append(line)
        print(json.dumps(line), flush=True)
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        rng=torch.get_rng_state(), epoch=epoch + 1, log=log,
                        seconds=time.time() - t0, arch=arch(args)), ckpt)
    path = args.out + ".teacher.pt"
    torch.save(dict(model=model.state_dict(), log=log, arch=arch(args)), path)
    print(f"wrote {path}", flush=True)


def train(args):
    if args.joint:
        return train_joint(args)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr = load_fashion(args.data, "train")
    xte, yte = load_fashion(args.data, "test")
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    model = GroupAlexNet(args.variant, args.widths, groups=args.groups)
    model.tie_aux = args.tie_aux
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    ckpt = args.out + ".ckpt.pt"
    start_stage = 1
    log = []
    if os.path.exists(ckpt) and not args.restart:
        state = torch.load(ckpt)
        # Checkpoints from before the auxiliary classifiers lack them.
        model.load_state_dict(state["model"], strict=False)
        start_stage, log = state["next_stage"], state["log"]
        if args.reset_from_stage:
            start_stage = args.reset_from_stage
            reset_groups(model, args, first=start_stage - 1)
            log = [line for line in log if line["stage"] < start_stage]
        print(f"resumed at stage {start_stage}", flush=True)
    t0 = time.time()
    last_stage = min(model.groups, args.stop_after_stage or model.groups)
    for s in range(start_stage, last_stage + 1):
        teacher = load_teacher(args.teacher) if args.teacher and s >= args.distill_from_stage else None
        params = set_stage(model, s)
        epochs = args.epochs[min(s - 1, len(args.epochs) - 1)]
        opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
        steps = epochs * math.ceil(len(xtr) / args.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
        for epoch in range(epochs):
            set_stage(model, s)
            perm = torch.randperm(len(xtr))
            te = time.time()
            total, seen = 0.0, 0
            for i in range(0, len(xtr), args.batch):
                idx = perm[i:i + args.batch]
                xb = augment(xtr[idx])
                logits, aux = model.forward_stage(xb, s)
                hard = F.cross_entropy(logits, ytr[idx], label_smoothing=args.smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        soft_targets = teacher(xb, teacher.groups)
                    hard = ((1 - args.distill_weight) * hard
                            + args.distill_weight * distill_loss(logits, soft_targets, args.temperature))
                loss = hard + args.aux_weight * F.cross_entropy(aux, ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            acc, conf = evaluate(model, xte, yte, s)
            line = dict(stage=s, epoch=epoch + 1, loss=total / seen, test_acc=acc, test_conf=conf,
                        epoch_s=time.time() - te, elapsed_s=time.time() - t0)
            log.append(line)
            print(json.dumps(line), flush=True)
        torch.save(dict(model=model.state_dict(), next_stage=s + 1, log=log, arch=arch(args)), ckpt)
    if last_stage < model.groups:
        print(f"stopped after stage {last_stage}; run again to resume", flush=True)
        return
    table = []
    for k in range(1, model.groups + 1):
        acc, conf = evaluate(model, xte, yte, k)
        table.append(dict(k=k, accuracy=acc, confidence=conf))
        print(json.dumps(table[-1]), flush=True)
    export(model, args, xte, log, table, time.time() - t0)


# ---------------------------------------------------------------- export

def export(model, args, xte, log, table, seconds):
    g = model.groups
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    tensors = {}

    def conv_entry(name, layer, relu=True):
        for j in range(g):
            w, b = layer.folded(j)
            tensors[f"{name}.weight.{j}"] = w.to(dtype).contiguous()
            tensors.setdefault(f"{name}.bias", [])
            tensors[f"{name}.bias"].append(b)
        tensors[f"{name}.bias"] = torch.cat(tensors[f"{name}.bias"]).float().contiguous()
        return dict(type="conv2d", name=name, in_channels=layer.cin, out_channels=layer.cout,
                    kernel=layer.kernel, stride=1, padding=layer.padding, dilation=1,
                    groups=g, connectivity=layer.connectivity, relu=relu)

    def linear_entry(name, layer):
        for j in range(g):
            tensors[f"{name}.weight.{j}"] = layer.fcs[j].weight.detach().to(dtype).contiguous()
        tensors[f"{name}.bias"] = torch.cat([layer.fcs[j].bias.detach() for j in range(g)]).float()
        return dict(type="linear", name=name, in_features=layer.fin, out_features=layer.fout,
                    groups=g, connectivity=layer.connectivity, relu=True)

    pool = dict(type="max_pool2d", kernel=2, stride=2, padding=0)
    layers = [conv_entry("conv1", model.conv1), pool, conv_entry("conv2", model.conv2), pool,
              conv_entry("conv3", model.conv3), conv_entry("conv4", model.conv4),
              conv_entry("conv5", model.conv5), pool,
              linear_entry("fc6", model.fc6), linear_entry("fc7", model.fc7)]
    classes = model.head_w[0].shape[0]
    tensors["head.weight"] = torch.stack([w.detach() for w in model.head_w]).to(dtype).contiguous()
    tensors["head.bias"] = torch.stack([b.detach() for b in model.head_b]).float().contiguous()
    layers.append(dict(type="head", name="head", in_features=model.fc7.fout, classes=classes, groups=g))
    meta = dict(
        format="groupscale-model", version=1, name=f"groupalexnet-{args.variant}",
        groups=g,
        input=dict(channels=1, height=32, width=32, mean=[MEAN], std=[STD],
                   preprocess="pixels/255, zero-pad 28x28 to 32x32 centred, then (x-mean)/std"),
        classes=FASHION_CLASSES, layers=layers,
        training=dict(dataset="Fashion-MNIST", variant=args.variant, widths=args.widths,
                      epochs_per_stage=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                      threads=args.threads, seconds=round(seconds), log=log, test=table),
    )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    path = args.out + ".safetensors"
    save_file(tensors, path, metadata={"groupscale": json.dumps(meta)})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)", flush=True)
    write_fixture(tensors, layers, g, xte[:args.fixture], args.out + ".fixture.safetensors")
    # The folded, stored network must compute what the trained one does (up to
    # the storage precision), or the export is wrong.
    model.eval()
    with torch.no_grad():
        x = xte[:256]
        for k in range(1, g + 1):
            want = model(x, k).double()
            got = reference_logits(tensors, layers, g, x, k)
            rel = ((got - want).abs().max() / want.abs().max()).item()
            print(f"export check k={k}: max relative difference {rel:.2e}", flush=True)
            if rel > 2e-2:
                raise SystemExit(f"exported network differs from the trained one at k={k}")


def reference_logits(tensors, layers, g, x, k):
    """Logits of the stored network (weights as stored, read back as f32),
    computed with plain torch ops from the exported tensors alone."""
    h = x.double()
    for layer in layers:
        t = layer["type"]
        if t == "max_pool2d":
            h = F.max_pool2d(h, layer["kernel"], layer["stride"])
            continue
        if t == "head":
            w = tensors["head.weight"].double()
            per = w.shape[2]
            out = tensors["head.bias"][k - 1].double()
            for j in range(k):
                out = out + h[:, j * per:(j + 1) * per] @ w[j].t()
            return out
        if t == "linear":
            h = h.flatten(1)
        name, conn = layer["name"], layer["connectivity"]
        nin = layer.get("in_channels", layer.get("in_features"))
        outs = []
        for j in range(k):
            per = nin // g
            rows = (range(0, nin) if conn == "full" else
                    range(j * per, (j + 1) * per) if conn == "isolated" else range(0, (j + 1) * per))
            w = tensors[f"{name}.weight.{j}"].double()
            og = w.shape[0]
            b = tensors[f"{name}.bias"][j * og:(j + 1) * og].double()
            xin = h[:, rows.start:rows.stop]
            if t == "conv2d":
                outs.append(F.conv2d(xin, w, b, padding=layer["padding"]))
            else:
                outs.append(xin.flatten(1) @ w.t() + b)
        h = F.relu(torch.cat(outs, 1))
    raise ValueError("no head")


def write_fixture(tensors, layers, g, x, path):
    fixture = {"input": x.contiguous()}
    for k in range(1, g + 1):
        fixture[f"logits.{k}"] = reference_logits(tensors, layers, g, x, k).float().contiguous()
    save_file(fixture, path, metadata={"what": "inputs (normalised) and reference logits per k"})
    print(f"wrote {path}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["isolated", "cumulative"], required=True)
    p.add_argument("--out", required=True, help="path prefix: writes PREFIX.safetensors and PREFIX.fixture.safetensors")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--widths", type=int, nargs=7, default=[64, 192, 384, 256, 256, 512, 512],
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
    p.add_argument("--joint", action="store_true",
                   help="train every group at once on the k = G loss and write PREFIX.teacher.pt")
    p.add_argument("--teacher", help="a PREFIX.teacher.pt to distil from (soft targets of its k = G logits)")
    p.add_argument("--distill-from-stage", type=int, default=2, help="first stage that distils")
    p.add_argument("--distill-weight", type=float, default=0.7, help="share of the soft-target loss")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--stop-after-stage", type=int, default=0, help="stop (checkpointed) after this stage")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke runs)")
    p.add_argument("--fixture", type=int, default=8, help="test images in the fixture")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    train(p.parse_args())


if __name__ == "__main__":
    main()
