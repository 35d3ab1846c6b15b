"""Command line: ``python -m replication <command> [--help]``.

Each command lives in the module that owns its concern; the module exposes
``add_commands(subparsers)`` which adds its sub-parsers and sets ``func`` on them.
Modules are imported only when needed so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> (module that implements it, one-line help)
COMMANDS = {
    # the subject: data, models, the schedule, training, released weights
    "data": ("replication.data", "list, verify, prepare and describe datasets"),
    "models": ("replication.models.cli", "list registered models with their paper names"),
    "info": ("replication.models.cli", "params / multiply-adds / image sizes of one model as JSON"),
    "static": ("replication.models.cli", "exact params / multiply-adds of every paper row to results/static/"),
    "schedule": ("replication.progressive", "print a progressive-learning stage table as JSON"),
    "config": ("replication.config_show", "show the fully resolved config and stage table of a run, without training"),
    "train": ("replication.train", "run one training from a YAML config plus overrides"),
    "weights": ("replication.weights", "import released weights (timm) into our models; evaluate them all"),
    "evaluate": ("replication.weights", "top-1/top-5 of a model with given weights on a dataset"),
    # the study layer: specs, notebooks, benchmarks, the report
    "study": ("replication.study.experiments", "show a study spec's runs, or run its queue (resumable)"),
    "notebooks": ("replication.study.runbook", "write notebooks/*/*.ipynb from their .py sources (jupytext)"),
    "experiments": ("replication.study.runbook", "run the experiment notebooks of a profile (resumable)"),
    "figures": ("replication.report.build", "run the plotting notebooks, then write the report"),
    "report": ("replication.report.build", "write figures/REPORT.md and build/report.html"),
    "bench": ("replication.study.bench", "speed benchmarks to results/bench/"),
    "bench-gpu": ("replication.study.bench_gpu", "the GPU speed benchmark (bench/gpu.sh)"),
    "bench-cpu": ("replication.study.bench_gpu", "the speed suite on this CPU, resumable, with a time budget"),
    "nas": ("replication.study.nas", "the §3.3 search at small scale (settings from the study spec)"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m replication", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    if wanted is not None:  # only the module of the command being run is imported
        importlib.import_module(COMMANDS[wanted][0]).add_commands(sub)
    for name, (_module, help_text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
