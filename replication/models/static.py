"""Exact results: params/MACs of every model row in the paper's Tables 1, 3, 7, 10, 11, and
Table 4 regenerated from the model code.

    python -m replication static [--out results/static]

writes ``params_macs.csv`` (one line per paper row; measured and paper values in separate columns,
differences in percent) and ``table04.csv`` (same columns as the paper's transcription).
Counts use :mod:`replication.measure` conventions (MACs = multiply-adds at the row's ``eval_size``,
batch 1, 1000 classes) on models built on the 'meta' device (nothing is allocated).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .. import measure, paper
from ..results import atomic_write_text
from .efficientnetv2 import layer_table
from .registry import NOT_BUILDABLE, create_for_size, create_model, model_info



def paper_table(name: str) -> pd.DataFrame:
    """The paper's transcribed table ``name`` (e.g. ``"table07"``), from :mod:`replication.paper`."""
    return paper.load(name)


# paper table -> {row label: registry name}; rows missing here must be in NOT_BUILDABLE
PAPER_ROWS = {
    "table01": {"EfficientNet-B6": "efficientnet_b6", "ResNet-RS-420": "resnetrs420", "NFNet-F1": "nfnet_f1"},
    "table03": {"No fused": "effnet_b4_ours", "Fused stage1-3": "effnet_b4_fused1_3",
                "Fused stage1-5": "effnet_b4_fused1_5", "Fused stage1-7": "effnet_b4_fused1_7"},
    "table07": {**{f"EfficientNet-B{i}": f"efficientnet_b{i}" for i in range(3, 8)},
                "RegNetY-8GF": "regnety_8gf", "RegNetY-16GF": "regnety_16gf",
                "ResNeSt-101": "resnest101", "ResNeSt-200": "resnest200", "ResNeSt-269": "resnest269",
                "TResNet-L": "tresnet_l", "TResNet-XL": "tresnet_xl",
                **{f"NFNet-F{i}": f"nfnet_f{i}" for i in range(5)},
                "BiT-M-R152x2 (21k)": "bit_m_r152x2", "ViT-B/32": "vit_b32", "ViT-B/16": "vit_b16",
                "DeiT-B (ViT+reg)": "deit_b", "DeiT-B-384 (ViT+reg)": "deit_b_384",
                "ViT-B/16 (21k)": "vit_b16", "ViT-L/16 (21k)": "vit_l16",
                **{f"EfficientNetV2-{s}{x}": f"efficientnetv2_{s.lower()}"
                   for s in ("S", "M", "L") for x in ("", " (21k)")},
                "EfficientNetV2-XL (21k)": "efficientnetv2_xl"},
    "table10": {"V1-B7 (EfficientNet-B7, same progressive training)": "efficientnet_b7",
                "V2-M (EfficientNetV2-M)": "efficientnetv2_m"},
    "table11": {"V1-B1": "efficientnet_b1", "V2-B0": "efficientnetv2_b0", "V1-B2": "efficientnet_b2",
                "V2-B1": "efficientnetv2_b1", "V1-B4": "efficientnet_b4", "V2-B3": "efficientnetv2_b3",
                "V1-B5": "efficientnet_b5", "V2-S": "efficientnetv2_s_arxiv_v1"},
}
LABEL_COLUMN = {"table03": "variant"}  # default "model"
# google/automl efficientnetv2/README.md (params M, FLOPs B at the eval size): reference, not paper
OFFICIAL_README = {"efficientnetv2_s": (21.5, 8.4), "efficientnetv2_m": (54.1, 24.7),
                   "efficientnetv2_l": (119.5, 56.3), "efficientnetv2_b0": (7.1, 0.72),
                   "efficientnetv2_b1": (8.1, 1.2), "efficientnetv2_b2": (10.1, 1.7),
                   "efficientnetv2_b3": (14.4, 3.0)}


def count_model(name: str, image_size: int | None = None, num_classes: int = 1000) -> dict:
    """Params and MACs of a registered model, built on 'meta' (no memory, no compute)."""
    size = image_size or model_info(name).eval_size
    with torch.device("meta"):
        model = create_for_size(name, size, num_classes=num_classes)
    return dict(params=measure.count_params(model), macs=measure.count_macs(model, size), image_size=size)


def _pct(ours, paper):
    return round(100.0 * (ours - paper) / paper, 2) if pd.notna(paper) and paper else None


def params_macs(tables=tuple(PAPER_ROWS), readme: bool = True) -> pd.DataFrame:
    """One row per paper-table row (and per official-README model): measured beside paper values."""
    cache: dict[str, dict] = {}
    rows = []
    sources = [(t, paper_table(t), LABEL_COLUMN.get(t, "model")) for t in tables]
    if readme:
        sources.append(("automl_README", pd.DataFrame(
            [dict(model=k, params_M=p, flops_B=f) for k, (p, f) in OFFICIAL_README.items()]), "model"))
    for table, frame, label_col in sources:
        mapping = PAPER_ROWS.get(table, {})
        for _, paper in frame.iterrows():
            label = paper[label_col]
            name = mapping.get(label, label if table == "automl_README" else None)
            row = dict(table=table, paper_row=label, model=name or "", paper_params_M=paper.get("params_M"),
                       paper_flops_B=paper.get("flops_B"))
            if name is None:
                reason = NOT_BUILDABLE.get(label)
                if reason is None:
                    raise KeyError(f"{table}: row {label!r} is neither in PAPER_ROWS nor in NOT_BUILDABLE")
                rows.append(row | dict(note=f"not built: {reason}"))
                continue
            entry = model_info(name)
            if name not in cache:
                cache[name] = count_model(name)
            c = cache[name]
            rows.append(row | dict(source=entry.source, image_size=c["image_size"], params=c["params"],
                                   macs=c["macs"], params_M=round(c["params"] / 1e6, 3),
                                   macs_B=round(c["macs"] / 1e9, 3),
                                   params_diff_pct=_pct(c["params"] / 1e6, row["paper_params_M"]),
                                   macs_diff_pct=_pct(c["macs"] / 1e9, row["paper_flops_B"]), note=entry.note))
    columns = ["table", "paper_row", "model", "source", "image_size", "params", "macs", "params_M", "macs_B",
               "paper_params_M", "paper_flops_B", "params_diff_pct", "macs_diff_pct", "note"]
    ints = {c: "Int64" for c in ("image_size", "params", "macs")}
    return pd.DataFrame(rows).reindex(columns=columns).astype(ints)


def table04() -> pd.DataFrame:
    """The paper's Table 4 read back from our EfficientNetV2-S modules."""
    return pd.DataFrame(layer_table(create_model("efficientnetv2_s")))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` atomically."""
    atomic_write_text(Path(path), frame.to_csv(index=False))
    return Path(path)


def write_all(out: Path) -> list[tuple[Path, int]]:
    """Table 4 and every model row's counts into ``out`` (``table04.csv``, ``params_macs.csv``)."""
    return [(write_csv(frame, Path(out) / name), len(frame))
            for name, frame in (("table04.csv", table04()), ("params_macs.csv", params_macs()))]
