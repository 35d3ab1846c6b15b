"""Verdicts computed from measured numbers against stated criteria (never asserted ahead of data).

Every function returns a :class:`Verdict` whose ``reason`` states the criterion and the numbers it
was applied to, so the report shows *why*. With nothing measured the verdict is "not measured yet".

Criteria (also printed in the report):
  exact     ours rounded to the paper's printed precision equals the paper's value -> reproduced;
            within 5 % -> partially; otherwise not reproduced.
  ratio     a measured speed ratio (ours, any hardware) against the paper's: within a factor
            of 1.25 of the paper's ratio (or of the range when the paper gives several) ->
            reproduced; same side of 1 -> partially; otherwise not reproduced.
  effect    a proxy effect (difference of means over seeds, B - A): with at least 2 seeds per arm,
            same sign as the paper and |diff| > 2 standard errors -> reproduced; same sign but
            within 2 SE -> partially; opposite sign beyond 2 SE -> not reproduced; opposite sign
            within noise -> not reproduced (no effect in the claimed direction).
  rank      Spearman rank correlation between our measurements and the paper's over the rows
            measured (at least 3): >= 0.9 reproduced, >= 0.6 partially, else not reproduced.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

REPRODUCED = "reproduced"
PARTIALLY = "partially"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable here"
NOT_MEASURED = "not measured yet"
VERDICTS = (REPRODUCED, PARTIALLY, NOT_REPRODUCED, NOT_TESTABLE, NOT_MEASURED)

RATIO_TOLERANCE = 1.25
EXACT_PARTIAL = 0.05
MIN_SEEDS = 2
MIN_RANK_ROWS = 3


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    ours: str = ""  # our number(s) as text for the ledger ("" when nothing is measured)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; use one of {VERDICTS}")


def not_measured(what: str) -> Verdict:
    return Verdict(NOT_MEASURED, f"no logged result yet: {what}")


def not_testable(reason: str) -> Verdict:
    return Verdict(NOT_TESTABLE, reason)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def printed_step(text) -> float:
    """Half-unit of the last printed digit: "22" -> 0.5, "8.8" -> 0.05, "0.72" -> 0.005."""
    exponent = Decimal(str(text).strip()).as_tuple().exponent
    return 0.5 * 10.0 ** int(exponent)


def exact(ours: float, paper_text, label: str = "") -> Verdict:
    """One exact quantity (e.g. params in M) against the paper's printed value (as text)."""
    if _missing(ours):
        return not_measured(label or "value")
    paper = float(paper_text)
    step = printed_step(paper_text)
    ours_text = f"{ours:.{max(0, -Decimal(str(paper_text).strip()).as_tuple().exponent + 2)}f}"
    note = f"{label}: ours {ours_text} vs paper {paper_text}"
    if abs(ours - paper) <= step + 1e-12:
        return Verdict(REPRODUCED, f"{note} (equal at the printed precision ±{step:g})", ours_text)
    if abs(ours - paper) <= EXACT_PARTIAL * abs(paper):
        return Verdict(PARTIALLY, f"{note} (within 5 %)", ours_text)
    return Verdict(NOT_REPRODUCED, f"{note} (off by {100 * (ours - paper) / paper:+.1f} %)", ours_text)


def combine(verdicts: list[Verdict], what: str, shown: int = 3) -> Verdict:
    """Several per-row verdicts into one line: all reproduced -> reproduced; otherwise the weakest
    measured one (a row not measured yet caps the result at partially); nothing measured -> not
    measured yet. The reason counts the rows and quotes the weakest ``shown`` of them."""
    measured = [x for x in verdicts if x.verdict not in (NOT_MEASURED, NOT_TESTABLE)]
    if not measured:
        reasons = "; ".join(x.reason for x in verdicts[:1])
        return Verdict(NOT_MEASURED, reasons or f"no logged result yet: {what}")
    order = (NOT_REPRODUCED, PARTIALLY, REPRODUCED)
    ranked = sorted(measured, key=lambda x: order.index(x.verdict))
    worst = ranked[0].verdict
    counts = ", ".join(f"{sum(x.verdict == k for x in measured)} {k}" for k in order
                       if any(x.verdict == k for x in measured))
    reason = f"{len(measured)} compared ({counts})"
    missing = len(verdicts) - len(measured)
    if missing:
        reason += f", {missing} not measured yet"
        worst = PARTIALLY if worst == REPRODUCED else worst
    details = [x.reason for x in ranked[:shown]]
    reason += ": " + "; ".join(details) + ("; ..." if len(ranked) > shown else "")
    ours = ", ".join(x.ours for x in ranked[:shown] if x.ours) + (", ..." if len(ranked) > shown else "")
    return Verdict(worst, reason, ours)


def ratio(ours: float, paper_ratios, label: str = "") -> Verdict:
    """A measured ratio (e.g. speed-up) against the paper's ratio or range of ratios."""
    if _missing(ours):
        return not_measured(label or "ratio")
    paper = [float(p) for p in (paper_ratios if isinstance(paper_ratios, (list, tuple)) else [paper_ratios])]
    low, high = min(paper) / RATIO_TOLERANCE, max(paper) * RATIO_TOLERANCE
    span = f"{min(paper):.2f}" if len(set(paper)) == 1 else f"{min(paper):.2f}-{max(paper):.2f}"
    note = f"{label}: ours {ours:.2f}x vs paper {span}x"
    if low <= ours <= high:
        return Verdict(REPRODUCED, f"{note} (within a factor {RATIO_TOLERANCE})", f"{ours:.2f}x")
    if (ours > 1) == (paper[0] > 1):
        return Verdict(PARTIALLY, f"{note} (same direction, size differs)", f"{ours:.2f}x")
    return Verdict(NOT_REPRODUCED, f"{note} (opposite direction)", f"{ours:.2f}x")


def _diff_se(a, b):
    """(mean B - mean A, its standard error, n_a, n_b), or None with fewer than MIN_SEEDS per arm."""
    a = [x for x in a if not _missing(x)]
    b = [x for x in b if not _missing(x)]
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        return None, len(a), len(b)
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    var = lambda xs, m: sum((x - m) ** 2 for x in xs) / (len(xs) - 1)  # noqa: E731
    se = math.sqrt(var(a, mean_a) / len(a) + var(b, mean_b) / len(b))
    return (mean_b - mean_a, se), len(a), len(b)


def effect(a: list[float], b: list[float], paper_sign: int, label: str = "", unit: str = "%") -> Verdict:
    """Proxy effect B - A over seeds against the sign the paper claims (+1 or -1)."""
    stats, na, nb = _diff_se(a, b)
    if stats is None:
        return Verdict(NOT_MEASURED, f"{label}: needs >= {MIN_SEEDS} seeds per arm, has {na} and {nb}")
    diff, se = stats
    ours = f"{diff:+.2f} {unit} (± {se:.2f} SE, n={na}/{nb})"
    note = f"{label}: difference {ours}"
    if diff * paper_sign > 0:
        if abs(diff) > 2 * se:
            return Verdict(REPRODUCED, f"{note}, claimed sign, beyond 2 SE", ours)
        return Verdict(PARTIALLY, f"{note}, claimed sign but within 2 SE (noise)", ours)
    if abs(diff) > 2 * se:
        return Verdict(NOT_REPRODUCED, f"{note}, opposite sign beyond 2 SE", ours)
    return Verdict(NOT_REPRODUCED, f"{note}: no effect in the claimed direction (within noise)", ours)


def no_worse(a: list[float], b: list[float], label: str = "", within_noise: str = PARTIALLY, unit: str = "%") -> Verdict:
    """B is claimed at least as good as A: B better beyond 2 SE -> reproduced; within 2 SE ->
    ``within_noise`` (reproduced for an "as accurate as" claim, partially for "keeps or improves");
    B worse beyond 2 SE -> not reproduced."""
    stats, na, nb = _diff_se(a, b)
    if stats is None:
        return Verdict(NOT_MEASURED, f"{label}: needs >= {MIN_SEEDS} seeds per arm, has {na} and {nb}")
    diff, se = stats
    ours = f"{diff:+.2f} {unit} (± {se:.2f} SE, n={na}/{nb})"
    if diff > 2 * se:
        return Verdict(REPRODUCED, f"{label}: difference {ours}, better beyond 2 SE", ours)
    if diff < -2 * se:
        return Verdict(NOT_REPRODUCED, f"{label}: difference {ours}, worse beyond 2 SE", ours)
    return Verdict(within_noise, f"{label}: difference {ours}, within 2 SE (no loss detectable)", ours)


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out
    rx, ry = ranks(list(xs)), ranks(list(ys))
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / den if den else float("nan")


def rank(ours: list[float], paper: list[float], label: str = "") -> Verdict:
    """Do our measurements order the rows as the paper's do?"""
    pairs = [(o, p) for o, p in zip(ours, paper) if not _missing(o) and not _missing(p)]
    if len(pairs) < MIN_RANK_ROWS:
        return Verdict(NOT_MEASURED, f"{label}: needs >= {MIN_RANK_ROWS} measured rows, has {len(pairs)}")
    rho = spearman([o for o, _ in pairs], [p for _, p in pairs])
    note = f"{label}: Spearman rho {rho:.2f} over {len(pairs)} rows"
    if rho >= 0.9:
        return Verdict(REPRODUCED, note, f"rho={rho:.2f}")
    if rho >= 0.6:
        return Verdict(PARTIALLY, note, f"rho={rho:.2f}")
    return Verdict(NOT_REPRODUCED, note, f"rho={rho:.2f}")

