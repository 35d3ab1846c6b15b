"""Validity gates of the proxies: can a proxy judge the training claims at all?

A gate is declared in the study spec (``gates:`` of ``studies/cpu.yaml``): the claims it judges and
checks on its arms' run records (``spec.GATE_KINDS``), each on the mean top-1 over at least
``verdicts.MIN_SEEDS`` seeds (only the gate's declared ``seeds`` where it lists them). A gate *holds*
when every check passes, *fails* when one fails, and is *pending* while a check lacks runs. A claim
whose gate fails reads "not testable at this scale" with the gate's numbers, and the verdict its own
criterion would have given is quoted, never counted: a proxy whose baseline is not trained can call
nothing "reproduced" or "not reproduced".
"""
from __future__ import annotations

from dataclasses import dataclass

from replication.report import measured as m
from replication.report import tables_proxy, trial
from replication.report import verdicts as v
from replication.report.collect import Results
from replication.study import spec

HOLDS, FAILS, PENDING = "holds", "fails", "pending"


@dataclass(frozen=True)
class Check:
    key: str  # "G1"
    what: str
    status: str
    numbers: str  # what was measured, in words
    counts: bool = True  # False: reported beside the gate, not part of its status (the spec's ``informs: true``)


@dataclass(frozen=True)
class GateResult:
    gate: spec.Gate  # as declared: name, proxy, when, the claims it judges
    checks: tuple[Check, ...]  # its checks, evaluated

    @property
    def status(self) -> str:
        states = {c.status for c in self.checks if c.counts}
        return FAILS if FAILS in states else PENDING if PENDING in states else HOLDS

    def numbers(self) -> str:
        """'G1 fails: ...; G2 fails: ...' (every check, in order)."""
        return "; ".join(f"{c.key} {c.status}{'' if c.counts else ' (reported only)'}: {c.numbers}" for c in self.checks)


def _arm(res: Results, ref: str, seeds: tuple[int, ...] = ()) -> tuple[list[float], list[int]]:
    """Per-seed top-1 and epochs of the declared arm ``family/arm`` among the finished runs (only ``seeds``, if
    given)."""
    family, _, name = ref.partition("/")
    runs = trial.runs(res, family)
    if runs.empty:
        return [], []
    mine = runs[(runs["arm"] == name) & (runs["seed"].isin(seeds) if seeds else True)]
    return [float(x) for x in mine["top1"].dropna()], [int(e) for e in mine["train.epochs"]]


def _mean(values: list[float]) -> str:
    stats = m.seed_stats(values)
    return f"{stats['mean']:.1f} %" + (f" ± {stats['std']:.1f}" if stats["std"] is not None else "") + \
        f" ({stats['n']} seed{'s' * (stats['n'] != 1)})"


def _check(res: Results, key: str, check: dict, seeds: tuple[int, ...] = ()) -> Check:
    kind, what = check["kind"], " ".join(str(check["what"]).split())
    refs = [check["arm"]] if kind == "at_least" else list(check["arms"])
    arms = [_arm(res, ref, seeds) for ref in refs]
    short = [ref.partition("/")[2] for ref in refs]
    missing = [f"{name} has {len(values)} of {v.MIN_SEEDS} seeds" for name, (values, _) in zip(short, arms)
               if len(values) < v.MIN_SEEDS]
    counts = not check.get("informs", False)
    if missing:
        return Check(key, what, PENDING, "; ".join(missing), counts)
    means = [sum(values) / len(values) for values, _ in arms]
    if kind == "at_least":
        epochs = max(arms[0][1])
        within = epochs <= check.get("max_epochs", epochs)
        ok = within and means[0] >= check["value"]
        text = (f"{short[0]} {_mean(arms[0][0])} after {epochs} epochs, needs >= {check['value']:g} %"
                + ("" if within else f" within {check['max_epochs']} epochs"))
    elif kind == "ratio_at_least":
        ratio = means[0] / means[1]
        ok = ratio >= check["value"]
        text = f"{short[0]} {_mean(arms[0][0])} / {short[1]} {_mean(arms[1][0])} = {ratio:.2f}, needs >= {check['value']:g}"
    else:  # no_worse: the second arm against the first
        diff = means[1] - means[0]
        ok = diff >= -check["margin"]
        text = (f"{short[1]} - {short[0]} = {diff:+.1f} points ({_mean(arms[1][0])} vs {_mean(arms[0][0])}), "
                f"needs >= -{check['margin']:g}")
    return Check(key, what, HOLDS if ok else FAILS, text, counts)


def evaluate(res: Results, profile: str = trial.PROFILE) -> dict[str, GateResult]:
    """Every gate of study ``profile`` on the records in ``res`` (computed once per Results)."""
    key = ("gates", profile)
    if key not in res._cache:
        gates = spec.load(profile).gates
        res._cache[key] = {name: GateResult(g, tuple(_check(res, k, c, g.seeds) for k, c in g.checks.items()))
                           for name, g in gates.items()}
    return res._cache[key]


def families(gate: spec.Gate) -> set[str]:
    """The families whose arms ``gate``'s checks read."""
    return {ref.partition("/")[0] for c in gate.checks.values() for ref in ([c["arm"]] if "arm" in c else c["arms"])}


def _reads(gate: spec.Gate, family: str) -> bool:
    """Does one of ``gate``'s checks read an arm of ``family``?"""
    return family in families(gate)


def awaits_trial(gate: spec.Gate) -> bool:
    """Does ``gate`` belong to a proxy declared after the judging one (its trial not declared yet): it reads no arm of
    the judging family and some of a later family?"""
    study, judging = tables_proxy.study_spec("cpu"), tables_proxy.judging_family()
    order, read = list(study.families) if study else [], families(gate)
    return judging in order and judging not in read and any(order.index(f) > order.index(judging)
                                                            for f in read if f in order)


def for_claim(res: Results, claim_id: str) -> GateResult | None:
    """The gate that judges ``claim_id``: of the gates that name it, the one whose checks read the judging family
    (the proxy the claims' checks read, :func:`tables_proxy.judging_family`), else the first declared (None: no
    gate names it)."""
    naming = [g for g in evaluate(res).values() if claim_id in g.gate.judges]
    family = tables_proxy.judging_family()
    return next((g for g in naming if _reads(g.gate, family)), naming[0] if naming else None)


def apply(verdict: v.Verdict, gate: GateResult | None) -> v.Verdict:
    """``verdict`` under its gate: unchanged when the gate holds (or there is none, or nothing was measured);
    "not testable at this scale" with the gate's numbers, the criterion's own verdict quoted, when it fails."""
    if gate is None or verdict.verdict in v.UNCHECKED:
        return verdict
    if gate.status == HOLDS:
        return verdict
    if gate.status == PENDING:
        return v.Verdict(verdict.verdict, f"{verdict.reason} (gate {gate.gate.name} pending: {gate.numbers()})",
                         verdict.ours)
    return v.Verdict(v.NOT_TESTABLE_SCALE, f"gate {gate.gate.name} fails ({gate.numbers()}), so this proxy cannot judge "
                     f"the claim; its criterion alone would read '{verdict.verdict}': {verdict.reason}", verdict.ours)


def lines(res: Results) -> list[str]:
    """The report's gate section: each gate, its checks with their numbers, and the claims it decides."""
    gates = evaluate(res)
    if not gates:
        return ["No validity gate is declared in the study spec.", ""]
    out = ["A proxy judges the training claims only while its validity gate holds (declared in "
           "`replication/studies/cpu.yaml`, `gates:`). A failed gate makes the claims it judges *not testable at this "
           "scale*, with the numbers below; the verdict each claim's criterion alone would give is quoted in the "
           "ledger, never counted.", ""]
    for g in gates.values():
        out += [f"**Gate `{g.gate.name}`: {g.status}.** Proxy: {g.gate.proxy}. Declared {g.gate.declared}. Judges: "
                f"{', '.join(g.gate.judges)}."
                + (f" Its checks read seeds {', '.join(map(str, g.gate.seeds))} only." if g.gate.seeds else ""), ""]
        out += [f"- **{c.key} {c.status}**{'' if c.counts else ' (reported, not part of the gate)'} -- {c.what}: "
                f"{c.numbers}." for c in g.checks]
        out.append("")
    return out
