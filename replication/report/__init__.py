"""Tables, figures, verdicts and the replication report, built from ``results/`` and the paper data.

    from replication import report
    report.build_tables("results", "figures")          # table01..table13 .csv + .md
    report.build_figure("F6", "results", "figures")    # figure06 .png + .svg
    report.write_report("results", "figures")          # figures/REPORT.md (+ HTML, see document)

Modules: ``catalog`` names every table and figure and its builder; ``collect`` reads results;
``measured`` shapes our numbers; ``tables_*`` and ``figures`` put them beside the paper's; ``verdicts``
holds the criteria; ``checks`` judges each claim of ``paper_data/claims.yaml``; ``gates`` decides whether
a proxy can judge at all; ``document`` writes REPORT.md and its HTML rendering; ``build`` runs the
plotting notebooks and the report (``make figures``).
"""
from __future__ import annotations

from pathlib import Path

from replication.report import figures
from replication.report.catalog import FIGURES, TABLES, build_item, build_items
from replication.report.collect import Results, results_folder
from replication.report.items import Item, header_lines, write_table
from replication.study import parameters

__all__ = ["TABLES", "FIGURES", "build_item", "build_items", "build_tables", "build_figure", "show_figure",
           "write_report", "results", "overview", "check_parameters", "PARAMETERS"]

# the plotting notebooks' parameters: name -> (type, item type, help), checked by ``study.parameters``
PARAMETERS = {
    "results_dir": (str, None, "the logged results"),
    "figures_dir": (str, None, "where the figures and tables are written"),
    "include_smoke": (bool, None, "also show smoke-profile runs (never evidence)"),
}


def check_parameters(values: dict, notebook: str) -> dict:
    """A plotting notebook's ``globals()`` before anything is drawn: known names, the right types
    (papermill's ``-p include_smoke false`` is the boolean false), an existing ``results_dir``."""

    checked = parameters.check(values, PARAMETERS, tuple(PARAMETERS), notebook)
    results_folder(checked["results_dir"], "notebook parameter results_dir")
    return checked


def results(results_dir="results", include_smoke: bool = False) -> Results:
    return Results(Path(results_dir), include_smoke=include_smoke)


def build_tables(results_dir="results", out_dir="figures", include_smoke: bool = False,
                 keys=TABLES, check: dict | None = None) -> dict[str, Item]:
    """Write ``tableNN.csv`` and ``tableNN.md`` for every table; returns the items. ``check``: the
    notebook's ``globals()``, checked by :func:`check_parameters` first (its values are used)."""

    if check is not None:
        values = check_parameters(check, "tables")
        results_dir, out_dir, include_smoke = values["results_dir"], values["figures_dir"], values["include_smoke"]
    res, out = results(results_dir, include_smoke), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = {}
    for key in keys:
        items[key] = build_item(key, res)
        if include_smoke:
            items[key].evidence += " -- includes smoke-profile runs, which are never evidence"
        write_table(items[key], out)
    return items


def build_figure(key: str, results_dir="results", out_dir="figures", include_smoke: bool = False) -> Item:
    """Write ``figureNN.png`` and ``figureNN.svg``; returns the item."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return figures.build_figure(key, results(results_dir, include_smoke), out)


def show_figure(key: str, results_dir="results", out_dir="figures", include_smoke: bool = False,
                check: dict | None = None):
    """:func:`build_figure`, then its header printed and the PNG returned for a notebook to show.
    ``check``: the notebook's ``globals()``, checked by :func:`check_parameters` first (its values are used)."""
    from IPython.display import Image

    if check is not None:
        values = check_parameters(check, f"figure{int(key[1:]):02d}")
        results_dir, out_dir, include_smoke = values["results_dir"], values["figures_dir"], values["include_smoke"]
    item = build_figure(key, results_dir, out_dir, include_smoke)
    print("\n".join(header_lines(item)))
    return Image(filename=str(Path(out_dir) / f"{item.stem}.png"))


def write_report(results_dir="results", out_dir="figures", html_path=None, include_smoke: bool = False) -> Path:
    """Write ``REPORT.md`` into ``out_dir`` (and an HTML rendering to ``html_path`` if given)."""
    from replication.report import document  # lazy: the document loads the trainer's recipe (timm, torchvision); tables and figures don't

    return document.write(results(results_dir, include_smoke), Path(out_dir), html_path)


def overview(items: dict[str, Item]):
    """One row per item: label, evidence kind, hardware, files written, what is still missing."""
    import pandas as pd

    return pd.DataFrame([{"item": it.info.label, "evidence": it.evidence, "hardware": it.hardware,
                          "files": ", ".join(it.files), "missing": "; ".join(it.missing)} for it in items.values()])
