"""The report's opening: an executive summary computed from the ledger, the one-glance verdict
figure (claims by verdict and evidence kind), and the third-party evidence on the released weights."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from replication import paper
from replication.report import disclosure, gates
from replication.report import measured as m
from replication.report import verdicts as v
from replication.report.figures import save_figure
from replication.report.items import markdown_table

STEM = "figure_verdicts"
KINDS = ("exact", "measured here", "proxy", "none")
COLOURS = {v.REPRODUCED: "#1a9850", v.RELEASE: "#66bd63", v.IMPLEMENTED: "#a6d96a", v.WHERE_CHECKED: "#d9ef8b",
           v.PARTIALLY: "#fee08b", v.INCONCLUSIVE: "#bababa", v.NOT_REPRODUCED: "#d73027",
           v.NOT_TESTABLE_SCALE: "#878787", v.NOT_TESTABLE: "#4d4d4d", v.NOT_MEASURED: "#ffffff", v.FEW_SEEDS: "#e0e0e0"}


def _ids(claims: pd.DataFrame, *verdicts: str) -> str:
    hit = claims[claims["verdict"].isin(verdicts)]
    return ", ".join(hit["id"]) if len(hit) else "none"


def lines(claims: pd.DataFrame) -> list[str]:
    """A dozen lines: what matches, what was measured, what the training evidence says, what is untestable."""
    n = len(claims)
    proxy = claims[claims["evidence"] == "proxy"]
    judged = proxy[~proxy["verdict"].isin(v.UNCHECKED)]
    few = proxy[proxy["verdict"] == v.FEW_SEEDS]
    measured = claims[claims["evidence"] == "measured here"]
    exact = claims[claims["evidence"] == "exact"]
    speed = measured[~measured["verdict"].isin(v.UNCHECKED)]
    cpu = speed["reason"].str.contains(m.CPU, regex=False).any() if "reason" in speed.columns else False
    where = f" (rows measured on a CPU say '{m.CPU}': never a GPU or TPU result)" if cpu else ""
    return [
        f"- **{n} claims** of the paper are tracked. **Exact matches** (our count equals the paper's table): "
        f"{_ids(claims[claims['evidence'] == 'exact'], v.REPRODUCED, v.WHERE_CHECKED)}.",
        f"- **The paper disagrees with its own release** (our count equals the official README, not the paper's "
        f"table): {_ids(claims, v.RELEASE)}. **Implemented** (true by construction, not evidence): "
        f"{_ids(claims, v.IMPLEMENTED)}.",
        f"- **Counts partially / not reproduced** (a real difference from both sources, or an ambiguous table read "
        f"one way): {_ids(exact, v.PARTIALLY)} / {_ids(exact, v.NOT_REPRODUCED)}.",
        f"- **Speed and memory** ({len(measured)} claims) are compared as orderings and ratios on the hardware "
        f"named in each section{where}; "
        f"measured: {len(speed)} -- ordering or ratio as the paper's: {_ids(speed, v.REPRODUCED, v.WHERE_CHECKED)}; "
        f"partially (a smaller ratio, or a weaker rank correlation: the ledger says which): {_ids(speed, v.PARTIALLY)}; "
        f"not reproduced: {_ids(speed, v.NOT_REPRODUCED)}.",
        f"- **Training claims** ({len(proxy)}) are small-scale proxies, judged with a 95 % interval only while their "
        f"proxy's validity gate holds: not testable at this scale (gate failed): {_ids(proxy, v.NOT_TESTABLE_SCALE)}; "
        f"{len(judged)} judged -- reproduced: {_ids(judged, v.REPRODUCED)}; partially: "
        f"{_ids(judged, v.PARTIALLY)}; not reproduced: {_ids(judged, v.NOT_REPRODUCED)}; inconclusive: "
        f"{_ids(judged, v.INCONCLUSIVE)}; {len(few)} have runs but fewer than {v.MIN_SEEDS} seeds per arm "
        f"({_ids(few, v.FEW_SEEDS)}).",
        f"- **Untestable here** (ImageNet-scale training): {_ids(claims, v.NOT_TESTABLE)}; third-party "
        "evaluations of the released weights stand beside them (last section).",
        f"- **Not measured yet**: {_ids(claims, v.NOT_MEASURED)}.",
    ]


def _machines(res) -> str:
    """The speed suites' machines in words: 'NVIDIA H200 (59 rows, torch 2.11.0+cu130, started ...) and ...'."""
    suites = disclosure.bench_machines(res)
    suites = suites[suites["what"] == "speed suite"] if not suites.empty else suites
    return " and ".join(f"{r['machine']} ({r['rows']} rows, torch {r['torch']}, started {r['started']})"
                        for _, r in suites.iterrows()) or "no machine yet"


def _training_hosts(res) -> str:
    table = disclosure.compute_table(res)
    if table.empty:
        return "no run yet"
    total = table.iloc[-1]
    return (f"{int(total['runs'])} runs, {total['train_hours']:.1f} h of training on 2-core CPUs "
            f"({', '.join(disclosure.training_hosts(res))})")


def findings(claims: pd.DataFrame, res) -> list[str]:
    """The report's first lines: what the evidence says, in words, with the hardware and the proxies' accuracy."""
    exact = claims[claims["evidence"] == "exact"]
    measured = claims[claims["evidence"] == "measured here"]
    proxy = claims[claims["evidence"] == "proxy"]
    held = exact[exact["verdict"].isin([v.REPRODUCED, v.RELEASE, v.WHERE_CHECKED, v.IMPLEMENTED])]
    out = [f"- **Architecture**: {len(held)} of {len(exact)} exact claims hold as printed, as the official release "
           f"prints them, or by construction ({', '.join(held['id'])}); partially: {_ids(exact, v.PARTIALLY)}; not "
           f"reproduced: {_ids(exact, v.NOT_REPRODUCED)}.",
           f"- **Speed and memory** were measured on {_machines(res)}. The paper's orderings and ratios hold for "
           f"{_ids(measured, v.REPRODUCED, v.WHERE_CHECKED)}, partially for {_ids(measured, v.PARTIALLY)}, and not for "
           f"{_ids(measured, v.NOT_REPRODUCED)}; ratios between small models are judged only where the rows are "
           "compute-bound."]
    for i, gate in enumerate(gates.evaluate(res).values()):
        judged, named = proxy[proxy["id"].isin(gate.gate.judges)], gate.gate.proxy
        deciding = {c: gates.for_claim(res, c) for c in judged["id"]}
        mine = [c for c, g in deciding.items() if g is gate]
        others = [c for c, g in deciding.items() if g is not gate]
        elsewhere = sorted({deciding[c].gate.proxy for c in others})
        verb = {gates.HOLDS: "passes", gates.FAILS: "fails", gates.PENDING: "awaits runs for"}[gate.status]
        then = {gates.HOLDS: "judged from it", gates.FAILS: "not testable at this scale with it",
                gates.PENDING: "not judged from it until it holds"}[gate.status]
        moved = f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} read from {' and '.join(elsewhere)}"
        until = " until this proxy's trial declares the arms they are judged on (`judged_on`)"
        outcome = (f"so {', '.join(mine)} {'is' if len(mine) == 1 else 'are'} {then}" + (f"; {moved}" if others else "")
                   if mine else moved + (until if gates.awaits_trial(gate.gate) else ""))
        out.append(("- " if i else f"- **Training** ({_training_hosts(res)}). ") + f"{named[0].upper()}{named[1:]} "
                   f"**{verb} its validity gate** ({gate.numbers()}), {outcome}; its runs stay in the report as "
                   "measured.")
    tuning = m.runs_table(res, m.EXPERIMENTS["tuning"]) if "tuning" in m.EXPERIMENTS else pd.DataFrame()
    tuning = tuning.dropna(subset=["top1"]) if not tuning.empty else tuning
    if not tuning.empty:
        best = tuning.loc[tuning["top1"].idxmax()]
        out.append(f"- **The second proxy** was tuned on a minival carved from Imagenette train (issue 30): "
                   f"{len(tuning)} tuning runs, the best {best['top1']:.1f} % minival top-1 after "
                   f"{int(best['train.epochs'])} epochs ({best['run_id']}); the study spec's changes name the recipe "
                   "that won, which its gate and trial use.")
    out.append(f"- **Not testable here** (ImageNet-scale training): {_ids(claims, v.NOT_TESTABLE)}; timm's evaluation "
               "of the released weights stands beside them (last section).")
    return out


def figure(claims: pd.DataFrame):
    """Horizontal stacked bars: one per evidence kind, segments by verdict."""
    import matplotlib.pyplot as plt

    counts = pd.crosstab(claims["evidence"], claims["verdict"]).reindex(index=list(KINDS), columns=list(v.VERDICTS))
    counts = counts.fillna(0).astype(int)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    left = [0] * len(KINDS)
    for verdict in v.VERDICTS:
        values = counts[verdict].tolist()
        if not any(values):
            continue
        ax.barh(list(KINDS), values, left=left, color=COLOURS[verdict], edgecolor="#333333", linewidth=0.6,
                label=f"{verdict} ({sum(values)})")
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("claims")
    ax.set_title(f"{len(claims)} claims of the paper, by evidence kind and verdict")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def draw(claims: pd.DataFrame, out_dir: Path) -> list[Path]:

    return save_figure(figure(claims), out_dir, STEM)


def third_party() -> pd.DataFrame:
    """timm's evaluation of the released weights beside the paper's Table 7 accuracy (separate columns)."""
    with paper._data_file("third_party.csv").open("r", encoding="utf-8") as handle:
        ours = pd.read_csv(handle, dtype={"top1_acc_pct": str})
    t7 = paper.load("T7").set_index("model")["top1_acc_pct"]
    frame = pd.DataFrame({"model": ours["model"], "paper_top1_acc_pct": ours["model"].map(t7),
                          "third_party_top1_acc_pct": ours["top1_acc_pct"],
                          "third_party_model": ours["timm_model"], "image_size_px": ours["image_size_px"]})
    frame["gap_points"] = (frame["third_party_top1_acc_pct"].astype(float) - frame["paper_top1_acc_pct"]).round(2)
    return frame


def third_party_lines() -> list[str]:
    frame = third_party()
    close, big = frame[frame["gap_points"].abs() <= 0.3], frame[frame["gap_points"].abs() > 0.3]
    return [
        "Evidence kind: **released weights, evaluated by a third party** (timm's `results/results-imagenet.csv`, "
        "commit `0173a139`, read row by row; provenance in `replication/paper_data/sources.yaml`). It is neither "
        "the paper's number nor ours, and it bears on C12/C13 (and Table 11), which stay *not testable here*.", "",
        markdown_table(frame), "",
        f"Within 0.3 points of the paper: {', '.join(close['model']) or 'none'}. More than 0.3 points from it: "
        f"{', '.join(big['model']) or 'none'}. V2-B0..B3 are not listed: not every row was read from the file here.",
    ]
