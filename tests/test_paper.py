"""Paper reference values, verdict criteria and the report's tables on small synthetic run records."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from replication import config as config_mod, paper
from replication.report import checks, collect, items, verdicts as v

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "paper"


def test_every_item_loads_with_provenance_and_units():
    keys = paper.items()
    assert keys == [f"T{i}" for i in range(1, 14)] + ["F1", "F3", "F5", "F6"]
    for key in keys:
        info = paper.info(key)
        frame = paper.load(key)
        assert len(frame) > 0 and info.confidence and info.section and info.units, key
        assert not any(c.startswith("ours_") for c in frame.columns), "paper frames hold paper values only"
    assert paper.info("T5").unit("top1_acc_pct") == "%"
    assert paper.info("T8").unit("cifar10_std").startswith("%")  # glob key "*_std"
    assert paper.info("T2").hardware and "OOM" in paper.load("T2").astype(str).values


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/paper (the transcription) is not beside this clone")
def test_package_data_is_a_verbatim_copy_of_the_transcription():
    for key in paper.items():
        name = paper.info(key).file
        ours = (REPO / "replication" / "paper_data" / name).read_bytes()
        assert ours == (SHARED / name).read_bytes(), name


def test_key_spellings_and_errors():
    for name in ("T5", "t05", "table05", "Table 5", "table05.csv"):
        assert paper.normalize_key(name) == "T5"
    assert paper.normalize_key("Fig. 6") == paper.normalize_key("figure06") == "F6"
    with pytest.raises(KeyError, match="T1, T2"):
        paper.load("table14")
    assert paper.value("T11", "speedup_vs_v1_x", model="V2-S") == 3.1
    with pytest.raises(KeyError, match="rows match"):
        paper.value("T11", "speedup_vs_v1_x", family="EfficientNetV2 (V2)")
    assert paper.load("T7", raw=True).loc[29, "params_M"] == "22"  # printed precision kept


def test_claims_reference_real_items_and_checks():
    claims = paper.claims()
    assert len({c["id"] for c in claims}) == len(claims) >= 25
    for claim in claims:
        assert claim["item"] in paper.items() or claim["item"] == "NAS", claim["id"]
        if claim.get("check"):
            assert callable(getattr(checks, claim["check"])), claim["check"]
        else:
            assert claim["reason"], f"{claim['id']}: untestable claims give a reason"


def test_exact_criterion_uses_printed_precision():
    assert v.printed_step("22") == 0.5 and v.printed_step("8.8") == pytest.approx(0.05)
    assert v.exact(21.46, "22").verdict == v.PARTIALLY  # 22 +- 0.5 misses, within 5 %
    assert v.exact(21.6, "22").verdict == v.REPRODUCED
    assert v.exact(9.65, "7.5").verdict == v.NOT_REPRODUCED
    assert v.exact(None, "22").verdict == v.NOT_MEASURED


def test_ratio_effect_rank_and_combine():
    assert v.ratio(2.0, 2.1).verdict == v.REPRODUCED
    assert v.ratio(1.1, 2.1).verdict == v.PARTIALLY
    assert v.ratio(0.8, 2.1).verdict == v.NOT_REPRODUCED
    better, worse = [80.0, 80.4, 80.2], [78.0, 78.3, 78.1]
    assert v.effect(worse, better, +1).verdict == v.REPRODUCED
    assert v.effect(better, worse, +1).verdict == v.NOT_REPRODUCED
    assert v.effect([80.0, 81.0], [80.2, 80.9], +1).verdict == v.FEW_SEEDS  # 2 seeds: shown, not judged
    assert v.effect([80.0], [81.0], +1).ours.startswith("+1.00")  # the numbers are still shown
    assert v.effect([], [], +1).verdict == v.NOT_MEASURED
    assert v.no_worse([80.0, 81.0, 80.5], [80.2, 80.9, 80.6]).verdict == v.REPRODUCED
    assert v.rank([1, 2, 3, 4], [10, 20, 30, 40]).verdict == v.REPRODUCED
    assert v.rank([4, 3, 2, 1], [10, 20, 30, 40]).verdict == v.NOT_REPRODUCED
    combined = v.combine([v.exact(21.6, "22"), v.not_measured("x")], "rows")
    assert combined.verdict == v.WHERE_CHECKED and "1 unchecked" in combined.reason


def test_paper_and_measured_values_never_share_a_column():
    frame = pd.DataFrame({"model": ["a"], "paper_params_M": [22.0]})
    with pytest.raises(ValueError, match="paper column"):
        items.ours(frame, "paper_params_M", [21.5])
    items.ours(frame, "params_M", [21.5])
    assert list(frame.columns) == ["model", "paper_params_M", "ours_params_M"]
    with pytest.raises(ValueError, match="neither paper_"):
        items.check_columns(frame.assign(params_M=[1.0]))


def _run(root: Path, experiment: str, run_id: str, config: dict, top1: float, curve=(50.0, 70.0)):
    folder = root / experiment / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [{"epoch": i + 1, "val_top1": acc, "ema_top1": acc} for i, acc in enumerate((*curve, top1))]
    pd.DataFrame(rows).to_csv(folder / "epochs.csv", index=False)
    summary = {"final": {"ema_top1": top1, "val_top1": top1}, "total_train_seconds": 100.0,
               "hardware": {"processor": "test CPU", "cpu_count": 2}}
    (folder / "summary.json").write_text(json.dumps(summary))


def _t13_results(root: Path, adaptive_gain: float, profile: str = "cpu"):
    """The cpu study's Table 13 arms (V, W, P, R, RA) as declared, 3 seeds; ``profile`` is written into each
    saved config (another profile's runs are no arm of the cpu study)."""
    from replication import progressive
    from replication.study import spec

    study = spec.load("cpu")
    gains = {"V": 0.0, "W": -5.0, "P": adaptive_gain, "R": 0.0, "RA": adaptive_gain}  # W: a control, not T13's
    for arm, gain in gains.items():
        for seed, noise in enumerate((0.0, 0.2, -0.1)):
            cfg = progressive.resolve(study.config(study.arm(f"progressive/{arm}"), seed))
            config = {**config_mod.to_dict(cfg), "profile": profile}
            _run(root, "t12_progressive", f"{arm}_seed{seed}", config, 80.0 + noise + gain)


@pytest.mark.parametrize("gain, expected", [(1.0, v.REPRODUCED), (-1.0, v.NOT_REPRODUCED)])
def test_t13_verdict_is_computed_from_the_runs(tmp_path, gain, expected, first_proxy_judges):
    from replication import report

    _t13_results(tmp_path, gain)
    res = collect.Results(tmp_path)
    item = report.build_item("T13", res)
    assert item.frame["ours_gain_pct"].tolist() == pytest.approx([gain, gain])
    assert item.frame["ours_runs"].tolist() == [3, 3] and "test CPU" in item.hardware
    verdict = checks.verdict_for(next(c for c in paper.claims() if c["id"] == "C23"), {"T13": item}, res)
    assert verdict.verdict == expected, verdict.reason


def test_smoke_runs_are_never_evidence(tmp_path, first_proxy_judges):
    from replication import report

    _t13_results(tmp_path, 1.0, profile="smoke")
    assert collect.Results(tmp_path).runs("t12_progressive").empty
    assert not collect.Results(tmp_path, include_smoke=True).runs("t12_progressive").empty
    item = report.build_item("T13", collect.Results(tmp_path))
    assert item.frame["ours_gain_pct"].isna().all() and item.missing


def test_report_without_results_says_not_measured_yet(tmp_path):
    from replication import report

    report.build_tables(tmp_path / "empty", tmp_path / "fig", keys=("T5", "T12"))
    text = (tmp_path / "fig" / "table05.md").read_text()
    assert "Not measured yet" in text and "78.3" in text  # the paper's side is always there
    frame = pd.read_csv(tmp_path / "fig" / "table12.csv")
    assert frame["paper_baseline_top1_acc_pct"].notna().all()
