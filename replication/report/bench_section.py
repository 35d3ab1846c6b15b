"""The report's performance section: what ``make bench`` measured on this machine.

Reads the ``bench_*`` rows of ``results/bench/*.csv`` (written by ``replication.bench``), checks
them against the project's speed goals, and draws one figure: images/s per stage size (bare loop,
trainer on synthetic and on real data, input pipeline), the progressive run vs the fixed-size one,
and the thread / worker / cache settings tried. Goals are the project's, not the paper's; the
paper's Table 12 speed-ups are shown beside ours for reference only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from replication.results import atomic_write_text
from replication.report.collect import Results
from replication.report.figures import save_figure
from replication.report.items import markdown_table

STEM = "figure_bench"
TABLE = "table_bench"
SECTIONS = ("settings", "trainer", "pipeline", "progressive", "profile", "measurement", "precision")
TASKS = {"params_macs": "params/MACs of every registered model", "make_figures": "make figures"}


def frames(res: Results) -> dict[str, pd.DataFrame]:
    """One frame per bench section (empty when not measured), columns that are all empty dropped."""
    bench = res.bench()
    out = {}
    for section in SECTIONS:
        rows = bench[bench["kind"] == f"bench_{section}"] if "kind" in bench.columns else pd.DataFrame()
        out[section] = rows.dropna(axis=1, how="all").reset_index(drop=True)
    return out


def goals(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per goal of ``make bench``: what was measured (worst case where there are several) and met or not."""
    rows = []

    def add(goal, target, measured, where, higher_is_better=True):
        met = None if measured is None else (measured >= target if higher_is_better else measured <= target)
        rows.append({"goal": goal, "target": target, "measured": None if measured is None else round(measured, 3),
                     "where": where, "met": {None: "not measured", True: "yes", False: "no"}[met]})

    t = f["trainer"]
    for column, goal in (("trainer_overhead_ratio", "trainer / bare loop images/s (synthetic data)"),
                         ("real_synthetic_ratio", "real / synthetic data images/s (trainer)")):
        if t.empty or column not in t.columns:
            add(goal, 0.95 if "overhead" in column else 0.90, None, "")
            continue
        worst = t.loc[t[column].idxmin()]
        target = worst[f"goal_{column.removesuffix('_ratio')}"]
        steps = f", {int(worst['steps_per_epoch'])} steps per epoch" if pd.notna(worst.get("steps_per_epoch")) else ""
        add(goal, float(target), float(worst[column]), f"worst stage size: {int(worst['image_size'])} px "
            f"(all: {', '.join(f'{int(s)} px {v:.2f}' for s, v in zip(t['image_size'], t[column]))}{steps})")
    if not t.empty and "goal_pixel_speedup" in t.columns:
        for r in t[t["goal_pixel_speedup"].notna()].itertuples():
            add(f"images/s at {int(r.image_size)} px over images/s at {int(t['image_size'].iloc[-1])} px (trainer, real "
                f"data)", float(r.goal_pixel_speedup), float(r.trainer_real_speedup),
                f"pixel ratio {r.pixel_ratio:.2f} (the ideal); synthetic data {r.trainer_synthetic_speedup:.2f}x, "
                f"bare loop {r.bare_speedup:.2f}x")
    p = f["progressive"]
    prog = p[p["schedule"] == "progressive"] if not p.empty else p
    if not prog.empty and "train_speedup_of_pixel_ratio" in prog.columns:
        r = prog.iloc[0]
        add("progressive vs fixed-size training time, as a fraction of their pixel ratio", float(r["goal_of_pixel_ratio"]),
            float(r["train_speedup_of_pixel_ratio"]), f"{r['speedup_train']:.2f}x for a pixel ratio of {r['pixel_ratio']:.2f}")
    for column, goal in (("speedup_wall", "progressive vs fixed-size run: wall time"),
                         ("speedup_train", "progressive vs fixed-size run: training time")):
        if prog.empty:
            add(goal, 1.5, None, "")
            continue
        r = prog.iloc[0]
        add(goal, float(r["goal_speedup"]), float(r[column]), f"{int(r['epochs'])} epochs x {int(r['steps_per_epoch'])} "
            f"steps, sizes {r['image_sizes']} px; paper Table 12: 1.4x-2.8x")
    for _, r in f["measurement"].iterrows():
        add(f"seconds for {TASKS.get(r['task'], r['task'])}", float(r["goal_seconds"]), float(r["seconds"]),
            f"{int(r['items'])} rows, {int(r['registered_models'])} registered models" if pd.notna(r.get("items")) else "",
            higher_is_better=False)
    return pd.DataFrame(rows)


def figure(f: dict[str, pd.DataFrame], hardware: str = ""):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    t, p, s = f["trainer"], f["progressive"], f["settings"]
    ax = axes[0]
    if not t.empty:
        for column, label in (("bare_ips", "bare PyTorch loop"), ("trainer_synthetic_ips", "trainer, synthetic data"),
                              ("trainer_real_ips", "trainer, real data")):
            ax.plot(t["image_size"], t[column], marker="o", label=label)
        pipe = f["pipeline"]
        if not pipe.empty:
            ax.plot(pipe["image_size"], pipe["input_ips"] / 10, ls="--", marker="s", color="grey",
                    label="input pipeline, one core (/10)")
        ax.set(xlabel="stage image size (px)", ylabel="training images/s", title="speed per stage size")
        ax.legend(fontsize=7)
    ax = axes[1]
    if not p.empty:
        other = p["wall_seconds"] - p["train_seconds"] - p["eval_seconds"]
        ax.bar(p["schedule"], p["train_seconds"], label="training")
        ax.bar(p["schedule"], p["eval_seconds"], bottom=p["train_seconds"], label="evaluation")
        ax.bar(p["schedule"], other, bottom=p["train_seconds"] + p["eval_seconds"], label="other (build, checkpoints)")
        prog = p[p["schedule"] == "progressive"].iloc[0]
        ax.set(ylabel="seconds (median)", title=f"progressive {prog['speedup_wall']:.2f}x faster (wall), "
                                                f"{prog['speedup_train']:.2f}x (training)")
        ax.legend(fontsize=7)
    ax = axes[2]
    if not s.empty:
        labels = [f"{int(r.threads)} thr, {int(r.workers)} wkr{', cache' if r.cache_decoded else ''}" for r in s.itertuples()]
        sizes = [c for c in s.columns if c.startswith("ips_") and not c.endswith("_all")]
        width = 0.8 / max(1, len(sizes))
        for i, column in enumerate(sizes):
            ax.barh([k + i * width for k in range(len(s))], s[column], height=width, label=column.replace("ips_", "") + " px")
        ax.set_yticks([k + width * (len(sizes) - 1) / 2 for k in range(len(s))], labels, fontsize=7)
        ax.set(xlabel="training images/s (real data)", title="threads / workers / decoded cache")
        ax.legend(fontsize=7)
    for ax in axes:
        if not ax.has_data():
            ax.text(0.5, 0.5, "not measured yet (make bench)", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("Training speed on this machine (make bench; medians over repeats)", fontsize=10)
    fig.text(0.01, 0.01, f"Hardware: {hardware or '?'}", fontsize=7.5)
    fig.subplots_adjust(bottom=0.18, wspace=0.45, left=0.05, right=0.98)
    return fig


def draw(res: Results, out_dir) -> list[Path]:
    """Write figure_bench.png/.svg and table_bench.csv/.md (nothing when no bench was run)."""

    f = frames(res)
    if all(frame.empty for frame in f.values()):
        return []
    out = Path(out_dir)
    table = goals(f)
    atomic_write_text(out / f"{TABLE}.csv", table.to_csv(index=False))
    atomic_write_text(out / f"{TABLE}.md", markdown_table(table) + "\n")
    return [*save_figure(figure(f, _hardware(f)), out, STEM), out / f"{TABLE}.csv", out / f"{TABLE}.md"]


def _hardware(f: dict[str, pd.DataFrame]) -> str:
    names = sorted({h for frame in f.values() if "hardware" in frame.columns for h in frame["hardware"].dropna()})
    return "; ".join(names)


def precision_lines(prec: pd.DataFrame) -> list[str]:
    """One line per model: bfloat16 autocast / float32 images/s of the bare loop at each stage size."""
    if prec.empty or "bf16_over_fp32" not in prec.columns:
        return []
    cut = prec["profile_bf16_from_size"].iloc[0]
    per_model = [f"{name}: " + ", ".join(f"{int(r.image_size)} px {r.bf16_over_fp32:.2f}x" for r in part.itertuples())
                 for name, part in prec.groupby("model", sort=False)]
    rule = f"the profile uses bf16 from {int(cut)} px for every model" if cut else "the profile trains in float32"
    return [f"bf16 autocast / fp32 training images/s (bare loop, synthetic data; {rule}): "
            + "; ".join(per_model) + "."]


def lines(res: Results) -> list[str]:
    f = frames(res)
    if all(frame.empty for frame in f.values()):
        return ["Not measured yet: run `make bench`.", ""]
    stamp = next(frame.iloc[0] for frame in f.values() if not frame.empty)
    out = [f"Measured by `make bench` on {_hardware(f)} (torch {stamp.get('torch')}, timm {stamp.get('timm')}, "
           f"commit {str(stamp.get('git_commit'))[:12]}, profile `{stamp.get('profile')}`, model {stamp.get('model')}, "
           f"batch {stamp.get('batch_size')}). These are the project's speed goals, not claims of the paper.", "",
           f"![bench]({STEM}.png)", "", markdown_table(goals(f)), ""]
    s = f["settings"]
    if not s.empty:
        best = s[s["fastest"].astype(bool)].iloc[0]
        out.append(f"Fastest setting here: {int(best['threads'])} torch thread(s), {int(best['workers'])} DataLoader "
                   f"worker(s), decoded cache {'on' if bool(best['cache_decoded']) else 'off'}"
                   + ("" if bool(best["in_profile"]) else " (the profile uses another setting)") + ".")
    pipe = f["pipeline"]
    if not pipe.empty and "input_over_model" in pipe.columns:
        out.append("Input pipeline (decode + augment + mixup, one core) vs the model's consumption: "
                   + ", ".join(f"{int(r.image_size)} px {r.input_over_model:.1f}x" for r in pipe.itertuples()
                               if pd.notna(r.input_over_model)) + ".")
    out += precision_lines(f["precision"])
    prof = f["profile"]
    if not prof.empty and "step_ms" in prof.columns:
        out.append("Where a training step's time goes (ms: input / forward / backward / optimizer / EMA; real data): "
                   + "; ".join(f"{int(r.image_size)} px{' bf16' if bool(r.bf16) else ''} {r.input_ms:.0f} / {r.forward_ms:.0f} / "
                               f"{r.backward_ms:.0f} / {r.optimizer_ms:.0f} / {r.ema_ms:.0f} (model {r.model_speedup:.2f}x "
                               f"faster than at the largest size for {r.pixel_ratio:.2f}x fewer pixels)"
                               for r in prof.itertuples()) + f". Top operators at {int(prof['image_size'].iloc[0])} px: "
                   + prof["top_operators"].iloc[0].replace(";", ", ") + ".")
    out.append("The progressive rows come from runs shortened to a few steps per epoch; full-length runs of the "
               "profile (fixed vs progressive, same epochs) are in Table 12 (`ours_*_train_time_hours`).")
    return out + [f"Files: [{STEM}.png]({STEM}.png), [{TABLE}.csv]({TABLE}.csv); raw rows in `results/bench/`.", ""]
