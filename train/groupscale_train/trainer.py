"""Training: incremental stages (the shipped models), the joint teacher, and
distillation from it, with checkpoints that train/train.py also reads and
writes.

Incremental stage s = 1..G trains only group s of every layer, the head's
W_s and b_s and group s's auxiliary classifier. Groups < s are frozen
(parameters and batch-norm statistics) and computed without gradients, so
adding group s never changes what k < s computes. `train_incremental` checks
this exactly: after each stage the logits at every k < s on a fixed probe
batch must equal (torch.equal) those before it, or it raises
FreezeViolation before writing the checkpoint.

Checkpoints (dict keys as train.py always wrote them):
    PREFIX.ckpt.pt          model, next_stage, log, arch    (after every stage)
    PREFIX.teacher-ckpt.pt  model, opt, sched, rng, epoch, log, seconds, arch
    PREFIX.teacher.pt       model, log, arch                (the finished teacher)
"""

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F

from .data import augment, dataset_info, random_erase
from .export import export
from .layers import head_logits
from .model import DEFAULT_WIDTHS, GroupAlexNet
from .progress import Progress


class FreezeViolation(RuntimeError):
    """A stage changed what an earlier k computes."""


@dataclass
class TrainConfig:
    """Every option of `python -m groupscale_train` (same names and defaults).
    The trainers read these as attributes, so an argparse Namespace works
    too."""
    variant: str
    out: str
    data: Optional[str] = None          # default: the data set's usual place
    dataset: str = "fashion-mnist"
    widths: List[int] = field(default_factory=lambda: list(DEFAULT_WIDTHS))
    groups: int = 4
    epochs: List[int] = field(default_factory=lambda: [6])
    batch: int = 128
    lr: float = 0.05
    smoothing: float = 0.1
    aux_weight: float = 0.5
    reset_from_stage: int = 0
    tie_aux: bool = False
    ensemble: bool = False
    joint: bool = False
    nested: bool = False                # with joint: the loss at every k, then export
    teacher: Optional[str] = None
    distill_from_stage: int = 2
    distill_weight: float = 0.7
    temperature: float = 4.0
    offline_teacher: bool = False       # teacher logits of the un-augmented images, computed once
    erase: float = 0.0                  # random-erasing probability per training image
    stop_after_stage: int = 0
    seed: int = 1
    threads: int = 1
    dtype: str = "f16"
    limit: int = 0
    fixture: int = 8
    restart: bool = False
    progress: str = "auto"              # auto (on a terminal), on, off
    freeze_probe: int = 64              # test images the freeze check runs


def _opt(cfg, name, default):
    return getattr(cfg, name, default)


def _dataset(cfg):
    return dataset_info(_opt(cfg, "dataset", None) or "fashion-mnist")


def in_channels(cfg):
    return _dataset(cfg).channels


def load_data(cfg):
    """(xtr, ytr, xte, yte) of cfg's data set, the training set cut to
    cfg.limit images when that is set."""
    info = _dataset(cfg)
    root = _opt(cfg, "data", None) or info.default_root
    if not root:
        raise ValueError(f"--data DIR is needed for {info.title} (no default location)")
    xtr, ytr = info.load(root, "train")
    xte, yte = info.load(root, "test")
    if cfg.limit:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    return xtr, ytr, xte, yte


def build_model(cfg):
    return GroupAlexNet(cfg.variant, cfg.widths, groups=cfg.groups, in_channels=in_channels(cfg))


def arch(cfg):
    """What a checkpoint records of the network (as train.py wrote it; the
    input channels only where they are not Fashion-MNIST's one)."""
    a = dict(variant=cfg.variant, widths=list(cfg.widths), groups=cfg.groups)
    if in_channels(cfg) != 1:
        a["in_channels"] = in_channels(cfg)
    return a


def check_arch(saved, cfg, path):
    """A clear error when a checkpoint was made for another network."""
    if saved is None:
        return
    want = arch(cfg)
    got = dict(variant=saved.get("variant"), widths=list(saved.get("widths", [])),
               groups=saved.get("groups"))
    if saved.get("in_channels", 1) != 1:
        got["in_channels"] = saved["in_channels"]
    if got != want:
        raise ValueError(f"{path} holds a network {got}, not the requested {want}: "
                         "pass the same --variant/--widths/--groups/--dataset, or --restart")


def _progress(cfg, total, label):
    mode = _opt(cfg, "progress", "auto")
    enabled = None if mode == "auto" else mode == "on"
    return Progress(total, label, enabled=enabled)


# ---------------------------------------------------------------- stages

def set_stage(model, s):
    """Makes group s (1-based) the only trainable one and returns its
    parameters: earlier groups frozen, batch norm in eval mode (uses and
    keeps running statistics); group s's modules and dropout in train mode."""
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
    """(top-1 accuracy, mean softmax probability of the true class) at k."""
    model.eval()
    correct, conf = 0, 0.0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch], k)
        p = logits.softmax(1)
        correct += (p.argmax(1) == y[i:i + batch]).sum().item()
        conf += p.gather(1, y[i:i + batch].view(-1, 1)).sum().item()
    return correct / len(x), conf / len(x)


@torch.no_grad()
def probe_logits(model, x, ks):
    """{k: logits} in eval mode; uses no random numbers."""
    model.eval()
    return {k: model(x, k).clone() for k in ks}


def check_frozen(before, after, stage):
    """Raises FreezeViolation unless every k's logits are bit-identical."""
    for k, want in before.items():
        got = after[k]
        if not torch.equal(want, got):
            diff = (got - want).abs().max().item()
            raise FreezeViolation(f"stage {stage} changed the k = {k} network (frozen groups < {stage}): "
                                  f"probe logits moved by up to {diff:.3e}")


def reset_groups(model, cfg, first):
    """Re-initialises groups >= `first` (0-based) as a fresh model would."""
    torch.manual_seed(cfg.seed + first)
    fresh = build_model(cfg).state_dict()
    state = model.state_dict()
    pattern = re.compile(r"(?:convs|norms|fcs|head_w|head_b|aux)\.(\d+)")
    for key in state:
        m = pattern.search(key)
        if m and int(m.group(1)) >= first:
            state[key] = fresh[key]
    model.load_state_dict(state)


def load_teacher(path):
    """A jointly trained network (written by --joint) in eval mode, frozen."""
    state = torch.load(path)
    a = state["arch"]
    teacher = GroupAlexNet(a["variant"], a["widths"], groups=a["groups"], in_channels=a.get("in_channels", 1))
    teacher.load_state_dict(state["model"])
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_logits(teacher, x, batch=500):
    """The teacher's k = G logits for every image of x, in batches."""
    with torch.no_grad():
        return torch.cat([teacher(x[i:i + batch], teacher.groups) for i in range(0, len(x), batch)])


def distill_loss(student_logits, teacher_logits, temperature):
    """Hinton et al.'s soft-target term, scaled by T^2 so that its gradient
    keeps the hard-label term's size as T changes."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.softmax(teacher_logits / t, 1),
                    reduction="batchmean") * t * t


def _stage_range(cfg, groups):
    """The last stage this run trains (a --stop-after-stage past G, like 0,
    means all of them)."""
    stop = cfg.stop_after_stage
    if stop < 0:
        raise ValueError(f"--stop-after-stage must be a stage in 1..={groups} (or 0 for all), not {stop}")
    reset = _opt(cfg, "reset_from_stage", 0)
    if reset and not 1 <= reset <= groups:
        raise ValueError(f"--reset-from-stage must be a stage in 1..={groups}, not {reset}")
    return min(groups, stop or groups)


def _data(cfg, data):
    if data is None:
        return load_data(cfg)
    xtr, ytr, xte, yte = data
    if cfg.limit:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    return xtr, ytr, xte, yte


# ---------------------------------------------------------------- trainers

def _run_epoch(cfg, opt, sched, n, label, step_loss):
    """One pass over a fresh permutation of the n training images, one SGD
    step per batch on step_loss(indices). Returns (mean loss, seconds)."""
    perm = torch.randperm(n)
    te = time.time()
    total, seen = 0.0, 0
    with _progress(cfg, math.ceil(n / cfg.batch), label) as bar:
        for i in range(0, n, cfg.batch):
            idx = perm[i:i + cfg.batch]
            loss = step_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.update(1, loss=total / seen)
    return total / seen, time.time() - te


def train_joint(cfg, data=None):
    """The whole network, every group at once, trained on the k = G loss: the
    teacher for distillation, and the ceiling incremental training aims at.
    Resumable epoch by epoch from PREFIX.teacher-ckpt.pt; writes
    PREFIX.teacher.pt. Returns the model."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    nested = _opt(cfg, "nested", False)
    xtr, ytr, xte, yte = _data(cfg, data)
    background = _dataset(cfg).background()
    model = build_model(cfg)
    g = model.groups
    params = [p for n, p in model.named_parameters() if not n.startswith("aux.")]
    epochs = cfg.epochs[0]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * math.ceil(len(xtr) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.2)
    # Resumable epoch by epoch: a teacher takes hours on two cores, longer
    # than one working session.
    os.makedirs(os.path.dirname(cfg.out) or ".", exist_ok=True)
    ckpt = cfg.out + ".teacher-ckpt.pt"
    first_epoch, log, spent = 0, [], 0.0
    if os.path.exists(ckpt) and not cfg.restart:
        state = torch.load(ckpt, weights_only=False)
        check_arch(state.get("arch"), cfg, ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        first_epoch, log, spent = state["epoch"], state["log"], state["seconds"]
        print(f"resumed after epoch {first_epoch}", flush=True)
    t0 = time.time() - spent
    for epoch in range(first_epoch, epochs):
        model.train()

        def step_loss(idx):
            xb = random_erase(augment(xtr[idx], background), _opt(cfg, "erase", 0.0), background)
            if nested:
                return nested_loss(model, xb, ytr[idx], cfg.smoothing)
            return F.cross_entropy(model(xb, g), ytr[idx],
                                   label_smoothing=cfg.smoothing)

        mean_loss, seconds = _run_epoch(cfg, opt, sched, len(xtr), f"joint epoch {epoch + 1}/{epochs}", step_loss)
        acc, conf = evaluate(model, xte, yte, g)
        line = dict(joint=True, epoch=epoch + 1, loss=mean_loss, test_acc=acc, test_conf=conf,
                    epoch_s=seconds, elapsed_s=time.time() - t0)
        if nested:
            line["test_acc_k1"] = evaluate(model, xte, yte, 1)[0]
        log.append(line)
        print(json.dumps(line), flush=True)
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        rng=torch.get_rng_state(), epoch=epoch + 1, log=log,
                        seconds=time.time() - t0, arch=arch(cfg)), ckpt)
    path = cfg.out + ".teacher.pt"
    torch.save(dict(model=model.state_dict(), log=log, arch=arch(cfg)), path)
    print(f"wrote {path}", flush=True)
    if nested:
        table = []
        for k in range(1, g + 1):
            acc, conf = evaluate(model, xte, yte, k)
            table.append(dict(k=k, accuracy=acc, confidence=conf))
            print(json.dumps(table[-1]), flush=True)
        export(model, cfg, xte, log, table, time.time() - t0, dataset=_dataset(cfg).key)
    return model


def nested_loss(model, x, y, smoothing):
    """--nested: the k = G loss plus the mean of the losses at k < G, from one
    forward pass. A group's activations never depend on later groups (in
    either connectivity), so the first k groups' slice of the k = G features
    is exactly what k computes, and every k costs only its head."""
    g = model.groups
    h = model.features(x, g)[-1]
    per = h.shape[1] // g

    def loss(k):
        logits = head_logits(h[:, :k * per], model.head_w, model.head_b, k)
        return F.cross_entropy(logits, y, label_smoothing=smoothing)

    if g == 1:
        return loss(1)
    return loss(g) + sum(loss(k) for k in range(1, g)) / (g - 1)


def train_incremental(cfg, data=None):
    """Stages 1..G (or up to cfg.stop_after_stage), resuming from
    PREFIX.ckpt.pt; after the last stage, the test table per k and the
    export. Returns the model."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    xtr, ytr, xte, yte = _data(cfg, data)
    background = _dataset(cfg).background()
    model = build_model(cfg)
    model.tie_aux = cfg.tie_aux or cfg.ensemble
    model.average_logits = cfg.ensemble
    last_stage = _stage_range(cfg, model.groups)
    os.makedirs(os.path.dirname(cfg.out) or ".", exist_ok=True)
    ckpt = cfg.out + ".ckpt.pt"
    start_stage = 1
    log = []
    if os.path.exists(ckpt) and not cfg.restart:
        state = torch.load(ckpt)
        check_arch(state.get("arch"), cfg, ckpt)
        # Checkpoints from before the auxiliary classifiers lack them.
        model.load_state_dict(state["model"], strict=False)
        start_stage, log = state["next_stage"], state["log"]
        if cfg.reset_from_stage:
            start_stage = cfg.reset_from_stage
            reset_groups(model, cfg, first=start_stage - 1)
            log = [line for line in log if line["stage"] < start_stage]
        print(f"resumed at stage {start_stage}", flush=True)
    t0 = time.time()
    probe = xte[:_opt(cfg, "freeze_probe", 64)]
    stored = None
    for s in range(start_stage, last_stage + 1):
        before = probe_logits(model, probe, range(1, s))
        teacher = load_teacher(cfg.teacher) if cfg.teacher and s >= cfg.distill_from_stage else None
        # Offline: one teacher pass over the un-augmented images for the whole
        # run instead of one per augmented batch (the teacher's forward pass
        # cost more than the stage's own step). A 2-pixel shift or a flip
        # keeps the class, so the soft targets barely move.
        if teacher is not None and _opt(cfg, "offline_teacher", False) and stored is None:
            stored = teacher_logits(teacher, xtr)
        params = set_stage(model, s)
        epochs = cfg.epochs[min(s - 1, len(cfg.epochs) - 1)]
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
        steps = epochs * math.ceil(len(xtr) / cfg.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.2)
        for epoch in range(epochs):
            set_stage(model, s)

            def step_loss(idx):
                xb = random_erase(augment(xtr[idx], background), _opt(cfg, "erase", 0.0), background)
                logits, aux = model.forward_stage(xb, s)
                hard = F.cross_entropy(logits, ytr[idx], label_smoothing=cfg.smoothing)
                if teacher is not None:
                    if stored is not None:
                        soft_targets = stored[idx]
                    else:
                        with torch.no_grad():
                            soft_targets = teacher(xb, teacher.groups)
                    hard = ((1 - cfg.distill_weight) * hard
                            + cfg.distill_weight * distill_loss(logits, soft_targets, cfg.temperature))
                return hard + cfg.aux_weight * F.cross_entropy(aux, ytr[idx])

            mean_loss, seconds = _run_epoch(cfg, opt, sched, len(xtr),
                                            f"stage {s}/{model.groups} epoch {epoch + 1}/{epochs}", step_loss)
            acc, conf = evaluate(model, xte, yte, s)
            line = dict(stage=s, epoch=epoch + 1, loss=mean_loss, test_acc=acc, test_conf=conf,
                        epoch_s=seconds, elapsed_s=time.time() - t0)
            log.append(line)
            print(json.dumps(line), flush=True)
        # Nothing is saved from a stage that moved an earlier k.
        check_frozen(before, probe_logits(model, probe, range(1, s)), s)
        torch.save(dict(model=model.state_dict(), next_stage=s + 1, log=log, arch=arch(cfg)), ckpt)
    if last_stage < model.groups:
        print(f"stopped after stage {last_stage}; run again to resume", flush=True)
        return model
    table = []
    for k in range(1, model.groups + 1):
        acc, conf = evaluate(model, xte, yte, k)
        table.append(dict(k=k, accuracy=acc, confidence=conf))
        print(json.dumps(table[-1]), flush=True)
    export(model, cfg, xte, log, table, time.time() - t0, dataset=_dataset(cfg).key)
    return model


def train(cfg, data=None):
    """--joint: the teacher; otherwise the incremental stages."""
    if cfg.joint or _opt(cfg, "nested", False):
        return train_joint(cfg, data)
    return train_incremental(cfg, data)
