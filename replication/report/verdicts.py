"""Verdicts computed from measured numbers against stated criteria (never asserted ahead of data).

Every function returns a :class:`Verdict` whose ``reason`` states the criterion and the numbers it
was applied to, so the report shows *why*. With nothing measured the verdict is "not measured yet".

Criteria (also printed in the report; every threshold was fixed before the proxy runs landed):
  exact     ours rounded to the paper's printed precision equals the paper's value -> reproduced;
            otherwise, if it equals the official release's value (google/automl README) at the
            README's printed precision or within 0.5 % of it -> matches the official release
            (the paper's table differs); otherwise within 5 % of the paper -> partially; else
            not reproduced. 0.5 % is the spread of multiply-add counters (TF profiler vs ours).
  points    a percent change (e.g. "37 % fewer FLOPs") in percentage points: within 0.5 points
            (the printed precision of a whole percent) -> reproduced; within 0.5 points of the
            change computed from the release's values -> matches the official release; within
            2 points -> partially; else not reproduced.
  ratio     a measured speed ratio (ours, any hardware) against the paper's. One paper ratio:
            within a factor 1.25 of it (TPU/GPU vs CPU kernels move ratios by up to ~25 %) ->
            reproduced. A paper range (several models or machines): inside the range itself, no
            extra tolerance (the range already spans hardware). Same side of 1 -> partially;
            otherwise not reproduced.
  seeds     a proxy claim needs at least 3 seeds per arm; with fewer its numbers are shown and
            the verdict is "not measured yet (n < 3)". Proxy numbers are mean ± std and a 95 %
            t interval; differences use Welch's interval (unequal variances).
  effect    a claimed proxy effect (B - A, claimed sign and size d): 95 % interval entirely on
            the claimed side of 0 -> reproduced; entirely on the other side -> not reproduced;
            holds 0 and d -> inconclusive; holds 0 but excludes d -> not reproduced (no effect of
            the claimed size).
  interaction  a claimed interaction (e.g. Table 5: strong minus weak RandAugment at the large size
            minus the same at the small size), 4 cells of >= 3 seeds, Welch-Satterthwaite interval of
            the contrast: judged as an effect.
  no worse  "as accurate as" claims (non-inferiority against a margin m fixed before the runs: 1.5
            points for the first proxy, about one seed-to-seed std of a 12-epoch Imagenette run; a
            later proxy declares its own, `ni_margin` in the study spec): lower end of the 95 %
            interval of B - A above -m -> reproduced; upper end below -m -> not reproduced;
            otherwise inconclusive.
  power     each effect states its power to detect the claimed size, and each "no worse" the
            chance its rule says non-inferior when the true difference is 0, for its seeds and
            their pooled spread (noncentral t): a low power explains an inconclusive verdict.
  rank      Spearman rank correlation between our measurements and the paper's over the rows
            measured (at least 3): >= 0.9 reproduced, >= 0.6 partially, else not reproduced.
  NAS       V2-B0's rank among random samples by reward is judged only when the samples learned
            (the NAS gate): median sample accuracy at least 2x chance (1 / classes), else "not
            testable at this scale"; and V2-B0 evaluated with at least 3 seeds. Then top 25 %
            reproduced, top half partially, else not reproduced.
  gate      a training claim is judged from a proxy only while the proxy's validity gate holds
            (study spec `gates:`; e.g. its fixed baseline is trained, its accuracy is as size-
            sensitive as the paper's, its regularization helps): a failed gate gives "not testable
            at this scale" with the gate's numbers, the criterion's own verdict quoted, not counted.
  by construction  a check whose evidence is our own configuration (e.g. the schedule fed with
            Table 6) passing -> implemented, never reproduced.
  combined  several rows: the weakest measured row decides; rows not measured do not lower it,
            but all-reproduced rows with some unchecked -> "reproduced where checked".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

REPRODUCED = "reproduced"
RELEASE = "matches the official release"  # the paper's table differs from its own release
IMPLEMENTED = "implemented"  # true by construction: our code fed with the paper's values
WHERE_CHECKED = "reproduced where checked"  # the rest could not be checked here
PARTIALLY = "partially"
INCONCLUSIVE = "inconclusive"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable here"
NOT_TESTABLE_SCALE = "not testable at this scale"  # a proxy that failed its validity gate (report.gates)
NOT_MEASURED = "not measured yet"
FEW_SEEDS = "not measured yet (n < 3)"
VERDICTS = (REPRODUCED, RELEASE, IMPLEMENTED, WHERE_CHECKED, PARTIALLY, INCONCLUSIVE, NOT_REPRODUCED,
            NOT_TESTABLE_SCALE, NOT_TESTABLE, NOT_MEASURED, FEW_SEEDS)
UNCHECKED = (NOT_MEASURED, NOT_TESTABLE, NOT_TESTABLE_SCALE, FEW_SEEDS)

RATIO_TOLERANCE = 1.25
EXACT_PARTIAL = 0.05
RELEASE_TOLERANCE = 0.005
POINTS_EQUAL, POINTS_PARTIAL = 0.5, 2.0
MIN_SEEDS = 3
CONFIDENCE = 0.95
NI_MARGIN = 1.5  # points: the non-inferiority margin of "no worse" claims at this scale
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


def _digits(text) -> int:
    return max(0, -Decimal(str(text).strip()).as_tuple().exponent)


def exact(ours: float, paper_text, label: str = "", release_text=None) -> Verdict:
    """One exact quantity (e.g. params in M) against the paper's printed value (as text), and,
    when the paper's value is missed, against the official release's value (``release_text``)."""
    if _missing(ours):
        return not_measured(label or "value")
    paper, step = float(paper_text), printed_step(paper_text)
    ours_text = f"{ours:.{_digits(paper_text) + 2}f}"
    note = f"{label}: ours {ours_text} vs paper {paper_text}"
    if abs(ours - paper) <= step + 1e-12:
        return Verdict(REPRODUCED, f"{note} (equal at the printed precision ±{step:g})", ours_text)
    if release_text not in (None, "") and not _missing(release_text) and matches_release(ours, release_text):
        return Verdict(RELEASE, f"{note} ({100 * (ours - paper) / paper:+.1f} %), = release {release_text}", ours_text)
    if abs(ours - paper) <= EXACT_PARTIAL * abs(paper):
        return Verdict(PARTIALLY, f"{note} (within 5 %)", ours_text)
    return Verdict(NOT_REPRODUCED, f"{note} (off by {100 * (ours - paper) / paper:+.1f} %)", ours_text)


def matches_release(ours: float, release_text) -> bool:
    """Equal to the release's value at its printed precision, or within RELEASE_TOLERANCE of it."""
    release = float(release_text)
    return abs(ours - release) <= max(printed_step(release_text) + 1e-12, RELEASE_TOLERANCE * abs(release))


def points(ours, paper_value, label: str, release_value=None) -> Verdict:
    """A percent change (ours, the paper's, optionally the release's) in percentage points."""
    if _missing(ours):
        return not_measured(label)
    gap, text = abs(ours - paper_value), f"{ours:+.1f} %"
    note = f"{label}: ours {text} vs paper {paper_value:+g} % ({gap:.1f} points apart)"
    if gap <= POINTS_EQUAL:
        return Verdict(REPRODUCED, note, text)
    if release_value is not None and abs(ours - release_value) <= POINTS_EQUAL:
        return Verdict(RELEASE, f"{note}; release values give {release_value:+.1f} %", text)
    return Verdict(PARTIALLY if gap <= POINTS_PARTIAL else NOT_REPRODUCED, note, text)


def combine(verdicts: list[Verdict], what: str, shown: int = 3) -> Verdict:
    """Several per-row verdicts into one line: the weakest measured row decides; rows that could not
    be checked here do not lower it (all checked rows reproduced -> "reproduced where checked");
    nothing checked -> the first row's unchecked verdict. The reason counts the rows and quotes the
    weakest ``shown`` of them."""
    measured = [x for x in verdicts if x.verdict not in UNCHECKED]
    if not measured:
        first = next((x for x in verdicts if x.verdict == FEW_SEEDS), verdicts[0] if verdicts else None)
        return first or Verdict(NOT_MEASURED, f"no logged result yet: {what}")
    order = (NOT_REPRODUCED, INCONCLUSIVE, PARTIALLY, RELEASE, IMPLEMENTED, REPRODUCED)
    ranked = sorted(measured, key=lambda x: order.index(x.verdict))
    worst = ranked[0].verdict
    counts = ", ".join(f"{sum(x.verdict == k for x in measured)} {k}" for k in order
                       if any(x.verdict == k for x in measured))
    reason = f"{len(measured)} checked ({counts})"
    unchecked = [x for x in verdicts if x.verdict in UNCHECKED]
    if unchecked:
        reason += f"; {len(unchecked)} unchecked ({unchecked[0].reason})"
        worst = WHERE_CHECKED if worst == REPRODUCED else worst
    details = [x.reason for x in ranked[:shown]]
    reason += ": " + "; ".join(details) + ("; ..." if len(ranked) > shown else "")
    ours = ", ".join(x.ours for x in ranked[:shown] if x.ours) + (", ..." if len(ranked) > shown else "")
    return Verdict(worst, reason, ours)


def ratio(ours: float, paper_ratios, label: str = "") -> Verdict:
    """A measured ratio (e.g. speed-up) against the paper's ratio or range of ratios."""
    if _missing(ours):
        return not_measured(label or "ratio")
    paper = [float(p) for p in (paper_ratios if isinstance(paper_ratios, (list, tuple)) else [paper_ratios])]
    single = len(set(paper)) == 1
    low, high = (paper[0] / RATIO_TOLERANCE, paper[0] * RATIO_TOLERANCE) if single else (min(paper), max(paper))
    span = f"{paper[0]:.2f}" if single else f"{min(paper):.2f}-{max(paper):.2f}"
    note = f"{label}: ours {ours:.2f}x vs paper {span}x"
    if low <= ours <= high:
        return Verdict(REPRODUCED, f"{note} ({'within a factor 1.25' if single else 'inside the range'})",
                       f"{ours:.2f}x")
    if (ours > 1) == (paper[0] > 1):
        return Verdict(PARTIALLY, f"{note} (same direction, size differs)", f"{ours:.2f}x")
    return Verdict(NOT_REPRODUCED, f"{note} (opposite direction)", f"{ours:.2f}x")


def _clean(values) -> list[float]:
    return [float(x) for x in values if not _missing(x)]


def interval(values, confidence: float = CONFIDENCE) -> tuple:
    """(mean, std, low, high, n) of ``values`` with a t interval (std/low/high None for n < 2)."""
    from scipy import stats

    xs = _clean(values)
    if not xs:
        return None, None, None, None, 0
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None, None, None, 1
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, len(xs) - 1) * std / math.sqrt(len(xs))
    return mean, std, mean - half, mean + half, len(xs)


@dataclass(frozen=True)
class Difference:
    """mean(B) - mean(A) with Welch's 95 % interval (low/high None with fewer than 2 per arm)."""
    diff: float
    low: float | None
    high: float | None
    n_a: int
    n_b: int

    def text(self, unit: str = "points") -> str:
        ci = f" [{self.low:+.2f}, {self.high:+.2f}]" if self.low is not None else ""
        return f"{self.diff:+.2f}{ci} {unit} (n={self.n_a}/{self.n_b})"


def _contrast(groups: list[list[float]], weights, confidence: float) -> tuple:
    """(sum of weight x mean, low, high): a t interval with Welch-Satterthwaite degrees of freedom (low/high
    None when a group has fewer than 2 values)."""
    from scipy import stats

    estimate = sum(w * sum(g) / len(g) for w, g in zip(weights, groups))
    if min(len(g) for g in groups) < 2:
        return estimate, None, None
    terms = [w * w * interval(g)[1] ** 2 / len(g) for w, g in zip(weights, groups)]
    se = math.sqrt(sum(terms))
    if se == 0:
        return estimate, estimate, estimate
    df = sum(terms) ** 2 / sum(t * t / (len(g) - 1) for t, g in zip(terms, groups))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return estimate, estimate - half, estimate + half


def welch(a, b, confidence: float = CONFIDENCE) -> Difference | None:
    """Difference of means B - A with Welch's t interval; None if an arm is empty."""
    a, b = _clean(a), _clean(b)
    if not a or not b:
        return None
    return Difference(*_contrast([a, b], (-1, 1), confidence), len(a), len(b))


def interaction(a1, b1, a2, b2, confidence: float = CONFIDENCE) -> Difference | None:
    """(mean B2 - mean A2) - (mean B1 - mean A1), e.g. the gain of strong over weak augmentation at a large
    size minus that at a small size, with a Welch-Satterthwaite t interval; ``n_a`` / ``n_b``: the smallest
    and largest of the four groups' n. None if a group is empty."""
    groups = [_clean(g) for g in (a1, b1, a2, b2)]
    if not all(groups):
        return None
    sizes = [len(g) for g in groups]
    return Difference(*_contrast(groups, (1, -1, -1, 1), confidence), min(sizes), max(sizes))


def power(a, b, shift: float, confidence: float = CONFIDENCE) -> float | None:
    """The probability that the 95 % interval of B - A lies entirely above 0 when the true difference is
    ``shift``, for as many seeds as ``a`` and ``b`` hold and their pooled spread taken as the truth (a
    noncentral t with n_a + n_b - 2 degrees of freedom); None with fewer than 2 seeds or no spread."""
    a, b = _clean(a), _clean(b)
    if min(len(a), len(b)) < 2:
        return None
    df = len(a) + len(b) - 2
    pooled = math.sqrt(((len(a) - 1) * interval(a)[1] ** 2 + (len(b) - 1) * interval(b)[1] ** 2) / df)
    return planned_power(pooled, len(a), len(b), shift, confidence)


def planned_power(sd: float, n_a: int, n_b: int, shift: float, confidence: float = CONFIDENCE) -> float | None:
    """:func:`power` for a design: ``n_a`` and ``n_b`` seeds whose true spread is ``sd`` (None with fewer than 2
    seeds an arm or no spread)."""
    from scipy import stats

    if min(n_a, n_b) < 2 or not sd > 0:
        return None
    df = n_a + n_b - 2
    se = sd * math.sqrt(1 / n_a + 1 / n_b)
    return float(stats.nct.sf(stats.t.ppf(0.5 + confidence / 2, df), df, shift / se))


def seeds_for(sd: float, shift: float, target: float = 0.8, most: int = 100) -> int | None:
    """The fewest seeds per arm (the same in both) whose :func:`planned_power` reaches ``target`` (None: more
    than ``most``)."""
    return next((n for n in range(2, most + 1) if (planned_power(sd, n, n, shift) or 0) >= target), None)


def _power_note(a, b, shift: float, what: str) -> str:
    p = power(a, b, shift)
    return "" if p is None else f"; {what}: {100 * p:.0f} % (these seeds, their pooled spread)"


def _seeds(a, b, label: str, unit: str):
    """(Difference, None) with enough seeds, else (None, the "n < 3" verdict showing what there is)."""
    d = welch(a, b)
    if d is not None and min(d.n_a, d.n_b) >= MIN_SEEDS:
        return d, None
    na, nb = len(_clean(a)), len(_clean(b))
    shown = d.text(unit) if d is not None else ""
    why = f"{label}: {shown + '; ' if shown else ''}needs >= {MIN_SEEDS} seeds per arm, has {na} and {nb}"
    return None, Verdict(FEW_SEEDS if na + nb else NOT_MEASURED, why, shown)


def effect(a: list[float], b: list[float], paper_sign: int, label: str = "", unit: str = "points",
           claimed: float | None = None) -> Verdict:
    """Proxy effect B - A over seeds against the paper's claimed sign (+1/-1) and size ``claimed``."""
    d, short = _seeds(a, b, label, unit)
    if short:
        return short
    judged = judge_effect(d, paper_sign, label, unit, claimed)
    if not claimed:
        return judged
    note = _power_note(a, b, abs(claimed), f"power to detect the claimed {claimed:+g}")
    return Verdict(judged.verdict, judged.reason + note, judged.ours)


def interaction_effect(groups, paper_sign: int, label: str = "", unit: str = "points",
                       claimed: float | None = None) -> Verdict:
    """:func:`interaction` of the four ``groups`` (A1, B1, A2, B2) judged like :func:`effect`."""
    d = interaction(*groups)
    if d is None or d.n_a < MIN_SEEDS:
        sizes = [len(_clean(g)) for g in groups]
        shown = d.text(unit) if d is not None else ""
        why = f"{label}: {shown + '; ' if shown else ''}needs >= {MIN_SEEDS} seeds per cell, has {sizes}"
        return Verdict(FEW_SEEDS if any(sizes) else NOT_MEASURED, why, shown)
    return judge_effect(d, paper_sign, label, unit, claimed)


def judge_effect(d: Difference, paper_sign: int, label: str, unit: str, claimed: float | None) -> Verdict:
    """The effect criterion applied to a difference with its interval."""
    lo, hi = sorted((paper_sign * d.low, paper_sign * d.high))
    note = f"{label}: {d.text(unit)}"
    if lo > 0:
        return Verdict(REPRODUCED, f"{note}, 95 % interval on the claimed side of 0", d.text(unit))
    if hi < 0:
        return Verdict(NOT_REPRODUCED, f"{note}, 95 % interval on the opposite side of 0", d.text(unit))
    if claimed is None or hi >= abs(claimed):
        return Verdict(INCONCLUSIVE, f"{note}, interval holds 0 and the claimed effect", d.text(unit))
    return Verdict(NOT_REPRODUCED, f"{note}, interval holds 0 but not the claimed {claimed:+g}", d.text(unit))


def no_worse(a: list[float], b: list[float], label: str = "", unit: str = "points",
             margin: float = NI_MARGIN) -> Verdict:
    """B is claimed at least as good as A: non-inferiority against ``margin`` (points)."""
    d, short = _seeds(a, b, label, unit)
    if short:
        return short
    note = f"{label}: {d.text(unit)}, margin -{margin:g}"
    odds = _power_note(a, b, margin, "chance this rule says non-inferior when the true difference is 0")
    if d.low > -margin:
        return Verdict(REPRODUCED, f"{note}: non-inferior (interval above the margin){odds}", d.text(unit))
    if d.high < -margin:
        return Verdict(NOT_REPRODUCED, f"{note}: worse by more than the margin{odds}", d.text(unit))
    return Verdict(INCONCLUSIVE, f"{note}: interval crosses the margin{odds}", d.text(unit))


def ratio_over_seeds(a, b, paper_ratios, label: str = "") -> Verdict:
    """mean(A) / mean(B) (e.g. fixed / progressive training time) judged by :func:`ratio` once each
    arm has MIN_SEEDS runs; the reason adds Welch's 95 % interval of the ratio (on log times)."""
    a, b = _clean(a), _clean(b)
    if not a or not b:
        return not_measured(label or "ratio")
    r, n = (sum(a) / len(a)) / (sum(b) / len(b)), f"n={len(a)}/{len(b)}"
    if min(len(a), len(b)) < MIN_SEEDS:
        return Verdict(FEW_SEEDS, f"{label}: {r:.2f}x ({n}); needs >= {MIN_SEEDS} seeds per arm", f"{r:.2f}x ({n})")
    d = welch([math.log(x) for x in b], [math.log(x) for x in a])
    judged = ratio(r, paper_ratios, label)
    ci = f"95 % interval {math.exp(d.low):.2f}-{math.exp(d.high):.2f}x, {n}"
    return Verdict(judged.verdict, f"{judged.reason}; {ci}", f"{r:.2f}x ({n})")


def by_construction(verdict: Verdict, why: str) -> Verdict:
    """A passing check whose evidence is our own configuration -> implemented (never reproduced)."""
    if verdict.verdict in (REPRODUCED, WHERE_CHECKED):
        return Verdict(IMPLEMENTED, f"{why}; {verdict.reason}", verdict.ours)
    return verdict


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

