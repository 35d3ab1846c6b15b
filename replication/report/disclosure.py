"""What a reviewer needs beside the verdicts, computed from the records: the compute spent (per
family and in total), the data each run read, the study's limitations with their numbers, and the
deviations from the declared plan that the sections above do not state.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from replication.data.manifest import load_manifest
from replication.report import arms, tables_proxy
from replication.report import measured as m
from replication.report.collect import Results
from replication.report.items import markdown_table
from replication.results import REBUILT, counts_as_clean, read_run_info
from replication.study import spec


def _families() -> dict[str, str]:
    return {family: folder for family, folder in m.EXPERIMENTS.items() if family not in ("static", "speed_memory")}


def _runs(res: Results, folder: str) -> pd.DataFrame:
    return res.finished_runs(folder)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _trained(res: Results) -> list[tuple[str, pd.DataFrame]]:
    """(family, its finished runs) of every trained family with runs, and the rebuilt source runs."""
    folders = list(_families().items()) + [(f"{REBUILT} sources", f"{REBUILT}/{m.EXPERIMENTS[tables_proxy.TRANSFER_SOURCES]}")]
    return [(family, runs) for family, folder in folders if not (runs := _runs(res, folder)).empty]


def _hosts(runs: pd.DataFrame) -> list[tuple[str, int]]:
    """(processor, runs) of ``runs``, most runs first, ties by name."""
    hosts = _column(runs, "summary.hardware.processor").fillna("unrecorded").value_counts()
    return sorted(hosts.items(), key=lambda hn: (-hn[1], hn[0]))


def training_hosts(res: Results) -> list[str]:
    """Every processor that trained a run of the study, by name."""
    return sorted({host for _, runs in _trained(res) for host, _ in _hosts(runs)})


def compute_table(res: Results) -> pd.DataFrame:
    """One row per trained family (and the rebuilt source runs): runs, hosts, training and evaluation hours."""
    rows = []
    for family, runs in _trained(res):
        hosts = _hosts(runs)
        rows.append({"family": family, "runs": len(runs), "hosts (runs)": "; ".join(f"{h} ({n})" for h, n in hosts),
                     "train_hours": _column(runs, "summary.total_train_seconds").astype(float).sum() / 3600,
                     "eval_hours": _column(runs, "summary.total_eval_seconds").astype(float).sum() / 3600})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        total = {"family": "total", "runs": int(frame["runs"].sum()), "hosts (runs)": "",
                 "train_hours": frame["train_hours"].sum(), "eval_hours": frame["eval_hours"].sum()}
        frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
        frame[["train_hours", "eval_hours"]] = frame[["train_hours", "eval_hours"]].round(2)
    return frame


def _short(commit) -> str:
    text = str(commit)
    head = text.removesuffix("-dirty")
    return (head[:7] if len(head) == 40 else head) + ("-dirty" if text.endswith("-dirty") else "")


def bench_machines(res: Results) -> pd.DataFrame:
    """The speed suites (``results/bench/<machine>/environment.json``): machine, torch, when, the command as it
    ran and its commit; then the other bench files' rows by machine with their commits."""
    rows = []
    for env_path in sorted((res.root / "bench").glob("*/environment.json")):
        env = json.loads(env_path.read_text())
        speed = env_path.parent / "speed.csv"
        rows.append({"machine": env.get("hardware", env_path.parent.name), "what": "speed suite",
                     "rows": len(pd.read_csv(speed)) if speed.is_file() else 0, "torch": env.get("torch", ""),
                     "started": str(env.get("started", ""))[:16], "command": " ".join(env.get("command") or []),
                     "commits": _short(env.get("git_commit", "unrecorded"))})
    bench = res.bench()
    if not bench.empty and {"hardware", "kind"} <= set(bench.columns):
        loose = bench[~bench["source_file"].astype(str).str.endswith("speed.csv")] if "source_file" in bench else bench
        commits = _column(loose, "git_commit").fillna("unrecorded").map(_short)
        for (hw, kind), group in loose.assign(commit=commits).groupby(["hardware", "kind"]):
            rows.append({"machine": hw, "what": kind, "rows": len(group),
                         "torch": ", ".join(sorted(set(_column(group, "torch").dropna().astype(str)))),
                         "started": "", "command": "make bench" if str(kind).startswith("bench") else "",
                         "commits": ", ".join(sorted(set(group["commit"])))})
    return pd.DataFrame(rows)


def dirty_records(res: Results, profile: str = "cpu") -> tuple[list[str], list[str]]:
    """Run folders (``<experiment>/<run_id>``) whose process loaded uncommitted code: (explained by the spec's
    ``changes``, so counted; not explained, so not counted)."""
    explained, refused = [], []
    for info_path in sorted(res.root.glob("*/*/run.json")):
        key = f"{info_path.parent.parent.name}/{info_path.parent.name}"
        info = read_run_info(info_path.parent)
        if counts_as_clean(info, info_path.parent):
            continue
        (explained if counts_as_clean(info, info_path.parent, arms.explained(profile)) else refused).append(key)
    return explained, refused


def compute_lines(res: Results) -> list[str]:
    table, machines = compute_table(res), bench_machines(res)
    explained, refused = dirty_records(res)
    out = ["Every trained run's wall-clock training and evaluation time from its `summary.json`, by family (smoke "
           "runs excluded); the host is the processor the run recorded.", ""]
    out += [markdown_table(table), ""] if not table.empty else ["No training run is recorded yet.", ""]
    out += [f"Records whose process ran code with uncommitted changes: {len(explained)} explained by the spec's `changes` "
            f"and counted ({', '.join(explained) or 'none'}); {len(refused)} not explained and not counted "
            f"({', '.join(refused) or 'none'}). Records older than `run.json` carry no such flag.", ""]
    if not machines.empty:
        out += ["Speed, memory and trainer measurements (`results/bench/`), by machine, with the command as it ran and "
                "its commit (`-dirty`: the tree had uncommitted changes):", "", markdown_table(machines), ""]
    return out


def data_lines(res: Results) -> list[str]:
    """Which archive the runs read, by dataset: the manifest's first source (the one on these machines), and how
    many runs record that archive and its checksum in their own ``run.json``."""
    frames = [runs.assign(family=family) for family, folder in _families().items()
              if not (runs := _runs(res, folder)).empty and "data.dataset" in runs.columns]
    if not frames:
        return []
    runs = pd.concat(frames, ignore_index=True)
    runs["named"] = [(Path(d) / "run.json").is_file() for d in runs["run_dir"]]
    out = []
    for dataset, group in runs.groupby("data.dataset"):
        try:
            source = load_manifest(str(dataset)).sources[0]
        except (KeyError, FileNotFoundError, ValueError, IndexError):
            continue
        files = ", ".join(f"`{f.name}` (sha256 `{f.sha256 or '?'}`)" for f in source.files)
        families = ", ".join(f"{f} {len(g)}" for f, g in group.groupby("family", sort=False))
        out.append(f"- **{dataset}** ({len(group)} runs: {families}): source `{source.id}`, {source.note}: {files}. "
                   f"{int(group['named'].sum())} of them record the archive and its checksum in their own `run.json`; "
                   "the older ones predate that record and read the only source on these machines.")
    return out


def limitations_lines(res: Results) -> list[str]:
    """The study's limits, each with the numbers behind it."""
    out = []
    hosts = compute_table(res)
    mixed = hosts[hosts["hosts (runs)"].str.count(";") >= 1] if not hosts.empty else hosts
    if not mixed.empty:
        out.append("- **Hosts mixed within a family**: " + "; ".join(f"{r['family']}: {r['hosts (runs)']}"
                                                                     for _, r in mixed.iterrows()) + ".")
    out += [f"- **Same seed, other host**: {text}.{_rerun_spread(res)}" for text in tables_proxy.rebuilt_sources(res)]
    pixels = _size_speedup(res)
    if pixels:
        out.append(f"- **The CPU compresses the speed-up of small images**: {pixels}; on an accelerator the "
                   "small stages would save more wherever step time scales with pixels, so the proxy's time savings "
                   "do not compare with the paper's in size.")
    out += ["- **Proxy validity**: each proxy's gate (section above) says whether it can judge the training claims "
            "at all; a failed gate makes them not testable at this scale.",
            "- **Post-hoc contrasts and multiplicity**: the trial's contrasts between arms were written after some arms "
            "had run and decide no verdict; every verdict uses its own 95 % interval without a correction for the "
            "number of claims judged, so among k independent claims whose effect is truly 0, about 0.05 k would be "
            "called different by chance."]
    return out


def _rerun_spread(res: Results) -> str:
    """The largest rerun-vs-record gap of the rebuilt source runs beside their arms' seed std."""
    folder = m.EXPERIMENTS[tables_proxy.TRANSFER_SOURCES]
    again, original = m.runs_table(Results(res.root / REBUILT, res.include_smoke), folder), m.runs_table(res, folder)
    if again.empty or original.empty:
        return ""
    both = again[["run_id", "top1"]].merge(original[["run_id", "top1", "arm"]], on="run_id", suffixes=("_rerun", ""))
    if both.empty:
        return ""
    gap = (both["top1_rerun"] - both["top1"]).abs()
    stds = {arm: original.loc[original["arm"] == arm, "top1"].std() for arm in both["arm"].dropna().unique()}
    spread = ", ".join(f"{arm} {std:.2f}" for arm, std in stds.items() if std == std)
    return (f" The largest gap, {gap.max():.2f} points ({both.loc[gap.idxmax(), 'run_id']}), is more than the arms' seed "
            f"std ({spread} points): the host is a source of variation the seeds do not cover." if spread and
            gap.max() > max(stds.values()) else "")


def _size_speedup(res: Results) -> str:
    """The trainer's images/s on real data at the smallest size over the largest (`make bench` trainer rows)."""
    bench = res.bench()
    if bench.empty or not {"kind", "trainer_real_ips", "image_size"} <= set(bench.columns):
        return ""
    rows = bench[bench["kind"] == "bench_trainer"].dropna(subset=["image_size", "trainer_real_ips"])
    if rows["image_size"].nunique() < 2:
        return ""
    speed = rows.groupby("image_size")["trainer_real_ips"].median()
    small, large = speed.index.min(), speed.index.max()
    return (f"the trainer runs {speed[small] / speed[large]:.2f}x the images per second at {small:g} px as at "
            f"{large:g} px, with {(large / small) ** 2:.0f}x fewer pixels (`make bench`, {rows['hardware'].iloc[0]})")


def deviations_lines(res: Results, profile: str = "cpu") -> list[str]:
    """Departures from the paper or from the declared plan that no other section states, from the spec and the records."""
    study = spec.load(profile)
    out = []
    per_batch = [a.name for f in study.families.values() for a in f.arms.values()
                 if a.config.startswith("random_resize") and (a.updates.get("schedule") or {}).get("resize_every", 1) == 0]
    if per_batch:
        out.append(f"- **Random resize draws a size for every batch** (arms {', '.join(per_batch)}: "
                   "`schedule.resize_every=0`); §6.3 of the paper draws a new size every 8 epochs. Their Table 13 "
                   "contrast answers the per-batch variant.")
    declared = study.family("nas").knobs.get("samples") if "nas" in study.families else None
    nas = res.finished_runs(m.EXPERIMENTS["nas"])
    ran = int(nas["run_id"].astype(str).str.startswith("sample").sum()) if not nas.empty else 0
    if declared is not None and ran and ran != declared:
        out.append(f"- **NAS ran {ran} samples where the spec declares {declared}**; every sample is ranked, none "
                   "is dropped.")
    return out
