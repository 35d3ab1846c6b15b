"""Which declared arm of its study spec each logged run is, read from its saved config.

A run is arm A of family F when its saved ``config.yaml`` equals the config the study spec of the
run's profile declares for (A, the run's seed), up to the keys a run may change without changing
what it measures (``config.RESUME_FREE_KEYS``: folders, threads, progress bars) and its ``run_id``.
Of its starting checkpoint only whether it has one counts (the spec's ``init_from``), not the path,
so a fine-tune and the from-scratch arm with otherwise equal settings stay apart. Apart from that
path, it is the test the trainer applies before it reuses a finished run, so a run the queue would
not reuse is not counted as that arm. Runs that match no arm (the 8-epoch pilot, runs of another
code version's defaults) get ``None``.
"""
from __future__ import annotations

import functools

import pandas as pd

from replication import config as config_mod
from replication import progressive, results
from replication.config import ConfigError
from replication.report.collect import ResultsError
from replication.study import spec

START = "model.init_checkpoint"
IGNORED = (*config_mod.MECHANICS_KEYS, "run_id", START)


def _comparable(cfg: config_mod.Config, pretrained: bool) -> tuple:
    """The settings that make a run an arm, plus whether it starts from a checkpoint (its path is per seed)."""
    kept = ((k, repr(v)) for k, v in config_mod.flat(cfg).items() if k not in IGNORED)
    return tuple(sorted([*kept, (START, repr(bool(pretrained)))]))


@functools.lru_cache(maxsize=None)
def declared(profile: str) -> dict[tuple, str]:
    """Comparable resolved config -> arm name, for every (arm, seed) of study ``profile`` ({} without one)."""
    try:
        study = spec.load(profile)
    except (ConfigError, FileNotFoundError, ValueError):
        return {}
    out = {}
    for arm, seed in study.runs():
        try:
            out.setdefault(_comparable(progressive.resolve(study.config(arm, seed)), bool(arm.init_from)), arm.name)
        except (ConfigError, ValueError):
            continue
    return out


@functools.lru_cache(maxsize=None)
def explained(profile: str) -> frozenset[str]:
    """Run folders (``<experiment>/<run_id>``) whose record from a tree with uncommitted changes the study spec's
    ``changes`` explain (an entry's ``runs``, written ``<family>/<run_id>``), so that they count."""
    try:
        study = spec.load(profile)
    except (ConfigError, FileNotFoundError, ValueError):
        return frozenset()
    named = [run.partition("/") for change in study.changes for run in change.get("runs") or ()]
    return frozenset(f"{spec.EXPERIMENTS.get(family, family)}/{run_id}" for family, _, run_id in named)


def label(run_dir: str, profile) -> str | None:
    """The declared arm that the run in ``run_dir`` is, or None (also for a record whose process ran code with
    uncommitted changes that the spec's ``changes`` do not explain: ``results.counts_as_clean``)."""
    if not isinstance(profile, str) or not profile:
        return None
    try:
        saved = config_mod.from_dict(config_mod.read_yaml(f"{run_dir}/config.yaml"))
    except (ConfigError, OSError):
        return None
    try:
        info = results.read_run_info(run_dir)
    except results.RunError as err:
        raise ResultsError(str(err)) from None
    if not results.counts_as_clean(info, run_dir, explained(profile)):
        return None
    return declared(profile).get(_comparable(saved, bool(saved.model.init_checkpoint)))


def labels(runs: pd.DataFrame) -> pd.Series:
    """:func:`label` for every row of a runs table (``run_dir`` and ``profile`` columns)."""
    if runs.empty or "run_dir" not in runs.columns:
        return pd.Series([None] * len(runs), index=runs.index, dtype=object)
    profiles = runs["profile"] if "profile" in runs.columns else pd.Series([None] * len(runs), index=runs.index)
    return pd.Series([label(d, p) for d, p in zip(runs["run_dir"], profiles)], index=runs.index, dtype=object)
