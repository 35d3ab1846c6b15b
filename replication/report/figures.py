"""Figures 1, 3, 5 and 6: the paper's points beside ours, with evidence kind, hardware and gaps.

Each ``figureNN(res)`` returns an :class:`Item` whose frame is the plotted data (``paper_*`` and
``ours_*`` columns); :func:`draw` renders it to ``figureNN.png`` and ``.svg``. A panel with no
measured data still shows the paper's side and says what is missing.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "replication"
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from replication import paper  # noqa: E402
from replication.report import measured as m  # noqa: E402
from replication.report import tables_proxy  # noqa: E402
from replication.report.collect import Results  # noqa: E402
from replication.report.items import EXACT, MEASURED, PROXY, Item, title  # noqa: E402

PAPER_STYLE = dict(marker="o", linestyle="-", alpha=0.85)
OURS_STYLE = dict(marker="D", linestyle="--", markerfacecolor="none")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, "not measured yet:\n" + textwrap.fill(text, 26), ha="center", va="center", transform=ax.transAxes,
            fontsize=9, color="firebrick", wrap=True, bbox=dict(boxstyle="round", fc="mistyrose", ec="firebrick"))


def _groups(frame: pd.DataFrame, by):
    """``frame.groupby(by)`` or nothing when the frame is empty or lacks the columns."""
    cols = [by] if isinstance(by, str) else list(by)
    if frame.empty or any(c not in frame.columns for c in cols):
        return []
    return frame.groupby(by, sort=False)


def _footer(fig, item: Item) -> None:
    lines = [f"Evidence: {item.evidence}. Our hardware: {item.hardware or 'nothing measured yet'}."]
    if item.missing:
        lines.append("Missing: " + "; ".join(item.missing) + ".")
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7.5, va="bottom", ha="left", wrap=True)


def seed_summary(frame: pd.DataFrame, metrics: dict, by: list[str]) -> pd.DataFrame:
    """One row per group of ``by``: for each ``metrics`` item (column -> name) ``ours_<name>`` (mean),
    ``_std``, ``_ci_low``, ``_ci_high`` (95 % t interval, NaN for n < 2) and ``_n`` over seeds."""
    out = None
    for column, name in metrics.items():
        part = m.over_seeds(frame, column, by).drop(columns="values")
        part = part.rename(columns={"mean": f"ours_{name}", **{k: f"ours_{name}_{k}" for k in ("std", "n", "ci_low",
                                                                                                  "ci_high")}})
        out = part if out is None else out.merge(part, on=by, how="outer")
    return out


def _half_widths(part: pd.DataFrame, name: str):
    """Asymmetric error-bar lengths (2 x rows) from the 95 % t interval, or None when no row has n >= 2."""
    low, high = part[f"ours_{name}_ci_low"], part[f"ours_{name}_ci_high"]
    if low.isna().all():
        return None
    mean = part[f"ours_{name}"]
    return [(mean - low).fillna(0).to_numpy(), (high - mean).fillna(0).to_numpy()]


def _n_text(counts) -> str:
    """"n=3" or "n=1-3" for the seeds behind a plotted series."""
    counts = sorted({int(c) for c in counts if pd.notna(c)})
    return "n=" + (f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}") if counts else "n=0"


def _colors(frame, group="series") -> dict:
    return {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(frame[group]))}


def _paper_series(ax, frame, x, y, group="series", label_col=None, legend=True):
    colors = _colors(frame, group)
    for name, part in _groups(frame, group):
        part = part.dropna(subset=[x, y]).sort_values(x)
        if part.empty:
            continue
        style = dict(PAPER_STYLE, linestyle="none") if "single" in str(name) else PAPER_STYLE
        ax.plot(part[x], part[y], label=f"paper: {name}" if legend else None, color=colors[name], **style)
        if label_col:
            for _, r in part.iterrows():
                if isinstance(r[label_col], str) and r[label_col] and not r[label_col].startswith("("):
                    ax.annotate(r[label_col], (r[x], r[y]), fontsize=6, xytext=(3, 2), textcoords="offset points")


def draw(item: Item, out_dir: Path, plot) -> list[Path]:
    """Run ``plot(fig, item)`` and save PNG + SVG; returns the paths."""
    fig = plt.figure(figsize=(13, 5.2))
    plot(fig, item)
    _footer(fig, item)
    fig.subplots_adjust(bottom=0.24, top=0.88, wspace=0.3, **({"right": 0.84} if item.key == "F5" else {}))
    fig.suptitle(title(item.info), fontsize=10)
    paths = save_figure(fig, out_dir, item.stem)
    item.files = [p.name for p in paths]
    return paths


def save_figure(fig, out_dir, stem: str) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``.svg`` and close it. Metadata and SVG ids are fixed
    (``svg.hashsalt`` above), so regenerating unchanged data rewrites identical files."""
    paths = [Path(out_dir) / f"{stem}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=110, metadata={"Date": None} if path.suffix == ".svg" else {})
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------- Figure 1
FIG1_FAMILIES = {"EfficientNet (family)": "efficientnet_b6", "DeiT/ViT (family)": "deit_b",
                 "EfficientNetV2-S": "efficientnetv2_s", "ResNet-RS (family)": None}


def figure01(res: Results) -> Item:
    fig1 = paper.load("F1")
    frame = fig1.rename(columns={c: f"paper_{c}" for c in fig1.columns if c not in ("panel", "series", "model")})
    ours_params = [m.exact_row(res, FIG1_FAMILIES.get(n)).get("params_M") if n in FIG1_FAMILIES else None
                   for n in frame["model"]]
    frame["ours_params_M"] = ours_params
    runs = tables_proxy.time_runs(res)
    proxy = pd.DataFrame()
    if not runs.empty:
        proxy = seed_summary(runs, {"top1": "top1", "train_hours": "train_hours"}, ["series", "model.name", "schedule.mode"])
    missing = [] if not proxy.empty else ["proxy accuracy vs training time (progressive notebook)"]
    if all(v is None for v in ours_params):
        missing.append("params of V2-S, EfficientNet-B6 and DeiT-B (static notebook)")
    evidence = f"{PROXY} (accuracy vs time of small proxies, mean over seeds; {m.ERROR_BARS}); {EXACT} (params)"
    item = Item("F1", frame, evidence, res.hardware(runs) if not runs.empty else "", missing,
                ["the time axes differ: the paper's is ImageNet on 32 TPU cores, ours is Imagenette proxies on our CPU"])
    item.extra["proxy"] = proxy
    item.extra["seeds"] = runs[["series", "seed", "top1", "train_hours"]] if not runs.empty else runs
    item.extra["table"] = proxy
    return item


def plot_figure01(fig, item: Item) -> None:
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[1.4, 1.2, 1]))
    a = item.frame[item.frame["panel"] == "a"]
    _paper_series(ax1, a, "paper_train_time_tpu_days_from_table", "paper_top1_acc_pct_table", label_col="paper_label_in_figure")
    ax1.set(xlabel="training time (TPU days, 32 cores; Table 7)", ylabel="ImageNet top-1 (%)", title="(a) paper")
    ax1.legend(fontsize=6)
    proxy = item.extra["proxy"]
    if proxy.empty:
        _empty(ax2, "proxy runs of the progressive notebook")
    seeds = item.extra["seeds"]
    for i, (series, part) in enumerate(_groups(proxy, "series")):
        color = f"C{i % 10}"
        ax2.errorbar(part["ours_train_hours"], part["ours_top1"], yerr=_half_widths(part, "top1"),
                     xerr=_half_widths(part, "train_hours"), capsize=3, color=color,
                     label=f"ours: {series} ({_n_text(part['ours_top1_n'])})", **OURS_STYLE)
        one = seeds[seeds["series"] == series]  # every seed as a small dot beside its arm's mean
        ax2.scatter(one["train_hours"], one["top1"], s=9, color=color, alpha=0.6, zorder=3)
    ax2.set(xlabel="training time on our hardware (h)", ylabel="proxy top-1 (%)", title="(a) ours: proxies")
    if not proxy.empty:
        ax2.legend(fontsize=6, title="mean (bars: 95 % t interval, n >= 2); dots: seeds", title_fontsize=6)
    b = item.frame[item.frame["panel"] == "b"].reset_index(drop=True)
    xs = range(len(b))
    ax3.bar([x - 0.2 for x in xs], b["paper_params_M_figure"], width=0.4, label="paper (Fig. 1b)")
    ax3.bar([x + 0.2 for x in xs], b["ours_params_M"].fillna(0), width=0.4, label="ours (exact count)", hatch="//",
            fill=False)
    for x, value in zip(xs, b["ours_params_M"]):
        if pd.isna(value):
            ax3.text(x + 0.2, 2, "no model\nnamed", ha="center", va="bottom", fontsize=6, color="firebrick")
    ax3.set_xticks(list(xs), [s.replace(" (", "\n(") for s in b["paper_label_in_figure"]], fontsize=6)
    ax3.set_xlabel("ours: EfficientNet-B6, DeiT-B, V2-S (ICML, 22 M); the paper's 24 M is the arXiv v1 V2-S;\n"
                   "the ResNet-RS point names no model of its family (Table 1 counts RS-420)", fontsize=7)
    ax3.set(ylabel="params (M)", title="(b) parameters")
    ax3.legend(fontsize=6)


# --------------------------------------------------------------------------- Figure 3
def figure03(res: Results) -> Item:
    fig3 = paper.load("F3")
    frame = fig3.rename(columns={c: f"paper_{c}" for c in fig3.columns if c not in ("series", "point_index")})
    entries = [e for e in m._registry() if "F3" in e.tables]
    rows = m.bench_rows(res, "train", [e.name for e in entries])
    train = rows.frame
    if not train.empty:  # each model at its own training size (Table 2's B6 rows at 380 / 512 px are not Figure 3's)
        own = {e.name: e.train_size for e in entries}
        train = train[[own.get(n) == s for n, s in zip(train["model"], train["image_size"])]]
    # the batch at which most models were measured: every point of the main panel at that one batch
    batch = int(train.groupby("batch_size")["model"].nunique().idxmax()) if not train.empty else None
    t7 = paper.load("T7")
    points = []
    for entry in entries:
        step = rows.value(entry.name, "step_seconds_median", batch_size=batch, image_size=entry.train_size) \
            if batch else None
        acc = t7.loc[t7["model"] == entry.paper_name, "top1_acc_pct"]
        if step is not None:
            points.append({"model": entry.name, "ours_step_time_ms": 1000 * step, "ours_image_size": entry.train_size,
                           "ours_batch_size": batch,
                           "paper_top1_acc_pct_table7": float(acc.iloc[0]) if len(acc) else None})
    sweep = pd.DataFrame()
    if not train.empty:
        several = train.groupby("model")["batch_size"].nunique()
        sweep = train[train["model"].isin(several[several > 1].index)]
        sweep = (sweep.groupby(["model", "batch_size"])["step_seconds_median"].median() * 1000).rename(
            "ours_step_time_ms").reset_index()
    item = Item("F3", frame, f"{MEASURED} (training step time at a fixed size)", rows.label,
                [] if points else ["training step time of V2-S/M/L, EfficientNet-B3..B7 and NFNet-F0..F3"],
                ["our y values are the paper's Table 7 accuracies: only the time axis is measured here",
                 f"our step times at batch {batch}, each model at its own training size" if batch else
                 "the paper's step times are at batch 32 per TPU core"])
    item.extra["ours"] = pd.DataFrame(points)
    item.extra["sweep"] = sweep
    return item


def _family(name: str) -> str:
    return "EffNetV2" if name.startswith("efficientnetv2") else "NFNet" if name.startswith("nfnet") else "EffNet"


def plot_figure03(fig, item: Item) -> None:
    ax1, ax2, ax3 = fig.subplots(1, 3)
    _paper_series(ax1, item.frame, "paper_step_time_ms_batch32_per_core_approx", "paper_top1_acc_pct_approx")
    ax1.set(xlabel="training step time (ms, TPUv3, batch 32/core)", ylabel="ImageNet top-1 (%)", title="paper")
    ax1.legend(fontsize=7)
    ours = item.extra["ours"]
    if ours.empty:
        _empty(ax2, "training step times (speed & memory notebook)")
    else:
        ours = ours.assign(family=ours["model"].map(_family)).dropna(subset=["paper_top1_acc_pct_table7"])
        for fam, part in _groups(ours, "family"):
            part = part.sort_values("ours_step_time_ms")
            ax2.plot(part["ours_step_time_ms"], part["paper_top1_acc_pct_table7"], label=f"ours: {fam}", **OURS_STYLE)
            for _, r in part.iterrows():
                ax2.annotate(r["model"], (r["ours_step_time_ms"], r["paper_top1_acc_pct_table7"]), fontsize=6)
        ax2.legend(fontsize=7)
    ax2.set(xlabel="training step time on our hardware (ms)", ylabel="paper's top-1 (Table 7, %)", title="ours")
    sweep = item.extra.get("sweep", pd.DataFrame())
    if sweep.empty:
        _empty(ax3, "step time at several batch sizes (batch_sweep_models)")
    for name, part in _groups(sweep, "model"):
        ax3.plot(part["batch_size"], part["ours_step_time_ms"], label=name, **OURS_STYLE)
    if not sweep.empty:
        ax3.set_xscale("log", base=2)
        ax3.set_yscale("log")
        ax3.legend(fontsize=7)
    ax3.set(xlabel="batch size", ylabel="training step time (ms)", title="ours: step time vs batch size")


# --------------------------------------------------------------------------- Figure 5
def figure05(res: Results) -> Item:
    fig5 = paper.load("F5")
    frame = fig5.rename(columns={c: f"paper_{c}" for c in fig5.columns if c not in ("series", "model")})
    names = [m.registry_name(n, "F5") if isinstance(n, str) and not n.startswith("(") else None for n in frame["model"]]
    exact = [m.exact_row(res, n) for n in names]
    frame["ours_model"] = names
    frame["ours_params_M"] = [e.get("params_M") for e in exact]
    frame["ours_macs_B"] = [e.get("macs_B") for e in exact]
    rows = m.bench_rows(res, "inference", names, batch_size=16)
    frame["ours_latency_ms_batch16"] = [rows.value(n, "latency_ms_median", batch_size=16) for n in names]
    missing = []
    if frame["ours_params_M"].isna().all():
        missing.append("params and MACs (static notebook)")
    if frame["ours_latency_ms_batch16"].isna().all():
        missing.append("inference latency at batch 16 (speed & memory notebook)")
    return Item("F5", frame, f"{EXACT} (params, MACs) + {MEASURED} (latency)", rows.label,
                missing, ["y is the paper's accuracy in every panel; ours differ only on the x axis"])


def plot_figure05(fig, item: Item) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    axes = fig.subplots(1, 4, sharey=True)
    f = item.frame
    colors = _colors(f)
    panels = [("paper_params_M_table", "ours_params_M", "params (M)", "(a) params"),
              ("paper_flops_B_table", "ours_macs_B", "FLOPs = multiply-adds (B)", "(b) FLOPs"),
              ("paper_infer_time_ms_table", None, "ms (V100 FP16, batch 16)", "(c) latency: paper"),
              (None, "ours_latency_ms_batch16", "ms on our hardware (batch 16)",
               "(c) latency: ours" + (f"\n{m.CPU}" if m.is_cpu(item.hardware) else ""))]
    for ax, (px, ox, xlabel, title) in zip(axes, panels):
        if px:
            _paper_series(ax, f, px, "paper_top1_acc_pct_table", legend=False)
        if ox:
            part = f.dropna(subset=[ox, "paper_top1_acc_pct_table"])
            if part.empty:
                _empty(ax, xlabel)
            for name, p in _groups(part, "series"):
                ax.plot(p[ox], p["paper_top1_acc_pct_table"], color=colors[name], **{**OURS_STYLE, "linestyle": "none"})
        ax.set(xlabel=xlabel, title=title)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("ImageNet top-1 (%, paper)")
    handles = [Line2D([], [], color=c, marker="o", label=n) for n, c in colors.items()]
    handles.append(Line2D([], [], color="k", marker="D", markerfacecolor="none", linestyle="none",
                          label="ours (hollow)"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.85, 0.55), fontsize=7,
               title="series (paper: filled)", title_fontsize=7)


# --------------------------------------------------------------------------- Figure 6
def figure06(res: Results) -> Item:
    frame = paper.load("F6").rename(columns={"epoch_approx": "paper_epoch", "top1_acc_pct_approx": "paper_top1_acc_pct",
                                             "note": "paper_note"})
    epochs = res.epochs(m.EXPERIMENTS[tables_proxy.judging_family()])
    runs = tables_proxy.proxy_runs(res, tables_proxy.judging_family())
    declared = tables_proxy.declared("table13", runs)[:1]  # progressive resize: vanilla, adaptive
    curves = pd.DataFrame()
    if not epochs.empty and "schedule.mode" in epochs.columns and declared and "arm" in runs.columns:
        metric = "ema_top1" if "ema_top1" in epochs.columns and epochs["ema_top1"].notna().any() else "val_top1"
        epochs = epochs.assign(arm=epochs["run_dir"].map(dict(zip(runs["run_dir"], runs["arm"]))))
        keep = epochs[epochs["arm"].isin(declared[0])].dropna(subset=[metric])
        curves = m.over_seeds(keep, metric, ["arm", "schedule.mode", "epoch"]).drop(columns="values")
        curves["progress_pct"] = 100 * curves["epoch"] / keep["train.epochs"].max()
    item = Item("F6", frame, f"{PROXY} (validation top-1 per epoch, mean over seeds; {m.ERROR_BARS})",
                res.hardware(epochs),
                [] if not curves.empty else ["per-epoch curves of the adaptive-regularization notebook"],
                ["x is training progress (% of epochs) so the 350-epoch ImageNet curves and the short proxy "
                 "runs share an axis; y scales differ (ImageNet vs proxy dataset)"])
    item.extra["curves"] = curves
    if not curves.empty:  # the last epoch of each arm, as a table under the figure
        last = curves.loc[curves.groupby("schedule.mode")["epoch"].idxmax()].drop(columns="arm")
        item.extra["table"] = last.rename(columns={"mean": "ours_top1", "std": "ours_top1_std", "n": "ours_top1_n",
                                                   "ci_low": "ours_top1_ci_low", "ci_high": "ours_top1_ci_high"})
    return item


def plot_figure06(fig, item: Item) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    for series, part in item.frame.groupby("series", sort=False):
        ax1.plot(100 * part["paper_epoch"] / 350, part["paper_top1_acc_pct"], label=f"paper: {series}")
    ax1.set(xlabel="training progress (% of 350 epochs)", ylabel="ImageNet top-1 (%)", title="paper (ImageNet)")
    ax1.legend(fontsize=7)
    labels = {"vanilla-progressive": "progressive resize (vanilla)", "paper": "progressive resize + adaptive reg"}
    if item.extra["curves"].empty:
        _empty(ax2, "curves of the adaptive-regularization notebook")
    colors = {"vanilla-progressive": "C0", "paper": "C1"}  # as the paper's two series on the left
    for mode, part in _groups(item.extra["curves"], "schedule.mode"):
        ax2.plot(part["progress_pct"], part["mean"], label=f"ours: {labels.get(mode, mode)} ({_n_text(part['n'])})",
                 marker=".", color=colors.get(mode))
        band = part[part["n"] >= 2]  # no band from a single seed
        if not band.empty:
            ax2.fill_between(band["progress_pct"], band["ci_low"], band["ci_high"], alpha=0.2, color=colors.get(mode),
                             label=f"95 % t interval ({labels.get(mode, mode)})")
    ax2.set_xlim(0, 100)
    ax2.set(xlabel="training progress (% of epochs)", ylabel="proxy top-1 (%)", title="ours (proxy)")
    if not item.extra["curves"].empty:
        ax2.legend(fontsize=7, title="mean over seeds; band: 95 % t interval (n >= 2)", title_fontsize=7)


FIGURES = {"F1": (figure01, plot_figure01), "F3": (figure03, plot_figure03),
           "F5": (figure05, plot_figure05), "F6": (figure06, plot_figure06)}


def build_figure(key: str, res: Results, out_dir: Path) -> Item:
    build, plot = FIGURES[key]
    item = build(res)
    if res.include_smoke:
        item.evidence += " -- INCLUDES SMOKE-PROFILE RUNS, WHICH ARE NEVER EVIDENCE"
    draw(item, out_dir, plot)
    return item
