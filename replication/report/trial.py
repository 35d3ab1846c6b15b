"""The trial arm by arm: every declared arm of the cpu study's judging family (the one whose declared pairs
decide the training claims, :func:`tables_proxy.judging_family`) over its seeds; the contrasts between arms
that differ in one setting (the spec's ``contrasts``), which split the method's gap to the fixed baseline
into parts (size schedule, regularization strength, adaptive regularization, training length); and the power
of each comparison a claim is judged on, for its declared seeds. The spec says when the contrasts were
written (``contrasts_written``, the report prints it): they read the trial, they decide no verdict.

Written to ``figures/trial_arms.csv``, ``trial_contrasts.csv`` and ``trial_power.csv`` and shown in the
report beside Tables 12-13. The other trained families of the study (a superseded proxy's trial, the size x
RandAugment grid, transfer, tuning, the second proxy's gate) get the same per-arm table, without contrasts:
``figures/arms_<family>.csv``. Only runs whose saved config is a declared arm count (:mod:`arms`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from replication import paper
from replication.report import measured as m
from replication.report import tables_proxy
from replication.report import verdicts as v
from replication.report.collect import Results
from replication.report.items import narrow_tables
from replication.results import atomic_write_text
from replication.study import spec

PROFILE = "cpu"
TRAINED = ("progressive", "size_augmentation", "transfer", "tuning", "second_proxy")  # families with an arms table
ARMS_CSV, CONTRASTS_CSV, POWER_CSV = "trial_arms.csv", "trial_contrasts.csv", "trial_power.csv"
TARGET_POWER = 0.8
COLUMNS = {"top1": "top1_acc_pct", "summary.final_at_train_size.ema_top1": "top1_at_train_size_pct",
           "train_hours": "train_hours"}


def other_families() -> tuple[str, ...]:
    """The trained families other than the judging one: an arms table each, no contrasts."""
    return tuple(f for f in TRAINED if f != tables_proxy.judging_family())


def declared_contrasts(family: str = "") -> tuple[list, str]:
    """The family's contrasts (default: the judging family's) as the study spec writes them: [(baseline arm,
    compared arm, what it isolates)], and when they were written."""
    knobs = spec.load(PROFILE).family(family or tables_proxy.judging_family()).knobs
    return [tuple(c) for c in knobs.get("contrasts") or ()], str(knobs.get("contrasts_written", ""))


def arms_csv(family: str) -> str:
    return ARMS_CSV if family == tables_proxy.judging_family() else f"arms_{family}.csv"


def runs(res: Results, family: str = "") -> pd.DataFrame:
    """Finished runs of ``family`` (default: the judging family) that are declared arms of the cpu study
    (``arm`` column set)."""
    table = m.runs_table(res, m.EXPERIMENTS[family or tables_proxy.judging_family()])
    if table.empty or "arm" not in table.columns:
        return pd.DataFrame()
    return table[table["arm"].notna() & (table.get("profile") == PROFILE)].reset_index(drop=True)


def arms_table(done: pd.DataFrame, family: str = "") -> pd.DataFrame:
    """One row per declared arm among ``done`` (:func:`runs`): top-1 (EMA, full validation set) at the eval size and at the last
    training size, training hours, each as mean, std, 95 % t half-width over seeds, and n."""
    if done.empty:
        return pd.DataFrame()
    rows = []
    for name, arm in spec.load(PROFILE).family(family or tables_proxy.judging_family()).arms.items():
        mine = done[done["arm"] == name]
        if mine.empty:
            continue
        row = {"arm": name, "epochs": int(mine["train.epochs"].iloc[0]), "what it answers": arm.note or ""}
        for column, label in COLUMNS.items():
            values = mine[column].dropna().tolist() if column in mine.columns else []
            stats = m.seed_stats(values)
            row |= {f"ours_{label}": stats["mean"], f"ours_{label}_std": stats["std"], f"ours_{label}_ci95": stats["ci95"]}
        row["ours_runs"] = len(mine)
        rows.append(row)
    return pd.DataFrame(rows)


def _reading(d: v.Difference) -> str:
    if d.low is None:
        return "an arm has one seed: no interval"
    side = "inside the noise (the interval holds 0)" if d.low <= 0 <= d.high else \
        ("above" if d.low > 0 else "below") + ", outside the noise"
    return side + ("" if min(d.n_a, d.n_b) >= v.MIN_SEEDS else f" (n < {v.MIN_SEEDS}: low power)")


def contrasts(done: pd.DataFrame) -> pd.DataFrame:
    """Each contrast whose two arms have runs among ``done`` (:func:`runs`): compared - baseline top-1 (points) with Welch's 95 %
    interval and a plain reading."""
    rows = []
    for base, arm, what in declared_contrasts()[0]:
        d = v.welch(*(m.arm_values(done, arm=a) for a in (base, arm))) if not done.empty else None
        if d is None:
            continue
        rows.append({"contrast": f"{arm} - {base}", "isolates": what, "ours_diff_points": d.diff,
                     "ours_ci95_low": d.low, "ours_ci95_high": d.high, "ours_runs_baseline": d.n_a,
                     "ours_runs_compared": d.n_b, "reading": _reading(d)})
    return pd.DataFrame(rows)


def power_plan(res: Results, family: str = "") -> tuple[pd.DataFrame, str]:
    """Each declared comparison of ``family`` (default: the judging family) with the power its declared seeds give,
    at a spread sigma taken from the baseline arm of its first Table 12 pair over that arm's first ``MIN_SEEDS``
    seeds (for the second proxy, its gate's runs, measured before any trial run), and the seeds per arm that
    ``TARGET_POWER`` would need: a "no worse" pair at a true difference of 0 against the margin, a Table 13 pair
    at the paper's gain. Returns (the table, where sigma comes from); empty before sigma can be measured."""
    family, study = family or tables_proxy.judging_family(), spec.load(PROFILE)
    arms = study.family(family).arms
    first = spec.judged_on(study, family, "table12")
    if not first:
        return pd.DataFrame(), ""
    base = first[0][0]
    done = runs(res, family)
    values = done.loc[(done["arm"] == base) & done["seed"].isin(arms[base].seeds[:v.MIN_SEEDS]), "top1"].dropna() \
        if not done.empty and "seed" in done.columns else pd.Series(dtype=float)
    if len(values) < 2:
        return pd.DataFrame(), ""
    sigma, margin = float(values.std()), tables_proxy.margin()
    gains = paper.load("T13")[["resize_method", "gain_pct"]].itertuples(index=False)
    tested = [(key, pair, f"non-inferior at a true difference of 0 (margin {margin:g})", margin)
              for key in ("table12", "equal_time", "table10") for pair in spec.judged_on(study, family, key)]
    tested += [("table13", pair, f"{method}: adaptive - vanilla {gain:+g} (paper)", gain)
               for pair, (method, gain) in zip(spec.judged_on(study, family, "table13"), gains)]
    rows = []
    for key, (a, b), what, shift in tested:
        n_a, n_b = len(arms[a].seeds), len(arms[b].seeds)
        p = v.planned_power(sigma, n_a, n_b, shift)
        rows.append({"judges": key, "pair": f"{b} vs {a}", "seeds": f"{n_b} / {n_a}", "tests": what,
                     "power_pct": None if p is None else round(100 * p), f"seeds_per_arm_for_{100 * TARGET_POWER:.0f}pct": v.seeds_for(sigma, shift, TARGET_POWER)})
    source = (f"sigma = {sigma:.2f} points, the sample std of {family}/{base} over seeds "
              f"{', '.join(str(int(s)) for s in sorted(done.loc[values.index, 'seed']))}")
    return pd.DataFrame(rows), source


def write(res: Results, out_dir) -> list[Path]:
    """Write the trial's CSVs (arms, contrasts, power) and each other family's arms CSV (none for a family without
    declared runs)."""
    paths, done = [], runs(res)
    tables = [(ARMS_CSV, arms_table(done)), (CONTRASTS_CSV, contrasts(done)), (POWER_CSV, power_plan(res)[0])]
    tables += [(arms_csv(f), arms_table(runs(res, f), f)) for f in other_families()]
    for name, frame in tables:
        if not frame.empty:
            paths.append(Path(out_dir) / name)
            atomic_write_text(paths[-1], frame.to_csv(index=False))
    return paths


def lines(res: Results) -> list[str]:
    done, family = runs(res), tables_proxy.judging_family()
    arms, diffs = arms_table(done), contrasts(done)
    if arms.empty:
        return [f"No run of a declared arm yet: `python -m replication study run cpu --family {family}`.", ""]
    out = [f"Every declared arm of the cpu study's {family} family (the design is in the study section above): "
           "EMA top-1 on the full validation set at the eval size and at the arm's last training size, and "
           "wall-clock training hours; mean, sample std and 95 % t half-width over seeds.", "",
           narrow_tables(arms.drop(columns=["what it answers"])), ""]
    if not diffs.empty:
        out += ["Contrasts between arms that differ in one setting (the study spec's `contrasts`), each compared - "
                "baseline in top-1 points with Welch's 95 % interval: together they say which part of the schedule "
                "the method's gap to the fixed baseline comes from. They follow the purposes declared with the arms "
                f"but were written down on {declared_contrasts()[1]}: a reading aid beside the verdicts, not "
                "verdicts.", "", narrow_tables(diffs), ""]
    plan, source = power_plan(res)
    if not plan.empty:
        out += [f"Power of each comparison the claims are judged on, for the seeds the spec declares ({source}; "
                f"noncentral t, 95 % two-sided interval): the chance that the verdict's rule succeeds when the truth "
                f"is what the row tests, and the seeds per arm a power of {100 * TARGET_POWER:.0f} % would need. "
                "A low power makes an inconclusive verdict the expected outcome, not evidence against the claim.", "",
                narrow_tables(plan), ""]
    files = [f"[{name}]({name})" for name, frame in ((ARMS_CSV, arms), (CONTRASTS_CSV, diffs), (POWER_CSV, plan))
             if not frame.empty]
    return out + [f"Files: {', '.join(files)}", ""]


def family_lines(res: Results, family: str) -> list[str]:
    """Every declared arm of another trained family of the cpu study (no contrasts), for its own section."""
    arms = arms_table(runs(res, family), family)
    if arms.empty:
        return [f"No run of a declared arm yet: `python -m replication study run cpu --family {family}`.", ""]
    return ["Every declared arm of this family (EMA top-1 on the family's full evaluation set at its eval size, "
            "wall-clock training hours; mean, sample std and 95 % t half-width over seeds):", "",
            narrow_tables(arms), "", f"File: [{arms_csv(family)}]({arms_csv(family)})", ""]
