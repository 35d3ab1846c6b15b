"""Progressive learning with adaptive regularization (paper §4.2, Algorithm 1, Table 6).

Training is split into M stages. Stage i trains at image size S_i with regularization
Phi_i = (RandAugment magnitude, mixup alpha, dropout), all interpolated linearly between the
first-stage values (S_0, Phi_0) and the last-stage values (S_e, Phi_e). This module only
computes the table of stages; ``replication.train`` applies it.

Modes (``MODES``):
  paper                stage 1 at the minimum, stage M at the maximum (Algorithm 1).
  official             the released code's rule: stage i (0-based) of M trains at
                       int(S_0 + (S_e - S_0)(i + 1)/M), never snapped; RandAugment and mixup ramp from the first
                       to the last value; dropout stays at ``dropout[1]`` (never scheduled).
  fixed                one stage at the last-stage size, regularization held (Table 12 baseline).
  vanilla-progressive  sizes grow as in ``paper``; regularization held fixed (Table 13, left).
  random-resize        a size drawn uniformly every ``resize_every`` epochs (Table 13, second
                       row); with ``resize_every=0`` a size is drawn for every batch
                       (``batch_sizes``). Regularization is held fixed, or with ``adaptive``
                       set from where the drawn size falls between S_0 and S_e.

Sizes snap to a multiple of ``size_multiple`` (1 keeps exact values). "Fixed" regularization
means the value named by ``hold``: the first-stage, the last-stage or the middle value.

``resolve(cfg)`` fills the (first, last) pairs a config leaves open from the model's row of
Table 6 (``paper_data/table06.csv``) or, in mode ``official``, from the released configs;
``plan(cfg)`` answers what every epoch and every batch trains with, in every mode.
"""
from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import asdict, dataclass

from replication import config, paper
from replication.cli import positive_int
from replication.config import HOLDS, MODES, PAIRS, Config, ConfigError, validate

REG_KEYS = ("randaug_magnitude", "mixup_alpha", "dropout")

# The released code's per-model (first, last) values (google/automl efficientnetv2 configs): the
# train size is the model's, RandAugment ramps from 5, mix alpha from 0; dropout is the model's
# fixed rate, written (p, p). The paper's values (Table 6) are read from paper_data/table06.csv.
OFFICIAL_DEFAULTS = {
    "efficientnetv2_s": dict(image_size=(128, 300), randaug_magnitude=(5, 10), mixup_alpha=(0, 0), dropout=(0.2, 0.2)),
    "efficientnetv2_m": dict(image_size=(128, 384), randaug_magnitude=(5, 15), mixup_alpha=(0, 0.2), dropout=(0.3, 0.3)),
    "efficientnetv2_l": dict(image_size=(128, 384), randaug_magnitude=(5, 20), mixup_alpha=(0, 0.5), dropout=(0.4, 0.4)),
    "efficientnetv2_xl": dict(image_size=(128, 384), randaug_magnitude=(5, 20), mixup_alpha=(0, 0.5), dropout=(0.4, 0.4)),
}


@dataclass(frozen=True)
class Stage:
    index: int  # 0-based
    start_epoch: int  # 0-based, inclusive
    epochs: int
    image_size: int  # for per-batch random resize: the loader's size (the largest)
    randaug_magnitude: float
    mixup_alpha: float
    dropout: float

    @property
    def end_epoch(self) -> int:
        return self.start_epoch + self.epochs


def paper_defaults() -> dict:
    """Table 6 as {model name: {pair key: (first, last)}} (from the transcription, never retyped)."""
    frame, out = paper.load("T6"), {}
    columns = {"image_size": "image_size_px", "randaug_magnitude": "randaug_magnitude",
               "mixup_alpha": "mixup_alpha", "dropout": "dropout_rate"}
    for label, rows in frame.groupby("model", sort=False):
        first, last = rows.iloc[0], rows.iloc[-1]
        name = label.lower().replace("-", "_")  # EfficientNetV2-S -> efficientnetv2_s
        out[name] = {k: (_number(first[c]), _number(last[c])) for k, c in columns.items()}
    return out


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def model_defaults(model: str, mode: str = "paper") -> dict:
    """The per-model (first, last) values for ``mode`` ('official' -> released code, else Table 6)."""
    table = OFFICIAL_DEFAULTS if mode == "official" else paper_defaults()
    key = model[3:] if model.startswith("tf_") else model
    if key not in table:
        raise KeyError(f"no schedule defaults for model {model!r} (known: {', '.join(sorted(table))}); "
                       "give image_size, randaug_magnitude, mixup_alpha and dropout explicitly")
    return dict(table[key])


def resolve(cfg: Config) -> Config:
    """``cfg`` with every schedule pair it leaves open (None) taken from the model's defaults."""
    s = cfg.schedule
    missing = [k for k in PAIRS if getattr(s, k) is None]
    if not missing:
        return cfg
    try:
        values = model_defaults(s.values_from or cfg.model.name, s.mode)
    except KeyError as err:
        raise ConfigError(f"schedule.{', schedule.'.join(missing)}: {err.args[0]}, or name a model with "
                          "schedule.values_from") from None
    image = tuple(int(v) for v in values["image_size"])
    filled = {k: (image if k == "image_size" else tuple(float(v) for v in values[k])) for k in missing}
    out = dataclasses.replace(cfg, schedule=dataclasses.replace(s, **filled))
    validate(out)
    return out


def snap(size: float, multiple: int, floor: bool = False) -> int:
    """Round ``size`` to a multiple of ``multiple`` (nearest, or down with ``floor``)."""
    units = int(size // multiple) if floor else int(round(size / multiple))
    return max(multiple, units * multiple)


def lerp(pair, t: float) -> float:
    first, last = pair
    return first + (last - first) * t


def stage_epochs(epochs: int, stages: int) -> list[int]:
    """Split ``epochs`` into ``stages`` near-equal parts (350/4 -> 87, 88, 87, 88)."""
    if stages < 1 or epochs < stages:
        raise ValueError(f"need 1 <= stages <= epochs, got stages={stages}, epochs={epochs}")
    return [(i + 1) * epochs // stages - i * epochs // stages for i in range(stages)]


def held(pair, hold: str) -> float:
    return {"first": pair[0], "last": pair[1], "middle": lerp(pair, 0.5)}[hold]


def schedule(mode: str, epochs: int, stages: int, image_size, randaug_magnitude, mixup_alpha, dropout,
             size_multiple: int = 1, resize_every: int = 8, adaptive: bool = False, hold: str = "last",
             seed: int = 0) -> list[Stage]:
    """Return the list of stages for ``mode``; each value argument is a (first, last) pair."""
    if mode not in MODES:
        raise ValueError(f"unknown schedule mode {mode!r}; choose one of {', '.join(MODES)}")
    if hold not in HOLDS:
        raise ValueError(f"unknown hold {hold!r}; choose one of {', '.join(HOLDS)}")
    pairs = dict(randaug_magnitude=tuple(randaug_magnitude), mixup_alpha=tuple(mixup_alpha), dropout=tuple(dropout))
    size = tuple(image_size)
    fixed_reg = {k: held(v, hold) for k, v in pairs.items()}
    rows = []  # (epochs, size, reg dict)
    if mode == "fixed":
        rows.append((epochs, snap(size[1], size_multiple), fixed_reg))
    elif mode == "random-resize":
        rows = _random_rows(epochs, size, pairs, fixed_reg, size_multiple, resize_every, adaptive, seed)
    else:
        for i, n in enumerate(stage_epochs(epochs, stages)):
            if mode == "official":
                t = (i + 1) / stages
                reg = {k: lerp(v, i / (stages - 1) if stages > 1 else 1.0) for k, v in pairs.items()}
                reg["dropout"] = pairs["dropout"][1]
                rows.append((n, int(lerp(size, t)), reg))  # the released code's int(); no snapping
            else:
                t = i / (stages - 1) if stages > 1 else 1.0
                reg = {k: lerp(v, t) for k, v in pairs.items()} if mode == "paper" else fixed_reg
                rows.append((n, snap(lerp(size, t), size_multiple), reg))
    out, start = [], 0
    for i, (n, s, reg) in enumerate(rows):
        out.append(Stage(i, start, n, s, **{k: round(float(reg[k]), 6) for k in REG_KEYS}))
        start += n
    return out


def _random_rows(epochs, size, pairs, fixed_reg, multiple, every, adaptive, seed):
    """Random resize: a size drawn every ``every`` epochs (or per batch when ``every`` is 0)."""
    if every == 0:  # per-batch sizes come from batch_sizes(); the loader runs at the largest size
        reg = fixed_reg if not adaptive else {k: held(v, "middle") for k, v in pairs.items()}
        return [(epochs, _size_choices(size, multiple)[-1], reg)]
    rng = random.Random(seed)
    choices = _size_choices(size, multiple)
    rows = []
    for start in range(0, epochs, every):
        s = rng.choice(choices)
        reg = {k: lerp(v, _position(size, s)) for k, v in pairs.items()} if adaptive else fixed_reg
        rows.append((min(every, epochs - start), s, reg))
    return rows


def _size_choices(size, multiple) -> list[int]:
    """Every multiple of ``multiple`` within [first, last] (at least one)."""
    low, high = -(-int(size[0]) // multiple) * multiple, int(size[1]) // multiple * multiple
    return list(range(low, high + 1, multiple)) or [snap(size[1], multiple)]


def _position(size, s) -> float:
    return 0.0 if size[1] == size[0] else min(1.0, max(0.0, (s - size[0]) / (size[1] - size[0])))


def stage_at(stages: list[Stage], epoch: int) -> Stage:
    """The stage that contains 0-based ``epoch``."""
    for stage in stages:
        if stage.start_epoch <= epoch < stage.end_epoch:
            return stage
    raise IndexError(f"epoch {epoch} is past the schedule ({stages[-1].end_epoch} epochs)")


@dataclass(frozen=True)
class Step:
    """What one batch trains with. RandAugment is applied when images are loaded, so it follows
    the stage, not the batch."""
    image_size: int
    mixup_alpha: float
    dropout: float


@dataclass(frozen=True)
class Plan:
    """A run's schedule: its stages, and what each batch of an epoch trains with."""
    stages: list[Stage]
    per_batch: bool = False  # random resize with a new size every batch (schedule.resize_every=0)
    image_size: tuple = (0, 0)
    mixup_alpha: tuple = (0.0, 0.0)
    dropout: tuple = (0.0, 0.0)
    size_multiple: int = 1
    adaptive: bool = False
    seed: int = 0

    def stage(self, epoch: int) -> Stage:
        return stage_at(self.stages, epoch)

    def steps(self, epoch: int, count: int) -> list[Step]:
        """The ``count`` batches of 0-based ``epoch``: the stage's values, or with per-batch random
        resize a size drawn per batch (seeded by seed and epoch) and, if adaptive, the mixup and
        dropout where that size falls between the first and last size."""
        stage = self.stage(epoch)
        if not self.per_batch:
            return [Step(stage.image_size, stage.mixup_alpha, stage.dropout)] * count
        rng = random.Random(self.seed * 1_000_003 + epoch)
        choices = _size_choices(self.image_size, self.size_multiple)
        out = []
        for size in (rng.choice(choices) for _ in range(count)):
            t = _position(self.image_size, size)
            out.append(Step(size, round(lerp(self.mixup_alpha, t), 6), round(lerp(self.dropout, t), 6)) if self.adaptive
                       else Step(size, stage.mixup_alpha, stage.dropout))
        return out


def plan(cfg: Config) -> Plan:
    """The plan of a resolved config (``resolve``)."""
    s = cfg.schedule
    stages = schedule(s.mode, cfg.train.epochs, s.stages, s.image_size, s.randaug_magnitude, s.mixup_alpha, s.dropout,
                      s.size_multiple, s.resize_every, s.adaptive, s.hold, cfg.seed)
    per_batch = s.mode == "random-resize" and s.resize_every == 0
    return Plan(stages, per_batch, tuple(s.image_size), tuple(s.mixup_alpha), tuple(s.dropout), s.size_multiple,
                s.adaptive, cfg.seed)


# --------------------------------------------------------------------------- CLI
def add_commands(subparsers) -> None:
    p = subparsers.add_parser("schedule", help="print a progressive-learning stage table as JSON",
                              description="Print the stage table (epochs, size, regularization) as JSON, resolved "
                                          "by the same code as the trainer's.")
    p.add_argument("--mode", choices=MODES, help="default: paper (or the profile's)")
    p.add_argument("--model", help="takes the (first, last) values from Table 6, or the released configs with "
                                   "--mode official (default: efficientnetv2_s, or the profile's model)")
    p.add_argument("--profile", help="start from a profile's trainer settings (smoke|cpu|gpu)")
    p.add_argument("--epochs", type=positive_int, help="default 350 (or the profile's)")
    p.add_argument("--stages", type=positive_int, help="default 4 (or the profile's)")
    for key in ("image-size", "randaug-magnitude", "mixup-alpha", "dropout"):
        p.add_argument(f"--{key}", type=float, nargs=2, metavar=("FIRST", "LAST"), help="override the default")
    p.add_argument("--size-multiple", type=positive_int, help="default 4 (or the profile's)")
    p.add_argument("--resize-every", type=int, help="random-resize: epochs between draws (0: every batch)")
    p.add_argument("--adaptive", action="store_true", default=None, help="random-resize: regularization follows the drawn size")
    p.add_argument("--hold", choices=HOLDS, help="value of regularization held fixed")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import sys

    schedule_keys = ("mode", "stages", "size_multiple", "resize_every", "adaptive", "hold", "image_size", *REG_KEYS)
    updates = {"schedule": {k: getattr(args, k) for k in schedule_keys if getattr(args, k) is not None},
               "model": {"name": args.model} if args.model else {}, "train": {"epochs": args.epochs} if args.epochs is not None else {}}
    if args.seed is not None:
        updates["seed"] = args.seed
    try:
        cfg = resolve(config.load(None, profile=args.profile, updates=updates))
        stages = plan(cfg).stages
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = {"mode": cfg.schedule.mode, "model": cfg.model.name, "profile": args.profile, "epochs": cfg.train.epochs,
             "stages": [asdict(s) for s in stages]}
    print(json.dumps(table, indent=2))
    return 0
