"""The paper's reference values (read-only package data), with provenance, units and confidence.

Tables 1-13 and the data behind Figures 1, 3, 5 and 6 of Tan & Le (ICML 2021) live as CSV files in
``replication/paper_data/``; ``sources.yaml`` there says where each number comes from, its unit and
how sure the transcription is, and ``claims.yaml`` lists the paper's quantitative claims.
These frames hold paper values only: measured values are joined by :mod:`replication.report` in
columns of their own (``paper_*`` beside ``ours_*``), never written into these.

    >>> from replication import paper
    >>> paper.load("T5").head(2)          # also "table05", "Table 5", "F6", "figure06", "Fig. 6"
    >>> paper.info("T5").units["top1_acc_pct"]
    '%'
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources

import pandas as pd
import yaml

DATA_PACKAGE = "replication"
DATA_DIR = "paper_data"


@dataclass(frozen=True)
class PaperItem:
    """Metadata of one table or figure of the paper."""

    key: str  # "T5", "F6"
    file: str  # CSV file name inside paper_data/
    section: str  # paper section, e.g. "4.1"
    title: str
    units: dict = field(default_factory=dict)  # column (or glob like "*_std") -> unit
    confidence: str = ""
    hardware: str = ""  # the paper's hardware for its timing numbers ("" if none)
    note: str = ""

    @property
    def kind(self) -> str:
        return "figure" if self.key.startswith("F") else "table"

    @property
    def label(self) -> str:
        return f"{'Figure' if self.kind == 'figure' else 'Table'} {self.key[1:]}"

    def unit(self, column: str) -> str:
        """Unit of ``column``, also matching glob keys such as ``*_std``; "" if none is stated."""
        if column in self.units:
            return str(self.units[column])
        for pattern, unit in self.units.items():
            if "*" in pattern and re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), column):
                return str(unit)
        return ""


def _data_file(name: str):
    return resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name)


@functools.lru_cache(maxsize=None)
def sources() -> dict:
    """The whole ``sources.yaml``: paper, sources S1-S3, confidence levels, conventions, items."""
    return yaml.safe_load(_data_file("sources.yaml").read_text(encoding="utf-8"))


def items() -> list[str]:
    """Keys of every table and figure, in paper order: T1..T13, then F1, F3, F5, F6."""
    keys = list(sources()["items"])
    return sorted(keys, key=lambda k: (k[0] != "T", int(k[1:])))


_KEY_PATTERN = re.compile(r"^(t|table|f|fig|figure)\.?\s*0*(\d+)$")


def normalize_key(name: str) -> str:
    """Map "T5", "t05", "table05", "Table 5", "F1", "Fig. 1", "figure01" (.csv) to "T5" / "F1"."""
    text = str(name).strip().lower().removesuffix(".csv")
    match = _KEY_PATTERN.match(text)
    key = None
    if match:
        key = ("F" if match.group(1).startswith("f") else "T") + str(int(match.group(2)))
    if key not in sources()["items"]:
        raise KeyError(
            f"unknown paper item {name!r}: use one of {', '.join(items())} "
            "(also written as 'table05', 'Table 5', 'figure06' or 'Fig. 6')"
        )
    return key


def info(name: str) -> PaperItem:
    """Provenance, units, confidence and hardware of one table or figure."""
    key = normalize_key(name)
    entry = dict(sources()["items"][key])
    return PaperItem(key=key, **{k: v for k, v in entry.items() if k in PaperItem.__dataclass_fields__})


@functools.lru_cache(maxsize=None)
def _read(key: str, raw: bool) -> pd.DataFrame:
    with _data_file(info(key).file).open("r", encoding="utf-8") as handle:
        if raw:
            return pd.read_csv(handle, dtype=str, keep_default_na=False)
        return pd.read_csv(handle)


def load(name: str, raw: bool = False) -> pd.DataFrame:
    """The paper's numbers of one table or figure (a fresh copy; "OOM" kept as text).

    ``raw=True`` gives every cell as the printed text ("" for empty), which keeps the printed
    precision ("22" vs "8.8") that exact comparisons need.
    """
    return _read(normalize_key(name), raw).copy()


def value(name: str, column: str, **where) -> object:
    """One cell: ``value("T11", "speedup_vs_v1_x", model="V2-S")`` -> 3.1.

    Raises a ``KeyError`` naming the item and the filter when not exactly one row matches.
    """
    frame = load(name)
    if column not in frame.columns:
        raise KeyError(f"{name}: no column {column!r}; columns are {list(frame.columns)}")
    mask = pd.Series(True, index=frame.index)
    for col, wanted in where.items():
        if col not in frame.columns:
            raise KeyError(f"{name}: no column {col!r} to filter on; columns are {list(frame.columns)}")
        mask &= frame[col] == wanted
    rows = frame.loc[mask, column]
    if len(rows) != 1:
        raise KeyError(f"{name}: {len(rows)} rows match {where} (need exactly one)")
    return rows.iloc[0]


@functools.lru_cache(maxsize=None)
def claims() -> list[dict]:
    """The paper's quantitative claims (``claims.yaml``), one dict per claim, in paper order."""
    data = yaml.safe_load(_data_file("claims.yaml").read_text(encoding="utf-8"))
    return list(data["claims"])


def describe(name: str) -> str:
    """One line for reports: label, title, section, confidence."""
    item = info(name)
    return f"{item.label} (§{item.section}): {item.title}. Transcription confidence: {item.confidence}."
