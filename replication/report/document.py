"""``figures/REPORT.md`` (readable on a code host) and its HTML rendering (nbconvert, no code).

Everything in the report is computed: the paper's claims come from ``claims.yaml``, our numbers
and the verdicts from the run records through :mod:`replication.report.checks`. With nothing
measured an item says "not measured yet".
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from replication import paper
from replication.config import atomic_write_text
from replication.report import TABLES, FIGURES, build_items, checks
from replication.report import bench_section, nas_figure
from replication.report import verdicts as v
from replication.report.collect import Results
from replication.report.items import header_lines, markdown_table

import pandas as pd

DISCREPANCIES = [
    ("Stage image sizes",
     "Algorithm 1 and Table 6 start the first stage at the minimum size (128 px) and end at the maximum. The "
     "released trainer sets stage i (0-based) of M to S0 + (Se - S0)(i + 1)/M, so V2-S trains at 171/214/257/300 "
     "and M/L at 192/256/320/384: it never trains at 128 px."),
    ("Dropout schedule",
     "Table 6 ramps dropout (0.1 -> 0.3 for S). The released training loop computes a dropout list but does "
     "not use it, so dropout stays at the model's fixed rate (0.2 for S, 0.3 for M, 0.4 for L)."),
    ("Regularization maxima",
     "For S the paper's RandAugment maximum is 15, the released config uses 10. Official per-model settings "
     "(train/eval size, dropout, RandAugment max, mix alpha): S 300/384/0.2/10/0, M 384/480/0.3/15/0.2, "
     "L 384/480/0.4/20/0.5; Table 6 gives M 380/20/0.2/0.4 and L 380/25/0.4/0.5 as maxima."),
    ("RandAugment scale",
     "The released code scales magnitudes against a maximum level of 10, so 15-25 extrapolate beyond the "
     "nominal range; timm clips at 10 unless its cap is raised (our configs set data.randaug_mmax)."),
    ("BatchNorm momentum",
     "The text says 0.99 (TensorFlow convention, = 0.01 in PyTorch); the released code uses 0.9 (= 0.1 in "
     "PyTorch)."),
    ("Minival hold-out",
     "The paper uses 25,000 held-out training images for search and tuning; the released trainer keeps them "
     "out even for the final training runs."),
    ("V2-S size",
     "Table 7 lists V2-S with 22 M parameters, Tables 8 and 11 and Figure 1 with 24 M: the latter is the "
     "arXiv v1 architecture (last stage 272 channels, head 1792)."),
    ("Parameter count of L",
     "The official README lists V2-L with 119.5 M parameters; counting the released config gives 118.5 M "
     "(parameters only) or 119.0 M (with BatchNorm statistics), so neither convention yields 119.5 M."),
    ("FLOPs",
     "The EfficientNet papers' FLOPs are multiply-adds; PyTorch's flop counter reports 2 per multiply-add. "
     "We report multiply-adds."),
]


def _shown(path: Path) -> str:
    """A results path as the reader knows it: relative to the repository when inside it."""
    repo = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(repo))
    except ValueError:
        return str(path)


def _profiles_table() -> str:
    """What each profile follows on the contested points, read from the config system."""
    try:
        from replication import config
    except ImportError:
        return "(the config system is not installed)"
    rows = []
    for profile in ("smoke", "cpu", "gpu"):
        try:
            cfg = config.load(overrides=[f"profile={profile}"], check_resources=False)
        except Exception as err:  # shown, not hidden: a broken profile is a finding
            rows.append({"profile": profile, "note": f"does not load: {err}"})
            continue
        s = cfg.schedule
        rows.append({"profile": profile, "model": cfg.model.name, "schedule mode (default)": s.mode,
                     "sizes first->last": f"{s.image_size[0]}->{s.image_size[1]}",
                     "dropout first->last": f"{s.dropout[0]}->{s.dropout[1]}",
                     "RandAugment first->last": f"{s.randaug_magnitude[0]:g}->{s.randaug_magnitude[1]:g}",
                     "BN momentum (PyTorch)": cfg.model.bn_momentum})
    text = markdown_table(pd.DataFrame(rows))
    return (text + "\n\nAll profiles run the paper's rule by default (`replication/configs/progressive.yaml`, "
            "mode `paper`); `replication/configs/official.yaml` (mode `official`) runs the released code's rule.")


def ledger(items: dict, res: Results) -> pd.DataFrame:
    rows = []
    for claim in paper.claims():
        verdict = checks.verdict_for(claim, items, res)
        rows.append({"id": claim["id"], "item": claim["item"], "§": claim["section"], "claim": claim["claim"],
                     "evidence": claim["evidence"] if claim.get("check") else "none", "ours": verdict.ours,
                     "verdict": verdict.verdict, "reason": verdict.reason})
    return pd.DataFrame(rows)


def _item_section(key: str, item, claims: pd.DataFrame) -> list[str]:
    info = paper.info(key)
    lines = [f"### {info.label}: {info.title}", ""]
    for _, c in claims[claims["item"] == key].iterrows():
        lines.append(f"- **{c['id']}** *Paper:* {c['claim']}. **Verdict: {c['verdict']}** — {c['reason']}")
    lines += ["", *[f"{line}  " for line in header_lines(item)], ""]
    if key.startswith("F"):
        lines += [f"![{info.label}]({item.stem}.png)", "", f"Files: [{item.stem}.png]({item.stem}.png), "
                  f"[{item.stem}.svg]({item.stem}.svg)", ""]
    else:
        shown = item.frame.drop(columns=[c for c in ("evidence", "hardware") if c in item.frame.columns])
        lines += [markdown_table(shown), "", f"Files: [{item.stem}.csv]({item.stem}.csv), [{item.stem}.md]({item.stem}.md)", ""]
    return lines


def markdown(res: Results) -> str:
    items = build_items(res)
    claims = ledger(items, res)
    counts = Counter(claims["verdict"])
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in v.VERDICTS)
    criteria = v.__doc__.split("Criteria (also printed in the report):", 1)[1].strip("\n")
    lines = [
        "# EfficientNetV2 (Tan & Le, ICML 2021): replication report", "",
        "Generated by `python -m replication.runbook report` (part of `make figures`) from the logged results in "
        f"`{_shown(res.root)}` and the paper's numbers in `replication/paper_data/`. Nothing here is typed in by hand: "
        "rerun the command to refresh it.", "",
        "**Kinds of evidence.** *exact*: properties of the architecture (parameters, multiply-adds, layer table), "
        "hardware-independent. *measured here*: speed and memory on the hardware named, compared with the paper "
        "only as ratios and orderings. *proxy*: training claims tested at small scale (Imagenette, CIFAR-10, "
        "Flowers-102 at reduced resolution) over several seeds; only the direction and size of effects compare. "
        "Runs of the `smoke` profile are never counted.", "",
        *(["> **Warning: this rendering includes smoke-profile runs (tiny tests). They are not evidence.**", ""]
          if res.include_smoke else []),
        f"**Claims:** {len(claims)} — {summary}.", "",
        "## Verdict criteria", "", "```", criteria, "```", "",
        "## Claims ledger", "", markdown_table(claims), "",
        "## Tables and figures", "",
    ]
    for key in (*TABLES, *FIGURES):
        lines += _item_section(key, items[key], claims)
    nas = claims[claims["item"] == "NAS"]
    lines += ["### §3.3 Training-aware NAS", ""]
    lines += [f"- **{c['id']}** *Paper:* {c['claim']}. **Verdict: {c['verdict']}** — {c['reason']}" for _, c in nas.iterrows()]
    lines += nas_figure.lines(res)
    lines += ["", "## Performance on this machine (`make bench`)", "", *bench_section.lines(res)]
    lines += ["", "## Where the paper and the official code disagree", ""]
    lines += [f"- **{title}.** {text}" for title, text in DISCREPANCIES]
    lines += ["", "Which rule each profile follows (read from `replication/profiles/*.yaml`):", "", _profiles_table(), ""]
    lines += ["## Still missing measured values", ""]
    for key in (*TABLES, *FIGURES):
        for what in items[key].missing:
            lines.append(f"- {paper.info(key).label}: {what}")
    if not any(items[k].missing for k in items):
        lines.append("- nothing")
    return "\n".join(lines) + "\n"


def html(markdown_text: str, figures_dir: Path) -> str:
    """Render the Markdown through nbconvert (images embedded, no code cells shown)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(part) for part in markdown_text.split("\n## ")]
    for cell in nb.cells[1:]:
        cell.source = "## " + cell.source
    nb.metadata["title"] = "EfficientNetV2 replication report"
    exporter = HTMLExporter(exclude_input=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(figures_dir)}})
    return body


def write(res: Results, out_dir: Path, html_path=None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    nas_figure.draw(res, out_dir)
    bench_section.draw(res, out_dir)
    text = markdown(res)
    path = out_dir / "REPORT.md"
    atomic_write_text(path, text)
    if html_path is not None:
        atomic_write_text(Path(html_path), html(text, out_dir))
    return path
