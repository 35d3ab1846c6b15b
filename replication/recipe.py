"""The training recipe's parts: model, optimizer, LR schedule, mixup, data order.

§5.1 of the paper (ImageNet): timm's RMSpropTF (decay 0.9, momentum 0.9, eps 1e-3), lr 0.016 per
256 images, warm-up then x0.97 every 2.4 epochs (staircase, timm ``StepLRScheduler``), weight
decay 1e-5 on weights only (no BN, no bias), stochastic depth (``model.drop_path_rate``), BN
momentum (PyTorch convention: TF's 0.99 is 0.01). §5.3 (transfer): ``optim.sched=cosine``,
``optim.weight_decay=0``. Any timm optimizer name works (``adamw`` for short CPU proxies).
"""
from __future__ import annotations

import torch
from timm.data import Mixup
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler, StepLRScheduler
from torch.utils.data import Sampler, Subset

from replication import data, models, progressive, results
from replication.config import Config


class EpochShuffle(Sampler):
    """A permutation fixed by (seed, epoch), so a resumed epoch sees the same order."""

    def __init__(self, n: int, seed: int, epoch: int):
        self.n, self.seed, self.epoch = n, seed, epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def train_transform(cfg: Config, stage: progressive.Stage):
    """The training transform of ``stage`` (its image size and RandAugment magnitude)."""
    d = cfg.data
    return data.train_transform(stage.image_size, randaug_magnitude=stage.randaug_magnitude,
                                randaug_layers=d.randaug_layers, randaug_mmax=d.randaug_mmax, cutout=d.cutout, hflip=d.hflip)


def base_dataset(ds):
    return ds.dataset if isinstance(ds, Subset) else ds


def limit_dataset(ds, n: int, seed: int):
    """``n`` items of ``ds`` drawn with ``seed`` (in their original order), or ``ds`` itself; a subset of a
    ``Subset`` is a ``Subset`` of the same base dataset."""
    if not n or n >= len(ds):
        return ds
    picked = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values.tolist()
    if isinstance(ds, Subset):
        return Subset(ds.dataset, [ds.indices[i] for i in picked])
    return Subset(ds, picked)


def build_model(cfg: Config, num_classes: int) -> torch.nn.Module:
    """The registered model ``model.name``, or with ``model.blocks`` that block-string architecture."""
    m = cfg.model
    if m.blocks:
        from replication.models.efficientnetv2 import EfficientNetV2

        model = EfficientNetV2(tuple(m.blocks), stem=m.stem_channels, head=m.head_channels, num_classes=num_classes,
                               drop_path_rate=m.drop_path_rate)
    else:
        model = models.create_model(m.name, num_classes=num_classes, drop_path_rate=m.drop_path_rate)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = cfg.model.bn_momentum
    if cfg.model.init_checkpoint:  # transfer: every tensor whose shape fits (the new head does not)
        state = results.load_checkpoint(cfg.model.init_checkpoint)
        state = state.get("ema") or state.get("model") or state
        own = model.state_dict()
        fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if len(fits) < len(own) // 2:
            raise ValueError(f"model.init_checkpoint={cfg.model.init_checkpoint}: only {len(fits)} of {len(own)} tensors "
                             f"fit {cfg.model.name}; give a checkpoint of the same architecture")
        model.load_state_dict(fits, strict=False)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def build_optimizer(cfg: Config, model, global_batch: int):
    o = cfg.optim
    lr = o.lr * global_batch / o.lr_base_batch if o.lr_base_batch else o.lr
    extra = {"alpha": o.alpha} if o.name.startswith("rmsprop") else {}
    return create_optimizer_v2(model, opt=o.name, lr=lr, weight_decay=o.weight_decay, momentum=o.momentum,
                               filter_bias_and_bn=o.filter_bias_and_bn, eps=o.eps, **extra)


def build_scheduler(cfg: Config, optimizer, steps_per_epoch: int):
    o, total = cfg.optim, cfg.train.epochs * steps_per_epoch
    warmup = int(round(o.warmup_epochs * steps_per_epoch))
    common = dict(warmup_t=warmup, warmup_lr_init=0.0, t_in_epochs=False)
    if o.sched == "cosine":
        return CosineLRScheduler(optimizer, t_initial=max(1, total - warmup), lr_min=o.min_lr, warmup_prefix=True, **common)
    decay = o.decay_epochs * steps_per_epoch if o.sched == "step" else float("inf")
    # the staircase counts from step 0, as the official code's exponential_decay does (timm's default,
    # warmup_prefix=True, would count from the end of the warm-up: 6.3 % higher after a 5-epoch warm-up)
    return StepLRScheduler(optimizer, decay_t=decay, decay_rate=o.decay_rate, warmup_prefix=False, **common)


def set_mixup(mixup: Mixup, alpha: float, cutmix: bool) -> None:
    mixup.mixup_alpha = alpha
    mixup.cutmix_alpha = alpha if cutmix else 0.0
    mixup.mixup_enabled = alpha > 0


def build_mixup(cfg: Config, num_classes: int) -> Mixup:
    """timm Mixup (plus CutMix with ``data.cutmix``); alphas are set per stage by ``set_mixup``."""
    return Mixup(mixup_alpha=1.0, cutmix_alpha=1.0 if cfg.data.cutmix else 0.0,
                 label_smoothing=cfg.train.label_smoothing, num_classes=num_classes)
