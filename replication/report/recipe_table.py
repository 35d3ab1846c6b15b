"""The recipe, setting by setting: the official code's value, the paper's, ours per profile, and
which one the gpu profile follows (with the reason where it follows neither, or one over the other).

Ours is read from the config system (``configs/progressive.yaml`` for ImageNet §5.1,
``configs/transfer.yaml`` for §5.3, each under every profile), never typed in. The official values
are google/automl ``efficientnetv2`` (hparams.py, datasets.py, preprocessing.py, autoaugment.py,
main.py); the paper's are §5.1, §5.3 and Table 6 (V2-S). ``table(configs)`` takes any resolved
configs, so the same table can be built for an older config (keys it lacks take their defaults).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import pandas as pd

from replication import config, progressive, recipe
from replication.config import Config
from replication.report.items import narrow_tables

SILENT = "not stated"
PROFILES = ("cpu", "gpu")
RECIPES = {"ImageNet (§5.1)": "progressive", "Transfer (§5.3)": "transfer"}


@dataclass(frozen=True)
class Setting:
    name: str
    ours: Callable[[Config], str]  # the value of a resolved config, written as official / paper are
    official: str
    paper: str
    why: str  # why the gpu profile holds its value (above all where it follows neither)


def _pair(pair) -> str:
    first, last = pair
    return f"{first:g}" if first == last else f"{first:g}->{last:g}"


def _sizes(cfg: Config) -> str:
    stages = progressive.plan(cfg).stages
    return f"{stages[0].image_size}->{stages[-1].image_size} in {len(stages)} stage(s)"


def _ema_warmup(cfg: Config) -> str:
    t = cfg.train
    return "none" if not t.ema_warmup else {"tf": "(1+n)/(10+n)", "timm": "timm 1-n^(-2/3)"}[t.ema_warmup_rule]


def _lr_sched(cfg: Config) -> str:
    o = cfg.optim
    return {"step": f"x{o.decay_rate:g} every {o.decay_epochs:g} epochs", "cosine": "cosine",
            "constant": "constant"}[o.sched]


def _cutout(cfg: Config) -> str:
    return "timm RandomErasing, p 0.5, one patch" if cfg.data.cutout else "none"


def _eval(cfg: Config) -> str:
    d = cfg.data
    return "whole image, no crop" if d.eval_preprocess == "official" else f"centre crop {d.crop_pct:g}"


def _optimizer(cfg: Config) -> str:
    o = cfg.optim
    return f"{o.name}, decay {o.alpha:g}, momentum {o.momentum:g}" if o.name.startswith("rmsprop") else o.name


_OPT = Setting("optimizer", _optimizer,
               "rmsproptf, decay 0.9, momentum 0.9", "rmsproptf, decay 0.9, momentum 0.9",
               "timm's RMSpropTF has TensorFlow's semantics (eps inside the square root, LR in the momentum)")
_EMA_WARMUP = Setting("EMA warm-up", _ema_warmup, "(1+n)/(10+n)", SILENT,
                      "the official code's (TF ExponentialMovingAverage with num_updates)")
_EPS = Setting("RMSProp epsilon", lambda c: f"{c.optim.eps:g}", "0.001", SILENT, "the official code's")
_LS = Setting("label smoothing", lambda c: f"{c.train.label_smoothing:g}", "0.1", SILENT, "the official code's")
_SURVIVAL = Setting("stochastic depth survival", lambda c: f"{1 - c.model.drop_path_rate:g}", "0.8", "0.8", "")
_BATCH = Setting("global batch", lambda c: f"{c.data.batch_size} per process x processes x {c.train.grad_accum_steps}",
                 "4096", "4096", "set by the number of GPUs and train.grad_accum_steps (printed at start); the LR "
                 "scales with it, and the EMA decay with train.ema_batch")

IMAGENET = (
    _OPT, _EPS,
    Setting("peak LR", lambda c: f"{c.optim.lr:g} per {c.optim.lr_base_batch}", "0.016 per 256", "0.016 per 256", ""),
    Setting("LR warm-up epochs", lambda c: f"{c.optim.warmup_epochs:g}", "5", SILENT, "the official code's"),
    Setting("LR decay", _lr_sched, "x0.97 every 2.4 epochs", "x0.97 every 2.4 epochs",
            "staircase counted from step 0 as the official exponential decay (timm's default would count from the "
            "end of the warm-up)"),
    Setting("weight decay", lambda c: f"{c.optim.weight_decay:g}", "1e-05", "1e-05", "not on BN and bias (official)"),
    Setting("epochs", lambda c: f"{c.train.epochs}", "350", "350", ""),
    _BATCH, _LS, _SURVIVAL,
    Setting("BN momentum (TF convention)", lambda c: f"{1 - c.model.bn_momentum:g}", "0.9", "0.99",
            "the paper states it"),
    Setting("image size (V2-S)", _sizes, "171->300 in 4 stage(s)", "128->300 in 4 stage(s)",
            "configs/progressive.yaml runs the paper's rule; configs/official.yaml the official one"),
    Setting("RandAugment magnitude (V2-S)", lambda c: _pair(c.schedule.randaug_magnitude), "5->10", "5->15",
            "Table 6 (progressive.yaml); official.yaml: 5->10"),
    Setting("dropout (V2-S)", lambda c: _pair(c.schedule.dropout), "0.2", "0.1->0.3",
            "Table 6 (progressive.yaml); official.yaml: fixed 0.2"),
    Setting("mixup alpha (V2-S)", lambda c: _pair(c.schedule.mixup_alpha), "0", "0", ""),
    Setting("RandAugment ops", lambda c: c.data.randaug_variant, "official", SILENT,
            "the official variant built from timm's ops (always applied, Cutout, 100 px translate, fill 128); "
            "timm caps SolarizeAdd at 128"),
    Setting("train crop area", lambda c: "{:g}-{:g}".format(*c.data.train_crop_scale), "0.05-1", SILENT,
            "the official code's"),
    Setting("normalization", lambda c: "(x-128)/128" if c.data.normalize == "official" else "ImageNet mean/std",
            "(x-128)/128", SILENT, "the official code's"),
    Setting("eval preprocessing (>= 320 px)", _eval, "whole image, no crop", SILENT,
            "the official code's; the released weights expect it"),
    Setting("eval size", lambda c: f"{c.data.eval_size}", "384", "384", ""),
    Setting("EMA decay", lambda c: f"{c.train.ema_decay:g}", "0.9999", "0.9999", ""),
    _EMA_WARMUP,
    Setting("EMA decay at another global batch", lambda c: f"as at {c.train.ema_batch}" if c.train.ema_batch else "as given",
            "as given (always 4096)", SILENT, "neither has a smaller batch: the adjustment keeps the averaging "
            "horizon in images of the paper's batch 4096"),
    Setting("SyncBatchNorm", lambda c: "on" if c.train.sync_bn else "off", "over up to 8 TPU cores", SILENT,
            "off by default (1 GPU: no effect); train.sync_bn=true on several GPUs"),
)

TRANSFER = (
    Setting("peak LR at batch 512", lambda c: f"{recipe.peak_lr(c, 512):g}", "0.001", "0.001",
            "both: 5e-4 per 256 (official) is the paper's 0.001 at 512"),
    Setting("LR schedule", _lr_sched, "constant", "cosine", "the paper states it"),
    Setting("LR warm-up epochs", lambda c: f"{c.optim.warmup_epochs:g}", "1", SILENT, "the official code's"),
    Setting("training length", lambda c: f"{c.train.total_steps} steps" if c.train.total_steps else f"{c.train.epochs} epochs",
            "10000 steps", "10000 steps", "official: max(10,000 steps, 15 epochs), 10,000 on the four datasets"),
    Setting("weight decay", lambda c: f"{c.optim.weight_decay:g}", "1e-05", "0", "the paper states it"),
    replace(_BATCH, official="512", paper="512", why="set by the number of GPUs and train.grad_accum_steps: 4 x 128"),
    Setting("EMA decay", lambda c: f"{c.train.ema_decay:g}", "0.9996", SILENT, "the official code's"),
    _EMA_WARMUP,
    Setting("dropout", lambda c: _pair(c.schedule.dropout), "1e-06", SILENT, "the official code's"),
    _SURVIVAL, _LS,
    Setting("RandAugment / mixup", lambda c: "none" if max(*c.schedule.randaug_magnitude, *c.schedule.mixup_alpha) == 0
            else "on", "none", "none", ""),
    Setting("cutout", _cutout, "one square of size/2, random fill, always", "cutout",
            "timm's RandomErasing; neither states the paper's cutout, the official one differs in size and rate"),
    Setting("train crop", lambda c: "random-resized {:g}-{:g}".format(*c.data.train_crop_scale), "whole image", SILENT,
            "the ImageNet crop is kept; the official fine-tune resizes the whole image"),
    Setting("image size (V2-S)", lambda c: f"{c.schedule.image_size[1]}", "384", SILENT, "the official code's"),
    _OPT,
)


def resolved(profiles=PROFILES) -> dict[str, dict[str, Config]]:
    """{recipe: {profile: resolved config}} of the current configs."""
    return {label: {p: progressive.resolve(config.load(config.CONFIGS_DIR / f"{stem}.yaml", [f"profile={p}"]))
                    for p in profiles} for label, stem in RECIPES.items()}


def follows(ours: str, official: str, paper: str) -> str:
    hits = [who for who, value in (("paper", paper), ("official", official)) if value == ours]
    return " and ".join(hits) if hits else "neither"


def table(configs: dict[str, dict[str, Config]] | None = None) -> pd.DataFrame:
    """One row per setting of each recipe; 'gpu follows' compares the gpu profile's value with both."""
    configs = configs or resolved()
    rows = []
    for label, settings in (("ImageNet (§5.1)", IMAGENET), ("Transfer (§5.3)", TRANSFER)):
        cfgs = configs[label]
        for s in settings:
            ours = {p: s.ours(cfg) for p, cfg in cfgs.items()}
            rows.append({"recipe": label, "setting": s.name, "official": s.official, "paper": s.paper, **ours,
                         "gpu follows": follows(ours.get("gpu", ""), s.official, s.paper), "why": s.why})
    return pd.DataFrame(rows)


def lines() -> list[str]:
    """The report's section: per recipe a table (no wider than the report allows) and the reasons."""

    try:
        frame = table()
    except Exception as err:  # shown, not hidden: a broken config is a finding
        return [f"(the recipe table cannot be built: {err})", ""]
    counts = frame["gpu follows"].value_counts()
    out = ["Every recipe setting: the official code's value, the paper's, ours per profile (read from "
           "`replication/configs/` under each profile's `replication/studies/` defaults; study arms may override), "
           "and which one the gpu profile follows. The cpu profile is the scaled-down proxy (AdamW, cosine, short "
           "runs): it follows neither by design. `python -m replication config show CONFIG profile=gpu` prints any "
           "run's resolved config.", "",
           "gpu profile: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ".", ""]
    for label, rows in frame.groupby("recipe", sort=False):
        out += [f"**{label}**", "", narrow_tables(rows.drop(columns=["recipe", "why"]), limit=250), "", "Why:", ""]
        out += [f"- *{r.setting}* ({r['gpu follows']}): {r.why}." for _, r in rows.iterrows() if r.why]
        out.append("")
    return out
