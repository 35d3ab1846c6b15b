"""``python -m replication config show CONFIG [profile=...] [key=value ...]``: the fully resolved
config of a run (every key, Table 6 / released values filled in) and its stage table, without training.

Resolved by the code the trainer uses (``config.load``, ``progressive.resolve``, ``progressive.plan``);
``--processes N`` says what the run would print at start on N processes (global batch, peak LR, EMA).
"""
from __future__ import annotations

import sys

import yaml

from replication import config, progressive, recipe
from replication.config import ConfigError


def stage_lines(cfg: config.Config) -> list[str]:
    """The stage table of a resolved config as aligned text."""
    head = ("stage", "epochs", "size", "randaug", "mixup", "dropout")
    rows = [(s.index + 1, f"{s.start_epoch + 1}-{s.end_epoch}", s.image_size, f"{s.randaug_magnitude:g}",
             f"{s.mixup_alpha:g}", f"{s.dropout:g}") for s in progressive.plan(cfg).stages]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return ["  ".join(str(x).rjust(w) for x, w in zip(row, widths)) for row in (head, *rows)]


def show(path: str, overrides: list[str], processes: int = 1) -> str:
    cfg = progressive.resolve(config.load(path, overrides))
    lines = [yaml.safe_dump(config.to_dict(cfg), sort_keys=False).rstrip(), "",
             f"# stages ({cfg.schedule.mode}, {cfg.train.epochs} epochs)"]
    if cfg.train.total_steps:
        lines.append(f"# train.total_steps={cfg.train.total_steps}: the epochs follow from the training set and the "
                     "global batch; the table is for train.epochs")
    lines += [f"# {line}" for line in stage_lines(cfg)]
    lines += ["", f"# on {processes} process(es): {recipe.describe(cfg, processes)}"]
    return "\n".join(lines) + "\n"


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("config", help="show the fully resolved config and stage table of a run, without training",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    s = sub.add_parser("show", help="the resolved config (YAML) and the stage table")
    s.add_argument("config", help="experiment YAML, e.g. replication/configs/progressive.yaml")
    s.add_argument("overrides", nargs="*", help="dotted key=value, e.g. profile=gpu model.name=efficientnetv2_m")
    s.add_argument("--processes", type=int, default=1, help="processes (GPUs) for the global batch line (default 1)")
    s.set_defaults(func=_cli)


def _cli(args) -> int:
    try:
        if args.processes < 1:
            raise ConfigError(f"--processes={args.processes}: use 1 or more")
        sys.stdout.write(show(args.config, args.overrides, args.processes))
    except (ConfigError, ValueError) as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    return 0
