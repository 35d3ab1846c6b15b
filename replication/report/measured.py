"""Our measured numbers in the shapes the tables need, and the names that tie them to the paper.

Experiment folders are the study spec's (``replication.study.spec.EXPERIMENTS``): Tables 12-13
and Figures 1 and 6 read the ``progressive`` family's runs, each arm recognised by its saved config.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pandas as pd

from replication.report import arms
from replication.report import verdicts as v
from replication.report.collect import Results, pick, seeds_by
from replication.study.spec import EXPERIMENTS  # results/<experiment>/ of each experiment family
from replication.study.speed_plan import precision
STATIC_FILES = {"params": "params_macs", "layers": "table04", "datasets": "datasets"}  # results/static/<name>.csv

# paper row labels that do not carry a registry paper name
ALIASES = {
    "V1-B7 (EfficientNet-B7, same progressive training)": "EfficientNet-B7",
    "V2-M (EfficientNetV2-M)": "EfficientNetV2-M",
    "No fused": "EfficientNet-B4 (No fused)",
    "DeiT-B (ViT+regularization)": "DeiT-B (ViT+reg)",
    "DeiT-B-384 (ViT+regularization)": "DeiT-B-384 (ViT+reg)",
    "ViT-B/16 (21k)": "ViT-B/16",
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def paper_label(row_name: str) -> str:
    """Paper row label -> the registry's paper name ("V2-B0" -> "EfficientNetV2-B0")."""
    name = ALIASES.get(row_name, row_name)
    name = re.sub(r"^V2-", "EfficientNetV2-", name)
    name = re.sub(r"^V1-", "EfficientNet-", name)
    return re.sub(r" \(21k\)$", "", name) if name.startswith("EfficientNetV2") else name


@functools.lru_cache(maxsize=None)
def _registry() -> tuple:
    try:
        from replication.models.registry import REGISTRY  # lazy: the registry loads timm; tables read without it
    except ImportError:  # the models part is not installed: nothing can be matched
        return ()
    return tuple(REGISTRY.values())


def registry_name(row_name: str, table: str) -> str | None:
    """The registered model measured for a paper row of ``table`` (None if none is built)."""
    wanted = _norm(paper_label(row_name))
    tagged = [e for e in _registry() if table in e.tables]
    for entries in (tagged, list(_registry())):  # entries tagged with the table first
        exact = [e for e in entries if _norm(e.paper_name) == wanted]
        if exact:
            return exact[0].name
        partial = sorted((e for e in entries if wanted in _norm(e.paper_name)), key=lambda e: len(e.paper_name))
        if partial:
            return partial[0].name
    return None


# --------------------------------------------------------------------------- exact
def params_macs(res: Results) -> pd.DataFrame:
    """``results/static/params_macs.csv`` as model, params_M, macs_B, image_size (empty if absent)."""
    frame = res.static(STATIC_FILES["params"])
    if not frame.empty:
        frame = frame[frame["model"].fillna("").astype(str).ne("") & frame["params"].notna()]
    if frame.empty:
        return pd.DataFrame(columns=["model", "params_M", "macs_B", "image_size"])
    out = pd.DataFrame({
        "model": frame[[c for c in ("model", "name") if c in frame.columns][0]],
        "params_M": frame["params"] / 1e6,
        "macs_B": frame["macs"] / 1e9 if "macs" in frame.columns else float("nan"),
        "image_size": frame.get("image_size", pd.Series([None] * len(frame))),
    })
    return out.drop_duplicates("model", keep="last").reset_index(drop=True)


RELEASE_TABLE = "automl_README"  # rows of params_macs.csv holding the official release's values


def release_values(res: Results) -> dict[str, dict[str, str]]:
    """{registry model: {"params_M": "21.5", "flops_B": "8.4"}}: the official release's (google/automl
    README) values as printed, from the ``automl_README`` rows of ``params_macs.csv`` ({} if absent)."""
    frame = res.static(STATIC_FILES["params"])
    if frame.empty or "table" not in frame.columns:
        return {}
    rows = frame[frame["table"] == RELEASE_TABLE]
    return {r["model"]: {k: f"{r[f'paper_{k}']:g}" for k in ("params_M", "flops_B") if pd.notna(r[f"paper_{k}"])}
            for _, r in rows.iterrows()}


def exact_row(res: Results, model: str | None) -> dict:
    """params_M, macs_B, image_size of one registered model ({} if not measured)."""
    if model is None:
        return {}
    frame = params_macs(res)
    hit = frame[frame["model"] == model]
    return {} if hit.empty else hit.iloc[0].to_dict()


# --------------------------------------------------------------------------- speed and memory
def bench(res: Results, kind: str, batch_size: int | None = None) -> pd.DataFrame:
    """Benchmark rows of ``kind`` ("train", "inference", "memory") with model and hardware."""
    frame = res.bench()
    if frame.empty or "kind" not in frame.columns or "model" not in frame.columns:
        return pd.DataFrame()
    frame = frame[frame["kind"] == kind]
    if batch_size is not None and "batch_size" in frame.columns:
        frame = frame[frame["batch_size"] == batch_size]
    return frame.reset_index(drop=True)


CPU = "different hardware (CPU)"  # the label of every verdict and value measured on a processor


def is_cpu(hardware) -> bool:
    """A processor, as ``collect.describe_hardware`` writes one ('<name> (N CPUs, ...)'), not a GPU."""
    return "CPUs" in str(hardware)


def preferred_hardware(names) -> str:
    """Of several machines, the one whose numbers a table shows: a GPU (the paper's setting) before a
    CPU, then alphabetical."""
    return sorted({str(n) for n in names}, key=lambda n: (is_cpu(n), n))[0]


@dataclass(frozen=True)
class BenchRows:
    """Benchmark rows of one kind from ONE machine in ONE precision (empty ``frame`` when none)."""
    frame: pd.DataFrame
    hardware: str = ""
    amp_dtype: str = ""

    def value(self, model: str | None, column: str, **where):
        """Median of ``column`` over this machine's rows of ``model`` matching ``where`` (None values ignored)."""
        frame = self.frame
        if model is None or frame.empty or column not in frame.columns:
            return None
        frame = frame[frame["model"] == model]
        for key, value in where.items():
            if key in frame.columns and value is not None:
                frame = frame[frame[key] == value]
        values = frame[column].dropna()
        return float(values.median()) if len(values) else None

    @property
    def label(self) -> str:
        """'<machine>, <precision>' (+ the CPU label), or "" when nothing is measured."""
        if not self.hardware:
            return ""
        return f"{self.hardware}, {self.amp_dtype}" + (f" -- {CPU}" if is_cpu(self.hardware) else "")


def suffix(rows: BenchRows, index: int) -> str:
    """Column suffix of the ``index``-th of :func:`bench_sets`: "" for the precision a table shows (the
    first set), "_<dtype>" for the others of the same machine."""
    return "" if index == 0 else f"_{rows.amp_dtype}"


def _precisions(frame: pd.DataFrame) -> pd.Series:

    column = frame["amp_dtype"] if "amp_dtype" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    return column.map(precision)


def bench_sets(res: Results, kind: str, models=None, **where) -> list[BenchRows]:
    """Rows of ``kind`` for ``models`` (None: all) matching ``where``, one :class:`BenchRows` per precision of
    ONE machine: the preferred machine (a GPU before a CPU) among those that measured any of them. The
    first set is the precision that covers most of the models (ties: float32, then by name): the one a
    table shows; the others follow. Never a median across machines or precisions."""
    frame = bench(res, kind)
    if not frame.empty and models is not None:
        frame = frame[frame["model"].isin([n for n in models if n is not None])]
    for key, value in where.items():
        if not frame.empty and key in frame.columns and value is not None:
            frame = frame[frame[key] == value]
    if frame.empty:
        return [BenchRows(pd.DataFrame())]
    if "hardware" in frame.columns:
        hardware = preferred_hardware(frame["hardware"].dropna()) if frame["hardware"].notna().any() else ""
        frame = frame[frame["hardware"] == hardware] if hardware else frame
    else:
        hardware = ""
    amps = _precisions(frame)
    cover = {amp: frame.loc[amps == amp, "model"].nunique() for amp in amps.unique()}
    order = sorted(cover, key=lambda amp: (-cover[amp], amp != "float32", amp))
    return [BenchRows(frame[amps == amp].reset_index(drop=True), hardware, amp) for amp in order]


def bench_rows(res: Results, kind: str, models=None, **where) -> BenchRows:
    """The set a table shows (the first of :func:`bench_sets`)."""
    return bench_sets(res, kind, models, **where)[0]


def bench_value(res: Results, kind: str, model: str | None, column: str, **where):
    """Median of ``column`` over matching benchmark rows of one machine and precision (:func:`bench_rows`
    for this model alone), else None. A table comparing models uses :func:`bench_rows` for all of them."""
    return bench_rows(res, kind, [model], **where).value(model, column, **where)



# --------------------------------------------------------------------------- proxy runs
def final_metric(run: dict) -> float | None:
    """The run's final top-1: EMA if it was kept, else the raw model ("summary.final.*")."""
    return pick(run, "summary.final.ema_top1", "summary.final.val_top1", "summary.best_val_top1")


def runs_table(res: Results, experiment: str) -> pd.DataFrame:
    """Finished runs with ``top1``, ``train_hours`` and ``arm`` (the declared arm of its study spec, or
    None: :mod:`replication.report.arms`) columns added (empty if none). Labelled once per Results, like the
    runs it reads (each call gets its own copy)."""
    key = ("runs_table", experiment)
    if key not in res._cache:
        runs = res.finished_runs(experiment).copy()
        if not runs.empty:
            runs["top1"] = [final_metric(r) for r in runs.to_dict("records")]
            runs["train_hours"] = runs.get("summary.total_train_seconds", pd.Series(dtype=float)) / 3600
            runs["arm"] = arms.labels(runs)
        res._cache[key] = runs
    return res._cache[key].copy()


def arm_values(runs: pd.DataFrame, metric: str = "top1", **where) -> list[float]:
    """Per-seed values of ``metric`` over runs whose columns equal ``where`` (dotted keys allowed
    as ``schedule__mode`` for ``schedule.mode``)."""
    if runs.empty:
        return []
    mask = pd.Series(True, index=runs.index)
    for key, value in where.items():
        column = key.replace("__", ".")
        if column not in runs.columns:
            return []
        mask &= runs[column].astype(str) == str(value)
    return [float(v) for v in runs.loc[mask, metric].dropna()]


ERROR_BARS = ("error bars and bands: 95 % t interval of the mean over seeds (mean ± t(0.975, n-1) std / sqrt(n)); "
              "none where n = 1")
CI_NOTE = ("`ours_*_std`: sample std over seeds (n - 1); `ours_*_ci95`: half-width of the 95 % t interval of the "
           "mean (mean ± ci95); `ours_*_runs`: n, the number of seeds; std and ci95 are empty for n < 2")


def seed_stats(values: list[float]) -> dict:
    """mean, std, ci95 (half-width of the 95 % t interval) and n of per-seed values (None where undefined)."""
    mean, std, low, high, n = v.interval(values)
    return {"mean": mean, "std": std, "ci95": None if low is None else mean - low, "n": n}


def over_seeds(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """:func:`collect.seeds_by` (mean, std, n, values per group) with the 95 % t interval added as
    ``ci_low`` / ``ci_high`` (NaN for groups with n < 2)."""
    out = seeds_by(frame, metric, by)
    bounds = [v.interval(values)[2:4] for values in out["values"]]
    out["ci_low"] = pd.Series([b[0] for b in bounds], index=out.index, dtype=float)
    out["ci_high"] = pd.Series([b[1] for b in bounds], index=out.index, dtype=float)
    return out

