"""The progressive-learning schedule (replication.progressive): every mode, snapping, the CLI."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from replication import progressive as P
from replication.__main__ import main

S = P.model_defaults("efficientnetv2_s")  # Table 6, V2-S


def run(mode, epochs=350, stages=4, **kw):
    values = {**S, **{k: v for k, v in kw.items() if k in S}}
    rest = {k: v for k, v in kw.items() if k not in S}
    return P.schedule(mode, epochs, stages, **values, **rest)


def col(stages, key):
    return [getattr(s, key) for s in stages]


def test_defaults_match_the_transcribed_table6():
    rows = list(csv.DictReader(open(Path(P.__file__).parent / "paper_data" / "table06.csv")))
    for row in rows:
        name = "efficientnetv2_" + row["model"].split("-")[1].lower()
        end = 0 if row["stage"].startswith("min") else 1
        d = P.paper_defaults()[name]
        assert d["image_size"][end] == float(row["image_size_px"])
        assert d["randaug_magnitude"][end] == float(row["randaug_magnitude"])
        assert d["mixup_alpha"][end] == float(row["mixup_alpha"])
        assert d["dropout"][end] == float(row["dropout_rate"])
    assert len(rows) == 2 * len(P.paper_defaults())


def test_paper_mode_v2s_table6():
    st = run("paper")
    assert col(st, "epochs") == [87, 88, 87, 88] and sum(col(st, "epochs")) == 350
    assert col(st, "start_epoch") == [0, 87, 175, 262]
    assert col(st, "image_size") == [128, 185, 243, 300]  # 128 + 172 * i / 3, rounded
    assert col(st, "randaug_magnitude") == pytest.approx([5, 25 / 3, 35 / 3, 15], abs=1e-6)
    assert col(st, "mixup_alpha") == [0, 0, 0, 0]
    assert col(st, "dropout") == pytest.approx([0.1, 0.1 + 0.2 / 3, 0.1 + 0.4 / 3, 0.3], abs=1e-6)


def test_paper_mode_m_and_l_ramp_mixup():
    m = P.schedule("paper", 350, 4, **P.model_defaults("efficientnetv2_m"))
    assert (m[0].image_size, m[-1].image_size, m[-1].randaug_magnitude, m[-1].mixup_alpha, m[-1].dropout) == (128, 380, 20, 0.2, 0.4)
    assert m[0].mixup_alpha == 0 and 0 < m[1].mixup_alpha < m[2].mixup_alpha < 0.2
    large = P.schedule("paper", 350, 4, **P.model_defaults("efficientnetv2_l"))
    assert (large[-1].randaug_magnitude, large[-1].mixup_alpha, large[-1].dropout) == (25, 0.4, 0.5)


def test_official_mode_never_trains_at_the_minimum():
    st = P.schedule("official", 350, 4, **P.model_defaults("efficientnetv2_s", "official"))
    assert col(st, "image_size") == [171, 214, 257, 300]
    assert col(st, "dropout") == [0.2] * 4  # not scheduled in the released code
    assert col(st, "randaug_magnitude") == pytest.approx([5, 20 / 3, 25 / 3, 10], abs=1e-6)  # linspace(5, 10, 4)
    m = P.schedule("official", 350, 4, **P.model_defaults("efficientnetv2_m", "official"))
    assert col(m, "image_size") == [192, 256, 320, 384]
    assert col(m, "mixup_alpha") == pytest.approx([0, 0.2 / 3, 0.4 / 3, 0.2], abs=1e-6)
    assert col(m, "dropout") == [0.3] * 4


def test_fixed_mode_is_one_stage_at_the_last_values():
    (st,) = run("fixed", epochs=10)
    assert (st.epochs, st.image_size, st.randaug_magnitude, st.mixup_alpha, st.dropout) == (10, 300, 15, 0, 0.3)


@pytest.mark.parametrize("hold,ra,drop", [("first", 5, 0.1), ("last", 15, 0.3), ("middle", 10, 0.2)])
def test_vanilla_progressive_grows_size_holds_regularization(hold, ra, drop):
    st = run("vanilla-progressive", hold=hold)
    assert col(st, "image_size") == col(run("paper"), "image_size")
    assert col(st, "randaug_magnitude") == [ra] * 4
    assert col(st, "dropout") == pytest.approx([drop] * 4)


def test_random_resize_every_k_epochs():
    fixed = run("random-resize", epochs=20, resize_every=8, size_multiple=4, hold="middle", seed=3)
    assert col(fixed, "epochs") == [8, 8, 4] and col(fixed, "start_epoch") == [0, 8, 16]
    assert all(128 <= s <= 300 and s % 4 == 0 for s in col(fixed, "image_size"))
    assert col(fixed, "randaug_magnitude") == [10] * 3 and col(fixed, "dropout") == pytest.approx([0.2] * 3)
    again = run("random-resize", epochs=20, resize_every=8, size_multiple=4, hold="middle", seed=3)
    assert again == fixed  # drawn from the seed
    many = run("random-resize", epochs=400, resize_every=1, size_multiple=4, seed=0)
    assert len(set(col(many, "image_size"))) > 20


def test_random_resize_adaptive_regularization_follows_size():
    st = run("random-resize", epochs=200, resize_every=1, size_multiple=4, adaptive=True, seed=1)
    for s in st:
        t = (s.image_size - 128) / (300 - 128)
        assert s.randaug_magnitude == pytest.approx(5 + 10 * t, abs=1e-5)
        assert s.dropout == pytest.approx(0.1 + 0.2 * t, abs=1e-5)
    by_size = sorted(st, key=lambda s: s.image_size)
    assert by_size[0].dropout < by_size[-1].dropout


def test_random_resize_per_batch():
    (st,) = run("random-resize", epochs=5, resize_every=0, size_multiple=8)
    assert st.epochs == 5 and st.image_size == 296  # the loader runs at the largest (snapped) size
    plan = P.Plan([st], per_batch=True, image_size=(128, 300), mixup_alpha=(0, 0.4), dropout=(0.1, 0.5),
                  size_multiple=8, adaptive=True)
    steps = plan.steps(2, 100)
    assert steps == plan.steps(2, 100) and steps != plan.steps(3, 100)  # seeded by (seed, epoch)
    sizes = [s.image_size for s in steps]
    assert all(s % 8 == 0 and 128 <= s <= 296 for s in sizes) and len(set(sizes)) > 5
    for s in steps:  # adaptive: mixup and dropout follow the drawn size
        t = (s.image_size - 128) / (300 - 128)
        assert (s.mixup_alpha, s.dropout) == pytest.approx((0.4 * t, 0.1 + 0.4 * t), abs=1e-6)
    fixed = P.Plan([st], per_batch=True, image_size=(128, 300), size_multiple=8).steps(2, 100)
    assert [s.image_size for s in fixed] == sizes and {(s.mixup_alpha, s.dropout) for s in fixed} == {(st.mixup_alpha, st.dropout)}
    staged = run("paper", epochs=8)
    assert P.Plan(staged).steps(5, 3) == [P.Step(staged[2].image_size, staged[2].mixup_alpha, staged[2].dropout)] * 3


def test_sizes_snap_to_the_multiple():
    st = run("paper", size_multiple=16, image_size=(128, 304))
    assert col(st, "image_size") == [128, 192, 240, 304]  # 186.7 -> 192, 245.3 -> 240
    off = P.schedule("official", 350, 4, **{**P.model_defaults("efficientnetv2_s", "official"), "image_size": (128, 304)},
                     size_multiple=8)
    assert col(off, "image_size") == [172, 216, 260, 304]  # the released code's int(), never snapped


def test_stage_lookup_and_errors():
    st = run("paper", epochs=10, stages=4)
    assert col(st, "epochs") == [2, 3, 2, 3]
    assert [P.stage_at(st, e).index for e in range(10)] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    with pytest.raises(IndexError):
        P.stage_at(st, 10)
    with pytest.raises(ValueError, match="stages"):
        run("paper", epochs=3, stages=4)
    with pytest.raises(ValueError, match="mode"):
        run("progressive")
    with pytest.raises(KeyError, match="no schedule defaults"):
        P.model_defaults("resnet50")
    (one,) = run("paper", epochs=5, stages=1)
    assert (one.image_size, one.dropout) == (300, 0.3)


def test_cli_prints_the_stage_table(capsys):
    assert main(["schedule", "--mode", "paper", "--model", "efficientnetv2_s", "--epochs", "350", "--stages", "4",
                 "--size-multiple", "1"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [s["image_size"] for s in table["stages"]] == [128, 185, 243, 300]
    assert table["stages"][0]["randaug_magnitude"] == 5 and table["stages"][-1]["dropout"] == 0.3
    assert main(["schedule", "--mode", "official", "--model", "efficientnetv2_s"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [s["image_size"] for s in table["stages"]] == [171, 214, 257, 300]
    assert {s["dropout"] for s in table["stages"]} == {0.2}


@pytest.mark.parametrize("model", ["efficientnetv2_s", "efficientnetv2_m", "efficientnetv2_l"])
@pytest.mark.parametrize("mode", ["paper", "official"])
def test_the_schedule_command_and_the_trainer_resolve_the_same_table(capsys, model, mode):
    from replication import config

    assert main(["schedule", "--profile", "gpu", "--mode", mode, "--model", model]) == 0
    printed = json.loads(capsys.readouterr().out)["stages"]
    cfg = P.resolve(config.load(config.CONFIGS_DIR / f"{'progressive' if mode == 'paper' else 'official'}.yaml",
                                [f"model.name={model}"], profile="gpu"))
    assert printed == [vars(s) for s in P.plan(cfg).stages]
    if mode == "official":  # the released configs' values, not Table 6's
        assert {s["dropout"] for s in printed} == {P.OFFICIAL_DEFAULTS[model]["dropout"][1]}
        assert printed[-1]["randaug_magnitude"] == P.OFFICIAL_DEFAULTS[model]["randaug_magnitude"][1]


def test_cli_needs_values_for_models_without_defaults(capsys):
    assert main(["schedule", "--model", "efficientnetv2_b0"]) == 2
    err = capsys.readouterr().err
    assert "schedule.image_size" in err and "values_from" in err
    assert main(["schedule", "--model", "efficientnetv2_b0", "--epochs", "8", "--image-size", "64", "128",
                 "--randaug-magnitude", "5", "15", "--mixup-alpha", "0", "0", "--dropout", "0.1", "0.3",
                 "--size-multiple", "16"]) == 0
    assert [s["image_size"] for s in json.loads(capsys.readouterr().out)["stages"]] == [64, 80, 112, 128]


def test_cli_takes_values_from_a_profile(capsys):
    from replication import config

    cfg = config.load(profile="cpu")
    assert main(["schedule", "--profile", "cpu"]) == 0
    table = json.loads(capsys.readouterr().out)
    s = cfg.schedule
    assert table["epochs"] == cfg.train.epochs and len(table["stages"]) == s.stages
    assert (table["stages"][0]["image_size"], table["stages"][-1]["image_size"]) == s.image_size
    assert all(row["image_size"] % s.size_multiple == 0 for row in table["stages"])
    assert main(["schedule", "--profile", "laptop"]) == 2


@pytest.mark.parametrize("option,value", [("--epochs", "0"), ("--epochs", "-1"), ("--stages", "0"),
                                          ("--size-multiple", "0")])
def test_cli_refuses_a_count_below_one_instead_of_using_the_default(capsys, option, value):
    with pytest.raises(SystemExit) as stop:
        main(["schedule", option, value])
    assert stop.value.code == 2
    assert f"argument {option}: '{value}' is not a positive integer" in capsys.readouterr().err
