"""§3.3 NAS: accuracy vs step time vs params of every evaluated architecture, with the reward.

The frame comes from the run records of the NAS experiment (``replication.nas`` writes the
reward, accuracy, step time and params into each ``summary.json``). The V2-B0 reference (run id
containing "v2b0") is marked. :func:`lines` adds the ranking and how the reward relates to the
V2-like choices (fused early stages, MBConv late, small expansion, 3x3 kernels) to the report.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from replication.report import measured as m
from replication.report.collect import Results
from replication.report.figures import save_figure
from replication.report.items import markdown_table

REFERENCE_PATTERN = "efficientnetv2|v2_b0|v2b0"  # run ids of the V2-B0 reference (also used by checks)
COLUMNS = ("reward", "accuracy", "step_time", "step_time_ratio", "params", "params_ratio", "blocks",
           "fused_early", "mbconv_late", "mean_expansion", "k3_share", "layers")
LIKENESS = {"fused_early": "share of fused stages in the first half", "mbconv_late": "share of MBConv in the second half",
            "small_expansion": "(6 - mean expansion) / 5", "k3_share": "share of 3x3 stages"}
STEM = "figure_nas"


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a reward, best first, plus ``reference`` and the V2-likeness columns."""
    if frame.empty or "reward" not in frame.columns:
        return pd.DataFrame(columns=["run_id", *COLUMNS, "reference", "v2_likeness"])
    out = frame.dropna(subset=["reward"]).sort_values("reward", ascending=False).reset_index(drop=True)
    out["reference"] = out["run_id"].astype(str).str.contains(REFERENCE_PATTERN, regex=True)
    out["small_expansion"] = (6 - out["mean_expansion"]) / 5
    out["v2_likeness"] = out[list(LIKENESS)].mean(axis=1)  # 1: every choice as in V2; 0: the opposite
    out.insert(1, "rank", range(1, len(out) + 1))
    return out


def from_results(res: Results, experiment: str = m.EXPERIMENTS["nas"]) -> pd.DataFrame:
    runs = m.runs_table(res, experiment)
    if runs.empty:
        return table(runs)
    renamed = {f"summary.{c}": c for c in COLUMNS}
    frame = runs[["run_id", *[c for c in renamed if c in runs.columns]]].rename(columns=renamed)
    if "blocks" in frame.columns:
        frame["blocks"] = frame["blocks"].map(lambda b: " ".join(b) if isinstance(b, list) else b)
    return table(frame)


def figure(frame: pd.DataFrame, hardware: str = ""):
    """Three panels: accuracy vs step time, accuracy vs params (colour: reward), reward vs V2-likeness."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    if frame.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no NAS samples evaluated yet", ha="center", va="center", transform=ax.transAxes)
        return fig
    ref, rest = frame[frame["reference"]], frame[~frame["reference"]]
    panels = [("step_time_ratio", "accuracy", "training step time / V2-B0's (S)"),
              ("params_ratio", "accuracy", "params / V2-B0's (P)"), ("v2_likeness", "reward", "V2-likeness (0..1)")]
    for ax, (x, y, xlabel) in zip(axes, panels):
        points = ax.scatter(rest[x], 100 * rest[y] if y == "accuracy" else rest[y], c=rest["reward"], cmap="viridis",
                            vmin=frame["reward"].min(), vmax=frame["reward"].max(), s=28, edgecolor="k", linewidth=0.3,
                            label="random samples")
        ax.scatter(ref[x], 100 * ref[y] if y == "accuracy" else ref[y], marker="*", s=220, color="crimson",
                   edgecolor="k", label="V2-B0 (same evaluation)")
        ax.set(xlabel=xlabel, ylabel="top-1 after the short training (%)" if y == "accuracy" else "reward A·S^-0.07·P^-0.05")
        if x != "v2_likeness":
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=7)
    fig.colorbar(points, ax=axes[2], label="reward")
    axes[2].set_title(f"V2-B0 ranks {int(ref['rank'].iloc[0]) if len(ref) else '-'} of {len(frame)}", fontsize=9)
    fig.suptitle("§3.3 training-aware NAS (small random search): accuracy, step time, params and reward", fontsize=10)
    fig.text(0.01, 0.01, f"Evidence: proxy (each sample trained briefly at reduced size). Hardware: {hardware or '?'}",
             fontsize=7.5)
    fig.subplots_adjust(bottom=0.2, wspace=0.35)
    return fig


def draw(res: Results, out_dir) -> list[Path]:
    """Write ``figure_nas.png`` and ``.svg`` (nothing when no sample has been evaluated)."""

    frame = from_results(res)
    if frame.empty:
        return []
    return save_figure(figure(frame, res.hardware(m.runs_table(res, m.EXPERIMENTS["nas"]))), out_dir, STEM)


def lines(res: Results) -> list[str]:
    """Report lines: the figure, the ranking and the Spearman correlation of reward with each V2 choice."""
    frame = from_results(res)
    if frame.empty:
        return ["", "No NAS sample has been evaluated yet (run the NAS notebook).", ""]
    corr = {k: frame["reward"].corr(frame[k], method="spearman") for k in (*LIKENESS, "v2_likeness")}
    acc = {k: frame["reward"].corr(frame[k], method="spearman") for k in ("accuracy", "step_time_ratio", "params_ratio")}
    ref = frame[frame["reference"]]
    out = ["", f"![NAS]({STEM}.png)", "", f"{len(frame) - len(ref)} random sample(s) and V2-B0, best reward first "
           f"(V2-B0 ranks {int(ref['rank'].iloc[0]) if len(ref) else '-'}):", ""]
    shown = frame[["rank", "run_id", "reward", "accuracy", "step_time_ratio", "params_ratio", "v2_likeness", "blocks"]]
    out += [markdown_table(shown.head(8).round(4)), ""]
    out.append(f"Spearman correlation (n={len(frame)}) of the reward with " + ", ".join(f"{k} {v:+.2f}" for k, v in acc.items())
               + "; with the V2 choices: " + ", ".join(f"{k} {v:+.2f}" for k, v in corr.items()) + ".")
    return out + [""]
