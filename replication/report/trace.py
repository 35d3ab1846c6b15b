"""Traceability: for every claim, the result files or run folders it used and the command that
regenerates them (``sources``), rendered as short links for the ledger and full lists for the
claim's section."""
from __future__ import annotations

from dataclasses import dataclass

from replication.report import measured as m
from replication.report import tables_proxy
from replication.report.collect import Results


def _notebook(name: str) -> str:
    """The command that (re)runs a family of the cpu study: its queue (a family with arms), or its notebook."""
    study = tables_proxy.study_spec("cpu")
    family = study.families.get(name) if study else None
    if family is not None and family.arms:
        return f"python -m replication study run cpu --family {name}"
    return f"python -m replication experiments --profile cpu --only {name}"


STATIC = ("results/static/params_macs.csv", "python -m replication static")
BENCH = ("results/bench/", "make bench  # CPU; on a GPU: bash bench/gpu.sh")
SOURCES = {  # check -> (result path, command); proxy checks name their experiment family instead
    **{name: STATIC for name in ("exact_t1", "exact_t3", "exact_t7_v2", "exact_t10", "exact_t11", "f5_params_flops",
                                 "f5_frontier")},
    "exact_t4": ("results/static/table04.csv", STATIC[1]),
    "exact_t9": ("results/static/datasets.csv", _notebook("transfer")),
    "t6_schedule": ("replication/progressive.py",
                    "python -m replication schedule --mode paper --model efficientnetv2_s --epochs 350 --stages 4"),
    **{name: BENCH for name in ("t2_throughput_ratio", "t2_memory_budget", "t3_fused_speed", "t7_latency_rank",
                                "t10_speed_ratios", "t11_speedups", "f3_step_time_rank")},
}
FAMILIES = {"t5_best_magnitude": "size_augmentation", "t8_transfer": "transfer", "nas_search": "nas"}
# the checks that read the judging family (tables_proxy.judging_family()), each only the arms of the pairs its
# study spec declares (judged_on: which key, and which of its pairs; None: all of them)
JUDGED = {"t12_time_saving": ("table12", None), "t12_accuracy": ("table12", None),
          "t13_adaptive_gain": ("table13", None), "f6_curves": ("table13", 0), "t10_proxy_accuracy": ("table10", None)}


def _family(check: str) -> str | None:
    """The experiment family a proxy check reads (None: the check reads no family)."""
    return tables_proxy.judging_family() if check in JUDGED else FAMILIES.get(check)


def _used(check: str, res: Results):
    """The run folders (run_dir) a proxy check reads: the family's kept runs, narrowed for the judging family
    to the trial's length and the arms of the pairs the check compares."""
    if check not in JUDGED:
        return res.runs(m.EXPERIMENTS[FAMILIES[check]])
    key, index = JUDGED[check]
    runs = tables_proxy.proxy_runs(res, tables_proxy.judging_family())
    declared = tables_proxy.declared(key, runs)
    arms = {arm for pair in (declared if index is None else declared[index:index + 1]) for arm in pair}
    return runs[runs["arm"].isin(arms)] if "arm" in runs.columns else runs.iloc[:0]


@dataclass
class Trace:
    path: str  # a results file or folder, relative to the repository
    command: str
    runs: list[str]  # run folders actually used (proxy claims), relative to the repository
    commits: tuple[str, ...] = ()  # the git commit each of those runs recorded (a "-dirty" suffix: uncommitted changes)

    def code(self) -> str:
        """'3 commits (0060aa9 .. c0c2147); 2 of 12 runs from a tree with uncommitted changes' ('' without runs)."""
        if not self.commits:
            return ""
        heads = list(dict.fromkeys(c.removesuffix("-dirty")[:7] for c in self.commits))
        dirty = sum(c.endswith("-dirty") for c in self.commits)
        span = heads[0] if len(heads) == 1 else f"{len(heads)} commits ({', '.join(heads[:4])}{', ...' if len(heads) > 4 else ''})"
        return f"{span}; {dirty} of {len(self.commits)} runs from a tree with uncommitted changes"

    def link(self, prefix: str = "../") -> str:
        """A short Markdown link for the ledger (``prefix``: the repository, seen from the report's folder)."""
        label = f"{len(self.runs)} runs" if self.runs else self.path.rstrip("/").rsplit("/", 1)[-1]
        return f"[{label}]({href(self.path, prefix)})"


def href(path: str, prefix: str = "../") -> str:
    """A link to ``path`` (relative to the repository, or absolute) from the report's folder; ``prefix`` is the
    repository seen from there ("../" from figures/)."""
    return path if path.startswith("/") else prefix + path


def trace(claim: dict, res: Results, shown_root: str = "results") -> Trace | None:
    """Where a claim's evidence lives (None for claims without a check)."""
    check = claim.get("check")
    family = _family(check)
    if family is not None:
        experiment = m.EXPERIMENTS[family]
        kept = _used(check, res)  # smoke runs are never evidence
        kept = kept.sort_values("run_id") if not kept.empty else kept
        runs = [f"{shown_root}/{experiment}/{r}" for r in (kept["run_id"] if not kept.empty else [])]
        commits = tuple(str(c) for c in kept["summary.git_commit"].dropna()) if "summary.git_commit" in kept else ()
        return Trace(f"{shown_root}/{experiment}/", _notebook(family), runs, commits)
    if check in SOURCES:
        path, command = SOURCES[check]
        return Trace(path.replace("results/", f"{shown_root}/", 1), command, [])
    return None


def lines(claim: dict, res: Results, shown_root: str = "results", prefix: str = "../") -> list[str]:
    """The claim section's traceability lines: sources (every run folder) and the command."""
    t = trace(claim, res, shown_root)
    if t is None:
        return []
    used = (", ".join(f"[{r.rsplit('/', 1)[-1]}]({href(r, prefix)})" for r in t.runs) if t.runs
            else f"[{t.path}]({href(t.path, prefix)})")
    code = [f"  - Code: {t.code()}"] if t.code() else []
    return [f"  - Sources: {used}", *code, f"  - Regenerate: `{t.command}`"]
