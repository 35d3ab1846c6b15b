"""CLI: ``python -m replication models`` and ``python -m replication info NAME``."""
from __future__ import annotations

import json
import sys


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("models", help="list registered models with their paper names and sizes")
    p.add_argument("--source", choices=["ours", "timm"], help="only our models or only timm baselines")
    p.set_defaults(func=_models)
    q = subparsers.add_parser("info", help="params / multiply-adds / image sizes of one model as JSON")
    q.add_argument("name", help="a registered name (see `python -m replication models`)")
    q.add_argument("--image-size", type=int, help="input size for MACs (default: the model's eval size)")
    q.add_argument("--num-classes", type=int, default=1000, help="classifier outputs (default 1000)")
    q.set_defaults(func=_info)
    r = subparsers.add_parser("static", help="exact params / multiply-adds of every paper row and Table 4 to results/static/")
    r.add_argument("--out", default="results/static", help="output folder (default results/static)")
    r.set_defaults(func=_static)


def _static(args) -> int:
    from .static import write_all

    for path, rows in write_all(args.out):
        print(f"wrote {path} ({rows} rows)")
    return 0


def _models(args) -> int:
    from .registry import NOT_BUILDABLE, REGISTRY, list_models

    header = ("name", "paper name", "source", "train", "eval", "tables")
    rows = [(e.name, e.paper_name, e.source, str(e.train_size), str(e.eval_size), " ".join(e.tables))
            for e in (REGISTRY[n] for n in list_models(args.source))]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if args.source in (None, "timm"):
        print("\nPaper rows timm 1.0.31 cannot build: " + "; ".join(f"{k} ({v})" for k, v in NOT_BUILDABLE.items()))
    return 0


def _info(args) -> int:
    from .registry import model_info
    from .static import count_model

    try:
        entry = model_info(args.name)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    for flag, value in (("--image-size", args.image_size), ("--num-classes", args.num_classes)):
        if value is not None and value < 1:
            print(f"error: {flag} must be a positive integer, got {value}", file=sys.stderr)
            return 2
    counts = count_model(entry.name, args.image_size, args.num_classes)
    out = dict(name=entry.name, paper_name=entry.paper_name, source=entry.source, builder=entry.builder,
               num_classes=args.num_classes, **counts, macs_convention="multiply-adds, batch 1",
               train_size=entry.train_size, eval_size=entry.eval_size, tables=list(entry.tables), note=entry.note)
    print(json.dumps(out, indent=2))
    return 0
