"""One report item (a table or figure): the paper's numbers beside ours, evidence kind, hardware.

Column convention of every item frame: row keys unprefixed (``model``, ``variant``...),
``paper_*`` columns only hold the paper's values, ``ours_*`` only our measured values (their
units follow the column name), and ``evidence`` / ``hardware`` say what kind of number ``ours_*``
is and where it was measured. Frames are written as CSV and Markdown into ``figures/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from replication import paper
from replication.results import atomic_write_text

EXACT, MEASURED, PROXY = "exact", "measured here", "proxy"
EXACT_HARDWARE = "any (exact count, hardware-independent)"


@dataclass
class Item:
    key: str  # "T7", "F6"
    frame: pd.DataFrame
    evidence: str  # e.g. "exact (params, MACs) + measured here (latency)"
    hardware: str = ""
    missing: list[str] = field(default_factory=list)  # what has no measured value yet
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # written files, relative to the output folder
    extra: dict = field(default_factory=dict)  # other plotted data (figures): name -> DataFrame

    @property
    def info(self) -> paper.PaperItem:
        return paper.info(self.key)

    @property
    def stem(self) -> str:
        kind = "figure" if self.key.startswith("F") else "table"
        return f"{kind}{int(self.key[1:]):02d}"


def paper_columns(frame: pd.DataFrame, keep: list[str], rename: dict | None = None) -> pd.DataFrame:
    """The paper frame with ``keep`` row-key columns as they are and every other column ``paper_*``."""
    rename = rename or {}
    return frame.rename(columns={c: rename.get(c, c if c in keep else f"paper_{c}") for c in frame.columns})


def ours(frame: pd.DataFrame, column: str, values) -> None:
    """Set ``ours_<column>`` (refuses to write into a ``paper_*`` column)."""
    if column.startswith("paper_"):
        raise ValueError(f"refusing to store measured values in a paper column ({column})")
    frame[column if column.startswith("ours_") else f"ours_{column}"] = values


def check_columns(frame: pd.DataFrame) -> None:
    """Every column is a row key, paper_*, ours_*, evidence, hardware or note -- never mixed."""
    allowed = ("paper_", "ours_")
    for column in frame.columns:
        if column.startswith(allowed) or column in ("evidence", "hardware", "note"):
            continue
        if pd.api.types.is_numeric_dtype(frame[column]) and column not in ROW_KEYS:
            raise ValueError(f"numeric column {column!r} is neither paper_* nor ours_*")


ROW_KEYS = ("stage", "randaug_magnitude", "size_rank", "train_image_size_px", "point_index", "epoch")


def _markdown_frame(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    shown = shown.astype(object).where(shown.notna(), "")
    return shown.to_markdown(index=False, disable_numparse=True)


def header_lines(item: Item) -> list[str]:
    info = item.info
    lines = [f"**Paper:** {info.title} (§{info.section}). Transcription: {info.confidence}."]
    if info.hardware:
        lines.append(f"**Paper hardware:** {info.hardware}.")
    lines.append(f"**Evidence here:** {item.evidence}.")
    lines.append(f"**Our hardware:** {item.hardware or 'no measurement logged yet'}.")
    if item.missing:
        lines.append("**Not measured yet:** " + "; ".join(item.missing) + ".")
    lines.extend(f"*Note:* {note}" for note in item.notes)
    return lines


def write_table(item: Item, out_dir: Path) -> list[Path]:
    """``tableNN.csv`` (the frame) and ``tableNN.md`` (header lines + Markdown table)."""
    out_dir = Path(out_dir)
    check_columns(item.frame)
    csv_path, md_path = out_dir / f"{item.stem}.csv", out_dir / f"{item.stem}.md"
    atomic_write_text(csv_path, item.frame.to_csv(index=False))
    text = [f"# {item.info.label}: {item.info.title}", "", *[f"{line}  " for line in header_lines(item)], "",
            _markdown_frame(item.frame), ""]
    second = item.extra.get("table")
    paths = [csv_path, md_path]
    if second is not None and not second.empty:  # a table's second table (e.g. T12's length trend)
        paths.append(out_dir / f"{item.stem}_extra.csv")
        atomic_write_text(paths[-1], second.to_csv(index=False))
        text += [item.extra.get("table_caption", ""), "", _markdown_frame(second), ""]
    atomic_write_text(md_path, "\n".join(text))
    item.files = [p.name for p in paths]
    return paths


def markdown_table(frame: pd.DataFrame) -> str:
    return _markdown_frame(frame)


ROW_LABELS = ("group", "model", "variant", "reading", "arm", "dataset", "resize_method", "series", "stage",
              "randaug_magnitude", "size_rank")


def title(info: paper.PaperItem) -> str:
    """"Figure 1: ..." for a paper item, without repeating a label its title already starts with."""
    return info.title if info.title.startswith(info.label) else f"{info.label}: {info.title}"


def narrow_tables(frame: pd.DataFrame, limit: int = 250) -> str:
    """``frame`` as Markdown tables no wider than ``limit`` characters: the row-label columns repeat
    in each table and the other columns are split, in order, over as many tables as needed."""
    keys = [c for c in frame.columns if c in ROW_LABELS][:2] or list(frame.columns[:1])
    groups, current = [], []
    for column in (c for c in frame.columns if c not in keys):
        trial = _markdown_frame(frame[keys + current + [column]])
        if current and max(map(len, trial.splitlines())) > limit:
            groups.append(current)
            current = []
        current.append(column)
    groups.append(current)
    return "\n\n".join(_markdown_frame(frame[keys + group]) for group in groups)
