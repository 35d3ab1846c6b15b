"""The report as a reviewer reads it (issue 31): validity gates, power, frontier dominance, overhead-bound
speed rows, an ambiguous table, the compute statement and the findings, each fixed by the data that drives it."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replication import paper
from replication.report import checks, collect, gates, verdicts as v

REPO = Path(__file__).resolve().parents[1]
CLAIMS = {c["id"]: c for c in paper.claims()}


# ----------------------------------------------------------------------------- gates
def _gate(monkeypatch, arms: dict[str, list[float]], epochs: int = 12, name: str = "first_proxy") -> gates.GateResult:
    """The cpu spec's gate ``name`` on made-up per-seed top-1 values of its arms."""
    monkeypatch.setattr(gates, "_arm", lambda res, ref, seeds=(): (arms.get(ref.partition("/")[2], []), [epochs] * 3))
    res = collect.Results(Path("/nonexistent"))
    return gates.evaluate(res)[name]


TRAINED = {"F": [84.0, 85.0, 86.0], "s64_m5": [80.0, 81.0, 79.0], "s128_m5": [85.0, 85.5, 84.5],
           "W": [84.0, 84.5, 85.0], "V": [84.0, 85.0, 84.5]}


def test_a_gate_holds_only_when_every_check_passes(monkeypatch):
    gate = _gate(monkeypatch, TRAINED)
    assert gate.status == gates.HOLDS and [c.status for c in gate.checks] == [gates.HOLDS] * 3
    assert {"C22", "C18", "C08"} <= set(gate.gate.judges)


@pytest.mark.parametrize("change, failing", [
    ({"F": [70.0, 71.0, 72.0]}, "G1"),  # not trained
    ({"s64_m5": [60.0, 61.0, 59.0]}, "G2"),  # 0.71 of 128 px
    ({"V": [82.0, 82.5, 83.0]}, "G3"),  # stronger regularization 2 points worse
])
def test_one_failed_check_fails_the_gate_and_names_its_numbers(monkeypatch, change, failing):
    gate = _gate(monkeypatch, TRAINED | change)
    assert gate.status == gates.FAILS
    assert [c.key for c in gate.checks if c.status == gates.FAILS] == [failing]
    assert f"{failing} fails" in gate.numbers()


def test_the_second_proxy_gate_reports_the_wide_range_check_without_counting_it(monkeypatch):
    arms = {"F": [84.0, 85.0, 86.0], "F96": [80.0, 81.0, 79.0], "F64": [70.0, 71.0, 69.0], "F_noreg": [84.0, 85.5, 85.0]}
    gate = _gate(monkeypatch, arms, epochs=16, name="second_proxy")
    status = {c.key: c.status for c in gate.checks}
    assert status == {"G1": gates.HOLDS, "G2": gates.HOLDS, "G2w": gates.FAILS, "G3": gates.HOLDS}
    assert gate.status == gates.HOLDS and "G2w fails (reported only): F64 70.0 %" in gate.numbers()
    assert _gate(monkeypatch, arms | {"F_noreg": [87.0, 87.5, 88.0]}, 16, "second_proxy").status == gates.FAILS
    assert "reported, not part of the gate" in "\n".join(gates.lines(collect.Results(Path("/nonexistent"))))


def test_a_gate_that_lists_its_seeds_reads_only_those(monkeypatch):
    runs = pd.DataFrame({"arm": ["F"] * 5, "seed": [0, 1, 2, 3, 4], "top1": [80.0, 81.0, 82.0, 60.0, 60.0],
                         "train.epochs": [16] * 5})
    monkeypatch.setattr(gates.trial, "runs", lambda res, family="": runs)
    res = collect.Results(Path("/nonexistent"))
    assert gates._arm(res, "second_proxy/F", (0, 1, 2)) == ([80.0, 81.0, 82.0], [16, 16, 16])
    assert gates._arm(res, "second_proxy/F")[0] == [80.0, 81.0, 82.0, 60.0, 60.0]
    check = {"kind": "at_least", "arm": "second_proxy/F", "value": 80.0, "what": "trained"}
    assert gates._check(res, "G1", check, (0, 1, 2)).status == gates.HOLDS  # 81.0
    assert gates._check(res, "G1", check).status == gates.FAILS  # 72.6 with the later seeds


def test_the_epoch_limit_is_part_of_g1(monkeypatch):
    gate = _gate(monkeypatch, TRAINED, epochs=36)
    assert gate.checks[0].status == gates.FAILS and "within 20 epochs" in gate.checks[0].numbers


def test_a_gate_without_enough_seeds_is_pending_and_leaves_the_verdict(monkeypatch):
    gate = _gate(monkeypatch, TRAINED | {"F": [84.0, 85.0]})
    assert gate.status == gates.PENDING and "F has 2 of 3 seeds" in gate.numbers()
    judged = v.Verdict(v.REPRODUCED, "interval above the margin", "+0.3")
    assert gates.apply(judged, gate).verdict == v.REPRODUCED


def test_a_failed_gate_makes_a_judged_claim_not_testable_and_quotes_the_criterion(monkeypatch):
    gate = _gate(monkeypatch, TRAINED | {"F": [54.0, 55.0, 56.0]})
    out = gates.apply(v.Verdict(v.NOT_REPRODUCED, "progressive - fixed: -10.14", "-10.14"), gate)
    assert out.verdict == v.NOT_TESTABLE_SCALE
    assert "G1 fails: F 55.0 %" in out.reason and "would read 'not reproduced': progressive - fixed" in out.reason
    assert gates.apply(v.not_measured("runs"), gate).verdict == v.NOT_MEASURED  # nothing measured: nothing to gate


def test_the_committed_first_proxy_fails_its_gate_and_no_training_claim_is_judged_from_it():
    res = collect.Results(REPO / "results")
    gate = gates.evaluate(res)["first_proxy"]
    assert gate.status == gates.FAILS and gates.for_claim(res, "C08") is gate  # it still gates the size grid
    assert gates.for_claim(res, "C22").gate.name == "second_proxy"  # the declared trial judges the training claims
    assert [c.status for c in gate.checks] == [gates.FAILS] * 3  # F 54.9 %, 0.64, V - W = -6.0
    assert "F 54.9 %" in gate.numbers() and "= 0.64" in gate.numbers() and "-6.0 points" in gate.numbers()


# ----------------------------------------------------------------------------- power
def test_power_at_a_true_difference_of_zero_is_the_one_sided_error_rate():
    a, b = [80.0, 81.0, 79.0, 80.5], [79.5, 80.0, 81.0]
    assert v.power(a, b, 0.0) == pytest.approx(0.025, abs=1e-9)
    assert v.power(a, b, 0.8) < v.power(a, b, 3.0) < v.power(a, b, 10.0) <= 1.0
    assert v.power([80.0], b, 1.0) is None


def test_power_agrees_with_a_simulation():
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = [80.0, 81.0, 79.0], [80.5, 79.5, 80.0]
    sd = (((2 * np.var(a, ddof=1)) + 2 * np.var(b, ddof=1)) / 4) ** 0.5
    hits = 0
    for _ in range(4000):
        x, y = rng.normal(0, sd, 3), rng.normal(2.0, sd, 3)
        se = (np.var(x, ddof=1) / 3 + np.var(y, ddof=1) / 3) ** 0.5
        hits += (y.mean() - x.mean()) - stats.t.ppf(0.975, 4) * se > 0
    assert v.power(a, b, 2.0) == pytest.approx(hits / 4000, abs=0.03)


def test_planned_power_is_the_power_of_a_design_and_seeds_for_the_fewest_that_reach_the_target():
    import numpy as np

    a, b = [80.0, 81.0, 79.0], [80.5, 79.5, 80.0, 81.5]
    pooled = ((2 * np.var(a, ddof=1) + 3 * np.var(b, ddof=1)) / 5) ** 0.5
    assert v.planned_power(pooled, 3, 4, 1.5) == pytest.approx(v.power(a, b, 1.5), abs=1e-12)
    assert v.planned_power(1.0, 1, 5, 1.0) is None and v.planned_power(0.0, 3, 3, 1.0) is None
    n = v.seeds_for(1.0, 0.8)
    assert v.planned_power(1.0, n, n, 0.8) >= 0.8 > v.planned_power(1.0, n - 1, n - 1, 0.8)
    assert 20 < n < 30 and v.seeds_for(1.0, 2.0) < 8 and v.seeds_for(1.0, 0.01) is None


def test_the_trial_states_the_power_of_each_comparison_for_its_declared_seeds(tmp_path):
    from replication.report import tables_proxy, trial
    from replication.study import spec
    from test_report import _proxy_run

    family = tables_proxy.judging_family()
    study = spec.load("cpu")
    (base, method), = spec.judged_on(study, family, "table12")
    assert trial.power_plan(collect.Results(tmp_path))[0].empty  # no seeds of the baseline yet: no sigma
    for seed, top1 in zip(study.family(family).arms[base].seeds, (80.0, 81.0, 82.5)):
        _proxy_run(tmp_path, "", "", {"seed": seed}, (30.0, top1), arm=f"{family}/{base}")
    plan, source = trial.power_plan(collect.Results(tmp_path))
    sigma = float(np.std([80.0, 81.0, 82.5], ddof=1))
    assert f"sigma = {sigma:.2f} points" in source
    row = plan.set_index("judges").loc["table12"]
    n_a, n_b = (len(study.family(family).arms[arm].seeds) for arm in (base, method))
    assert row["pair"] == f"{method} vs {base}" and row["seeds"] == f"{n_b} / {n_a}"
    assert row["power_pct"] == round(100 * v.planned_power(sigma, n_a, n_b, tables_proxy.margin()))
    assert row["seeds_per_arm_for_80pct"] == v.seeds_for(sigma, tables_proxy.margin())
    gains = plan[plan["judges"] == "table13"]["tests"]
    assert len(gains) == len(spec.judged_on(study, family, "table13")) and gains.str.contains(r"\(paper\)").all()


def test_an_effect_states_its_power_and_a_no_worse_its_chance_at_zero():
    effect = v.effect([44.7, 45.7, 43.8], [44.8, 46.3, 43.2], +1, "adaptive - vanilla", claimed=0.8)
    assert effect.verdict == v.INCONCLUSIVE and "power to detect the claimed +0.8: " in effect.reason
    same = v.no_worse([80.0, 80.3, 79.9], [80.1, 79.9, 80.2])
    assert "chance this rule says non-inferior when the true difference is 0" in same.reason


# ----------------------------------------------------------------------------- frontier and overhead
def _f5(latency_f1: float) -> pd.DataFrame:
    rows = [("EffNetV2", "EfficientNetV2-S", 83.9, 21.5, 8.4, 26.8), ("NFNet", "NFNet-F1", 84.7, 132.6, 35.5, latency_f1),
            ("EffNet", "EfficientNet-B4", 82.9, 19.3, 4.4, 17.4)]
    return pd.DataFrame(rows, columns=["series", "model", "paper_top1_acc_pct_table", "ours_params_M", "ours_macs_B",
                                       "ours_latency_ms_batch16"])


def test_a_v2_model_beaten_on_latency_by_a_more_accurate_faster_model_is_dominated():
    assert checks._dominated(_f5(25.7), "ours_latency_ms_batch16") == [
        "EfficientNetV2-S (83.9 %, 26.8) by NFNet-F1 (84.7 %, 25.7)"]
    assert checks._dominated(_f5(27.0), "ours_latency_ms_batch16") == []
    assert checks._dominated(_f5(25.7), "ours_params_M") == []  # B4 is smaller but less accurate


def test_a_small_model_as_fast_as_a_4x_larger_one_is_overhead_bound():
    frame = pd.DataFrame([("V2-B0", "V2", 0.72, 8562.0), ("V2-B3", "V2", 3.0, 8060.0), ("V2-S", "V2", 8.6, 3906.0),
                          ("V1-B4", "V1", 4.39, 2745.0), ("V1-B5", "V1", 10.3, 1423.0)],
                         columns=["model", "family", "ours_macs_B", "ours_throughput_imgs_per_sec"])
    bound = checks.overhead_bound(frame, "ours_throughput_imgs_per_sec")
    assert list(bound) == ["V2-B0"] and "V2-B3 has 4.2x its multiply-adds and runs 0.94x its images/s" in bound["V2-B0"]


def test_c05_is_partial_for_an_ambiguous_table_and_not_reproduced_when_a_value_fits_no_reading(monkeypatch):
    def item(flops_alt):
        frame = pd.DataFrame([
            ("No fused", "primary: B4", 19.3, 19.3, 4.5, 4.4), ("Fused stage1-3", "primary: B4", 20.0, 21.0, 7.5, 9.6),
            ("Fused stage1-3", "alternative: 3x3", 20.0, 20.0, 7.5, flops_alt)],
            columns=["variant", "reading", "paper_params_M", "ours_params_M", "paper_flops_B", "ours_macs_B"])
        return {"T3": type("Item", (), {"frame": frame})()}

    monkeypatch.setattr(checks, "_exact_rows", lambda *a, **k: v.Verdict(v.NOT_REPRODUCED, "1-3 FLOPs +28 %", "9.6"))
    monkeypatch.setattr(checks.tables_static, "PRIMARY", "primary: B4")
    ambiguous, wrong = checks.exact_t3(item(7.34), None), checks.exact_t3(item(12.9), None)
    assert ambiguous.verdict == v.PARTIALLY and ambiguous.reason.startswith("partially (ambiguous table)")
    assert "1-3 flops_B: 3x3 -2.1 %" in ambiguous.reason
    assert wrong.verdict == v.NOT_REPRODUCED and "1-3 flops_B" in wrong.reason and "matches no reading" in wrong.reason


# ----------------------------------------------------------------------------- compute, provenance, findings
def test_the_compute_statement_adds_up_the_run_records(tmp_path):
    from replication.report import disclosure

    for run_id, seconds, host in (("a_seed0", 3600.0, "Xeon"), ("a_seed1", 1800.0, "EPYC")):
        folder = tmp_path / "t12_progressive" / run_id
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(json.dumps({"profile": "cpu", "data": {"dataset": "imagenette"}}))
        (folder / "summary.json").write_text(json.dumps({"total_train_seconds": seconds, "total_eval_seconds": 360.0,
                                                         "hardware": {"processor": host}}))
    table = disclosure.compute_table(collect.Results(tmp_path)).set_index("family")
    assert table.loc["progressive", "runs"] == 2 and table.loc["progressive", "train_hours"] == 1.5
    assert table.loc["total", "eval_hours"] == 0.2 and table.loc["progressive", "hosts (runs)"] == "EPYC (1); Xeon (1)"


def test_a_change_in_the_outputs_leaves_a_run_clean_and_a_code_change_does_not(tmp_path, monkeypatch):
    from replication import results

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    for path in ("results/r/summary.json", "figures/REPORT.md", "replication/x.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("1")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    monkeypatch.setattr(results, "REPO", tmp_path)
    (tmp_path / "results/r/summary.json").write_text("2")
    (tmp_path / "figures/REPORT.md").write_text("2")
    assert not results.git_commit().endswith("-dirty")
    (tmp_path / "replication/x.py").write_text("2")
    assert results.git_commit().endswith("-dirty")


def test_the_findings_open_the_report_with_the_gate_and_the_machines():
    from replication.report import summary

    claims = pd.DataFrame([(c, CLAIMS[c]["evidence"], verdict) for c, verdict in (
        ("C01", v.REPRODUCED), ("C05", v.NOT_REPRODUCED), ("C20", v.WHERE_CHECKED), ("C22", v.NOT_TESTABLE_SCALE),
        ("C04", v.NOT_TESTABLE))], columns=["id", "evidence", "verdict"])
    text = "\n".join(summary.findings(claims, collect.Results(REPO / "results")))
    assert "NVIDIA H200" in text and "Xeon" in text
    assert "**fails its validity gate** (G1 fails: F 54.9 %" in text and "C22 is read from the second proxy" in text
    assert "The second proxy (issue 30's tuned recipe" in text and "**passes its validity gate** (G1 holds: F 8" in text
    assert "so C22 is judged from it" in text and "until this proxy's trial declares" not in text  # it is declared
    assert "Not testable here** (ImageNet-scale training): C04" in text


def test_only_a_proxy_declared_after_the_judging_one_awaits_its_trial(request):
    from replication.study import spec

    declared = spec.load("cpu").gates
    assert not gates.awaits_trial(declared["first_proxy"]) and not gates.awaits_trial(declared["second_proxy"])
    request.getfixturevalue("first_proxy_judges")  # the specs from before the second proxy's trial
    assert gates.awaits_trial(declared["second_proxy"]) and not gates.awaits_trial(declared["first_proxy"])


def test_a_record_from_uncommitted_code_counts_only_when_the_spec_explains_it(tmp_path):
    import shutil

    from replication import results
    from replication.report import arms, disclosure

    for run in ("ranger_seed0", "lamb_seed0"):  # ranger: recorded clean; lamb: dirty, explained in the spec's changes
        shutil.copytree(REPO / "results" / "t30_tuning" / run, tmp_path / "t30_tuning" / run)
    ranger = tmp_path / "t30_tuning" / "ranger_seed0"
    assert arms.label(str(ranger), "cpu") == "ranger" and arms.label(str(tmp_path / "t30_tuning" / "lamb_seed0"), "cpu") == "lamb"
    info = json.loads((ranger / "run.json").read_text()) | {"process_git_dirty": True}
    (ranger / "run.json").write_text(json.dumps(info))
    assert arms.label(str(ranger), "cpu") is None  # its process ran uncommitted code and nothing explains it
    assert results.counts_as_clean(info, ranger, explained={"t30_tuning/ranger_seed0"})
    assert disclosure.dirty_records(collect.Results(tmp_path)) == (["t30_tuning/lamb_seed0"], ["t30_tuning/ranger_seed0"])
    (ranger / "run.json").write_text("{")
    with pytest.raises(collect.ResultsError, match="run.json cannot be read"):
        arms.label(str(ranger), "cpu")


def test_a_queue_process_records_the_code_it_loaded(monkeypatch):
    from replication import results

    commits = iter(["aaaa", "bbbb-dirty", "cccc-dirty"])
    monkeypatch.setattr(results, "git_commit", lambda: next(commits))
    monkeypatch.setattr(results, "_PROCESS_COMMIT", [])
    first = results.run_info("/tmp/x", 1, 64, {})
    second = results.run_info("/tmp/y", 1, 64, {})
    assert (first["git_commit"], first["process_git_commit"], first["process_git_dirty"]) == ("aaaa", "bbbb", True)
    assert (second["git_commit"], second["git_dirty"], second["process_git_commit"]) == ("cccc", True, "bbbb")
