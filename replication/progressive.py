"""Progressive learning with adaptive regularization (paper §4.2, Algorithm 1, Table 6).

Training is split into M stages. Stage i trains at image size S_i with regularization
Phi_i = (RandAugment magnitude, mixup alpha, dropout), all interpolated linearly between the
first-stage values (S_0, Phi_0) and the last-stage values (S_e, Phi_e). This module only
computes the table of stages; ``replication.train`` applies it.

Modes (``MODES``):
  paper                stage 1 at the minimum, stage M at the maximum (Algorithm 1).
  official             the released code's rule: stage i (0-based) of M trains at
                       int(S_0 + (S_e - S_0)(i + 1)/M); RandAugment and mixup ramp from the first
                       to the last value; dropout stays at ``dropout[1]`` (never scheduled).
  fixed                one stage: the last-stage size and regularization (Table 12 baseline).
  vanilla-progressive  sizes grow as in ``paper``; regularization held fixed (Table 13, left).
  random-resize        a size drawn uniformly every ``resize_every`` epochs (Table 13, second
                       row); with ``resize_every=0`` a size is drawn for every batch
                       (``batch_sizes``). Regularization is held fixed, or with ``adaptive``
                       set from where the drawn size falls between S_0 and S_e.

Sizes snap to a multiple of ``size_multiple`` (1 keeps exact values). "Fixed" regularization
means the value named by ``hold``: the first-stage, the last-stage or the middle value.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

MODES = ("paper", "official", "fixed", "vanilla-progressive", "random-resize")
HOLDS = ("first", "last", "middle")
REG_KEYS = ("randaug_magnitude", "mixup_alpha", "dropout")

# Per-model (first, last) values, kept as data. PAPER_DEFAULTS: Table 6 of the paper.
# OFFICIAL_DEFAULTS: google/automl efficientnetv2 configs (see NOTES.md): the train size is the
# model's train size, RandAugment ramps from 5, mix alpha from 0; dropout is the model's fixed rate
# (written (p, p)).
PAPER_DEFAULTS = {
    "efficientnetv2_s": dict(image_size=(128, 300), randaug_magnitude=(5, 15), mixup_alpha=(0, 0), dropout=(0.1, 0.3)),
    "efficientnetv2_m": dict(image_size=(128, 380), randaug_magnitude=(5, 20), mixup_alpha=(0, 0.2), dropout=(0.1, 0.4)),
    "efficientnetv2_l": dict(image_size=(128, 380), randaug_magnitude=(5, 25), mixup_alpha=(0, 0.4), dropout=(0.1, 0.5)),
}
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


def model_defaults(model: str, mode: str = "paper") -> dict:
    """The per-model (first, last) values for ``mode`` ('official' -> released code, else Table 6)."""
    table = OFFICIAL_DEFAULTS if mode == "official" else PAPER_DEFAULTS
    key = model[3:] if model.startswith("tf_") else model
    if key not in table:
        raise KeyError(f"no schedule defaults for model {model!r} (known: {', '.join(sorted(table))}); "
                       "give image_size, randaug_magnitude, mixup_alpha and dropout explicitly")
    return dict(table[key])


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
        rows.append((epochs, snap(size[1], size_multiple), {k: v[1] for k, v in pairs.items()}))
    elif mode == "random-resize":
        rows = _random_rows(epochs, size, pairs, fixed_reg, size_multiple, resize_every, adaptive, seed)
    else:
        for i, n in enumerate(stage_epochs(epochs, stages)):
            if mode == "official":
                t = (i + 1) / stages
                reg = {k: lerp(v, i / (stages - 1) if stages > 1 else 1.0) for k, v in pairs.items()}
                reg["dropout"] = pairs["dropout"][1]
                rows.append((n, snap(int(lerp(size, t)), size_multiple, floor=True), reg))
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


def batch_sizes(image_size, size_multiple: int, seed: int, epoch: int, steps: int) -> list[int]:
    """Per-batch random resize: the image size of each of ``steps`` batches in ``epoch``."""
    rng = random.Random(seed * 1_000_003 + epoch)
    choices = _size_choices(tuple(image_size), size_multiple)
    return [rng.choice(choices) for _ in range(steps)]


def batch_regularization(image_size, size: int, mixup_alpha, dropout) -> dict:
    """Per-batch random resize with adaptive regularization: mixup and dropout for ``size``."""
    t = _position(tuple(image_size), size)
    return {"mixup_alpha": lerp(tuple(mixup_alpha), t), "dropout": lerp(tuple(dropout), t)}


def stage_at(stages: list[Stage], epoch: int) -> Stage:
    """The stage that contains 0-based ``epoch``."""
    for stage in stages:
        if stage.start_epoch <= epoch < stage.end_epoch:
            return stage
    raise IndexError(f"epoch {epoch} is past the schedule ({stages[-1].end_epoch} epochs)")


# --------------------------------------------------------------------------- CLI
def add_commands(subparsers) -> None:
    p = subparsers.add_parser("schedule", help="print a progressive-learning stage table as JSON",
                              description="Print the stage table (epochs, size, regularization) as JSON.")
    p.add_argument("--mode", choices=MODES, default="paper")
    p.add_argument("--model", default="efficientnetv2_s",
                   help="takes the (first, last) values from Table 6, or the official configs with --mode official")
    p.add_argument("--profile", help="take epochs, stages, sizes and strengths from a config profile (smoke|cpu|gpu)")
    p.add_argument("--epochs", type=int, help="default 350 (or the profile's)")
    p.add_argument("--stages", type=int, help="default 4 (or the profile's)")
    for key in ("image-size", "randaug-magnitude", "mixup-alpha", "dropout"):
        p.add_argument(f"--{key}", type=float, nargs=2, metavar=("FIRST", "LAST"), help="override the default")
    p.add_argument("--size-multiple", type=int, help="default 1 (or the profile's)")
    p.add_argument("--resize-every", type=int, default=8, help="random-resize: epochs between draws (0: every batch)")
    p.add_argument("--adaptive", action="store_true", help="random-resize: regularization follows the drawn size")
    p.add_argument("--hold", choices=HOLDS, default="last", help="value of regularization held fixed")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import sys
    values, base = {}, {"epochs": 350, "stages": 4, "size_multiple": 1}
    if args.profile:
        from replication import config

        try:
            cfg = config.load(None, [f"profile={args.profile}"], check_resources=False)
        except config.ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        values = {k: getattr(cfg.schedule, k) for k in ("image_size", *REG_KEYS)}
        base = {"epochs": cfg.train.epochs, "stages": cfg.schedule.stages, "size_multiple": cfg.schedule.size_multiple}
    else:
        try:
            values = model_defaults(args.model, args.mode)
        except KeyError as err:
            missing = [k for k in ("image_size", *REG_KEYS) if getattr(args, k) is None]
            if missing:
                print(f"error: {err.args[0]} (missing: {', '.join('--' + k.replace('_', '-') for k in missing)})",
                      file=sys.stderr)
                return 2
    for key in ("image_size", *REG_KEYS):
        if getattr(args, key) is not None:
            values[key] = tuple(getattr(args, key))
    values["image_size"] = tuple(int(v) for v in values["image_size"])
    base.update({k: getattr(args, k) for k in base if getattr(args, k) is not None})
    try:
        stages = schedule(args.mode, base["epochs"], base["stages"], size_multiple=base["size_multiple"],
                          resize_every=args.resize_every, adaptive=args.adaptive, hold=args.hold,
                          seed=args.seed, **values)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = {"mode": args.mode, "model": None if args.profile else args.model, "profile": args.profile,
             "epochs": base["epochs"], "stages": [asdict(s) for s in stages]}
    print(json.dumps(table, indent=2))
    return 0
