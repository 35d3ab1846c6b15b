"""The training recipe's parts: model, optimizer, LR schedule, mixup, data order.

§5.1 of the paper (ImageNet): timm's RMSpropTF (decay 0.9, momentum 0.9, eps 1e-3), lr 0.016 per
256 images, warm-up then x0.97 every 2.4 epochs (staircase, timm ``StepLRScheduler``), weight
decay 1e-5 on weights only (no BN, no bias), stochastic depth (``model.drop_path_rate``), BN
momentum (PyTorch convention: TF's 0.99 is 0.01). §5.3 (transfer): ``optim.sched=cosine``,
``optim.weight_decay=0``, ``train.total_steps``. Any timm optimizer name works (``adamw`` for short CPU
proxies). The EMA is timm's ``ModelEmaV3``, with the official code's warm-up on request (``build_ema``).
"""
from __future__ import annotations

import dataclasses
import math

import torch
from timm.data import Mixup
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler, StepLRScheduler
from timm.utils import ModelEmaV3
from torch.utils.data import Sampler, Subset

from replication import data, models, progressive, results
from replication import config as config_mod
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


def train_transform(cfg: Config, stage: progressive.Stage, batched: bool = True):
    """The training transform of ``stage`` (its image size and RandAugment magnitude); ``batched``: normalized
    per batch by its ``finish`` (``data.transforms.BatchNormalize``: the same values, faster)."""
    d = cfg.data
    mean, std = data.NORMALIZATION[d.normalize]
    return data.train_transform(stage.image_size, randaug_magnitude=stage.randaug_magnitude,
                                randaug_layers=d.randaug_layers, randaug_mmax=d.randaug_mmax, cutout=d.cutout, hflip=d.hflip,
                                scale=tuple(d.train_crop_scale), mean=mean, std=std, randaug_variant=d.randaug_variant,
                                batched=batched)


def eval_transform(cfg: Config, image_size: int):
    """The evaluation transform at ``image_size``: ``data.eval_preprocess`` (crop | official), ``data.normalize``."""
    d = cfg.data
    mean, std = data.NORMALIZATION[d.normalize]
    if d.eval_preprocess == "official":
        return data.official_eval_transform(image_size, mean=mean, std=std)
    return data.eval_transform(image_size, crop_pct=d.crop_pct, mean=mean, std=std)


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


CLASSIFIER = "classifier."  # the last Linear of our V2 and of timm's EfficientNets


def build_model(cfg: Config, num_classes: int) -> torch.nn.Module:
    """The registered model ``model.name`` (or ``timm:<name>``), or with ``model.blocks`` that block-string
    architecture, made ready by :func:`prepare_model`."""
    m = cfg.model
    if m.blocks:
        model = models.efficientnetv2.EfficientNetV2(tuple(m.blocks), stem=m.stem_channels, head=m.head_channels,
                                                     num_classes=num_classes, drop_path_rate=m.drop_path_rate)
    else:
        model = models.create_model(m.name, num_classes=num_classes, drop_path_rate=m.drop_path_rate)
    return prepare_model(cfg, model)


def prepare_model(cfg: Config, model: torch.nn.Module) -> torch.nn.Module:
    """Any model as the config wants it trained: BatchNorm momentum, zero-init of residual blocks' last BN,
    weights from ``model.init_checkpoint`` (the classifier excepted), channels-last memory."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = cfg.model.bn_momentum
    if cfg.model.zero_init_last and not models.zero_init_last_bn(model):
        raise config_mod.ConfigError(f"model.zero_init_last=true: {cfg.model.name} has no residual block that says so "
                                     "(a `has_skip` attribute, as ours and timm's EfficientNets have); set it to false")
    if cfg.model.init_checkpoint:
        # transfer: every tensor whose shape fits, except the classifier: the new task's classes start from a
        # fresh head even when their number fits (Imagenette's 10 classes -> CIFAR-10's 10)
        state = results.load_checkpoint(cfg.model.init_checkpoint)
        state = state.get("ema") or state.get("model") or state
        own = model.state_dict()
        fits = {k: v for k, v in state.items()
                if k in own and own[k].shape == v.shape and not k.startswith(CLASSIFIER)}
        if len(fits) < len(own) // 2:
            raise ValueError(f"model.init_checkpoint={cfg.model.init_checkpoint}: only {len(fits)} of {len(own)} tensors "
                             f"fit {cfg.model.name}; give a checkpoint of the same architecture")
        model.load_state_dict(fits, strict=False)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def peak_lr(cfg: Config, global_batch: int) -> float:
    """``optim.lr`` per ``optim.lr_base_batch`` images, at ``global_batch`` (or absolute with lr_base_batch 0)."""
    o = cfg.optim
    return o.lr * global_batch / o.lr_base_batch if o.lr_base_batch else o.lr


def build_optimizer(cfg: Config, model, global_batch: int):
    o = cfg.optim
    lr = peak_lr(cfg, global_batch)
    extra = {"alpha": o.alpha} if o.name.startswith("rmsprop") else {}
    return create_optimizer_v2(model, opt=o.name, lr=lr, weight_decay=o.weight_decay, momentum=o.momentum,
                               filter_bias_and_bn=o.filter_bias_and_bn, eps=o.eps, **extra)


def run_length(cfg: Config, steps_per_epoch: int) -> tuple[int, int]:
    """(epochs, optimizer steps) of a run: ``train.epochs`` whole epochs, or with ``train.total_steps`` as many
    epochs as hold that many steps (the last one cut short)."""
    total = cfg.train.total_steps
    if not total:
        return cfg.train.epochs, cfg.train.epochs * steps_per_epoch
    return math.ceil(total / steps_per_epoch), total


def with_run_length(cfg: Config, steps_per_epoch: int) -> Config:
    """``cfg`` with ``train.epochs`` set to the epochs ``train.total_steps`` needs (the stage table follows)."""
    epochs, _ = run_length(cfg, steps_per_epoch)
    if epochs == cfg.train.epochs:
        return cfg
    s = cfg.schedule
    if s.mode in config_mod.STAGED_MODES and epochs < s.stages:
        raise config_mod.ConfigError(f"train.total_steps={cfg.train.total_steps}: {epochs} epoch(s) of {steps_per_epoch} "
                                     f"steps cannot hold schedule.stages={s.stages}; raise the steps or lower the stages")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs))


def epoch_steps(cfg: Config, epoch: int, steps_per_epoch: int) -> int:
    """Optimizer steps of 0-based ``epoch`` (the last epoch of a ``train.total_steps`` run may be shorter)."""
    _, total = run_length(cfg, steps_per_epoch)
    return max(0, min(steps_per_epoch, total - epoch * steps_per_epoch))


class FlatCosineLRScheduler(CosineLRScheduler):
    """timm's cosine schedule (warm-up first) with the peak held for ``flat_t`` steps before the decay."""

    def __init__(self, optimizer, flat_t: int, **kwargs):
        self.flat_t = flat_t
        super().__init__(optimizer, **kwargs)

    def _get_lr(self, t: int):
        if t < self.warmup_t:
            return super()._get_lr(t)
        if t < self.warmup_t + self.flat_t:
            return list(self.base_values)
        return super()._get_lr(t - self.flat_t)


def build_scheduler(cfg: Config, optimizer, steps_per_epoch: int):
    o, (_, total) = cfg.optim, run_length(cfg, steps_per_epoch)
    warmup = int(round(o.warmup_epochs * steps_per_epoch))
    common = dict(warmup_t=warmup, warmup_lr_init=0.0, t_in_epochs=False)
    if o.sched == "cosine":
        flat = int(round(o.flat_fraction * max(0, total - warmup)))
        cosine = dict(t_initial=max(1, total - warmup - flat), lr_min=o.min_lr, warmup_prefix=True, **common)
        return FlatCosineLRScheduler(optimizer, flat, **cosine) if flat else CosineLRScheduler(optimizer, **cosine)
    decay = o.decay_epochs * steps_per_epoch if o.sched == "step" else float("inf")
    # the staircase counts from step 0, as the official code's exponential_decay does (timm's default,
    # warmup_prefix=True, would count from the end of the warm-up: 6.3 % higher after a 5-epoch warm-up)
    return StepLRScheduler(optimizer, decay_t=decay, decay_rate=o.decay_rate, warmup_prefix=False, **common)


def apply_stage(stage, *, model=None, dataset=None, mixup: Mixup | None = None, cfg: Config | None = None,
                batched: bool = True):
    """Train from now on as ``stage`` says: a ``progressive.Stage`` sets the training transform of ``dataset``
    (image size and RandAugment magnitude, the other data settings from ``cfg``, default ``Config()``); a Stage
    or a per-batch ``progressive.Step`` sets ``mixup``'s alpha and the classifier dropout of ``model`` (any
    model ``models.set_dropout`` knows). Each part is optional. Returns the new transform (None without a
    dataset); with ``batched`` its ``finish`` normalizes a collated uint8 batch. What the trainer does at
    every stage boundary, for any model in any training loop."""
    cfg = cfg or Config()
    transform = None
    if dataset is not None:
        if not hasattr(stage, "randaug_magnitude"):
            raise TypeError(f"apply_stage(dataset=...) needs a progressive.Stage (size and RandAugment), got {stage!r}")
        transform = base_dataset(dataset).transform = train_transform(cfg, stage, batched)
    if mixup is not None:
        set_mixup(mixup, stage.mixup_alpha, cfg.data.cutmix)
    if model is not None:
        models.set_dropout(model, stage.dropout)
    return transform


def set_mixup(mixup: Mixup, alpha: float, cutmix: bool) -> None:
    mixup.mixup_alpha = alpha
    mixup.cutmix_alpha = alpha if cutmix else 0.0
    mixup.mixup_enabled = alpha > 0


def build_mixup(cfg: Config, num_classes: int) -> Mixup:
    """timm Mixup (plus CutMix with ``data.cutmix``); alphas are set per stage by ``set_mixup``."""
    return Mixup(mixup_alpha=1.0, cutmix_alpha=1.0 if cfg.data.cutmix else 0.0,
                 label_smoothing=cfg.train.label_smoothing, num_classes=num_classes)


def ema_decay(cfg: Config, global_batch: int, total_steps: int = 0) -> float:
    """``train.ema_decay``, or with ``train.ema_batch`` the decay with the same horizon in images at ``global_batch``:
    ``decay ** (global_batch / ema_batch)`` (0.9999 at 4096 is 0.999975 at 1024), or with ``train.ema_horizon`` the
    decay whose time constant is that fraction of the run's ``total_steps``: ``1 - 1 / (horizon x steps)``."""
    t = cfg.train
    if t.ema_horizon and t.ema_decay:
        if total_steps < 1:
            raise ValueError("train.ema_horizon needs the run's number of optimizer steps")
        return max(0.0, 1 - 1 / (t.ema_horizon * total_steps))
    return t.ema_decay ** (global_batch / t.ema_batch) if t.ema_batch else t.ema_decay


def build_ema(cfg: Config, model, global_batch: int, total_steps: int = 0) -> ModelEmaV3 | None:
    """timm's ModelEmaV3 (``None`` without ``train.ema_decay``). Warm-up (``train.ema_warmup``) by
    ``train.ema_warmup_rule``: timm's own, or ``tf``: the official code's min(decay, (1 + n) / (10 + n)) at
    optimizer step n. timm's warm-up is 1 - (1 + s / gamma) ** -power with s = step - update_after_step - 1;
    gamma 9, power 1 and update_after_step -2 make it exactly the TF formula."""
    t = cfg.train
    if not t.ema_decay:
        return None
    decay = ema_decay(cfg, global_batch, total_steps)
    if t.ema_warmup and t.ema_warmup_rule == "tf":
        return ModelEmaV3(model, decay=decay, use_warmup=True, warmup_gamma=9.0, warmup_power=1.0, update_after_step=-2)
    return ModelEmaV3(model, decay=decay, use_warmup=t.ema_warmup)


def sync_batchnorm(cfg: Config, model, num_processes: int, device_type: str):
    """With ``train.sync_bn`` and several processes: torch's SyncBatchNorm (statistics over the global batch)."""
    if not cfg.train.sync_bn or num_processes == 1:
        return model
    if device_type == "cpu":
        raise config_mod.ConfigError("train.sync_bn=true needs GPUs (torch's SyncBatchNorm has no CPU kernel); "
                                     "set train.sync_bn=false on CPU")
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def describe(cfg: Config, num_processes: int, total_steps: int = 0) -> str:
    """The line a run prints at start: global batch, peak LR and the EMA that runs."""
    t, d = cfg.train, cfg.data
    batch = d.batch_size * num_processes * t.grad_accum_steps
    text = (f"global batch {batch} = {d.batch_size} per process x {num_processes} process(es) x "
            f"{t.grad_accum_steps} accumulation step(s); peak lr {peak_lr(cfg, batch):.6g}")
    if not t.ema_decay:
        return text + "; no EMA"
    text += f"; EMA decay {ema_decay(cfg, batch, total_steps):.6g}"
    if t.ema_horizon:
        text += f" (time constant {t.ema_horizon:g} of the run's {total_steps} steps)"
    if t.ema_batch:
        text += f" ({t.ema_decay:g} at batch {t.ema_batch}, adjusted to {batch})"
    warm = {"tf": "TF warm-up min(decay, (1 + n) / (10 + n))", "timm": "timm warm-up"}[t.ema_warmup_rule]
    return text + (f", {warm}" if t.ema_warmup else ", no warm-up")
