"""Read the logged results (``results/``) into data frames for the tables, figures and verdicts.

Layout (written by the package, see ``replication.results``):
  results/static/<name>.csv            exact properties (params_macs, table04, datasets)
  results/bench/**/*.csv               speed and memory measured on some hardware (rows with
                                       ``kind`` train | inference | memory, ``model``, ``hardware``)
  results/<experiment>/<run_id>/       one training run: config.yaml, epochs.csv, summary.json

Runs of the ``smoke`` profile are never evidence: they are left out unless ``include_smoke``.
Only reading happens here; nothing is computed against the paper.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from replication.results import describe_hardware  # noqa: F401 - the report's name for it as well

SMOKE = "smoke"


def flatten(mapping: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are kept as values."""
    out = {}
    for key, value in (mapping or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def pick(row, *names, default=None):
    """First present, non-missing value among ``names`` (exact keys, then dotted suffixes)."""
    keys = list(row.keys())
    for name in names:
        candidates = [name] + [k for k in keys if k.endswith("." + name)]
        for key in candidates:
            if key in row:
                value = row[key]
                if value is not None and not (isinstance(value, float) and pd.isna(value)):
                    return value
    return default


class ResultsError(ValueError):
    """A results folder that is missing, or a file in it that cannot be read: the message names it and the fix."""


def results_folder(path, given_as: str = "--results") -> Path:
    """``path`` as a results folder, refused (naming the option or parameter ``given_as``) when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{given_as} {path}: no such folder; give the folder that holds the run records "
                           "(default: results/)")
    return path


def _read(path: Path, parse, kind: type | None = None):
    """``parse(path)``; a file that cannot be read (or is not a ``kind``) is a ResultsError naming it and the fix."""
    try:
        value = parse(path)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, pd.errors.EmptyDataError,
            pd.errors.ParserError) as err:
        reason = " ".join(str(err).split())  # one line (YAML errors span several)
    else:
        if kind is None or isinstance(value, kind):
            return value
        reason = "it is empty" if value is None else f"it holds a {type(value).__name__}, not a {kind.__name__}"
    raise ResultsError(f"cannot read results file {path}: {reason}; restore it (committed results: git checkout -- "
                       f"{path}) or delete it and regenerate it (a run's file: train that run again)")


def _read_csv(path: Path) -> pd.DataFrame:
    frame = _read(path, pd.read_csv)
    frame["source_file"] = str(path)
    return frame


def _read_csvs(folder: Path) -> pd.DataFrame:
    """Every CSV under ``folder`` (recursively, e.g. results/bench/gpu-<device>/)."""
    frames = [_read_csv(path) for path in sorted(folder.rglob("*.csv"))] if folder.is_dir() else []
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass
class Results:
    """Everything under one results folder, loaded lazily."""

    root: Path
    include_smoke: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.root = Path(self.root)

    # ------------------------------------------------------------------ exact and benchmarks
    def static(self, name: str) -> pd.DataFrame:
        """``results/static/<name>.csv`` (empty frame if absent)."""
        key = ("static", name)
        if key not in self._cache:
            path = self.root / "static" / f"{name}.csv"
            self._cache[key] = _read_csv(path) if path.is_file() else pd.DataFrame()
        return self._cache[key]

    def bench(self) -> pd.DataFrame:
        if "bench" not in self._cache:
            self._cache["bench"] = _read_csvs(self.root / "bench")
        return self._cache["bench"]

    # ------------------------------------------------------------------ training runs
    def run_dirs(self, experiment: str) -> list[Path]:
        folder = self.root / experiment
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file())

    def runs(self, experiment: str) -> pd.DataFrame:
        """One row per run: ``run_id``, ``finished``, the flattened config and summary (``summary.*``)."""
        key = ("runs", experiment)
        if key in self._cache:
            return self._cache[key]
        rows = []
        for folder in self.run_dirs(experiment):
            config = _read(folder / "config.yaml", lambda p: yaml.safe_load(p.read_text()), dict)
            row = {"run_id": folder.name, "run_dir": str(folder), **flatten(config)}
            summary_path = folder / "summary.json"
            row["finished"] = summary_path.is_file()
            if summary_path.is_file():
                row.update(flatten(_read(summary_path, lambda p: json.loads(p.read_text()), dict), "summary."))
            if not self.include_smoke and str(pick(row, "profile", default="")) == SMOKE:
                continue
            rows.append(row)
        frame = pd.DataFrame(rows)
        self._cache[key] = frame
        return frame

    def finished_runs(self, experiment: str) -> pd.DataFrame:
        runs = self.runs(experiment)
        return runs[runs["finished"]].reset_index(drop=True) if not runs.empty else runs

    def epochs(self, experiment: str) -> pd.DataFrame:
        """Every ``epochs.csv`` row of the experiment's kept runs, with the run's config columns."""
        runs = self.runs(experiment)
        frames = []
        for _, run in runs.iterrows():
            path = Path(run["run_dir"]) / "epochs.csv"
            if path.is_file() and path.stat().st_size:
                frame = _read(path, pd.read_csv)
                config = {c: value for c, value in run.items() if c not in frame.columns and not isinstance(value, (list, dict))}
                frames.append(pd.concat([frame, pd.DataFrame(config, index=frame.index)], axis=1))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ------------------------------------------------------------------ hardware
    def hardware(self, frame: pd.DataFrame) -> str:
        """The distinct hardware descriptions found in a frame ("" when none is recorded)."""
        if frame is None or frame.empty:
            return ""
        for column in ("hardware", "summary.hardware", "device", "summary.device"):
            if column in frame.columns:
                values = sorted({_hardware_text(v) for v in frame[column].dropna()})
                return "; ".join(v for v in values if v)
        dotted = [c for c in frame.columns if c.startswith("summary.hardware.")]
        if dotted:
            texts = {describe_hardware({c.rsplit(".", 1)[1]: r[c] for c in dotted}) for _, r in frame.iterrows()}
            return "; ".join(sorted(t for t in texts if t))
        return ""


def _hardware_text(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def seeds_by(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Group runs by ``by`` and aggregate ``metric`` over seeds: mean, std, n, values (list)."""
    if frame.empty or metric not in frame.columns or any(b not in frame.columns for b in by):
        return pd.DataFrame(columns=[*by, "mean", "std", "n", "values"])
    grouped = frame.dropna(subset=[metric]).groupby(by, dropna=False)[metric]
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["values"] = grouped.agg(list)
    return out.reset_index()
