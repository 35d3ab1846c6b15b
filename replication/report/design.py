"""The report's study section: the cpu study as declared in its spec before the runs, its queue,
the analysis rules fixed in advance, and every later change to the spec with its reason."""
from __future__ import annotations

import pandas as pd

from replication.report import tables_proxy
from replication.report import verdicts as v
from replication.report.items import narrow_tables
from replication.study import spec


def lines(profile: str = "cpu") -> list[str]:

    study = spec.load(profile)
    out = [f"Declared in `replication/studies/{profile}.yaml` before any of its runs; `python -m replication study "
           f"show {profile}` lists every run and its status, `python -m replication study run {profile}` runs the "
           "queue. Rules fixed in advance: every proxy number is a mean over at least "
           f"{v.MIN_SEEDS} seeds with its 95 % t interval (Welch for differences); \"no worse\" claims are judged "
           f"against a non-inferiority margin of {tables_proxy.margin():g} points (the `ni_margin` of the family "
           f"that judges them, `{tables_proxy.judging_family()}`; {v.NI_MARGIN:g} without one).", ""]
    for family in study.families.values():
        if not family.arms:
            continue
        rows = [{"arm": a.name, "config": a.config, "changes": _changes(a.own), "seeds": ", ".join(map(str, a.seeds)),
                 "what it answers": a.note or "", "pending": a.pending or ""} for a in family.arms.values()]
        frame = pd.DataFrame(rows)
        frame = frame.drop(columns=[c for c in ("what it answers", "pending") if not frame[c].any()])
        common = f"; every arm: `{_changes(family.common)}`" if family.common else ""
        out += [f"**{family.name}** (`results/{family.experiment}/<arm>_seed<seed>/`{common})", "", narrow_tables(frame), ""]
        judged = {key: spec.judged_on(study, family.name, key) for key in spec.JUDGED_ON}
        if any(judged.values()):
            pairs = "; ".join(f"{key}: " + ", ".join(f"{b} vs {a}" for a, b in found) for key, found in judged.items() if found)
            margin = tables_proxy.margin(family.name, profile)
            out += [f"Judged on (compared vs baseline): {pairs}; non-inferiority margin {margin:g} points"
                    + (" (the judging family)" if family.name == tables_proxy.judging_family() else
                       " (superseded: a later family judges)") + ".", ""]
    order = [f"{f}: {', '.join(arms) or 'all arms'}" + (f" (seeds {', '.join(map(str, seeds))})" if seeds else "")
             for f, arms, seeds in study.queue]
    out += ["**Queue** (one run at a time, in this order): " + "; ".join(order) + ".", ""]
    out += ["**Changes after the declaration:** " + ("none." if not study.changes else ""), ""]
    out += [f"- {c['date']}: {c['what']} Why: {c['why']}" + (f" Runs: {', '.join(c['runs'])}." if c.get("runs") else "")
            for c in study.changes]
    return out + [""]


def _changes(updates: dict, prefix: str = "") -> str:
    """``{"schedule": {"hold": "middle"}}`` -> ``schedule.hold=middle``."""
    parts = []
    for key, value in updates.items():
        if isinstance(value, dict):
            parts.append(_changes(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(p for p in parts if p)
